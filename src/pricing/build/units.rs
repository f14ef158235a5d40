//! The builder's price model: a registry of priced units (one row per unit, naming it in the
//! catalog and in each source), and rate sets keyed by unit.
//!
//! The rows are the catalog's rate fields ([`FIELDS`]) followed by every other unit of the
//! vocabulary ([`crate::pricing::units`]) that a source prices: those are written in a rate
//! set's `units` object (schema 2), in USD per the unit's price quantity (genai-prices' own:
//! per million tokens, per thousand searches, per hour ...). Adding a unit is a row of the
//! vocabulary (and, for a LiteLLM field, a row of [`LITELLM_UNITS`]): the readers look fields up
//! here, the merge rules and the checks go over whatever units a rate set holds, and the writer
//! writes them in table order.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::pricing::units::Unit as VocabUnit;

use crate::money::Rate;

/// One priced unit.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The rate's name in the catalog: a rate field (USD per million tokens), or, when `field`
    /// is false, a vocabulary unit id in the `units` object.
    pub name: &'static str,
    /// A rate field of its own (schema 1); else an entry of `units`.
    pub field: bool,
    /// Its key in a genai-prices v2 `ModelPrice`, and the power of ten from that key's unit to
    /// the catalog's (`*_mtok`, USD per million tokens: 0).
    pub genai: (&'static str, i32),
    /// LiteLLM's base field name (before `_above_<N>k_tokens` and a service-tier suffix), the
    /// power of ten from LiteLLM's unit to the catalog's (USD per token -> per million: 6), and
    /// the modes it means this unit in.
    pub litellm: Option<LiteField>,
}

/// How a LiteLLM field reads as a unit's rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiteField {
    /// The base field name.
    pub field: &'static str,
    /// Power of ten from LiteLLM's unit to the catalog's.
    pub scale: i32,
    /// A factor besides (USD per second -> per hour: 3,600); 1 for most.
    pub factor: u64,
    /// The LiteLLM modes in which the field means this unit; empty: every mode. In another
    /// mode the field is ignored, with its reason (`litellm.rs`, `IGNORED`).
    pub modes: &'static [&'static str],
}

/// A per-token LiteLLM field of a rate field: USD per token -> per million, every mode.
const fn per_token(field: &'static str) -> Option<LiteField> {
    Some(LiteField {
        field,
        scale: 6,
        factor: 1,
        modes: &[],
    })
}

/// The catalog's rate fields, in the order the catalog writes them.
const FIELDS: &[Unit] = &[
    Unit {
        field: true,
        name: "input",
        genai: ("input_mtok", 0),
        litellm: per_token("input_cost_per_token"),
    },
    Unit {
        field: true,
        name: "output",
        genai: ("output_mtok", 0),
        litellm: per_token("output_cost_per_token"),
    },
    Unit {
        field: true,
        name: "cache_read",
        genai: ("cache_read_mtok", 0),
        litellm: per_token("cache_read_input_token_cost"),
    },
    Unit {
        field: true,
        name: "cache_write_5m",
        genai: ("cache_write_mtok", 0),
        litellm: per_token("cache_creation_input_token_cost"),
    },
    Unit {
        field: true,
        name: "cache_write_1h",
        genai: ("cache_write_1h_mtok", 0),
        litellm: per_token("cache_creation_input_token_cost_above_1hr"),
    },
    Unit {
        field: true,
        name: "reasoning",
        genai: ("output_reasoning_mtok", 0),
        litellm: per_token("output_cost_per_reasoning_token"),
    },
    Unit {
        field: true,
        name: "audio_input",
        genai: ("input_audio_mtok", 0),
        litellm: per_token("input_cost_per_audio_token"),
    },
    Unit {
        field: true,
        name: "audio_output",
        genai: ("output_audio_mtok", 0),
        litellm: per_token("output_cost_per_audio_token"),
    },
    Unit {
        field: true,
        name: "audio_cache_read",
        genai: ("cache_audio_read_mtok", 0),
        litellm: per_token("cache_read_input_audio_token_cost"),
    },
];

