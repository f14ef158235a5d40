//! The usage vocabulary (issue 15): every unit a call can be billed by, as data.
//!
//! The registry follows genai-prices' (`prices/units.yml`): a unit's id is the usage key a
//! provider reports (`input_tokens`, `cache_read_tokens`, `web_searches`, `audio_seconds` ...), its
//! price key the genai-prices `ModelPrice` key, and its dimensions say what it counts. We add what
//! genai-prices has no unit for (`web_fetches`, `output_images`). Adding a unit is a row in
//! [`UNITS`]; nothing else changes.
//!
//! **Containment is ancestry** (genai-prices' rule, DESIGN §3 generalised): unit A is an ancestor
//! of B when both are of one family and every dimension A sets, B sets to the same value. So
//! `input_tokens` is an ancestor of `cache_read_tokens`, `input_audio_tokens` and
//! `cache_audio_read_tokens`, and usage is inclusive: a descendant's count is part of its
//! ancestor's (cache and modality counts are parts of the input total, reasoning of the output).

use std::fmt;

use crate::span_view::bytes_eq;

/// What a unit counts, and the size of its price unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Tokens; priced per million.
    Tokens,
    /// Characters (speech input); priced per million.
    Characters,
    /// Messages; priced per thousand.
    Messages,
    /// Seconds (audio); priced per hour.
    Durations,
    /// Pixels; priced per billion.
    Pixels,
    /// Document pages (OCR); priced per thousand.
    DocumentPages,
    /// Rerank searches; priced per thousand.
    Rerank,
    /// Server-side tool calls (web and file searches ...); priced per thousand.
    ToolCalls,
    /// Requests (one per call); priced per thousand.
    Requests,
    /// Images generated; priced per image.
    Images,
}

impl Family {
    /// How many of the unit one price is for (USD per `per()` units).
    pub fn per(self) -> u64 {
        match self {
            Family::Tokens | Family::Characters => 1_000_000,
            Family::Durations => 3_600,
            Family::Pixels => 1_000_000_000,
            Family::Messages
            | Family::DocumentPages
            | Family::Rerank
            | Family::ToolCalls
            | Family::Requests => 1_000,
            Family::Images => 1,
        }
    }
}

/// Input or output side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent to the model.
    In,
    /// Produced by the model.
    Out,
}

/// What the unit's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// Text.
    Text,
    /// Audio.
    Audio,
    /// Images (genai-prices counts Gemini's DOCUMENT tokens here).
    Image,
    /// Video.
    Video,
}

/// The kind of a token beyond direction and modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Read from the prompt cache.
    CacheRead,
    /// Written to the prompt cache.
    CacheWrite,
    /// Tool-use prompt (Gemini `toolUsePromptTokenCount`).
    Tool,
    /// Reasoning ("thinking") output.
    Reasoning,
    /// Citation output (Perplexity).
    Citation,
}

/// Time to live of a cache write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheTtl {
    /// Five minutes (Anthropic's default).
    M5,
    /// One hour.
    H1,
}

/// One unit of the registry.
#[derive(Debug, PartialEq, Eq)]
pub struct UnitDef {
    /// The usage key (`cache_read_tokens`, `web_searches`): the name in the CLI, in
    /// `cost.usage.<id>` and in the catalog.
    pub id: &'static str,
    /// Its genai-prices price key (`cache_read_mtok`, `web_searches_kcount`); `None` for our own.
    pub genai_price_key: Option<&'static str>,
    /// What it counts, and the price unit.
    pub family: Family,
    /// Input or output; `None`: neither (tool calls, requests), or both (`audio_seconds`).
    pub direction: Option<Direction>,
    /// Content modality.
    pub modality: Option<Modality>,
    /// Token kind.
    pub token_type: Option<TokenType>,
    /// Cache-write TTL (only with `token_type: CacheWrite`).
    pub cache_ttl: Option<CacheTtl>,
    /// The tool or page kind (`web_search`, `annotated` ...).
    pub kind: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)] // one row of the table
const fn unit(
    id: &'static str,
    genai_price_key: Option<&'static str>,
    family: Family,
    direction: Option<Direction>,
    modality: Option<Modality>,
    token_type: Option<TokenType>,
    cache_ttl: Option<CacheTtl>,
    kind: Option<&'static str>,
) -> UnitDef {
    UnitDef {
        id,
        genai_price_key,
        family,
        direction,
        modality,
        token_type,
        cache_ttl,
        kind,
    }
}

