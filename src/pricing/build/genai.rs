//! genai-prices' published v2 feed (`prices/new_data/v2/data.json`: providers -> models, each
//! with a match clause, prices and, in the feed of the 0.2.x packages, price variants) ->
//! builder models with a dated price history, their time-of-day prices and price variants
//! (variants.rs), and what schema 1 keeps of those.
//!
//! Unknown fields are ignored (the feed grows); a price field with no catalog unit is counted.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::model::{noted_rate, Ordered, Rule, Scalar};
use super::notes::Notes;
use super::units::{self, PriceEntry, RateSet, Tiered, UnitId};
use super::variants::{self, Constraint, TimeOfDayPrice, Variant};
use crate::money::Rate;

#[derive(Deserialize)]
struct Provider<'a> {
    id: String,
    #[serde(borrow)]
    models: Vec<ModelInfo<'a>>,
}

#[derive(Deserialize)]
struct ModelInfo<'a> {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "match")]
    clause: Clause,
    /// A `ModelPrice` object, or a list of `ConditionalPrice`.
    #[serde(borrow)]
    prices: &'a RawValue,
    /// A list of `PriceVariant` (optional: feeds before genai-prices 0.2 have none).
    #[serde(default, borrow)]
    price_variants: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PriceVariantV<'a> {
    when: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(borrow)]
    prices: &'a RawValue,
    #[serde(default)]
    constraint: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ConditionalPrice<'a> {
    #[serde(default)]
    constraint: Option<serde_json::Value>,
    #[serde(borrow)]
    prices: &'a RawValue,
}

#[derive(Deserialize)]
struct TieredPrices<'a> {
    #[serde(borrow)]
    base: &'a RawValue,
    tiers: Vec<TierV<'a>>,
}

#[derive(Deserialize)]
struct TierV<'a> {
    start: u64,
    #[serde(borrow)]
    price: &'a RawValue,
}

/// A genai-prices match clause, as the feed writes it (`{"or": [...]}`, `{"equals": "x"}` ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Clause {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(String),
    Or(Vec<Clause>),
    And(Vec<Clause>),
}

/// Rust's `regex` has no look-around and no back-references (the pattern generate.py used).
static RUST_UNSUPPORTED: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"\(\?<?[=!]|\\[1-9]|\(\?P=|\\k<").ok());

/// A clause ready to be evaluated as genai-prices does (Python `re`, case-insensitive search).
#[derive(Debug)]
pub(crate) enum Matcher {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(regex::Regex),
    /// Look-around: the `regex` crate refuses it; fancy-regex runs it.
    Fancy(Box<fancy_regex::Regex>),
    /// A pattern neither engine accepts: matches nothing.
    Never,
    Or(Vec<Matcher>),
    And(Vec<Matcher>),
}

impl Matcher {
    fn new(c: &Clause) -> Matcher {
        match c {
            Clause::Equals(s) => Matcher::Equals(s.to_lowercase()),
            Clause::StartsWith(s) => Matcher::StartsWith(s.to_lowercase()),
            Clause::EndsWith(s) => Matcher::EndsWith(s.to_lowercase()),
            Clause::Contains(s) => Matcher::Contains(s.to_lowercase()),
            Clause::Regex(r) => match regex::RegexBuilder::new(r).case_insensitive(true).build() {
                Ok(re) => Matcher::Regex(re),
                Err(_) => match fancy_regex::RegexBuilder::new(r)
                    .case_insensitive(true)
                    .build()
                {
                    Ok(re) => Matcher::Fancy(Box::new(re)),
                    Err(_) => Matcher::Never,
                },
            },
            Clause::Or(v) => Matcher::Or(v.iter().map(Matcher::new).collect()),
            Clause::And(v) => Matcher::And(v.iter().map(Matcher::new).collect()),
        }
    }

    /// `lower` is `text` lower-cased (Unicode, as Python's `str.lower`).
    fn matches(&self, text: &str, lower: &str) -> bool {
        match self {
            Matcher::Equals(s) => lower == s,
            Matcher::StartsWith(s) => lower.starts_with(s.as_str()),
            Matcher::EndsWith(s) => lower.ends_with(s.as_str()),
            Matcher::Contains(s) => lower.contains(s.as_str()),
            Matcher::Regex(re) => re.is_match(text),
            Matcher::Fancy(re) => re.is_match(text).unwrap_or(false),
            Matcher::Never => false,
            Matcher::Or(v) => v.iter().any(|m| m.matches(text, lower)),
            Matcher::And(v) => v.iter().all(|m| m.matches(text, lower)),
        }
    }

    /// Whether the clause matches `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.matches(text, &text.to_lowercase())
    }
}

