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
    /// LiteLLM's base field name (before `_above_<N>k_tokens` and a service-tier suffix), and
    /// the power of ten from LiteLLM's unit to the catalog's (USD per token -> per million: 6).
    pub litellm: Option<(&'static str, i32)>,
}

/// The catalog's rate fields, in the order the catalog writes them.
const FIELDS: &[Unit] = &[
    Unit {
        field: true,
        name: "input",
        genai: ("input_mtok", 0),
        litellm: Some(("input_cost_per_token", 6)),
    },
    Unit {
        field: true,
        name: "output",
        genai: ("output_mtok", 0),
        litellm: Some(("output_cost_per_token", 6)),
    },
    Unit {
        field: true,
        name: "cache_read",
        genai: ("cache_read_mtok", 0),
        litellm: Some(("cache_read_input_token_cost", 6)),
    },
    Unit {
        field: true,
        name: "cache_write_5m",
        genai: ("cache_write_mtok", 0),
        litellm: Some(("cache_creation_input_token_cost", 6)),
    },
    Unit {
        field: true,
        name: "cache_write_1h",
        genai: ("cache_write_1h_mtok", 0),
        litellm: Some(("cache_creation_input_token_cost_above_1hr", 6)),
    },
    Unit {
        field: true,
        name: "reasoning",
        genai: ("output_reasoning_mtok", 0),
        litellm: Some(("output_cost_per_reasoning_token", 6)),
    },
    Unit {
        field: true,
        name: "audio_input",
        genai: ("input_audio_mtok", 0),
        litellm: Some(("input_cost_per_audio_token", 6)),
    },
    Unit {
        field: true,
        name: "audio_output",
        genai: ("output_audio_mtok", 0),
        litellm: Some(("output_cost_per_audio_token", 6)),
    },
    Unit {
        field: true,
        name: "audio_cache_read",
        genai: ("cache_audio_read_mtok", 0),
        litellm: Some(("cache_read_input_audio_token_cost", 6)),
    },
];

/// LiteLLM fields priced in a vocabulary unit without a rate field: (unit id, LiteLLM base
/// field, power of ten from LiteLLM's unit to the catalog's).
const LITELLM_UNITS: &[(&str, &str, i32)] = &[
    // USD per token -> per million tokens.
    ("input_image_tokens", "input_cost_per_image_token", 6),
    ("output_image_tokens", "output_cost_per_image_token", 6),
    // USD per character -> per million characters.
    ("input_characters", "input_cost_per_character", 6),
    // USD per 1,000 calls, as the catalog.
    ("storage_searches", "file_search_cost_per_1k_calls", 0),
    // USD per request -> per 1,000 requests.
    ("requests", "input_cost_per_request", 3),
];

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
            .find(|(id, _, _)| *id == d.id)
            .map(|(_, field, scale)| (*field, *scale));
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
