//! The one internal usage shape every convention is normalised into.

/// Token usage of one LLM call, normalised (DESIGN §3): input includes cache, output includes
/// reasoning, whatever the emitter's convention was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// All input tokens, cache reads and writes and audio included.
    pub input_total: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the cache with the default (5 minute) TTL.
    pub cache_write_5m: u64,
    /// Input tokens written to the cache with a 1 hour TTL.
    pub cache_write_1h: u64,
    /// All output tokens, reasoning and audio included.
    pub output_total: u64,
    /// Reasoning ("thinking") output tokens.
    pub reasoning: u64,
    /// Audio input tokens.
    pub audio_in: u64,
    /// Audio output tokens.
    pub audio_out: u64,
}

use std::collections::HashMap;

use crate::money::Usd;
use crate::semconv as k;
use crate::span_view::{AttrValue, SpanView};

/// Whether an emitter's input count includes cache tokens (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputCounting {
    /// Input tokens include cache reads and writes (OpenAI, the OTel GenAI convention).
    Inclusive,
    /// Input tokens exclude cache tokens (Anthropic's raw API, some Bedrock instrumentations).
    Exclusive,
}

/// Per-scope and per-provider switches that force [`InputCounting`] instead of the heuristics.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Instrumentation scope name -> counting.
    pub by_scope: HashMap<String, InputCounting>,
    /// Canonical provider -> counting.
    pub by_provider: HashMap<String, InputCounting>,
}

/// What a span says about token usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UsageState {
    /// No token attribute at all: not an LLM call.
    None,
    /// Usage normalised.
    Valid(Usage),
    /// A token attribute with an unusable value; the reason names it.
    Invalid(String),
}

/// Cost an emitter already put on the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProvidedCost {
    pub total: Usd,
    pub prompt: Option<Usd>,
    pub completion: Option<Usd>,
}

/// Everything read from one span in one pass over its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extracted {
    pub usage: UsageState,
    /// `gen_ai.operation.name` / `openinference.span.kind` mark an agent, workflow or chain.
    pub aggregate: bool,
    pub provided: Option<ProvidedCost>,
    /// Index into `semconv::MODEL_KEYS` of the best model attribute present.
    pub model_key: Option<usize>,
    /// Index into `semconv::PROVIDER_KEYS` of the best provider attribute present.
    pub provider_key: Option<usize>,
    /// Index into `semconv::SERVICE_TIER_KEYS` of the best service-tier attribute present.
    pub tier_key: Option<usize>,
    /// The span already has attributes we write (`llm.cost.*` or our prefix): replace, do not
    /// append.
    pub has_written_keys: bool,
}

/// A token count as read: absent, a count, or an unusable value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Count {
    #[default]
    Absent,
    Ok(u64),
    Bad,
}

impl Count {
    fn parse(v: AttrValue<'_>) -> Count {
        match v {
            AttrValue::I64(i) => u64::try_from(i).map_or(Count::Bad, Count::Ok),
            AttrValue::F64(f) => {
                if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 {
                    Count::Ok(f as u64)
                } else {
                    Count::Bad
                }
            }
            AttrValue::Str(s) => {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    s.parse().map_or(Count::Bad, Count::Ok)
                } else {
                    Count::Bad
                }
            }
            AttrValue::Bool(_) | AttrValue::Other => Count::Bad,
        }
    }
    fn present(self) -> bool {
        self != Count::Absent
    }
    fn or(self, other: Count) -> Count {
        if self.present() {
            self
        } else {
            other
        }
    }
}

/// Raw token fields by convention. Indexes into `Raw::c`.
#[derive(Clone, Copy)]
#[repr(usize)]
enum F {
    OiPrompt,
    OiCompletion,
    OiTotal,
    OiCacheRead,
    OiCacheWrite,
    OiAudioIn,
    OiReasoning,
    OiAudioOut,
    GInput,
    GOutput,
    GCacheRead,
    GCacheWrite,
    GCacheCreation,
    GReasoning,
    GAudioIn,
    GAudioOut,
    LPrompt,
    LCompletion,
    LTotal,
    LLlmTotal,
    LCacheRead,
    LCacheCreation,
    LReasoning,
    Cw5m,
    Cw1h,
    N,
}

