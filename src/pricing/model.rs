//! Loaded catalog entries: models, dated prices, rate sets, tiers, and the cost arithmetic.

use std::fmt;
use std::sync::Arc;

use crate::money::{Rate, Usd};
use crate::pricing::units::Unit;

/// A calendar day (UTC), the unit of `effective_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// Unix seconds at 00:00 UTC of this day.
    pub fn unix_seconds(self) -> i64 {
        self.0.midnight().assume_utc().unix_timestamp()
    }

    /// The UTC day containing a Unix time.
    pub fn from_unix_seconds(secs: i64) -> Option<Date> {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .map(|t| Date(t.date()))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = (self.0.year(), self.0.month() as u8, self.0.day());
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// `YYYY-MM-DD`.
impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Date, String> {
        parse_date(s)
    }
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Result<Date, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt)
        .map(Date)
        .map_err(|e| format!("not a YYYY-MM-DD date ({e})"))
}

/// A service tier that changes the rates (OpenAI `service_tier`, Anthropic/Google batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceTier {
    /// Batch APIs (usually half price).
    Batch,
    /// OpenAI flex processing.
    Flex,
    /// Priority processing.
    Priority,
}

impl ServiceTier {
    /// Parses a service tier name as spans and configs carry it. Standard names
    /// (`default`, `auto`, `standard`, `scale`, empty) are `None` here.
    pub fn parse(s: &str) -> Option<ServiceTier> {
        match s.trim().to_ascii_lowercase().as_str() {
            "batch" | "batches" => Some(ServiceTier::Batch),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            _ => None,
        }
    }

    /// The tier's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Batch => "batch",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }
}

impl fmt::Display for ServiceTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Usage of one LLM call, normalised (DESIGN §3): input includes cache, output includes
/// reasoning, whatever the emitter's convention was.
///
/// Any unit of the vocabulary ([`Unit`], [`crate::pricing::units`]) is carried exactly: the token
/// counts every call has are inline fields; any other unit (web searches, image tokens, audio
/// seconds ...) is in [`Usage::other`], which allocates only when a span carries one. Counts are
/// inclusive by ancestry: a unit's count is part of each of its ancestors' ([`Unit::contains`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
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
    /// Every other unit the call carries ([`Usage::set`], [`Usage::get`]).
    pub other: OtherUnits,
}

/// The units of a [`Usage`] beyond its inline token counts: `(unit, count)` sorted by unit, each
/// once, no zero. `None` (no allocation) for the common token-only call; a boxed slice (two
/// words) otherwise, rebuilt on each change (a span sets a few units, once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OtherUnits(Option<Box<[(Unit, u64)]>>);

impl OtherUnits {
    fn get(&self, unit: Unit) -> u64 {
        self.0.as_deref().map_or(0, |v| {
            v.binary_search_by_key(&unit, |(u, _)| *u)
                .map_or(0, |i| v[i].1)
        })
    }

    fn set(&mut self, unit: Unit, n: u64) {
        let mut v: Vec<(Unit, u64)> = self.0.take().map(Vec::from).unwrap_or_default();
        match (v.binary_search_by_key(&unit, |(u, _)| *u), n) {
            (Ok(i), 0) => {
                v.remove(i);
            }
            (Ok(i), n) => v[i].1 = n,
            (Err(_), 0) => {}
            (Err(i), n) => v.insert(i, (unit, n)),
        }
        self.0 = (!v.is_empty()).then(|| v.into_boxed_slice());
    }

    /// `(unit, count)`, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Unit, u64)> + '_ {
        self.0.iter().flat_map(|v| v.iter().copied())
    }

    /// `true` when the call carries no unit beyond the inline token counts.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl Usage {
    /// The inline field holding `unit`, if it has one.
    fn inline_mut(&mut self, unit: Unit) -> Option<&mut u64> {
        Some(match unit {
            Unit::INPUT_TOKENS => &mut self.input_total,
            Unit::OUTPUT_TOKENS => &mut self.output_total,
            Unit::CACHE_READ_TOKENS => &mut self.cache_read,
            Unit::CACHE_WRITE_5M_TOKENS => &mut self.cache_write_5m,
            Unit::CACHE_WRITE_1H_TOKENS => &mut self.cache_write_1h,
            Unit::OUTPUT_REASONING_TOKENS => &mut self.reasoning,
            Unit::INPUT_AUDIO_TOKENS => &mut self.audio_in,
            Unit::OUTPUT_AUDIO_TOKENS => &mut self.audio_out,
            _ => return None,
        })
    }

    /// The count of `unit` (0 when the call does not carry it). `cache_write_tokens` is the sum
    /// of the two TTLs.
    pub fn get(&self, unit: Unit) -> u64 {
        match unit {
            Unit::INPUT_TOKENS => self.input_total,
            Unit::OUTPUT_TOKENS => self.output_total,
            Unit::CACHE_READ_TOKENS => self.cache_read,
            Unit::CACHE_WRITE_TOKENS => self.cache_write_5m.saturating_add(self.cache_write_1h),
            Unit::CACHE_WRITE_5M_TOKENS => self.cache_write_5m,
            Unit::CACHE_WRITE_1H_TOKENS => self.cache_write_1h,
            Unit::OUTPUT_REASONING_TOKENS => self.reasoning,
            Unit::INPUT_AUDIO_TOKENS => self.audio_in,
            Unit::OUTPUT_AUDIO_TOKENS => self.audio_out,
            _ => self.other.get(unit),
        }
    }

    /// Sets the count of `unit`. `cache_write_tokens` without a TTL split is a 5 minute write
    /// (what a total alone is billed as), keeping a 1 hour count already set.
    pub fn set(&mut self, unit: Unit, n: u64) {
        if unit == Unit::CACHE_WRITE_TOKENS {
            self.cache_write_5m = n.saturating_sub(self.cache_write_1h);
            return;
        }
        match self.inline_mut(unit) {
            Some(f) => *f = n,
            None => self.other.set(unit, n),
        }
    }

    /// Every unit with a non-zero count, `(unit, count)`: the inline token counts, then the
    /// others in table order. `cache_write_tokens` is not listed (its TTL parts are).
    pub fn units(&self) -> impl Iterator<Item = (Unit, u64)> + '_ {
        [
            (Unit::INPUT_TOKENS, self.input_total),
            (Unit::CACHE_READ_TOKENS, self.cache_read),
            (Unit::CACHE_WRITE_5M_TOKENS, self.cache_write_5m),
            (Unit::CACHE_WRITE_1H_TOKENS, self.cache_write_1h),
            (Unit::INPUT_AUDIO_TOKENS, self.audio_in),
            (Unit::OUTPUT_TOKENS, self.output_total),
            (Unit::OUTPUT_REASONING_TOKENS, self.reasoning),
            (Unit::OUTPUT_AUDIO_TOKENS, self.audio_out),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .chain(self.other.iter())
    }

    /// Checks the counts against containment: no unit may count more than a unit containing it
    /// (more cache reads than input, more image tokens than input, more `cache_audio_read_tokens`
    /// than `cache_read_tokens` ...). The error names both units. Extraction decides first
    /// whether an emitter's totals leave parts out (DESIGN §3) and adds them back.
    pub fn check_containment(&self) -> Result<(), String> {
        if self.other.is_empty() {
            // The inline counts: the parts of the input and of the output total.
            let cached = self.get(Unit::CACHE_WRITE_TOKENS);
            let pairs = [
                (
                    Unit::CACHE_READ_TOKENS,
                    self.cache_read,
                    Unit::INPUT_TOKENS,
                    self.input_total,
                ),
                (
                    Unit::CACHE_WRITE_TOKENS,
                    cached,
                    Unit::INPUT_TOKENS,
                    self.input_total,
                ),
                (
                    Unit::INPUT_AUDIO_TOKENS,
                    self.audio_in,
                    Unit::INPUT_TOKENS,
                    self.input_total,
                ),
                (
                    Unit::OUTPUT_REASONING_TOKENS,
                    self.reasoning,
                    Unit::OUTPUT_TOKENS,
                    self.output_total,
                ),
                (
                    Unit::OUTPUT_AUDIO_TOKENS,
                    self.audio_out,
                    Unit::OUTPUT_TOKENS,
                    self.output_total,
                ),
            ];
            return match pairs.iter().find(|(_, n, _, whole)| n > whole) {
                Some((u, n, w, whole)) => Err(too_many(*u, *n, *w, *whole)),
                None => Ok(()),
            };
        }
        let all: Vec<(Unit, u64)> = Unit::all()
            .map(|u| (u, self.get(u)))
            .filter(|(_, n)| *n > 0)
            .collect();
        for &(u, n) in &all {
            for a in Unit::all().filter(|a| a.contains(u)) {
                let whole = self.get(a);
                // A count whole that is not carried is not reported, not zero: transcription
                // seconds (`input_audio_seconds`) without the direction-less `audio_seconds`,
                // annotated pages without the page total. Token wholes are always read.
                if whole == 0 && a.def().family != crate::pricing::units::Family::Tokens {
                    continue;
                }
                if n > whole {
                    return Err(too_many(u, n, a, whole));
                }
            }
        }
        Ok(())
    }
}

