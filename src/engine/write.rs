//! Writing: every attribute the engine puts on a span, under keys built once. A call's
//! `llm.cost.*` and provenance, the roll-up (`cost.total_usd`, calls, tokens), the root's
//! `cost.by_model` and `cost.complete`, and the verdicts (budget, anomaly).
//!
//! ```text
//! Own + Subtree -> status, call costs, provenance -> roll-up -> root: by_model, complete,
//! budget, anomaly
//! ```

use std::sync::Arc;

use super::price::{Call, CatalogVersion, OwnKind, PricingStatus};
use super::rollup::{ModelShare, Totals};
use super::verdicts::Verdicts;
use crate::money::Usd;
use crate::pricing::{Beyond, CostBreakdown, Interned};
use crate::semconv::{self as k, ours};
use crate::span_view::{AttrKey, OwnedValue, SpanView};

/// Attribute keys, built once: ours under the configured prefix, and the per-call
/// `llm.cost.*` keys.
#[derive(Debug)]
pub(super) struct Keys {
    status: AttrKey,
    reason: AttrKey,
    model: AttrKey,
    effective_from: AttrKey,
    source: AttrKey,
    tier: AttrKey,
    catalog: AttrKey,
    total_usd: AttrKey,
    input_usd: AttrKey,
    output_usd: AttrKey,
    llm_calls: AttrKey,
    input_tokens: AttrKey,
    output_tokens: AttrKey,
    unpriced_calls: AttrKey,
    by_model: AttrKey,
    complete: AttrKey,
    budget_name: AttrKey,
    budget_limit: AttrKey,
    budget_exceeded: AttrKey,
    anomaly_ratio: AttrKey,
    anomaly_baseline: AttrKey,
    anomaly: AttrKey,
    cost_prompt: AttrKey,
    cost_completion: AttrKey,
    cost_total: AttrKey,
    /// `llm.cost.prompt_details.*` / `completion_details.*`, in `CostBreakdown` field order.
    details: [AttrKey; 7],
    /// Charges beyond those (`cost.charges.*`): media input, media output, tool calls, per unit.
    charges: [AttrKey; 4],
    /// `cost.charges.unpriced_units`.
    unpriced_units: AttrKey,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Keys {
        let p = |s: &str| AttrKey::new(&format!("{prefix}{s}"));
        Keys {
            status: p(ours::PRICING_STATUS),
            reason: p(ours::PRICING_REASON),
            model: p(ours::PRICING_MODEL),
            effective_from: p(ours::PRICING_EFFECTIVE_FROM),
            source: p(ours::PRICING_SOURCE),
            tier: p(ours::PRICING_TIER),
            catalog: p(ours::PRICING_CATALOG),
            total_usd: p(ours::TOTAL_USD),
            input_usd: p(ours::INPUT_USD),
            output_usd: p(ours::OUTPUT_USD),
            llm_calls: p(ours::LLM_CALLS),
            input_tokens: p(ours::INPUT_TOKENS),
            output_tokens: p(ours::OUTPUT_TOKENS),
            unpriced_calls: p(ours::UNPRICED_CALLS),
            by_model: p(ours::BY_MODEL),
            complete: p(ours::COMPLETE),
            budget_name: p(ours::BUDGET_NAME),
            budget_limit: p(ours::BUDGET_LIMIT_USD),
            budget_exceeded: p(ours::BUDGET_EXCEEDED),
            anomaly_ratio: p(ours::ANOMALY_RATIO),
            anomaly_baseline: p(ours::ANOMALY_BASELINE_USD),
            anomaly: p(ours::ANOMALY),
            cost_prompt: AttrKey::new(k::LLM_COST_PROMPT),
            cost_completion: AttrKey::new(k::LLM_COST_COMPLETION),
            cost_total: AttrKey::new(k::LLM_COST_TOTAL),
            details: [
                AttrKey::new(k::LLM_COST_PROMPT_INPUT),
                AttrKey::new(k::LLM_COST_PROMPT_CACHE_READ),
                AttrKey::new(k::LLM_COST_PROMPT_CACHE_WRITE),
                AttrKey::new(k::LLM_COST_PROMPT_AUDIO),
                AttrKey::new(k::LLM_COST_COMPLETION_OUTPUT),
                AttrKey::new(k::LLM_COST_COMPLETION_REASONING),
                AttrKey::new(k::LLM_COST_COMPLETION_AUDIO),
            ],
            charges: [
                p(ours::CHARGES_MEDIA_INPUT_USD),
                p(ours::CHARGES_MEDIA_OUTPUT_USD),
                p(ours::CHARGES_TOOL_CALLS_USD),
                p(ours::CHARGES_PER_UNIT_USD),
            ],
            unpriced_units: p(ours::CHARGES_UNPRICED_UNITS),
        }
    }
}