/// The catalog rules a clause becomes (a list = OR). `[]`: not expressible (a regex Rust cannot
/// run); inside an AND such a part is dropped (which broadens the rule), counted.
pub(crate) fn clause_rules(c: &Clause, ctx: &str, notes: &mut Notes) -> Vec<Rule> {
    match c {
        Clause::Equals(s) => vec![Rule::Equals(s.clone())],
        Clause::StartsWith(s) => vec![Rule::StartsWith(s.clone())],
        Clause::EndsWith(s) => vec![Rule::EndsWith(s.clone())],
        Clause::Contains(s) => vec![Rule::Contains(s.clone())],
        Clause::Regex(r) => {
            if RUST_UNSUPPORTED.as_ref().is_some_and(|u| u.is_match(r)) {
                notes.add(
                    "genai-prices regexes dropped (look-around/back-reference, not valid for Rust regex)",
                    format!("{ctx}: {r}"),
                );
                return Vec::new();
            }
            if regex::RegexBuilder::new(r)
                .case_insensitive(true)
                .build()
                .is_err()
            {
                notes.add(
                    "genai-prices regexes dropped (refused by Rust's regex crate)",
                    format!("{ctx}: {r}"),
                );
                return Vec::new();
            }
            vec![Rule::Regex(r.clone())]
        }
        Clause::Or(v) => v.iter().flat_map(|x| clause_rules(x, ctx, notes)).collect(),
        Clause::And(v) => {
            let mut parts = Vec::new();
            let mut nested_or = false;
            for x in v {
                let mut rs = clause_rules(x, ctx, notes);
                match rs.len() {
                    0 => {}
                    1 => parts.push(rs.remove(0)),
                    _ => nested_or = true, // OR inside AND is not expressible
                }
            }
            if nested_or {
                notes.add("genai-prices AND clauses with a nested OR dropped", ctx);
                return Vec::new();
            }
            match parts.len() {
                0 => Vec::new(),
                1 => parts,
                _ => vec![Rule::All(parts)],
            }
        }
    }
}

/// One genai-prices model, read.
pub(crate) struct GenaiModel {
    pub provider: String,
    pub raw_provider: String,
    pub id: String,
    pub name: Option<String>,
    pub clause: Clause,
    pub matcher: Matcher,
    /// Dated history, ascending.
    pub prices: Vec<PriceEntry>,
    /// Prices in force during a daily window (schema 1 cannot write them).
    pub time_of_day: Vec<TimeOfDayPrice>,
    /// Price variants, in the feed's order (schema 1 writes batch/flex/priority ones).
    pub variants: Vec<Variant>,
    pub dated: bool,
    pub tiered: bool,
    pub notes: Vec<String>,
    /// The mode of a model priced by units alone (no token price), from its units
    /// ([`unit_only_mode`]); `None` for a model with token prices.
    pub unit_mode: Option<&'static str>,
}

/// The operation a model priced by units alone performs, by the family of its units (the
/// first row that one of its units is of): `None` when a rate set holds a rate field, is
/// empty, or no row fits. genai-prices' voice models priced per audio hour (xAI voice,
/// OpenAI live) get `audio_transcription`: the mode only says the model may have no token
/// price.
fn unit_only_mode<'a>(sets: impl Iterator<Item = &'a RateSet> + Clone) -> Option<&'static str> {
    use crate::pricing::units::Family;
    const MODE_BY_FAMILY: [(Family, &str); 5] = [
        (Family::Images, "image_generation"),
        (Family::Characters, "audio_speech"),
        (Family::Rerank, "rerank"),
        (Family::DocumentPages, "ocr"),
        (Family::Durations, "audio_transcription"),
    ];
    let mut any = false;
    for rs in sets.clone() {
        if rs.is_empty() || rs.keys().any(|u| u.unit().field) {
            return None;
        }
        any = true;
    }
    if !any {
        return None;
    }
    let families: Vec<Family> = sets
        .flat_map(|rs| rs.keys())
        .filter_map(|u| u.name().parse::<crate::pricing::Unit>().ok())
        .map(|u| u.def().family)
        .collect();
    MODE_BY_FAMILY
        .iter()
        .find(|(f, _)| families.contains(f))
        .map(|(_, m)| *m)
}

/// A value as a rate, rounded half-even to 9 decimals (counted); refused values are counted.
fn rate(raw: &RawValue, scale: i32, what: &str, notes: &mut Notes) -> Option<Rate> {
    let Scalar::Number(n) = Scalar::of(raw) else {
        notes.add("genai-prices price values refused (not a number)", what);
        return None;
    };
    noted_rate(n, scale, what, notes)
}