#[cold]
fn too_many(part: Unit, n: u64, whole: Unit, of: u64) -> String {
    format!("{part} ({n}) is more than {whole} ({of}), which contains it")
}

/// Per-token rates of one price (USD per million tokens, exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    /// Uncached text input.
    pub input: Rate,
    /// Text output (and reasoning when `reasoning` is absent).
    pub output: Rate,
    /// Cache reads; absent: billed at `input`.
    pub cache_read: Option<Rate>,
    /// Cache writes with the default (5 minute) TTL; absent: billed at `input`.
    pub cache_write_5m: Option<Rate>,
    /// Cache writes with a 1 hour TTL; absent: billed at `cache_write_5m`.
    pub cache_write_1h: Option<Rate>,
    /// Reasoning output; absent: billed at `output`.
    pub reasoning: Option<Rate>,
    /// Audio input; absent: billed at `input`.
    pub audio_input: Option<Rate>,
    /// Audio output; absent: billed at `output`.
    pub audio_output: Option<Rate>,
    /// Prices of the other units of the vocabulary (web searches, image tokens, audio seconds
    /// ...), each in USD per the unit's price quantity ([`Family::per`]: per million tokens, per
    /// thousand searches, per hour of audio ...), sorted by unit, each once. A token unit without
    /// a price is billed inside the nearest unit containing it that has one (image input tokens
    /// at `input`); a unit of another family without one is not billed
    /// (`CostBreakdown::unpriced` counts it).
    ///
    /// [`Family::per`]: crate::pricing::units::Family::per
    pub other: Vec<(Unit, Usd)>,
    /// `true`: no token price at all (an operation beyond chat priced by its units alone:
    /// images, audio seconds, characters, rerank searches, pages). `input` and `output` are
    /// then zero and never billed: a call's tokens are not billed and are named unpriced
    /// ([`CostBreakdown::unpriced`], [`Price::unpriced_units`]), never a silent $0.
    pub no_token_price: bool,
}

impl Rates {
    /// The price of a unit of [`Rates::other`] (USD per its price quantity), if set.
    pub fn other(&self, unit: Unit) -> Option<Usd> {
        self.other
            .binary_search_by_key(&unit, |(u, _)| *u)
            .ok()
            .map(|i| self.other[i].1)
    }

    /// `true` when the rates hold a per-request fee.
    pub fn has_request_fee(&self) -> bool {
        // `other` is sorted by unit: the walk ends at the first unit after `requests` (for most
        // rate sets with units, the first one: web searches ...), before any search would.
        self.other
            .iter()
            .take_while(|(u, _)| *u <= Unit::REQUESTS)
            .any(|(u, _)| *u == Unit::REQUESTS)
    }

    /// `true` for the units with a rate field of their own (`input`, `cache_read` ...), and for
    /// `cache_write_tokens` (priced by its two TTLs): never in [`Rates::other`].
    pub fn has_field(unit: Unit) -> bool {
        unit == Unit::CACHE_WRITE_TOKENS || Rates::ZERO_FOR_FIELDS.inline(unit).is_some()
    }

    /// Rates with every field zero: only [`Rates::has_field`] uses it.
    const ZERO_FOR_FIELDS: Rates = Rates {
        input: Rate::ZERO,
        output: Rate::ZERO,
        cache_read: None,
        cache_write_5m: None,
        cache_write_1h: None,
        reasoning: None,
        audio_input: None,
        audio_output: None,
        other: Vec::new(),
        no_token_price: false,
    };

    /// The rate of an inline unit after fallbacks; `None` for other units.
    fn inline(&self, unit: Unit) -> Option<Rate> {
        Some(match unit {
            Unit::INPUT_TOKENS => self.input,
            Unit::OUTPUT_TOKENS => self.output,
            Unit::CACHE_READ_TOKENS => self.cache_read(),
            Unit::CACHE_WRITE_5M_TOKENS => self.cache_write_5m(),
            Unit::CACHE_WRITE_1H_TOKENS => self.cache_write_1h(),
            Unit::OUTPUT_REASONING_TOKENS => self.reasoning(),
            Unit::INPUT_AUDIO_TOKENS => self.audio_input(),
            Unit::OUTPUT_AUDIO_TOKENS => self.audio_output(),
            _ => return None,
        })
    }

