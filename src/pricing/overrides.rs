//! User price layers: an overrides file (TOML) and import of a LiteLLM-format JSON map.
//!
//! ```toml
//! # Opaque names in spans -> catalog ids (Azure deployments, Bedrock application profiles).
//! [aliases]
//! "prod-gpt4o" = "azure/eu/gpt-4o-2024-08-06"
//!
//! # A negotiated price for a catalog model (same id: its prices are replaced) ...
//! [[models]]
//! id = "gpt-4o-2024-08-06"
//! [[models.prices]]
//! effective_from = "2025-01-01"
//! input = "2.0"
//! output = "8.0"
//!
//! # ... or a model of your own.
//! [[models]]
//! id = "acme-llm"
//! provider = "acme"
//! aliases = ["acme-llm-v2"]
//! starts_with = ["acme-llm-"]
//! [[models.prices]]
//! input = 1.0
//! output = 2.0
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::file::{check_price_order, Ctx, PriceFile, RateSetFile, RatesFile, TierFile};
use super::model::{Interned, MatchRule, Model};
use super::CatalogError;
use crate::money::Rate;

/// A loaded user layer: what parsed, and every problem found. A layer with problems is never
/// applied (the build fails), but its aliases are still checked so that all problems are listed.
pub(crate) struct UserLayer {
    pub file: String,
    pub models: Vec<Model>,
    pub aliases: BTreeMap<String, String>,
    pub errors: Vec<CatalogError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    models: Vec<OverrideModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideModel {
    id: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    starts_with: Vec<String>,
    #[serde(default)]
    prices: Vec<OverridePrice>,
}

/// A rate written as a string (`"2.5"`, exact) or a TOML number (`2.5`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Num {
    S(String),
    I(i64),
    F(f64),
    /// Anything else (`true`, an array ...): refused with the entry and field when parsed.
    Other(toml::Value),
}

impl Num {
    fn text(&self) -> String {
        match self {
            Num::S(s) => s.clone(),
            Num::I(i) => i.to_string(),
            // Rust prints the shortest string that round-trips, so `0.1` stays `0.1`.
            Num::F(f) => f.to_string(),
            Num::Other(v) => v.to_string(),
        }
    }
}

/// A date written as a string (`"2025-01-01"`) or a TOML date (`2025-01-01`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum DateText {
    S(String),
    D(toml::value::Datetime),
    /// Anything else: refused with the entry and field when parsed as a date.
    Other(toml::Value),
}