const TOKEN_KEYS: [(&str, F); 25] = [
    (k::LLM_TOKEN_COUNT_PROMPT, F::OiPrompt),
    (k::LLM_TOKEN_COUNT_COMPLETION, F::OiCompletion),
    (k::LLM_TOKEN_COUNT_TOTAL, F::OiTotal),
    (k::LLM_TOKEN_COUNT_CACHE_READ, F::OiCacheRead),
    (k::LLM_TOKEN_COUNT_CACHE_WRITE, F::OiCacheWrite),
    (k::LLM_TOKEN_COUNT_PROMPT_AUDIO, F::OiAudioIn),
    (k::LLM_TOKEN_COUNT_REASONING, F::OiReasoning),
    (k::LLM_TOKEN_COUNT_COMPLETION_AUDIO, F::OiAudioOut),
    (k::GEN_AI_USAGE_INPUT_TOKENS, F::GInput),
    (k::GEN_AI_USAGE_OUTPUT_TOKENS, F::GOutput),
    (k::GEN_AI_USAGE_CACHE_READ, F::GCacheRead),
    (k::GEN_AI_USAGE_CACHE_WRITE, F::GCacheWrite),
    (k::GEN_AI_USAGE_CACHE_CREATION, F::GCacheCreation),
    (k::GEN_AI_USAGE_REASONING, F::GReasoning),
    (k::GEN_AI_USAGE_AUDIO_INPUT, F::GAudioIn),
    (k::GEN_AI_USAGE_AUDIO_OUTPUT, F::GAudioOut),
    (k::GEN_AI_USAGE_PROMPT_TOKENS, F::LPrompt),
    (k::GEN_AI_USAGE_COMPLETION_TOKENS, F::LCompletion),
    (k::GEN_AI_USAGE_TOTAL_TOKENS, F::LTotal),
    (k::LLM_USAGE_TOTAL_TOKENS, F::LLlmTotal),
    (k::GEN_AI_USAGE_CACHE_READ_LEGACY, F::LCacheRead),
    (k::GEN_AI_USAGE_CACHE_CREATION_LEGACY, F::LCacheCreation),
    (k::GEN_AI_USAGE_REASONING_LEGACY, F::LReasoning),
    (k::ANTHROPIC_CACHE_WRITE_5M, F::Cw5m),
    (k::ANTHROPIC_CACHE_WRITE_1H, F::Cw1h),
];

#[derive(Default)]
struct Raw<'p> {
    prefix: &'p str,
    model_key: Option<usize>,
    provider_key: Option<usize>,
    tier_key: Option<usize>,
    has_written_keys: bool,
    c: [Count; F::N as usize],
    bad_key: Option<&'static str>,
    aggregate: bool,
    cost_total: Option<Usd>,
    cost_prompt: Option<Usd>,
    cost_completion: Option<Usd>,
}

fn usd(v: AttrValue<'_>) -> Option<Usd> {
    match v {
        AttrValue::F64(f) if f.is_finite() && f >= 0.0 => Usd::parse(&f.to_string()).ok(),
        AttrValue::I64(i) if i >= 0 => Some(Usd::from_femto(i as u128 * 1_000_000_000_000_000)),
        AttrValue::Str(s) => Usd::parse(s).ok(),
        _ => None,
    }
}

/// Keeps the best (lowest) precedence index of a non-empty string attribute.
fn rank(slot: &mut Option<usize>, keys: &[&str], key: &str, v: AttrValue<'_>) -> bool {
    match keys.iter().position(|k| *k == key) {
        Some(i) => {
            if matches!(v, AttrValue::Str(s) if !s.trim().is_empty()) {
                *slot = Some(slot.map_or(i, |j| j.min(i)));
            }
            true
        }
        None => false,
    }
}