use CacheTtl::*;
use Direction::*;
use Family::*;
use Modality::*;
use TokenType::*;

/// Every unit: genai-prices' 59 (in the order of its v2 feed schema's `ModelPrice`), then ours.
pub const UNITS: &[UnitDef] = &[
    unit(
        "input_tokens",
        Some("input_mtok"),
        Tokens,
        Some(In),
        None,
        None,
        None,
        None,
    ),
    unit(
        "cache_write_tokens",
        Some("cache_write_mtok"),
        Tokens,
        Some(In),
        None,
        Some(CacheWrite),
        None,
        None,
    ),
    unit(
        "cache_read_tokens",
        Some("cache_read_mtok"),
        Tokens,
        Some(In),
        None,
        Some(CacheRead),
        None,
        None,
    ),
    unit(
        "output_tokens",
        Some("output_mtok"),
        Tokens,
        Some(Out),
        None,
        None,
        None,
        None,
    ),
    unit(
        "input_audio_tokens",
        Some("input_audio_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        None,
        None,
        None,
    ),
    unit(
        "cache_audio_read_tokens",
        Some("cache_audio_read_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        Some(CacheRead),
        None,
        None,
    ),
    unit(
        "output_audio_tokens",
        Some("output_audio_mtok"),
        Tokens,
        Some(Out),
        Some(Audio),
        None,
        None,
        None,
    ),
    unit(
        "requests",
        Some("requests_kcount"),
        Requests,
        None,
        None,
        None,
        None,
        None,
    ),
    unit(
        "cache_write_5m_tokens",
        Some("cache_write_5m_mtok"),
        Tokens,
        Some(In),
        None,
        Some(CacheWrite),
        Some(M5),
        None,
    ),
    unit(
        "cache_write_1h_tokens",
        Some("cache_write_1h_mtok"),
        Tokens,
        Some(In),
        None,
        Some(CacheWrite),
        Some(H1),
        None,
    ),
    unit(
        "input_text_tokens",
        Some("input_text_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        None,
        None,
        None,
    ),
    unit(
        "output_text_tokens",
        Some("output_text_mtok"),
        Tokens,
        Some(Out),
        Some(Text),
        None,
        None,
        None,
    ),
    unit(
        "cache_text_read_tokens",
        Some("cache_text_read_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        Some(CacheRead),
        None,
        None,
    ),
    unit(
        "cache_text_write_tokens",
        Some("cache_text_write_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        Some(CacheWrite),
        None,
        None,
    ),
    unit(
        "cache_text_write_5m_tokens",
        Some("cache_text_write_5m_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        Some(CacheWrite),
        Some(M5),
        None,
    ),
    unit(
        "cache_text_write_1h_tokens",
        Some("cache_text_write_1h_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        Some(CacheWrite),
        Some(H1),
        None,
    ),
    unit(
        "cache_audio_write_tokens",
        Some("cache_audio_write_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        Some(CacheWrite),
        None,
        None,
    ),
    unit(
        "cache_audio_write_5m_tokens",
        Some("cache_audio_write_5m_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        Some(CacheWrite),
        Some(M5),
        None,
    ),
    unit(
        "cache_audio_write_1h_tokens",
        Some("cache_audio_write_1h_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        Some(CacheWrite),
        Some(H1),
        None,
    ),
    unit(
        "input_image_tokens",
        Some("input_image_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        None,
        None,
        None,
    ),
    unit(
        "output_image_tokens",
        Some("output_image_mtok"),
        Tokens,
        Some(Out),
        Some(Image),
        None,
        None,
        None,
    ),
    unit(
        "cache_image_read_tokens",
        Some("cache_image_read_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        Some(CacheRead),
        None,
        None,
    ),
    unit(
        "cache_image_write_tokens",
        Some("cache_image_write_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        Some(CacheWrite),
        None,
        None,
    ),
    unit(
        "cache_image_write_5m_tokens",
        Some("cache_image_write_5m_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        Some(CacheWrite),
        Some(M5),
        None,
    ),
    unit(
        "cache_image_write_1h_tokens",
        Some("cache_image_write_1h_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        Some(CacheWrite),
        Some(H1),
        None,
    ),
    unit(
        "input_video_tokens",
        Some("input_video_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        None,
        None,
        None,
    ),
    unit(
        "output_video_tokens",
        Some("output_video_mtok"),
        Tokens,
        Some(Out),
        Some(Video),
        None,
        None,
        None,
    ),
    unit(
        "cache_video_read_tokens",
        Some("cache_video_read_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        Some(CacheRead),
        None,
        None,
    ),
    unit(
        "cache_video_write_tokens",
        Some("cache_video_write_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        Some(CacheWrite),
        None,
        None,
    ),
    unit(
        "cache_video_write_5m_tokens",
        Some("cache_video_write_5m_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        Some(CacheWrite),
        Some(M5),
        None,
    ),
    unit(
        "cache_video_write_1h_tokens",
        Some("cache_video_write_1h_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        Some(CacheWrite),
        Some(H1),
        None,
    ),
    unit(
        "input_tool_tokens",
        Some("input_tool_mtok"),
        Tokens,
        Some(In),
        None,
        Some(Tool),
        None,
        None,
    ),
    unit(
        "input_text_tool_tokens",
        Some("input_text_tool_mtok"),
        Tokens,
        Some(In),
        Some(Text),
        Some(Tool),
        None,
        None,
    ),
    unit(
        "input_audio_tool_tokens",
        Some("input_audio_tool_mtok"),
        Tokens,
        Some(In),
        Some(Audio),
        Some(Tool),
        None,
        None,
    ),
    unit(
        "input_image_tool_tokens",
        Some("input_image_tool_mtok"),
        Tokens,
        Some(In),
        Some(Image),
        Some(Tool),
        None,
        None,
    ),
    unit(
        "input_video_tool_tokens",
        Some("input_video_tool_mtok"),
        Tokens,
        Some(In),
        Some(Video),
        Some(Tool),
        None,
        None,
    ),
    unit(
        "output_reasoning_tokens",
        Some("output_reasoning_mtok"),
        Tokens,
        Some(Out),
        None,
        Some(Reasoning),
        None,
        None,
    ),
    unit(
        "output_text_reasoning_tokens",
        Some("output_text_reasoning_mtok"),
        Tokens,
        Some(Out),
        Some(Text),
        Some(Reasoning),
        None,
        None,
    ),
    unit(
        "output_audio_reasoning_tokens",
        Some("output_audio_reasoning_mtok"),
        Tokens,
        Some(Out),
        Some(Audio),
        Some(Reasoning),
        None,
        None,
    ),
    unit(
        "output_image_reasoning_tokens",
        Some("output_image_reasoning_mtok"),
        Tokens,
        Some(Out),
        Some(Image),
        Some(Reasoning),
        None,
        None,
    ),
    unit(
        "output_video_reasoning_tokens",
        Some("output_video_reasoning_mtok"),
        Tokens,
        Some(Out),
        Some(Video),
        Some(Reasoning),
        None,
        None,
    ),
    unit(
        "output_citation_tokens",
        Some("output_citation_mtok"),
        Tokens,
        Some(Out),
        None,
        Some(Citation),
        None,
        None,
    ),
    unit(
        "output_text_citation_tokens",
        Some("output_text_citation_mtok"),
        Tokens,
        Some(Out),
        Some(Text),
        Some(Citation),
        None,
        None,
    ),
    unit(
        "output_audio_citation_tokens",
        Some("output_audio_citation_mtok"),
        Tokens,
        Some(Out),
        Some(Audio),
        Some(Citation),
        None,
        None,
    ),
    unit(
        "output_image_citation_tokens",
        Some("output_image_citation_mtok"),
        Tokens,
        Some(Out),
        Some(Image),
        Some(Citation),
        None,
        None,
    ),
    unit(
        "output_video_citation_tokens",
        Some("output_video_citation_mtok"),
        Tokens,
        Some(Out),
        Some(Video),
        Some(Citation),
        None,
        None,
    ),
    unit(
        "input_characters",
        Some("input_mchars"),
        Characters,
        Some(In),
        None,
        None,
        None,
        None,
    ),
    unit(
        "input_text_messages",
        Some("input_text_messages_kcount"),
        Messages,
        Some(In),
        Some(Text),
        None,
        None,
        None,
    ),
    unit(
        "audio_seconds",
        Some("audio_hours"),
        Durations,
        None,
        Some(Audio),
        None,
        None,
        None,
    ),
    unit(
        "input_audio_seconds",
        Some("input_audio_hours"),
        Durations,
        Some(In),
        Some(Audio),
        None,
        None,
        None,
    ),
    unit(
        "output_audio_seconds",
        Some("output_audio_hours"),
        Durations,
        Some(Out),
        Some(Audio),
        None,
        None,
        None,
    ),
    unit(
        "input_pixels",
        Some("input_gpixels"),
        Pixels,
        Some(In),
        None,
        None,
        None,
        None,
    ),
    unit(
        "input_document_pages",
        Some("input_document_kpages"),
        DocumentPages,
        Some(In),
        None,
        None,
        None,
        None,
    ),
    unit(
        "input_annotated_document_pages",
        Some("input_annotated_document_kpages"),
        DocumentPages,
        Some(In),
        None,
        None,
        None,
        Some("annotated"),
    ),
    unit(
        "rerank_searches",
        Some("rerank_searches_kcount"),
        Rerank,
        None,
        None,
        None,
        None,
        None,
    ),
    unit(
        "web_searches",
        Some("web_searches_kcount"),
        ToolCalls,
        None,
        None,
        None,
        None,
        Some("web_search"),
    ),
    unit(
        "social_searches",
        Some("social_searches_kcount"),
        ToolCalls,
        None,
        None,
        None,
        None,
        Some("social_search"),
    ),
    unit(
        "storage_searches",
        Some("storage_searches_kcount"),
        ToolCalls,
        None,
        None,
        None,
        None,
        Some("storage_search"),
    ),
    unit(
        "code_executions",
        Some("code_executions_kcount"),
        ToolCalls,
        None,
        None,
        None,
        None,
        Some("code_execution"),
    ),
    unit(
        "web_fetches",
        None,
        ToolCalls,
        None,
        None,
        None,
        None,
        Some("web_fetch"),
    ),
    unit(
        "output_images",
        None,
        Images,
        Some(Out),
        Some(Image),
        None,
        None,
        None,
    ),
];

/// A unit of [`UNITS`], as its index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Unit(u8);

/// The unit named `id`, at compile time (fails the build when there is none).
pub(crate) const fn named(id: &str) -> Unit {
    let mut i = 0;
    while i < UNITS.len() {
        if bytes_eq(UNITS[i].id.as_bytes(), id.as_bytes()) {
            return Unit(i as u8);
        }
        i += 1;
    }
    panic!("no such unit")
}

const _: () = assert!(UNITS.len() <= u8::MAX as usize);

impl Unit {
    /// All input tokens, cache and every modality included.
    pub const INPUT_TOKENS: Unit = named("input_tokens");
    /// All output tokens, reasoning and every modality included.
    pub const OUTPUT_TOKENS: Unit = named("output_tokens");
    /// Input tokens read from the cache.
    pub const CACHE_READ_TOKENS: Unit = named("cache_read_tokens");
    /// Input tokens written to the cache (both TTLs).
    pub const CACHE_WRITE_TOKENS: Unit = named("cache_write_tokens");
    /// Cache writes with a 5 minute TTL.
    pub const CACHE_WRITE_5M_TOKENS: Unit = named("cache_write_5m_tokens");
    /// Cache writes with a 1 hour TTL.
    pub const CACHE_WRITE_1H_TOKENS: Unit = named("cache_write_1h_tokens");
    /// Reasoning output tokens.
    pub const OUTPUT_REASONING_TOKENS: Unit = named("output_reasoning_tokens");
    /// Audio input tokens.
    pub const INPUT_AUDIO_TOKENS: Unit = named("input_audio_tokens");
    /// Audio output tokens.
    pub const OUTPUT_AUDIO_TOKENS: Unit = named("output_audio_tokens");

    /// Requests (one per call unless the usage says otherwise).
    pub const REQUESTS: Unit = named("requests");

    /// Every unit, in table order.
    pub fn all() -> impl Iterator<Item = Unit> {
        (0..UNITS.len()).map(|i| Unit(i as u8))
    }

    /// The unit whose usage key is `id` (exact, lower-case).
    pub fn by_id(id: &str) -> Option<Unit> {
        Unit::all().find(|u| u.id() == id)
    }

    /// The unit whose genai-prices price key is `key`.
    pub fn by_genai_price_key(key: &str) -> Option<Unit> {
        Unit::all().find(|u| u.def().genai_price_key == Some(key))
    }

    /// Its row.
    pub fn def(self) -> &'static UnitDef {
        &UNITS[self.0 as usize]
    }

    /// Its usage key.
    pub fn id(self) -> &'static str {
        self.def().id
    }

    /// `true` when `self` contains `other` (a strict ancestor): one family, and every dimension
    /// `self` sets, `other` sets to the same value.
    pub fn contains(self, other: Unit) -> bool {
        fn within<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
            a.is_none() || a == b
        }
        let (a, b) = (self.def(), other.def());
        self != other
            && a.family == b.family
            && within(a.direction, b.direction)
            && within(a.modality, b.modality)
            && within(a.token_type, b.token_type)
            && within(a.cache_ttl, b.cache_ttl)
            && within(a.kind, b.kind)
    }

    /// The token total this unit is a part of: `input_tokens` or `output_tokens` for every
    /// token unit below them, `None` for those two and for units of other families.
    pub fn part_of(self) -> Option<Unit> {
        [Unit::INPUT_TOKENS, Unit::OUTPUT_TOKENS]
            .into_iter()
            .find(|t| t.contains(self))
    }
}

impl fmt::Debug for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// `NAME` as a unit, or an error listing what the vocabulary has.
impl std::str::FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Unit, String> {
        Unit::by_id(s.trim()).ok_or_else(|| {
            format!(
                "unknown unit '{s}' (known: {})",
                Unit::all().map(Unit::id).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_price_keys_are_unique_and_every_genai_price_key_is_a_unit() {
        let mut ids: Vec<&str> = UNITS.iter().map(|u| u.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), UNITS.len(), "a unit id is listed twice");
        // The 59 price keys of genai-prices' v2 feed schema (`ModelPrice`), each a unit.
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../catalog/sources/genai_prices_v2.schema.json"
        ))
        .unwrap();
        let keys = schema["$defs"]["ModelPrice"]["properties"]
            .as_object()
            .unwrap();
        assert_eq!(keys.len(), 59);
        for key in keys.keys() {
            assert!(
                Unit::by_genai_price_key(key).is_some(),
                "genai-prices price key {key} has no unit"
            );
        }
        assert_eq!(
            UNITS.iter().filter(|u| u.genai_price_key.is_some()).count(),
            59
        );
    }

    #[test]
    fn containment_follows_the_dimensions() {
        let u = |s: &str| Unit::by_id(s).unwrap();
        // Cache and modality counts are parts of the input total, reasoning of the output.
        for part in [
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "input_image_tokens",
            "cache_audio_read_tokens",
            "input_tool_tokens",
        ] {
            assert!(u("input_tokens").contains(u(part)), "{part}");
            assert_eq!(u(part).part_of(), Some(Unit::INPUT_TOKENS), "{part}");
            assert!(!u("output_tokens").contains(u(part)), "{part}");
        }
        for part in [
            "output_reasoning_tokens",
            "output_audio_tokens",
            "output_text_citation_tokens",
        ] {
            assert_eq!(u(part).part_of(), Some(Unit::OUTPUT_TOKENS), "{part}");
        }
        // Joins: an audio cache read is inside both the cache reads and the audio input.
        assert!(u("cache_read_tokens").contains(u("cache_audio_read_tokens")));
        assert!(u("input_audio_tokens").contains(u("cache_audio_read_tokens")));
        assert!(u("cache_write_tokens").contains(u("cache_write_5m_tokens")));
        assert!(!u("cache_write_5m_tokens").contains(u("cache_write_1h_tokens")));
        // Counts of other families are parts of no token total; tool kinds are disjoint.
        for unit in [
            "web_searches",
            "web_fetches",
            "input_audio_seconds",
            "output_images",
        ] {
            assert_eq!(u(unit).part_of(), None, "{unit}");
        }
        assert!(!u("web_searches").contains(u("storage_searches")));
        assert!(u("audio_seconds").contains(u("input_audio_seconds")));
        assert!(!u("input_tokens").contains(u("input_tokens")));
    }

    #[test]
    fn names_parse_and_unknown_names_list_the_vocabulary() {
        assert_eq!(
            "web_searches".parse::<Unit>(),
            Ok(Unit::by_id("web_searches").unwrap())
        );
        let e = "web_search".parse::<Unit>().unwrap_err();
        assert!(
            e.starts_with("unknown unit 'web_search' (known: input_tokens, "),
            "{e}"
        );
        assert_eq!(Unit::INPUT_TOKENS.def().family.per(), 1_000_000);
        assert_eq!(
            Unit::by_id("audio_seconds").unwrap().def().family.per(),
            3_600
        );
    }
}