/// A `ModelPrice` as `(unit, value)` in input order (which the time-of-day note follows).
pub(super) fn rate_list(raw: &RawValue, what: &str, notes: &mut Notes) -> Vec<(UnitId, Tiered)> {
    let Ok(mp) = serde_json::from_str::<Ordered<&RawValue>>(raw.get()) else {
        notes.add("genai-prices prices refused (not an object)", what);
        return Vec::new();
    };
    let mut out: Vec<(UnitId, Tiered)> = Vec::new();
    for (k, v) in mp.0 {
        if matches!(Scalar::of(v), Scalar::Null) {
            continue;
        }
        let Some(u) = UnitId::by_genai(&k) else {
            notes.add("genai-prices price fields ignored (no catalog field)", k);
            continue;
        };
        let scale = u.unit().genai.1;
        let value = if v.get().starts_with('{') {
            match serde_json::from_str::<TieredPrices<'_>>(v.get()) {
                Ok(t) => {
                    let mut tiers = Vec::new();
                    for tv in &t.tiers {
                        if let Some(r) = rate(tv.price, scale, what, notes) {
                            tiers.push((tv.start, r));
                        }
                    }
                    tiers.sort();
                    rate(t.base, scale, what, notes).map(|base| Tiered { base, tiers })
                }
                Err(_) => {
                    notes.add("genai-prices price values refused (not a number)", what);
                    None
                }
            }
        } else {
            rate(v, scale, what, notes).map(Tiered::flat)
        };
        if let Some(value) = value {
            match out.iter_mut().find(|(uu, _)| *uu == u) {
                Some(slot) => slot.1 = value,
                None => out.push((u, value)),
            }
        }
    }
    out
}

fn rate_set(raw: &RawValue, what: &str, notes: &mut Notes) -> RateSet {
    rate_list(raw, what, notes).into_iter().collect()
}

/// `prices` -> a dated history. genai-prices uses the LAST active `ConditionalPrice` (the first
/// when none is active): for each start date we take that choice, and collapse runs that pick
/// the same entry. Time-of-day prices go to `time_of_day` (counted: schema 1 skips them).
fn timeline(
    m: &ModelInfo<'_>,
    what: &str,
    time_of_day: &mut Vec<TimeOfDayPrice>,
    notes: &mut Notes,
) -> Option<Vec<(Option<String>, RateSet)>> {
    if m.prices.get().starts_with('{') {
        return Some(vec![(None, rate_set(m.prices, what, notes))]);
    }
    let Ok(list) = serde_json::from_str::<Vec<ConditionalPrice<'_>>>(m.prices.get()) else {
        notes.add("genai-prices prices refused (not an object)", what);
        return None;
    };
    let mut entries: Vec<(Option<String>, &RawValue)> = Vec::new();
    for cp in &list {
        match Constraint::read(cp.constraint.as_ref()) {
            Ok(None) => entries.push((None, cp.prices)),
            Ok(Some(Constraint::StartDate(d))) => entries.push((Some(d.to_string()), cp.prices)),
            Ok(Some(Constraint::TimeOfDay { start, end })) => {
                let rates = rate_list(cp.prices, what, notes);
                time_of_day.push(TimeOfDayPrice { start, end, rates });
            }
            Err(()) => notes.add(
                "genai-prices prices with unknown constraint skipped",
                format!(
                    "{}: {}",
                    m.id,
                    cp.constraint.clone().unwrap_or(serde_json::Value::Null)
                ),
            ),
        }
    }
    if entries.is_empty() {
        return None;
    }
    let mut dates: Vec<&String> = entries.iter().filter_map(|(d, _)| d.as_ref()).collect();
    dates.sort();
    dates.dedup();
    let mut picks: Vec<(Option<String>, usize)> = Vec::new();
    for b in std::iter::once(None).chain(dates.into_iter().map(Some)) {
        let active = entries
            .iter()
            .enumerate()
            .filter(|(_, (d, _))| match (d, b) {
                (None, _) => true,
                (Some(d), Some(b)) => d <= b,
                (Some(_), None) => false,
            })
            .map(|(i, _)| i)
            .next_back()
            .unwrap_or(0);
        if picks.last().is_some_and(|(_, a)| *a == active) {
            continue;
        }
        picks.push((b.cloned(), active));
    }
    Some(
        picks
            .into_iter()
            .map(|(b, i)| (b, rate_set(entries[i].1, what, notes)))
            .collect(),
    )
}