    /// Rate for cache reads, after fallbacks.
    pub fn cache_read(&self) -> Rate {
        self.cache_read.unwrap_or(self.input)
    }
    /// Rate for 5-minute cache writes, after fallbacks.
    pub fn cache_write_5m(&self) -> Rate {
        self.cache_write_5m.unwrap_or(self.input)
    }
    /// Rate for 1-hour cache writes, after fallbacks.
    pub fn cache_write_1h(&self) -> Rate {
        self.cache_write_1h.unwrap_or_else(|| self.cache_write_5m())
    }
    /// Rate for reasoning tokens, after fallbacks.
    pub fn reasoning(&self) -> Rate {
        self.reasoning.unwrap_or(self.output)
    }
    /// Rate for audio input tokens, after fallbacks.
    pub fn audio_input(&self) -> Rate {
        self.audio_input.unwrap_or(self.input)
    }
    /// Rate for audio output tokens, after fallbacks.
    pub fn audio_output(&self) -> Rate {
        self.audio_output.unwrap_or(self.output)
    }

    /// All explicitly set rates, for validation and display.
    pub fn fields(&self) -> [(&'static str, Option<Rate>); 8] {
        [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
            ("audio_input", self.audio_input),
            ("audio_output", self.audio_output),
        ]
    }
}

/// A long-context cliff: when total input tokens exceed `above_input_tokens`, *all* tokens of the
/// call are priced at `rates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Threshold on total input tokens (cache included); the tier applies strictly above it.
    pub above_input_tokens: u64,
    /// Rates in force above the threshold.
    pub rates: Rates,
}

/// Base rates with their long-context tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateSet {
    /// Rates below the first tier.
    pub rates: Rates,
    /// Tiers, ascending by threshold.
    pub tiers: Vec<Tier>,
}

impl RateSet {
    /// The rates for a call with `input_total` input tokens, and the tier threshold that applied.
    pub fn select(&self, input_total: u64) -> (&Rates, Option<u64>) {
        match self
            .tiers
            .iter()
            .rev()
            .find(|t| input_total > t.above_input_tokens)
        {
            Some(t) => (&t.rates, Some(t.above_input_tokens)),
            None => (&self.rates, None),
        }
    }
}

/// A `'static` copy of a catalog string (model id, price date, source), made by
/// [`crate::span_view::intern`] the first time the entry prices a span, so that the attribute
/// written on every priced span holds no reference count (none to bump, none to drop). `None`
/// inside: the intern table is full (the reference-counted string is written instead).
/// A cache, not part of the value: every `Interned` compares equal.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interned(std::sync::OnceLock<Option<&'static str>>);

impl Interned {
    /// The interned copy of `s` (always the same `s` for one `Interned`).
    #[inline]
    pub(crate) fn get(&self, s: &str) -> Option<&'static str> {
        *self.0.get_or_init(|| crate::span_view::intern(s))
    }
}

impl PartialEq for Interned {
    fn eq(&self, _: &Interned) -> bool {
        true
    }
}

impl Eq for Interned {}

/// One dated price of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// First day (UTC) this price is in force; `None`: from the start, no earlier price known.
    pub effective_from: Option<Date>,
    /// `effective_from` as Unix seconds (`i64::MIN` when undated), for the hot path.
    pub(crate) from_secs: i64,
    /// `effective_from` as written to spans: `YYYY-MM-DD`, or `initial` when undated.
    pub(crate) effective_from_label: Arc<str>,
    /// Where the price comes from (`litellm`, `genai-prices`, `override:<file>` ...).
    pub source: Arc<str>,
    /// `effective_from_label`, interned on first use.
    pub(crate) effective_from_static: Interned,
    /// `source`, interned on first use.
    pub(crate) source_static: Interned,
    /// Standard processing.
    pub standard: RateSet,
    /// Batch / flex / priority variants.
    pub service_tiers: Vec<(ServiceTier, RateSet)>,
    /// Other price variants, chosen by the call's [`PriceContext`] (`speed: fast`, OpenAI
    /// `service_tier: fast`, `route: mistral/eu` ...): the first whose every pair the context
    /// holds wins (genai-prices' order). Empty for most models.
    pub variants: Vec<PriceVariant>,
    /// Time-of-day prices (UTC): in force while the call's start time falls in the window.
    pub windows: Vec<PriceWindow>,
}

/// A price variant: a full rate set selected by request context values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceVariant {
    /// `(key, value)` pairs, all of which the context must hold (exact match).
    pub when: Vec<(String, String)>,
    /// Its name in `cost.pricing.tier`: `key=value` pairs joined by `,` (`speed=fast`).
    pub label: Arc<str>,
    /// Its full rate set (units it does not price at the standard rates).
    pub set: RateSet,
}

/// A daily window (UTC) with a price of its own (DeepSeek's off-peak/peak hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceWindow {
    /// Start, seconds after 00:00 UTC (included).
    pub start: u32,
    /// End, seconds after 00:00 UTC (excluded); at or before `start`: wraps midnight.
    pub end: u32,
    /// Its name in `cost.pricing.tier`: `utc=HH:MM-HH:MM`.
    pub label: Arc<str>,
    /// Its full rate set.
    pub set: RateSet,
}

impl PriceWindow {
    /// `true` when `secs` (after 00:00 UTC) falls in the window.
    pub fn contains(&self, secs: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&secs)
        } else {
            secs >= self.start || secs < self.end
        }
    }
}

/// What a call's price depends on beyond its model, usage and date: request context values as
/// spans, the application or the CLI give them (`service_tier`, `speed`, `processing`, `route`,
/// `inference_geo` ...). The default (empty) context is standard pricing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceContext {
    /// The batch / flex / priority tier (from `service_tier` or `processing`).
    pub service_tier: Option<ServiceTier>,
    /// Every `(key, value)` given, in order (a later value of a key replaces an earlier one).
    /// Empty (no allocation) for the common call.
    pub values: Vec<(String, String)>,
}