/// LiteLLM fields priced in a vocabulary unit without a rate field: (unit id, how the field
/// reads). A field limited to some modes means something else elsewhere (`input_cost_per_image`
/// of a chat model is per image sent, not generated).
const LITELLM_UNITS: &[(&str, LiteField)] = &[
    // USD per token -> per million tokens.
    (
        "input_image_tokens",
        lite("input_cost_per_image_token", 6, 1, &[]),
    ),
    (
        "output_image_tokens",
        lite("output_cost_per_image_token", 6, 1, &[]),
    ),
    // USD per character -> per million characters.
    (
        "input_characters",
        lite("input_cost_per_character", 6, 1, &[]),
    ),
    // USD per 1,000 calls, as the catalog.
    (
        "storage_searches",
        lite("file_search_cost_per_1k_calls", 0, 1, &[]),
    ),
    // USD per request -> per 1,000 requests.
    ("requests", lite("input_cost_per_request", 3, 1, &[])),
    // Token units by modality and kind (USD per token -> per million tokens).
    (
        "cache_image_read_tokens",
        lite("cache_read_input_image_token_cost", 6, 1, &[]),
    ),
    (
        "input_video_tokens",
        lite("input_cost_per_video_token", 6, 1, &[]),
    ),
    (
        "output_video_tokens",
        lite("output_cost_per_video_token", 6, 1, &[]),
    ),
    (
        "output_citation_tokens",
        lite("citation_cost_per_token", 6, 1, &[]),
    ),
    // USD per second of audio transcribed -> per hour (genai-prices' `input_audio_hours`).
    (
        "input_audio_seconds",
        lite("input_cost_per_second", 0, 3_600, &["audio_transcription"]),
    ),
    // USD per second of speech generated -> per hour.
    (
        "output_audio_seconds",
        lite("output_cost_per_second", 0, 3_600, &["audio_speech"]),
    ),
    // USD per rerank query -> per 1,000 searches.
    (
        "rerank_searches",
        lite("input_cost_per_query", 3, 1, &["rerank"]),
    ),
    // USD per page -> per 1,000 pages (OCR; an annotated page at its own price).
    (
        "input_document_pages",
        lite("ocr_cost_per_page", 3, 1, &["ocr"]),
    ),
    (
        "input_annotated_document_pages",
        lite("annotation_cost_per_page", 3, 1, &["ocr"]),
    ),
    // USD per image generated (`input_cost_per_image` of an image generation entry without
    // this field reads as it: litellm.rs, `SYNONYMS`).
    (
        "output_images",
        lite("output_cost_per_image", 0, 1, &["image_generation"]),
    ),
];

const fn lite(
    field: &'static str,
    scale: i32,
    factor: u64,
    modes: &'static [&'static str],
) -> LiteField {
    LiteField {
        field,
        scale,
        factor,
        modes,
    }
}

/// Every unit the catalog holds, in the order it writes them: the rate fields, then each
/// vocabulary unit that genai-prices or LiteLLM prices and no rate field holds.
pub(crate) static UNITS: LazyLock<Vec<Unit>> = LazyLock::new(|| {
    let mut v: Vec<Unit> = FIELDS
        .iter()
        .map(|u| Unit {
            name: u.name,
            field: true,
            genai: u.genai,
            litellm: u.litellm,
        })
        .collect();
    // Units with a rate field of their own are not repeated in `units` (genai-prices'
    // `cache_write_5m_mtok` stays unread: the field `cache_write_5m` reads `cache_write_mtok`).
    for u in VocabUnit::all().filter(|u| !crate::pricing::Rates::has_field(*u)) {
        let d = u.def();
        let genai = d
            .genai_price_key
            .filter(|k| !FIELDS.iter().any(|f| f.genai.0 == *k));
        let litellm = LITELLM_UNITS
            .iter()
            .find(|(id, _)| *id == d.id)
            .map(|(_, f)| *f);
        if genai.is_none() && litellm.is_none() {
            continue;
        }
        v.push(Unit {
            name: d.id,
            field: false,
            // Our own units have no genai-prices key: a key no feed uses.
            genai: (genai.unwrap_or(""), 0),
            litellm,
        });
    }
    v
});

