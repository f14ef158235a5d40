//! A span's own call, read and priced: usage extraction's result, the model and provider it
//! names, the catalog price in force at the span's start ([`CallPricer::own`]). Nothing is
//! written here; what the span contributes by itself ([`Own`]) goes on to the roll-up.
//!
//! ```text
//! SpanView -> extract (usage, model/provider keys, provided cost) -> status: aggregate |
//! provided | invalid_usage | unknown_model | priced (catalog entry, date, tier) -> Own
//! ```

use std::cell::OnceCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::response_body::{self, Read};
use super::stats::Stats;
use super::usage::{
    extract_with, image_variants, key_filter, read_context, unmatched_context, ExtractOptions,
    Extracted, ProvidedCost, UsageState,
};
use crate::money::Usd;
use crate::pricing::{
    Catalog, CostBreakdown, Model, Price, PriceContext, ServiceTier, UnknownModel, Usage,
    MAX_MODEL_ID_BYTES,
};
use crate::provider::MAX_PROVIDER_BYTES;
use crate::semconv as k;
use crate::span_view::{intern, is_blank, AttrValue, KeyFilter, SpanView};

/// `cost.pricing.status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PricingStatus {
    /// Priced from the catalog.
    Priced,
    /// The span already carried a cost; kept.
    Provided,
    /// The model matched nothing in the catalog (never shown as $0).
    UnknownModel,
    /// A token count was unusable (negative, fractional, NaN, not a number), or the model or
    /// provider attribute is longer than [`MAX_MODEL_ID_BYTES`] / [`MAX_PROVIDER_BYTES`].
    InvalidUsage,
    /// A call span with a counted call below it (the innermost call wins).
    Duplicate,
    /// An agent / workflow / chain span repeating its children's usage.
    Aggregate,
}

impl PricingStatus {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingStatus::Priced => "priced",
            PricingStatus::Provided => "provided",
            PricingStatus::UnknownModel => "unknown_model",
            PricingStatus::InvalidUsage => "invalid_usage",
            PricingStatus::Duplicate => "duplicate",
            PricingStatus::Aggregate => "aggregate",
        }
    }
}

/// A string borrowed from the catalog (for the engine's life), or one read from a span.
/// Borrowing saves a reference-count increment and decrement per use on the hot path.
#[derive(Debug, Clone)]
pub(super) enum Text<'e> {
    Catalog(&'e Arc<str>),
    Span(Arc<str>),
}

impl Text<'_> {
    pub(super) fn as_arc(&self) -> &Arc<str> {
        match self {
            Text::Catalog(a) => a,
            Text::Span(a) => a,
        }
    }

    /// Same string as `a` (pointer first).
    pub(super) fn same(&self, a: &Arc<str>) -> bool {
        let s = self.as_arc();
        Arc::ptr_eq(s, a) || **s == **a
    }
}

/// Provenance of a priced call (borrowed from the catalog entry that priced it).
#[derive(Debug, Clone)]
pub(crate) struct Provenance<'e> {
    pub(super) model: &'e Model,
    pub(super) price: &'e Price,
    pub(super) tier: Option<String>,
    /// The version of the catalog that priced the call (`cost.pricing.catalog`).
    pub(super) version: &'e CatalogVersion,
    /// The call's start, Unix seconds (which price was in force, which time window applied).
    pub(super) at: i64,
    /// The request context the call was priced in (a duplicate above it adds to it).
    pub(super) context: PriceContext,
}

/// The catalog version, written on every priced span: interned when the table had room (no
/// reference count to bump here and drop downstream), else shared.
#[derive(Debug)]
pub(super) enum CatalogVersion {
    Interned(&'static str),
    Shared(Arc<str>),
}

impl CatalogVersion {
    pub(super) fn of(catalog: &Catalog) -> CatalogVersion {
        let v = &catalog.info().version;
        match intern(v) {
            Some(s) => CatalogVersion::Interned(s),
            None => CatalogVersion::Shared(Arc::clone(v)),
        }
    }
}

/// A catalog in use and the version written on the spans it prices; replaced whole by
/// [`Engine::replace_catalog`](super::Engine::replace_catalog).
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) catalog: Arc<Catalog>,
    pub(super) version: CatalogVersion,
}

impl Snapshot {
    pub(super) fn of(catalog: Arc<Catalog>) -> Snapshot {
        Snapshot {
            version: CatalogVersion::of(&catalog),
            catalog,
        }
    }
}

/// The catalog snapshot a span, or a whole trace, is priced with: taken at the first call that
/// needs a price (spans that are not calls never load it), then kept by every later span
/// priced through the same pin. A refresh that swaps the catalog meanwhile does not change it.
#[derive(Default)]
pub(crate) struct CatalogPin(OnceCell<Guard<Arc<Snapshot>>>);