impl PriceContext {
    /// The context keys a price variant may select on: those spans, the catalog's sources and
    /// `price --context` give (`speed` fast mode, `service_tier` / `processing` batch, flex,
    /// priority, `route` a host's regional route, `search_type` a search tool's mode,
    /// `inference_geo` / `region` where the call ran). A hand-written price (an overrides
    /// file) naming another key is refused: a misspelt key would never match a call.
    pub const KEYS: [&'static str; 7] = [
        "speed",
        "service_tier",
        "processing",
        "route",
        "search_type",
        "inference_geo",
        "region",
    ];

    /// A context holding only a service tier (what spans carried before issue 15).
    pub fn tier(service_tier: Option<ServiceTier>) -> PriceContext {
        PriceContext {
            service_tier,
            values: Vec::new(),
        }
    }

    /// Sets `key` to `value` (trimmed); `service_tier` and `processing` also set
    /// [`PriceContext::service_tier`] when they name batch, flex or priority.
    pub fn set(&mut self, key: &str, value: &str) {
        let (key, value) = (key.trim(), value.trim());
        if matches!(key, "service_tier" | "processing") {
            if let Some(t) = ServiceTier::parse(value) {
                self.service_tier = Some(t);
            }
        }
        match self.values.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.values.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `true` when nothing selects a price beyond the standard one.
    pub fn is_empty(&self) -> bool {
        self.service_tier.is_none() && self.values.is_empty()
    }
}

/// Cost of one call, by component. All exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostBreakdown {
    /// Uncached text input (and input tokens of no other component: tool-use prompt, video
    /// without a rate of its own ...).
    pub input: Usd,
    /// Cache reads.
    pub cache_read: Usd,
    /// Cache writes (5 minute and 1 hour).
    pub cache_write: Usd,
    /// Audio input.
    pub audio_input: Usd,
    /// Text output (reasoning excluded).
    pub output: Usd,
    /// Reasoning output.
    pub reasoning: Usd,
    /// Audio output.
    pub audio_output: Usd,
    /// Charges beyond the token components above; `None` (no allocation) for a call billed by
    /// tokens alone, the common case.
    pub beyond: Option<Box<Beyond>>,
}

/// The charges of a call beyond its token components (issue 15).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beyond {
    /// Image and video input tokens at rates of their own (part of the input side).
    pub media_input: Usd,
    /// Image and video output tokens at rates of their own (part of the output side).
    pub media_output: Usd,
    /// Server-side tool calls: web searches and fetches, file (storage) searches, code
    /// executions.
    pub tool_calls: Usd,
    /// Every other unit billed per count: requests, characters, audio seconds, images
    /// generated, pixels, document pages, rerank searches, messages.
    pub per_unit: Usd,
    /// How many units the call carried that its price has no rate for (counts of other families
    /// than tokens: a web search on a model without a search price). Not money: a flag that the
    /// cost may be short.
    pub unpriced: u32,
}

/// Which [`CostBreakdown`] component a unit's cost goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Input,
    CacheRead,
    CacheWrite,
    AudioInput,
    MediaInput,
    Output,
    Reasoning,
    AudioOutput,
    MediaOutput,
    ToolCalls,
    PerUnit,
}

fn component(unit: Unit) -> Component {
    use crate::pricing::units::{Direction, Family, Modality, TokenType};
    let d = unit.def();
    match (d.family, d.direction) {
        (Family::Tokens, Some(Direction::Out)) => match (d.token_type, d.modality) {
            (Some(TokenType::Reasoning), _) => Component::Reasoning,
            (_, Some(Modality::Audio)) => Component::AudioOutput,
            (_, Some(Modality::Image | Modality::Video)) => Component::MediaOutput,
            _ => Component::Output,
        },
        (Family::Tokens, _) => match (d.token_type, d.modality) {
            (Some(TokenType::CacheRead), _) => Component::CacheRead,
            (Some(TokenType::CacheWrite), _) => Component::CacheWrite,
            (_, Some(Modality::Audio)) => Component::AudioInput,
            (_, Some(Modality::Image | Modality::Video)) => Component::MediaInput,
            _ => Component::Input,
        },
        (Family::ToolCalls, _) => Component::ToolCalls,
        _ => Component::PerUnit,
    }
}

impl CostBreakdown {
    /// Everything billed on the input side.
    #[inline]
    pub fn prompt(&self) -> Usd {
        self.sides().0
    }
    /// Everything billed on the output side.
    #[inline]
    pub fn completion(&self) -> Usd {
        self.sides().1
    }
    /// Charges of neither side: tool calls and units billed per count.
    pub fn non_token(&self) -> Usd {
        self.beyond
            .as_ref()
            .map_or(Usd::ZERO, |b| b.tool_calls + b.per_unit)
    }
    /// The call's cost: every charge.
    #[inline]
    pub fn total(&self) -> Usd {
        self.sides().2
    }
    /// [`prompt`](Self::prompt), [`completion`](Self::completion) and [`total`](Self::total),
    /// each part added once (a writer or roll-up that needs all three sums the parts once, not
    /// four times); the one definition of the three.
    #[inline]
    pub fn sides(&self) -> (Usd, Usd, Usd) {
        let prompt = self.input + self.cache_read + self.cache_write + self.audio_input;
        let completion = self.output + self.reasoning + self.audio_output;
        match self.beyond.as_deref() {
            None => (prompt, completion, prompt + completion),
            Some(b) => {
                let (prompt, completion) = (prompt + b.media_input, completion + b.media_output);
                (prompt, completion, prompt + completion + self.non_token())
            }
        }
    }
    /// The token components in field order: input, cache read, cache write, audio input,
    /// output, reasoning, audio output.
    #[inline(always)]
    pub fn token_parts(&self) -> [Usd; 7] {
        [
            self.input,
            self.cache_read,
            self.cache_write,
            self.audio_input,
            self.output,
            self.reasoning,
            self.audio_output,
        ]
    }
    /// The charges beyond the token components (zero for a call billed by tokens alone).
    pub fn beyond(&self) -> Beyond {
        self.beyond.as_deref().cloned().unwrap_or_default()
    }

    fn add(&mut self, c: Component, v: Usd) {
        let b = || Box::<Beyond>::default();
        let slot = match c {
            Component::Input => &mut self.input,
            Component::CacheRead => &mut self.cache_read,
            Component::CacheWrite => &mut self.cache_write,
            Component::AudioInput => &mut self.audio_input,
            Component::Output => &mut self.output,
            Component::Reasoning => &mut self.reasoning,
            Component::AudioOutput => &mut self.audio_output,
            Component::MediaInput => &mut self.beyond.get_or_insert_with(b).media_input,
            Component::MediaOutput => &mut self.beyond.get_or_insert_with(b).media_output,
            Component::ToolCalls => &mut self.beyond.get_or_insert_with(b).tool_calls,
            Component::PerUnit => &mut self.beyond.get_or_insert_with(b).per_unit,
        };
        *slot += v;
    }

