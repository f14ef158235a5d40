//! LiteLLM's price map (`model_prices_and_context_window.json`, USD per single token) -> one
//! builder model per chat / completion / responses / embedding entry, with its alias candidates.
//!
//! A price field is `<base>[_above_<N>k_tokens][_batches|_flex|_priority]`, `<base>` one of the
//! LiteLLM names in [`super::units::UNITS`]; any other field whose name says `cost` or `price` is
//! counted as ignored.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::value::RawValue;

use super::check::MODES;
use super::model::{literal_rate, noted_rate, BModel, Ordered, Scalar};
use super::notes::Notes;
use super::units::{self, over, PriceEntry, RateSet, Tiered, UnitId, SERVICE_TIERS};
use crate::money::Rate;

/// LiteLLM's service-tier suffixes -> the catalog's service tier.
const TIER_SUFFIX: [(&str, &str); 3] = [
    ("_batches", "batch"),
    ("_flex", "flex"),
    ("_priority", "priority"),
];

/// First path segments of a key that are LiteLLM routing prefixes (stripped for an alias).
const ROUTING_PREFIXES: &[&str] = &[
    "openai",
    "azure",
    "azure_ai",
    "bedrock",
    "vertex_ai",
    "gemini",
    "anthropic",
    "mistral",
    "groq",
    "xai",
    "deepseek",
    "together_ai",
    "fireworks_ai",
    "cohere",
    "perplexity",
    "watsonx",
    "databricks",
    "deepinfra",
    "novita",
    "nebius",
    "cerebras",
    "sambanova",
    "hyperbolic",
    "replicate",
    "cloudflare",
    "ollama",
    "codestral",
    "text-completion-codestral",
    "amazon-nova",
];
const AZURE_ZONES: &[&str] = &["eu", "us", "global", "global-standard", "apac", "us-gov"];
const FIREWORKS_PATH: &str = "accounts/fireworks/models/";

static BEDROCK_REGION: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d+$").ok());

/// LiteLLM base names, longest first (so that `cache_creation_input_token_cost_above_1hr` is
/// its own unit, not a suffix of `cache_creation_input_token_cost`).
static BASES: LazyLock<Vec<(UnitId, &'static str)>> = LazyLock::new(|| {
    let mut v: Vec<(UnitId, &str)> = UnitId::all()
        .filter_map(|u| u.unit().litellm.map(|(b, _)| (u, b)))
        .collect();
    v.sort_by_key(|(_, b)| std::cmp::Reverse(b.len()));
    v
});