/// Most attributes a call gets ([`Writer::status`] and [`Writer::call`]: status, reason, 3 costs,
/// 7 details, 5 of provenance), beyond [`charge_attrs`].
const CALL_ATTRS: usize = 17;

/// The `cost.charges.*` attributes a call gets (0 for a token-only call).
fn charge_attrs(call: &Call<'_>) -> usize {
    match call.cost.as_ref().and_then(|c| c.beyond.as_deref()) {
        None => 0,
        Some(b) => {
            [b.media_input, b.media_output, b.tool_calls, b.per_unit]
                .iter()
                .filter(|v| !v.is_zero())
                .count()
                + usize::from(b.unpriced > 0)
        }
    }
}

/// Most attributes [`Writer::rollup`] writes.
const ROLLUP_ATTRS: usize = 7;
/// Most root-only attributes (`by_model`, `complete`, 3 of budget, 3 of anomaly).
const ROOT_ATTRS: usize = 8;

#[inline(always)]
fn usd_attr(v: Usd) -> OwnedValue {
    OwnedValue::F64(v.as_f64())
}

#[inline(always)]
fn count_attr(v: u64) -> OwnedValue {
    OwnedValue::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Writes attributes: appends when the span is known to hold none of ours, else replaces.
pub(super) struct Writer<'a> {
    keys: &'a Keys,
    replace: bool,
}

impl<'a> Writer<'a> {
    /// `replace`: the span may already hold attributes of ours (it passed through us before).
    #[inline(always)]
    pub(super) fn new(keys: &'a Keys, replace: bool) -> Writer<'a> {
        Writer { keys, replace }
    }

    /// Room for all the span gets, in one reservation: a list that grows is copied once, not
    /// twice. `calls_below`: the children's totals hold calls.
    #[inline(always)]
    pub(super) fn reserve<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        own: &OwnKind<'_>,
        calls_below: bool,
        root: bool,
    ) {
        let (own_attrs, rolls_up) = match own {
            OwnKind::Nothing => (0, calls_below),
            OwnKind::Aggregate => (1, calls_below),
            OwnKind::Call(c) => (CALL_ATTRS + charge_attrs(c), true),
        };
        let rollup_attrs = match (rolls_up, root) {
            (false, _) => 0,
            (true, false) => ROLLUP_ATTRS,
            (true, true) => ROLLUP_ATTRS + ROOT_ATTRS,
        };
        if own_attrs + rollup_attrs > 0 {
            span.reserve_attrs(own_attrs + rollup_attrs);
        }
    }

    #[inline(always)]
    fn put<V: SpanView + ?Sized>(&self, span: &mut V, key: &AttrKey, v: OwnedValue) {
        span.write_attr(key, v, self.replace);
    }

    #[inline(always)]
    fn put_static<V: SpanView + ?Sized>(&self, span: &mut V, key: &AttrKey, v: &'static str) {
        span.write_static(key, v, self.replace);
    }

