//! OTLP/JSON as written by the OTel Collector's `file` exporter, OTLP/HTTP JSON senders and
//! Jaeger's `/api/v3/traces`, read into [`ReportSpan`]s.
//!
//! Per the OTLP/JSON spec: camelCase keys, trace and span ids as hex, 64-bit integers as decimal
//! strings (numbers accepted too), unknown fields ignored. Leniencies for real-world output:
//! base64 ids (proto3-JSON's default for bytes, still produced by some exporters), `NaN` /
//! `Infinity` doubles as strings, enum fields (`kind`, `status`) ignored whatever their form.
//!
//! `opentelemetry-proto`'s `with-serde` deserialises most of this too, but it fails the whole
//! request on a base64 id and on a few other real-world forms and keeps every attribute of every
//! span (prompts included) as a full proto message; this reader skips what the report does not
//! use, drops long string values and reports a bad span without losing its neighbours.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::span::{ReportSpan, Val};

/// String attribute values longer than this are not kept (prompts, completions, tool
/// payloads): no attribute the report reads is that long.
pub(crate) const MAX_KEPT_STRING: usize = 1024;

/// `{"resourceSpans":[...]}`, also the inside of Jaeger's `{"result":{...}}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JRequest {
    #[serde(default)]
    pub resource_spans: Vec<JResourceSpans>,
}

/// One line of an OTLP/JSON lines file: a request, or a Jaeger response (`result` or `error`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JLine {
    #[serde(default)]
    pub resource_spans: Option<Vec<JResourceSpans>>,
    #[serde(default)]
    pub result: Option<JRequest>,
    #[serde(default)]
    pub error: Option<JError>,
}

/// Jaeger's error object (`{"error":{"httpCode":404,"message":"trace not found"}}`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JError {
    #[serde(default)]
    pub http_code: Option<serde_json::Value>,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for JError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.http_code {
            Some(c) => write!(f, "server error {c}: {}", self.message),
            None => write!(f, "server error: {}", self.message),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JResourceSpans {
    #[serde(default)]
    resource: Option<JResource>,
    #[serde(default)]
    scope_spans: Vec<JScopeSpans>,
    /// The pre-1.0 name of `scopeSpans`.
    #[serde(default)]
    instrumentation_library_spans: Vec<JScopeSpans>,
}

#[derive(Deserialize, Default)]
struct JResource {
    #[serde(default)]
    attributes: Vec<JKeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JScopeSpans {
    #[serde(default, alias = "instrumentationLibrary")]
    scope: Option<JScope>,
    #[serde(default)]
    spans: Vec<JSpan>,
}

#[derive(Deserialize, Default)]
struct JScope {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "de_u64")]
    start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "de_u64")]
    end_time_unix_nano: u64,
    #[serde(default)]
    attributes: Vec<JKeyValue>,
}

#[derive(Deserialize, Default)]
struct JKeyValue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: JAnyValue,
}

/// `AnyValue`: exactly one of the fields is expected; none is an empty value.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JAnyValue {
    #[serde(default)]
    string_value: Option<String>,
    #[serde(default, deserialize_with = "de_opt_int")]
    int_value: Option<JInt>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    double_value: Option<f64>,
    #[serde(default)]
    bool_value: Option<bool>,
}

impl JAnyValue {
    fn into_val(self) -> Option<Val> {
        Some(if let Some(s) = self.string_value {
            if s.len() > MAX_KEPT_STRING {
                return None;
            }
            Val::Str(s.into())
        } else if let Some(i) = self.int_value {
            match i {
                JInt::Int(i) => Val::I64(i),
                // Kept as text: the engine reports the span as `invalid_usage` if it is a count.
                JInt::Text(s) => Val::Str(s.into()),
            }
        } else if let Some(f) = self.double_value {
            Val::F64(f)
        } else if let Some(b) = self.bool_value {
            Val::Bool(b)
        } else {
            Val::Other
        })
    }
}

/// An unsigned 64-bit integer given as a number or a decimal string.
fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an unsigned integer or a decimal string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("negative timestamp {v}")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("not an unsigned integer: {v}")))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse()
                .map_err(|_| E::custom(format!("not an unsigned integer: '{v}'")))
        }
    }
    d.deserialize_any(V)
}

/// An `intValue`: a number or a decimal string (the spec), or text that is not an integer.
enum JInt {
    Int(i64),
    Text(String),
}

