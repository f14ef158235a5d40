//! One table of OTLP/JSON inputs, valid and invalid, run against both entry points that read
//! OTLP/JSON: the gateway's HTTP receiver (scan, decode, split: what `POST /v1/traces` with
//! `application/json` keeps) and the report (`Reporter::read`, a line and a pretty-printed
//! document). Both go through the one decoder (crate::otlp_json); the table shows they give
//! the same verdict on every case.
//!
//! Until issue 14 they had a decoder each and disagreed; each case where they did names the
//! old answers and the one chosen (`was`). Checked against the starting code (075c202, the
//! same table through its two readers): the 17 `disagreed` cases are exactly those where the
//! old gateway and report gave different verdicts, the 17 others agreed.

use std::sync::Arc;

use super::proto_span::split;
use super::receive::{decode_with_refused, Format, Refusal};
use crate::pricing::Catalog;
use crate::report::{ReportOptions, Reporter};

/// What an entry point makes of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Taken: `kept` spans, `refused` spans refused alone (named, counted).
    Takes { kept: usize, refused: usize },
    /// The whole request (report: the line) is refused as malformed.
    Malformed,
}

use Verdict::{Malformed, Takes};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN: &str = "00f067aa0ba902b7";

/// A request of one resource and one scope holding `spans` (JSON texts).
fn request(spans: &[String]) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"scope":{{"name":"s"}},"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