/// A unit, as its index in [`UNITS`] (so that ordering a map by it is table order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UnitId(u8);

impl UnitId {
    pub(crate) fn unit(self) -> &'static Unit {
        &UNITS[self.0 as usize]
    }

    pub(crate) fn name(self) -> &'static str {
        self.unit().name
    }

    /// Every unit, in table order.
    pub(crate) fn all() -> impl Iterator<Item = UnitId> {
        (0..UNITS.len()).map(|i| UnitId(i as u8))
    }

    /// The unit with this genai-prices key.
    pub(crate) fn by_genai(key: &str) -> Option<UnitId> {
        UnitId::all().find(|u| !key.is_empty() && u.unit().genai.0 == key)
    }
}

/// The two units every standard rate set needs.
pub(crate) fn input() -> UnitId {
    UnitId(0)
}
pub(crate) fn output() -> UnitId {
    UnitId(1)
}

/// A base rate plus long-context cliffs: above `threshold` total input tokens, the tier's rate
/// re-prices all tokens of the unit (genai-prices' `TieredPrices`, LiteLLM's `_above_<N>k_tokens`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tiered {
    pub base: Rate,
    /// `(threshold, rate)`, ascending.
    pub tiers: Vec<(u64, Rate)>,
}

impl Tiered {
    pub(crate) fn flat(base: Rate) -> Tiered {
        Tiered {
            base,
            tiers: Vec::new(),
        }
    }

    /// The rate in force above `threshold` if this unit has its own tier at or below it.
    pub(crate) fn at(&self, threshold: u64) -> Option<Rate> {
        self.tiers
            .iter()
            .take_while(|(s, _)| *s <= threshold)
            .last()
            .map(|(_, r)| *r)
    }
}

/// Rates by unit.
pub(crate) type RateSet = BTreeMap<UnitId, Tiered>;

/// Every cliff threshold of a rate set, ascending, once each.
pub(crate) fn thresholds(rs: &RateSet) -> Vec<u64> {
    let mut v: Vec<u64> = rs
        .values()
        .flat_map(|t| t.tiers.iter().map(|(s, _)| *s))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Service tiers the catalog (schema 1) holds, in the order it writes them.
pub(crate) const SERVICE_TIERS: [&str; 3] = ["batch", "flex", "priority"];

/// One dated price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PriceEntry {
    /// `YYYY-MM-DD`; `None`: from the start.
    pub effective_from: Option<String>,
    pub source: &'static str,
    pub rates: RateSet,
    /// Service tier name -> its full rate set.
    pub service_tiers: BTreeMap<&'static str, RateSet>,
    /// Other price variants (schema 2), in precedence order: `when` -> its full rate set.
    pub variants: Vec<(BTreeMap<String, String>, RateSet)>,
    /// Time-of-day prices (schema 2): `(start, end)` UTC `HH:MM:SS` -> its full rate set.
    pub windows: Vec<(String, String, RateSet)>,
}

impl PriceEntry {
    pub(crate) fn new(
        effective_from: Option<String>,
        source: &'static str,
        rates: RateSet,
    ) -> Self {
        PriceEntry {
            effective_from,
            source,
            rates,
            service_tiers: BTreeMap::new(),
            variants: Vec::new(),
            windows: Vec::new(),
        }
    }
}

/// A full rate set for a service tier: `own` rates over the standard ones.
pub(crate) fn over(standard: &RateSet, own: &RateSet) -> RateSet {
    let mut full = standard.clone();
    full.extend(own.iter().map(|(u, t)| (*u, t.clone())));
    full
}
