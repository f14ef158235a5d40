#!/usr/bin/env python3
"""Where a function's instructions go, per call: the inclusive call tree under it, read from a
callgrind output file (its own parser: `callgrind_annotate --tree` drops inlined callees).

    python3 scripts/bench/callgrind_tree.py CALLGRIND_FILE FUNCTION_SUBSTRING [DEPTH] [MIN]

For each function whose name contains FUNCTION_SUBSTRING: its calls, inclusive and own
instructions per call, then its callees to DEPTH levels (default 3), each with its inclusive
instructions per call of the root, calls per root call and own instructions, those under MIN
(default 5) left out. Used to compare two builds line by line (BENCHMARKS.md, issue 15: the
allocation under `reserve_attrs` tells glibc's heap state of a run).
"""
import collections
import re
import sys


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    path, target = sys.argv[1], sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    min_per_call = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    names = {}

    def name(s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m:
            return s
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names[m.group(1)]

    own = collections.Counter()
    calls = collections.defaultdict(lambda: [0, 0])
    cur = cfn = pending = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                cur = name(line[3:])
            elif line.startswith("cfn="):
                cfn = name(line[4:])
            elif line.startswith("calls="):
                pending = (cfn, int(line[6:].split()[0]))
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if len(parts) < 2:
                    pending = None
                    continue
                cost = int(parts[1])
                if pending:
                    e = calls[(cur, pending[0])]
                    e[0] += pending[1]
                    e[1] += cost
                    pending = None
                else:
                    own[cur] += cost
    kids = collections.defaultdict(list)
    for (a, b), (n, c) in calls.items():
        kids[a].append((b, n, c))

    def inclusive(f):
        return own[f] + sum(c for b, _, c in kids[f] if b != f)

    roots = [f for f in set(own) | {a for a, _ in calls} if target in f]
    for r in roots:
        n_calls = sum(n for (a, b), (n, _) in calls.items() if b == r and a != r)
        if n_calls == 0:
            continue
        print(f"{r}  calls={n_calls} incl/call={inclusive(r) / n_calls:.1f} "
              f"self/call={own[r] / n_calls:.1f}")

        def walk(f, d):
            for b, n, c in sorted(kids[f], key=lambda x: -x[2]):
                if b == f or c / n_calls < min_per_call:
                    continue
                # the callee's own instructions, in the share of its calls made from here
                share = c / max(1, inclusive(b))
                print("  " * d + f"{c / n_calls:8.1f} {n / n_calls:6.2f}x "
                      f"self={own[b] * share / n_calls:7.1f}  {b}")
                if d < depth:
                    walk(b, d + 1)

        walk(r, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