impl std::fmt::Debug for CatalogPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogPin")
            .field("loaded", &self.0.get().is_some())
            .finish()
    }
}

/// One LLM call as read and priced from its own span.
#[derive(Debug, Clone)]
pub(crate) struct Call<'e> {
    pub(super) status: PricingStatus,
    /// Catalog id when priced, else the model as the span says (for `by_model`).
    pub(super) label: Text<'e>,
    /// Catalog entry's provider when priced, else the span's canonical provider.
    pub(super) provider: Text<'e>,
    /// The span's `service.name`, when its representation carries it.
    pub(super) service: Option<Arc<str>>,
    pub(super) cost: Option<CostBreakdown>,
    pub(super) provided: Option<ProvidedCost>,
    pub(super) usage: Option<Usage>,
    pub(super) provenance: Option<Provenance<'e>>,
    pub(super) reason: Option<String>,
}

impl Call<'_> {
    /// The call's cost: priced, else provided; `None` when unpriced.
    pub(super) fn total(&self) -> Option<Usd> {
        match (&self.cost, &self.provided) {
            (Some(c), _) => Some(c.total()),
            (None, Some(p)) => Some(p.total),
            _ => None,
        }
    }
    /// Input-side and output-side cost.
    pub(super) fn input_output(&self) -> (Usd, Usd) {
        match (&self.cost, &self.provided) {
            (Some(c), _) => (c.prompt(), c.completion()),
            (None, Some(p)) => (
                p.prompt.unwrap_or_default(),
                p.completion.unwrap_or_default(),
            ),
            _ => (Usd::ZERO, Usd::ZERO),
        }
    }
}

/// What a span contributes by itself, before roll-up.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // on purpose: see `Call`
pub(crate) enum OwnKind<'e> {
    /// Not an LLM call.
    Nothing,
    /// Agent / workflow / chain with usage of its own: not counted.
    Aggregate,
    /// An LLM call. Not boxed: an allocation and a free per priced span cost more than
    /// moving the (stack) value, and most spans (`Nothing`) only write the tag.
    Call(Call<'e>),
}

/// A span's own contribution, and whether it already carries attributes we write.
#[derive(Debug, Clone)]
pub(crate) struct Own<'e> {
    pub(super) kind: OwnKind<'e>,
    /// Replace existing attributes instead of appending (the span passed through us before).
    pub(super) rewrite: bool,
}

impl Own<'_> {
    /// `true` when nothing is written for the span unless its children bring totals.
    #[cfg_attr(not(feature = "processor"), allow(dead_code))]
    pub(crate) fn is_nothing(&self) -> bool {
        matches!(self.kind, OwnKind::Nothing)
    }
}

/// The string value of `keys[i]`, when extraction found one there; `at`: where extraction saw
/// that key last.
// Inline: three uses per call span, each a few instructions around the span's own lookup.
#[inline(always)]
fn str_at<'a, V: SpanView + ?Sized>(
    span: &'a V,
    keys: &[&str],
    i: Option<usize>,
    at: Option<usize>,
) -> Option<&'a str> {
    let key = keys.get(i?)?;
    let v = match at {
        Some(at) => span.attr_at(at, key),
        None => span.attr(key),
    };
    match v {
        Some(AttrValue::Str(s)) if !is_blank(s) => Some(s),
        _ => None,
    }
}

/// `invalid_usage` reason when the value read from `keys[i]` is longer than `max` bytes.
fn over_limit(keys: &[&str], i: Option<usize>, value: Option<&str>, max: usize) -> Option<String> {
    let v = value?;
    (v.len() > max).then(|| {
        let key = i.and_then(|i| keys.get(i)).copied().unwrap_or("?");
        format!("'{key}' is {} bytes, over the limit of {max}", v.len())
    })
}

/// Reads and prices what a span contributes by itself: the catalog, and the options of
/// extraction and pricing. Built once per engine; its catalog is swapped whole at run time.
#[derive(Debug)]
pub(super) struct CallPricer {
    /// The catalog in use: one atomic pointer, never waited for by readers.
    pub(super) catalog: ArcSwap<Snapshot>,
    extract: ExtractOptions,
    /// Prefix of the attributes we write (a span that has some is rewritten, not appended to).
    prefix: String,
    /// First bytes of the keys extraction reads (and of our prefix).
    filter: KeyFilter,
    /// Re-price spans that already carry a cost.
    reprice_provided: bool,
}

impl CallPricer {
    pub(super) fn new(
        catalog: Arc<Catalog>,
        extract: ExtractOptions,
        prefix: String,
        reprice_provided: bool,
    ) -> CallPricer {
        CallPricer {
            catalog: ArcSwap::from_pointee(Snapshot::of(catalog)),
            extract,
            filter: key_filter(&prefix),
            prefix,
            reprice_provided,
        }
    }