/// An `intValue` given as a number or a decimal string; other strings are kept as text so one
/// bad attribute does not cost the whole line.
fn de_opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JInt>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<JInt>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a decimal string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(JInt::Int(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(match i64::try_from(v) {
                Ok(i) => JInt::Int(i),
                Err(_) => JInt::Text(v.to_string()),
            }))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(JInt::Text(v.to_string())))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(match v.trim().parse() {
                Ok(i) => JInt::Int(i),
                Err(_) => JInt::Text(v.to_owned()),
            }))
        }
    }
    d.deserialize_any(V)
}

/// A double given as a number or as `"NaN"`, `"Infinity"`, `"-Infinity"` or a decimal string.
fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or a numeric string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "NaN" => Ok(Some(f64::NAN)),
                "Infinity" => Ok(Some(f64::INFINITY)),
                "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
                _ => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| E::custom(format!("doubleValue is not a number: '{v}'"))),
            }
        }
    }
    d.deserialize_any(V)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn b64_val(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes an id of `N` bytes: hex (the spec), or base64 (proto3-JSON's default).
pub(crate) fn decode_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    if b.len() == 2 * N {
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
        }
        return Some(out);
    }
    // base64, padded or not.
    let t = s.trim_end_matches('=');
    if t.len() != (N * 4).div_ceil(3) {
        return None;
    }
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut i = 0;
    for &c in t.as_bytes() {
        acc = acc << 6 | u32::from(b64_val(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if i < N {
                out[i] = (acc >> bits) as u8;
            }
            i += 1;
            acc &= (1 << bits) - 1;
        }
    }
    (i == N).then_some(out)
}

/// Spans of one `ResourceSpans`, validated; `bad` gets a message per refused span.
pub(crate) fn convert(
    rs: JResourceSpans,
    services: &mut Interner,
    out: &mut Vec<ReportSpan>,
    bad: &mut dyn FnMut(String),
) {
    let service = rs.resource.and_then(|r| {
        r.attributes
            .into_iter()
            .rev()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.string_value)
            .map(|s| services.get(&s))
    });
    let scopes = rs
        .scope_spans
        .into_iter()
        .chain(rs.instrumentation_library_spans);
    for ss in scopes {
        let scope = services.get(ss.scope.as_ref().map_or("", |s| s.name.as_str()));
        for sp in ss.spans {
            let Some(trace_id) = decode_id::<16>(&sp.trace_id).filter(|t| *t != [0; 16]) else {
                bad(format!(
                    "span '{}': traceId must be 32 hex digits, not all zero (got '{}')",
                    sp.name, sp.trace_id
                ));
                continue;
            };
            let Some(span_id) = decode_id::<8>(&sp.span_id).filter(|t| *t != [0; 8]) else {
                bad(format!(
                    "span '{}': spanId must be 16 hex digits, not all zero (got '{}')",
                    sp.name, sp.span_id
                ));
                continue;
            };
            let parent = if sp.parent_span_id.is_empty() {
                None
            } else {
                match decode_id::<8>(&sp.parent_span_id) {
                    Some(p) => (p != [0; 8]).then_some(p),
                    None => {
                        bad(format!(
                            "span '{}': parentSpanId must be empty or 16 hex digits (got '{}')",
                            sp.name, sp.parent_span_id
                        ));
                        continue;
                    }
                }
            };
            let attrs = sp
                .attributes
                .into_iter()
                .filter_map(|kv| Some((kv.key.into_boxed_str(), kv.value.into_val()?)))
                .collect();
            out.push(ReportSpan {
                trace_id,
                span_id,
                parent,
                name: sp.name.into(),
                start: sp.start_time_unix_nano,
                end: sp.end_time_unix_nano,
                attrs,
                service: service.clone(),
                scope: scope.clone(),
            });
        }
    }
}

/// Shares equal strings (service and scope names) between spans. Bounded: past
/// [`Interner::MAX`] distinct values it stops sharing.
#[derive(Default)]
pub(crate) struct Interner {
    map: HashMap<Box<str>, Arc<str>>,
}

impl Interner {
    const MAX: usize = 10_000;

    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.map.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        if self.map.len() < Self::MAX {
            self.map.insert(s.into(), a.clone());
        }
        a
    }
}