impl DateText {
    fn text(&self) -> String {
        match self {
            DateText::S(s) => s.clone(),
            DateText::D(d) => d.to_string(),
            DateText::Other(v) => v.to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OverrideRates {
    input: Option<Num>,
    output: Option<Num>,
    cache_read: Option<Num>,
    cache_write_5m: Option<Num>,
    cache_write_1h: Option<Num>,
    reasoning: Option<Num>,
    audio_input: Option<Num>,
    audio_output: Option<Num>,
}

impl OverrideRates {
    fn to_file(&self) -> RatesFile {
        let t = |n: &Option<Num>| n.as_ref().map(Num::text);
        RatesFile {
            input: t(&self.input),
            output: t(&self.output),
            cache_read: t(&self.cache_read),
            cache_write_5m: t(&self.cache_write_5m),
            cache_write_1h: t(&self.cache_write_1h),
            reasoning: t(&self.reasoning),
            audio_input: t(&self.audio_input),
            audio_output: t(&self.audio_output),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideTier {
    above_input_tokens: u64,
    input: Option<Num>,
    output: Option<Num>,
    cache_read: Option<Num>,
    cache_write_5m: Option<Num>,
    cache_write_1h: Option<Num>,
    reasoning: Option<Num>,
    audio_input: Option<Num>,
    audio_output: Option<Num>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRateSet {
    input: Option<Num>,
    output: Option<Num>,
    cache_read: Option<Num>,
    cache_write_5m: Option<Num>,
    cache_write_1h: Option<Num>,
    reasoning: Option<Num>,
    audio_input: Option<Num>,
    audio_output: Option<Num>,
    #[serde(default)]
    tiers: Vec<OverrideTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridePrice {
    #[serde(default)]
    effective_from: Option<DateText>,
    input: Option<Num>,
    output: Option<Num>,
    cache_read: Option<Num>,
    cache_write_5m: Option<Num>,
    cache_write_1h: Option<Num>,
    reasoning: Option<Num>,
    audio_input: Option<Num>,
    audio_output: Option<Num>,
    #[serde(default)]
    tiers: Vec<OverrideTier>,
    #[serde(default)]
    service_tiers: BTreeMap<String, OverrideRateSet>,
}

macro_rules! rates_of {
    ($s:expr) => {
        OverrideRates {
            input: $s.input.clone(),
            output: $s.output.clone(),
            cache_read: $s.cache_read.clone(),
            cache_write_5m: $s.cache_write_5m.clone(),
            cache_write_1h: $s.cache_write_1h.clone(),
            reasoning: $s.reasoning.clone(),
            audio_input: $s.audio_input.clone(),
            audio_output: $s.audio_output.clone(),
        }
        .to_file()
    };
}

fn tiers_of(v: &[OverrideTier]) -> Vec<TierFile> {
    v.iter()
        .map(|t| TierFile {
            above_input_tokens: t.above_input_tokens,
            rates: rates_of!(t),
        })
        .collect()
}

pub(crate) fn parse_toml(file: &str, text: &str) -> Result<UserLayer, CatalogError> {
    let f: OverridesFile = toml::from_str(text).map_err(|e| CatalogError::Syntax {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let source = format!("override:{file}");
    let mut errors = Vec::new();
    let mut models = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (mi, m) in f.models.iter().enumerate() {
        let entry = if m.id.trim().is_empty() {
            format!("models[{mi}]")
        } else {
            m.id.clone()
        };
        let ctx = Ctx {
            file,
            entry: &entry,
        };
        if m.id.trim().is_empty() {
            errors.push(ctx.err("id", "empty model id"));
            continue;
        }
        if !seen.insert(m.id.to_ascii_lowercase()) {
            errors.push(ctx.err("id", "model defined twice in this file"));
            continue;
        }
        if m.prices.is_empty() {
            errors.push(ctx.err("prices", "a model needs at least one [[models.prices]]"));
            continue;
        }
        let mut prices = Vec::new();
        for (i, p) in m.prices.iter().enumerate() {
            let pe = format!("{entry}: prices[{i}]");
            let pctx = Ctx { file, entry: &pe };
            let pf = PriceFile {
                effective_from: p.effective_from.as_ref().map(DateText::text),
                source: source.clone(),
                rates: RateSetFile {
                    rates: rates_of!(p),
                    tiers: tiers_of(&p.tiers),
                },
                service_tiers: p
                    .service_tiers
                    .iter()
                    .map(|(k, s)| {
                        (
                            k.clone(),
                            RateSetFile {
                                rates: rates_of!(s),
                                tiers: tiers_of(&s.tiers),
                            },
                        )
                    })
                    .collect(),
            };
            match pf.to_price(&pctx, &source) {
                Ok(p) => prices.push(p),
                Err(e) => errors.push(e),
            }
        }
        if prices.len() != m.prices.len() {
            continue;
        }
        if let Err(e) = check_price_order(&ctx, &prices) {
            errors.push(e);
            continue;
        }
        let mut rules: Vec<MatchRule> = m
            .aliases
            .iter()
            .map(|a| MatchRule::Equals(a.trim().to_ascii_lowercase()))
            .collect();
        rules.extend(
            m.starts_with
                .iter()
                .map(|a| MatchRule::StartsWith(a.trim().to_ascii_lowercase())),
        );
        models.push(Model {
            id: m.id.trim().into(),
            provider: m
                .provider
                .as_deref()
                .map(crate::provider::canonical)
                .unwrap_or_default()
                .into(),
            id_static: Interned::default(),
            name: None,
            mode: "chat".into(),
            rules,
            notes: vec![format!("user override from {file}")],
            prices,
        });
    }
    let mut aliases = f.aliases;
    aliases.retain(|k, v| {
        let ok = !k.trim().is_empty() && !v.trim().is_empty();
        if !ok {
            errors.push(CatalogError::Invalid {
                file: file.to_owned(),
                entry: k.clone(),
                field: "aliases".into(),
                message: "alias and target must be non-empty".into(),
            });
        }
        ok
    });
    Ok(UserLayer {
        file: file.to_owned(),
        models,
        aliases,
        errors,
    })
}

/// LiteLLM routing prefixes that name the provider (stripped to make an extra alias).
const LITELLM_PREFIXES: &[&str] = &[
    "openai/",
    "azure/",
    "azure_ai/",
    "bedrock/converse/",
    "bedrock/",
    "vertex_ai/",
    "gemini/",
    "anthropic/",
    "mistral/",
    "groq/",
    "xai/",
    "deepseek/",
    "together_ai/",
    "fireworks_ai/",
    "cohere/",
    "openrouter/",
];

/// Imports a LiteLLM `model_prices_and_context_window.json` map. Entries without token prices
/// (images, audio per second ...) are skipped; a malformed entry is an error naming its field.
pub(crate) fn parse_litellm(file: &str, text: &str) -> Result<UserLayer, CatalogError> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| CatalogError::Syntax {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
    let source = format!("litellm-import:{file}");
    let mut errors = Vec::new();
    let mut models = Vec::new();
    for (key, v) in &map {
        if key == "sample_spec" {
            continue;
        }
        let ctx = Ctx { file, entry: key };
        let Some(obj) = v.as_object() else {
            errors.push(ctx.err("(entry)", "expected an object"));
            continue;
        };
        match litellm_entry(&ctx, key, obj, &source) {
            Ok(Some(m)) => models.push(m),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    Ok(UserLayer {
        file: file.to_owned(),
        models,
        aliases: BTreeMap::new(),
        errors,
    })
}

fn litellm_entry(
    ctx: &Ctx<'_>,
    key: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
    source: &str,
) -> Result<Option<Model>, CatalogError> {
    // A cost field: a non-negative JSON number (USD per token).
    let get = |field: &str| -> Result<Option<Rate>, CatalogError> {
        match obj.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => Rate::parse_per_token(&n.to_string())
                .map(Some)
                .map_err(|e| ctx.err(field, format!("{n}: {e}"))),
            Some(other) => Err(ctx.err(field, format!("expected a number, found {other}"))),
        }
    };
    let mode = obj.get("mode").and_then(|m| m.as_str()).unwrap_or("chat");
    if !matches!(mode, "chat" | "completion" | "responses" | "embedding") {
        return Ok(None);
    }
    let (input, output) = (get("input_cost_per_token")?, get("output_cost_per_token")?);
    if input.is_none() && output.is_none() {
        return Ok(None);
    }
    let s = |r: Option<Rate>| r.map(|r| r.to_string());
    let set = |suffix: &str| -> Result<RateSetFile, CatalogError> {
        let f = |base: &str| format!("{base}{suffix}");
        let rates = RatesFile {
            input: s(get(&f("input_cost_per_token"))?),
            output: s(get(&f("output_cost_per_token"))?),
            cache_read: s(get(&f("cache_read_input_token_cost"))?),
            cache_write_5m: s(get(&f("cache_creation_input_token_cost"))?),
            cache_write_1h: s(get(&f("cache_creation_input_token_cost_above_1hr"))?),
            reasoning: s(get(&f("output_cost_per_reasoning_token"))?),
            audio_input: s(get(&f("input_cost_per_audio_token"))?),
            audio_output: s(get(&f("output_cost_per_audio_token"))?),
        };
        // Long-context tiers: `input_cost_per_token_above_200k_tokens[_batches]`.
        let mut thresholds: Vec<u64> = obj
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix("input_cost_per_token_above_")?;
                let rest = rest.strip_suffix(suffix)?;
                let n = rest.strip_suffix("k_tokens")?;
                n.parse::<u64>().ok().map(|n| n * 1000)
            })
            .collect();
        thresholds.sort_unstable();
        let mut tiers = Vec::new();
        for t in thresholds {
            let a = format!("_above_{}k_tokens{suffix}", t / 1000);
            tiers.push(TierFile {
                above_input_tokens: t,
                rates: RatesFile {
                    input: s(get(&format!("input_cost_per_token{a}"))?),
                    output: s(get(&format!("output_cost_per_token{a}"))?),
                    cache_read: s(get(&format!("cache_read_input_token_cost{a}"))?),
                    cache_write_5m: s(get(&format!("cache_creation_input_token_cost{a}"))?),
                    ..RatesFile::default()
                },
            });
        }
        Ok(RateSetFile { rates, tiers })
    };
    let mut standard = set("")?;
    // An embedding has no output price: it is 0.
    if standard.rates.output.is_none() {
        standard.rates.output = Some("0".into());
    }
    if standard.rates.input.is_none() {
        return Err(ctx.err("input_cost_per_token", "output is priced but input is not"));
    }
    let mut service_tiers = BTreeMap::new();
    for (name, suffix) in [
        ("batch", "_batches"),
        ("flex", "_flex"),
        ("priority", "_priority"),
    ] {
        if obj.contains_key(&format!("input_cost_per_token{suffix}")) {
            let mut st = set(suffix)?;
            // LiteLLM lists only the rates a tier changes (`input_cost_per_token_batches` ...);
            // every other rate is the standard one (as the catalog builder reads it), not the
            // tier's input rate that an absent field would otherwise fall back to.
            let (r, b) = (&mut st.rates, &standard.rates);
            macro_rules! inherit {
                ($($f:ident),*) => { $( if r.$f.is_none() { r.$f = b.$f.clone(); } )* };
            }
            inherit!(
                output,
                cache_read,
                cache_write_5m,
                cache_write_1h,
                reasoning,
                audio_input,
                audio_output
            );
            service_tiers.insert(name.to_owned(), st);
        }
    }
    let price = PriceFile {
        effective_from: None,
        source: source.to_owned(),
        rates: standard,
        service_tiers,
    }
    .to_price(ctx, source)?;
    let provider = obj
        .get("litellm_provider")
        .and_then(|p| p.as_str())
        .map(crate::provider::canonical)
        .unwrap_or_default();
    let lower = key.to_ascii_lowercase();
    let mut rules = vec![MatchRule::Equals(lower.clone())];
    if let Some(p) = LITELLM_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        rules.push(MatchRule::Equals(lower[p.len()..].to_owned()));
    }
    Ok(Some(Model {
        id: key.into(),
        provider: provider.into(),
        id_static: Interned::default(),
        name: None,
        mode: mode.to_owned(),
        rules,
        notes: vec![format!("imported from {}", ctx.file)],
        prices: vec![price],
    }))
}

/// Adds a user model: replaces the prices of a catalog model with the same id (keeping its
/// aliases), or appends a new one; either way it is matched before catalog models.
pub(crate) fn merge(models: &mut Vec<Model>, user_first: &mut Vec<u32>, m: Model) {
    if let Some(i) = models.iter().position(|x| x.id.eq_ignore_ascii_case(&m.id)) {
        let existing = &mut models[i];
        existing.prices = m.prices;
        existing.notes.extend(m.notes);
        if !m.provider.is_empty() {
            existing.provider = m.provider;
        }
        existing.rules.extend(m.rules);
        if !user_first.contains(&(i as u32)) {
            user_first.push(i as u32);
        }
    } else {
        user_first.push(models.len() as u32);
        models.push(m);
    }
}
