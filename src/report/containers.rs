//! The report's OTLP/JSON inputs: the containers around OTLP/JSON trace data (a Collector
//! `file` exporter line, a whole document, a Jaeger `/api/v3/traces` response with its `result`
//! or its `error`), decoded by the crate's one OTLP/JSON decoder (crate::otlp_json, the
//! gateway's too: what it accepts and refuses is the same here), and the report's own span
//! made from each decoded span.
//!
//! The report keeps less than the decoder reads: events and links are checked and dropped,
//! and an attribute whose string value is over 1 KiB (a prompt, a completion, a tool payload)
//! is left out: no attribute the report reads is that long.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::span::{ReportSpan, Val};
use crate::otlp_json::{Cx, Keep, ResourceSpansSeed};

/// String attribute values longer than this are not kept.
pub(crate) const MAX_KEPT_STRING: usize = 1024;

/// What the report keeps of the spans it reads.
pub(crate) const KEEP: Keep = Keep {
    max_string: MAX_KEPT_STRING,
    events_and_links: false,
};

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

/// What a container held (besides the `ResourceSpans` handed to the sink).
pub(crate) enum Outcome {
    /// `resourceSpans` (or Jaeger's `result`).
    Spans,
    /// Neither.
    NoSpans,
    /// Jaeger's `error`.
    ServerError(JError),
}

/// The message of [`Outcome::NoSpans`].
pub(crate) const NO_SPANS: &str =
    "no \"resourceSpans\" (nor Jaeger's \"result\") in this JSON object";

/// `{"resourceSpans":[...]}`, `{"result":{...}}` (Jaeger; an empty result holds no spans) or
/// `{"error":{...}}`, handing each `ResourceSpans` to `sink` as soon as it is decoded: memory is
/// bounded by the largest `ResourceSpans`, not by the document. In a document (`doc`), an
/// error object or an object with neither key is a decoding error, named where it was found.
pub(crate) struct Container<'s, 'c, 'a> {
    pub sink: &'s mut dyn FnMut(ResourceSpans),
    pub cx: &'c mut Cx<'a>,
    pub doc: bool,
}

impl<'de> DeserializeSeed<'de> for Container<'_, '_, '_> {
    type Value = Outcome;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        d.deserialize_map(self)
    }
}

/// A key of a container.
enum Key {
    ResourceSpans,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "resourceSpans" => Key::ResourceSpans,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for Container<'_, '_, '_> {
    type Value = Outcome;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an OTLP/JSON object ({"resourceSpans":[...]} or {"result":{...}})"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        let mut outcome = Outcome::NoSpans;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::ResourceSpans => {
                    map.next_value_seed(List {
                        sink: &mut *self.sink,
                        cx: &mut *self.cx,
                    })?;
                    if !matches!(outcome, Outcome::ServerError(_)) {
                        outcome = Outcome::Spans;
                    }
                }
                Key::Result => {
                    let inner = map.next_value_seed(Container {
                        sink: &mut *self.sink,
                        cx: &mut *self.cx,
                        doc: false,
                    })?;
                    match inner {
                        Outcome::ServerError(e) => outcome = Outcome::ServerError(e),
                        _ if !matches!(outcome, Outcome::ServerError(_)) => {
                            outcome = Outcome::Spans;
                        }
                        _ => {}
                    }
                }
                Key::Error => outcome = Outcome::ServerError(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match outcome {
            Outcome::ServerError(e) if self.doc => Err(de::Error::custom(e)),
            Outcome::NoSpans if self.doc => Err(de::Error::custom(NO_SPANS)),
            o => Ok(o),
        }
    }
}

/// `resourceSpans`: each element to the sink.
struct List<'s, 'c, 'a> {
    sink: &'s mut dyn FnMut(ResourceSpans),
    cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for List<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of ResourceSpans objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(rs) = seq.next_element_seed(ResourceSpansSeed::new(&mut *self.cx))? {
            (self.sink)(rs);
        }
        Ok(())
    }
}

/// The value as the report keeps it.
fn val(v: Option<AnyValue>) -> Val {
    match v.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => Val::Str(s.into()),
        Some(Value::IntValue(i)) => Val::I64(i),
        Some(Value::DoubleValue(f)) => Val::F64(f),
        Some(Value::BoolValue(b)) => Val::Bool(b),
        // Arrays, maps, bytes, empty values: kept so the engine sees the key.
        _ => Val::Other,
    }
}

/// The report's spans of one decoded `ResourceSpans` (whose spans' ids the decoder checked).
pub(crate) fn convert(rs: ResourceSpans, services: &mut Interner, out: &mut Vec<ReportSpan>) {
    let service = rs.resource.and_then(|r| {
        let kv = r
            .attributes
            .into_iter()
            .rev()
            .find(|kv| kv.key == "service.name")?;
        match kv.value?.value? {
            Value::StringValue(s) => Some(services.get(&s)),
            _ => None,
        }
    });
    for ss in rs.scope_spans {
        let scope = services.get(ss.scope.as_ref().map_or("", |s| s.name.as_str()));
        for sp in ss.spans {
            // Ids of any other length were refused by the decoder, with their span.
            let (Ok(trace_id), Ok(span_id)) = (
                <[u8; 16]>::try_from(sp.trace_id.as_slice()),
                <[u8; 8]>::try_from(sp.span_id.as_slice()),
            ) else {
                continue;
            };
            let parent = <[u8; 8]>::try_from(sp.parent_span_id.as_slice())
                .ok()
                .filter(|p| *p != [0; 8]);
            let attrs = sp
                .attributes
                .into_iter()
                .map(|kv| (kv.key.into_boxed_str(), val(kv.value)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span_view::{AttrValue, SpanView};

    /// One line read as the report reads it: spans, refused spans' messages.
    fn line(text: &str) -> (Vec<ReportSpan>, Vec<String>) {
        let mut spans = Vec::new();
        let mut errs = Vec::new();
        let mut services = Interner::default();
        let mut refused = |e: String| errs.push(e);
        let mut cx = Cx::new(KEEP, &mut refused);
        let mut sink = |rs: ResourceSpans| convert(rs, &mut services, &mut spans);
        let mut de = serde_json::Deserializer::from_str(text);
        let o = Container {
            sink: &mut sink,
            cx: &mut cx,
            doc: false,
        }
        .deserialize(&mut de)
        .unwrap();
        assert!(matches!(o, Outcome::Spans));
        (spans, errs)
    }

    #[test]
    fn int_values_as_strings_and_numbers_long_strings_dropped() {
        let long = "x".repeat(MAX_KEPT_STRING + 1);
        let (out, errs) = line(&format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},
            "scopeSpans":[{{"scope":{{"name":"sc"}},"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7",
            "parentSpanId":"","name":"n","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"5","endTimeUnixNano":7,
            "attributes":[{{"key":"a","value":{{"intValue":"12"}}}},{{"key":"b","value":{{"intValue":13}}}},
            {{"key":"c","value":{{"doubleValue":"NaN"}}}},{{"key":"d","value":{{"stringValue":"{long}"}}}},
            {{"key":"e","value":{{"arrayValue":{{"values":[]}}}}}},{{"key":"f","value":{{}}}},
            {{"key":"g","value":{{"intValue":"12x"}}}}]}}]}}]}}]}}"#
        ));
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
        let (out, errs) = line(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"abc","spanId":"00f067aa0ba902b7","name":"bad"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"good"}]}]}]}"#,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("span 'bad': traceId"), "{}", errs[0]);
    }
}