impl Raw<'_> {
    fn get(&self, f: F) -> Count {
        self.c[f as usize]
    }

    fn visit(&mut self, key: &str, v: AttrValue<'_>) {
        if key.starts_with(self.prefix) {
            self.has_written_keys = true;
        }
        // Cheap rejection: every key we read starts with one of these.
        let b = key.as_bytes();
        if b.len() < 8 || !matches!(b[0], b'l' | b'g' | b'a' | b'o') {
            return;
        }
        if key.starts_with("llm.cost.") {
            self.has_written_keys = true;
        }
        if let Some((name, f)) = TOKEN_KEYS.iter().find(|(name, _)| *name == key) {
            let c = Count::parse(v);
            if c == Count::Bad {
                self.bad_key = Some(name);
            }
            self.c[*f as usize] = c;
            return;
        }
        if rank(&mut self.model_key, &k::MODEL_KEYS, key, v)
            || rank(&mut self.provider_key, &k::PROVIDER_KEYS, key, v)
            || rank(&mut self.tier_key, &k::SERVICE_TIER_KEYS, key, v)
        {
            return;
        }
        match key {
            k::GEN_AI_OPERATION_NAME => {
                if let AttrValue::Str(s) = v {
                    self.aggregate |= k::AGGREGATE_OPERATIONS.contains(&s);
                }
            }
            k::OPENINFERENCE_SPAN_KIND => {
                if let AttrValue::Str(s) = v {
                    self.aggregate |= k::AGGREGATE_KINDS.contains(&s);
                }
            }
            k::LLM_COST_TOTAL | k::GEN_AI_USAGE_COST => self.cost_total = usd(v),
            k::LLM_COST_PROMPT => self.cost_prompt = usd(v),
            k::LLM_COST_COMPLETION => self.cost_completion = usd(v),
            _ => {}
        }
    }
}

/// Reads usage, kind and provided cost from a span (DESIGN §3). `prefix`: the prefix of the
/// attributes we write (to know whether the span already has some).
pub(crate) fn extract<V: SpanView + ?Sized>(
    span: &V,
    opts: &ExtractOptions,
    prefix: &str,
    provider: impl FnOnce(Option<usize>) -> Option<String>,
) -> Extracted {
    let mut raw = Raw {
        prefix,
        ..Raw::default()
    };
    span.for_each_attr(&mut |key, v| raw.visit(key, v));
    let provided = raw.cost_total.map(|total| ProvidedCost {
        total,
        prompt: raw.cost_prompt,
        completion: raw.cost_completion,
    });
    let any = raw.c.iter().any(|c| c.present());
    let usage = if !any {
        UsageState::None
    } else if let Some(key) = raw.bad_key {
        UsageState::Invalid(format!("'{key}' is not a non-negative integer"))
    } else {
        let forced = opts.by_scope.get(span.scope_name()).copied().or_else(|| {
            if opts.by_provider.is_empty() {
                return None;
            }
            provider(raw.provider_key).and_then(|p| opts.by_provider.get(&p).copied())
        });
        normalise(&raw, span.scope_name(), forced)
    };
    Extracted {
        usage,
        aggregate: raw.aggregate,
        provided,
        model_key: raw.model_key,
        provider_key: raw.provider_key,
        tier_key: raw.tier_key,
        has_written_keys: raw.has_written_keys,
    }
}

