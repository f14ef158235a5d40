#!/usr/bin/env python3
"""Convert a genai-prices package dump into genai-prices' published v2 feed format, and validate
a v2 feed against its JSON schema.

The catalog builder (Rust, `src/pricing/build/`) reads genai-prices' live feed format
(`prices/new_data/v2/data.json`, schema `data.schema.json` beside it), the same format a runtime
refresh downloads. The 2026-11 facts we import were only available as a dump of the package's
Python objects (`genai_prices.data.providers`, each object a JSON object with a `_type` field,
Decimals as strings). This script converted that dump ONCE into the v2 format:

    python3 catalog/genai_prices_to_v2.py convert \
        /work/shared/reference/genai_prices_data.json catalog/sources/genai_prices_v2.json

and re-validates a feed against the committed schema (needs `jsonschema`, catalog/requirements.txt):

    python3 catalog/genai_prices_to_v2.py validate catalog/sources/genai_prices_v2.json

What the conversion does (nothing else):
  * `_type` fields are dropped; clauses `ClauseOr {or_}` / `ClauseAnd {and_}` become `{or}` /
    `{and}`, as the v2 feed writes them; `UsageExtractor._reported_usage_keys` (a private
    attribute of the Python object) is dropped;
  * Decimal strings become JSON numbers: integers as integers, others as the shortest float that
    round-trips. Every number is checked to be exactly the dumped Decimal (no digit is lost);
  * `ModelInfo.price_variants` (batch / flex / priority / speed / route ... variants) is kept as
    `price_variants: [{when: {key: value}, prices: <partial ModelPrice>, constraint?: ...}]`,
    the package's `PriceVariant` type as its live feed carries it. Upstream's schema at 47df840a
    predates the field: the committed schema is extended by exactly that type (see
    catalog/sources/SOURCES.md). Numbers and constraints are converted as in `prices`;
  * a dumped provider or model field the conversion does not know is refused (nothing is dropped
    silently);
  * key order is kept, so that the builder's notes (which list examples in input order) are
    stable.
Then the output is validated against the schema (convert refuses to write an invalid feed).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "sources" / "genai_prices_v2.schema.json"

CLAUSE_KEYS = {
    "ClauseEquals": "equals",
    "ClauseStartsWith": "starts_with",
    "ClauseEndsWith": "ends_with",
    "ClauseContains": "contains",
    "ClauseRegex": "regex",
}
# Fields of each object the v2 schema knows, in the order we write them when present.
PROVIDER_FIELDS = (
    "id", "name", "pricing_urls", "api_pattern", "description", "price_comments",
    "model_match", "provider_match", "extractors", "fallback_model_providers", "models",
)
MODEL_FIELDS = (
    "id", "name", "description", "match", "context_window", "price_comments", "prices",
    "price_variants", "deprecated",
)


def unknown_fields(obj: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    """A dumped field the conversion does not know would be lost: refuse instead."""
    extra = [k for k in obj if k != "_type" and k not in known]
    if extra:
        raise SystemExit(f"{where}: fields the conversion does not know: {extra}")


class Converter:
    def __init__(self) -> None:
        self.variants = 0
        self.models_with_variants = 0

    def number(self, s: str, where: str) -> int | float:
        d = Decimal(s)
        if d == d.to_integral_value():
            return int(d)
        f = float(d)
        if Decimal(repr(f)) != d:
            raise SystemExit(f"{where}: {s} is not exactly representable as a JSON number")
        return f

    def clause(self, c: dict[str, Any], where: str) -> dict[str, Any]:
        t = c["_type"]
        if t in CLAUSE_KEYS:
            k = CLAUSE_KEYS[t]
            return {k: c[k]}
        if t == "ClauseOr":
            return {"or": [self.clause(x, where) for x in c["or_"]]}
        if t == "ClauseAnd":
            return {"and": [self.clause(x, where) for x in c["and_"]]}
        raise SystemExit(f"{where}: unknown clause type {t}")

    def price_value(self, v: Any, where: str) -> Any:
        if isinstance(v, dict):
            if v.get("_type") != "TieredPrices":
                raise SystemExit(f"{where}: unexpected price object {v.get('_type')}")
            return {
                "base": self.number(v["base"], where),
                "tiers": [
                    {"start": int(t["start"]), "price": self.number(t["price"], where)}
                    for t in v["tiers"]
                ],
            }
        return self.number(v, where)

    def model_price(self, mp: dict[str, Any], where: str) -> dict[str, Any]:
        if mp.get("_type") != "ModelPrice":
            raise SystemExit(f"{where}: expected ModelPrice, found {mp.get('_type')}")
        return {k: self.price_value(v, f"{where}.{k}") for k, v in mp.items() if k != "_type"}

    def constraint(self, c: dict[str, Any], where: str) -> dict[str, Any]:
        t = c["_type"]
        if t == "StartDateConstraint":
            return {"start_date": c["start_date"]}
        if t == "TimeOfDateConstraint":
            return {"start_time": c["start_time"], "end_time": c["end_time"]}
        raise SystemExit(f"{where}: unknown constraint {t}")

    def prices(self, p: Any, where: str) -> Any:
        if isinstance(p, dict):
            return self.model_price(p, where)
        out = []
        for i, cp in enumerate(p):
            w = f"{where}[{i}]"
            e: dict[str, Any] = {}
            if "constraint" in cp:
                e["constraint"] = self.constraint(cp["constraint"], w)
            e["prices"] = self.model_price(cp["prices"], w)
            out.append(e)
        return out

    def variant(self, v: dict[str, Any], where: str) -> dict[str, Any]:
        """A `PriceVariant`: `when` verbatim (the package requires a non-empty str -> str map),
        `prices` as a ModelPrice, the optional constraint as in `prices`."""
        if v.get("_type") != "PriceVariant":
            raise SystemExit(f"{where}: expected PriceVariant, found {v.get('_type')}")
        when = v["when"]
        if not when or not all(isinstance(k, str) and isinstance(x, str) for k, x in when.items()):
            raise SystemExit(f"{where}: `when` must be a non-empty map of strings: {when!r}")
        out: dict[str, Any] = {"when": dict(when), "prices": self.model_price(v["prices"], where)}
        if "constraint" in v:
            out["constraint"] = self.constraint(v["constraint"], where)
        return out

    def path(self, p: Any, where: str) -> Any:
        if isinstance(p, list):
            return [self.path(x, where) for x in p]
        if isinstance(p, dict):  # ArrayMatch
            return {"type": p["type"], "field": p["field"], "match": self.clause(p["match"], where)}
        return p

    def extractor(self, e: dict[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("api_flavor", "root", "model_path"):
            if k in e:
                out[k] = self.path(e[k], where)
        out["mappings"] = [
            {"path": self.path(m["path"], where), "dest": m["dest"], "required": m["required"]}
            for m in e["mappings"]
        ]
        return out

    def model(self, m: dict[str, Any], where: str) -> dict[str, Any]:
        w = f"{where}/{m['id']}"
        unknown_fields(m, MODEL_FIELDS, w)
        if m.get("price_variants"):
            self.models_with_variants += 1
            self.variants += len(m["price_variants"])
        out: dict[str, Any] = {}
        for k in MODEL_FIELDS:
            if k not in m:
                continue
            if k == "match":
                out[k] = self.clause(m[k], w)
            elif k == "prices":
                out[k] = self.prices(m[k], w)
            elif k == "price_variants":
                out[k] = [self.variant(v, f"{w}.price_variants[{i}]") for i, v in enumerate(m[k])]
            else:
                out[k] = m[k]
        return out

    def provider(self, p: dict[str, Any]) -> dict[str, Any]:
        unknown_fields(p, PROVIDER_FIELDS, p["id"])
        out: dict[str, Any] = {}
        for k in PROVIDER_FIELDS:
            if k not in p:
                continue
            v = p[k]
            if k in ("model_match", "provider_match"):
                v = self.clause(v, p["id"])
            elif k == "extractors":
                v = [self.extractor(e, p["id"]) for e in v]
            elif k == "models":
                v = [self.model(m, p["id"]) for m in v]
            out[k] = v
        return out


def validate(feed: Any) -> list[str]:
    import jsonschema  # catalog/requirements.txt

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.Draft202012Validator
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(v.iter_errors(feed), key=lambda e: list(map(str, e.absolute_path)))
    ]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "convert":
        dump = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        conv = Converter()
        feed = [conv.provider(p) for p in dump]
        errors = validate(feed)
        for e in errors[:50]:
            print("schema:", e, file=sys.stderr)
        if errors:
            print(f"{len(errors)} schema violations; nothing written", file=sys.stderr)
            return 1
        text = json.dumps(feed, indent=1, ensure_ascii=False) + "\n"
        Path(argv[2]).write_text(text, encoding="utf-8", newline="\n")
        models = sum(len(p["models"]) for p in feed)
        print(
            f"{len(feed)} providers, {models} models written to {argv[2]}; "
            f"with {conv.variants} price variants of {conv.models_with_variants} models",
            file=sys.stderr,
        )
        return 0
    if len(argv) == 2 and argv[0] == "validate":
        feed = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        errors = validate(feed)
        for e in errors[:50]:
            print("schema:", e, file=sys.stderr)
        print(f"{argv[1]}: {'valid' if not errors else f'{len(errors)} schema violations'}", file=sys.stderr)
        return 0 if not errors else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