/// A span with good ids and `more` fields (`,"kind":2`).
fn span(more: &str) -> String {
    format!(r#"{{"traceId":"{TRACE}","spanId":"{SPAN}","name":"n"{more}}}"#)
}

/// A span with good ids and one attribute of value `value`.
fn attr(value: &str) -> String {
    span(&format!(r#","attributes":[{{"key":"a","value":{value}}}]"#))
}

/// One case: a name, the input, the verdict both entry points give, and, where the two
/// decoders disagreed before issue 14, what each did.
struct Case {
    name: &'static str,
    json: String,
    verdict: Verdict,
    was: Option<&'static str>,
}

fn case(name: &'static str, json: String, verdict: Verdict) -> Case {
    Case {
        name,
        json,
        verdict,
        was: None,
    }
}

fn disagreed(name: &'static str, json: String, verdict: Verdict, was: &'static str) -> Case {
    Case {
        name,
        json,
        verdict,
        was: Some(was),
    }
}

fn one() -> Verdict {
    Takes {
        kept: 1,
        refused: 0,
    }
}

fn cases() -> Vec<Case> {
    let refused_alone = Takes {
        kept: 1,
        refused: 1,
    };
    let good = span("");
    vec![
        // Both took or refused these already.
        case(
            "hex ids, int64s as strings and numbers",
            request(&[span(
                r#","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"attributes":[{"key":"a","value":{"intValue":"12"}},{"key":"b","value":{"intValue":13}},{"key":"c","value":{"doubleValue":1.5}},{"key":"d","value":{"boolValue":true}}],"status":{},"events":[],"links":[]"#,
            )]),
            one(),
        ),
        case(
            "upper-case hex ids",
            request(&[format!(
                r#"{{"traceId":"{}","spanId":"{}"}}"#,
                TRACE.to_uppercase(),
                SPAN.to_uppercase()
            )]),
            one(),
        ),
        case(
            "unknown keys at every level",
            format!(
                r#"{{"x":1,"resourceSpans":[{{"y":[{{}}],"scopeSpans":[{{"z":null,"spans":[{}]}}]}}]}}"#,
                span(
                    r#","w":{"v":[1,"2"]},"attributes":[{"key":"a","u":0,"value":{"stringValue":"s","t":{}}}]"#
                )
            ),
            one(),
        ),
        case(
            "enum names (kind, status code)",
            request(&[span(
                r#","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"}"#,
            )]),
            one(),
        ),
        case(
            "empty arrayValue and kvlistValue written {}",
            request(&[span(
                r#","attributes":[{"key":"a","value":{"arrayValue":{}}},{"key":"b","value":{"kvlistValue":{}}}]"#,
            )]),
            one(),
        ),
        case(
            "a traceId of 30 hex digits: its span refused, its neighbour kept",
            request(&[
                format!(r#"{{"traceId":"{}","spanId":"{SPAN}"}}"#, &TRACE[..30]),
                good.clone(),
            ]),
            refused_alone,
        ),
        case(
            "an all-zero spanId",
            request(&[
                format!(r#"{{"traceId":"{TRACE}","spanId":"0000000000000000"}}"#),
                good.clone(),
            ]),
            refused_alone,
        ),
        case(
            "a span without ids",
            request(&["{}".into(), good.clone()]),
            refused_alone,
        ),
        case(
            "cut short",
            request(std::slice::from_ref(&good))[..60].to_owned(),
            Malformed,
        ),
        case(
            "trailing characters",
            format!("{} x", request(std::slice::from_ref(&good))),
            Malformed,
        ),
        case(
            "a name that is not a string",
            request(&[format!(
                r#"{{"traceId":"{TRACE}","spanId":"{SPAN}","name":5}}"#
            )]),
            Malformed,
        ),
        case(
            "a timestamp that is not a number",
            request(&[span(r#","startTimeUnixNano":"yesterday""#)]),
            Malformed,
        ),
        case(
            "a negative timestamp",
            request(&[span(r#","endTimeUnixNano":-5"#)]),
            Malformed,
        ),
        case(
            "a doubleValue that is no number",
            request(&[attr(r#"{"doubleValue":"abc"}"#)]),
            Malformed,
        ),
        case(
            "a field given twice in a span",
            request(&[span(r#","name":"again""#)]),
            Malformed,
        ),
        case(
            "attributes: null",
            request(&[span(r#","attributes":null"#)]),
            Malformed,
        ),
        // The two decoders disagreed on these.
        disagreed(
            "base64 ids",
            request(&[
                "{\"traceId\":\"CvdlGRbNQ92ESOshHIAxnA==\",\"spanId\":\"APBnqgupArc=\"}".into(),
            ]),
            one(),
            "gateway: request refused (400); report: taken. Chosen: taken (the protobuf JSON \
             default for bytes, still written by some exporters)",
        ),
        disagreed(
            "a traceId neither hex nor base64",
            request(&[
                format!(r#"{{"traceId":"xyz","spanId":"{SPAN}"}}"#),
                good.clone(),
            ]),
            refused_alone,
            "gateway: request refused (400); report: the span refused, its neighbours kept. \
             Chosen: the span refused alone, as the gateway refuses a protobuf span with a bad \
             id (partial success)",
        ),
        case(
            "a parentSpanId of one byte",
            request(&[span(r#","parentSpanId":"12""#), good.clone()]),
            refused_alone,
        ),
        disagreed(
            "a parentSpanId that is not hex",
            request(&[span(r#","parentSpanId":"not hex!""#), good.clone()]),
            refused_alone,
            "gateway: request refused (400); report: the span refused. Chosen: the span refused",
        ),
        disagreed(
            "a link id that is not hex",
            request(&[
                span(r#","links":[{"traceId":"?","spanId":"?"}]"#),
                good.clone(),
            ]),
            refused_alone,
            "gateway: request refused (400); report: links not read, taken. Chosen: the span \
             refused (its link cannot be forwarded as sent)",
        ),
        disagreed(
            "doubleValue \"NaN\", \"Infinity\" and a numeric string",
            request(&[span(
                r#","attributes":[{"key":"a","value":{"doubleValue":"NaN"}},{"key":"b","value":{"doubleValue":"-Infinity"}},{"key":"c","value":{"doubleValue":"2.5"}}]"#,
            )]),
            one(),
            "gateway: request refused (400); report: taken. Chosen: taken (the protobuf JSON \
             mapping of doubles)",
        ),
        disagreed(
            "an intValue that is not an integer (\"12x\", 1.5, \" 12 \")",
            request(&[span(
                r#","attributes":[{"key":"a","value":{"intValue":"12x"}},{"key":"b","value":{"intValue":1.5}},{"key":"c","value":{"intValue":" 12 "}}]"#,
            )]),
            one(),
            "gateway: request refused (400); report: kept as text (\" 12 \" as 12). Chosen: \
             kept as text, so one bad attribute costs no data: a token count in that form makes \
             its span invalid_usage",
        ),
        disagreed(
            "an unknown enum name",
            request(&[span(r#","kind":"SPAN_KIND_SIDEWAYS""#)]),
            Malformed,
            "gateway: request refused; report: kind not read, taken. Chosen: refused (the \
             protobuf JSON rule; every field is now read by both)",
        ),
        disagreed(
            "flags as a string",
            request(&[span(r#","flags":"256""#)]),
            Malformed,
            "gateway: request refused; report: flags not read, taken. Chosen: refused",
        ),
        disagreed(
            "an event with a bad timestamp",
            request(&[span(r#","events":[{"timeUnixNano":"soon"}]"#)]),
            Malformed,
            "gateway: request refused; report: events not read, taken. Chosen: refused",
        ),
        disagreed(
            "a bytesValue that is not base64",
            request(&[attr(r#"{"bytesValue":"!!"}"#)]),
            Malformed,
            "gateway: request refused; report: bytes not read, taken. Chosen: refused",
        ),
        disagreed(
            "resourceSpans: null",
            r#"{"resourceSpans":null}"#.into(),
            Malformed,
            "gateway and a report document: refused; a report line: no error on the JSON, \
             'no resourceSpans' instead. Chosen: refused, as null for any list",
        ),
        disagreed(
            "a KeyValue without its key",
            request(&[span(r#","attributes":[{"value":{"intValue":1}}]"#)]),
            one(),
            "gateway: request refused (serde's derive required `key`); report: taken. Chosen: \
             taken (every protobuf field is optional: the key is empty)",
        ),
        disagreed(
            "value: null",
            request(&[attr("null")]),
            one(),
            "gateway: an empty value; report: line refused. Chosen: an empty value",
        ),
        disagreed(
            "an AnyValue member given twice",
            request(&[attr(r#"{"stringValue":"a","stringValue":"b"}"#)]),
            one(),
            "gateway: the last one; report: line refused (duplicate field). Chosen: the last \
             one, as with two members (where the report took the string first)",
        ),
        disagreed(
            "a timestamp as an integral floating-point number",
            request(&[span(r#","startTimeUnixNano":1.5e18"#)]),
            one(),
            "gateway: request refused; report: taken. Chosen: taken",
        ),
        disagreed(
            "pre-1.0 names instrumentationLibrarySpans and instrumentationLibrary",
            format!(
                r#"{{"resourceSpans":[{{"instrumentationLibrarySpans":[{{"instrumentationLibrary":{{"name":"old"}},"spans":[{good}]}}]}}]}}"#
            ),
            one(),
            "gateway: request taken and its spans silently lost (unknown key); report: read. \
             Chosen: read",
        ),
        disagreed(
            "a span written as a JSON array of its fields",
            request(&[format!(r#"["{TRACE}","{SPAN}","","",0,"n"]"#)]),
            one(),
            "gateway: taken, fields in the protobuf declaration order; report: read in its own \
             order, where this one puts the name in a timestamp (line refused). Chosen: the \
             declaration order; no encoder writes this",
        ),
    ]
}

/// The gateway's HTTP receiver on a JSON body: what it would pass on, and refuse.
fn gateway(json: &str) -> Verdict {
    match decode_with_refused(Format::Json, json.as_bytes()) {
        Ok((req, refused)) => {
            let s = split(req);
            Takes {
                kept: s.spans.len(),
                refused: refused.spans + s.invalid,
            }
        }
        Err(Refusal::Malformed(_)) => Malformed,
        Err(e) => panic!("not a verdict on the input: {e:?}"),
    }
}

/// The report on the text as one input: spans read, problems (a refused span is one, a
/// malformed line one), and whether one said the input is no OTLP/JSON (or, on an input's
/// first line, where the format is told, no JSON).
fn report(text: &str, catalog: &Arc<Catalog>) -> (u64, u64, bool) {
    let mut r = Reporter::new(catalog.clone(), ReportOptions::default());
    r.read("case", text.as_bytes());
    let errors = r.error_count();
    let malformed = r
        .errors()
        .iter()
        .any(|e| e.message.starts_with("invalid OTLP/JSON") || e.message.starts_with("not JSON"));
    (r.finish().input.spans, errors, malformed)
}

/// The report's verdict.
fn report_verdict(text: &str, catalog: &Arc<Catalog>) -> Verdict {
    match report(text, catalog) {
        (0, 1, true) => Malformed,
        (spans, errors, _) => Takes {
            kept: spans as usize,
            refused: errors as usize,
        },
    }
}

#[test]
fn the_gateway_and_the_report_give_every_case_the_same_verdict() {
    let catalog = Catalog::shared().expect("embedded catalog");
    let mut differ = Vec::new();
    for c in cases() {
        assert!(!c.json.contains('\n'), "{}: one line", c.name);
        // The gateway; the report on a line; the report on the same request as a
        // pretty-printed document (its streaming reader). A document followed by more text is
        // left out: the report reads the next document after it.
        let g = gateway(&c.json);
        let line = report_verdict(&c.json, &catalog);
        let doc = (!c.json.ends_with(" x"))
            .then(|| report_verdict(&c.json.replacen('{', "{\n", 1), &catalog));
        if g != c.verdict || line != c.verdict || doc.is_some_and(|d| d != c.verdict) {
            differ.push(format!(
                "{}: expected {:?}, gateway {g:?}, report {line:?}, document {doc:?}{}",
                c.name,
                c.verdict,
                c.was.map(|w| format!(" (before: {w})")).unwrap_or_default()
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
