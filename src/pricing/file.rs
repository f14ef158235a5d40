//! The on-disk catalog format (schema 2, see `catalog/FORMAT.md`) and its conversion into the
//! loaded, validated model list.

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::model::{
    parse_date, Date, Interned, MatchRule, Model, Price, PriceVariant, PriceWindow, RateSet, Rates,
    ServiceTier, Tier,
};
use super::CatalogError;
use crate::money::{Rate, Usd};
use crate::pricing::units::Unit;

/// Root of `catalog.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct CatalogFile {
    pub schema: u32,
    pub catalog_version: String,
    pub generated: String,
    #[serde(default)]
    pub sources: Vec<SourceFile>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub models: Vec<ModelFile>,
}

/// One public price set the catalog was built from.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SourceFile {
    /// Short name (`litellm`, `genai-prices`).
    pub name: String,
    /// Package the data came from.
    #[serde(default)]
    pub package: String,
    /// Package version.
    #[serde(default)]
    pub version: String,
    /// Licence of the data.
    #[serde(default)]
    pub license: String,
    /// File inside the package.
    #[serde(default)]
    pub file: String,
    /// SHA-256 of the input file.
    #[serde(default)]
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModelFile {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(rename = "match", default)]
    pub rules: Vec<RuleFile>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub prices: Vec<PriceFile>,
}

