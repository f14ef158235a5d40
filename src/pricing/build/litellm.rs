//! LiteLLM's price map (`model_prices_and_context_window.json`, USD per single token) -> one
//! builder model per chat / completion / responses / embedding entry, with its alias candidates.
//!
//! A price field is `<base>[_above_<N>k_tokens][_batches|_flex|_priority]`, `<base>` one of the
//! LiteLLM names in [`super::units::UNITS`]; any other field whose name says `cost` or `price` is
//! counted as ignored.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::value::RawValue;

use super::check::{MODES, UNIT_MODES};
use super::model::{literal_rate_times, noted_rate_times, BModel, Ordered, Scalar};
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
        .filter_map(|u| u.unit().litellm.map(|f| (u, f.field)))
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

/// The power of ten and the factor from LiteLLM's unit of `u` to the catalog's.
fn scale(u: UnitId) -> (i32, u64) {
    u.unit().litellm.map_or((0, 1), |f| (f.scale, f.factor))
}

/// `true` when LiteLLM's field of `u` means that unit in entries of `mode`.
fn in_mode(u: UnitId, mode: &str) -> bool {
    u.unit()
        .litellm
        .is_none_or(|f| f.modes.is_empty() || f.modes.contains(&mode))
}

/// Fields read as another in one mode, unless the entry has that other field: (mode, field,
/// read as). LiteLLM writes the price of a generated image as `input_cost_per_image` in its
/// OpenAI and size-keyed image entries (`low/1024-x-1024/gpt-image-1`: 0.011, OpenAI's price of
/// one low-quality 1024x1024 image), and as `output_cost_per_image` elsewhere; where an entry has
/// both (Gemini image models), `input_cost_per_image` is per image sent.
const SYNONYMS: [(&str, &str, &str); 1] = [(
    "image_generation",
    "input_cost_per_image",
    "output_cost_per_image",
)];