    /// The catalog snapshot of `pin` (loaded here if no call priced through it yet).
    // The first load sets the cell directly (inline) instead of through `get_or_init`'s
    // out-of-line `try_init` (its closure call and re-entrancy check): once per processor
    // span (benches/processor.rs `on_end/llm`, issue 15).
    #[inline]
    pub(super) fn snapshot<'a>(&'a self, pin: &'a CatalogPin) -> &'a Snapshot {
        if pin.0.get().is_none() {
            // Cannot fail: empty just above, and a pin is not shared between threads.
            let _ = pin.0.set(self.catalog.load());
        }
        pin.0.get_or_init(|| self.catalog.load())
    }

    // Inline (here and `own_kind`): `Engine` calls it from another module; as calls into
    // another codegen unit the gateway's `price_trace` took ~1.7 % more instructions
    // (benches/gateway.rs `enrich_one_llm_span`, `batch_512/gateway`; BENCHMARKS.md, issue 14).
    /// Reads and prices what the span contributes by itself. Writes nothing.
    /// `pin`: the catalog snapshot, loaded here at the first call that needs it.
    #[inline]
    pub(super) fn own<'a, V: SpanView + ?Sized>(
        &'a self,
        pin: &'a CatalogPin,
        span: &V,
        stats: &Stats,
    ) -> Own<'a> {
        let provider_of = |i: Option<usize>| {
            str_at(span, &k::PROVIDER_KEYS, i, None)
                .filter(|p| p.len() <= MAX_PROVIDER_BYTES)
                .map(crate::provider::canonical)
        };
        // Kept where extraction returned it, and lent: moving it (a few hundred bytes) cost more
        // than taking the usage out of it.
        let mut extracted =
            extract_with(span, &self.extract, &self.prefix, &self.filter, provider_of);
        let Some(ex) = extracted.as_mut() else {
            // No key worth reading (most spans).
            return Own {
                kind: OwnKind::Nothing,
                rewrite: false,
            };
        };
        if ex.usage == UsageState::None && ex.provided.is_none() {
            // Not a call and not an aggregate with usage (most spans).
            return Own {
                kind: OwnKind::Nothing,
                rewrite: ex.has_written_keys,
            };
        }
        self.own_kind(pin, span, ex, stats)
    }

    /// The span's own contribution, built in place (a `Call` is a few hundred bytes).
    #[inline]
    fn own_kind<'a, V: SpanView + ?Sized>(
        &'a self,
        pin: &'a CatalogPin,
        span: &V,
        ex: &mut Extracted,
        stats: &Stats,
    ) -> Own<'a> {
        let rewrite = ex.has_written_keys;
        if ex.aggregate && ex.usage != UsageState::None {
            return Own {
                kind: OwnKind::Aggregate,
                rewrite,
            };
        }
        let model = str_at(span, &k::MODEL_KEYS, ex.model_key, ex.model_at);
        let provider = str_at(span, &k::PROVIDER_KEYS, ex.provider_key, ex.provider_at);
        // Over-long model or provider: not a real one (see the limits' docs). Neither is read
        // further, nor becomes a label; the span is `invalid_usage` (still forwarded).
        let too_long =
            over_limit(&k::MODEL_KEYS, ex.model_key, model, MAX_MODEL_ID_BYTES).or_else(|| {
                over_limit(
                    &k::PROVIDER_KEYS,
                    ex.provider_key,
                    provider,
                    MAX_PROVIDER_BYTES,
                )
            });
        let (model, provider) = match too_long {
            Some(_) => (None, None),
            None => (model, provider),
        };
        let service: Option<Arc<str>> = span.service_name().map(Into::into);
        let call = |status, usage, provided, reason| Own {
            kind: OwnKind::Call(Call {
                status,
                service: service.clone(),
                label: Text::Span(model.unwrap_or("unknown").into()),
                provider: Text::Span(provider.map_or_else(
                    || "unknown".into(),
                    |p| crate::provider::canonical(p).into(),
                )),
                cost: None,
                provided,
                usage,
                provenance: None,
                reason,
            }),
            rewrite,
        };
        if let Some(reason) = too_long {
            let usage = match std::mem::replace(&mut ex.usage, UsageState::None) {
                UsageState::Valid(u) => Some(u),
                _ => None,
            };
            return call(PricingStatus::InvalidUsage, usage, None, Some(reason));
        }
        let keep_provided = ex
            .provided
            .filter(|_| !self.reprice_provided && !ex.aggregate);
        let mut usage = match std::mem::replace(&mut ex.usage, UsageState::None) {
            UsageState::None => {
                return match keep_provided {
                    Some(p) => call(PricingStatus::Provided, None, Some(p), None),
                    None => Own {
                        kind: OwnKind::Nothing,
                        rewrite,
                    },
                };
            }
            UsageState::Invalid(reason) => {
                return match keep_provided {
                    Some(p) => call(PricingStatus::Provided, None, Some(p), None),
                    None => call(PricingStatus::InvalidUsage, None, None, Some(reason)),
                };
            }
            UsageState::Valid(u) => u,
        };
        if let Some(p) = keep_provided {
            return call(PricingStatus::Provided, Some(usage), Some(p), None);
        }
        let Some(model) = model else {
            return call(
                PricingStatus::UnknownModel,
                Some(usage),
                None,
                Some("no model attribute".into()),
            );
        };
        let tier_value = str_at(span, &k::SERVICE_TIER_KEYS, ex.tier_key, ex.tier_at);
        let tier = tier_value.and_then(ServiceTier::parse);
        let at = i64::try_from(span.start_unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
        let snapshot = self.snapshot(pin);
        let resolved = snapshot
            .catalog
            .resolve(model, provider)
            .ok_or_else(|| UnknownModel {
                model: model.to_owned(),
            });
        match resolved {
            Ok(m) => {
                let price = m.price_at(at);
                // Tool calls only OpenInference's response body holds: read for its spans whose
                // price has a rate for them (engine/response_body.rs); any other span, nothing.
                let body = match response_body::add_tool_calls(span, m, price, &mut usage) {
                    Read::Unreadable(why) => {
                        stats.unreadable_bodies.fetch_add(1, Ordering::Relaxed);
                        Some(why)
                    }
                    Read::Skipped | Read::Counted => None,
                };
                // The context beyond the service tier is read only for a price with variants
                // (a few models): a token-only span of any other model reads nothing more. Nor
                // does a span with no context to read (no service tier, invocation parameters
                // or `<prefix>context.*`) of a model whose variants no image attribute selects:
                // its context is empty, what `read_context` would return.
                let standard_context = price.variants.is_empty()
                    || (tier_value.is_none()
                        && ex.params_at.is_none()
                        && !ex.has_context
                        && !image_variants(price));
                let context = if standard_context {
                    PriceContext::tier(tier)
                } else {
                    read_context(
                        span,
                        &self.prefix,
                        tier_value,
                        ex.params_at,
                        ex.has_context,
                        image_variants(price),
                    )
                };
                let (cost, applied) = price.cost_in(&usage, &context, at);
                let reason = if standard_context {
                    None
                } else {
                    unmatched_context(price, &context, &applied)
                };
                let reason = unpriced_units(price, &usage, &cost, &context, at, reason);
                let reason = match (reason, body) {
                    (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                    (a, b) => a.or(b),
                };
                Own {
                    kind: OwnKind::Call(Call {
                        status: PricingStatus::Priced,
                        service,
                        label: Text::Catalog(&m.id),
                        provider: Text::Catalog(&m.provider),
                        cost: Some(cost),
                        provided: None,
                        usage: Some(usage),
                        provenance: Some(Provenance {
                            model: m,
                            price,
                            tier: applied.label(),
                            version: &snapshot.version,
                            at,
                            context,
                        }),
                        reason,
                    }),
                    rewrite,
                }
            }
            Err(e) => call(
                PricingStatus::UnknownModel,
                Some(usage),
                None,
                Some(e.to_string()),
            ),
        }
    }
}

/// `reason`, with the units the call carries that the rate set applied has no price for
/// named (`input_tokens=1200` on a model with no token price, `output_images=2` when no size
/// or quality picked a per-image price): they are not billed, and the span says so. Only a
/// cost with unpriced units looks further (a call billed by tokens alone has no `beyond`).
#[inline]
fn unpriced_units(
    price: &Price,
    usage: &Usage,
    cost: &CostBreakdown,
    ctx: &PriceContext,
    at: i64,
    reason: Option<String>,
) -> Option<String> {
    if cost.beyond.as_ref().is_none_or(|b| b.unpriced == 0) {
        return reason;
    }
    unpriced_reason(price, usage, ctx, at, reason)
}

#[cold]
#[inline(never)]
fn unpriced_reason(
    price: &Price,
    usage: &Usage,
    ctx: &PriceContext,
    at: i64,
    reason: Option<String>,
) -> Option<String> {
    let named = price.unpriced_units(usage, ctx, at);
    if named.is_empty() {
        return reason;
    }
    let note = format!(
        "not billed, no price for them in the rates applied: {}",
        named.join(", ")
    );
    Some(match reason {
        Some(r) => format!("{r}; {note}"),
        None => note,
    })
}
