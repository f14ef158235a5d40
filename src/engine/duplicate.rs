//! Duplicates (DESIGN §3, "Calls vs aggregates"): a call span with a counted call below it
//! repeats that call's usage and is not priced as a call again, but it may record what the
//! call's own span does not. OpenInference keeps Anthropic's web searches (`metadata`) and the
//! request's `speed` (`llm.invocation_parameters`) on its span, and the Anthropic SDK's own span
//! under it, with the same tokens, has neither (tests/fixtures/real-spans/UNITS.md, sections 2
//! and 9). What the duplicate adds is kept, once:
//!
//! ```text
//! the one priced call below (its model, start, usage, context, what it was charged)
//!   + the units it reports none of and the context keys it lacks, from the duplicate
//!   -> re-priced at the call's model and price -> merged - call = the duplicate's own charge
//!   -> written on the duplicate (llm.cost.*, status `duplicate`, the reason naming what it
//!      added), rolled up once, and passed up as the merged call (a span further up adds only
//!      what is still new)
//! ```
//!
//! Both drivers run it identically: the processor when the duplicate ends (the call below was
//! exported already: its own attributes never change), the gateway in its children-first walk.
//! The call's tokens are its own span's (the innermost wins); a context key both know keeps the
//! call's value (the SDK saw the response: `anthropic.response.service_tier`).

use std::sync::Arc;

use super::price::{Call, PricingStatus, Provenance, Snapshot, Text};
use super::rollup::Below;
use crate::money::Usd;
use crate::pricing::{Beyond, CostBreakdown, PriceContext, Unit, Usage};

/// What a duplicate span adds to the call below it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per duplicate span and taken apart at once
pub(super) enum Extra<'e> {
    /// Nothing it records is new.
    Nothing,
    /// Something new that cannot be priced as the call's: the reason says why.
    Note(String),
    /// New context or units that change nothing of the price: only the merged call goes up.
    Same(Below),
    /// A charge: `call` is written on the duplicate (its cost is merged - call), `below` is the
    /// merged call.
    Charge { call: Call<'e>, below: Below },
}

/// What the duplicate `dup` adds to the subtree's one priced call `below` (the call, its
/// catalog id, what was charged for it so far; `None`: several calls below, or one not priced
/// from the catalog; `calls_below` counts them). `snapshot`: the catalog the span is priced
/// with, loaded only when a price is needed.
pub(super) fn extra<'e>(
    snapshot: impl FnOnce() -> &'e Snapshot,
    dup: &Call<'_>,
    below: Option<(&Below, &Arc<str>, Usd)>,
    calls_below: u32,
) -> Extra<'e> {
    let Some(usage) = dup.usage.as_ref() else {
        return Extra::Nothing;
    };
    let Some((c, model_id, charged)) = below else {
        if usage.other.is_empty() {
            return Extra::Nothing;
        }
        let units = list(usage.other.iter().map(|(u, n)| format!("{u}={n}")));
        return Extra::Note(format!(
            "repeats {calls_below} call(s) below, not one priced from the catalog: the units it \
             records ({units}) are not added to them"
        ));
    };
    let mut added: Vec<String> = Vec::new();
    let merged = merge_usage(&c.usage, usage, &mut added);
    let empty = PriceContext::default();
    let dctx = dup.provenance.as_ref().map_or(&empty, |p| &p.context);
    let context = merge_context(&c.context, dctx, &mut added);
    if added.is_empty() {
        return Extra::Nothing;
    }
    let added = list(added.into_iter());
    if let Err(why) = merged.check_containment() {
        return Extra::Note(format!(
            "what it adds to the call below ({added}) contradicts the call ({why}): not added"
        ));
    }
    let snapshot = snapshot();
    let Some(model) = snapshot.catalog.get(model_id) else {
        return Extra::Note(format!(
            "the call below was priced as '{model_id}', which the catalog no longer holds: what \
             it adds ({added}) is not priced"
        ));
    };
    let price = model.price_at(c.at);
    let (was, _) = price.cost_in(&c.usage, &c.context, c.at);
    if was.total() != charged {
        return Extra::Note(format!(
            "the catalog changed after the call below was priced: what it adds ({added}) is not \
             priced"
        ));
    }
    let (now, applied) = price.cost_in(&merged, &context, c.at);
    let Some(delta) = minus(&now, &was) else {
        return Extra::Note(format!(
            "with what it adds ({added}) the call below would cost less ({} instead of {}): the \
             call's price stands",
            now.total(),
            was.total()
        ));
    };
    let below = Below {
        at: c.at,
        usage: merged,
        context,
    };
    if delta == CostBreakdown::default() {
        return Extra::Same(below);
    }
    Extra::Charge {
        call: Call {
            status: PricingStatus::Duplicate,
            label: Text::Catalog(&model.id),
            provider: Text::Catalog(&model.provider),
            service: dup.service.clone(),
            cost: Some(delta),
            provided: None,
            usage: None,
            provenance: Some(Provenance {
                model,
                price,
                tier: applied.label(),
                version: &snapshot.version,
                at: c.at,
                context: below.context.clone(),
            }),
            reason: Some(format!(
                "repeats the call below ({}); adds what only this span records: {added}",
                model.id
            )),
        },
        below,
    }
}