/// A parsed price field name: (unit, long-context threshold, service tier).
type FieldKey = (UnitId, Option<u64>, Option<&'static str>);

/// Parses a field name by the grammar above.
fn field_key(name: &str) -> Option<FieldKey> {
    BASES.iter().find_map(|&(u, base)| {
        let rest = name.strip_prefix(base)?;
        let (rest, tier) = match TIER_SUFFIX.iter().find(|(s, _)| rest.ends_with(s)) {
            Some((s, t)) => (&rest[..rest.len() - s.len()], Some(*t)),
            None => (rest, None),
        };
        let threshold = if rest.is_empty() {
            None
        } else {
            let k = rest.strip_prefix("_above_")?.strip_suffix("k_tokens")?;
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(k.parse::<u64>().ok()?.checked_mul(1000)?)
        };
        Some((u, threshold, tier))
    })
}

fn scale(u: UnitId) -> i32 {
    u.unit().litellm.map_or(0, |(_, s)| s)
}

/// What is wrong with a price field's value (`None` for other fields, null, and good rates);
/// for a strict reader (a user's LiteLLM import), where the builder counts and skips instead.
pub(crate) fn field_problem(name: &str, v: &Scalar<'_>) -> Option<String> {
    let (u, _, _) = field_key(name)?;
    match v {
        Scalar::Null => None,
        Scalar::Number(n) => literal_rate(n, scale(u)).err().map(|e| format!("{n}: {e}")),
        Scalar::String(s) => Some(format!("expected a number, found {s:?}")),
        Scalar::Bool(b) => Some(format!("expected a number, found {b}")),
        Scalar::Compound => Some("expected a number, found an object or array".to_owned()),
    }
}

/// A LiteLLM value as a rate in the catalog's unit, rounded half-even to 9 decimals (counted).
/// `None`: not a number (booleans included), or refused (counted).
fn rate(u: UnitId, v: &Scalar<'_>, what: &str, notes: &mut Notes) -> Option<Rate> {
    let Scalar::Number(n) = v else {
        return None;
    };
    noted_rate(n, scale(u), what, notes)
}

/// Python's truth value of a JSON scalar as a number (`isinstance(v, (int, float)) and v`).
fn nonzero_number(v: &Scalar<'_>) -> bool {
    match v {
        Scalar::Bool(b) => *b,
        Scalar::Number(n) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
        _ => false,
    }
}

/// The standard rate set and the service tiers' full rate sets of one entry; `None` when it
/// has no per-token input (or output, except for embeddings: output 0).
pub(crate) fn rates(
    key: &str,
    spec: &[(String, Scalar<'_>)],
    mode: &str,
    notes: &mut Notes,
) -> Option<(RateSet, BTreeMap<&'static str, RateSet>)> {
    let mut values: BTreeMap<FieldKey, Rate> = BTreeMap::new();
    for (name, v) in spec {
        let Some(k) = field_key(name) else {
            if (name.contains("cost") || name.contains("price")) && nonzero_number(v) {
                notes.add(
                    "LiteLLM price fields ignored (no catalog field)",
                    name.clone(),
                );
            }
            continue;
        };
        if let Some(r) = rate(k.0, v, &format!("{key}.{name}"), notes) {
            values.insert(k, r);
        }
    }
    let set = |tier: Option<&'static str>| -> RateSet {
        let mut rs = RateSet::new();
        for u in UnitId::all() {
            let mut base = values.get(&(u, None, tier)).copied();
            let tiers: Vec<(u64, Rate)> = values
                .iter()
                .filter_map(|(&(uu, k, s), r)| match k {
                    Some(k) if uu == u && s == tier => Some((k, *r)),
                    _ => None,
                })
                .collect();
            if base.is_none() && !tiers.is_empty() && tier.is_some() {
                base = values.get(&(u, None, None)).copied();
            }
            if let Some(base) = base {
                rs.insert(u, Tiered { base, tiers });
            }
        }
        rs
    };
    let mut standard = set(None);
    if !standard.contains_key(&units::input()) {
        return None;
    }
    if let std::collections::btree_map::Entry::Vacant(e) = standard.entry(units::output()) {
        if mode != "embedding" {
            return None;
        }
        e.insert(Tiered::flat(Rate::ZERO));
    }
    let mut services = BTreeMap::new();
    for st in SERVICE_TIERS {
        let own = set(Some(st));
        if !own.is_empty() {
            services.insert(st, over(&standard, &own));
        }
    }
    Some((standard, services))
}

/// Alias candidates of a key: (alias, priority). 1 = only the routing prefix removed; 2 = a
/// location (Bedrock region, Azure data zone, Bedrock `claude_platform`) or Fireworks' account
/// path removed too, kept only if nothing plainer claims the alias.
fn aliases(key: &str, provider_raw: &str) -> Vec<(String, u8)> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() < 2 {
        return Vec::new();
    }
    let first = parts[0].to_lowercase();
    let p = provider_raw.to_lowercase();
    let own = [p.as_str(), p.split('-').next().unwrap_or("")];
    if !ROUTING_PREFIXES.contains(&first.as_str()) && !own.contains(&first.as_str()) {
        return Vec::new(); // e.g. openrouter-style "vendor/model" ids: kept as they are
    }
    let mut rest = &parts[1..];
    let mut prio = 1;
    if first == "bedrock" {
        while rest
            .first()
            .is_some_and(|s| *s == "converse" || *s == "invoke")
        {
            rest = &rest[1..];
        }
        let region = |s: &str| BEDROCK_REGION.as_ref().is_some_and(|r| r.is_match(s));
        if rest.len() > 1 && (region(rest[0]) || rest[0] == "claude_platform") {
            rest = &rest[1..];
            prio = 2;
        }
    } else if first == "azure" && rest.len() > 1 && AZURE_ZONES.contains(&rest[0]) {
        rest = &rest[1..];
        prio = 2;
    }
    if rest.is_empty() {
        return Vec::new();
    }
    let stripped = rest.join("/");
    let mut out = vec![(stripped.clone(), prio)];
    if first == "fireworks_ai" {
        if let Some(bare) = stripped.strip_prefix(FIREWORKS_PATH) {
            // Fireworks' API takes the full path; the bare name is a further strip.
            out.push((bare.to_owned(), 2));
        }
    }
    out
}

/// Python's `repr` of a JSON scalar, for the skipped-mode note.
fn py_repr(v: Option<&Scalar<'_>>) -> String {
    match v {
        None | Some(Scalar::Null) => "None".into(),
        Some(Scalar::Bool(b)) => if *b { "True" } else { "False" }.into(),
        Some(Scalar::String(s)) if !s.contains('\'') => format!("'{s}'"),
        Some(Scalar::String(s)) => format!("{s:?}"),
        Some(Scalar::Number(n)) => (*n).to_owned(),
        Some(Scalar::Compound) => "(object)".into(),
    }
}

/// An entry's fields, in input order.
pub(crate) type Fields<'a> = Vec<(String, Scalar<'a>)>;