    /// A catalog string: its interned copy when there is one (no reference count to bump here
    /// and drop downstream), else the shared string.
    #[inline(always)]
    fn put_catalog<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        key: &AttrKey,
        v: &Arc<str>,
        interned: &Interned,
    ) {
        match interned.get(v) {
            Some(s) => span.write_static(key, s, self.replace),
            None => span.write_attr(key, OwnedValue::Shared(Arc::clone(v)), self.replace),
        }
    }

    // Inline (here and below): `Engine` calls these from another module; as calls into
    // another codegen unit the gateway's `price_trace` took ~1.7 % more instructions
    // (benches/gateway.rs `enrich_one_llm_span`, `batch_512/gateway`; BENCHMARKS.md, issue 14).
    /// `cost.pricing.status`, and the reason a call was not priced.
    #[inline]
    pub(super) fn status<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        s: PricingStatus,
        reason: Option<&str>,
    ) {
        self.put_static(span, &self.keys.status, s.as_str());
        if let Some(r) = reason {
            self.put(span, &self.keys.reason, OwnedValue::Str(r.to_owned()));
        }
    }

    /// `cost.charges.*` of a call with charges beyond tokens (rare: out of line).
    #[cold]
    #[inline(never)]
    fn charges<V: SpanView + ?Sized>(&self, span: &mut V, b: &Beyond) {
        let k = self.keys;
        let charges = [b.media_input, b.media_output, b.tool_calls, b.per_unit];
        for (key, v) in k.charges.iter().zip(charges) {
            if !v.is_zero() {
                self.put(span, key, usd_attr(v));
            }
        }
        if b.unpriced > 0 {
            self.put(span, &k.unpriced_units, count_attr(u64::from(b.unpriced)));
        }
    }

    /// A counted call's `llm.cost.*` and provenance (its status is written first).
    #[inline]
    pub(super) fn call<V: SpanView + ?Sized>(&self, span: &mut V, call: &Call<'_>) {
        self.call_summed(span, call, call.cost.as_ref().map(CostBreakdown::sides));
    }

    /// [`Writer::call`] with the call's cost summed already (`sides`: input side, output
    /// side, total, as [`CostBreakdown::sides`] gives for a priced call; the roll-up sums
    /// them for the call it counts, `Subtree::add_call`, and they are not summed twice).
    #[inline]
    pub(super) fn call_summed<V: SpanView + ?Sized>(
        &self,
        span: &mut V,
        call: &Call<'_>,
        sides: Option<(Usd, Usd, Usd)>,
    ) {
        let k = self.keys;
        if let (Some(c), Some((prompt, completion, total))) = (&call.cost, sides) {
            self.put(span, &k.cost_prompt, usd_attr(prompt));
            self.put(span, &k.cost_completion, usd_attr(completion));
            self.put(span, &k.cost_total, usd_attr(total));
            for (key, v) in k.details.iter().zip(c.token_parts()) {
                if !v.is_zero() {
                    self.put(span, key, usd_attr(v));
                }
            }
            // Charges beyond the token parts above: in `llm.cost.total` (and media in prompt or
            // completion), broken down in our namespace.
            if let Some(b) = c.beyond.as_deref() {
                self.charges(span, b);
            }
        }
        if let Some(p) = &call.provenance {
            self.put_catalog(span, &k.model, &p.model.id, &p.model.id_static);
            self.put_catalog(
                span,
                &k.effective_from,
                &p.price.effective_from_label,
                &p.price.effective_from_static,
            );
            self.put_catalog(span, &k.source, &p.price.source, &p.price.source_static);
            if let Some(t) = &p.tier {
                self.put(span, &k.tier, OwnedValue::Str(t.clone()));
            }
            match p.version {
                CatalogVersion::Interned(v) => self.put_static(span, &k.catalog, v),
                CatalogVersion::Shared(v) => {
                    self.put(span, &k.catalog, OwnedValue::Shared(Arc::clone(v)))
                }
            }
        }
    }

    /// The subtree's roll-up.
    #[inline]
    pub(super) fn rollup<V: SpanView + ?Sized>(&self, span: &mut V, t: &Totals) {
        let k = self.keys;
        if t.calls > t.unpriced {
            self.put(span, &k.total_usd, usd_attr(t.cost));
            self.put(span, &k.input_usd, usd_attr(t.input_cost));
            self.put(span, &k.output_usd, usd_attr(t.output_cost));
        }
        self.put(span, &k.llm_calls, count_attr(u64::from(t.calls)));
        self.put(span, &k.input_tokens, count_attr(t.input_tokens));
        self.put(span, &k.output_tokens, count_attr(t.output_tokens));
        if t.unpriced > 0 {
            self.put(span, &k.unpriced_calls, count_attr(u64::from(t.unpriced)));
        }
    }

    /// The root's `cost.by_model` and `cost.complete`.
    #[inline]
    pub(super) fn root<V: SpanView + ?Sized>(&self, span: &mut V, t: &Totals, complete: bool) {
        let k = self.keys;
        if !t.by_model.is_empty() {
            self.put(span, &k.by_model, OwnedValue::Str(t.by_model_json()));
        }
        self.put(span, &k.complete, OwnedValue::Bool(complete));
    }

    /// The root's budget and anomaly verdicts, and the event of a budget exceeded. `total`: the
    /// trace's cost.
    pub(super) fn verdicts<V: SpanView + ?Sized>(&self, span: &mut V, v: &Verdicts, total: Usd) {
        let k = self.keys;
        if let Some((name, limit, exceeded)) = &v.budget {
            self.put(span, &k.budget_name, OwnedValue::Str(name.clone()));
            self.put(span, &k.budget_limit, usd_attr(*limit));
            self.put(span, &k.budget_exceeded, OwnedValue::Bool(*exceeded));
            if *exceeded {
                span.add_event(
                    k.budget_exceeded.as_str(),
                    vec![
                        (k.budget_name.clone(), OwnedValue::Str(name.clone())),
                        (k.budget_limit.clone(), usd_attr(*limit)),
                        (k.total_usd.clone(), usd_attr(total)),
                    ],
                );
            }
        }
        if let Some((ratio, baseline)) = v.anomaly {
            self.put(span, &k.anomaly_ratio, OwnedValue::F64(ratio));
            self.put(span, &k.anomaly_baseline, usd_attr(baseline));
            self.put(span, &k.anomaly, OwnedValue::Bool(v.anomalous));
        }
    }
}

