#!/usr/bin/env python3
"""Generate catalog/catalog.json (schema 1, see catalog/FORMAT.md) from two public price sets.

Inputs (both MIT-licensed):
  * LiteLLM  `model_prices_and_context_window_backup.json` (USD per single token, floats);
  * genai-prices `genai_prices.data.providers` dumped to JSON by catalog/dump_genai_prices.py
    (objects carry a `_type` field naming their class; Decimals as strings; dates ISO).

Usage:
  python3 catalog/generate.py --litellm PATH --genai-prices PATH \
      [--litellm-version 1.109.1] [--genai-prices-version 0.2.3] [--date YYYY-MM-DD] \
      --out catalog/catalog.json
  python3 catalog/generate.py --check catalog/catalog.json      # only run the checks

Standard library only. The output is deterministic: same inputs (and --date) -> same bytes.
After generating, the consistency checks and the "must-have facts" are always run; the script
exits non-zero if any fails.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable

# ---------------------------------------------------------------------------------------------
# Rate fields of the catalog, in output order. A "rate set" is {field: Tiered}.
# ---------------------------------------------------------------------------------------------
RATE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "audio_input",
    "audio_output",
    "audio_cache_read",
)
SERVICE_TIERS = ("batch", "flex", "priority")
MAX_DECIMALS = 9
NANO = Decimal(1).scaleb(-MAX_DECIMALS)
MILLION = Decimal(10) ** 6


class Notes:
    """Global notes: counters and sample lists, rendered deterministically at the end."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples: dict[str, list[str]] = collections.defaultdict(list)

    def add(self, key: str, sample: str | None = None, n: int = 1) -> None:
        self.counts[key] += n
        if sample is not None and len(self.samples[key]) < 5 and sample not in self.samples[key]:
            self.samples[key].append(sample)

    def render(self) -> list[str]:
        out = []
        for key in sorted(self.counts):
            s = f"{key}: {self.counts[key]}"
            if self.samples.get(key):
                s += " (e.g. " + ", ".join(self.samples[key]) + ")"
            out.append(s)
        return out


NOTES = Notes()


# ---------------------------------------------------------------------------------------------
# Decimal helpers
# ---------------------------------------------------------------------------------------------
def clamp9(d: Decimal, what: str) -> Decimal:
    """Round half-even to at most 9 decimals (counted in a global note) and normalise."""
    d = d.normalize()
    if d.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        NOTES.add("rates rounded half-even to 9 decimals", what)
        d = d.quantize(NANO, rounding=ROUND_HALF_EVEN).normalize()
    if d == 0:
        d = Decimal(0)  # no "-0" / "0E-9"
    return d


def fmt(d: Decimal) -> str:
    """Plain decimal string without exponent, e.g. Decimal('2.5') -> '2.5', 1E+1 -> '10'."""
    s = format(d.normalize(), "f")
    return s