/// `name` as the builder reads it in an entry of `mode` ([`SYNONYMS`]).
fn read_as<'a>(name: &'a str, mode: &str, spec: &[(String, Scalar<'_>)]) -> &'a str {
    for (m, field, as_field) in SYNONYMS {
        if m == mode && name == field && !spec.iter().any(|(k, _)| k == as_field) {
            return as_field;
        }
    }
    name
}

/// Why a LiteLLM price field is not read, by what its name contains (the first row that
/// matches; a mode-limited unit field in another mode is matched by its own name). Each
/// remaining ignored field is counted in the catalog's notes with its reason; a field no row
/// explains is counted as such (new in a LiteLLM version: add a row, or a unit).
pub(crate) const IGNORED: &[(&str, &str)] = &[
    ("_dbu_cost_per_token", "Databricks DBUs, not dollars (the dollar rate is `input_cost_per_token`)"),
    ("ocr_cost_per_credit", "Reducto credits, not dollars per page"),
    ("_ultrafast", "OpenAI's `ultrafast` processing: no span or API field names it yet"),
    ("_decisions", "a `decisions` processing mode: no span or API field names it"),
    ("_balanced", "SAIL's `balanced` routing: no span or API field names it"),
    ("_above_12hr", "a 12-hour cache write: spans report cache writes by 5-minute and 1-hour TTL only"),
    ("explicit_cache_read", "Qwen's explicit-cache reads: spans do not say whether a cache read was explicit or implicit"),
    ("input_cost_per_token_cache_hit", "DeepSeek's old name of its cache-read rate, equal to `cache_read_input_token_cost` in every entry"),
    ("file_search_cost_per_gb_per_day", "vector storage billed per GB per day, not per call: no span carries it"),
    ("vector_store_cost_per_gb_per_day", "vector storage billed per GB per day, not per call: no span carries it"),
    ("code_interpreter_cost_per_session", "per container session: spans carry no session count (code_executions counts calls)"),
    ("google_maps_grounding_cost_per_query", "Google Maps grounding queries: no library records them and the vocabulary has no unit for them"),
    ("input_cost_per_video_per_second", "video input per second (by interval): no span carries a video's duration, and the vocabulary has no video seconds"),
    ("input_cost_per_audio_per_second", "audio input per second of a chat or embedding model: no span carries the input's duration (Gemini bills audio input by tokens)"),
    ("output_cost_per_image_", "a price per image by a resolution label (fal.ai 0.5K/1K/2K/4K, 512/1024/1536): no library records that parameter"),
    ("output_cost_per_image", "per image generated by a chat model: Gemini bills generated images as output image tokens (`output_cost_per_image_token`); both would bill an image twice"),
    ("input_cost_per_image", "per image sent: the vocabulary counts input images in tokens, and no span carries a count of images sent"),
    ("input_cost_per_pixel", "per pixel of an image whose size the LiteLLM key does not name: no span carries a pixel count"),
    ("output_cost_per_pixel", "per output pixel: no span carries a pixel count, and no size is named"),
    ("input_cost_per_query", "per query of an embedding or search model: no span carries a query count for them"),
    ("output_cost_per_second", "per second of output of a transcription: it produces no audio (LiteLLM bills it by the input seconds)"),
    ("input_cost_per_second", "per second of a chat model's reserved capacity (Bedrock provisioned throughput), billed whether called or not"),
    ("cost_per_second", "per second of reserved capacity (Bedrock provisioned throughput), billed whether called or not"),
    ("output_cost_per_character", "output characters: no span carries an output character count"),
    ("regional_processing_uplift_multiplier", "OpenAI data residency (processing kept in the EU or the US) priced above the global one: no span attribute says where a request was processed (catalog/README.md, regions)"),
    ("regional_endpoint_uplift_multiplier", "Vertex AI regional endpoints priced above the global one: no span attribute names the endpoint's location (catalog/README.md, regions)"),
];

/// The reason of [`IGNORED`] for field `name`.
pub(crate) fn ignored_reason(name: &str) -> &'static str {
    IGNORED
        .iter()
        .find(|(needle, _)| name.contains(needle))
        .map_or(
            "not in the builder's table of LiteLLM fields (new in this LiteLLM version?)",
            |(_, why)| why,
        )
}

/// What is wrong with a price field's value (`None` for other fields, null, and good rates);
/// for a strict reader (a user's LiteLLM import), where the builder counts and skips instead.
pub(crate) fn field_problem(name: &str, v: &Scalar<'_>) -> Option<String> {
    let (u, _, _) = field_key(name)?;
    match v {
        Scalar::Null => None,
        Scalar::Number(n) => {
            let (scale, factor) = scale(u);
            literal_rate_times(n, scale, factor)
                .err()
                .map(|e| format!("{n}: {e}"))
        }
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
    let (scale, factor) = scale(u);
    noted_rate_times(n, scale, factor, what, notes)
}

/// A field that states a price (counted as ignored when not read): its name says `cost`,
/// `price` or `multiplier`.
fn is_price_field(name: &str) -> bool {
    ["cost", "price", "multiplier"]
        .iter()
        .any(|w| name.contains(w))
}

/// Python's truth value of a JSON scalar as a number (`isinstance(v, (int, float)) and v`).
fn nonzero_number(v: &Scalar<'_>) -> bool {
    match v {
        Scalar::Bool(b) => *b,
        Scalar::Number(n) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
        _ => false,
    }
}

/// Modes whose entries have no output tokens to price (output 0 when LiteLLM gives none).
const INPUT_ONLY_MODES: [&str; 2] = ["embedding", "rerank"];

/// The standard rate set and the service tiers' full rate sets of one entry; `None` when it
/// has no per-token input (or output, except for embeddings and rerankers: output 0), unless
/// it is an operation beyond chat (`UNIT_MODES`) priced by units alone (no rate field at all:
/// a model with no token price).
pub(crate) fn rates(
    key: &str,
    spec: &[(String, Scalar<'_>)],
    mode: &str,
    notes: &mut Notes,
) -> Option<(RateSet, BTreeMap<&'static str, RateSet>)> {
    let mut values: BTreeMap<FieldKey, Rate> = BTreeMap::new();
    for (name, v) in spec {
        let name = read_as(name, mode, spec);
        let Some(k) = field_key(name).filter(|k| in_mode(k.0, mode)) else {
            if is_price_field(name) && nonzero_number(v) {
                notes.add(
                    &format!(
                        "LiteLLM price fields ignored: {name} ({})",
                        ignored_reason(name)
                    ),
                    key,
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
    if mode == "image_generation" && !standard.contains_key(&units::output()) {
        // An image model's output tokens are image tokens (gpt-image-1: LiteLLM prices only
        // `output_cost_per_image_token`): its output rate is theirs.
        let image_out = UnitId::all().find(|u| u.name() == "output_image_tokens");
        if let Some(t) = image_out.and_then(|u| standard.get(&u)).cloned() {
            notes.add(
                "LiteLLM image models without an output rate: output priced as output image tokens",
                key,
            );
            standard.insert(units::output(), t);
        }
    }
    let unit_only = UNIT_MODES.contains(&mode)
        && !standard.is_empty()
        && standard.keys().all(|u| !u.unit().field);
    if !unit_only {
        if !standard.contains_key(&units::input()) {
            return None;
        }
        if let std::collections::btree_map::Entry::Vacant(e) = standard.entry(units::output()) {
            if !INPUT_ONLY_MODES.contains(&mode) {
                return None;
            }
            e.insert(Tiered::flat(Rate::ZERO));
        }
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
    Ok(models(entries(name, text)?, notes))
}

/// The models of the map's entries ([`entries`]), what is left out counted in `notes`.
pub(crate) fn models(entries: Vec<(String, Option<Fields<'_>>)>, notes: &mut Notes) -> Vec<BModel> {
    // An entry that is not an object is not a model (LiteLLM's own loader skips it too).
    let mut entries: Vec<(String, Fields<'_>)> = entries
        .into_iter()
        .filter_map(|(k, f)| Some((k, f?)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut models = Vec::new();
    // Image entries keyed by quality and size (`low/1024-x-1024/gpt-image-1`): the model's id
    // without them -> (when, its own per-image rate, provider), in key order.
    let mut image_variants: BTreeMap<String, ImageVariants> = BTreeMap::new();
    for (key, spec) in entries {
        let get = |f: &str| spec.iter().find(|(k, _)| k == f).map(|(_, v)| v);
        let mode = get("mode");
        let Some(mode) = mode.and_then(Scalar::as_str).filter(|m| MODES.contains(m)) else {
            let m = mode.and_then(Scalar::as_str).unwrap_or("");
            notes.add(
                &format!(
                    "LiteLLM entries skipped: mode {} ({})",
                    py_repr(mode),
                    skipped_mode_reason(m)
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
        if mode == "image_generation" {
            match image_key(&key) {
                Ok(Some(split)) => {
                    image_variant(&key, split, &spec, provider_raw, &mut image_variants, notes);
                    continue;
                }
                Ok(None) => {}
                Err(why) => {
                    notes.add(&format!("LiteLLM entries skipped: {why}"), key);
                    continue;
                }
            }
        }
        let Some((standard, services)) = rates(&key, &spec, mode, notes) else {
            notes.add(
                &format!("LiteLLM entries skipped: {}", unpriced_reason(&spec, mode)),
                key,
            );
            continue;
        };
        let mut price = PriceEntry::new(None, "litellm", standard);
        price.service_tiers = services;
        models.push(model(key, provider_raw, mode, price));
    }
    attach_image_variants(&mut models, image_variants, notes);
    models
}

/// A LiteLLM model of key `key` with its one price, and its alias candidates.
fn model(key: String, provider_raw: &str, mode: &str, price: PriceEntry) -> BModel {
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
    BModel {
        id: key,
        provider: super::canonical_provider(provider_raw),
        mode: mode.to_owned(),
        name: None,
        prices: vec![price],
        alias_candidates,
        rules: Vec::new(),
        notes: Vec::new(),
        match_names,
    }
}

/// Why LiteLLM entries of a mode are left out (the catalog's notes name each mode with it).
const SKIPPED_MODES: &[(&str, &str)] = &[
    ("realtime", "realtime sessions over WebSocket: no instrumentation library records them as spans (tests/fixtures/real-spans/UNITS.md)"),
    ("video_generation", "video priced per second by resolution: no library records a video's duration or resolution"),
    ("image_edit", "image edits: no library captured records an image edit call"),
    ("search", "web search APIs (Tavily, Exa ...) priced per query: tool spans, not LLM calls; a provider's own search fee is `web_searches`"),
    ("vector_store", "vector store search, billed outside the LLM call"),
    ("moderation", "moderation calls: OpenAI's are free, and no library records moderation calls as LLM spans"),
    ("evaluation", "evaluation APIs: no library records them as LLM calls"),
    ("extraction", "extraction APIs: no library records them as LLM calls"),
    ("decisions", "decision models: no library records them as LLM calls"),
    ("guardrail", "guardrails, billed per policy check: no span carries the unit"),
];

/// The reason of [`SKIPPED_MODES`] for `mode`.
fn skipped_mode_reason(mode: &str) -> &'static str {
    SKIPPED_MODES.iter().find(|(m, _)| *m == mode).map_or(
        "not a model: LiteLLM's fallback and commitment-tier entries have no mode",
        |(_, why)| why,
    )
}

/// Why an entry of a kept mode has no price the catalog can hold.
fn unpriced_reason(spec: &[(String, Scalar<'_>)], mode: &str) -> String {
    let priced: Vec<&str> = spec
        .iter()
        .filter(|(k, v)| is_price_field(k) && nonzero_number(v))
        .map(|(k, _)| read_as(k, mode, spec))
        .collect();
    if priced
        .iter()
        .any(|k| field_key(k).is_some_and(|f| f.0.unit().field && in_mode(f.0, mode)))
    {
        return "a token price without input or output".to_owned();
    }
    match priced
        .iter()
        .find(|k| field_key(k).is_none_or(|f| !in_mode(f.0, mode)))
    {
        Some(k) => format!("priced only by {k} ({})", ignored_reason(k)),
        None => "no price (free, or not priced by LiteLLM)".to_owned(),
    }
}

/// Per-image prices of one model by context, from LiteLLM's size/quality-keyed entries.
#[derive(Default)]
struct ImageVariants {
    provider: String,
    /// `(when, own rates)`, in key order.
    variants: Vec<(BTreeMap<String, String>, RateSet)>,
}

/// A key naming an image quality and/or size: (the model id without them, quality, size
/// `W x H`).
type ImageKey = (String, Option<String>, Option<(u64, u64)>);

/// Image qualities LiteLLM keys name (OpenAI's `quality` values).
const IMAGE_QUALITIES: [&str; 6] = ["low", "medium", "high", "standard", "hd", "auto"];

/// Splits `low/1024-x-1024/gpt-image-1` (or `azure/hd/1024-x-1024/dall-e-3`) into the model
/// id and the quality and size it names; `Ok(None)` when it names neither; `Err(why)` when it
/// names what no span carries (diffusion steps, a `max-x-max` size).
fn image_key(key: &str) -> Result<Option<ImageKey>, &'static str> {
    let parts: Vec<&str> = key.split('/').collect();
    let Some((last, path)) = parts.split_last() else {
        return Ok(None);
    };
    let mut rest = Vec::new();
    let (mut quality, mut size) = (None, None);
    for p in path {
        if IMAGE_QUALITIES.contains(p) {
            quality = Some((*p).to_owned());
        } else if let Some((w, h)) = p.split_once("-x-") {
            match (w.parse::<u64>(), h.parse::<u64>()) {
                (Ok(w), Ok(h)) => size = Some((w, h)),
                _ => return Err("an image price by a size no request names (`max-x-max`)"),
            }
        } else if p.ends_with("-steps") {
            return Err(
                "an image price by diffusion steps (`50-steps`, `max-steps`): no span carries the step count",
            );
        } else {
            rest.push(*p);
        }
    }
    if quality.is_none() && size.is_none() {
        return Ok(None);
    }
    rest.push(last);
    Ok(Some((rest.join("/"), quality, size)))
}

/// Reads one size/quality-keyed image entry as a price variant of its model: the price of one
/// image (`output_cost_per_image`, or `input_cost_per_image` read as it, or the price per
/// pixel times the size's pixels), by context `image_quality` / `image_size` (`1024x1024`).
fn image_variant(
    key: &str,
    (id, quality, size): ImageKey,
    spec: &[(String, Scalar<'_>)],
    provider_raw: &str,
    out: &mut BTreeMap<String, ImageVariants>,
    notes: &mut Notes,
) {
    let number = |f: &str| {
        spec.iter().find_map(|(k, v)| match v {
            Scalar::Number(n) if k == f && nonzero_number(v) => Some(*n),
            _ => None,
        })
    };
    let images = UnitId::all().find(|u| u.name() == "output_images");
    let per_image = number("output_cost_per_image").or_else(|| number("input_cost_per_image"));
    let what = format!("{key}.per_image");
    let rate = match (per_image, number("input_cost_per_pixel"), size) {
        (Some(n), _, _) => noted_rate_times(n, 0, 1, &what, notes),
        (None, Some(n), Some((w, h))) => {
            notes.add(
                "LiteLLM image prices per pixel written per image of the key's size",
                key,
            );
            noted_rate_times(n, 0, w.saturating_mul(h), &what, notes)
        }
        _ => None,
    };
    let (Some(rate), Some(images)) = (rate, images) else {
        notes.add(
            "LiteLLM entries skipped: an image size/quality entry without a price per image or pixel",
            key,
        );
        return;
    };
    let mut when = BTreeMap::new();
    if let Some(q) = quality {
        when.insert("image_quality".to_owned(), q);
    }
    if let Some((w, h)) = size {
        when.insert("image_size".to_owned(), format!("{w}x{h}"));
    }
    let mut own = RateSet::new();
    own.insert(images, Tiered::flat(rate));
    notes.add(
        "LiteLLM image size/quality entries read as price variants of one model",
        key,
    );
    let e = out.entry(id).or_default();
    if e.provider.is_empty() {
        provider_raw.clone_into(&mut e.provider);
    }
    e.variants.push((when, own));
}

/// Puts the per-image variants on their model: the LiteLLM entry of that id (its standard
/// rates under each), or a model of its own with no standard price (a call naming no size or
/// quality has its images unpriced, said on the span). Variants naming more keys first, so
/// that `{quality, size}` wins over `{size}`.
fn attach_image_variants(
    models: &mut Vec<BModel>,
    by_id: BTreeMap<String, ImageVariants>,
    notes: &mut Notes,
) {
    for (id, mut iv) in by_id {
        iv.variants
            .sort_by_key(|(when, _)| std::cmp::Reverse(when.len()));
        match models.iter_mut().find(|m| m.id == id) {
            Some(m) => {
                for p in &mut m.prices {
                    let variants = iv
                        .variants
                        .iter()
                        .map(|(when, own)| (when.clone(), over(&p.rates, own)));
                    p.variants.extend(variants);
                }
            }
            None => {
                notes.add(
                    "LiteLLM image models made of size/quality entries alone (no standard price)",
                    id.clone(),
                );
                let mut price = PriceEntry::new(None, "litellm", RateSet::new());
                price.variants = iv.variants;
                models.push(model(id, &iv.provider, "image_generation", price));
            }
        }
    }
    models.sort_by(|a, b| a.id.cmp(&b.id));
}
