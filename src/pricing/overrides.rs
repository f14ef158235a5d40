//! User price layers: an overrides file (TOML) and import of a LiteLLM-format JSON map.
//!
//! An override's price is read by the catalog's own reader ([`PriceFile`], catalog/FORMAT.md,
//! schema 2), so it expresses everything a catalog price does and the two cannot drift: the
//! token rates, `units` (any unit of the vocabulary, `src/pricing/units.rs`, in USD per the
//! unit's price quantity: per 1M tokens or characters, per 1,000 searches or requests, per hour
//! of audio ...), long-context `tiers`, `service_tiers`, `variants` by request context and UTC
//! time-of-day `windows`. What TOML adds is [`Text`](super::file::Text): rates as numbers, dates
//! and times as TOML values. A hand-written price is held to more than a catalog's: a field no
//! price has (found by writing back what was read: the catalog's structs flatten their rate
//! sets, which serde cannot combine with refusing unknown fields), a `source` (an override's is
//! its file) and a context key outside [`PriceContext::KEYS`] are refused. Every problem is
//! named with file, model, price and field, and all are listed at once (within one price: every
//! unknown field and key, and the first bad value the reader meets).
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
//! # ... or a model of your own, with every kind of charge.
//! [[models]]
//! id = "acme-llm"
//! provider = "acme"
//! aliases = ["acme-llm-v2"]
//! starts_with = ["acme-llm-"]
//! [[models.prices]]
//! effective_from = 2026-01-01
//! input = 1.0
//! output = 2.0
//! units = { web_searches = 8, requests = 0.5 }   # $8 per 1,000 searches, $0.50 per 1,000 calls
//! tiers = [{ above_input_tokens = 128000, input = 2.0, output = 4.0 }]
//! service_tiers.batch = { input = 0.5, output = 1.0 }
//! [[models.prices.variants]]                      # a full rate set, when the context says so
//! when = { speed = "fast" }
//! input = 2.0
//! output = 4.0
//! units = { web_searches = 8 }                    # (what it does not list, it does not bill)
//! [[models.prices.windows]]                       # UTC, start included, end excluded
//! start = 01:00:00
//! end = "04:00"
//! input = 0.5
//! output = 1.0
//! ```
//!
//! The LiteLLM import reads each entry with the catalog builder's LiteLLM reader
//! ([`build::litellm::rates`], its field grammar and modes, [`build::MODES`]) and writes the
//! price with the builder's renderer before reading it as the catalog is read: it holds exactly
//! what a catalog built from that entry holds. A malformed price field is an error naming the
//! entry and field; entries the builder leaves out (other modes, no input price) are left out.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::build;
use super::file::{check_price_order, Ctx, PriceFile};
use super::model::{Interned, MatchRule, Model, PriceContext};
use super::CatalogError;

/// A loaded user layer: what parsed, and every problem found. A layer with problems is never
/// applied (the build fails), but its aliases are still checked so that all problems are listed.
pub(crate) struct UserLayer {
    pub file: String,
    pub models: Vec<Model>,
    pub aliases: BTreeMap<String, String>,
    pub errors: Vec<CatalogError>,
    /// What the layer left out, counted with examples (the LiteLLM import's skipped entries,
    /// in the builder's words); empty for an overrides file, which leaves nothing out.
    pub notes: Vec<String>,
    /// Entries the layer left out (counted in `notes` by reason).
    pub left_out: u64,
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
    /// Read as the catalog reads a price (`catalog/FORMAT.md`), with the TOML conveniences of
    /// [`Text`](super::file::Text): rates as numbers, dates and times unquoted.
    #[serde(default)]
    prices: Vec<PriceFile>,
}

