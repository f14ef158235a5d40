//! Roll-up: what a subtree (a span and all its descendants) adds up to. Exact totals, calls
//! by outcome, tokens, and spend by model; the ledger of children's totals (processor) and the
//! trace walk (gateway) both add subtrees with [`Totals::add`] / [`Subtree::add_to`].
//!
//! ```text
//! Own (a priced call) -> Subtree (totals + the call's share held aside) -> parent's Totals
//! ```

use std::sync::Arc;

use super::price::{Call, PricingStatus, Text};
use crate::money::{percent_tenths, Usd};
use crate::pricing::{CostBreakdown, PriceContext, Usage};

/// Spend of one model within a subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShare {
    /// Catalog id (or the span's model for provided costs).
    pub model: Arc<str>,
    /// Canonical provider (catalog entry's, else the span's; `unknown` when neither).
    pub provider: Arc<str>,
    /// `service.name` of the calls' spans, when the span representation carries it (gateway).
    pub service: Option<Arc<str>>,
    /// Calls.
    pub calls: u32,
    /// Cost.
    pub cost: Usd,
    /// Tokens of these calls, by type.
    pub tokens: TokenCounts,
    /// Their cost by charge kind (sums to `cost`).
    pub kinds: CostByKind,
}

/// A cost by charge kind: the parts `llm.cost.total` is made of, as the engine writes them on a
/// call span (`llm.cost.prompt_details.*`, `llm.cost.completion_details.*`, `cost.charges.*`),
/// plus `provided` for a cost the span carried itself (no breakdown). Exact; the kinds sum to the
/// cost. A fixed set: the `kind` label of the cost metrics ([`CostByKind::KINDS`]).
///
/// Held as the call's own [`CostBreakdown`] (moved in, not rebuilt; the charges beyond tokens
/// boxed, `None` for a call billed by tokens alone) plus the provided cost: 48 bytes less than
/// 12 `Usd` in every `by_model` row (BENCHMARKS.md, issue 15, h17-kindperf).
#[derive(Debug, Clone, Default)]
pub struct CostByKind {
    /// The priced parts. Its `beyond.unpriced` count is no kind (added up, never read).
    parts: CostBreakdown,
    /// A cost the span carried itself.
    provided: Usd,
}

impl CostByKind {
    /// The kinds, in this order: the token parts (input side, then output side), the charges
    /// beyond tokens, and a provided cost.
    pub const KINDS: [&'static str; 12] = [
        "input",
        "cache_read",
        "cache_write",
        "audio_input",
        "output",
        "reasoning",
        "audio_output",
        "media_input",
        "media_output",
        "tool_calls",
        "per_unit",
        "provided",
    ];

    /// A priced call's cost, by kind.
    pub fn of(c: &CostBreakdown) -> CostByKind {
        CostByKind::from(c.clone())
    }

    /// A cost the span carried itself.
    pub fn provided(total: Usd) -> CostByKind {
        CostByKind {
            parts: CostBreakdown::default(),
            provided: total,
        }
    }

    /// Adds another cost.
    pub fn add(&mut self, o: &CostByKind) {
        self.add_parts(&o.parts);
        self.provided += o.provided;
    }

    /// Adds a priced call's cost (its breakdown, read where it is: no copy made first).
    #[inline]
    fn add_parts(&mut self, c: &CostBreakdown) {
        self.parts += c;
    }

    /// Every kind with its cost (zeros included), in [`CostByKind::KINDS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Usd)> + '_ {
        CostByKind::KINDS.into_iter().zip(self.by_kind())
    }

    /// The costs in [`CostByKind::KINDS`] order.
    fn by_kind(&self) -> [Usd; CostByKind::KINDS.len()] {
        let c = &self.parts;
        let [input, cache_read, cache_write, audio_input, output, reasoning, audio_output] =
            c.token_parts();
        let (media_input, media_output, tool_calls, per_unit) =
            c.beyond.as_deref().map_or(Default::default(), |b| {
                (b.media_input, b.media_output, b.tool_calls, b.per_unit)
            });
        [
            input,
            cache_read,
            cache_write,
            audio_input,
            output,
            reasoning,
            audio_output,
            media_input,
            media_output,
            tool_calls,
            per_unit,
            self.provided,
        ]
    }
}