    fn unpriced(&mut self) {
        let b = self.beyond.get_or_insert_with(Box::default);
        b.unpriced = b.unpriced.saturating_add(1);
    }
}

impl std::ops::AddAssign for CostBreakdown {
    fn add_assign(&mut self, o: CostBreakdown) {
        *self += &o;
    }
}

impl std::ops::AddAssign<&CostBreakdown> for CostBreakdown {
    #[inline]
    fn add_assign(&mut self, o: &CostBreakdown) {
        self.input += o.input;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.audio_input += o.audio_input;
        self.output += o.output;
        self.reasoning += o.reasoning;
        self.audio_output += o.audio_output;
        if let Some(ob) = &o.beyond {
            let b = self.beyond.get_or_insert_with(Box::default);
            b.media_input += ob.media_input;
            b.media_output += ob.media_output;
            b.tool_calls += ob.tool_calls;
            b.per_unit += ob.per_unit;
            b.unpriced = b.unpriced.saturating_add(ob.unpriced);
        }
    }
}

/// What applied beyond the standard base rates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedTier {
    /// The service tier whose rates were used (`None`: standard, or not in the catalog).
    pub service_tier: Option<ServiceTier>,
    /// The price variant ([`PriceVariant::label`], `speed=fast`) or time-of-day window
    /// ([`PriceWindow::label`], `utc=01:00-04:00`) whose rates were used, if any.
    pub variant: Option<Arc<str>>,
    /// The long-context threshold crossed, if any.
    pub above_input_tokens: Option<u64>,
}

impl AppliedTier {
    /// `None` when nothing but standard base rates applied; else e.g. `batch`,
    /// `input>200000`, `batch,input>200000`, `speed=fast`, `utc=01:00-04:00,input>200000`.
    #[inline]
    pub fn label(&self) -> Option<String> {
        if self.service_tier.is_none()
            && self.variant.is_none()
            && self.above_input_tokens.is_none()
        {
            // Standard base rates (almost every call): no label, nothing allocated.
            return None;
        }
        self.named_label()
    }

    #[cold]
    #[inline(never)]
    fn named_label(&self) -> Option<String> {
        let named = self
            .service_tier
            .map(|s| s.as_str())
            .or(self.variant.as_deref());
        match (named, self.above_input_tokens) {
            (None, None) => None,
            (Some(s), None) => Some(s.to_owned()),
            (None, Some(t)) => Some(format!("input>{t}")),
            (Some(s), Some(t)) => Some(format!("{s},input>{t}")),
        }
    }
}

impl Price {
    /// Prices `usage` at this price. Components never go negative: inconsistent usage (more
    /// cache than input, say) prices the parts that are there.
    pub fn cost(
        &self,
        usage: &Usage,
        service_tier: Option<ServiceTier>,
    ) -> (CostBreakdown, AppliedTier) {
        self.cost_in(usage, &PriceContext::tier(service_tier), i64::MIN)
    }

    /// The rate set a call in `ctx` starting at `at_unix_seconds` is priced by, and what
    /// chose it. In order: the first [`PriceVariant`] whose pairs `ctx` all holds; the
    /// context's service tier, if this price has it; the time-of-day window the start falls
    /// in; the standard rates. A context value no variant names prices at the next of these
    /// (the standard price when nothing else applies): never an error.
    #[inline]
    pub fn select(
        &self,
        ctx: &PriceContext,
        at_unix_seconds: i64,
    ) -> (&RateSet, Option<ServiceTier>, Option<Arc<str>>) {
        // No context and no time-of-day window (almost every call): the standard rates, here
        // inline; the rest out of line.
        if ctx.is_empty() && self.windows.is_empty() {
            return (&self.standard, None, None);
        }
        self.select_in(ctx, at_unix_seconds)
    }

    /// [`Price::select`] for a call with some context, or a price with time-of-day windows.
    #[inline(never)]
    fn select_in(
        &self,
        ctx: &PriceContext,
        at_unix_seconds: i64,
    ) -> (&RateSet, Option<ServiceTier>, Option<Arc<str>>) {
        if !ctx.values.is_empty() {
            let holds = |v: &&PriceVariant| {
                v.when
                    .iter()
                    .all(|(k, val)| ctx.get(k) == Some(val.as_str()))
            };
            if let Some(v) = self.variants.iter().find(holds) {
                return (&v.set, None, Some(v.label.clone()));
            }
        }
        if let Some((t, set)) = ctx
            .service_tier
            .and_then(|t| self.service_tiers.iter().find(|(s, _)| *s == t))
        {
            return (set, Some(*t), None);
        }
        if !self.windows.is_empty() && at_unix_seconds != i64::MIN {
            let secs = u32::try_from(at_unix_seconds.rem_euclid(86_400)).unwrap_or(0);
            if let Some(w) = self.windows.iter().find(|w| w.contains(secs)) {
                return (&w.set, None, Some(w.label.clone()));
            }
        }
        (&self.standard, None, None)
    }

    /// Prices `usage` for a call in context `ctx` starting at `at_unix_seconds`
    /// ([`Price::select`] picks the rate set; `i64::MIN`: no start time, no window applies).
    pub fn cost_in(
        &self,
        usage: &Usage,
        ctx: &PriceContext,
        at_unix_seconds: i64,
    ) -> (CostBreakdown, AppliedTier) {
        let (set, applied_service, variant) = self.select(ctx, at_unix_seconds);
        let (r, above) = set.select(usage.input_total);
        // A price with a per-request fee bills one request per call (genai-prices: supplied by
        // the pricer, never by usage) unless the usage says how many.
        let applied = AppliedTier {
            service_tier: applied_service,
            variant,
            above_input_tokens: above,
        };
        // Each branch builds the cost in the returned pair (no copy through a local).
        if usage.other.is_empty()
            && (r.other.is_empty() || !r.has_request_fee())
            && !r.no_token_price
        {
            (token_cost(r, usage), applied)
        } else {
            (bucket_cost(r, usage), applied)
        }
    }
}