/// The map's entries in input order, `sample_spec` left out; `None`: the entry is not an object.
pub(crate) fn entries<'a>(
    name: &str,
    text: &'a str,
) -> Result<Vec<(String, Option<Fields<'a>>)>, super::BuildError> {
    let map: Ordered<&RawValue> = super::parse_json(name, "a LiteLLM price map", text)?;
    Ok(map
        .0
        .into_iter()
        .filter(|(k, _)| k != "sample_spec")
        .map(|(k, v)| {
            let fields = serde_json::from_str::<Ordered<&RawValue>>(v.get())
                .ok()
                .map(|o| o.0.into_iter().map(|(k, v)| (k, Scalar::of(v))).collect());
            (k, fields)
        })
        .collect())
}

/// Reads the map. `name` (path or URL) is used in errors.
pub(crate) fn load(
    name: &str,
    text: &str,
    notes: &mut Notes,
) -> Result<Vec<BModel>, super::BuildError> {
    // An entry that is not an object is not a model (LiteLLM's own loader skips it too).
    let mut entries: Vec<(String, Fields<'_>)> = entries(name, text)?
        .into_iter()
        .filter_map(|(k, f)| Some((k, f?)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut models = Vec::new();
    for (key, spec) in entries {
        let get = |f: &str| spec.iter().find(|(k, _)| k == f).map(|(_, v)| v);
        let mode = get("mode");
        let Some(mode) = mode.and_then(Scalar::as_str).filter(|m| MODES.contains(m)) else {
            notes.add(
                &format!(
                    "LiteLLM entries skipped: mode {} not priced per token in scope",
                    py_repr(mode)
                ),
                key,
            );
            continue;
        };
        let Some(provider_raw) = get("litellm_provider")
            .and_then(Scalar::as_str)
            .filter(|p| !p.is_empty())
        else {
            notes.add("LiteLLM entries skipped: no litellm_provider", key);
            continue;
        };
        let Some((standard, services)) = rates(&key, &spec, mode, notes) else {
            notes.add(
                "LiteLLM entries skipped: no per-token input/output price (per-second, per-character, per-request, image ...)",
                key,
            );
            continue;
        };
        let mut price = PriceEntry::new(None, "litellm", standard);
        price.service_tiers = services;
        let mut alias_candidates = vec![(key.clone(), 0)];
        alias_candidates.extend(aliases(&key, provider_raw));
        // Names tried against genai-prices clauses: the most stripped first (what spans carry),
        // the full key last; not those with a location removed (a regional entry must not take
        // the price genai-prices gives the plain model unless its clause names the full key).
        let mut by_prio = alias_candidates.clone();
        by_prio.sort_by_key(|(_, p)| std::cmp::Reverse(*p));
        let match_names = by_prio
            .into_iter()
            .filter(|(_, p)| *p < 2)
            .map(|(a, _)| a)
            .collect();
        models.push(BModel {
            id: key.clone(),
            provider: super::canonical_provider(provider_raw),
            mode: mode.to_owned(),
            name: None,
            prices: vec![price],
            alias_candidates,
            rules: Vec::new(),
            notes: Vec::new(),
            match_names,
        });
    }
    Ok(models)
}