impl From<CostBreakdown> for CostByKind {
    /// A priced call's cost, by kind, taking its breakdown (no copy of the charges beyond tokens).
    fn from(parts: CostBreakdown) -> CostByKind {
        CostByKind {
            parts,
            provided: Usd::ZERO,
        }
    }
}

/// Equal when every kind is (however the parts are held: no box and a box of zeros alike).
impl PartialEq for CostByKind {
    fn eq(&self, o: &CostByKind) -> bool {
        self.by_kind() == o.by_kind()
    }
}

impl Eq for CostByKind {}

/// Token counts by type (input includes cache, output includes reasoning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// All input tokens.
    pub input: u64,
    /// All output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes (5m + 1h).
    pub cache_write: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

impl TokenCounts {
    fn of(u: &Usage) -> TokenCounts {
        TokenCounts {
            input: u.input_total,
            output: u.output_total,
            cache_read: u.cache_read,
            cache_write: u.cache_write_5m.saturating_add(u.cache_write_1h),
            reasoning: u.reasoning,
        }
    }

    /// Adds another count.
    pub fn add(&mut self, o: &TokenCounts) {
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
    }
}

/// Cost totals of a subtree (a span plus all its descendants). Exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Total cost.
    pub cost: Usd,
    /// Input-side cost.
    pub input_cost: Usd,
    /// Output-side cost.
    pub output_cost: Usd,
    /// LLM calls counted (priced, provided and unpriced).
    pub calls: u32,
    /// Calls that could not be priced (unknown model, invalid usage).
    pub unpriced: u32,
    /// Of those, unknown models.
    pub unknown_model: u32,
    /// Of those, unusable token counts.
    pub invalid_usage: u32,
    /// Input tokens of counted calls.
    pub input_tokens: u64,
    /// Output tokens of counted calls.
    pub output_tokens: u64,
    /// Spend by model, unsorted.
    pub by_model: Vec<ModelShare>,
    /// Some part of the subtree may be missing (late children, eviction, orphans).
    pub incomplete: bool,
    /// The subtree's one counted call, when it holds exactly one and that one was priced from
    /// the catalog: what a duplicate span above it adds to (DESIGN §3, `engine::duplicate`).
    /// Boxed (one pointer in every `Totals`) and made only when a subtree's call joins a
    /// parent that holds no call yet ([`Subtree::add_to`]): a call span whose parent already
    /// holds calls, or that is a root, copies and allocates nothing for it (benches/processor.rs
    /// `on_end/llm`, benches/gateway.rs `enrich_one_llm_span`; BENCHMARKS.md, issue 15).
    pub(crate) below: Option<Box<Below>>,
}

/// The one priced call of a subtree, as a duplicate span above it re-prices it: when it started
/// (the price in force), its usage and its request context, merged with those of the duplicates
/// between it and here. Its model is the subtree's one `by_model` row with a call, and what was
/// charged for it so far the subtree's cost (`Subtree::one_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Below {
    /// The call's start, Unix seconds.
    pub(super) at: i64,
    pub(super) usage: Usage,
    pub(super) context: PriceContext,
}

impl Below {
    /// The call `c` as a duplicate above it re-prices it, when it was priced from the catalog.
    fn of(c: &Call<'_>) -> Option<Box<Below>> {
        match (&c.provenance, &c.usage, &c.provided) {
            (Some(p), Some(usage), None) => Some(Box::new(Below {
                at: p.at,
                usage: usage.clone(),
                context: p.context.clone(),
            })),
            _ => None,
        }
    }
}

impl Totals {
    /// Adds a subtree's totals.
    pub fn add(&mut self, o: &Totals) {
        if o.calls > 0 {
            self.below = if self.calls == 0 {
                o.below.clone()
            } else {
                None
            };
        }
        self.add_counts(o);
    }