impl Price {
    /// What a call in `ctx` at `at_unix_seconds` carries that the rate set applied has no
    /// price for (`input_tokens=1200` on a model with no token price, `output_images=2` when
    /// no size or quality picked a per-image price): what [`CostBreakdown::unpriced`] counts,
    /// named. Empty when everything is priced.
    pub fn unpriced_units(
        &self,
        usage: &Usage,
        ctx: &PriceContext,
        at_unix_seconds: i64,
    ) -> Vec<String> {
        let (set, _, _) = self.select(ctx, at_unix_seconds);
        let (r, _) = set.select(usage.input_total);
        let mut out = Vec::new();
        if r.no_token_price {
            for (u, n) in [
                (Unit::INPUT_TOKENS, usage.input_total),
                (Unit::OUTPUT_TOKENS, usage.output_total),
            ] {
                if n > 0 {
                    out.push(format!("{u}={n}"));
                }
            }
        }
        for (u, n) in usage.other.iter() {
            if r.other(u).is_none() && u.part_of().is_none() {
                out.push(format!("{u}={n}"));
            }
        }
        out
    }
}

/// The cost of a call carrying only the inline token counts: [`bucket_cost`] written out for
/// them (a test checks the two agree), the hot path of almost every span.
#[inline]
fn token_cost(r: &Rates, usage: &Usage) -> CostBreakdown {
    let cached = usage
        .cache_read
        .saturating_add(usage.cache_write_5m)
        .saturating_add(usage.cache_write_1h);
    let text_in = usage
        .input_total
        .saturating_sub(cached)
        .saturating_sub(usage.audio_in);
    let text_out = usage
        .output_total
        .saturating_sub(usage.reasoning)
        .saturating_sub(usage.audio_out);
    CostBreakdown {
        input: r.input.cost(text_in),
        cache_read: r.cache_read().cost(usage.cache_read),
        cache_write: r.cache_write_5m().cost(usage.cache_write_5m)
            + r.cache_write_1h().cost(usage.cache_write_1h),
        audio_input: r.audio_input().cost(usage.audio_in),
        output: r.output.cost(text_out),
        reasoning: r.reasoning().cost(usage.reasoning),
        audio_output: r.audio_output().cost(usage.audio_out),
        beyond: None,
    }
}

