//! Tool calls counted from the response body OpenInference records (`output.value`, the
//! provider's response as JSON), the only place any library keeps them
//! (tests/fixtures/real-spans/UNITS.md, sections 2 and 4):
//!
//! ```text
//! an OpenInference call span, priced by a model with a rate for web or file searches, that does
//! not already carry that count (attribute, `metadata`, `cost.usage.*`)
//!   -> `output.value` (at most MAX_BODY_BYTES) -> OpenAI Responses: `output[].type` =
//!      `web_search_call` / `file_search_call`; Gemini: `candidates[].grounding_metadata
//!      .web_search_queries` -> web_searches, storage_searches
//! ```
//!
//! Every other span, token-only ones above all, reads nothing more; a body naming none of these
//! (a chat completion, a Messages response) is not parsed. Else it is parsed once, with every
//! field but those skipped unread (`serde::de::IgnoredAny`). A body that is not such JSON
//! (truncated, another shape) or is over the size cap is counted
//! ([`StatsSnapshot::unreadable_response_bodies`](super::StatsSnapshot)) and named in the
//! span's `cost.pricing.reason`; the call is priced all the same, without those counts.
//!
//! Gemini bills grounding per grounded prompt up to Gemini 2.5 ($35 / 1,000: one per response
//! with a search query) and per search query from Gemini 3 ($14 / 1,000): the catalog id of the
//! model that priced the call says which.
//!
//! The limit: with content capture off (`OPENINFERENCE_HIDE_OUTPUTS`) there is no body, and these
//! tool calls are not counted; the application can set `cost.usage.web_searches` /
//! `cost.usage.storage_searches` on the call span itself (README, "Attributes read").

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::pricing::units::named;
use crate::pricing::{Model, Price, Unit, Usage};
use crate::span_view::{AttrValue, SpanView};

/// The response body attribute (OpenInference).
pub(crate) const OUTPUT_VALUE: &str = "output.value";
/// Scope names of the spans that write it.
const SCOPE_PREFIX: &str = "openinference.";
/// The largest body read, in bytes (real responses with tool calls are a few KiB; a body is
/// content, and an application may record a very long answer).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

const WEB_SEARCHES: Unit = named("web_searches");
const STORAGE_SEARCHES: Unit = named("storage_searches");

/// What a body holding such counts contains (an output item type, a grounding key).
const MARKERS: [&str; 3] = ["_search_call", "web_search_queries", "webSearchQueries"];

/// The counts a body can give.
const UNITS: [Unit; 2] = [WEB_SEARCHES, STORAGE_SEARCHES];

/// What reading the body gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Read {
    /// Not read (not an OpenInference span, no rate for these units, counts already there, no
    /// body).
    Skipped,
    /// Read; the counts were added to the usage (none, maybe).
    Counted,
    /// There was a body, but it could not be read: why.
    Unreadable(String),
}

/// Adds to `usage` the tool calls `span`'s response body holds, when the span is OpenInference's,
/// `price` has a rate for them and `usage` does not already count them.
// Inline: the scope test, which ends it for every span not OpenInference's, costs less than a call.
#[inline]
pub(super) fn add_tool_calls<V: SpanView + ?Sized>(
    span: &V,
    model: &Model,
    price: &Price,
    usage: &mut Usage,
) -> Read {
    if !span.scope_name().starts_with(SCOPE_PREFIX) {
        return Read::Skipped;
    }
    add_openinference(span, model, price, usage)
}

/// [`add_tool_calls`] for an OpenInference span.
#[inline(never)]
fn add_openinference<V: SpanView + ?Sized>(
    span: &V,
    model: &Model,
    price: &Price,
    usage: &mut Usage,
) -> Read {
    let priced = |u: Unit| price.standard.rates.other(u).is_some() && usage.get(u) == 0;
    let wanted = UNITS.map(priced);
    if !wanted.contains(&true) {
        return Read::Skipped;
    }
    let Some(AttrValue::Str(body)) = span.attr(OUTPUT_VALUE) else {
        return Read::Skipped;
    };
    read(body, per_query(&model.id))
        .map(|counts| {
            for ((unit, n), want) in UNITS.into_iter().zip(counts).zip(wanted) {
                if want && n > 0 {
                    usage.set(unit, n);
                }
            }
            Read::Counted
        })
        .unwrap_or_else(Read::Unreadable)
}