    /// [`Totals::add`] but for `below`.
    // Always inline: `Subtree::add_into` (a child's subtree into its parent's ledger entry,
    // once per call span) runs it without the call's cost of saving and restoring registers.
    #[inline(always)]
    fn add_counts(&mut self, o: &Totals) {
        self.cost += o.cost;
        self.input_cost += o.input_cost;
        self.output_cost += o.output_cost;
        self.calls = self.calls.saturating_add(o.calls);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.unknown_model = self.unknown_model.saturating_add(o.unknown_model);
        self.invalid_usage = self.invalid_usage.saturating_add(o.invalid_usage);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.incomplete |= o.incomplete;
        for m in &o.by_model {
            self.add_model(m);
        }
    }

    fn add_model(&mut self, m: &ModelShare) {
        match self
            .by_model
            .iter_mut()
            .find(|x| x.model == m.model && x.provider == m.provider && x.service == m.service)
        {
            Some(x) => x.merge(m),
            None => self.by_model.push(m.clone()),
        }
    }

    /// Adds the share of a call in its model's spend, read from the call, merging with an entry
    /// of the same model, provider and service. `cost`: the call's cost, as
    /// [`Subtree::add_call`] summed it (not summed again). Priced from the catalog (`b`: its
    /// cost breakdown): the breakdown is added to a row of its model as it is, and copied only
    /// into a new row; else a cost the span carried itself (kind `provided`).
    #[inline]
    fn add_call_share(&mut self, c: &Call<'_>, cost: Usd, b: Option<&CostBreakdown>) {
        let tokens = c.usage.as_ref().map(TokenCounts::of).unwrap_or_default();
        match self.row(&c.label, &c.provider, &c.service) {
            Some(x) => {
                x.count_call(cost, &tokens);
                match b {
                    Some(b) => x.kinds.add_parts(b),
                    None => x.kinds.provided += cost,
                }
            }
            None => self.push_row(ModelShare {
                model: Arc::clone(c.label.as_arc()),
                provider: Arc::clone(c.provider.as_arc()),
                service: c.service.clone(),
                calls: 1,
                cost,
                tokens,
                kinds: b.map_or(CostByKind::provided(cost), CostByKind::of),
            }),
        }
    }

    /// The `by_model` row of a model, provider and service, when there is one. The last row
    /// is looked at first: the one a trace of one model has, and the one a call of the model
    /// just seen adds to.
    #[inline]
    fn row(
        &mut self,
        model: &Text<'_>,
        provider: &Text<'_>,
        service: &Option<Arc<str>>,
    ) -> Option<&mut ModelShare> {
        let is = |x: &ModelShare| {
            model.same(&x.model) && provider.same(&x.provider) && x.service == *service
        };
        let (last, rest) = self.by_model.split_last_mut()?;
        if is(last) {
            return Some(last);
        }
        rest.iter_mut().find(|x| is(x))
    }

    /// A new `by_model` row.
    #[inline]
    fn push_row(&mut self, m: ModelShare) {
        // Most traces use one model: room for one row (a `Vec`'s first growth makes room for
        // 4, which with the per-kind costs is past the allocator's fast size classes: +227
        // instructions on `enrich_one_llm_span`; BENCHMARKS.md, issue 15, h17-report).
        if self.by_model.capacity() == 0 {
            self.by_model.reserve_exact(1);
        }
        self.by_model.push(m)
    }

    /// `by_model` sorted by spend (then calls, then name), with each model's share of the spend
    /// in percent, one decimal, summing to exactly 100 by largest remainder; all 0 when nothing
    /// was spent (`money::percent_tenths`).
    pub fn by_model_sorted(&self) -> Vec<(ModelShare, f64)> {
        // One row per model: the same model from several services or providers is merged.
        let mut v: Vec<ModelShare> = Vec::with_capacity(self.by_model.len());
        for m in &self.by_model {
            match v.iter_mut().find(|x| x.model == m.model) {
                Some(x) => x.merge(m),
                None => v.push(m.clone()),
            }
        }
        // By spend, then calls, then name: the order of the report's by-model table, so that
        // the remainders' ties go to the same model in both.
        v.sort_by(|a, b| {
            b.cost
                .cmp(&a.cost)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.model.cmp(&b.model))
        });
        let costs: Vec<Usd> = v.iter().map(|m| m.cost).collect();
        let tenths = percent_tenths(&costs);
        v.into_iter()
            .zip(tenths)
            .map(|(m, t)| (m, f64::from(t) / 10.0))
            .collect()
    }
}