/// `call`'s usage plus the units `dup` records and `call` reports none of (`name=count` pushed
/// to `added`). The totals are the call's; a cache write split is taken whole or not at all.
fn merge_usage(call: &Usage, dup: &Usage, added: &mut Vec<String>) -> Usage {
    let mut merged = call.clone();
    let writes = call.get(Unit::CACHE_WRITE_TOKENS);
    for (u, n) in dup.units() {
        let known = merged.get(u) != 0
            || matches!(u, Unit::INPUT_TOKENS | Unit::OUTPUT_TOKENS)
            || (writes != 0
                && matches!(u, Unit::CACHE_WRITE_5M_TOKENS | Unit::CACHE_WRITE_1H_TOKENS));
        if !known {
            merged.set(u, n);
            added.push(format!("{u}={n}"));
        }
    }
    merged
}

/// `call`'s context plus the keys `dup` has and `call` lacks (`key=value` pushed to `added`);
/// the service tier is the call's when it has one.
fn merge_context(call: &PriceContext, dup: &PriceContext, added: &mut Vec<String>) -> PriceContext {
    let mut merged = call.clone();
    for (k, v) in &dup.values {
        let tier_key = matches!(k.as_str(), "service_tier" | "processing");
        if merged.get(k).is_some() || (tier_key && call.service_tier.is_some()) {
            continue;
        }
        merged.set(k, v);
        added.push(format!("{k}={v}"));
    }
    if merged.service_tier.is_none() && dup.service_tier.is_some() {
        merged.service_tier = dup.service_tier;
        if let Some(t) = dup
            .service_tier
            .filter(|_| dup.get("service_tier").is_none())
        {
            added.push(format!("service_tier={t}"));
        }
    }
    merged
}

/// `a - b`, component by component; `None` when a component of `a` is below `b`'s.
fn minus(a: &CostBreakdown, b: &CostBreakdown) -> Option<CostBreakdown> {
    let d = |x: Usd, y: Usd| x.femto().checked_sub(y.femto()).map(Usd::from_femto);
    let (ab, bb) = (a.beyond(), b.beyond());
    let beyond = Beyond {
        media_input: d(ab.media_input, bb.media_input)?,
        media_output: d(ab.media_output, bb.media_output)?,
        tool_calls: d(ab.tool_calls, bb.tool_calls)?,
        per_unit: d(ab.per_unit, bb.per_unit)?,
        unpriced: ab.unpriced.saturating_sub(bb.unpriced),
    };
    Some(CostBreakdown {
        input: d(a.input, b.input)?,
        cache_read: d(a.cache_read, b.cache_read)?,
        cache_write: d(a.cache_write, b.cache_write)?,
        audio_input: d(a.audio_input, b.audio_input)?,
        output: d(a.output, b.output)?,
        reasoning: d(a.reasoning, b.reasoning)?,
        audio_output: d(a.audio_output, b.audio_output)?,
        beyond: (beyond != Beyond::default()).then(|| Box::new(beyond)),
    })
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