/// `price_variants` -> variants, each with what reading its prices noted (schema 1 counts
/// those only for the variants it writes). A malformed variant (not an object, `when` empty or
/// not all strings, `prices` not an object, an unknown constraint) is refused, counted.
fn read_variants(
    raw: Option<&RawValue>,
    what: &str,
    notes: &mut Notes,
) -> (Vec<Variant>, Vec<Notes>) {
    const REFUSED: &str = "genai-prices price variants refused (malformed)";
    let mut out = (Vec::new(), Vec::new());
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return out;
    };
    let Ok(list) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        notes.add(REFUSED, what);
        return out;
    };
    for item in list {
        let Ok(v) = serde_json::from_str::<PriceVariantV<'_>>(item.get()) else {
            notes.add(REFUSED, what);
            continue;
        };
        let when: Option<std::collections::BTreeMap<String, String>> = v
            .when
            .into_iter()
            .map(|(k, x)| x.as_str().map(|x| (k, x.to_owned())))
            .collect();
        let when = when.filter(|w| !w.is_empty());
        let constraint = Constraint::read(v.constraint.as_ref());
        let (Some(when), Ok(constraint), true) =
            (when, constraint, v.prices.get().starts_with('{'))
        else {
            notes.add(REFUSED, what);
            continue;
        };
        let mut read_notes = Notes::default();
        let rates = rate_set(v.prices, what, &mut read_notes);
        out.0.push(Variant {
            when,
            rates,
            constraint,
        });
        out.1.push(read_notes);
    }
    out
}

/// Reads the feed. `name` (path or URL) is used in errors.
pub(crate) fn load(
    name: &str,
    text: &str,
    notes: &mut Notes,
) -> Result<Vec<GenaiModel>, super::BuildError> {
    let providers: Vec<Provider<'_>> = super::parse_json(name, "a genai-prices v2 feed", text)?;
    let mut out = Vec::new();
    for prov in &providers {
        for m in &prov.models {
            let mut provider = super::canonical_provider(&prov.id);
            if provider == "gcp.gemini" && m.id.starts_with("claude") {
                // genai-prices files Anthropic's models sold on Google Cloud under "google";
                // they are Vertex AI partner models (the Gemini API does not serve them).
                provider = "gcp.vertex_ai".to_owned();
            }
            let what = format!("{}/{}", prov.id, m.id);
            let mut time_of_day = Vec::new();
            let tl = timeline(m, &what, &mut time_of_day, notes);
            let has_token_price = tl.as_ref().is_some_and(|tl| {
                tl.iter().any(|(_, rs)| {
                    rs.contains_key(&units::input()) || rs.contains_key(&units::output())
                })
            });
            // Priced by units alone (speech characters, audio hours, document pages ...): an
            // operation beyond chat with no token price, every price entry holding only units.
            let unit_mode = tl
                .as_ref()
                .filter(|_| !has_token_price)
                .and_then(|tl| unit_only_mode(tl.iter().map(|(_, rs)| rs)));
            let priced = tl
                .as_ref()
                .is_some_and(|tl| tl.iter().any(|(_, rs)| !rs.is_empty()));
            let Some(tl) = tl.filter(|_| has_token_price || unit_mode.is_some()) else {
                notes.add(
                    if priced {
                        "genai-prices models skipped: no input or output token price, and no \
                         unit of an operation beyond chat (images, characters, audio, pages, \
                         rerank searches)"
                    } else {
                        "genai-prices models skipped: no price at all (free, or unpriced in the feed)"
                    },
                    what,
                );
                continue;
            };
            let entries: Vec<PriceEntry> = tl
                .into_iter()
                .map(|(d, rs)| PriceEntry::new(d, "genai-prices", rs))
                .collect();
            let (variants, variant_notes) = read_variants(m.price_variants, &what, notes);
            let mut g = GenaiModel {
                provider,
                raw_provider: prov.id.clone(),
                id: m.id.clone(),
                name: m.name.clone(),
                matcher: Matcher::new(&m.clause),
                clause: m.clause.clone(),
                prices: entries,
                time_of_day,
                variants,
                dated: false,
                tiered: false,
                notes: Vec::new(),
                unit_mode,
            };
            g.notes = variants::schema1(
                &mut g.prices,
                &g.variants,
                variant_notes,
                &g.time_of_day,
                &what,
                notes,
            );
            let complete = |e: &PriceEntry| {
                e.rates.contains_key(&units::input()) && e.rates.contains_key(&units::output())
            };
            if g.unit_mode.is_none() && !g.prices.iter().all(complete) {
                // input and output are required: embeddings get output 0, the rest are skipped
                let all_input = g
                    .prices
                    .iter()
                    .all(|e| e.rates.contains_key(&units::input()));
                if all_input && m.id.to_lowercase().contains("embed") {
                    for e in &mut g.prices {
                        e.rates
                            .entry(units::output())
                            .or_insert(Tiered::flat(Rate::ZERO));
                    }
                } else {
                    notes.add(
                        "genai-prices models skipped: input or output price missing",
                        what,
                    );
                    continue;
                }
            }
            g.dated = g.prices.iter().any(|e| e.effective_from.is_some());
            g.tiered = g
                .prices
                .iter()
                .any(|e| e.rates.values().any(|t| !t.tiers.is_empty()));
            out.push(g);
        }
    }
    Ok(out)
}