impl ModelShare {
    /// Adds another row's calls, cost, tokens and cost by kind.
    fn merge(&mut self, m: &ModelShare) {
        self.calls = self.calls.saturating_add(m.calls);
        self.cost += m.cost;
        self.tokens.add(&m.tokens);
        self.kinds.add(&m.kinds);
    }

    /// Counts one more call of `cost` and `tokens` (its cost by kind is added apart).
    #[inline]
    fn count_call(&mut self, cost: Usd, tokens: &TokenCounts) {
        self.calls = self.calls.saturating_add(1);
        self.cost += cost;
        self.tokens.add(tokens);
    }
}

/// A subtree's totals as [`Engine::finish`](super::Engine::finish) returns them: the span's own
/// call is counted in `totals` but its `by_model` share is held aside, so that a leaf call merged
/// into its parent's ledger entry allocates no `by_model` list of its own. Likewise the call
/// itself: borrowed, and made into the `Totals::below` a duplicate above may need only when it
/// joins a parent that holds no call yet. The share is read from the borrowed call when it joins
/// a `by_model` list ([`Subtree::join`]): nothing of it (a cost breakdown, a provided cost's
/// row) is copied into the subtree and moved with it (benches/processor.rs `on_end/llm`;
/// BENCHMARKS.md, issue 15, token-only regression, round 2).
#[derive(Debug, Default)]
pub(crate) struct Subtree<'e> {
    totals: Totals,
    /// The span's own call, when it is the one counted here and its share is held aside, with
    /// its cost (priced, else provided; zero when unpriced) as [`Subtree::add_call`] summed it.
    call: Option<(&'e Call<'e>, Usd)>,
}

