"""Reads one trace back from Arize Phoenix and checks the costs otel-llm-cost wrote on it.

Our attributes come from Phoenix's REST API (GET /v1/projects/{project}/spans?trace_id=...),
Phoenix's own costs (computed by Phoenix from the token counts and its built-in price table) from
its GraphQL API (getTraceByOtelId -> spans -> costSummary / costDetailSummaryEntries, and the
trace's costSummary). Checks:

  1. every span of the trace arrived (--expect-spans);
  2. each LLM call span carries our per-call cost (llm.cost.total/prompt/completion, the
     non-zero llm.cost.*_details.*, cost.pricing.*), or cost.pricing.status=unknown_model and
     no llm.cost.* at all;
  3. roll-up: on every span, cost.total_usd / input_usd / output_usd / llm_calls /
     unpriced_calls / input_tokens / output_tokens equal the sums over the calls in its subtree;
     no llm.cost.* on aggregate spans; spans without a call below them carry no cost.*;
  4. the root carries the run total, cost.by_model (models, calls, USD summing to the total,
     percentages summing to 100) and cost.complete=true;
  5. Phoenix's cost of each LLM span equals ours: total, prompt and completion sides, and each
     token type (input, cache_read, cache_write, output, reasoning), and the token counts;
     the trace total Phoenix shows equals our root's cost.total_usd.
Prints a table (span, model, ours, Phoenix, difference, explanation) and a summary; exits 1 when
a check fails. --urls-out FILE writes the UI addresses of the root span and of one LLM span
(shell assignments ROOT_URL=..., LLM_URL=...) for the screenshots.

    python scripts/demo/check_phoenix_costs.py --phoenix http://127.0.0.1:6006 --project P --trace T
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request

TOL = 1e-9  # USD; our values are exact decimals written as f64, Phoenix's are f64 products

ROLLUP_USD = ("total_usd", "input_usd", "output_usd")
ROLLUP_INT = ("llm_calls", "unpriced_calls", "input_tokens", "output_tokens")
# Phoenix token type -> our llm.cost.* detail attribute
DETAILS = {
    ("input", True): "llm.cost.prompt_details.input",
    ("cache_read", True): "llm.cost.prompt_details.cache_read",
    ("cache_write", True): "llm.cost.prompt_details.cache_write",
    ("audio", True): "llm.cost.prompt_details.audio",
    ("output", False): "llm.cost.completion_details.output",
    ("reasoning", False): "llm.cost.completion_details.reasoning",
    ("audio", False): "llm.cost.completion_details.audio",
}

GQL_TRACE = """
query ($traceId: String!) {
  getTraceByOtelId(traceId: $traceId) {
    id
    projectId
    costSummary { total { cost tokens } }
    spans(first: 1000) {
      edges { node {
        id spanId name spanKind parentId
        costSummary { prompt { cost tokens } completion { cost tokens } total { cost tokens } }
        costDetailSummaryEntries { tokenType isPrompt value { cost tokens } }
      } }
    }
  }
}
"""


def http_json(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def rest_spans(base, project, trace_id):
    spans, cursor = [], None
    while True:
        q = {"trace_id": trace_id, "limit": 1000}
        if cursor:
            q["cursor"] = cursor
        url = f"{base}/v1/projects/{urllib.parse.quote(project)}/spans?{urllib.parse.urlencode(q)}"
        page = http_json(url)
        spans += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return spans


def gql_trace(base, trace_id):
    r = http_json(f"{base}/graphql", {"query": GQL_TRACE, "variables": {"traceId": trace_id}})
    if r.get("errors"):
        raise RuntimeError(f"GraphQL errors: {r['errors']}")
    return r["data"]["getTraceByOtelId"]


def usd(v):
    return "-" if v is None else f"${v:.6f}"


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOL + 1e-9 * max(abs(a), abs(b))


class Checks:
    def __init__(self):
        self.failed, self.passed = [], 0

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
        return cond


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phoenix", required=True, help="Phoenix base URL, e.g. http://127.0.0.1:6006")
    ap.add_argument("--project", required=True)
    ap.add_argument("--trace", required=True, help="trace id, 32 hex digits")
    ap.add_argument("--expect-spans", type=int, default=0)
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the spans and their costs")
    ap.add_argument("--urls-out", help="write ROOT_URL=... and LLM_URL=... here")
    a = ap.parse_args()
    base = a.phoenix.rstrip("/")

    # Phoenix inserts spans in batches and computes costs on insert: poll until all are there.
    deadline = time.monotonic() + a.wait
    while True:
        try:
            spans = rest_spans(base, a.project, a.trace)
            g = gql_trace(base, a.trace)
        except Exception as e:  # project not created yet, ...
            spans, g, err = [], None, e
        else:
            err = None
        n_g = len(g["spans"]["edges"]) if g else 0
        if spans and g and len(spans) >= a.expect_spans and n_g == len(spans):
            break
        if time.monotonic() > deadline:
            print(f"FAIL: trace {a.trace} not complete in Phoenix after {a.wait:.0f}s "
                  f"(REST {len(spans)} spans, GraphQL {n_g}, expected {a.expect_spans}; {err or ''})")
            return 1
        time.sleep(1)

    c = Checks()
    by_id = {s["context"]["span_id"]: s for s in spans}
    phx = {e["node"]["spanId"]: e["node"] for e in g["spans"]["edges"]}
    children = {}
    for s in spans:
        children.setdefault(s["parent_id"], []).append(s)
    roots = children.get(None, [])
    c.ok(a.expect_spans == 0 or len(spans) == a.expect_spans,
         f"span count: Phoenix has {len(spans)}, expected {a.expect_spans}")
    c.ok(len(roots) == 1, f"exactly one root span (found {len(roots)})")
    root = roots[0]

    def attrs(s):
        return s["attributes"]

    def is_call(s):
        # a priced or unpriced LLM call: we mark it with a per-call status
        return attrs(s).get("cost.pricing.status") in ("priced", "provided", "unknown_model", "invalid_usage")

    calls = [s for s in spans if is_call(s)]
    llm_kind = [s for s in spans if s["span_kind"] == "LLM"]

    # 2. per-call attributes
    for s in calls:
        at, sid = attrs(s), f"{s['name']} ({s['context']['span_id']})"
        st = at["cost.pricing.status"]
        if st == "priced":
            for k in ("llm.cost.total", "llm.cost.prompt", "llm.cost.completion", "cost.pricing.model",
                      "cost.pricing.effective_from", "cost.pricing.catalog", "cost.pricing.source"):
                c.ok(k in at, f"{sid}: {k} missing")
            if "llm.cost.total" in at:
                c.ok(close(at["llm.cost.prompt"] + at["llm.cost.completion"], at["llm.cost.total"]),
                     f"{sid}: llm.cost.prompt + llm.cost.completion != llm.cost.total")
                pd = sum(v for k, v in at.items() if k.startswith("llm.cost.prompt_details."))
                cd = sum(v for k, v in at.items() if k.startswith("llm.cost.completion_details."))
                c.ok(close(pd, at["llm.cost.prompt"]), f"{sid}: prompt details do not add up to llm.cost.prompt")
                c.ok(close(cd, at["llm.cost.completion"]), f"{sid}: completion details do not add up to llm.cost.completion")
        elif st == "unknown_model":
            c.ok(not any(k.startswith("llm.cost.") for k in at), f"{sid}: unpriced call carries llm.cost.*")
            c.ok("cost.pricing.reason" in at, f"{sid}: cost.pricing.reason missing")
    c.ok({s["context"]["span_id"] for s in llm_kind} == {s["context"]["span_id"] for s in calls},
         "every LLM span (and nothing else) is a call with cost.pricing.status")

    # 3. roll-up over the tree, from the calls' own values
    def own(s):
        at = attrs(s)
        if not is_call(s):
            return None
        priced = at.get("cost.pricing.status") in ("priced", "provided")
        return {
            "total_usd": at.get("llm.cost.total", 0.0) if priced else 0.0,
            "input_usd": at.get("llm.cost.prompt", 0.0) if priced else 0.0,
            "output_usd": at.get("llm.cost.completion", 0.0) if priced else 0.0,
            "llm_calls": 1,
            "unpriced_calls": 0 if priced else 1,
            "input_tokens": at.get("cost.input_tokens", 0),
            "output_tokens": at.get("cost.output_tokens", 0),
            "priced": 1 if priced else 0,
        }

    def subtree(s):
        acc = dict.fromkeys(ROLLUP_USD, 0.0) | dict.fromkeys(ROLLUP_INT + ("priced",), 0)
        o = own(s)
        for part in ([o] if o else []) + [subtree(ch) for ch in children.get(s["context"]["span_id"], [])]:
            for k in acc:
                acc[k] += part[k]
        sid, at = f"{s['name']} ({s['context']['span_id']})", attrs(s)
        if acc["llm_calls"] == 0:
            c.ok(not any(k.startswith("cost.") or k.startswith("llm.cost.") for k in at),
                 f"{sid}: no call below it, but it carries cost attributes")
        else:
            for k in ROLLUP_USD:
                want = acc[k] if acc["priced"] else None
                c.ok(close(at.get(f"cost.{k}"), want), f"{sid}: cost.{k}={at.get(f'cost.{k}')} expected {want}")
            for k in ROLLUP_INT:
                want = acc[k] if (acc[k] or k != "unpriced_calls") else None
                c.ok(at.get(f"cost.{k}") == want, f"{sid}: cost.{k}={at.get(f'cost.{k}')} expected {want}")
            if not is_call(s):
                c.ok(not any(k.startswith("llm.cost.") for k in at), f"{sid}: llm.cost.* on an aggregate span")
        return acc

    total = subtree(root)

    # 4. the root
    rat = attrs(root)
    c.ok(rat.get("cost.complete") is True, "root: cost.complete is not true")
    try:
        by_model = json.loads(rat.get("cost.by_model", "null"))
    except ValueError:
        by_model = None
    if c.ok(isinstance(by_model, list) and by_model, "root: cost.by_model missing or not a JSON array"):
        c.ok(close(sum(r["cost_usd"] for r in by_model), rat.get("cost.total_usd")),
             "root: cost.by_model cost_usd does not sum to cost.total_usd")
        c.ok(abs(sum(r["pct"] for r in by_model) - 100.0) < 0.051, "root: cost.by_model pct does not sum to 100")
        c.ok(sum(r["calls"] for r in by_model) == total["priced"], "root: cost.by_model calls != priced calls")
        c.ok([r["cost_usd"] for r in by_model] == sorted((r["cost_usd"] for r in by_model), reverse=True),
             "root: cost.by_model not sorted by spend")
        want = {}
        for s in calls:
            if attrs(s).get("cost.pricing.status") == "priced":
                m = attrs(s)["cost.pricing.model"]
                want[m] = want.get(m, 0.0) + attrs(s)["llm.cost.total"]
        c.ok(set(want) == {r["model"] for r in by_model} and all(close(want[r["model"]], r["cost_usd"]) for r in by_model),
             "root: cost.by_model rows differ from the calls' models and costs")

    # 5. Phoenix's own costs vs ours
    rows = []
    for s in sorted(calls, key=lambda s: s["start_time"]):
        at, sid = attrs(s), s["context"]["span_id"]
        p = phx.get(sid) or {}
        pc = p.get("costSummary")
        ours = at.get("llm.cost.total")
        theirs = pc["total"]["cost"] if pc else None
        notes, bad = [], []
        model = at.get("cost.pricing.model") or at.get("llm.model_name") or at.get("gen_ai.response.model")
        if at.get("cost.pricing.status") == "unknown_model":
            notes.append("model in neither price table: unpriced in both (we count it in cost.unpriced_calls)")
        if pc is None:
            bad.append("Phoenix computed no cost summary")
        else:
            for side, ours_k in (("prompt", "llm.cost.prompt"), ("completion", "llm.cost.completion")):
                if not close(at.get(ours_k), pc[side]["cost"]):
                    bad.append(f"{side}: ours {at.get(ours_k)} vs Phoenix {pc[side]['cost']}")
            if pc["prompt"]["tokens"] != at.get("cost.input_tokens") or pc["completion"]["tokens"] != at.get("cost.output_tokens"):
                bad.append(f"tokens: ours {at.get('cost.input_tokens')}/{at.get('cost.output_tokens')} vs Phoenix "
                           f"{pc['prompt']['tokens']:.0f}/{pc['completion']['tokens']:.0f}")
            seen = set()
            for e in p.get("costDetailSummaryEntries") or []:
                key = (e["tokenType"], e["isPrompt"])
                seen.add(key)
                mine = at.get(DETAILS.get(key, "?"))
                th = e["value"]["cost"]
                if th is None and mine is None:
                    continue
                if not close(mine if mine is not None else 0.0, th):
                    bad.append(f"{key[0]}: ours {mine} vs Phoenix {th}")
            for key, k in DETAILS.items():
                if key not in seen and at.get(k):
                    bad.append(f"{key[0]}: ours {at[k]}, Phoenix has no {key[0]} entry")
            kinds = sorted({e["tokenType"] for e in p.get("costDetailSummaryEntries") or [] if e["value"]["cost"]})
            if theirs is not None:
                cache = [k.replace("_", " ") + "s" for k in ("cache_read", "cache_write") if k in kinds]
                if cache:
                    notes.append(" and ".join(cache) + " at their own rates in both")
                if "reasoning" in kinds:
                    notes.append("reasoning tokens at the output rate in both")
                if at.get("cost.pricing.tier"):
                    notes.append(f"long-context tier ({at['cost.pricing.tier']}: every token at the higher rate) in both")
                if "gen_ai.response.model" in at and "gen_ai.usage.input_tokens" in at:
                    notes.append(f"OTel GenAI span: Phoenix maps it to OpenInference and prices "
                                 f"gen_ai.request.model ({at.get('llm.model_name')}), we the response model; same rates")
                if not notes:
                    notes.append("same rates")
        diff = None if ours is None or theirs is None else theirs - ours
        if diff and not bad:
            notes.append("diff is f64 rounding in Phoenix's rate x tokens products")
        c.ok(not bad, f"{s['name']} ({sid}) vs Phoenix: " + "; ".join(bad))
        rows.append((s["name"], model, ours, theirs, diff, "; ".join(bad) if bad else "; ".join(notes), bool(bad)))

    trace_phx = (g.get("costSummary") or {}).get("total", {}).get("cost")
    c.ok(close(trace_phx, rat.get("cost.total_usd")),
         f"trace total: Phoenix {trace_phx} vs our root cost.total_usd {rat.get('cost.total_usd')}")

    # report
    w = max([len(r[0]) for r in rows] + [18]) + 2
    mw = max([len(str(r[1])) for r in rows] + [12]) + 2
    print(f"\n{'span':<{w}}{'model (ours)':<{mw}}{'ours':>12}{'Phoenix':>12}{'diff':>11}  explanation")
    for name, model, ours, theirs, diff, expl, bad in rows:
        d = "-" if diff is None else f"{diff:+.1e}" if diff else "0"
        print(f"{name:<{w}}{str(model):<{mw}}{usd(ours):>12}{usd(theirs):>12}{d:>11}  {'MISMATCH: ' if bad else ''}{expl}")
    d = None if trace_phx is None else trace_phx - rat.get("cost.total_usd", 0.0)
    print(f"{'trace total (root)':<{w}}{'':<{mw}}{usd(rat.get('cost.total_usd')):>12}{usd(trace_phx):>12}"
          f"{'-' if d is None else ('0' if not d else f'{d:+.1e}'):>11}  our root cost.total_usd vs Phoenix's trace Total Cost")

    print("\nroot span attributes written by otel-llm-cost:")
    for k in sorted(k for k in rat if k.startswith("cost.")):
        print(f"  {k} = {rat[k]}")

    print(f"\nchecks: {c.passed} passed, {len(c.failed)} failed "
          f"({len(spans)} spans, {len(calls)} LLM calls, {total['priced']} priced)")
    for f in c.failed:
        print(f"  FAIL {f}")

    if a.urls_out:
        pick = max((s for s in calls if attrs(s).get("cost.pricing.status") == "priced"),
                   key=lambda s: sum(1 for k in attrs(s) if k.startswith("llm.cost.")) * 1e6 + attrs(s).get("cost.input_tokens", 0) * -1)
        proj = g["projectId"]
        url = lambda s: f"{base}/projects/{proj}/traces/{a.trace}?selectedSpanNodeId={urllib.parse.quote(s['id'])}"
        with open(a.urls_out, "w") as f:
            f.write(f"ROOT_URL='{url(root)}'\nLLM_URL='{url(pick)}'\n")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
