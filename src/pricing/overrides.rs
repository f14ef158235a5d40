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

use super::build;
use super::build::model::Scalar;
use super::build::units::{thresholds, RateSet, Tiered};
use super::file::{check_price_order, Ctx, PriceFile, RateSetFile, RatesFile, TierFile};
use super::model::{Interned, MatchRule, Model};
use super::CatalogError;

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
            // Overrides of other units: not yet (issue 15, slice 5).
            units: BTreeMap::new(),
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
                variants: Vec::new(),
                windows: Vec::new(),
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

/// Imports a LiteLLM `model_prices_and_context_window.json` map, read by the catalog builder's
/// LiteLLM reader (the same fields, tiers and service tiers as the embedded catalog). Entries
/// without token prices (images, audio per second ...) are skipped; a malformed entry is an
/// error naming its field.
pub(crate) fn parse_litellm(file: &str, text: &str) -> Result<UserLayer, CatalogError> {
    let entries = build::litellm::entries(file, text).map_err(|e| CatalogError::Syntax {
        file: file.to_owned(),
        message: match e {
            build::BuildError::Format { message, .. } => message,
            e => e.to_string(),
        },
    })?;
    let source = format!("litellm-import:{file}");
    let mut errors = Vec::new();
    let mut models = Vec::new();
    for (key, fields) in &entries {
        let ctx = Ctx { file, entry: key };
        let Some(fields) = fields else {
            errors.push(ctx.err("(entry)", "expected an object"));
            continue;
        };
        match litellm_entry(&ctx, key, fields, &source) {
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

/// A builder rate set as the catalog file writes it (tiers list the units with their own cliff).
fn rate_set_file(rs: &RateSet) -> RateSetFile {
    let rates = |pick: &dyn Fn(&Tiered) -> Option<crate::money::Rate>| {
        let mut f = RatesFile::default();
        for (u, t) in rs {
            let v = pick(t).map(|r| r.to_string());
            let slot = match u.name() {
                "input" => &mut f.input,
                "output" => &mut f.output,
                "cache_read" => &mut f.cache_read,
                "cache_write_5m" => &mut f.cache_write_5m,
                "cache_write_1h" => &mut f.cache_write_1h,
                "reasoning" => &mut f.reasoning,
                "audio_input" => &mut f.audio_input,
                "audio_output" => &mut f.audio_output,
                _ => continue, // a unit the loaded catalog does not price (yet)
            };
            *slot = v;
        }
        f
    };
    RateSetFile {
        rates: rates(&|t| Some(t.base)),
        tiers: thresholds(rs)
            .into_iter()
            .map(|th| TierFile {
                above_input_tokens: th,
                rates: rates(&|t| t.at(th)),
            })
            .collect(),
    }
}

fn litellm_entry(
    ctx: &Ctx<'_>,
    key: &str,
    fields: &[(String, Scalar<'_>)],
    source: &str,
) -> Result<Option<Model>, CatalogError> {
    if let Some((field, problem)) = fields
        .iter()
        .find_map(|(k, v)| build::litellm::field_problem(k, v).map(|p| (k, p)))
    {
        return Err(ctx.err(field, problem));
    }
    let get = |f: &str| fields.iter().find(|(k, _)| k == f).map(|(_, v)| v);
    let mode = get("mode").and_then(Scalar::as_str).unwrap_or("chat");
    if !build::MODES.contains(&mode) {
        return Ok(None);
    }
    let mut notes = build::notes::Notes::default();
    let Some((standard, services)) = build::litellm::rates(key, fields, mode, &mut notes) else {
        let priced = |f: &str| matches!(get(f), Some(Scalar::Number(_)));
        return match (
            priced("input_cost_per_token"),
            priced("output_cost_per_token"),
        ) {
            (false, false) => Ok(None), // no token prices: images, audio per second ...
            (false, true) => {
                Err(ctx.err("input_cost_per_token", "output is priced but input is not"))
            }
            _ => Err(ctx.err(
                "output_cost_per_token",
                "input is priced but output is not (only embeddings may omit it)",
            )),
        };
    };
    if standard.keys().all(|u| !u.unit().field) {
        // Priced by units alone (an operation beyond chat: images, audio per second ...):
        // not imported, as the doc above says (the import writes token rates only).
        return Ok(None);
    }
    let price = PriceFile {
        effective_from: None,
        source: source.to_owned(),
        rates: rate_set_file(&standard),
        service_tiers: services
            .iter()
            .map(|(st, rs)| ((*st).to_owned(), rate_set_file(rs)))
            .collect(),
        variants: Vec::new(),
        windows: Vec::new(),
    }
    .to_price(ctx, source)?;
    let provider = get("litellm_provider")
        .and_then(Scalar::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_import_reads_tiers_as_the_builder_and_refuses_a_missing_output() {
        let text = r#"{
          "long": {"litellm_provider": "acme", "mode": "chat",
                   "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                   "cache_creation_input_token_cost": 1.25e-06,
                   "input_cost_per_token_above_200k_tokens": 2e-06,
                   "cache_creation_input_token_cost_above_200k_tokens": 2.5e-06,
                   "output_cost_per_token_flex": 1e-06},
          "input-only": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-06}
        }"#;
        let l = parse_litellm("t.json", text).unwrap();
        let m = &l.models[0];
        let p = &m.prices[0];
        let tier = &p.standard.tiers[0];
        assert_eq!(tier.above_input_tokens, 200_000);
        assert_eq!(tier.rates.input.to_string(), "2");
        // Each unit with its own cliff is in the tier.
        assert_eq!(tier.rates.cache_write_5m.unwrap().to_string(), "2.5");
        // A tier listing only its output takes every other rate from the standard price (the
        // import used to ignore a tier without its own input rate).
        let (st, flex) = &p.service_tiers[0];
        assert_eq!(st.as_str(), "flex");
        assert_eq!(flex.rates.output.to_string(), "1");
        assert_eq!(flex.rates.input.to_string(), "1");
        assert_eq!(l.errors.len(), 1);
        let e = l.errors[0].to_string();
        assert!(
            e.contains("entry 'input-only': field 'output_cost_per_token': input is priced but output is not"),
            "{e}"
        );
    }
}