/// `true` when the model bills grounding per search query (Gemini 3 on), not per prompt.
fn per_query(catalog_id: &str) -> bool {
    let id = catalog_id.rsplit('/').next().unwrap_or(catalog_id);
    !(id.starts_with("gemini-1") || id.starts_with("gemini-2"))
}

/// The counts in a body: `[web_searches, storage_searches]`.
fn read(body: &str, per_query: bool) -> Result<[u64; 2], String> {
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "'{OUTPUT_VALUE}' is {} bytes, over the {MAX_BODY_BYTES} read for tool calls: they are \
             not counted",
            body.len()
        ));
    }
    // Most bodies (a chat completion, a Messages response) name none of these: not parsed.
    if !MARKERS.iter().any(|m| body.contains(m)) {
        return Ok([0, 0]);
    }
    let b: Body<'_> = serde_json::from_str(body).map_err(|e| {
        format!("'{OUTPUT_VALUE}' is not a response body read for tool calls ({e}): they are not counted")
    })?;
    let count = |kind: &str| {
        b.output
            .iter()
            .flatten()
            .filter(|i| i.kind.as_deref() == Some(kind))
            .count() as u64
    };
    let queries: u64 = b
        .candidates
        .iter()
        .flatten()
        .filter_map(|c| c.grounding_metadata.as_ref())
        .map(|g| g.web_search_queries.as_ref().map_or(0, |q| q.len() as u64))
        .sum();
    let grounding = if per_query {
        queries
    } else {
        u64::from(queries > 0)
    };
    Ok([
        count("web_search_call") + grounding,
        count("file_search_call"),
    ])
}

/// The parts of a response body read; every other field is skipped unread.
#[derive(Deserialize)]
struct Body<'a> {
    /// OpenAI Responses: the output items.
    #[serde(default, borrow)]
    output: Option<Vec<Item<'a>>>,
    /// Gemini: the candidates.
    #[serde(default)]
    candidates: Option<Vec<Candidate>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Candidate {
    /// `grounding_metadata` (google-genai's Python model, as OpenInference records it) or
    /// `groundingMetadata` (the REST API's JSON).
    #[serde(default, alias = "groundingMetadata")]
    grounding_metadata: Option<Grounding>,
}

#[derive(Deserialize)]
struct Grounding {
    #[serde(default, alias = "webSearchQueries")]
    web_search_queries: Option<Vec<IgnoredAny>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_openai_tool_calls_and_gemini_grounding() {
        let responses = r#"{"id":"r","output":[{"type":"web_search_call","action":{"query":"a"}},
            {"type":"web_search_call"},{"type":"file_search_call","results":null},
            {"type":"message","content":[{"type":"output_text","text":"x"}]}],"usage":{}}"#;
        assert_eq!(read(responses, true), Ok([2, 1]));
        let gemini = r#"{"candidates":[{"content":{"parts":[]},"grounding_metadata":
            {"web_search_queries":["a","b","c"],"grounding_chunks":[]}}]}"#;
        assert_eq!(read(gemini, true), Ok([3, 0]), "per query (Gemini 3)");
        assert_eq!(read(gemini, false), Ok([1, 0]), "per grounded prompt (2.5)");
        let rest = r#"{"candidates":[{"groundingMetadata":{"webSearchQueries":["a","b"]}}]}"#;
        assert_eq!(read(rest, true), Ok([2, 0]), "the REST API's names");
        // Other bodies, even odd ones: nothing to count, not parsed.
        assert_eq!(read(r#"{"choices":[{"message":{}}]}"#, true), Ok([0, 0]));
        assert_eq!(read("not json", true), Ok([0, 0]));
        assert!(per_query("gemini-3-pro-preview"));
        assert!(!per_query("gemini/gemini-2.5-flash"));
    }

    #[test]
    fn a_truncated_odd_or_huge_body_is_unreadable_never_a_panic() {
        for body in [
            r#"{"output":[{"type":"web_search_call"},{"ty"#,
            r#"{"output":"web_search_call"}"#,
            r#"{"output":[{"type":7},{"type":"file_search_call"}]}"#,
            r#"{"candidates":[{"grounding_metadata":{"web_search_queries":3}}]}"#,
            "web_search_call, not JSON",
        ] {
            let e = read(body, true).expect_err(body);
            assert!(
                e.starts_with("'output.value' is not a response body"),
                "{e}"
            );
        }
        let huge = format!(r#"{{"output":[],"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let e = read(&huge, true).expect_err("over the cap");
        assert!(e.contains("over the 1048576 read"), "{e}");
    }
}
