#!/usr/bin/env python3
"""Inclusive instructions per call of named functions in a callgrind output file.

    python3 scripts/bench/callgrind_per_call.py CALLGRIND_FILE [FUNCTION_SUFFIX ...]

For each function whose name ends with a given suffix: its inclusive instruction count (Ir) and
the number of calls into it, both read from `callgrind_annotate --inclusive=yes --tree=caller`,
and their ratio. Defaults: the processor bench's `CostSpanProcessor::on_end`, the baseline's
`Noop::on_end` and `agent_spans::trace_of_ten`.
"""
import re
import subprocess
import sys

DEFAULT = [
    "SpanProcessor>::on_end",
    "agent_spans::trace_of_ten",
]

ROW = re.compile(r"\s*([\d,]+) \([^)]*\)\s+\*\s+(.*)")
CALLER = re.compile(r"\s*[\d,]+ \([^)]*\)\s+<")
CALLS = re.compile(r"\(([\d,]+)x\)")


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    path, suffixes = sys.argv[1], sys.argv[2:] or DEFAULT
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=caller", path],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for i, line in enumerate(out):
        m = ROW.match(line)
        if not m:
            continue
        name = m.group(2).split(" [")[0]
        name = name.split(":", 1)[1] if ":" in name.split("<")[0] else name
        if not any(name.endswith(s) for s in suffixes):
            continue
        incl = int(m.group(1).replace(",", ""))
        calls, j = 0, i - 1
        while j >= 0 and CALLER.match(out[j]):
            c = CALLS.search(out[j])
            calls += int(c.group(1).replace(",", "")) if c else 0
            j -= 1
        if calls:
            print(f"{name[-70:]:70s} Ir={incl:>14,} calls={calls:>10,} per_call={incl / calls:,.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
