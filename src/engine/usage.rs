//! Usage extraction: reads a span's token counts, whatever convention its instrumentation
//! follows, into the one [`Usage`] shape pricing takes (DESIGN §3).

use std::collections::HashMap;

use crate::money::Usd;
use crate::pricing::units::named;
use crate::pricing::{Unit, Usage};
use crate::semconv as k;
use crate::span_view::{bytes_eq, eq_long, is_blank, AttrValue, KeyFilter, SpanView};

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
    /// Position of the last attribute named `MODEL_KEYS[model_key]` (for `SpanView::attr_at`).
    pub model_at: Option<usize>,
    /// Position of the last attribute named `PROVIDER_KEYS[provider_key]`.
    pub provider_at: Option<usize>,
    /// Position of the last attribute named `SERVICE_TIER_KEYS[tier_key]`.
    pub tier_at: Option<usize>,
    /// Position of the last `llm.invocation_parameters` ([`read_context`] reads it there).
    pub params_at: Option<usize>,
    /// The span has a `<prefix>context.*` attribute ([`read_context`] looks for them only then).
    pub has_context: bool,
    /// The span already has attributes we write (`llm.cost.*` or our prefix): replace, do not
    /// append.
    pub has_written_keys: bool,
}

impl Extracted {
    /// A span with no key extraction reads.
    const NOTHING: Extracted = Extracted {
        usage: UsageState::None,
        aggregate: false,
        provided: None,
        model_key: None,
        provider_key: None,
        tier_key: None,
        model_at: None,
        provider_at: None,
        tier_at: None,
        params_at: None,
        has_context: false,
        has_written_keys: false,
    };
}

/// A count as read: a count, or an unusable value (presence is a bit of `Raw::present`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Ok(u64),
    Bad,
}