/// The members of `raw` (a price as the file writes it) that `read` (what the catalog's reader
/// took of it, written back) lacks: fields the format does not know, as paths
/// (`tiers[0].inptu`). The catalog's structs flatten their rate sets, which serde cannot
/// combine with refusing unknown fields, so a hand-written file is checked this way.
fn unknown_fields(
    raw: &serde_json::Value,
    read: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (raw, read) {
        (Value::Object(raw), Value::Object(read)) => {
            for (k, v) in raw {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match read.get(k) {
                    Some(r) => unknown_fields(v, r, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(raw), Value::Array(read)) => {
            for (i, (v, r)) in raw.iter().zip(read).enumerate() {
                unknown_fields(v, r, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// What a hand-written price may not say that a catalog price may, and fields no price has:
/// each problem, with its field.
fn price_problems(raw: Option<&toml::Value>, p: &PriceFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let both = match raw {
        None => Err("not found in the text".to_owned()),
        Some(raw) => serde_json::to_value(raw)
            .and_then(|raw| Ok((raw, serde_json::to_value(p)?)))
            .map_err(|e| e.to_string()),
    };
    match both {
        Ok((raw, read)) => {
            let mut unknown = Vec::new();
            unknown_fields(&raw, &read, "", &mut unknown);
            out.extend(unknown.into_iter().map(|f| {
                let m = "unknown field (catalog/FORMAT.md lists the fields of a price)";
                (f, m.to_owned())
            }));
        }
        // Not expected (the same text parsed): refused rather than passed unchecked.
        Err(why) => out.push((
            "(price)".to_owned(),
            format!("its fields could not be checked: {why}"),
        )),
    }
    if !p.source.is_empty() {
        out.push((
            "source".to_owned(),
            "an override's source is its file (`override:<file>`), not a field".to_owned(),
        ));
    }
    for (i, v) in p.variants.iter().enumerate() {
        for key in v
            .when
            .keys()
            .filter(|k| !PriceContext::KEYS.contains(&k.as_str()))
        {
            out.push((
                format!("variants[{i}].when.{key}"),
                format!(
                    "unknown context key '{key}' (known: {})",
                    PriceContext::KEYS.join(", ")
                ),
            ));
        }
    }
    out
}

pub(crate) fn parse_toml(file: &str, text: &str) -> Result<UserLayer, CatalogError> {
    let syntax = |e: toml::de::Error| CatalogError::Syntax {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    };
    let f: OverridesFile = toml::from_str(text).map_err(syntax)?;
    // The same text as written, to find the fields the reader did not take.
    let raw: toml::Table = toml::from_str(text).map_err(syntax)?;
    let raw_prices = |mi: usize, i: usize| raw.get("models")?.get(mi)?.get("prices")?.get(i);
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
            let problems = price_problems(raw_prices(mi, i), p);
            errors.extend(problems.iter().map(|(f, m)| pctx.err(f, m.as_str())));
            match p.to_price(&pctx, &source) {
                Ok(p) if problems.is_empty() => prices.push(p),
                Ok(_) => {}
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
        notes: Vec::new(),
        left_out: 0,
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

/// Imports a LiteLLM `model_prices_and_context_window.json` map with the catalog builder's own
/// LiteLLM loader ([`build::litellm::load`]): the same entries are taken (modes, units, tiers,
/// service tiers, image size/quality variants) and the same are left out, each counted under the
/// builder's reason in the layer's notes, as in the embedded catalog's notes. Each price is
/// written by the builder's renderer and read by the catalog's reader. A value that is not a
/// rate (a string, a negative number ...) is an error naming the entry and field; so is an entry
/// that is not an object.
pub(crate) fn parse_litellm(file: &str, text: &str) -> Result<UserLayer, CatalogError> {
    let syntax = |e: build::BuildError| CatalogError::Syntax {
        file: file.to_owned(),
        message: match e {
            build::BuildError::Format { message, .. } => message,
            e => e.to_string(),
        },
    };
    let mut errors = Vec::new();
    let entries = build::litellm::entries(file, text).map_err(syntax)?;
    for (key, fields) in &entries {
        let ctx = Ctx { file, entry: key };
        let Some(fields) = fields else {
            errors.push(ctx.err("(entry)", "expected an object"));
            continue;
        };
        if let Some((field, problem)) = fields
            .iter()
            .find_map(|(k, v)| build::litellm::field_problem(k, v).map(|p| (k, p)))
        {
            errors.push(ctx.err(field, problem));
        }
    }
    let count = entries.len();
    let mut notes = build::notes::Notes::default();
    let loaded = build::litellm::models(entries, &mut notes);
    let source = format!("litellm-import:{file}");
    let mut models = Vec::with_capacity(loaded.len());
    for m in loaded {
        match imported(file, &source, m) {
            Ok(m) => models.push(m),
            Err(e) => errors.push(e),
        }
    }
    let left_out = notes.count_of(LEFT_OUT);
    let notes = notes.render();
    if models.is_empty() && left_out > 0 && errors.is_empty() {
        // Nothing of the file imported: a hand-written map missing what every entry needs (a
        // `mode`, a `litellm_provider`, both token prices), not a map to load as nothing.
        errors.push(CatalogError::Invalid {
            file: file.to_owned(),
            entry: "(file)".into(),
            field: "(entries)".into(),
            message: format!(
                "none of its {count} entries can be imported, {left_out} left out: {}",
                notes
                    .iter()
                    .filter(|n| n.starts_with(LEFT_OUT))
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    Ok(UserLayer {
        file: file.to_owned(),
        models,
        aliases: BTreeMap::new(),
        errors,
        notes,
        left_out,
    })
}

/// The builder's notes that count an entry left out (the others count fields ignored, rates
/// rounded ...).
const LEFT_OUT: &str = "LiteLLM entries skipped";

/// A model the builder's loader read, as the catalog reads it: each price rendered as the
/// builder writes the catalog and read back, matched by its key and the key without a LiteLLM
/// route prefix ([`LITELLM_PREFIXES`]).
fn imported(file: &str, source: &str, m: build::model::BModel) -> Result<Model, CatalogError> {
    let ctx = Ctx { file, entry: &m.id };
    let mut prices = Vec::with_capacity(m.prices.len());
    for entry in &m.prices {
        let mut json = String::new();
        build::render::price(&mut json, entry);
        let mut price: PriceFile =
            serde_json::from_str(&json).map_err(|e| ctx.err("(entry)", e.to_string()))?;
        price.source = source.to_owned();
        prices.push(price.to_price(&ctx, source)?);
    }
    let lower = m.id.to_ascii_lowercase();
    let mut rules = vec![MatchRule::Equals(lower.clone())];
    if let Some(p) = LITELLM_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        rules.push(MatchRule::Equals(lower[p.len()..].to_owned()));
    }
    Ok(Model {
        id: m.id.into(),
        provider: m.provider.into(),
        id_static: Interned::default(),
        name: None,
        mode: m.mode,
        rules,
        notes: vec![format!("imported from {file}")],
        prices,
    })
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
    fn a_litellm_map_of_which_nothing_imports_is_an_error_naming_why() {
        // A hand-written map missing what every entry needs: no mode, no provider, a misspelt
        // output price. Each alone is left out as the builder leaves it out; none at all
        // imported is an error, not a layer that silently adds nothing.
        let text = r#"{
          "no-mode": {"litellm_provider": "acme", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
          "no-provider": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
          "output-typo": {"mode": "chat", "litellm_provider": "acme", "input_cost_per_token": 1e-06, "output_cost_per_tokens": 2e-06}
        }"#;
        let l = parse_litellm("hand.json", text).unwrap();
        assert!(l.models.is_empty());
        assert_eq!(l.left_out, 3);
        assert_eq!(l.errors.len(), 1);
        let e = l.errors[0].to_string();
        assert!(e.starts_with("hand.json: "), "{e}");
        assert!(
            e.contains("none of its 3 entries can be imported, 3 left out"),
            "{e}"
        );
        assert!(e.contains("mode None") && e.contains("no-mode"), "{e}");
        assert!(
            e.contains("no litellm_provider") && e.contains("no-provider"),
            "{e}"
        );
        assert!(e.contains("output-typo"), "{e}");
        // One entry that imports: the others are left out, counted, and the layer loads.
        let text = text.replacen(
            "{\n",
            "{\n\"ok\": {\"mode\": \"chat\", \"litellm_provider\": \"acme\", \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06},\n",
            1,
        );
        let l = parse_litellm("hand.json", &text).unwrap();
        assert_eq!(l.models.len(), 1);
        assert_eq!(l.left_out, 3);
        assert!(l.errors.is_empty(), "{}", l.errors.len());
    }

    #[test]
    fn litellm_import_reads_tiers_as_the_builder_and_leaves_out_a_missing_input() {
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
        // Priced by input alone in a chat mode: left out as the builder leaves it out, and
        // counted in the layer's notes (it used to fail the import).
        assert!(l.errors.is_empty(), "{}", l.errors.len());
        assert_eq!(l.models.len(), 1);
        assert!(
            l.notes.iter().any(|n| n
                .starts_with("LiteLLM entries skipped: a token price without input or output: 1")
                && n.contains("input-only")),
            "{:?}",
            l.notes
        );
    }
}