/// Streams a whole JSON document (`{"resourceSpans":[...]}` or `{"result":{...}}`), handing
/// each `ResourceSpans` to the sink as soon as it is parsed: memory is bounded by the largest
/// `ResourceSpans`, not by the document.
pub(crate) struct DocSeed<'a> {
    pub sink: &'a mut dyn FnMut(JResourceSpans),
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an OTLP/JSON object ({"resourceSpans":[...]} or {"result":{...}})"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "resourceSpans" => {
                    map.next_value_seed(SeqSeed {
                        sink: &mut *self.sink,
                    })?;
                    found = true;
                }
                "result" => {
                    map.next_value_seed(DocSeed {
                        sink: &mut *self.sink,
                    })?;
                    found = true;
                }
                "error" => {
                    let e: JError = map.next_value()?;
                    return Err(de::Error::custom(e));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if found {
            Ok(())
        } else {
            Err(de::Error::custom(
                "no \"resourceSpans\" (nor Jaeger's \"result\") in this JSON object",
            ))
        }
    }
}

struct SeqSeed<'a> {
    sink: &'a mut dyn FnMut(JResourceSpans),
}

impl<'de> DeserializeSeed<'de> for SeqSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SeqSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of ResourceSpans")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(rs) = seq.next_element::<JResourceSpans>()? {
            (self.sink)(rs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span_view::{AttrValue, SpanView};

    #[test]
    fn ids_hex_and_base64() {
        assert_eq!(
            decode_id::<8>("00f067aa0ba902b7"),
            Some([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(
            decode_id::<8>("00F067AA0BA902B7"),
            decode_id::<8>("00f067aa0ba902b7")
        );
        // base64 of the same bytes
        assert_eq!(
            decode_id::<8>("APBnqgupArc="),
            decode_id::<8>("00f067aa0ba902b7")
        );
        assert_eq!(
            decode_id::<8>("APBnqgupArc"),
            decode_id::<8>("00f067aa0ba902b7")
        );
        assert_eq!(
            decode_id::<16>("Z6z8LqVvEI+kU1/Ci6mXBQ=="),
            decode_id::<16>("67acfc2ea56f108fa4535fc28ba99705")
        );
        assert_eq!(decode_id::<8>("00f067aa0ba902"), None);
        assert_eq!(decode_id::<8>("zzf067aa0ba902b7"), None);
        assert_eq!(decode_id::<8>(""), None);
    }

    #[test]
    fn int_values_as_strings_and_numbers_long_strings_dropped() {
        let long = "x".repeat(MAX_KEPT_STRING + 1);
        let line = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},
            "scopeSpans":[{{"scope":{{"name":"sc"}},"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7",
            "parentSpanId":"","name":"n","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"5","endTimeUnixNano":7,
            "attributes":[{{"key":"a","value":{{"intValue":"12"}}}},{{"key":"b","value":{{"intValue":13}}}},
            {{"key":"c","value":{{"doubleValue":"NaN"}}}},{{"key":"d","value":{{"stringValue":"{long}"}}}},
            {{"key":"e","value":{{"arrayValue":{{"values":[]}}}}}},{{"key":"f","value":{{}}}},
            {{"key":"g","value":{{"intValue":"12x"}}}}]}}]}}]}}]}}"#
        );
        let l: JLine = serde_json::from_str(&line).unwrap();
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for rs in l.resource_spans.unwrap() {
            convert(rs, &mut Interner::default(), &mut out, &mut |e| {
                errs.push(e)
            });
        }
        assert!(errs.is_empty());
        let s = &out[0];
        assert_eq!((s.start, s.end, s.parent), (5, 7, None));
        assert_eq!(s.service.as_deref(), Some("svc"));
        assert_eq!(s.scope_name(), "sc");
        assert_eq!(s.attr("a"), Some(AttrValue::I64(12)));
        assert_eq!(s.attr("b"), Some(AttrValue::I64(13)));
        assert!(matches!(s.attr("c"), Some(AttrValue::F64(f)) if f.is_nan()));
        assert_eq!(s.attr("d"), None);
        assert_eq!(s.attr("e"), Some(AttrValue::Other));
        assert_eq!(s.attr("f"), Some(AttrValue::Other));
        assert_eq!(s.attr("g"), Some(AttrValue::Str("12x")));
    }

    #[test]
    fn a_bad_span_is_reported_and_its_neighbours_kept() {
        let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"abc","spanId":"00f067aa0ba902b7","name":"bad"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"good"}]}]}]}"#;
        let l: JLine = serde_json::from_str(line).unwrap();
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for rs in l.resource_spans.unwrap() {
            convert(rs, &mut Interner::default(), &mut out, &mut |e| {
                errs.push(e)
            });
        }
        assert_eq!(out.len(), 1);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("span 'bad': traceId"), "{}", errs[0]);
    }
}
