//! The on-disk catalog format (schema 2, see `catalog/FORMAT.md`) and its conversion into the
//! loaded, validated model list.

use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
pub(crate) struct PriceFile {
    #[serde(default)]
    pub effective_from: Option<String>,
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

#[derive(Debug, Deserialize)]
pub(crate) struct VariantFile {
    pub when: BTreeMap<String, String>,
    #[serde(flatten)]
    pub rates: RateSetFile,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WindowFile {
    /// `HH:MM[:SS]`, UTC, included.
    pub start: String,
    /// `HH:MM[:SS]`, UTC, excluded; at or before `start`: wraps midnight.
    pub end: String,
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

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RateSetFile {
    #[serde(flatten)]
    pub rates: RatesFile,
    #[serde(default)]
    pub tiers: Vec<TierFile>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TierFile {
    pub above_input_tokens: u64,
    #[serde(flatten)]
    pub rates: RatesFile,
}

/// Rates as decimal strings, USD per million tokens.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RatesFile {
    pub input: Option<String>,
    pub output: Option<String>,
    pub cache_read: Option<String>,
    pub cache_write_5m: Option<String>,
    pub cache_write_1h: Option<String>,
    pub reasoning: Option<String>,
    pub audio_input: Option<String>,
    pub audio_output: Option<String>,
    /// Other units of the vocabulary: unit id -> USD per the unit's price quantity.
    #[serde(default)]
    pub units: BTreeMap<String, String>,
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

fn rate(ctx: &Ctx<'_>, field: &str, v: &Option<String>) -> Result<Option<Rate>, CatalogError> {
    match v {
        None => Ok(None),
        Some(s) => Rate::parse_per_mtok(s)
            .map(Some)
            .map_err(|e| ctx.err(field, format!("'{s}': {e}"))),
    }
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
        for (name, v) in &self.units {
            let field = f(&format!("units.{name}"));
            let unit: Unit = name.parse().map_err(|e: String| ctx.err(&field, e))?;
            if Rates::has_field(unit) {
                return Err(ctx.err(
                    &field,
                    format!("'{unit}' has a rate field of its own, not an entry of 'units'"),
                ));
            }
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
            Some(s) => {
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
            let clock = |field: &str, s: &str| {
                clock_secs(s).ok_or_else(|| {
                    ctx.err(
                        &format!("{p}{field}"),
                        format!("'{s}': not HH:MM[:SS] (UTC)"),
                    )
                })
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