fn default_mode() -> String {
    "chat".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleFile {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(String),
    All(Vec<RuleFile>),
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct PriceFile {
    #[serde(default)]
    pub effective_from: Option<Text>,
    #[serde(default)]
    pub source: String,
    #[serde(flatten)]
    pub rates: RateSetFile,
    #[serde(default)]
    pub service_tiers: BTreeMap<String, RateSetFile>,
    /// Schema 2: price variants chosen by request context (`when`), in precedence order.
    #[serde(default)]
    pub variants: Vec<VariantFile>,
    /// Schema 2: time-of-day prices (UTC windows).
    #[serde(default)]
    pub windows: Vec<WindowFile>,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct VariantFile {
    pub when: BTreeMap<String, String>,
    #[serde(flatten)]
    pub rates: RateSetFile,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct WindowFile {
    /// `HH:MM[:SS]`, UTC, included.
    pub start: Text,
    /// `HH:MM[:SS]`, UTC, excluded; at or before `start`: wraps midnight.
    pub end: Text,
    #[serde(flatten)]
    pub rates: RateSetFile,
}

/// Seconds after 00:00 UTC of `HH:MM[:SS]` (an offset, as genai-prices writes one, is applied:
/// the builder's reader of those times).
fn clock_secs(s: &str) -> Option<u32> {
    let (h, m, sec) = crate::pricing::build::variants::ClockTime::parse(s)?
        .utc
        .as_hms();
    Some(u32::from(h) * 3600 + u32::from(m) * 60 + u32::from(sec))
}

/// `HH:MM` (seconds shown only when not zero).
fn clock_label(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct RateSetFile {
    #[serde(flatten)]
    pub rates: RatesFile,
    #[serde(default)]
    pub tiers: Vec<TierFile>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct TierFile {
    pub above_input_tokens: u64,
    #[serde(flatten)]
    pub rates: RatesFile,
}

/// Rates as decimal strings, USD per million tokens.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct RatesFile {
    pub input: Option<Text>,
    pub output: Option<Text>,
    pub cache_read: Option<Text>,
    pub cache_write_5m: Option<Text>,
    pub cache_write_1h: Option<Text>,
    pub reasoning: Option<Text>,
    pub audio_input: Option<Text>,
    pub audio_output: Option<Text>,
    /// Audio cache reads (unit `cache_audio_read_tokens`, held in [`Rates::other`]); the
    /// builder writes it as a field of its own (`build::units::FIELDS`).
    pub audio_cache_read: Option<Text>,
    /// Other units of the vocabulary: unit id -> USD per the unit's price quantity.
    #[serde(default)]
    pub units: BTreeMap<String, Text>,
}

/// A rate, a date or a time of day as a file writes it: a string (the catalog's form, exact)
/// or, in a hand-written file (the overrides TOML), a number (the shortest decimal that reads
/// back as the same float: `0.1` is `0.1`) or a TOML date or time (`2025-03-01`, `01:00:00`).
/// Anything else is kept as what it was and refused, naming its field, when the value is read
/// ([`Text::get`]): one bad value does not hide the other problems of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    /// The value as text.
    Is(String),
    /// Not a string, number, date or time: what it was (`a boolean`, `an array` ...).
    Not(&'static str),
}

impl Text {
    /// The text, or an error naming the field and what was `expected` there (`not a date
    /// (YYYY-MM-DD): found a boolean`).
    pub(crate) fn get(
        &self,
        ctx: &Ctx<'_>,
        field: &str,
        expected: &str,
    ) -> Result<&str, CatalogError> {
        match self {
            Text::Is(s) => Ok(s),
            Text::Not(what) => Err(ctx.err(field, format!("not {expected}: found {what}"))),
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string, a number, a date or a time of day")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text::Is(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text, E> {
                Ok(Text::Is(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text::Is(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text::Is(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                // Rust writes the shortest decimal that round-trips, without an exponent.
                Ok(Text::Is(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                Ok(Text::Not("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text::Not("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text::Not("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                // A TOML date or time reaches serde as a one-member table; any other table is
                // refused when read.
                let de = serde::de::value::MapAccessDeserializer::new(map);
                Ok(toml::value::Datetime::deserialize(de)
                    .map_or(Text::Not("a table"), |d| Text::Is(d.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Is(v) => s.serialize_str(v),
            Text::Not(what) => s.serialize_str(what),
        }
    }
}

/// Where a value sits, for error messages: file, entry, field.
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub entry: &'a str,
}

impl Ctx<'_> {
    pub fn err(&self, field: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            file: self.file.to_owned(),
            entry: self.entry.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The unit of the `audio_cache_read` field.
const AUDIO_CACHE_READ: Unit = crate::pricing::units::named("cache_audio_read_tokens");

/// What a rate is written as, in errors.
const A_RATE: &str = "a decimal number (\"2.5\" or 2.5)";

fn rate(ctx: &Ctx<'_>, field: &str, v: &Option<Text>) -> Result<Option<Rate>, CatalogError> {
    let Some(v) = v else { return Ok(None) };
    let s = v.get(ctx, field, A_RATE)?;
    Rate::parse_per_mtok(s)
        .map(Some)
        .map_err(|e| ctx.err(field, format!("'{s}': {e}")))
}

impl RatesFile {
    /// Converts, taking missing fields from `base` (tiers inherit the base rate of the same name).
    pub(crate) fn to_rates(
        &self,
        ctx: &Ctx<'_>,
        prefix: &str,
        base: Option<&Rates>,
    ) -> Result<Rates, CatalogError> {
        let f = |name: &str| format!("{prefix}{name}");
        let input = rate(ctx, &f("input"), &self.input)?.or(base.map(|b| b.input));
        let output = rate(ctx, &f("output"), &self.output)?.or(base.map(|b| b.output));
        // Neither: a rate set with no token price (FORMAT.md; only models of the operations
        // beyond chat may have one, `build::check`), unless the base it inherits from has one.
        let no_token_price = match (input, output) {
            (None, None) => base.is_none_or(|b| b.no_token_price),
            _ => false,
        };
        let (input, output) = match (input, output) {
            (Some(i), Some(o)) => (i, o),
            (None, None) if no_token_price => (Rate::ZERO, Rate::ZERO),
            _ => {
                let missing = if input.is_none() { "input" } else { "output" };
                return Err(ctx.err(&f(missing), "required rate is missing"));
            }
        };
        let inherit = |v: Option<Rate>, pick: fn(&Rates) -> Option<Rate>| v.or(base.and_then(pick));
        // Other units: the base's (a tier inherits them), then this set's own.
        let mut other: BTreeMap<Unit, Usd> = base
            .map(|b| b.other.iter().copied().collect())
            .unwrap_or_default();
        // `audio_cache_read` is the unit's entry under another name (the builder's field).
        let audio = self
            .audio_cache_read
            .as_ref()
            .map(|v| (f("audio_cache_read"), Ok(AUDIO_CACHE_READ), v));
        if audio.is_some() && self.units.contains_key(AUDIO_CACHE_READ.id()) {
            return Err(ctx.err(
                &f("audio_cache_read"),
                "given twice: also as units.cache_audio_read_tokens",
            ));
        }
        let entries = self
            .units
            .iter()
            .map(|(name, v)| (f(&format!("units.{name}")), name.parse::<Unit>(), v));
        for (field, unit, v) in audio.into_iter().chain(entries) {
            let unit = unit.map_err(|e| ctx.err(&field, e))?;
            if Rates::has_field(unit) {
                return Err(ctx.err(
                    &field,
                    format!("'{unit}' has a rate field of its own, not an entry of 'units'"),
                ));
            }
            let v = v.get(ctx, &field, A_RATE)?;
            let price = Usd::parse(v).map_err(|e| ctx.err(&field, format!("'{v}': {e}")))?;
            other.insert(unit, price);
        }
        Ok(Rates {
            no_token_price,
            other: other.into_iter().collect(),
            input,
            output,
            cache_read: inherit(rate(ctx, &f("cache_read"), &self.cache_read)?, |b| {
                b.cache_read
            }),
            cache_write_5m: inherit(
                rate(ctx, &f("cache_write_5m"), &self.cache_write_5m)?,
                |b| b.cache_write_5m,
            ),
            cache_write_1h: inherit(
                rate(ctx, &f("cache_write_1h"), &self.cache_write_1h)?,
                |b| b.cache_write_1h,
            ),
            reasoning: inherit(rate(ctx, &f("reasoning"), &self.reasoning)?, |b| {
                b.reasoning
            }),
            audio_input: inherit(rate(ctx, &f("audio_input"), &self.audio_input)?, |b| {
                b.audio_input
            }),
            audio_output: inherit(rate(ctx, &f("audio_output"), &self.audio_output)?, |b| {
                b.audio_output
            }),
        })
    }
}

impl RateSetFile {
    pub(crate) fn to_rate_set(
        &self,
        ctx: &Ctx<'_>,
        prefix: &str,
        base: Option<&Rates>,
    ) -> Result<RateSet, CatalogError> {
        let rates = self.rates.to_rates(ctx, prefix, base)?;
        let mut tiers = Vec::with_capacity(self.tiers.len());
        let mut last = None;
        for (i, t) in self.tiers.iter().enumerate() {
            let p = format!("{prefix}tiers[{i}].");
            if last.is_some_and(|l| t.above_input_tokens <= l) {
                return Err(ctx.err(
                    &format!("{p}above_input_tokens"),
                    "tiers must be in ascending order of above_input_tokens",
                ));
            }
            last = Some(t.above_input_tokens);
            tiers.push(Tier {
                above_input_tokens: t.above_input_tokens,
                rates: t.rates.to_rates(ctx, &p, Some(&rates))?,
            });
        }
        Ok(RateSet { rates, tiers })
    }
}

impl PriceFile {
    pub(crate) fn to_price(
        &self,
        ctx: &Ctx<'_>,
        default_source: &str,
    ) -> Result<Price, CatalogError> {
        let effective_from = match &self.effective_from {
            None => None,
            Some(t) => {
                let s = t.get(ctx, "effective_from", "a date (YYYY-MM-DD)")?;
                Some(parse_date(s).map_err(|m| ctx.err("effective_from", format!("'{s}': {m}")))?)
            }
        };
        let standard = self.rates.to_rate_set(ctx, "", None)?;
        let mut service_tiers = Vec::new();
        for (name, set) in &self.service_tiers {
            let tier = ServiceTier::parse(name).ok_or_else(|| {
                ctx.err(
                    &format!("service_tiers.{name}"),
                    "unknown service tier (expected batch, flex or priority)",
                )
            })?;
            let set = set.to_rate_set(ctx, &format!("service_tiers.{name}."), None)?;
            service_tiers.push((tier, set));
        }
        let mut variants = Vec::with_capacity(self.variants.len());
        for (i, v) in self.variants.iter().enumerate() {
            let p = format!("variants[{i}].");
            if v.when.is_empty() || v.when.iter().any(|(k, x)| k.is_empty() || x.is_empty()) {
                return Err(ctx.err(
                    &format!("{p}when"),
                    "a variant needs at least one non-empty key and value",
                ));
            }
            let when: Vec<(String, String)> =
                v.when.iter().map(|(k, x)| (k.clone(), x.clone())).collect();
            let label: Vec<String> = when.iter().map(|(k, x)| format!("{k}={x}")).collect();
            variants.push(PriceVariant {
                when,
                label: label.join(",").into(),
                set: v.rates.to_rate_set(ctx, &p, None)?,
            });
        }
        let mut windows = Vec::with_capacity(self.windows.len());
        for (i, w) in self.windows.iter().enumerate() {
            let p = format!("windows[{i}].");
            let clock = |field: &str, t: &Text| {
                let field = format!("{p}{field}");
                let s = t.get(ctx, &field, "a time of day (HH:MM[:SS], UTC)")?;
                clock_secs(s).ok_or_else(|| ctx.err(&field, format!("'{s}': not HH:MM[:SS] (UTC)")))
            };
            let (start, end) = (clock("start", &w.start)?, clock("end", &w.end)?);
            windows.push(PriceWindow {
                start,
                end,
                label: format!("utc={}-{}", clock_label(start), clock_label(end)).into(),
                set: w.rates.to_rate_set(ctx, &p, None)?,
            });
        }
        let source = if self.source.is_empty() {
            default_source
        } else {
            &self.source
        };
        Ok(Price {
            from_secs: effective_from.map_or(i64::MIN, Date::unix_seconds),
            effective_from_label: effective_from
                .map_or_else(|| "initial".into(), |d| d.to_string().into()),
            effective_from,
            source: source.into(),
            effective_from_static: Interned::default(),
            source_static: Interned::default(),
            standard,
            service_tiers,
            variants,
            windows,
        })
    }
}

impl RuleFile {
    pub(crate) fn to_rule(&self, ctx: &Ctx<'_>) -> Result<MatchRule, CatalogError> {
        Ok(match self {
            RuleFile::Equals(s) => MatchRule::Equals(s.to_ascii_lowercase()),
            RuleFile::StartsWith(s) => MatchRule::StartsWith(s.to_ascii_lowercase()),
            RuleFile::EndsWith(s) => MatchRule::EndsWith(s.to_ascii_lowercase()),
            RuleFile::Contains(s) => MatchRule::Contains(s.to_ascii_lowercase()),
            RuleFile::Regex(s) => MatchRule::Regex(
                regex::RegexBuilder::new(s)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| ctx.err("match.regex", format!("'{s}': {e}")))?,
            ),
            RuleFile::All(v) => {
                MatchRule::All(v.iter().map(|r| r.to_rule(ctx)).collect::<Result<_, _>>()?)
            }
        })
    }
}

impl ModelFile {
    pub(crate) fn to_model(&self, file: &str) -> Result<Model, CatalogError> {
        let ctx = Ctx {
            file,
            entry: &self.id,
        };
        if self.id.trim().is_empty() {
            return Err(ctx.err("id", "empty model id"));
        }
        if self.prices.is_empty() {
            return Err(ctx.err("prices", "a model needs at least one price"));
        }
        let mut prices = Vec::with_capacity(self.prices.len());
        for (i, p) in self.prices.iter().enumerate() {
            let ctx = Ctx {
                file,
                entry: &format!("{}: prices[{i}]", self.id),
            };
            prices.push(p.to_price(&ctx, "catalog")?);
        }
        check_price_order(&ctx, &prices)?;
        let rules = self
            .rules
            .iter()
            .map(|r| r.to_rule(&ctx))
            .collect::<Result<_, _>>()?;
        Ok(Model {
            id: self.id.clone().into(),
            provider: crate::provider::canonical(&self.provider).into(),
            id_static: Interned::default(),
            name: self.name.clone(),
            mode: self.mode.clone(),
            rules,
            notes: self.notes.clone(),
            prices,
        })
    }
}

/// Prices must be sorted by date with at most one undated price, first, and no two on one day.
pub(crate) fn check_price_order(ctx: &Ctx<'_>, prices: &[Price]) -> Result<(), CatalogError> {
    for (i, w) in prices.windows(2).enumerate() {
        let ok = match (w[0].effective_from, w[1].effective_from) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => a < b,
            _ => false,
        };
        if !ok {
            return Err(ctx.err(
                &format!("prices[{}].effective_from", i + 1),
                "prices must be in ascending date order, one per date, only the first undated",
            ));
        }
    }
    Ok(())
}