/// The cost of any usage, by exclusive buckets (genai-prices' rule): every unit with a rate is a
/// bucket, and so is every unit the call carries inside two buckets neither of which contains
/// the other (an audio cache read, inside the cache reads and the audio input: billed at the
/// rate of the one with a token type, the cache read, unless it has its own). From the most
/// specific bucket to the least, `leaf(U) = count(U) - sum of leaf(V)` over the buckets V inside
/// U, never below 0 (inconsistent usage prices the parts that are there); cost = sum of
/// `leaf(U) x rate(U)`. A token count in no bucket of its own stays in the nearest one containing
/// it; a count of another family without a rate is [`CostBreakdown::unpriced`].
#[cold]
#[inline(never)]
fn bucket_cost(r: &Rates, usage: &Usage) -> CostBreakdown {
    let mut out = CostBreakdown::default();
    // (unit, rate, count): the inline units always (their rates have fallbacks), then the units
    // the call carries.
    let mut buckets: Vec<(Unit, Usd, u64)> = [
        Unit::INPUT_TOKENS,
        Unit::CACHE_READ_TOKENS,
        Unit::CACHE_WRITE_5M_TOKENS,
        Unit::CACHE_WRITE_1H_TOKENS,
        Unit::INPUT_AUDIO_TOKENS,
        Unit::OUTPUT_TOKENS,
        Unit::OUTPUT_REASONING_TOKENS,
        Unit::OUTPUT_AUDIO_TOKENS,
    ]
    .into_iter()
    .filter(|_| !r.no_token_price)
    .filter_map(|u| Some((u, r.inline(u)?.per_mtok(), usage.get(u))))
    .collect();
    if r.no_token_price {
        // No token price: the call's tokens are not billed, and said to be (input, output).
        for n in [usage.input_total, usage.output_total] {
            if n > 0 {
                out.unpriced();
            }
        }
    }
    let requests =
        (r.has_request_fee() && usage.get(Unit::REQUESTS) == 0).then_some((Unit::REQUESTS, 1));
    for (u, n) in usage.other.iter().chain(requests) {
        if let Some(price) = r.other(u) {
            buckets.push((u, price, n));
            continue;
        }
        if u.part_of().is_none() {
            out.unpriced();
            continue;
        }
        // A join of two buckets neither of which contains the other: a bucket at the rate of
        // the one with a token type (or the first).
        let within: Vec<(Unit, Usd)> = buckets
            .iter()
            .filter(|(b, _, _)| b.contains(u))
            .map(|(b, rate, _)| (*b, *rate))
            .collect();
        // The smallest buckets containing it; two or more: it is their join.
        let smallest: Vec<&(Unit, Usd)> = within
            .iter()
            .filter(|(b, _)| !within.iter().any(|(c, _)| b.contains(*c)))
            .collect();
        if smallest.len() >= 2 {
            let pick = smallest
                .iter()
                .find(|(b, _)| b.def().token_type.is_some())
                .unwrap_or(&smallest[0]);
            buckets.push((u, pick.1, n));
        }
    }
    // Most specific first: a bucket's descendants have strictly more dimensions.
    let dims = |u: Unit| {
        let d = u.def();
        [
            d.direction.is_some(),
            d.modality.is_some(),
            d.token_type.is_some(),
            d.cache_ttl.is_some(),
            d.kind.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    };
    buckets.sort_by_key(|(u, _, _)| std::cmp::Reverse(dims(*u)));
    let mut leaves: Vec<(Unit, u64)> = Vec::with_capacity(buckets.len());
    for (u, price, n) in &buckets {
        let inside: u64 = leaves
            .iter()
            .filter(|(v, _)| u.contains(*v))
            .fold(0u64, |a, (_, l)| a.saturating_add(*l));
        let leaf = n.saturating_sub(inside);
        leaves.push((*u, leaf));
        out.add(component(*u), cost_per(*price, u.def().family.per(), leaf));
    }
    out
}

/// `n` units at `price` USD per `per` units: exact when `per` divides `n x price` (always for
/// catalog prices of tokens, searches, pages ...: at most 9 decimals per power of ten); else
/// rounded half-even to a femto-dollar, once per call (audio priced per hour, billed by the
/// second).
fn cost_per(price: Usd, per: u64, n: u64) -> Usd {
    let per = u128::from(per.max(1));
    let x = u128::from(n).saturating_mul(price.femto());
    let (q, r) = (x / per, x % per);
    let up = r * 2 > per || (r * 2 == per && q % 2 == 1);
    Usd::from_femto(q + u128::from(up))
}

/// A match rule from the catalog (lower-cased; compared case-insensitively).
#[derive(Debug, Clone)]
pub(crate) enum MatchRule {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(regex::Regex),
    All(Vec<MatchRule>),
}

impl MatchRule {
    /// `id` must already be lower-case.
    pub(crate) fn matches(&self, id: &str) -> bool {
        match self {
            MatchRule::Equals(s) => id == s,
            MatchRule::StartsWith(s) => id.starts_with(s.as_str()),
            MatchRule::EndsWith(s) => id.ends_with(s.as_str()),
            MatchRule::Contains(s) => id.contains(s.as_str()),
            MatchRule::Regex(r) => r.is_match(id),
            MatchRule::All(v) => v.iter().all(|r| r.matches(id)),
        }
    }
}

/// One model of the catalog.
#[derive(Debug, Clone)]
pub struct Model {
    /// Unique catalog id (`gpt-4o-2024-08-06`, `us.anthropic.claude-…`, `azure/eu/gpt-4o`).
    pub id: Arc<str>,
    /// Canonical provider (`openai`, `aws.bedrock`, `gcp.vertex_ai` …).
    pub provider: Arc<str>,
    /// `id`, interned on first use.
    pub(crate) id_static: Interned,
    /// Display name, when the source gives one.
    pub name: Option<String>,
    /// `chat`, `completion`, `responses` or `embedding`.
    pub mode: String,
    pub(crate) rules: Vec<MatchRule>,
    /// Curation notes (disagreements between the sources ...).
    pub notes: Vec<String>,
    /// Dated prices, ascending.
    pub prices: Vec<Price>,
}

impl Model {
    /// The price in force at `unix_seconds` (the call's start): the last price whose
    /// `effective_from` is not after it; a call before the first known date gets the first price.
    #[inline]
    pub fn price_at(&self, unix_seconds: i64) -> &Price {
        if let [only] = self.prices.as_slice() {
            // One price (most models): in force at any time.
            return only;
        }
        let idx = self.prices.partition_point(|p| p.from_secs <= unix_seconds);
        &self.prices[idx.saturating_sub(1)]
    }

    /// The exact aliases (`equals` rules) of this model, lower-case.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|r| match r {
            MatchRule::Equals(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str) -> Unit {
        Unit::by_id(id).unwrap()
    }

    #[test]
    fn token_counts_stay_inline_and_other_units_go_to_the_side_list() {
        let mut u = Usage::default();
        for (id, n) in [
            ("input_tokens", 8120),
            ("cache_read_tokens", 5000),
            ("cache_write_1h_tokens", 1000),
            ("cache_write_5m_tokens", 2000),
            ("output_tokens", 800),
            ("output_reasoning_tokens", 300),
            ("input_audio_tokens", 7),
            ("output_audio_tokens", 9),
        ] {
            u.set(unit(id), n);
            assert_eq!(u.get(unit(id)), n, "{id}");
        }
        assert!(u.other.is_empty(), "token-only usage allocated a side list");
        assert_eq!(u.input_total, 8120);
        assert_eq!(u.cache_write_1h, 1000);
        assert_eq!(u.get(Unit::CACHE_WRITE_TOKENS), 3000);

        u.set(unit("web_searches"), 3);
        u.set(unit("input_image_tokens"), 500);
        u.set(unit("web_fetches"), 2);
        assert_eq!(u.get(unit("web_searches")), 3);
        assert_eq!(u.get(unit("storage_searches")), 0);
        let other: Vec<(Unit, u64)> = u.other.iter().collect();
        // Sorted by table order, whatever the order they were set in.
        assert_eq!(
            other,
            vec![
                (unit("input_image_tokens"), 500),
                (unit("web_searches"), 3),
                (unit("web_fetches"), 2)
            ]
        );
        u.set(unit("web_searches"), 4);
        assert_eq!(u.get(unit("web_searches")), 4);
        assert_eq!(u.units().count(), 8 + 3);
        // Zero removes; the last removal frees the list.
        for id in ["web_searches", "input_image_tokens", "web_fetches"] {
            u.set(unit(id), 0);
        }
        assert!(u.other.is_empty());
        assert_eq!(u.units().count(), 8);
    }

    #[test]
    fn a_cache_write_total_is_a_5m_write_beside_a_known_1h_write() {
        let mut u = Usage::default();
        u.set(Unit::CACHE_WRITE_1H_TOKENS, 1000);
        u.set(Unit::CACHE_WRITE_TOKENS, 3000);
        assert_eq!((u.cache_write_5m, u.cache_write_1h), (2000, 1000));
        assert!(!u.units().any(|(x, _)| x == Unit::CACHE_WRITE_TOKENS));
    }

    #[test]
    fn containment_is_checked_by_ancestry_naming_both_units() {
        let mut u = Usage {
            input_total: 2600,
            cache_read: 1024,
            output_total: 1200,
            reasoning: 700,
            ..Usage::default()
        };
        assert_eq!(u.check_containment(), Ok(()));
        u.reasoning = 1300;
        assert_eq!(
            u.check_containment(),
            Err("output_reasoning_tokens (1300) is more than output_tokens (1200), which contains it".into())
        );
        u.reasoning = 700;
        // Modality parts (side list) against the input total and against each other.
        u.set(unit("input_image_tokens"), 800);
        u.set(unit("input_video_tokens"), 300);
        assert_eq!(u.check_containment(), Ok(()));
        u.set(unit("input_image_tokens"), 2601);
        assert_eq!(
            u.check_containment(),
            Err(
                "input_image_tokens (2601) is more than input_tokens (2600), which contains it"
                    .into()
            )
        );
        u.set(unit("input_image_tokens"), 800);
        u.set(unit("cache_image_read_tokens"), 900);
        let e = u.check_containment().unwrap_err();
        assert!(
            e.starts_with("cache_image_read_tokens (900) is more than input_image_tokens (800)"),
            "{e}"
        );
        // Counts of other families are contained in no token total.
        u.set(unit("cache_image_read_tokens"), 0);
        u.set(unit("web_searches"), 1_000_000);
        assert_eq!(u.check_containment(), Ok(()));
        // A count whole not carried is not reported: transcription seconds alone, annotated
        // pages alone; carried, it bounds its parts.
        u.set(unit("input_audio_seconds"), 600);
        u.set(unit("input_annotated_document_pages"), 4);
        assert_eq!(u.check_containment(), Ok(()));
        u.set(unit("input_document_pages"), 3);
        assert_eq!(
            u.check_containment(),
            Err("input_annotated_document_pages (4) is more than input_document_pages (3), which contains it".into())
        );
    }

    fn rates(input: &str, output: &str) -> Rates {
        let r = |s: &str| Rate::parse_per_mtok(s).unwrap();
        Rates {
            input: r(input),
            output: r(output),
            ..Rates::ZERO_FOR_FIELDS
        }
    }

    fn usd(s: &str) -> Usd {
        Usd::parse(s).unwrap()
    }

    #[test]
    fn has_request_fee_finds_requests_among_any_units() {
        let units: Vec<Unit> = Unit::all().filter(|u| !Rates::has_field(*u)).collect();
        let mut r = rates("1", "1");
        assert!(!r.has_request_fee());
        for &a in &units {
            for &b in &units {
                let mut other: Vec<(Unit, Usd)> = vec![(a, usd("1")), (b, usd("2"))];
                other.sort_by_key(|(u, _)| *u);
                other.dedup_by_key(|(u, _)| *u);
                r.other = other;
                let searched = r
                    .other
                    .binary_search_by_key(&Unit::REQUESTS, |(u, _)| *u)
                    .is_ok();
                assert_eq!(r.has_request_fee(), searched, "{a} {b}");
            }
        }
    }

    #[test]
    fn buckets_agree_with_the_token_path_on_token_only_usage() {
        let mut r = rates("3", "15");
        r.cache_read = Some(Rate::parse_per_mtok("0.3").unwrap());
        r.cache_write_5m = Some(Rate::parse_per_mtok("3.75").unwrap());
        r.cache_write_1h = Some(Rate::parse_per_mtok("6").unwrap());
        r.audio_input = Some(Rate::parse_per_mtok("7").unwrap());
        r.reasoning = Some(Rate::parse_per_mtok("20").unwrap());
        let values = [0u64, 1, 7, 300, 5_000, 8_120, u64::MAX];
        let mut n = 0;
        for (i, &input) in values.iter().enumerate() {
            for &part in &values[..=i.min(values.len() - 1)] {
                for &out in &values {
                    let u = Usage {
                        input_total: input,
                        cache_read: part,
                        cache_write_5m: part / 2,
                        cache_write_1h: part / 3,
                        audio_in: part / 5,
                        output_total: out,
                        reasoning: out / 3,
                        audio_out: out / 7,
                        ..Usage::default()
                    };
                    assert_eq!(token_cost(&r, &u), bucket_cost(&r, &u), "{u:?}");
                    n += 1;
                }
            }
        }
        assert!(n > 100);
    }

    #[test]
    fn other_units_are_carved_out_of_the_unit_containing_them() {
        let mut r = rates("0.3", "2.5");
        // USD per million image output tokens; per 1,000 web searches; per hour of audio.
        r.other = vec![
            (unit("output_image_tokens"), usd("30")),
            (unit("input_audio_seconds"), usd("0.24")),
            (unit("web_searches"), usd("35")),
        ];
        r.other.sort();
        let mut u = Usage {
            input_total: 100,
            output_total: 1_400,
            ..Usage::default()
        };
        u.set(unit("output_image_tokens"), 1_290);
        u.set(unit("web_searches"), 1);
        u.set(unit("input_audio_seconds"), 600);
        // Units priced elsewhere: image input stays in `input`, a fetch is not billed.
        u.set(unit("input_image_tokens"), 60);
        u.set(unit("web_fetches"), 2);
        let c = bucket_cost(&r, &u);
        assert_eq!(c.input, usd("0.00003")); // 100 x 0.3 / 1e6 (image input included)
        assert_eq!(c.output, usd("0.000275")); // (1400 - 1290) x 2.5 / 1e6
        let b = c.beyond();
        assert_eq!(b.media_output, usd("0.0387")); // 1290 x 30 / 1e6
        assert_eq!(b.tool_calls, usd("0.035")); // 1 x 35 / 1000
        assert_eq!(b.per_unit, usd("0.04")); // 600 s x 0.24 / 3600
        assert_eq!(b.unpriced, 1); // the web fetches
        assert_eq!(c.total(), usd("0.114005"));
        assert_eq!(c.prompt() + c.completion() + c.non_token(), c.total());
    }

    #[test]
    fn an_unpriced_join_is_billed_once_at_the_cache_rate() {
        let mut r = rates("1", "2");
        r.cache_read = Some(Rate::parse_per_mtok("0.1").unwrap());
        r.audio_input = Some(Rate::parse_per_mtok("5").unwrap());
        let mut u = Usage {
            input_total: 1_000_000,
            cache_read: 300_000,
            audio_in: 200_000,
            ..Usage::default()
        };
        // 100k audio tokens read from the cache: inside both the cache reads and the audio.
        u.set(unit("cache_audio_read_tokens"), 100_000);
        let c = bucket_cost(&r, &u);
        // text 1M - 300k - 200k + 100k (counted in both) = 600k at $1; cache 300k at $0.1
        // (200k text + 100k audio); audio 100k uncached at $5.
        assert_eq!(c.input, usd("0.6"));
        assert_eq!(c.cache_read, usd("0.03"));
        assert_eq!(c.audio_input, usd("0.5"));
        assert_eq!(c.total(), usd("1.13"));
    }

    #[test]
    fn a_request_fee_is_one_request_per_call_unless_usage_says() {
        let mut r = rates("1", "1");
        r.other = vec![(Unit::REQUESTS, usd("12"))];
        let price = Price {
            effective_from: None,
            from_secs: i64::MIN,
            effective_from_label: "initial".into(),
            source: "test".into(),
            effective_from_static: Interned::default(),
            source_static: Interned::default(),
            standard: RateSet {
                rates: r,
                tiers: Vec::new(),
            },
            service_tiers: Vec::new(),
            variants: Vec::new(),
            windows: Vec::new(),
        };
        let mut u = Usage {
            input_total: 1_000,
            output_total: 1_000,
            ..Usage::default()
        };
        // 0.001 + 0.001 + 1 request x 12 / 1000.
        assert_eq!(price.cost(&u, None).0.total(), usd("0.014"));
        u.set(Unit::REQUESTS, 3);
        assert_eq!(price.cost(&u, None).0.total(), usd("0.038"));
    }

    #[test]
    fn per_hour_prices_round_once_per_call_to_a_femto_dollar() {
        // $1.50 per hour: 1 second = 0.000416666... USD.
        assert_eq!(
            cost_per(usd("1.5"), 3_600, 1),
            Usd::from_femto(416_666_666_667)
        );
        assert_eq!(cost_per(usd("1.5"), 3_600, 3_600), usd("1.5"));
        assert_eq!(cost_per(usd("10"), 1_000, 3), usd("0.03"));
    }
}
