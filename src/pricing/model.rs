//! Loaded catalog entries: models, dated prices, rate sets, tiers, and the cost arithmetic.

use std::fmt;
use std::sync::Arc;

use crate::money::{Rate, Usd};

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
}

impl Rates {
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
}

/// Cost of one call, by component. All exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostBreakdown {
    /// Uncached text input.
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
}

impl CostBreakdown {
    /// Everything billed on the input side.
    pub fn prompt(&self) -> Usd {
        self.input + self.cache_read + self.cache_write + self.audio_input
    }
    /// Everything billed on the output side.
    pub fn completion(&self) -> Usd {
        self.output + self.reasoning + self.audio_output
    }
    /// The call's cost.
    pub fn total(&self) -> Usd {
        self.prompt() + self.completion()
    }
}

impl std::ops::AddAssign for CostBreakdown {
    fn add_assign(&mut self, o: CostBreakdown) {
        self.input += o.input;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.audio_input += o.audio_input;
        self.output += o.output;
        self.reasoning += o.reasoning;
        self.audio_output += o.audio_output;
    }
}

/// What applied beyond the standard base rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedTier {
    /// The service tier whose rates were used (`None`: standard, or not in the catalog).
    pub service_tier: Option<ServiceTier>,
    /// The long-context threshold crossed, if any.
    pub above_input_tokens: Option<u64>,
}

impl AppliedTier {
    /// `None` when nothing but standard base rates applied; else e.g. `batch`,
    /// `input>200000`, `batch,input>200000`.
    pub fn label(&self) -> Option<String> {
        match (self.service_tier, self.above_input_tokens) {
            (None, None) => None,
            (Some(s), None) => Some(s.to_string()),
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
        let (set, applied_service) =
            match service_tier.and_then(|t| self.service_tiers.iter().find(|(s, _)| *s == t)) {
                Some((t, set)) => (set, Some(*t)),
                None => (&self.standard, None),
            };
        let (r, above) = set.select(usage.input_total);
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
        let cost = CostBreakdown {
            input: r.input.cost(text_in),
            cache_read: r.cache_read().cost(usage.cache_read),
            cache_write: r.cache_write_5m().cost(usage.cache_write_5m)
                + r.cache_write_1h().cost(usage.cache_write_1h),
            audio_input: r.audio_input().cost(usage.audio_in),
            output: r.output.cost(text_out),
            reasoning: r.reasoning().cost(usage.reasoning),
            audio_output: r.audio_output().cost(usage.audio_out),
        };
        (
            cost,
            AppliedTier {
                service_tier: applied_service,
                above_input_tokens: above,
            },
        )
    }
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
    pub fn price_at(&self, unix_seconds: i64) -> &Price {
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