/// Whether a JSON string of `s` escapes none of its bytes (no control character, quote or
/// backslash), eight bytes at a time: a byte-by-byte test costs what serde_json's escaper does
/// (BENCHMARKS.md, issue 15, token-only regression, round 2).
fn json_plain(s: &str) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // Some byte of `x` is below `n` (n <= 0x80): exact as a yes or no (Hacker's Delight 6-1).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let escapes = |x: u64| {
        below(x, 0x20)
            || below(x ^ (ONES * u64::from(b'"')), 1)
            || below(x ^ (ONES * u64::from(b'\\')), 1)
    };
    let mut words = s.as_bytes().chunks_exact(8);
    for w in words.by_ref() {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        if escapes(u64::from_le_bytes(b)) {
            return false;
        }
    }
    // The last bytes, padded with a byte never escaped.
    let mut b = [b'a'; 8];
    let rest = words.remainder();
    b[..rest.len()].copy_from_slice(rest);
    !escapes(u64::from_le_bytes(b))
}

impl Totals {
    /// The `cost.by_model` JSON.
    pub fn by_model_json(&self) -> String {
        // Written directly (no `serde_json::Value` tree per row): the same bytes as
        // `serde_json::json!` gives, keys in its (sorted) order, numbers formatted by
        // serde_json itself, and strings too when JSON escapes a character of them. This runs
        // on every root span with LLM calls.
        fn row(out: &mut Vec<u8>, m: &ModelShare, pct: f64) -> bool {
            let mut ok = true;
            out.extend_from_slice(b"{\"calls\":");
            ok &= serde_json::to_writer(&mut *out, &m.calls).is_ok();
            out.extend_from_slice(b",\"cost_usd\":");
            ok &= serde_json::to_writer(&mut *out, &m.cost.as_f64()).is_ok();
            out.extend_from_slice(b",\"model\":");
            // A catalog id has no character JSON escapes (a quote, a backslash, a control
            // character): written as it is, without serde_json's escaper; any other name is
            // spelled by serde_json.
            if json_plain(&m.model) {
                out.push(b'"');
                out.extend_from_slice(m.model.as_bytes());
                out.push(b'"');
            } else {
                ok &= serde_json::to_writer(&mut *out, &*m.model).is_ok();
            }
            out.extend_from_slice(b",\"pct\":");
            // A single row (most traces) is 100 or 0: serde_json's own spelling of those,
            // without running the float formatter (the test below checks the bytes).
            if pct == 100.0 {
                out.extend_from_slice(b"100.0");
            } else if pct == 0.0 && pct.is_sign_positive() {
                out.extend_from_slice(b"0.0");
            } else {
                ok &= serde_json::to_writer(&mut *out, &pct).is_ok();
            }
            out.push(b'}');
            ok
        }
        let mut out: Vec<u8> = Vec::with_capacity(2 + self.by_model.len() * 96);
        let mut ok = true;
        out.push(b'[');
        match self.by_model.as_slice() {
            // One row (most traces use one model): nothing to merge or sort; it has all of
            // the spend (`by_model_sorted` gives 100, or 0 when nothing was spent).
            [m] => {
                ok &= row(&mut out, m, if m.cost.is_zero() { 0.0 } else { 100.0 });
            }
            _ => {
                for (i, (m, pct)) in self.by_model_sorted().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    ok &= row(&mut out, m, *pct);
                }
            }
        }
        out.push(b']');
        match String::from_utf8(out) {
            Ok(s) if ok => s,
            _ => self.by_model_json_via_value(),
        }
    }

    /// `by_model_json` through `serde_json::Value` (the reference the direct writer matches).
    fn by_model_json_via_value(&self) -> String {
        let arr: Vec<serde_json::Value> = self
            .by_model_sorted()
            .into_iter()
            .map(|(m, pct)| {
                serde_json::json!({
                    "model": &*m.model,
                    "calls": m.calls,
                    "cost_usd": m.cost.as_f64(),
                    "pct": pct,
                })
            })
            .collect();
        serde_json::Value::Array(arr).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::tests::share;

    #[test]
    fn by_model_json_is_byte_identical_to_serde_json_values() {
        let cases = vec![
            vec![],
            vec![share("gpt-4o", 9, 4_188_000_000_000_000)],
            vec![
                share("gpt-4o", 9, 4_188_000_000_000_000),
                share("claude \"q\" \\ é \u{1}", 1, 17),
                share("zero", 3, 0),
                share("tiny", 1, 1),
                share("huge", 7, u128::from(u64::MAX) * 1000),
            ],
            vec![share("a", 1, 0), share("b", 2, 0)],
            vec![share("only", 3, 0)],
            vec![share("only", 0, 0)],
            vec![share("only", 0, 5)],
        ];
        for by_model in cases {
            let t = Totals {
                by_model,
                ..Totals::default()
            };
            assert_eq!(t.by_model_json(), t.by_model_json_via_value());
        }
    }

    /// A name is written as it is unless JSON escapes a character of it (then serde_json
    /// spells it): the same bytes either way, one row or several, for every byte class the
    /// plain check tells apart (printable ASCII, DEL, non-ASCII, quote, backslash, controls).
    #[test]
    fn by_model_json_writes_every_name_as_serde_json_does() {
        let names = [
            "gpt-4o-mini",
            "anthropic/claude-3.5-sonnet@20240620",
            "mod\u{e8}le-\u{65e5}\u{672c}",
            "del\u{7f}",
            " ~",
            "q\"uote",
            "back\\slash",
            "tab\tnl\n\u{1f}",
            "",
        ];
        for name in names {
            for by_model in [
                vec![share(name, 2, 7)],
                vec![share(name, 1, 5), share("other", 3, 11)],
            ] {
                let t = Totals {
                    by_model,
                    ..Totals::default()
                };
                assert_eq!(t.by_model_json(), t.by_model_json_via_value(), "{name:?}");
            }
        }
    }

    /// The word-at-a-time test agrees with the byte-by-byte rule (serde_json escapes bytes
    /// below 0x20, a quote and a backslash) for every ASCII byte at every place of names of
    /// every length up to past two words, and passes non-ASCII text.
    #[test]
    fn json_plain_agrees_with_the_byte_by_byte_rule() {
        for len in 1..=17 {
            for at in 0..len {
                for b in 0u8..=0x7f {
                    let mut v = vec![b'x'; len];
                    v[at] = b;
                    let s = std::str::from_utf8(&v).unwrap();
                    let want = v.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
                    assert_eq!(json_plain(s), want, "{s:?}");
                }
            }
        }
        assert!(json_plain(""));
        assert!(json_plain(
            "mod\u{e8}le-\u{65e5}\u{672c}\u{8a9e}-\u{7f}\u{80}\u{ff}"
        ));
        assert!(!json_plain("mod\u{e8}le-\u{65e5}\u{672c}\u{8a9e}-\u{1f}"));
    }

    #[test]
    fn by_model_json_spells_100_and_0_as_serde_json_does() {
        assert_eq!(serde_json::to_string(&100.0f64).unwrap(), "100.0");
        assert_eq!(serde_json::to_string(&0.0f64).unwrap(), "0.0");
        let one = Totals {
            by_model: vec![share("gpt-4o", 1, 5)],
            ..Totals::default()
        };
        assert!(one.by_model_json().ends_with("\"pct\":100.0}]"));
        let two = Totals {
            by_model: vec![share("a", 1, 5), share("b", 1, 0)],
            ..Totals::default()
        };
        assert_eq!(two.by_model_json(), two.by_model_json_via_value());
        assert!(two.by_model_json().contains("\"pct\":0.0}"));
    }
}