impl<'e> Subtree<'e> {
    pub(crate) fn of(totals: Totals) -> Subtree<'e> {
        Subtree { totals, call: None }
    }

    /// LLM calls counted in the subtree.
    pub(crate) fn calls(&self) -> u32 {
        self.totals.calls
    }

    /// The totals, the held-aside share of the span's own call not counted in `by_model`.
    pub(super) fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Adds this subtree to `t` (same result as `t.add(&self.into_totals())`).
    // Inline: the subtree is not copied to be handed over by value ([`Subtree::add_into`]).
    #[inline]
    pub(crate) fn add_to(mut self, t: &mut Totals) {
        self.add_into(t);
    }

    /// [`Subtree::add_to`], the subtree read in place: what it leaves is to be dropped unread
    /// (the processor's ledger adds a subtree it holds, not copied to be handed over).
    pub(crate) fn add_into(&mut self, t: &mut Totals) {
        if self.totals.calls > 0 {
            // One call in all: this subtree's (moved, not cloned); more: none.
            if t.calls == 0 {
                t.below = self.below();
            } else if t.below.is_some() {
                t.below = None;
            }
        }
        t.add_counts(&self.totals);
        Subtree::join(self.call.take(), t);
    }

    /// Adds the share held aside to `t`'s `by_model`: that of the span's own call, priced from
    /// the catalog or with a provided cost, read from the call (an unpriced call has none).
    #[inline]
    fn join(call: Option<(&Call<'_>, Usd)>, t: &mut Totals) {
        if let Some((c, cost)) = call {
            match (&c.cost, &c.provided) {
                (Some(b), _) => t.add_call_share(c, cost, Some(b)),
                (None, Some(_)) => t.add_call_share(c, cost, None),
                (None, None) => {}
            }
        }
    }

    /// Adds the share held aside to the totals: the subtree's own call (if any) is then only
    /// counted, no longer its own (its `below`, if any, is the totals'). A root's subtree is
    /// so made complete but for `below` (as [`Subtree::into_root_totals`]), in place.
    pub(super) fn flush_share(&mut self) {
        Subtree::join(self.call.take(), &mut self.totals);
    }

    /// The complete totals (a new ledger entry's, processor; a root's are
    /// [`Subtree::into_root_totals`]).
    #[cfg(any(feature = "processor", test))]
    pub(crate) fn into_totals(mut self) -> Totals {
        self.totals.below = self.below();
        self.into_root_totals()
    }

    /// The complete totals but for `below`, which no span above a root reads.
    pub(super) fn into_root_totals(self) -> Totals {
        let mut t = self.totals;
        Subtree::join(self.call, &mut t);
        t
    }

    /// The subtree's one priced call, for a parent: its children's, or the span's own made now.
    fn below(&mut self) -> Option<Box<Below>> {
        match self.call {
            Some((c, _)) => Below::of(c),
            None => self.totals.below.take(),
        }
    }

    /// The subtree's one priced call, when it holds exactly one: the call, its catalog id, and
    /// what was charged for it so far (its cost and what duplicates added).
    pub(super) fn one_call(&self) -> Option<(&Below, &Arc<str>, Usd)> {
        let t = &self.totals;
        let below = t.below.as_deref().filter(|_| t.calls == 1)?;
        let model = match self.call {
            Some((c, _)) if c.cost.is_some() || c.provided.is_some() => c.label.as_arc(),
            _ => &t.by_model.iter().find(|m| m.calls == 1)?.model,
        };
        Some((below, model, t.cost))
    }

    /// Replaces the subtree's one call by `below` (the same call, merged with a duplicate).
    pub(super) fn set_below(&mut self, below: Below) {
        self.totals.below = Some(Box::new(below));
    }

    /// Counts what a duplicate span adds to the one call below it (`engine::duplicate`): not a
    /// call of its own, a charge on that call's model. `below`: that call as merged with the
    /// duplicate, for a span further up.
    pub(super) fn add_charge(
        &mut self,
        cost: &CostBreakdown,
        model: &Arc<str>,
        provider: &Arc<str>,
        below: Below,
    ) {
        self.flush_share();
        let t = &mut self.totals;
        let (input, output, total) = cost.sides();
        t.cost += total;
        t.input_cost += input;
        t.output_cost += output;
        let kinds = CostByKind::of(cost);
        match t.by_model.iter_mut().find(|m| m.model == *model) {
            Some(m) => {
                m.cost += total;
                m.kinds.add(&kinds);
            }
            None => t.by_model.push(ModelShare {
                model: Arc::clone(model),
                provider: Arc::clone(provider),
                service: None,
                calls: 0,
                cost: total,
                tokens: TokenCounts::default(),
                kinds,
            }),
        }
        t.below = Some(Box::new(below));
    }

    /// Counts the span's own call; its share of its model's spend is held aside (read from the
    /// call when it joins a `by_model` list). Returns the call's cost as summed here, for the
    /// writer (not summed again): input side, output side, total; `None` when unpriced.
    #[inline]
    pub(super) fn add_call(&mut self, c: &'e Call<'e>) -> Option<(Usd, Usd, Usd)> {
        if self.call.is_some() {
            self.flush_share();
        }
        let t = &mut self.totals;
        t.calls = t.calls.saturating_add(1);
        if let Some(u) = &c.usage {
            t.input_tokens = t.input_tokens.saturating_add(u.input_total);
            t.output_tokens = t.output_tokens.saturating_add(u.output_total);
        }
        let sides = match &c.cost {
            // Each side summed once (not again for the total).
            Some(b) => Some(b.sides()),
            None => c.total().map(|total| {
                let (i, o) = c.input_output();
                (i, o, total)
            }),
        };
        let total = match sides {
            Some((i, o, total)) => {
                t.cost += total;
                t.input_cost += i;
                t.output_cost += o;
                total
            }
            None => {
                t.unpriced = t.unpriced.saturating_add(1);
                match c.status {
                    PricingStatus::UnknownModel => {
                        t.unknown_model = t.unknown_model.saturating_add(1)
                    }
                    _ => t.invalid_usage = t.invalid_usage.saturating_add(1),
                }
                Usd::ZERO
            }
        };
        self.call = Some((c, total));
        sides
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn a_subtree_adds_up_like_the_totals_it_stands_for() {
        let id: Arc<str> = "gpt-4o".into();
        let prov: Arc<str> = "openai".into();
        // A call with a provided cost (its share held aside, read from the call).
        let call = |cost: u128| Call {
            status: PricingStatus::Provided,
            label: Text::Catalog(&id),
            provider: Text::Catalog(&prov),
            service: None,
            cost: None,
            provided: Some(super::super::usage::ProvidedCost {
                total: Usd::from_femto(cost),
                prompt: None,
                completion: None,
            }),
            usage: Some(Usage {
                input_total: 10,
                ..Usage::default()
            }),
            provenance: None,
            reason: None,
        };
        let (c5, c7) = (call(5), call(7));
        let sub = |cost: u128| {
            let mut s = Subtree::default();
            s.add_call(if cost == 5 { &c5 } else { &c7 });
            s
        };
        let mut via_add = Totals::default();
        sub(5).add_to(&mut via_add);
        sub(7).add_to(&mut via_add);
        let mut via_totals = Totals::default();
        via_totals.add(&sub(5).into_totals());
        via_totals.add(&sub(7).into_totals());
        assert_eq!(via_add, via_totals);
        assert_eq!(via_add.by_model.len(), 1, "same model merged");
        assert_eq!(via_add.by_model[0].calls, 2);
        assert_eq!(via_add.by_model[0].cost, Usd::from_femto(12));
        assert_eq!(via_add.by_model[0].tokens.input, 20);
        assert_eq!(
            via_add.by_model[0].kinds,
            CostByKind::provided(Usd::from_femto(12))
        );
    }

    /// A call priced from the catalog has its share read from the borrowed call, not held in a
    /// `Share`: through `add_to` (a new row, then merged into it) it adds up as through
    /// `into_totals`, a root's share joins its totals in place as `into_root_totals` gives, and
    /// the row is what the call's own breakdown makes.
    #[test]
    fn a_priced_calls_share_is_read_from_the_call() {
        let id: Arc<str> = "gpt-4o".into();
        let prov: Arc<str> = "openai".into();
        let f = Usd::from_femto;
        let cost = CostBreakdown {
            input: f(3),
            cache_read: f(1),
            output: f(4),
            ..CostBreakdown::default()
        };
        let call = Call {
            status: PricingStatus::Priced,
            label: Text::Catalog(&id),
            provider: Text::Catalog(&prov),
            service: None,
            cost: Some(cost.clone()),
            provided: None,
            usage: Some(Usage {
                input_total: 10,
                output_total: 5,
                cache_read: 2,
                ..Usage::default()
            }),
            provenance: None,
            reason: None,
        };
        let sub = || {
            let mut s = Subtree::default();
            s.add_call(&call);
            s
        };
        assert_eq!(sub().totals().cost, f(8));
        assert!(sub().totals().by_model.is_empty(), "held aside");
        let mut via_add = Totals::default();
        sub().add_to(&mut via_add);
        sub().add_to(&mut via_add);
        let mut via_totals = Totals::default();
        via_totals.add(&sub().into_totals());
        via_totals.add(&sub().into_totals());
        assert_eq!(via_add, via_totals);
        let mut twice = cost.clone();
        twice += &cost;
        let row = ModelShare {
            model: Arc::clone(&id),
            provider: Arc::clone(&prov),
            service: None,
            calls: 2,
            cost: f(16),
            tokens: TokenCounts {
                input: 20,
                output: 10,
                cache_read: 4,
                ..TokenCounts::default()
            },
            kinds: CostByKind::of(&twice),
        };
        assert_eq!(via_add.by_model, [row]);
        assert_eq!(
            (via_add.calls, via_add.cost, via_add.input_cost),
            (2, f(16), f(8))
        );
        let mut root = sub();
        root.flush_share();
        assert_eq!(root.totals(), &sub().into_root_totals());
        assert_eq!(root.totals().by_model.len(), 1);
    }

    /// The kinds are the parts the engine writes on a call span, and sum to its total.
    #[test]
    fn cost_by_kind_follows_the_breakdown_and_sums_to_the_total() {
        let f = Usd::from_femto;
        let mut c = CostBreakdown {
            input: f(1),
            cache_read: f(2),
            cache_write: f(4),
            audio_input: f(8),
            output: f(16),
            reasoning: f(32),
            audio_output: f(64),
            beyond: None,
        };
        let k = CostByKind::of(&c);
        assert_eq!(k.iter().map(|(_, v)| v).sum::<Usd>(), c.total());
        assert_eq!(k.iter().nth(5), Some(("reasoning", f(32))));
        c.beyond = Some(Box::new(crate::pricing::Beyond {
            media_input: f(128),
            media_output: f(256),
            tool_calls: f(512),
            per_unit: f(1024),
            unpriced: 3,
        }));
        let k = CostByKind::of(&c);
        assert_eq!(k.iter().map(|(_, v)| v).sum::<Usd>(), c.total());
        let named: Vec<(&str, u128)> = k
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .map(|(n, v)| (n, v.femto()))
            .collect();
        assert_eq!(
            named[7..],
            [
                ("media_input", 128),
                ("media_output", 256),
                ("tool_calls", 512),
                ("per_unit", 1024)
            ]
        );
        let mut sum = k;
        sum.add(&CostByKind::provided(f(2048)));
        assert_eq!(sum.iter().last(), Some(("provided", f(2048))));
        assert_eq!(sum.iter().map(|(_, v)| v).sum::<Usd>(), c.total() + f(2048));
    }

    /// Kinds compare by their costs, however the parts are held: a call that only names units
    /// it has no price for (a box of zero charges) costs no more by kind than one without.
    #[test]
    fn cost_by_kind_equality_is_by_the_kinds() {
        let mut c = CostBreakdown {
            beyond: Some(Box::new(crate::pricing::Beyond {
                unpriced: 1,
                ..Default::default()
            })),
            ..CostBreakdown::default()
        };
        assert_eq!(CostByKind::of(&c), CostByKind::default());
        c.beyond = Some(Box::new(crate::pricing::Beyond {
            per_unit: Usd::from_femto(1),
            ..Default::default()
        }));
        assert_ne!(CostByKind::of(&c), CostByKind::default());
        assert_ne!(CostByKind::provided(Usd::from_femto(1)), CostByKind::of(&c));
    }

    /// One model's row of the roll-up (an OpenAI model, no tokens): the write tests' too.
    pub(in crate::engine) fn share(model: &str, calls: u32, femto: u128) -> ModelShare {
        ModelShare {
            model: model.into(),
            provider: "openai".into(),
            service: None,
            calls,
            cost: Usd::from_femto(femto),
            tokens: TokenCounts::default(),
            kinds: CostByKind::provided(Usd::from_femto(femto)),
        }
    }

    fn totals(rows: &[(&str, u32, u128)]) -> Totals {
        Totals {
            by_model: rows
                .iter()
                .map(|&(model, calls, femto)| share(model, calls, femto))
                .collect(),
            ..Totals::default()
        }
    }

    fn sorted(t: &Totals) -> Vec<(String, u32, f64)> {
        t.by_model_sorted()
            .into_iter()
            .map(|(m, pct)| (m.model.to_string(), m.calls, pct))
            .collect()
    }

    /// `cost.by_model` percentages are the report's ([`percent_tenths`]), in the report's order;
    /// each case is one where the engine's own copy gave something else.
    #[test]
    fn by_model_percentages_follow_the_one_routine() {
        // Nothing spent: all 0 (the engine split by calls: 66.7 / 33.3).
        assert_eq!(
            sorted(&totals(&[("a", 2, 0), ("b", 1, 0)])),
            [("a".into(), 2, 0.0), ("b".into(), 1, 0.0)]
        );
        // Costs past u128::MAX / 1000 femto-dollars: scaled (the engine's `w * 1000` overflowed).
        let half = u128::MAX / 2;
        assert_eq!(
            sorted(&totals(&[("a", 1, half), ("b", 1, half)])),
            [("a".into(), 1, 50.0), ("b".into(), 1, 50.0)]
        );
        // Equal spend: more calls first, and the tie's extra tenth with it (the engine sorted
        // by name alone: "a" first with 33.4).
        assert_eq!(
            sorted(&totals(&[("a", 1, 10), ("b", 2, 10), ("c", 1, 10)])),
            [
                ("b".into(), 2, 33.4),
                ("a".into(), 1, 33.3),
                ("c".into(), 1, 33.3)
            ]
        );
    }

    #[test]
    fn one_model_with_nothing_spent_gets_0_in_the_json_too() {
        let t = totals(&[("free", 3, 0)]);
        assert_eq!(sorted(&t), [("free".into(), 3, 0.0)]);
        assert!(
            t.by_model_json().ends_with("\"pct\":0.0}]"),
            "{}",
            t.by_model_json()
        );
    }
}