impl Count {
    #[inline]
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
            AttrValue::Str(s) => Count::parse_str(s),
            AttrValue::Bool(_) | AttrValue::Other => Count::Bad,
        }
    }
    /// A count written as a string (rare): out of line, to keep the common path small.
    #[cold]
    #[inline(never)]
    fn parse_str(s: &str) -> Count {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_or(Count::Bad, Count::Ok)
        } else {
            Count::Bad
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

/// The OpenInference fields, as bits of `Raw::present`.
const OI_FIELDS: u32 = {
    let oi = [
        F::OiPrompt,
        F::OiCompletion,
        F::OiTotal,
        F::OiCacheRead,
        F::OiCacheWrite,
        F::OiAudioIn,
        F::OiReasoning,
        F::OiAudioOut,
    ];
    let mut m = 0;
    let mut i = 0;
    while i < oi.len() {
        m |= 1 << (oi[i] as u32);
        i += 1;
    }
    m
};

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

/// Usage parts beyond the inline token counts, as instrumentations write them: attribute -> unit
/// of the vocabulary (`pricing::units`). Adding one is a row. Any unit can also be set by the
/// application as `cost.usage.<unit id>` ([`k::COST_USAGE_PREFIX`]), which wins over these.
const UNIT_KEYS: [(&str, Unit); 8] = [
    (k::GEN_AI_USAGE_TEXT_INPUT, named("input_text_tokens")),
    (k::GEN_AI_USAGE_IMAGE_INPUT, named("input_image_tokens")),
    (k::GEN_AI_USAGE_VIDEO_INPUT, named("input_video_tokens")),
    (k::GEN_AI_USAGE_TEXT_OUTPUT, named("output_text_tokens")),
    (k::GEN_AI_USAGE_IMAGE_OUTPUT, named("output_image_tokens")),
    (
        k::GEN_AI_USAGE_TEXT_CACHE_READ,
        named("cache_text_read_tokens"),
    ),
    (
        k::GEN_AI_USAGE_IMAGE_CACHE_READ,
        named("cache_image_read_tokens"),
    ),
    (
        k::GEN_AI_USAGE_AUDIO_CACHE_READ,
        named("cache_audio_read_tokens"),
    ),
];

/// Where a unit's count sits inside a string attribute.
#[derive(Clone, Copy)]
enum Inside {
    /// A JSON object; the path of keys to an integer.
    Json(&'static [&'static str]),
    /// A comma-separated list; the count of items equal to this one.
    Item(&'static str),
}

/// Units a library records only inside a string attribute (UNITS.md sections 2 and 4): attribute
/// -> (where, unit) rules. Adding one is a row.
const STRING_UNIT_KEYS: [(&str, &[(Inside, Unit)]); 2] = [
    (
        k::OPENINFERENCE_METADATA,
        &[
            (
                Inside::Json(&["server_tool_use", "web_search_requests"]),
                named("web_searches"),
            ),
            (
                Inside::Json(&["server_tool_use", "web_fetch_requests"]),
                named("web_fetches"),
            ),
        ],
    ),
    (
        k::OPENLIT_BUILT_IN_TOOLS,
        &[
            (Inside::Item("web_search"), named("web_searches")),
            (Inside::Item("file_search"), named("storage_searches")),
        ],
    ),
];

/// What an attribute key means to extraction.
#[derive(Clone, Copy)]
enum Role {
    Token(F),
    /// Index into [`UNIT_KEYS`].
    Unit(u8),
    /// Index into [`STRING_UNIT_KEYS`].
    InString(u8),
    /// Index into `semconv::MODEL_KEYS`.
    Model(u8),
    /// Index into `semconv::PROVIDER_KEYS`.
    Provider(u8),
    /// Index into `semconv::SERVICE_TIER_KEYS`.
    Tier(u8),
    /// `llm.invocation_parameters`: only its position is kept.
    Params,
    OperationName,
    SpanKind,
    CostTotal,
    CostPrompt,
    CostCompletion,
}

/// Every key extraction reads, with its role. A key listed twice keeps its first role (the
/// order the checks ran in before the table existed).
const READ_KEYS: [(&str, Role); 25 + 8 + 2 + 5 + 4 + 5 + 7] = {
    let mut out = [("", Role::CostTotal); 56];
    let mut n = 0;
    let mut i = 0;
    while i < TOKEN_KEYS.len() {
        // The token keys come first, each at its field's index: `Raw::visit` takes the index
        // of a token key for its field, without a look at the role.
        assert!(TOKEN_KEYS[i].1 as usize == i);
        out[n] = (TOKEN_KEYS[i].0, Role::Token(TOKEN_KEYS[i].1));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < UNIT_KEYS.len() {
        out[n] = (UNIT_KEYS[i].0, Role::Unit(i as u8));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < STRING_UNIT_KEYS.len() {
        out[n] = (STRING_UNIT_KEYS[i].0, Role::InString(i as u8));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < k::MODEL_KEYS.len() {
        out[n] = (k::MODEL_KEYS[i], Role::Model(i as u8));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < k::PROVIDER_KEYS.len() {
        out[n] = (k::PROVIDER_KEYS[i], Role::Provider(i as u8));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < k::SERVICE_TIER_KEYS.len() {
        out[n] = (k::SERVICE_TIER_KEYS[i], Role::Tier(i as u8));
        n += 1;
        i += 1;
    }
    out[n] = (k::GEN_AI_OPERATION_NAME, Role::OperationName);
    out[n + 1] = (k::OPENINFERENCE_SPAN_KIND, Role::SpanKind);
    out[n + 2] = (k::LLM_COST_TOTAL, Role::CostTotal);
    out[n + 3] = (k::GEN_AI_USAGE_COST, Role::CostTotal);
    out[n + 4] = (k::LLM_COST_PROMPT, Role::CostPrompt);
    out[n + 5] = (k::LLM_COST_COMPLETION, Role::CostCompletion);
    out[n + 6] = (k::LLM_INVOCATION_PARAMETERS, Role::Params);
    assert!(n + 7 == out.len());
    out
};

/// Prefix of the per-call cost keys (`llm.cost.*`): a span holding one was written before.
const LLM_COST_PREFIX: &str = "llm.cost.";

/// First bytes of every key read.
const READ_KEY_FIRST_BYTES: KeyFilter = {
    let mut f = KeyFilter::EMPTY;
    let mut i = 0;
    while i < READ_KEYS.len() {
        f = f.with(READ_KEYS[i].0.as_bytes()[0]);
        i += 1;
    }
    f
};

/// First bytes of every key read (and of `llm.cost.` and `cost.usage.`): other keys are skipped
/// unseen.
const READ_FIRST_BYTES: KeyFilter = READ_KEY_FIRST_BYTES
    .with(LLM_COST_PREFIX.as_bytes()[0])
    .with(k::COST_USAGE_PREFIX.as_bytes()[0]);

/// The keys that pass for a given prefix of written attributes: [`READ_FIRST_BYTES`] plus the
/// prefix's first byte (every key for an empty prefix, which every key starts with).
pub(crate) fn key_filter(prefix: &str) -> KeyFilter {
    match prefix.as_bytes().first() {
        Some(&b) => READ_FIRST_BYTES.with(b),
        None => KeyFilter::ALL,
    }
}

/// Slots of [`KEY_SLOTS`] (a power of two, over four times the keys: a collision-free
/// placement is then found within a few thousand multipliers).
const TABLE_BITS: u32 = 8;

/// Keys of this length or longer are not read (the table's build checks every key is shorter).
const MAX_KEY_LEN: usize = 64;

/// The 8 bytes of `b` at `at`, little-endian, at compile time (building the tables).
const fn word(b: &[u8], at: usize) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < 8 {
        w |= (b[at + i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// [`word`] at run time: one load.
#[inline(always)]
fn word_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The same 8 bytes of `a` and `b`, at compile time.
const fn word_eq(a: &[u8], b: &[u8], at: usize) -> bool {
    word(a, at) == word(b, at)
}

/// Per key length, where the second word [`key_mix`] hashes starts (the first is the last 8
/// bytes): the first offset at which no two keys read of that length have both words alike
/// (`gen_ai.usage.audio.input_tokens` and `gen_ai.usage.video.input_tokens` share length and
/// ending). The build fails if a length has none.
static SECOND_WORD: [u8; MAX_KEY_LEN] = {
    let mut out = [0u8; MAX_KEY_LEN];
    let mut n = 8;
    while n < MAX_KEY_LEN {
        let mut at = 0;
        let found = loop {
            if at + 8 > n {
                break false;
            }
            // Every pair of distinct keys of length `n` differs in the word at `at` or the last.
            let mut ok = true;
            let mut i = 0;
            while ok && i < READ_KEYS.len() {
                let a = READ_KEYS[i].0.as_bytes();
                let mut j = i + 1;
                while ok && a.len() == n && j < READ_KEYS.len() {
                    let b = READ_KEYS[j].0.as_bytes();
                    if b.len() == n && !bytes_eq(a, b) && word_eq(a, b, at) && word_eq(a, b, n - 8)
                    {
                        ok = false;
                    }
                    j += 1;
                }
                i += 1;
            }
            if ok {
                break true;
            }
            at += 1;
        };
        assert!(found, "two keys read share length and every pair of words");
        out[n] = at as u8;
        n += 1;
    }
    out
};

/// The two words of a key (of 8 to [`MAX_KEY_LEN`] bytes) and its length, mixed: distinct for
/// distinct keys read ([`SECOND_WORD`]).
const fn key_mix(b: &[u8]) -> u64 {
    let n = b.len();
    mix(word(b, n - 8), word(b, SECOND_WORD[n] as usize), n)
}

/// The mix of a key's last word, its second word and its length: the one formula of the
/// table's build ([`key_mix`]) and of a lookup ([`key_index`]).
#[inline(always)]
const fn mix(last: u64, second: u64, n: usize) -> u64 {
    last ^ second.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n as u64
}

/// A mix's slot in [`KEY_SLOTS`] under `seed` (odd).
const fn slot_of(mix: u64, seed: u64) -> usize {
    (mix.wrapping_mul(seed) >> (64 - TABLE_BITS)) as usize
}

/// The multiplier that puts every key read in a slot of its own, searched at compile time:
/// a lookup is then one hash, one slot and one comparison. The build fails if none is found.
const KEY_SEED: u64 = {
    let mut mixes = [0u64; READ_KEYS.len()];
    // A key listed twice keeps its first slot (and role): only the first needs a slot.
    let mut first = [true; READ_KEYS.len()];
    let mut i = 0;
    while i < READ_KEYS.len() {
        let b = READ_KEYS[i].0.as_bytes();
        assert!(
            b.len() >= 8 && b.len() < MAX_KEY_LEN,
            "the key table holds keys of 8 to 63 bytes"
        );
        mixes[i] = key_mix(b);
        let mut j = 0;
        while j < i {
            first[i] &= !bytes_eq(READ_KEYS[j].0.as_bytes(), b);
            j += 1;
        }
        i += 1;
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut tries = 0;
    loop {
        assert!(
            tries < 100_000,
            "no collision-free multiplier for the key table"
        );
        let mut used = [0u64; (1 << TABLE_BITS) / 64];
        let mut free = true;
        let mut i = 0;
        while free && i < READ_KEYS.len() {
            let s = slot_of(mixes[i], seed);
            if first[i] {
                free = used[s / 64] & (1 << (s % 64)) == 0;
                used[s / 64] |= 1 << (s % 64);
            }
            i += 1;
        }
        if free {
            break seed;
        }
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C16);
        tries += 1;
    }
};

/// No key in this slot.
const EMPTY_SLOT: u8 = u8::MAX;

/// Collision-free table of [`READ_KEYS`], built at compile time: slot -> index of the key
/// (the first, for a key listed twice) or [`EMPTY_SLOT`].
static KEY_SLOTS: [u8; 1 << TABLE_BITS] = {
    assert!(READ_KEYS.len() < EMPTY_SLOT as usize);
    let mut t = [EMPTY_SLOT; 1 << TABLE_BITS];
    let mut i = READ_KEYS.len();
    // Backwards, so that the first of a key listed twice is the one kept.
    while i > 0 {
        i -= 1;
        t[slot_of(key_mix(READ_KEYS[i].0.as_bytes()), KEY_SEED)] = i as u8;
    }
    t
};

/// The index in [`READ_KEYS`] of `key`, if extraction reads it: one hash, one slot, one
/// comparison.
#[inline(always)]
fn key_index(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    let n = b.len();
    if !(8..MAX_KEY_LEN).contains(&n) {
        return None;
    }
    let mixed = mix(
        word_at(b, n - 8),
        word_at(b, usize::from(SECOND_WORD[n])),
        n,
    );
    let i = usize::from(KEY_SLOTS[slot_of(mixed, KEY_SEED)]);
    let (name, _) = READ_KEYS.get(i)?;
    eq_long(name.as_bytes(), b).then_some(i)
}

/// The role of `key`, if extraction reads it.
#[cfg(test)]
fn role_of(key: &str) -> Option<(&'static str, Role)> {
    key_index(key).map(|i| READ_KEYS[i])
}

/// Sentinel position: the key was not seen.
const NO_POS: u32 = u32::MAX;

/// Sentinel key index: no key with a value seen.
const NO_KEY: u8 = u8::MAX;

/// Raw reads of one span: token counts by field (a presence bit, a bad-value bit and the
/// value), the best model / provider / tier key, and where each candidate key last occurred.
struct Raw<'p> {
    prefix: &'p str,
    /// The prefix's first byte (`None`: the prefix is empty, every key starts with it).
    lead: Option<u8>,
    /// Some key read starts with the prefix's first byte (or the prefix is empty).
    lead_reads: bool,
    present: u32,
    bad: u32,
    vals: [u64; F::N as usize],
    /// Best (lowest) index into `MODEL_KEYS` / `PROVIDER_KEYS` / `SERVICE_TIER_KEYS` with a
    /// non-blank value, or [`NO_KEY`].
    model_key: u8,
    provider_key: u8,
    tier_key: u8,
    /// Position of the last attribute named `MODEL_KEYS[i]` / `PROVIDER_KEYS[i]` /
    /// `SERVICE_TIER_KEYS[i]`.
    model_pos: [u32; k::MODEL_KEYS.len()],
    provider_pos: [u32; k::PROVIDER_KEYS.len()],
    tier_pos: [u32; k::SERVICE_TIER_KEYS.len()],
    /// Position of the last `llm.invocation_parameters`.
    params_pos: u32,
    has_written_keys: bool,
    /// Some key is `<prefix>context.*`.
    has_context: bool,
    bad_key: Option<&'static str>,
    aggregate: bool,
    /// Costs already on the span: `None` (one word) for most spans.
    costs: Option<Box<GivenCosts>>,
    /// Units beyond the inline token counts: `None` (one word, nothing to drop) for token-only
    /// spans.
    rare: Option<Box<RareUnits>>,
}

/// Costs a span already carries (rare), as read: the last value of each key.
#[derive(Default)]
struct GivenCosts {
    total: Option<Usd>,
    prompt: Option<Usd>,
    completion: Option<Usd>,
}

/// What a span says beyond the inline token counts (rare).
#[derive(Default)]
struct RareUnits {
    /// `(unit, count, set by the application)`, the last value of each (unit, origin).
    units: Vec<(Unit, u64, bool)>,
    /// Why a unit attribute is unusable (the first one), naming it.
    bad_unit: Option<String>,
}

/// A provided cost's value in dollars. Inline, and its parts out of line by value: the value
/// is never passed by address, so the hot path keeps it in registers.
#[inline(always)]
fn usd(v: AttrValue<'_>) -> Option<Usd> {
    match v {
        AttrValue::F64(f) => usd_f64(f),
        AttrValue::I64(i) if i >= 0 => Some(Usd::from_femto(i as u128 * 1_000_000_000_000_000)),
        AttrValue::Str(s) => Usd::parse(s).ok(),
        _ => None,
    }
}

// Out of line and cold: a provided cost is rare, and its formatting would bloat `Raw::visit`.
#[cold]
#[inline(never)]
fn usd_f64(f: f64) -> Option<Usd> {
    if f.is_finite() && f >= 0.0 {
        Usd::parse(&f.to_string()).ok()
    } else {
        None
    }
}

/// Keeps the best (lowest) precedence index of a non-empty string attribute, and the key's
/// last position.
#[inline]
fn rank(slot: &mut u8, pos: &mut [u32], i: u8, at: usize, v: AttrValue<'_>) {
    if let Some(p) = pos.get_mut(usize::from(i)) {
        *p = position(at);
    }
    if matches!(v, AttrValue::Str(s) if !is_blank(s)) {
        // `NO_KEY` is above every index.
        *slot = (*slot).min(i);
    }
}

/// A position as kept in `Raw`. One past `u32` (never in practice) is kept as the largest
/// other: `SpanView::attr_at` finds another key there and looks the key up by name.
fn position(at: usize) -> u32 {
    u32::try_from(at).map_or(NO_POS - 1, |p| p.min(NO_POS - 1))
}

impl<'p> Raw<'p> {
    fn new(prefix: &'p str) -> Raw<'p> {
        Raw {
            prefix,
            lead: prefix.as_bytes().first().copied(),
            lead_reads: prefix.is_empty() || READ_KEY_FIRST_BYTES.passes(prefix),
            present: 0,
            bad: 0,
            vals: [0; F::N as usize],
            model_key: NO_KEY,
            provider_key: NO_KEY,
            tier_key: NO_KEY,
            model_pos: [NO_POS; k::MODEL_KEYS.len()],
            provider_pos: [NO_POS; k::PROVIDER_KEYS.len()],
            tier_pos: [NO_POS; k::SERVICE_TIER_KEYS.len()],
            params_pos: NO_POS,
            has_written_keys: false,
            has_context: false,
            bad_key: None,
            aggregate: false,
            costs: None,
            rare: None,
        }
    }

    /// `cost.usage.<unit id>`, set by the application (rare: out of line).
    #[cold]
    #[inline(never)]
    fn app_unit(&mut self, key: &str, n: Count) {
        let id = &key[k::COST_USAGE_PREFIX.len()..];
        match Unit::by_id(id) {
            Some(unit) => self.unit(unit, key, n, true),
            None => {
                self.rare
                    .get_or_insert_default()
                    .bad_unit
                    .get_or_insert_with(|| format!("'{key}': no unit '{id}' in the vocabulary"));
            }
        }
    }

    /// The counts inside a string attribute ([`STRING_UNIT_KEYS`]). Not a string, not JSON, or
    /// no such path: nothing (the attribute is not a usage attribute of its own); a count there
    /// that is not a non-negative integer: invalid usage naming the path.
    #[cold]
    #[inline(never)]
    fn in_string(&mut self, rules: &[(Inside, Unit)], key: &str, text: &str) {
        let mut json: Option<Option<serde_json::Value>> = None;
        for &(inside, unit) in rules {
            match inside {
                Inside::Json(path) => {
                    if !text.contains(path[0]) {
                        continue;
                    }
                    let doc = json.get_or_insert_with(|| serde_json::from_str(text).ok());
                    let mut found = doc.as_ref();
                    for p in path {
                        found = found.and_then(|v| v.get(p));
                    }
                    let Some(found) = found else { continue };
                    let at = format!("{key} -> {}", path.join("."));
                    match found.as_u64() {
                        Some(n) => self.unit(unit, &at, Count::Ok(n.min(i64::MAX as u64)), false),
                        None => {
                            self.rare
                                .get_or_insert_default()
                                .bad_unit
                                .get_or_insert_with(|| {
                                    format!("'{at}' is not a non-negative integer")
                                });
                        }
                    }
                }
                Inside::Item(item) => {
                    let n = text.split(',').filter(|t| t.trim() == item).count();
                    if n > 0 {
                        self.unit(unit, key, Count::Ok(n as u64), false);
                    }
                }
            }
        }
    }

    /// A count of `unit` read from `key` (`Count::parse` of its value).
    #[cold]
    #[inline(never)]
    fn unit(&mut self, unit: Unit, key: &str, n: Count, app: bool) {
        let rare = self.rare.get_or_insert_default();
        let Count::Ok(n) = n else {
            rare.bad_unit
                .get_or_insert_with(|| format!("'{key}' is not a non-negative integer"));
            return;
        };
        match rare.units.iter_mut().find(|e| e.0 == unit && e.2 == app) {
            Some(e) => e.1 = n,
            None => rare.units.push((unit, n, app)),
        }
    }

    /// A key under our prefix: the span was written before; `<prefix>context.*` is noted for
    /// [`read_context`].
    #[inline]
    fn ours(&mut self, key: &str) {
        if let Some(rest) = key.strip_prefix(self.prefix) {
            self.has_written_keys = true;
            self.has_context |= rest.starts_with(CONTEXT_INFIX);
        }
    }

    // Values go to the out-of-line paths by value in registers (a `Count`, a `&str`), never by
    // address: the value then stays in registers on the common path.
    #[inline(always)]
    fn visit(&mut self, at: usize, key: &str, v: AttrValue<'_>) {
        let Some(i) = key_index(key) else {
            return self.other(key, v);
        };
        // `key.starts_with(prefix)`, looked at only when the prefix starts like a key read
        // (never for the default `cost.`), the first byte compared inline before the call.
        if self.lead_reads && self.lead.is_none_or(|f| key.as_bytes().first() == Some(&f)) {
            self.ours(key);
        }
        if i < TOKEN_KEYS.len() {
            // A token count (the common key), `i` its field (`READ_KEYS` checks).
            return self.token(i, v);
        }
        let (name, role) = READ_KEYS[i];
        match role {
            Role::Token(f) => self.token(f as usize, v),
            Role::Unit(i) => self.unit(UNIT_KEYS[usize::from(i)].1, name, Count::parse(v), false),
            Role::InString(i) => {
                if let AttrValue::Str(text) = v {
                    self.in_string(STRING_UNIT_KEYS[usize::from(i)].1, name, text);
                }
            }
            Role::Model(i) => rank(&mut self.model_key, &mut self.model_pos, i, at, v),
            Role::Provider(i) => rank(&mut self.provider_key, &mut self.provider_pos, i, at, v),
            Role::Tier(i) => rank(&mut self.tier_key, &mut self.tier_pos, i, at, v),
            Role::Params => self.params_pos = position(at),
            Role::OperationName => {
                if let AttrValue::Str(s) = v {
                    self.aggregate |= k::AGGREGATE_OPERATIONS.contains(&s);
                }
            }
            Role::SpanKind => {
                if let AttrValue::Str(s) = v {
                    self.aggregate |= k::AGGREGATE_KINDS.contains(&s);
                }
            }
            Role::CostTotal | Role::CostPrompt | Role::CostCompletion => {
                self.cost(name, role, usd(v));
            }
        }
    }

    /// A key passing the filter that is not a key read: ours, a cost we wrote
    /// (`llm.cost.*`), an application's unit (`cost.usage.*`), or nothing.
    #[inline(always)]
    fn other(&mut self, key: &str, v: AttrValue<'_>) {
        let b = key.as_bytes();
        if self.lead.is_none_or(|f| b.first() == Some(&f)) {
            self.ours(key);
        }
        match b.first() {
            Some(b'l') if key.starts_with(LLM_COST_PREFIX) => self.has_written_keys = true,
            Some(b'c') if key.starts_with(k::COST_USAGE_PREFIX) => {
                self.app_unit(key, Count::parse(v));
            }
            _ => {}
        }
    }

    /// A token count for field `f` (an index into `Raw::vals`, and into [`READ_KEYS`]).
    #[inline(always)]
    fn token(&mut self, f: usize, v: AttrValue<'_>) {
        let bit = 1u32 << f;
        self.present |= bit;
        match Count::parse(v) {
            Count::Ok(n) => {
                self.bad &= !bit;
                self.vals[f] = n;
            }
            _ => {
                self.bad |= bit;
                self.bad_key = Some(READ_KEYS[f].0);
            }
        }
    }

    /// A cost already on the span (rare: out of line). Of the keys read, only these can start
    /// with `llm.cost.` (a test checks): such a key also means the span was written before.
    #[cold]
    #[inline(never)]
    fn cost(&mut self, name: &str, role: Role, value: Option<Usd>) {
        self.has_written_keys |= name.starts_with(LLM_COST_PREFIX);
        let costs = self.costs.get_or_insert_default();
        let slot = match role {
            Role::CostPrompt => &mut costs.prompt,
            Role::CostCompletion => &mut costs.completion,
            _ => &mut costs.total,
        };
        *slot = value;
    }
}

/// Position of the chosen key's last occurrence.
fn pos_of(key: u8, pos: &[u32]) -> Option<usize> {
    pos.get(usize::from(key)).and_then(|&p| seen(p))
}

/// A kept position, unless [`NO_POS`].
fn seen(p: u32) -> Option<usize> {
    (p != NO_POS).then_some(p as usize)
}

/// A kept key index, unless [`NO_KEY`].
fn key_of(i: u8) -> Option<usize> {
    (i != NO_KEY).then_some(usize::from(i))
}

/// Reads usage, kind and provided cost from a span (DESIGN §3). `prefix`: the prefix of the
/// attributes we write (to know whether the span already has some).
pub(crate) fn extract<V: SpanView + ?Sized>(
    span: &V,
    opts: &ExtractOptions,
    prefix: &str,
    provider: impl FnOnce(Option<usize>) -> Option<String>,
) -> Extracted {
    extract_with(span, opts, prefix, &key_filter(prefix), provider).unwrap_or(Extracted::NOTHING)
}

/// [`extract`] with the key filter of `prefix` ([`key_filter`]) computed once by the caller;
/// `None` when no key passes it (the span has nothing extraction reads, and none of ours).
pub(crate) fn extract_with<V: SpanView + ?Sized>(
    span: &V,
    opts: &ExtractOptions,
    prefix: &str,
    filter: &KeyFilter,
    provider: impl FnOnce(Option<usize>) -> Option<String>,
) -> Option<Extracted> {
    // Built on the first key that passes the filter: a span without one costs one pass over
    // its keys' first bytes, in a loop of its own where the representation has one.
    if !span.may_have_attr_in(filter) {
        return None;
    }
    let mut raw: Option<Raw<'_>> = None;
    span.for_each_attr_in(filter, &mut |at, key, v| {
        raw.get_or_insert_with(|| Raw::new(prefix))
            .visit(at, key, v)
    });
    let raw = raw.as_ref()?;
    let provided = raw.costs.as_deref().and_then(|c| {
        c.total.map(|total| ProvidedCost {
            total,
            prompt: c.prompt,
            completion: c.completion,
        })
    });
    let rare = raw.rare.as_deref();
    let usage = if raw.present == 0 && rare.is_none() {
        UsageState::None
    } else if let Some(key) = raw.bad_key {
        UsageState::Invalid(format!("'{key}' is not a non-negative integer"))
    } else if let Some(why) = rare.and_then(|r| r.bad_unit.as_ref()) {
        UsageState::Invalid(why.clone())
    } else {
        let forced = opts.by_scope.get(span.scope_name()).copied().or_else(|| {
            if opts.by_provider.is_empty() {
                return None;
            }
            provider(key_of(raw.provider_key)).and_then(|p| opts.by_provider.get(&p).copied())
        });
        let usage = normalise(raw, span.scope_name(), forced);
        match rare {
            None => usage,
            Some(r) => with_units(usage, &r.units),
        }
    };
    Some(Extracted {
        usage,
        aggregate: raw.aggregate,
        provided,
        model_key: key_of(raw.model_key),
        provider_key: key_of(raw.provider_key),
        tier_key: key_of(raw.tier_key),
        model_at: pos_of(raw.model_key, &raw.model_pos),
        provider_at: pos_of(raw.provider_key, &raw.provider_pos),
        tier_at: pos_of(raw.tier_key, &raw.tier_pos),
        params_at: seen(raw.params_pos),
        has_context: raw.has_context,
        has_written_keys: raw.has_written_keys,
    })
}

fn normalise(raw: &Raw, scope: &str, forced: Option<InputCounting>) -> UsageState {
    // Fields, not counts: a field's presence is a bit, its count (0 when absent or bad) a
    // masked read, without an enum built and matched per field (BENCHMARKS.md, issue 15
    // token-only regression).
    let has = |f: F| raw.present & (1 << f as u32) != 0;
    let ok = |f: F| (raw.present & !raw.bad) & (1 << f as u32) != 0;
    let n = |f: F| if ok(f) { raw.vals[f as usize] } else { 0 };
    // `get(a).or(get(b))`: the first field present.
    let first = |a: F, b: F| if has(a) { a } else { b };
    let oi = raw.present & OI_FIELDS != 0;
    // One convention per span: OpenInference if it has any count, else GenAI (new names first).
    let (input, output, total, cache_read, cache_write, reasoning, audio_in, audio_out) = if oi {
        (
            F::OiPrompt,
            F::OiCompletion,
            F::OiTotal,
            F::OiCacheRead,
            F::OiCacheWrite,
            F::OiReasoning,
            F::OiAudioIn,
            F::OiAudioOut,
        )
    } else {
        (
            first(F::GInput, F::LPrompt),
            first(F::GOutput, F::LCompletion),
            first(F::LTotal, F::LLlmTotal),
            first(F::GCacheRead, F::LCacheRead),
            first(F::GCacheWrite, first(F::GCacheCreation, F::LCacheCreation)),
            first(F::GReasoning, F::LReasoning),
            F::GAudioIn,
            F::GAudioOut,
        )
    };
    if !has(input) && !has(output) && raw.rare.is_none() {
        return UsageState::Invalid(
            "no input or output token count (only a total or details)".into(),
        );
    }
    let (i, o) = (n(input), n(output));
    // Cache writes, split by TTL when the Anthropic SDK says so.
    let (cw5, cw1) = match (has(F::Cw5m), has(F::Cw1h)) {
        (false, false) => (n(cache_write), 0),
        _ => {
            let (mut five, one) = (n(F::Cw5m), n(F::Cw1h));
            let cw = n(cache_write);
            if cw > five + one {
                five += cw - (five + one);
            }
            (five, one)
        }
    };
    let cr = n(cache_read);
    let cache = cr.saturating_add(cw5).saturating_add(cw1);
    let t = ok(total).then(|| raw.vals[total as usize]);
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
        other: Default::default(),
    })
}

/// Adds the units beyond the inline token counts to normalised usage: those the instrumentation
/// wrote, then those the application set (`cost.usage.*`, which win), and checks every part
/// against its whole ([`Usage::check_containment`]).
#[cold]
#[inline(never)]
fn with_units(usage: UsageState, units: &[(Unit, u64, bool)]) -> UsageState {
    let UsageState::Valid(mut u) = usage else {
        return usage;
    };
    for app in [false, true] {
        for &(unit, n, _) in units.iter().filter(|e| e.2 == app) {
            u.set(unit, n);
        }
    }
    match u.check_containment() {
        Ok(()) => UsageState::Valid(u),
        Err(why) => UsageState::Invalid(why),
    }
}

/// Request parameters that select a price variant, read from OpenInference's
/// `llm.invocation_parameters` JSON (the only place a library records `speed` and
/// `inference_geo` today: tests/fixtures/real-spans/UNITS.md).
const CONTEXT_PARAMS: [&str; 3] = ["speed", "service_tier", "inference_geo"];

/// Request parameters of an image generation call that select its per-image price (LiteLLM's
/// size/quality variants), as OpenInference records them inside `llm.invocation_parameters`
/// (`size`, `quality`): parameter -> context key.
const IMAGE_PARAMS: [(&str, &str); 2] = [("size", "image_size"), ("quality", "image_quality")];

/// Attributes naming a price-selecting request parameter (tests/fixtures/real-spans/UNITS.md
/// section 4: OpenLIT's image size and quality; the response's, when there, after the
/// request's): attribute -> context key. Read only for a price with variants.
const CONTEXT_ATTRS: [(&str, &str); 4] = [
    ("gen_ai.request.image_size", "image_size"),
    ("gen_ai.request.image_quality", "image_quality"),
    ("gen_ai.response.image_size", "image_size"),
    ("gen_ai.response.image_quality", "image_quality"),
];

/// What follows the prefix in the application's context attributes: `<prefix>context.<key>`.
const CONTEXT_INFIX: &str = "context.";

/// Context values meaning the standard price (never noted as unmatched).
const STANDARD_VALUES: [&str; 6] = [
    "default",
    "auto",
    "standard",
    "standard_only",
    "scale",
    "on_demand",
];

/// The request context of a call (issue 15), for a price with variants. In rising precedence:
/// the recorded invocation parameters (`llm.invocation_parameters`: `speed`, `service_tier`,
/// `inference_geo`), the service-tier attribute extraction chose (`tier_value`: the response's
/// billed tier over the request's), and the application's own `<prefix>context.<key>`
/// attributes (`cost.context.speed` = `fast`), the most specific statement. Where to look
/// comes from extraction's one pass over the keys: `params_at`, the position of the last
/// `llm.invocation_parameters` ([`Extracted::params_at`]; `None`: the span has none), and
/// `has_context`, the span has a `<prefix>context.*` attribute ([`Extracted::has_context`];
/// else those are not looked for). `images`: the price has variants chosen by an image's size
/// or quality ([`image_variants`]), so those are read too: OpenInference's invocation parameters
/// `size` / `quality` ([`IMAGE_PARAMS`]), then OpenLIT's attributes ([`CONTEXT_ATTRS`]), both
/// below the application's own keys.
pub(crate) fn read_context<V: SpanView + ?Sized>(
    span: &V,
    prefix: &str,
    tier_value: Option<&str>,
    params_at: Option<usize>,
    has_context: bool,
    images: bool,
) -> crate::pricing::PriceContext {
    let mut ctx = crate::pricing::PriceContext::default();
    let params = params_at.and_then(|i| span.attr_at(i, k::LLM_INVOCATION_PARAMETERS));
    if let Some(AttrValue::Str(json)) = params {
        // Not an object, or not JSON: nothing read from it (the span is still priced). Parsed
        // only when it can name a parameter read: one of their names, or an escape that could
        // spell one (`\u0073peed`).
        let may_name = |j: &str| {
            j.contains('\\')
                || CONTEXT_PARAMS.iter().any(|p| j.contains(p))
                || (images && IMAGE_PARAMS.iter().any(|(p, _)| j.contains(p)))
        };
        if let Some(serde_json::Value::Object(params)) = may_name(json)
            .then(|| serde_json::from_str(json).ok())
            .flatten()
        {
            for key in CONTEXT_PARAMS {
                if let Some(v) = params.get(key).and_then(|v| v.as_str()) {
                    ctx.set(key, v);
                }
            }
            let image_params = if images { &IMAGE_PARAMS[..] } else { &[] };
            for (param, key) in image_params {
                if let Some(v) = params.get(*param).and_then(|v| v.as_str()) {
                    ctx.set(key, v);
                }
            }
        }
    }
    if images {
        read_image_attrs(span, &mut ctx);
    }
    if let Some(t) = tier_value {
        ctx.set("service_tier", t);
    }
    if !has_context {
        // Extraction saw every key under our prefix: no `<prefix>context.*`.
        return ctx;
    }
    span.for_each_attr(&mut |key, v| {
        let Some(name) = key
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(CONTEXT_INFIX))
        else {
            return;
        };
        if let AttrValue::Str(s) = v {
            if !name.is_empty() && !is_blank(s) {
                ctx.set(name, s);
            }
        }
    });
    ctx
}

/// OpenLIT's image size and quality attributes ([`CONTEXT_ATTRS`]) into `ctx`, for
/// [`read_context`] when the price has image variants: out of line, so that a call of any other
/// model looks up none of these keys.
#[cold]
#[inline(never)]
fn read_image_attrs<V: SpanView + ?Sized>(span: &V, ctx: &mut crate::pricing::PriceContext) {
    for (attr, key) in CONTEXT_ATTRS {
        if let Some(AttrValue::Str(v)) = span.attr(attr) {
            if !is_blank(v) {
                ctx.set(key, v);
            }
        }
    }
}

/// `true` when a variant of `price` is chosen by an image's size or quality.
// Inline: asked for every priced span of a model with variants (a loop over one or two).
#[inline(always)]
pub(crate) fn image_variants(price: &crate::pricing::Price) -> bool {
    // Plain loops: inlined whole where iterator adapters left a call behind.
    for v in &price.variants {
        for (key, _) in &v.when {
            if key.starts_with("image_") {
                return true;
            }
        }
    }
    false
}

/// Why a priced call's context selected nothing, when it names a value of a key the price's
/// variants use but no variant has (`speed=turbo`): the call is priced at the standard price
/// (or its service tier) and the reason says so. A value meaning the standard price
/// (`default`, `auto` ...) and keys no variant uses (`inference_geo`: no source prices it) are
/// not noted.
pub(crate) fn unmatched_context(
    price: &crate::pricing::Price,
    ctx: &crate::pricing::PriceContext,
    applied: &crate::pricing::AppliedTier,
) -> Option<String> {
    if applied.variant.is_some() || ctx.values.is_empty() {
        // A variant applied, or no context value to name (the common call).
        return None;
    }
    let unknown: Vec<String> = ctx
        .values
        .iter()
        .filter(|(key, v)| {
            let standard = STANDARD_VALUES.contains(&v.to_ascii_lowercase().as_str());
            let tier_applied = key == "service_tier" && applied.service_tier.is_some();
            !standard
                && !tier_applied
                && price
                    .variants
                    .iter()
                    .any(|var| var.when.iter().any(|(k2, _)| k2 == key))
        })
        .map(|(key, v)| format!("{key}={v}"))
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "context {} matches no price variant of this model: priced at the standard rates",
            unknown.join(",")
        )
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
        fn attr_at(&self, index: usize, key: &str) -> Option<AttrValue<'_>> {
            match self.attrs.get(index) {
                Some((k, v)) if k == key => Some(conv(v)),
                _ => self.attr(key),
            }
        }
        fn set_attr(&mut self, _key: &str, _value: OwnedValue) {}
        fn name(&self) -> &str {
            ""
        }
        fn add_event(&mut self, _: &str, _: Vec<(crate::span_view::AttrKey, OwnedValue)>) {}
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

    fn unit(id: &str) -> Unit {
        Unit::by_id(id).unwrap()
    }

    fn invalid(got: UsageState) -> String {
        match got {
            UsageState::Invalid(why) => why,
            other => panic!("expected invalid_usage, got {other:?}"),
        }
    }

    #[test]
    fn otel_genai_modality_parts_are_read() {
        // The official google-genai instrumentation's real Gemini span (units_otel_google_genai.json).
        let got = usage(
            "opentelemetry.instrumentation.google_genai",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(2600)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(1200)),
                (k::GEN_AI_USAGE_CACHE_READ, I(1024)),
                (k::GEN_AI_USAGE_REASONING, I(700)),
                (k::GEN_AI_USAGE_TEXT_INPUT, I(1100)),
                (k::GEN_AI_USAGE_IMAGE_INPUT, I(800)),
                (k::GEN_AI_USAGE_AUDIO_INPUT, I(400)),
                (k::GEN_AI_USAGE_TEXT_CACHE_READ, I(1024)),
                (k::GEN_AI_USAGE_TEXT_OUTPUT, I(380)),
                (k::GEN_AI_USAGE_IMAGE_OUTPUT, I(120)),
            ],
        );
        let UsageState::Valid(u) = got else {
            panic!("{got:?}")
        };
        assert_eq!((u.input_total, u.cache_read, u.audio_in), (2600, 1024, 400));
        assert_eq!((u.output_total, u.reasoning), (1200, 700));
        let others: Vec<(Unit, u64)> = u.other.iter().collect();
        let mut want = vec![
            (unit("input_text_tokens"), 1100),
            (unit("input_image_tokens"), 800),
            (unit("cache_text_read_tokens"), 1024),
            (unit("output_text_tokens"), 380),
            (unit("output_image_tokens"), 120),
        ];
        want.sort();
        assert_eq!(others, want);
    }

    #[test]
    fn application_units_are_read_and_win() {
        let got = usage(
            "my-app",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(8120)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(800)),
                (k::GEN_AI_USAGE_IMAGE_INPUT, I(100)),
                ("cost.usage.web_searches", I(3)),
                ("cost.usage.web_fetches", S("2")), // a `u64` through tracing-opentelemetry
                ("cost.usage.input_image_tokens", I(150)),
                ("cost.usage.cache_write_1h_tokens", D(1000.0)),
            ],
        );
        let UsageState::Valid(u) = got else {
            panic!("{got:?}")
        };
        assert_eq!(u.get(unit("web_searches")), 3);
        assert_eq!(u.get(unit("web_fetches")), 2);
        assert_eq!(
            u.get(unit("input_image_tokens")),
            150,
            "the application's count wins"
        );
        assert_eq!(u.cache_write_1h, 1000);
        assert_eq!((u.input_total, u.output_total), (8120, 800));
    }

    #[test]
    fn units_inside_library_strings_are_read() {
        // OpenInference's Anthropic span (units_openinference.json): server tool use in `metadata`.
        let got = usage(
            "openinference.instrumentation.anthropic",
            &[
                (k::LLM_TOKEN_COUNT_PROMPT, I(8120)),
                (k::LLM_TOKEN_COUNT_COMPLETION, I(800)),
                (
                    k::OPENINFERENCE_METADATA,
                    S(
                        r#"{"server_tool_use": {"web_fetch_requests": 2, "web_search_requests": 3}}"#,
                    ),
                ),
            ],
        );
        let UsageState::Valid(oi) = got else {
            panic!("{got:?}")
        };
        assert_eq!(oi.get(unit("web_searches")), 3);
        assert_eq!(oi.get(unit("web_fetches")), 2);
        // OpenLIT's Responses span (units_openlit.json): the built-in tool calls by kind.
        let got = usage(
            "openlit.instrumentation.openai",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(2100)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(450)),
                (
                    k::OPENLIT_BUILT_IN_TOOLS,
                    S("web_search, web_search, file_search"),
                ),
            ],
        );
        let UsageState::Valid(lit) = got else {
            panic!("{got:?}")
        };
        assert_eq!(lit.get(unit("web_searches")), 2);
        assert_eq!(lit.get(unit("storage_searches")), 1);
        // Metadata of other shapes is not usage; a bad count where one is expected is.
        for other in [r#"{"user": "x"}"#, "not json", r#"{"server_tool_use": 3}"#] {
            let got = usage(
                "s",
                &[
                    (k::LLM_TOKEN_COUNT_PROMPT, I(10)),
                    (k::LLM_TOKEN_COUNT_COMPLETION, I(1)),
                    (k::OPENINFERENCE_METADATA, S(other)),
                ],
            );
            assert_eq!(got, u(10, 0, 0, 0, 1, 0), "{other}");
        }
        let why = invalid(usage(
            "s",
            &[
                (k::LLM_TOKEN_COUNT_PROMPT, I(10)),
                (k::LLM_TOKEN_COUNT_COMPLETION, I(1)),
                (
                    k::OPENINFERENCE_METADATA,
                    S(r#"{"server_tool_use": {"web_search_requests": -1}}"#),
                ),
            ],
        ));
        assert!(
            why.contains("metadata -> server_tool_use.web_search_requests"),
            "{why}"
        );
    }

    #[test]
    fn a_unit_without_token_counts_is_usage() {
        // Speech: characters only, no tokens at all.
        let got = usage("my-app", &[("cost.usage.input_characters", I(64))]);
        let UsageState::Valid(u) = got else {
            panic!("{got:?}")
        };
        assert_eq!(u.get(unit("input_characters")), 64);
        assert_eq!((u.input_total, u.output_total), (0, 0));
    }

    #[test]
    fn bad_units_are_invalid_usage_naming_the_attribute() {
        let tokens = [
            (k::GEN_AI_USAGE_INPUT_TOKENS, I(100)),
            (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
        ];
        for (key, val, says) in [
            ("cost.usage.web_serches", I(3), "no unit 'web_serches'"),
            (
                "cost.usage.web_searches",
                I(-3),
                "not a non-negative integer",
            ),
            (
                "cost.usage.web_searches",
                D(2.5),
                "not a non-negative integer",
            ),
            (
                "cost.usage.web_searches",
                S("three"),
                "not a non-negative integer",
            ),
            (
                "cost.usage.web_searches",
                B(true),
                "not a non-negative integer",
            ),
            (
                k::GEN_AI_USAGE_IMAGE_INPUT,
                I(-1),
                "not a non-negative integer",
            ),
        ] {
            let mut attrs = tokens.to_vec();
            attrs.push((key, val));
            let why = invalid(usage("s", &attrs));
            assert!(why.contains(key) && why.contains(says), "{key}: {why}");
        }
    }

    #[test]
    fn parts_above_their_whole_are_invalid_usage() {
        let why = invalid(usage(
            "s",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(100)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                (k::GEN_AI_USAGE_IMAGE_INPUT, I(101)),
            ],
        ));
        assert!(why.contains("input_image_tokens (101)"), "{why}");
        let why = invalid(usage(
            "s",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(100)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(10)),
                ("cost.usage.output_text_tokens", I(11)),
            ],
        ));
        assert!(why.contains("output_text_tokens (11)"), "{why}");
    }

    #[test]
    fn only_cost_keys_read_start_with_the_written_prefix() {
        for (name, role) in READ_KEYS {
            if name.starts_with(LLM_COST_PREFIX) {
                assert!(
                    matches!(
                        role,
                        Role::CostTotal | Role::CostPrompt | Role::CostCompletion
                    ),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn eq_long_is_slice_equality() {
        let keys = [
            "llm.token_count.prompt",
            "llm.token_count.promPt",
            "llm.token_count.prompts",
            "xlm.token_count.prompt",
            "gen_ai.x",
            "gen_ai.y",
            "12345678",
            "1234567",
            "",
            "llm.model_name",
            "llm.model_namf",
            "0123456789abcdef",
            "0123456789abcdeF",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(eq_long(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }

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
    fn the_key_table_finds_every_key_read_and_nothing_else() {
        for (name, _) in READ_KEYS {
            let (found, _) = role_of(name).unwrap_or_else(|| panic!("{name} not found"));
            assert_eq!(found, name);
            assert!(READ_FIRST_BYTES.passes(name), "{name}");
            // Near misses: one byte more, one byte less, last byte changed.
            assert!(role_of(&format!("{name}x")).is_none(), "{name}x");
            assert!(role_of(&name[..name.len() - 1]).is_none(), "{name}");
            let mut changed = name.to_owned();
            changed.pop();
            changed.push('#');
            assert!(role_of(&changed).is_none(), "{changed}");
        }
        for other in [
            "",
            "llm",
            "http.request.method",
            "gen_ai.usage",
            "llm.cost.",
            "x",
        ] {
            assert!(role_of(other).is_none(), "{other}");
        }
    }

    #[test]
    fn every_key_read_has_a_slot_of_its_own() {
        // The build asserts it; this names the keys if a change to the hash breaks it.
        let mut taken = std::collections::HashMap::new();
        for (i, (name, _)) in READ_KEYS.iter().enumerate() {
            let slot = slot_of(key_mix(name.as_bytes()), KEY_SEED);
            let first = READ_KEYS.iter().position(|(n, _)| n == name);
            assert_eq!(usize::from(KEY_SLOTS[slot]), first.unwrap_or(i), "{name}");
            if let Some(other) = taken.insert(slot, *name) {
                assert_eq!(other, *name, "{name} and {other} share slot {slot}");
            }
        }
        assert_eq!(
            KEY_SLOTS.iter().filter(|&&i| i != EMPTY_SLOT).count(),
            taken.len()
        );
    }

    #[test]
    fn a_key_one_byte_off_a_key_read_is_not_read() {
        // Same length, and the same last and second words where the byte is elsewhere: only
        // the comparison tells these apart.
        for (name, _) in READ_KEYS {
            for at in 0..name.len() {
                for b in [b'.', b'_', b'x', b'0'] {
                    let mut off = name.as_bytes().to_vec();
                    if off[at] == b {
                        continue;
                    }
                    off[at] = b;
                    let off = String::from_utf8(off).unwrap_or_default();
                    let read = READ_KEYS.iter().any(|(n, _)| *n == off);
                    assert_eq!(role_of(&off).is_some(), read, "{off}");
                }
            }
        }
    }

    #[test]
    fn eq_long_is_slice_equality_at_every_length_and_byte() {
        let base: Vec<u8> = (0..70u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=base.len() {
            let a = &base[..n];
            assert!(eq_long(a, a));
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!eq_long(a, &b), "length {n}, byte {at}");
            }
            if n > 0 {
                assert!(!eq_long(a, &base[..n - 1]), "length {n}");
            }
        }
    }

    #[test]
    fn filter_passes_our_prefix_and_every_key_for_an_empty_prefix() {
        let f = key_filter("cost.");
        assert!(f.passes("cost.total_usd") && f.passes("llm.cost.total"));
        assert!(!f.passes("http.route") && !f.passes(""));
        let all = key_filter("");
        assert!(all.passes("http.route") && all.passes(""));
        // An empty prefix marks every span with attributes as already written (as before).
        let s = span("x", &[("http.route", S("/"))]);
        assert!(extract(&s, &ExtractOptions::default(), "", |_| None).has_written_keys);
        assert!(!extract(&s, &ExtractOptions::default(), "cost.", |_| None).has_written_keys);
        let s = span("x", &[("my.cost", I(1)), ("llm.cost.total", D(0.5))]);
        let e = extract(&s, &ExtractOptions::default(), "my.", |_| None);
        assert!(e.has_written_keys && e.provided.is_some());
    }

    #[test]
    fn positions_are_those_of_the_last_attribute_of_the_chosen_key() {
        let s = span(
            "x",
            &[
                (k::GEN_AI_REQUEST_MODEL, S("req")),
                (k::GEN_AI_RESPONSE_MODEL, S("resp")),
                ("http.route", S("/")),
                (k::GEN_AI_RESPONSE_MODEL, S(" ")),
                (k::GEN_AI_SYSTEM, S("openai")),
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(1)),
                (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(1)),
            ],
        );
        let e = extract(&s, &ExtractOptions::default(), "cost.", |_| None);
        // The best key is the response model (a non-empty value was seen); its last value is
        // blank, which the engine then reads as no model, exactly as `attr()` would.
        assert_eq!(e.model_key, Some(0));
        assert_eq!(e.model_at, Some(3));
        assert_eq!(e.provider_at, Some(4));
        assert_eq!(e.tier_at, None);
    }

    /// The context as `read_context` gets it from extraction (positions, `has_context`).
    fn context(s: &TestSpan, prefix: &str) -> (Extracted, crate::pricing::PriceContext) {
        let e = extract(s, &ExtractOptions::default(), prefix, |_| None);
        let ctx = read_context(s, prefix, None, e.params_at, e.has_context, false);
        (e, ctx)
    }

    #[test]
    fn invocation_parameters_are_read_at_their_recorded_position_last_one_wins() {
        let tokens = [
            (k::GEN_AI_USAGE_INPUT_TOKENS, I(1)),
            (k::GEN_AI_USAGE_OUTPUT_TOKENS, I(1)),
        ];
        let with = |extra: &[(&str, Val)]| {
            let mut a = tokens.to_vec();
            a.extend_from_slice(extra);
            span("x", &a)
        };
        // Duplicated: the last one, as `attr()` reads it.
        let s = with(&[
            (k::LLM_INVOCATION_PARAMETERS, S(r#"{"speed": "fast"}"#)),
            ("http.route", S("/")),
            (k::LLM_INVOCATION_PARAMETERS, S(r#"{"speed": "turbo"}"#)),
        ]);
        let (e, ctx) = context(&s, "cost.");
        assert_eq!(e.params_at, Some(4));
        assert_eq!(ctx.get("speed"), Some("turbo"));
        // A key duplicated inside the JSON: the last one (serde_json's map).
        let s = with(&[(
            k::LLM_INVOCATION_PARAMETERS,
            S(r#"{"service_tier": "flex", "service_tier": "priority"}"#),
        )]);
        assert_eq!(context(&s, "cost.").1.get("service_tier"), Some("priority"));
        // A name spelt with an escape is still read; parameters naming none read nothing.
        let s = with(&[(
            k::LLM_INVOCATION_PARAMETERS,
            S(r#"{"\u0073peed": "fast", "inference_geo": "us"}"#),
        )]);
        let ctx = context(&s, "cost.").1;
        assert_eq!(
            (ctx.get("speed"), ctx.get("inference_geo")),
            (Some("fast"), Some("us"))
        );
        for json in [r#"{"temperature": 0.2}"#, "not json", r#"["speed"]"#, ""] {
            let s = with(&[(k::LLM_INVOCATION_PARAMETERS, S(json))]);
            let (e, ctx) = context(&s, "cost.");
            assert_eq!(e.params_at, Some(2), "{json}");
            assert!(ctx.is_empty(), "{json}");
        }
        // Not a string, or absent: nothing.
        let s = with(&[(k::LLM_INVOCATION_PARAMETERS, I(3))]);
        assert!(context(&s, "cost.").1.is_empty());
        let (e, ctx) = context(&with(&[]), "cost.");
        assert_eq!(e.params_at, None);
        assert!(ctx.is_empty());
    }

    /// An image generation call's size and quality (issue 15): read only for a price with image
    /// variants; OpenInference's parameters, then OpenLIT's attributes, then the application's.
    #[test]
    fn image_size_and_quality_are_read_only_for_image_variants_in_rising_precedence() {
        let read = |attrs: &[(&str, Val)], images: bool| {
            let s = span("image", attrs);
            let e = extract(&s, &ExtractOptions::default(), "cost.", |_| None);
            read_context(&s, "cost.", None, e.params_at, e.has_context, images)
        };
        let params = (
            k::LLM_INVOCATION_PARAMETERS,
            S(r#"{"n": 2, "size": "1024x1536", "quality": "low"}"#),
        );
        let ctx = read(std::slice::from_ref(&params), true);
        assert_eq!(
            (ctx.get("image_size"), ctx.get("image_quality")),
            (Some("1024x1536"), Some("low"))
        );
        assert!(
            read(std::slice::from_ref(&params), false).is_empty(),
            "not an image price"
        );
        // OpenLIT's attribute over the parameters, the application's key over both.
        let ctx = read(
            &[
                params,
                ("gen_ai.request.image_quality", S("high")),
                ("cost.context.image_size", S("1024x1024")),
            ],
            true,
        );
        assert_eq!(
            (ctx.get("image_size"), ctx.get("image_quality")),
            (Some("1024x1024"), Some("high"))
        );
    }

    #[test]
    fn application_context_is_looked_for_only_when_extraction_saw_one() {
        let s = span(
            "x",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(1)),
                (k::LLM_INVOCATION_PARAMETERS, S(r#"{"speed": "fast"}"#)),
                ("cost.context.speed", S("turbo")),
                ("cost.context.route", S("eu")),
                ("cost.context.", S("no key")),
                ("cost.context.blank", S(" ")),
            ],
        );
        let (e, ctx) = context(&s, "cost.");
        assert!(e.has_context);
        // The application's value wins over the recorded parameters.
        assert_eq!(
            ctx.values,
            [
                ("speed".into(), "turbo".into()),
                ("route".into(), "eu".into())
            ]
        );
        // Other keys under our prefix (a span written before) are no context.
        let s = span(
            "x",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(1)),
                ("cost.total_usd", D(0.5)),
                (k::LLM_COST_TOTAL, D(0.5)),
                ("context.speed", S("fast")),
            ],
        );
        let (e, ctx) = context(&s, "cost.");
        assert!(e.has_written_keys && !e.has_context);
        assert!(ctx.is_empty());
        // Under another prefix, and under the empty prefix (every key is ours).
        let (e, ctx) = context(&s, "");
        assert!(e.has_context);
        assert_eq!(ctx.get("speed"), Some("fast"));
        let s = span(
            "x",
            &[
                (k::GEN_AI_USAGE_INPUT_TOKENS, I(1)),
                ("my.context.speed", S("fast")),
            ],
        );
        let (e, ctx) = context(&s, "my.");
        assert!(e.has_context);
        assert_eq!(ctx.get("speed"), Some("fast"));
        assert!(!context(&s, "cost.").0.has_context);
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