fn normalise(raw: &Raw, scope: &str, forced: Option<InputCounting>) -> UsageState {
    let oi = [
        F::OiPrompt,
        F::OiCompletion,
        F::OiTotal,
        F::OiCacheRead,
        F::OiCacheWrite,
        F::OiAudioIn,
        F::OiReasoning,
        F::OiAudioOut,
    ]
    .iter()
    .any(|f| raw.get(*f).present());
    // One convention per span: OpenInference if it has any count, else GenAI (new names first).
    let (input, output, total, cache_read, cache_write, reasoning, audio_in, audio_out) = if oi {
        (
            raw.get(F::OiPrompt),
            raw.get(F::OiCompletion),
            raw.get(F::OiTotal),
            raw.get(F::OiCacheRead),
            raw.get(F::OiCacheWrite),
            raw.get(F::OiReasoning),
            raw.get(F::OiAudioIn),
            raw.get(F::OiAudioOut),
        )
    } else {
        (
            raw.get(F::GInput).or(raw.get(F::LPrompt)),
            raw.get(F::GOutput).or(raw.get(F::LCompletion)),
            raw.get(F::LTotal).or(raw.get(F::LLlmTotal)),
            raw.get(F::GCacheRead).or(raw.get(F::LCacheRead)),
            raw.get(F::GCacheWrite)
                .or(raw.get(F::GCacheCreation))
                .or(raw.get(F::LCacheCreation)),
            raw.get(F::GReasoning).or(raw.get(F::LReasoning)),
            raw.get(F::GAudioIn),
            raw.get(F::GAudioOut),
        )
    };
    let n = |c: Count| if let Count::Ok(v) = c { v } else { 0 };
    if !input.present() && !output.present() {
        return UsageState::Invalid(
            "no input or output token count (only a total or details)".into(),
        );
    }
    let (i, o) = (n(input), n(output));
    // Cache writes, split by TTL when the Anthropic SDK says so.
    let (cw5, cw1) = match (raw.get(F::Cw5m), raw.get(F::Cw1h)) {
        (Count::Absent, Count::Absent) => (n(cache_write), 0),
        (a, b) => {
            let (mut five, one) = (n(a), n(b));
            let cw = n(cache_write);
            if cw > five + one {
                five += cw - (five + one);
            }
            (five, one)
        }
    };
    let cr = n(cache_read);
    let cache = cr.saturating_add(cw5).saturating_add(cw1);
    let t = if let Count::Ok(t) = total {
        Some(t)
    } else {
        None
    };
    let exclusive = match forced {
        Some(c) => c == InputCounting::Exclusive,
        None => {
            i < cache
                || (cache > 0 && t == Some(i.saturating_add(o).saturating_add(cache)))
                || k::EXCLUSIVE_INPUT_SCOPES.contains(&scope)
        }
    };
    let input_total = if exclusive {
        i.saturating_add(cache)
    } else {
        i
    };
    let r = n(reasoning);
    let reasoning_outside = r > 0
        && t.is_some_and(|t| {
            t == input_total.saturating_add(o).saturating_add(r)
                || t == i.saturating_add(o).saturating_add(r)
        });
    let output_total = if reasoning_outside {
        o.saturating_add(r)
    } else {
        o
    };
    UsageState::Valid(Usage {
        input_total,
        cache_read: cr,
        cache_write_5m: cw5,
        cache_write_1h: cw1,
        output_total,
        reasoning: r.min(output_total),
        audio_in: n(audio_in),
        audio_out: n(audio_out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span_view::OwnedValue;

    /// A span made of attributes, for table tests.
    pub(crate) struct TestSpan {
        pub scope: &'static str,
        pub attrs: Vec<(String, Val)>,
    }

    #[derive(Clone, Debug)]
    pub(crate) enum Val {
        S(&'static str),
        I(i64),
        D(f64),
        B(bool),
        Arr,
    }

    impl SpanView for TestSpan {
        fn trace_id(&self) -> [u8; 16] {
            [1; 16]
        }
        fn span_id(&self) -> [u8; 8] {
            [2; 8]
        }
        fn parent_span_id(&self) -> Option<[u8; 8]> {
            None
        }
        fn start_unix_nanos(&self) -> u64 {
            0
        }
        fn scope_name(&self) -> &str {
            self.scope
        }
        fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>)) {
            for (k, v) in &self.attrs {
                f(k, conv(v));
            }
        }
        fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
            self.attrs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| conv(v))
        }
        fn set_attr(&mut self, _key: &str, _value: OwnedValue) {}
    }

    fn conv(v: &Val) -> AttrValue<'_> {
        match v {
            Val::S(s) => AttrValue::Str(s),
            Val::I(i) => AttrValue::I64(*i),
            Val::D(d) => AttrValue::F64(*d),
            Val::B(b) => AttrValue::Bool(*b),
            Val::Arr => AttrValue::Other,
        }
    }

    fn span(scope: &'static str, attrs: &[(&str, Val)]) -> TestSpan {
        TestSpan {
            scope,
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    fn usage(scope: &'static str, attrs: &[(&str, Val)]) -> UsageState {
        extract(
            &span(scope, attrs),
            &ExtractOptions::default(),
            "cost.",
            |_| None,
        )
        .usage
    }

    fn u(
        input_total: u64,
        cache_read: u64,
        cw5: u64,
        cw1: u64,
        output_total: u64,
        reasoning: u64,
    ) -> UsageState {
        UsageState::Valid(Usage {
            input_total,
            cache_read,
            cache_write_5m: cw5,
            cache_write_1h: cw1,
            output_total,
            reasoning,
            ..Usage::default()
        })
    }

    use Val::*;

    #[test]
    fn openinference_openai_counts_are_inclusive() {
        // Real OpenInference span: prompt 1200 (cached 1000), completion 300 (reasoning 200), total 1500.
        let got = usage(
            "openinference.instrumentation.openai",
            &[
                (k::LLM_TOKEN_COUNT_PROMPT, I(1200)),
                (k::LLM_TOKEN_COUNT_COMPLETION, I(300)),
                (k::LLM_TOKEN_COUNT_TOTAL, I(1500)),
                (k::LLM_TOKEN_COUNT_CACHE_READ, I(1000)),
                (k::LLM_TOKEN_COUNT_REASONING, I(200)),
                (k::LLM_TOKEN_COUNT_PROMPT_AUDIO, I(0)),
            ],
        );
        assert_eq!(got, u(1200, 1000, 0, 0, 300, 200));
    }

    #[test]
    fn anthropic_sdk_ttl_split_replaces_the_cache_write_total() {
        let got = usage(
            "com.anthropic.sdk.python",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(2350)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(400)),
                (k::GEN_AI_USAGE_CACHE_READ, I(2000)),
                (k::GEN_AI_USAGE_CACHE_WRITE, I(300)),
                (k::ANTHROPIC_CACHE_WRITE_5M, I(200)),
                (k::ANTHROPIC_CACHE_WRITE_1H, I(100)),
            ],
        );
        assert_eq!(got, u(2350, 2000, 200, 100, 400, 0));
    }

    #[test]
    fn exclusive_input_detected_from_counts_total_and_scope() {
        // input < cache: Anthropic raw usage (input_tokens excludes cache).
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(50)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(400)),
                    (k::GEN_AI_USAGE_CACHE_READ, I(2000)),
                    (k::GEN_AI_USAGE_CACHE_CREATION, I(300))
                ]
            ),
            u(2350, 2000, 300, 0, 400, 0)
        );
        // total == input + output + cache with cache > 0.
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(3000)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                    (k::GEN_AI_USAGE_CACHE_READ, I(1000)),
                    (k::GEN_AI_USAGE_TOTAL_TOKENS, I(4010))
                ]
            ),
            u(4000, 1000, 0, 0, 10, 0)
        );
        // by scope.
        assert_eq!(
            usage(
                "openlit.instrumentation.anthropic",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(3000)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                    (k::GEN_AI_USAGE_CACHE_READ, I(1000))
                ]
            ),
            u(4000, 1000, 0, 0, 10, 0)
        );
        // default inclusive.
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(3000)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                    (k::GEN_AI_USAGE_CACHE_READ, I(1000))
                ]
            ),
            u(3000, 1000, 0, 0, 10, 0)
        );
    }

    #[test]
    fn forced_counting_overrides_heuristics() {
        let mut opts = ExtractOptions::default();
        opts.by_provider
            .insert("anthropic".into(), InputCounting::Exclusive);
        let s = span(
            "x",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(3000)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                (k::GEN_AI_USAGE_CACHE_READ, I(1000)),
            ],
        );
        let got = extract(&s, &opts, "cost.", |_| Some("anthropic".into())).usage;
        assert_eq!(got, u(4000, 1000, 0, 0, 10, 0));
        let mut opts = ExtractOptions::default();
        opts.by_scope.insert(
            "openlit.instrumentation.anthropic".into(),
            InputCounting::Inclusive,
        );
        let s = span(
            "openlit.instrumentation.anthropic",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(3000)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                (k::GEN_AI_USAGE_CACHE_READ, I(1000)),
            ],
        );
        assert_eq!(
            extract(&s, &opts, "cost.", |_| None).usage,
            u(3000, 1000, 0, 0, 10, 0)
        );
    }

    #[test]
    fn gemini_reasoning_outside_output_is_added() {
        // prompt 100, candidates 50, thoughts 30, total 180.
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(100)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(50)),
                    (k::GEN_AI_USAGE_REASONING, I(30)),
                    (k::GEN_AI_USAGE_TOTAL_TOKENS, I(180))
                ]
            ),
            u(100, 0, 0, 0, 80, 30)
        );
    }

    #[test]
    fn legacy_openllmetry_names_and_value_types() {
        // tracing-opentelemetry turns u64 into strings; integral doubles are fine.
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_PROMPT_TOKENS, S("1200")),
                    (k::GEN_AI_USAGE_COMPLETION_TOKENS, D(300.0)),
                    (k::GEN_AI_USAGE_CACHE_READ_LEGACY, I(1000))
                ]
            ),
            u(1200, 1000, 0, 0, 300, 0)
        );
    }

    #[test]
    fn never_adds_two_conventions_of_one_span() {
        assert_eq!(
            usage(
                "x",
                &[
                    (k::LLM_TOKEN_COUNT_PROMPT, I(100)),
                    (k::LLM_TOKEN_COUNT_COMPLETION, I(10)),
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(100)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10))
                ]
            ),
            u(100, 0, 0, 0, 10, 0)
        );
    }

    #[test]
    fn duplicate_keys_last_one_wins() {
        assert_eq!(
            usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(5)),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(1)),
                    (k::GEN_AI_USAGE_INPUT_TOKENS, I(7))
                ]
            ),
            u(7, 0, 0, 0, 1, 0)
        );
    }

    #[test]
    fn invalid_values_make_invalid_usage() {
        for bad in [
            I(-1),
            D(f64::NAN),
            D(1.5),
            D(-2.0),
            D(f64::INFINITY),
            S("abc"),
            S("-3"),
            S("1.5"),
            S(""),
            B(true),
            Arr,
        ] {
            let got = usage(
                "x",
                &[
                    (k::GEN_AI_USAGE_INPUT_TOKENS, bad.clone()),
                    (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(1)),
                ],
            );
            assert!(
                matches!(got, UsageState::Invalid(ref m) if m.contains(k::GEN_AI_USAGE_INPUT_TOKENS)),
                "{bad:?} -> {got:?}"
            );
        }
        assert!(matches!(
            usage("x", &[(k::GEN_AI_USAGE_TOTAL_TOKENS, I(10))]),
            UsageState::Invalid(_)
        ));
    }

    #[test]
    fn plain_spans_have_no_usage_and_kinds_are_read() {
        let s = span(
            "x",
            &[
                ("http.method", S("GET")),
                (k::GEN_AI_OPERATION_NAME, S("invoke_agent")),
            ],
        );
        let e = extract(&s, &ExtractOptions::default(), "cost.", |_| None);
        assert_eq!(e.usage, UsageState::None);
        assert!(e.aggregate);
        let s = span(
            "x",
            &[
                (k::OPENINFERENCE_SPAN_KIND, S("CHAIN")),
                (k::LLM_COST_TOTAL, D(0.25)),
            ],
        );
        let e = extract(&s, &ExtractOptions::default(), "cost.", |_| None);
        assert!(e.aggregate);
        assert_eq!(e.provided.map(|p| p.total.to_string()), Some("0.25".into()));
    }
}