def litellm_rate(v: Any, what: str) -> Decimal | None:
    """USD per token (float/int) -> USD per million tokens, exactly via repr()."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return clamp9(Decimal(repr(v)) * MILLION, what)


def genai_rate(v: Any, what: str) -> Decimal:
    return clamp9(Decimal(str(v)), what)


# ---------------------------------------------------------------------------------------------
# Tiered value: a base rate plus long-context cliffs. Semantics (checked against genai-prices'
# `calc_unit_price` in types.py: "if total_input_tokens > tier.start: applicable_price =
# tier.price", documented there as a cliff that re-prices ALL tokens): a tier with `start` S
# applies when the request's total input tokens are > S. That is exactly FORMAT.md's
# `above_input_tokens`, so `start` maps to it unchanged. LiteLLM's `*_above_<N>k_tokens` has the
# same meaning with S = N*1000.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tiered:
    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def at(self, threshold: int) -> Decimal | None:
        """Rate in force above `threshold` if this field has its own tier at or below it."""
        best = None
        for start, price in self.tiers:
            if start <= threshold:
                best = price
        return best


RateSet = dict  # field -> Tiered


def rateset_json(rs: RateSet) -> dict[str, Any]:
    """Render a rate set per FORMAT.md: base rates, then `tiers` (each listing every field that
    has its own cliff at or below that threshold, so that 'unlisted = base rate' stays true)."""
    out: dict[str, Any] = {}
    for f in RATE_FIELDS:
        if f in rs:
            out[f] = fmt(rs[f].base)
    thresholds = sorted({s for t in rs.values() for s, _ in t.tiers})
    tiers = []
    for th in thresholds:
        entry: dict[str, Any] = {"above_input_tokens": th}
        for f in RATE_FIELDS:
            if f in rs:
                v = rs[f].at(th)
                if v is not None:
                    entry[f] = fmt(v)
        tiers.append(entry)
    if tiers:
        out["tiers"] = tiers
    return out


def has_tiers(rs: RateSet) -> bool:
    return any(t.tiers for t in rs.values())


@dataclass
class PriceEntry:
    effective_from: str | None
    source: str
    rates: RateSet
    service_tiers: dict[str, RateSet] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"effective_from": self.effective_from, "source": self.source}
        out.update(rateset_json(self.rates))
        if self.service_tiers:
            out["service_tiers"] = {
                k: rateset_json(self.service_tiers[k]) for k in SERVICE_TIERS if k in self.service_tiers
            }
        return out


@dataclass
class Model:
    id: str
    provider: str
    mode: str
    prices: list[PriceEntry]
    name: str | None = None
    # (rule, priority) candidates; equals aliases are resolved per provider later.
    alias_candidates: list[tuple[str, int]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # non-equals / final rules
    notes: list[str] = field(default_factory=list)
    litellm_key: str | None = None
    match_names: list[str] = field(default_factory=list)  # names genai clauses are tried on

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "provider": self.provider}
        if self.name:
            out["name"] = self.name
        out["mode"] = self.mode
        out["match"] = self.rules
        if self.notes:
            out["notes"] = self.notes
        out["prices"] = [p.to_json() for p in self.prices]
        return out


# ---------------------------------------------------------------------------------------------
# Provider ids
# ---------------------------------------------------------------------------------------------
PROVIDER_MAP = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "together": "together_ai",
    "together_ai": "together_ai",
    "fireworks": "fireworks_ai",
    "fireworks_ai": "fireworks_ai",
    "fireworks_ai-embedding-models": "fireworks_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "watsonx": "ibm.watsonx.ai",
    # genai-prices provider ids
    "google": "gcp.gemini",
    "aws": "aws.bedrock",
    # same provider, spelled differently by the two sources (so that they can be merged)
    "moonshotai": "moonshot",
    "voyageai": "voyage",
    "github-copilot": "github_copilot",
}


def canonical_provider(p: str) -> str:
    p = p.strip().lower()
    if p.startswith("vertex_ai"):  # vertex_ai, vertex_ai-language-models, vertex_ai-*_models ...
        return "gcp.vertex_ai"
    return PROVIDER_MAP.get(p, p)


# ---------------------------------------------------------------------------------------------
# LiteLLM
# ---------------------------------------------------------------------------------------------
LITELLM_MODES = {"chat", "completion", "responses", "embedding"}
LITELLM_BASE_FIELDS = {
    # order matters: the 1-hour cache-write name is a prefix-extension of the 5-minute one
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_read_input_audio_token_cost": "audio_cache_read",
    "cache_read_input_token_cost": "cache_read",
    "input_cost_per_audio_token": "audio_input",
    "output_cost_per_audio_token": "audio_output",
    "output_cost_per_reasoning_token": "reasoning",
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
}
LITELLM_TIER_SUFFIX = {"batches": "batch", "flex": "flex", "priority": "priority"}
LITELLM_FIELD_RE = re.compile(
    r"^(?P<base>" + "|".join(map(re.escape, LITELLM_BASE_FIELDS)) + r")"
    r"(?:_above_(?P<k>\d+)k_tokens)?"
    r"(?:_(?P<st>batches|flex|priority))?$"
)

# First path segments that are LiteLLM routing prefixes (stripped for the alias), by provider.
ROUTING_PREFIXES = {
    "openai", "azure", "azure_ai", "bedrock", "vertex_ai", "gemini", "anthropic", "mistral",
    "groq", "xai", "deepseek", "together_ai", "fireworks_ai", "cohere", "perplexity", "watsonx",
    "databricks", "deepinfra", "novita", "nebius", "cerebras", "sambanova", "hyperbolic",
    "replicate", "cloudflare", "ollama", "codestral", "text-completion-codestral",
    "amazon-nova",
}
BEDROCK_REGION_RE = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d+$")
AZURE_ZONES = {"eu", "us", "global", "global-standard", "apac", "us-gov"}


def litellm_aliases(key: str, provider: str) -> list[tuple[str, int]]:
    """Alias candidates for a LiteLLM key: (alias, priority). Priority 1 = only the provider's
    routing prefix removed; 2 = a location segment (bedrock region, azure data zone, bedrock
    'claude_platform') removed too, so such an alias is only kept if nothing plainer claims it."""
    parts = key.split("/")
    if len(parts) < 2:
        return []
    first = parts[0].lower()
    own = {provider.lower(), provider.lower().split("-")[0]}
    if first not in ROUTING_PREFIXES and first not in own:
        return []  # e.g. openrouter-style "vendor/model" ids: keep as they are
    rest = parts[1:]
    out: list[tuple[str, int]] = []
    prio = 1
    if first == "bedrock":
        while rest and rest[0] in ("converse", "invoke"):
            rest = rest[1:]
        if len(rest) > 1 and (BEDROCK_REGION_RE.match(rest[0]) or rest[0] == "claude_platform"):
            rest, prio = rest[1:], 2
    elif first == "azure" and len(rest) > 1 and rest[0] in AZURE_ZONES:
        rest, prio = rest[1:], 2
    if not rest:
        return []
    stripped = "/".join(rest)
    out.append((stripped, prio))
    if first == "fireworks_ai" and stripped.startswith("accounts/fireworks/models/"):
        # Fireworks' API takes the full "accounts/fireworks/models/x" path; keep both spellings.
        # the bare name is a further strip: a plain `fireworks_ai/x` key wins it if one exists
        out.append((stripped[len("accounts/fireworks/models/"):], 2))
    return out


def litellm_rates(key: str, spec: dict[str, Any]) -> tuple[RateSet, dict[str, RateSet]] | None:
    """Parse one LiteLLM entry into (standard rate set, {service tier: full rate set})."""
    # values[(field, tier_k or None, service tier or None)] = Decimal
    values: dict[tuple[str, int | None, str | None], Decimal] = {}
    for name, v in spec.items():
        m = LITELLM_FIELD_RE.match(name)
        if not m:
            if ("cost" in name or "price" in name) and isinstance(v, (int, float)) and v:
                NOTES.add("LiteLLM price fields ignored (no catalog field)", name)
            continue
        d = litellm_rate(v, f"{key}.{name}")
        if d is None:
            continue
        k = int(m["k"]) * 1000 if m["k"] else None
        st = LITELLM_TIER_SUFFIX[m["st"]] if m["st"] else None
        values[(LITELLM_BASE_FIELDS[m["base"]], k, st)] = d

    def build(st: str | None) -> RateSet:
        rs: RateSet = {}
        for f in RATE_FIELDS:
            base = values.get((f, None, st))
            tiers = tuple(sorted((k, d) for (ff, k, s), d in values.items() if ff == f and s == st and k is not None))
            if base is None and tiers and st is not None:
                base = values.get((f, None, None))
            if base is None:
                continue
            rs[f] = Tiered(base, tiers)
        return rs

    std = build(None)
    if "input" not in std:
        return None
    if "output" not in std:
        if spec.get("mode") == "embedding":
            std["output"] = Tiered(Decimal(0))
        else:
            return None
    services: dict[str, RateSet] = {}
    for st in SERVICE_TIERS:
        own = build(st)
        if not own:
            continue
        # full rate set: the tier's own fields, every other field at the standard rate
        full = dict(std)
        full.update(own)
        services[st] = full
    return std, services


def load_litellm(data: dict[str, Any]) -> list[Model]:
    models = []
    for key in sorted(data):
        spec = data[key]
        if key == "sample_spec" or not isinstance(spec, dict):
            continue
        mode = spec.get("mode")
        prov_raw = spec.get("litellm_provider")
        if mode not in LITELLM_MODES:
            NOTES.add(f"LiteLLM entries skipped: mode {mode!r} not priced per token in scope", key)
            continue
        if not prov_raw:
            NOTES.add("LiteLLM entries skipped: no litellm_provider", key)
            continue
        parsed = litellm_rates(key, spec)
        if parsed is None:
            NOTES.add("LiteLLM entries skipped: no per-token input/output price (per-second, per-character, per-request, image ...)", key)
            continue
        std, services = parsed
        provider = canonical_provider(prov_raw)
        m = Model(
            id=key,
            provider=provider,
            mode=mode,
            prices=[PriceEntry(None, "litellm", std, services)],
            litellm_key=key,
        )
        m.alias_candidates = [(key, 0)] + litellm_aliases(key, prov_raw)
        # names tried against genai-prices clauses: the most stripped first (that is what spans
        # carry, e.g. "sonar" rather than "perplexity/sonar"), the full key last. Names with a
        # location removed (priority 2) are not tried: a region/data-zone entry must not take
        # the price genai-prices gives the plain model, unless its clause names the full key.
        m.match_names = [a for a, p in sorted(m.alias_candidates, key=lambda x: -x[1]) if p < 2]
        models.append(m)
    return models


# ---------------------------------------------------------------------------------------------
# genai-prices
# ---------------------------------------------------------------------------------------------
GENAI_FIELDS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "audio_input",
    "output_audio_mtok": "audio_output",
    "cache_audio_read_mtok": "audio_cache_read",
}
# Rust's `regex` crate has no look-around and no back-references.
RUST_UNSUPPORTED_RE = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=|\\k<")


def genai_value(v: Any, what: str) -> Tiered:
    if isinstance(v, dict) and v.get("_type") == "TieredPrices":
        tiers = tuple((int(t["start"]), genai_rate(t["price"], what)) for t in v["tiers"])
        return Tiered(genai_rate(v["base"], what), tuple(sorted(tiers)))
    return Tiered(genai_rate(v, what))


def genai_rateset(mp: dict[str, Any], what: str) -> RateSet:
    rs: RateSet = {}
    for k, v in mp.items():
        if k == "_type" or v is None:
            continue
        if k in GENAI_FIELDS:
            rs[GENAI_FIELDS[k]] = genai_value(v, what)
        else:
            NOTES.add("genai-prices price fields ignored (no catalog field)", k)
    return rs


def clause_matches(c: dict[str, Any], text: str) -> bool:
    """Evaluate a genai-prices clause (case-insensitively, Python semantics incl. look-around)."""
    t = c["_type"]
    s = text.lower()
    if t == "ClauseEquals":
        return s == c["equals"].lower()
    if t == "ClauseStartsWith":
        return s.startswith(c["starts_with"].lower())
    if t == "ClauseEndsWith":
        return s.endswith(c["ends_with"].lower())
    if t == "ClauseContains":
        return c["contains"].lower() in s
    if t == "ClauseRegex":
        return re.search(c["regex"], text, re.IGNORECASE) is not None
    if t == "ClauseOr":
        return any(clause_matches(x, text) for x in c["or_"])
    if t == "ClauseAnd":
        return all(clause_matches(x, text) for x in c["and_"])
    raise ValueError(f"unknown clause {t}")


def clause_rules(c: dict[str, Any], ctx: str) -> list[dict[str, Any]]:
    """Translate a clause into catalog match rules (a list = OR). Returns [] for a clause that
    cannot be expressed (Rust-incompatible regex); inside an AND such a part is dropped (which
    broadens the rule) and noted."""
    t = c["_type"]
    if t == "ClauseEquals":
        return [{"equals": c["equals"]}]
    if t == "ClauseStartsWith":
        return [{"starts_with": c["starts_with"]}]
    if t == "ClauseEndsWith":
        return [{"ends_with": c["ends_with"]}]
    if t == "ClauseContains":
        return [{"contains": c["contains"]}]
    if t == "ClauseRegex":
        if RUST_UNSUPPORTED_RE.search(c["regex"]):
            NOTES.add("genai-prices regexes dropped (look-around/back-reference, not valid for Rust regex)", f"{ctx}: {c['regex']}")
            return []
        return [{"regex": c["regex"]}]
    if t == "ClauseOr":
        return [r for x in c["or_"] for r in clause_rules(x, ctx)]
    if t == "ClauseAnd":
        parts = []
        for x in c["and_"]:
            rs = clause_rules(x, ctx)
            if len(rs) == 1:
                parts.append(rs[0])
            elif len(rs) > 1:
                parts.append(None)  # OR inside AND is not expressible; see below
        if any(p is None for p in parts):
            NOTES.add("genai-prices AND clauses with a nested OR dropped", ctx)
            return []
        if not parts:
            return []
        return parts if len(parts) == 1 else [{"all": parts}]
    raise ValueError(f"unknown clause {t}")


@dataclass
class GenaiModel:
    provider: str
    raw_provider: str
    id: str
    name: str | None
    clause: dict[str, Any]
    prices: list[PriceEntry]  # dated timeline, ascending, service tiers already attached
    dated: bool
    tiered: bool
    notes: list[str]


def genai_timeline(m: dict[str, Any], what: str, tod_notes: list[str]) -> list[tuple[str | None, RateSet]] | None:
    """Resolve `prices` into a dated history. genai-prices picks the LAST active ConditionalPrice
    (falling back to the first when none is active), so for each boundary date we emulate that
    choice and collapse runs that pick the same entry."""
    prices = m["prices"]
    if isinstance(prices, dict):
        return [(None, genai_rateset(prices, what))]
    entries = []
    for cp in prices:
        con = cp.get("constraint")
        if con and con.get("_type") == "TimeOfDateConstraint":
            NOTES.add("genai-prices time-of-day prices skipped (base price kept)", m["id"])
            rs = genai_rateset(cp["prices"], what)
            tod_notes.append(
                f"genai-prices time-of-day price not representable, skipped: {con['start_time']}-{con['end_time']} "
                + " ".join(f"{f} {fmt(v.base)}" for f, v in rs.items()))
            continue
        if con and con.get("_type") != "StartDateConstraint":
            NOTES.add("genai-prices prices with unknown constraint skipped", f"{m['id']}: {con.get('_type')}")
            continue
        entries.append((con["start_date"] if con else None, cp["prices"]))
    if not entries:
        return None
    dates = sorted({d for d, _ in entries if d is not None})
    timeline: list[tuple[str | None, int]] = []
    for b in [None] + dates:
        active = None
        for i, (d, _) in enumerate(entries):
            if d is None or (b is not None and d <= b):
                active = i
        if active is None:
            active = 0
        if timeline and timeline[-1][1] == active:
            continue
        timeline.append((b, active))
    # an undated entry before the history would otherwise start with a dated entry's values
    return [(b, genai_rateset(entries[i][1], what)) for b, i in timeline]


def variant_tier(when: dict[str, Any]) -> str | None:
    if when == {"processing": "batch"}:
        return "batch"
    if when in ({"service_tier": "flex"},):
        return "flex"
    if when in ({"service_tier": "priority"},):
        return "priority"
    return None


def load_genai(data: list[dict[str, Any]]) -> list[GenaiModel]:
    out = []
    for prov in data:
        for m in prov["models"]:
            provider = canonical_provider(prov["id"])
            if provider == "gcp.gemini" and m["id"].startswith("claude"):
                # genai-prices files Anthropic's models sold on Google Cloud under "google";
                # they are Vertex AI partner models (the Gemini API does not serve them).
                provider = "gcp.vertex_ai"
            what = f"{prov['id']}/{m['id']}"
            notes: list[str] = []
            tl = genai_timeline(m, what, notes)
            if not tl or not any("input" in rs or "output" in rs for _, rs in tl):
                NOTES.add("genai-prices models skipped: no token price", what)
                continue
            entries = [PriceEntry(d, "genai-prices", rs) for d, rs in tl]
            # price variants = service tiers. Variants of one tier may come with several start
            # dates (listed newest first in the data); for each price entry, in force over
            # [effective_from, next effective_from), we take the variant that is newest among
            # those starting before the entry ends, i.e. the one in force at the end of that
            # span. A variant starting after the entry's own date is thus attached to the entry
            # in force on that date (noted), as the catalog has no separate date for tiers.
            chosen: dict[tuple[int, str], tuple[str, int, RateSet]] = {}
            for vi, var in enumerate(m.get("price_variants") or []):
                when = var.get("when") or {}
                st = variant_tier(when)
                if st is None:
                    if when == {"service_tier": "default"}:
                        continue  # the standard price itself
                    NOTES.add("genai-prices price variants skipped (not batch/flex/priority)", f"{what} {json.dumps(when, sort_keys=True)}")
                    continue
                con = var.get("constraint")
                start = None
                if con:
                    if con.get("_type") != "StartDateConstraint":
                        NOTES.add("genai-prices price variants skipped (non-date constraint)", what)
                        continue
                    start = con["start_date"]
                vrs = genai_rateset(var["prices"], what)
                for i, e in enumerate(entries):
                    nxt = entries[i + 1].effective_from if i + 1 < len(entries) else None
                    if start is not None and nxt is not None and start >= nxt:
                        continue  # starts after this entry was superseded
                    key = (i, st)
                    cand = (start or "", -vi, vrs)
                    if key not in chosen or cand[:2] > chosen[key][:2]:
                        chosen[key] = cand
            for (i, st), (start, _, vrs) in sorted(chosen.items(), key=lambda x: x[0]):
                e = entries[i]
                full = dict(e.rates)
                full.update(vrs)  # unlisted fields stay at the standard rate
                e.service_tiers[st] = full
                if start and start > (e.effective_from or ""):
                    NOTES.add("genai-prices dated service-tier variants attached to the price in force on their start date", f"{what} {st}@{start}")
                    notes.append(f"genai-prices: {st} rates apply from {start}; attached to the price in force since {e.effective_from or 'the start'}")
            if any("input" not in x.rates or "output" not in x.rates for x in entries):
                # input and output are required: embeddings get output 0, the rest are skipped
                if all("input" in x.rates for x in entries) and "embed" in m["id"].lower():
                    for x in entries:
                        x.rates.setdefault("output", Tiered(Decimal(0)))
                else:
                    NOTES.add("genai-prices models skipped: input or output price missing", what)
                    continue
            dated = any(x.effective_from for x in entries)
            tiered = any(has_tiers(x.rates) for x in entries)
            out.append(GenaiModel(provider, prov["id"], m["id"], m.get("name"), m["match"],
                                  entries, dated, tiered, notes))
    return out


# ---------------------------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------------------------
def compare(genai: RateSet, litellm: RateSet) -> list[str]:
    """Base rates present in both sources that differ: ['input 2 (litellm) vs 1.25 (genai-prices)']."""
    diffs = []
    for f in RATE_FIELDS:
        if f in genai and f in litellm and genai[f].base != litellm[f].base:
            diffs.append(f"{f} {fmt(litellm[f].base)} (litellm) vs {fmt(genai[f].base)} (genai-prices)")
    return diffs


def in_force(prices: list[PriceEntry], day: str) -> int:
    """Index of the price in force on `day` (the first one if all start later)."""
    idx = 0
    for i, p in enumerate(prices):
        if p.effective_from is None or p.effective_from <= day:
            idx = i
    return idx


def merge(litellm_models: list[Model], genai_models: list[GenaiModel], day: str) -> list[Model]:
    by_provider: dict[str, list[Model]] = collections.defaultdict(list)
    for m in litellm_models:
        by_provider[m.provider].append(m)
    genai_by_provider: dict[str, list[GenaiModel]] = collections.defaultdict(list)
    for g in genai_models:
        genai_by_provider[g.provider].append(g)

    # genai-prices resolves a name to the FIRST model (in its list order) whose clause matches;
    # we do the same for every LiteLLM model (trying its key and its stripped aliases), so that
    # e.g. `global.anthropic.claude-…` takes the global price and `us.anthropic.claude-…` the
    # regional one, and no LiteLLM model is claimed by two genai models.
    assigned: dict[int, list[Model]] = collections.defaultdict(list)
    for provider, models in by_provider.items():
        gms = genai_by_provider.get(provider, [])
        for m in models:
            hit = next((g for n in m.match_names for g in gms if clause_matches(g.clause, n)), None)
            if hit is not None:
                assigned[id(hit)].append(m)

    extra: list[Model] = []
    existing_ids = {m.id for m in litellm_models}
    for g in genai_models:
        targets = assigned.get(id(g), [])
        if not targets:
            extra.append(genai_only_model(g, existing_ids))
            continue
        for m in targets:
            merge_one(m, g, day)
    return litellm_models + extra


def merge_one(m: Model, g: GenaiModel, day: str) -> None:
    """Merge genai-prices model `g` into LiteLLM model `m`. genai's price "now" is the one in
    force on the catalog date (genai-prices also lists announced future prices)."""
    lit = m.prices[0]
    now = in_force(g.prices, day)
    latest = g.prices[now]
    diffs = compare(latest.rates, lit.rates)
    NOTES.add("merged: LiteLLM models matched by a genai-prices model")
    if not m.name and g.name:
        m.name = g.name
    if g.dated or g.tiered:
        # genai-prices has the dated history / long-context cliffs: it is the curated fact.
        prices = [PriceEntry(e.effective_from, "genai-prices", dict(e.rates), dict(e.service_tiers)) for e in g.prices]
        cur = prices[now]
        # LiteLLM's service tiers describe its current rates: only the price in force now gets
        # the ones genai-prices lacks.
        for st, rs in lit.service_tiers.items():
            if st not in cur.service_tiers:
                cur.service_tiers[st] = rs
                m.notes.append(f"{st} service tier from litellm")
        m.prices = prices
        m.notes.extend(g.notes)
        m.notes.append(f"prices from genai-prices model {g.raw_provider}/{g.id} (dated history or tiers)")
        if diffs:
            NOTES.add("disagreements: genai-prices dated/tiered price kept over LiteLLM", m.id)
            m.notes.append("litellm disagrees: " + "; ".join(diffs))
        return
    if diffs:
        # both undated: LiteLLM is the newer snapshot
        NOTES.add("disagreements: undated, LiteLLM price kept", m.id)
        m.notes.append(f"genai-prices ({g.raw_provider}/{g.id}) disagrees, litellm kept: " + "; ".join(diffs))
        return
    # undated and agreeing: one price, union of fields and service tiers
    rates = dict(lit.rates)
    for f, v in latest.rates.items():
        rates.setdefault(f, v)
    services = dict(lit.service_tiers)
    for st, rs in latest.service_tiers.items():
        full = dict(rates)
        full.update(rs)
        services[st] = full  # genai-prices' curated tier wins
    m.prices = [PriceEntry(None, "genai-prices+litellm", rates, services)]
    m.notes.extend(g.notes)
    NOTES.add("agreements: undated prices equal in both sources")


def genai_only_model(g: GenaiModel, existing_ids: set[str]) -> Model:
    mid = f"{g.provider}/{g.id}"
    if mid in existing_ids:
        mid = f"{g.provider}/{g.id}@genai-prices"
        NOTES.add("genai-prices ids suffixed to stay unique", mid)
    existing_ids.add(mid)
    rules = clause_rules(g.clause, f"{g.raw_provider}/{g.id}")
    if not rules:
        rules = [{"equals": g.id}]
        NOTES.add("genai-prices models whose whole match clause was dropped (matched by id only)", f"{g.raw_provider}/{g.id}")
    mode = "embedding" if "embed" in g.id.lower() else "chat"
    m = Model(id=mid, provider=g.provider, mode=mode, prices=g.prices, name=g.name, notes=list(g.notes))
    # equals rules compete with other aliases of the provider (lowest priority); others are kept
    m.alias_candidates = [(r["equals"], 3) for r in rules if "equals" in r]
    m.rules = [r for r in rules if "equals" not in r]
    NOTES.add("genai-prices-only models (matched no LiteLLM model)")
    return m


def resolve_aliases(models: list[Model]) -> None:
    """Give every equals alias to exactly one model per provider: the claimant with the lowest
    priority (0 = its own id, 1 = routing prefix stripped, 2 = location stripped, 3 = genai
    clause) if it is alone at that priority; otherwise nobody gets it (noted)."""
    claims: dict[tuple[str, str], list[tuple[int, int]]] = collections.defaultdict(list)
    for i, m in enumerate(models):
        seen = set()
        for alias, prio in m.alias_candidates:
            k = (m.provider, alias.lower())
            if k in seen:
                continue
            seen.add(k)
            claims[k].append((prio, i))
    winners: dict[tuple[str, str], int] = {}
    for k, cl in claims.items():
        best = min(p for p, _ in cl)
        at_best = [i for p, i in cl if p == best]
        if len(at_best) == 1:
            winners[k] = at_best[0]
        else:
            NOTES.add("equals aliases dropped (claimed equally by several models of one provider)", f"{k[0]}:{k[1]}")
        if len(cl) > 1 and best > 0:
            NOTES.add("equals aliases given to one of several claimants (plainest key wins)", f"{k[0]}:{k[1]}")
    for i, m in enumerate(models):
        eq = []
        seen = set()
        for alias, prio in m.alias_candidates:
            k = (m.provider, alias.lower())
            if winners.get(k) == i and k not in seen:
                seen.add(k)
                eq.append({"equals": alias})
        m.rules = eq + m.rules


def drop_unmatchable(models: list[Model]) -> list[Model]:
    """A model left without any match rule (all its aliases belong to other models) can never
    be selected: leave it out, with a note."""
    kept = []
    for m in models:
        if m.rules:
            kept.append(m)
        else:
            NOTES.add("models left out: every match alias belongs to another model of the provider", m.id)
    return kept


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps(o: Any) -> str:
    return json.dumps(o, indent=None, separators=(",", ":"), ensure_ascii=False)


def render(catalog: dict[str, Any]) -> str:
    """Header keys compactly, then one model per line for readable diffs."""
    head = {k: v for k, v in catalog.items() if k != "models"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"{dumps(k)}:{dumps(v)},")
    lines.append('"models":[')
    lines.append(",\n".join(dumps(m) for m in catalog["models"]))
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.litellm, encoding="utf-8") as f:
        litellm = json.load(f)
    with open(args.genai_prices, encoding="utf-8") as f:
        genai = json.load(f)
    day = args.date or dt.date.today().isoformat()
    lmodels = load_litellm(litellm)
    gmodels = load_genai(genai)
    models = merge(lmodels, gmodels, day)
    resolve_aliases(models)
    models = drop_unmatchable(models)
    models.sort(key=lambda m: (m.provider, m.id))
    return {
        "schema": 1,
        "catalog_version": day.replace("-", "."),
        "generated": day,
        "sources": [
            {"name": "litellm", "package": "litellm", "version": args.litellm_version, "license": "MIT",
             "file": "litellm/model_prices_and_context_window_backup.json", "sha256": sha256(args.litellm)},
            {"name": "genai-prices", "package": "genai-prices", "version": args.genai_prices_version,
             "license": "MIT", "file": "genai_prices/data.py (dumped to JSON)", "sha256": sha256(args.genai_prices)},
        ],
        "notes": NOTES.render(),
        "models": [m.to_json() for m in models],
    }


# ---------------------------------------------------------------------------------------------
# Checks (FORMAT.md rules + must-have facts). Work on the JSON as written.
# ---------------------------------------------------------------------------------------------
RATE_RE = re.compile(r"^\d+(\.\d{1,9})?$")


def iter_ratesets(price: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    yield "standard", price
    for t in price.get("tiers", []):
        yield "tier", t
    for name, st in (price.get("service_tiers") or {}).items():
        yield name, st
        for t in st.get("tiers", []):
            yield name + ".tier", t


def check(catalog: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    models = catalog["models"]
    byid = {m["id"]: m for m in models}
    if len(byid) != len(models):
        errors.append("duplicate model ids")
    aliases: dict[tuple[str, str], str] = {}
    for m in models:
        if m.get("mode") not in LITELLM_MODES:
            errors.append(f"{m['id']}: bad mode {m.get('mode')}")
        for r in m["match"]:
            if "equals" in r:
                k = (m["provider"], r["equals"].lower())
                if k in aliases and aliases[k] != m["id"]:
                    errors.append(f"alias {k} shared by {aliases[k]} and {m['id']}")
                aliases[k] = m["id"]
            if "regex" in r and RUST_UNSUPPORTED_RE.search(r["regex"]):
                errors.append(f"{m['id']}: regex not valid for Rust")
        dates = [p["effective_from"] for p in m["prices"]]
        if not dates:
            errors.append(f"{m['id']}: no prices")
        if None in dates[1:] or any(a is not None and a >= b for a, b in zip(dates, dates[1:])):
            errors.append(f"{m['id']}: prices not sorted / duplicate dates: {dates}")
        for p in m["prices"]:
            for kind, rs in iter_ratesets(p):
                if kind in ("standard",) or kind in SERVICE_TIERS:
                    if "input" not in rs or "output" not in rs:
                        errors.append(f"{m['id']}: {kind} lacks input/output")
                for f in RATE_FIELDS:
                    if f in rs and not RATE_RE.match(rs[f]):
                        errors.append(f"{m['id']}: bad rate {f}={rs[f]!r}")
            ths = [t["above_input_tokens"] for t in p.get("tiers", [])]
            if ths != sorted(set(ths)):
                errors.append(f"{m['id']}: tiers not ascending")
            for st in p.get("service_tiers") or {}:
                if st not in SERVICE_TIERS:
                    errors.append(f"{m['id']}: unknown service tier {st}")
    return errors


def must_haves(catalog: dict[str, Any]) -> list[tuple[bool, str]]:
    byid = {m["id"]: m for m in catalog["models"]}
    res: list[tuple[bool, str]] = []

    def ok(cond: bool, msg: str) -> None:
        res.append((bool(cond), msg))

    def short(p: dict[str, Any]) -> str:
        keys = ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]
        s = f"{p['effective_from'] or 'start'}: " + " ".join(f"{k}={p[k]}" for k in keys if k in p)
        if p.get("tiers"):
            s += " tiers=" + dumps(p["tiers"])
        if p.get("service_tiers"):
            s += " service=" + dumps(p["service_tiers"])
        return s

    o3 = byid.get("o3")
    ok(o3 and o3["provider"] == "openai" and [(p["effective_from"], p["input"], p["output"]) for p in o3["prices"]]
       == [(None, "10", "40"), ("2025-06-10", "2", "8")],
       "o3 (openai): " + (" | ".join(short(p) for p in o3["prices"]) if o3 else "missing"))

    s46 = byid.get("claude-sonnet-4-6")
    cond = False
    if s46 and s46["provider"] == "anthropic":
        before = [p for p in s46["prices"] if (p["effective_from"] or "") < "2026-03-13"]
        after = [p for p in s46["prices"] if (p["effective_from"] or "") >= "2026-03-13"]
        cond = (before and all(any(t["above_input_tokens"] == 200000 for t in p.get("tiers", [])) for p in before)
                and after and all(not p.get("tiers") for p in after))
    ok(cond, "claude-sonnet-4-6 (anthropic): " + (" | ".join(short(p) for p in s46["prices"]) if s46 else "missing"))

    found = []
    for m in catalog["models"]:
        if m["provider"] in ("gcp.gemini", "gcp.vertex_ai") and m["id"].split("/")[-1] == "gemini-2.5-pro":
            for t in m["prices"][-1].get("tiers", []):
                if t["above_input_tokens"] == 200000 and t.get("input") == "2.5" and t.get("output") == "15":
                    found.append(m["id"])
    ok(found, f"gemini-2.5-pro tier above 200000 (input 2.5, output 15): {found}")

    g = byid.get("gpt-4o-2024-08-06")
    cond = False
    if g:
        p = g["prices"][-1]
        b = (p.get("service_tiers") or {}).get("batch", {})
        cond = (p["input"], p["output"], p.get("cache_read"), b.get("input"), b.get("output")) == ("2.5", "10", "1.25", "1.25", "5")
    ok(cond, "gpt-4o-2024-08-06: " + (short(g["prices"][-1]) if g else "missing"))

    cl = [m["id"] for m in catalog["models"] if m["provider"] == "anthropic" and re.match(r"claude-(opus|sonnet|haiku)-4", m["id"])
          and all(k in m["prices"][-1] for k in ("cache_read", "cache_write_5m", "cache_write_1h"))]
    ok(cl, f"Anthropic Claude 4.x with cache_read+cache_write_5m+cache_write_1h: {len(cl)} e.g. {cl[:3]}")

    pairs = []
    for m in catalog["models"]:
        if m["provider"] == "aws.bedrock" and m["id"].startswith("us.anthropic.claude-"):
            gl = byid.get("global." + m["id"][3:])
            if gl and gl["prices"][-1]["input"] != m["prices"][-1]["input"]:
                pairs.append(f"{m['id']} {m['prices'][-1]['input']} vs global {gl['prices'][-1]['input']}")
    ok(pairs, f"Bedrock us. vs global. priced differently: {len(pairs)} e.g. {pairs[:2]}")

    az = byid.get("azure/eu/gpt-4o-2024-08-06")
    ok(az and az["provider"] == "azure.ai.openai", "azure/eu/gpt-4o-2024-08-06: " + (f"{az['provider']} {short(az['prices'][-1])}" if az else "missing"))
    ft = byid.get("ft:gpt-4o-mini-2024-07-18")
    ok(ft, "ft:gpt-4o-mini-2024-07-18: " + (f"{ft['provider']} {short(ft['prices'][-1])}" if ft else "missing"))

    provs = collections.Counter(m["provider"] for m in catalog["models"])
    need = ["openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock", "azure.ai.openai", "mistral_ai",
            "deepseek", "x_ai", "groq", "cohere", "together_ai", "fireworks_ai", "openrouter"]
    ok(len(catalog["models"]) >= 2000 and len(provs) >= 30 and all(provs[p] for p in need),
       f"{len(catalog['models'])} models, {len(provs)} providers; missing required: {[p for p in need if not provs[p]]}")
    geo = sorted({m["id"].split(".")[0] for m in catalog["models"] if m["provider"] == "aws.bedrock" and re.match(r"^(us|eu|apac|global|jp|au)\.", m["id"])})
    ok({"us", "eu", "apac", "global"} <= set(geo), f"Bedrock geography profiles: {geo}")
    zones = sorted({m["id"].split("/")[1] for m in catalog["models"] if m["provider"] == "azure.ai.openai" and m["id"].count("/") >= 2})
    ok({"eu", "us", "global"} <= set(zones), f"Azure data zones: {zones}")
    return res


def run_checks(catalog: dict[str, Any]) -> bool:
    errors = check(catalog)
    for e in errors[:50]:
        print("CHECK FAILED:", e, file=sys.stderr)
    good = not errors
    print(f"format checks: {'ok' if not errors else f'{len(errors)} failures'}", file=sys.stderr)
    for passed, msg in must_haves(catalog):
        print(("  ok   " if passed else "  FAIL ") + msg, file=sys.stderr)
        good &= passed
    return good


def summary(catalog: dict[str, Any]) -> None:
    provs = collections.Counter(m["provider"] for m in catalog["models"])
    print(f"models: {len(catalog['models'])}, providers: {len(provs)}", file=sys.stderr)
    print("per provider: " + ", ".join(f"{p}={n}" for p, n in sorted(provs.items(), key=lambda x: (-x[1], x[0]))), file=sys.stderr)
    print(f"notes ({len(catalog['notes'])}):", file=sys.stderr)
    for n in catalog["notes"]:
        print("  - " + n, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--litellm", help="LiteLLM model_prices_and_context_window JSON")
    ap.add_argument("--genai-prices", help="genai-prices data dumped to JSON (dump_genai_prices.py)")
    ap.add_argument("--litellm-version", default="1.109.1")
    ap.add_argument("--genai-prices-version", default="0.2.3")
    ap.add_argument("--date", help="catalog date YYYY-MM-DD (default: today); fix it for reproducible output")
    ap.add_argument("--out", default="catalog/catalog.json")
    ap.add_argument("--check", metavar="CATALOG", help="only check an existing catalog.json")
    args = ap.parse_args(argv)

    if args.check:
        with open(args.check, encoding="utf-8") as f:
            catalog = json.load(f)
        summary(catalog)
        return 0 if run_checks(catalog) else 1
    if not args.litellm or not args.genai_prices:
        ap.error("--litellm and --genai-prices are required (or use --check CATALOG)")
    if args.date:
        dt.date.fromisoformat(args.date)
    catalog = generate(args)
    text = render(catalog)
    json.loads(text)  # sanity: valid JSON
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    summary(catalog)
    return 0 if run_checks(json.loads(text)) else 1


if __name__ == "__main__":
    sys.exit(main())
