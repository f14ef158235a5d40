//! OTLP/JSON trace data: what is accepted, and its decoding into opentelemetry-proto's types.
//! The one decoder behind the gateway's OTLP/HTTP JSON receiver and the report's OTLP/JSON
//! inputs (Collector `file` exporter lines, documents, Jaeger `/api/v3` responses): both accept
//! and refuse the same requests, and refuse the same spans (the table of cases in
//! `gateway/json_cases.rs` runs against both).
//!
//! ```text
//! JSON text --serde_json--> request / ResourceSpans (these visitors) --> spans with valid ids
//!                                                                    \-> refused spans (named)
//! ```
//!
//! **Accepted** (OTLP/JSON, the protobuf JSON mapping with lowerCamelCase keys):
//! - unknown keys are ignored, at every level; a key given twice in one message refuses the
//!   request, except inside an `AnyValue`, where the last member given wins;
//! - trace and span ids as hex (any case), or as base64 of exactly 16 / 8 bytes (the protobuf
//!   JSON default for bytes, still written by some exporters); a link's ids as hex of any even
//!   length or base64;
//! - 64-bit integers (timestamps, `intValue`) as numbers or decimal strings; timestamps also as
//!   integral floating-point numbers;
//! - `doubleValue` as a number, a numeric string, `"NaN"`, `"Infinity"` or `"-Infinity"`;
//! - enums (`kind`, `status.code`) as numbers or names (`"SPAN_KIND_SERVER"`);
//! - an empty `arrayValue` / `kvlistValue` written `{}` (proto3 encoders omit empty repeated
//!   fields); `null` for a message field, `KeyValue.value` or an `AnyValue` member (= absent);
//! - the pre-1.0 names `instrumentationLibrarySpans` and `instrumentationLibrary`;
//! - a message written as a JSON array of its fields in declaration order (serde's derive reads
//!   it so, and the gateway did; no encoder writes it).
//!
//! **Kept as text**: an `intValue` that is not an integer (`"12x"`, `1.5`, beyond 64 bits) is
//! kept as a string value, so one bad attribute costs no data: a token count in that form makes
//! its span `invalid_usage` (DESIGN §3).
//!
//! **Refused spans** (named, counted; the other spans of the request are kept): a `traceId`
//! that is not 16 bytes or is all zero, a `spanId` that is not 8 bytes or is all zero, a
//! `parentSpanId` that is neither empty nor 8 bytes, a link id that is neither hex nor base64.
//!
//! **Refused requests** (malformed): anything else the grammar does not take: invalid JSON,
//! wrong types (`"name": 5`), `null` for a string, number or list, an unknown enum name,
//! a timestamp that is not an unsigned integer, a `doubleValue` or `bytesValue` that does not
//! parse, nesting beyond serde_json's limit.

use std::fmt;
use std::marker::PhantomData;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What the caller keeps of what it decodes. Everything is decoded and checked either way, so
/// the verdicts do not depend on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep {
    /// An attribute whose value is a string longer than this is left out (prompts and
    /// completions, for a reader that prices and aggregates only).
    pub max_string: usize,
    /// Span events and links are kept.
    pub events_and_links: bool,
}

impl Keep {
    /// Everything (the gateway forwards what it receives).
    #[cfg_attr(not(feature = "gateway"), allow(dead_code))]
    pub(crate) const ALL: Keep = Keep {
        max_string: usize::MAX,
        events_and_links: true,
    };
}

/// Decoding state: what to keep, and where refused spans go.
pub(crate) struct Cx<'a> {
    keep: Keep,
    refused: &'a mut dyn FnMut(String),
    /// `AnyValue`s enclosing the value being decoded (0: an attribute's own value).
    depth: usize,
    /// Longest string value kept in the attribute list being decoded: [`Keep::max_string`] for
    /// a span's own attributes, no limit elsewhere.
    limit: usize,
    /// The first link id of the span being decoded that did not decode.
    bad_link: BadId,
}

impl<'a> Cx<'a> {
    /// A context keeping `keep`; each refused span's message goes to `refused`.
    pub(crate) fn new(keep: Keep, refused: &'a mut dyn FnMut(String)) -> Cx<'a> {
        Cx {
            keep,
            refused,
            depth: 0,
            limit: usize::MAX,
            bad_link: None,
        }
    }
}

/// Decodes a whole `ExportTraceServiceRequest` (trailing characters refused).
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn request(
    text: &[u8],
    cx: &mut Cx<'_>,
) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let req = MsgSeed::<ExportTraceServiceRequest>::new(cx)
        .deserialize(&mut de)?
        .ok_or_else(|| de::Error::invalid_type(de::Unexpected::Unit, &"an OTLP/JSON object"))?;
    de.end()?;
    Ok(req)
}

/// One `ResourceSpans` (an element of `resourceSpans`), for readers that stream a document.
#[cfg_attr(not(feature = "report"), allow(dead_code))]
pub(crate) struct ResourceSpansSeed<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'c, 'a> ResourceSpansSeed<'c, 'a> {
    #[cfg_attr(not(feature = "report"), allow(dead_code))]
    pub(crate) fn new(cx: &'c mut Cx<'a>) -> Self {
        ResourceSpansSeed { cx }
    }
}

impl<'de> DeserializeSeed<'de> for ResourceSpansSeed<'_, '_> {
    type Value = ResourceSpans;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ResourceSpans, D::Error> {
        required(MsgSeed::<ResourceSpans>::new(self.cx).deserialize(d)?)
    }
}

/// Field names of each message in declaration order (its JSON array form), shared with the
/// gateway's scan (otlp_scan.rs), which must read the same positions.
pub(crate) mod fields {
    pub(crate) const REQUEST: &[&str] = &["resourceSpans"];
    pub(crate) const RESOURCE_SPANS: &[&str] = &["resource", "scopeSpans", "schemaUrl"];
    pub(crate) const RESOURCE: &[&str] = &["attributes", "droppedAttributesCount", "entityRefs"];
    pub(crate) const ENTITY_REF: &[&str] = &["schemaUrl", "type", "idKeys", "descriptionKeys"];
    pub(crate) const SCOPE_SPANS: &[&str] = &["scope", "spans", "schemaUrl"];
    pub(crate) const SCOPE: &[&str] = &["name", "version", "attributes", "droppedAttributesCount"];
    pub(crate) const SPAN: &[&str] = &[
        "traceId",
        "spanId",
        "traceState",
        "parentSpanId",
        "flags",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "droppedAttributesCount",
        "events",
        "droppedEventsCount",
        "links",
        "droppedLinksCount",
        "status",
    ];
    pub(crate) const EVENT: &[&str] = &[
        "timeUnixNano",
        "name",
        "attributes",
        "droppedAttributesCount",
    ];
    pub(crate) const LINK: &[&str] = &[
        "traceId",
        "spanId",
        "traceState",
        "attributes",
        "droppedAttributesCount",
        "flags",
    ];
    pub(crate) const STATUS: &[&str] = &["message", "code"];
    pub(crate) const KEY_VALUE: &[&str] = &["key", "value", "keyStrindex"];
    /// `ArrayValue` and `KeyValueList`.
    pub(crate) const VALUES: &[&str] = &["values"];
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// A message: its fields by key, and how each is decoded.
trait Message: Default {
    /// Field names in declaration order (the JSON array form); older names come after them in
    /// the numbering of [`Message::field`].
    const FIELDS: &'static [&'static str];
    /// The message's name, for errors.
    const EXPECTING: &'static str;
    /// `false`: a member given twice is no error, the last one wins (`AnyValue`).
    const UNIQUE: bool = true;
    /// The field a key names: its index in `FIELDS`, or past it for an older name.
    fn field(key: &str) -> Option<usize> {
        Self::FIELDS.iter().position(|f| *f == key)
    }
    /// Decodes field `i` from `d`.
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error>;
}

/// A message, or `None` for `null`.
struct MsgSeed<'c, 'a, M> {
    cx: &'c mut Cx<'a>,
    m: PhantomData<M>,
}

impl<'c, 'a, M> MsgSeed<'c, 'a, M> {
    fn new(cx: &'c mut Cx<'a>) -> Self {
        MsgSeed { cx, m: PhantomData }
    }
}

impl<'de, M: Message> DeserializeSeed<'de> for MsgSeed<'_, '_, M> {
    type Value = Option<M>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<M>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, M: Message> Visitor<'de> for MsgSeed<'_, '_, M> {
    type Value = Option<M>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} object", M::EXPECTING)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<M>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<M>, A::Error> {
        let mut m = M::default();
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed::<M>(PhantomData))? {
            match key {
                Some(i) => {
                    if M::UNIQUE {
                        if seen & (1 << i) != 0 {
                            return Err(de::Error::custom(format_args!(
                                "duplicate field `{}`",
                                name_of::<M>(i)
                            )));
                        }
                        seen |= 1 << i;
                    }
                    map.next_value_seed(FieldSeed {
                        m: &mut m,
                        i,
                        cx: &mut *self.cx,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(m))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<M>, A::Error> {
        if M::FIELDS.is_empty() {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let mut m = M::default();
        for i in 0..M::FIELDS.len() {
            let seed = FieldSeed {
                m: &mut m,
                i,
                cx: &mut *self.cx,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(Some(m));
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(M::FIELDS.len() + 1, &self));
        }
        Ok(Some(m))
    }
}

/// The name of field `i` of `M`, for errors.
fn name_of<M: Message>(i: usize) -> &'static str {
    M::FIELDS.get(i).copied().unwrap_or("(older name)")
}

/// A message that must not be `null` (an element of a list).
fn required<M, E: de::Error>(m: Option<M>) -> Result<M, E> {
    m.ok_or_else(|| de::Error::invalid_type(de::Unexpected::Unit, &"an object"))
}

/// A key: the field it names (`None`: unknown, skipped). Borrowed when it can be: no
/// allocation per key.
struct KeySeed<M>(PhantomData<M>);

impl<'de, M: Message> DeserializeSeed<'de> for KeySeed<M> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<M: Message> Visitor<'_> for KeySeed<M> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(M::field(v))
    }
}

/// Field `i` of a message being decoded.
struct FieldSeed<'m, 'c, 'a, M> {
    m: &'m mut M,
    i: usize,
    cx: &'c mut Cx<'a>,
}

impl<'de, M: Message> DeserializeSeed<'de> for FieldSeed<'_, '_, '_, M> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.m.set(self.i, d, self.cx)
    }
}

/// A repeated message field: elements appended to `out` (each through `keep`).
struct ListSeed<'v, 'c, 'a, M, T> {
    out: &'v mut Vec<T>,
    cx: &'c mut Cx<'a>,
    /// What becomes of an element: pushed (`Some`), or left out.
    keep: fn(M, &mut Cx<'_>) -> Option<T>,
}

impl<'de, M: Message, T> DeserializeSeed<'de> for ListSeed<'_, '_, '_, M, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, M: Message, T> Visitor<'de> for ListSeed<'_, '_, '_, M, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} objects", M::EXPECTING)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(m) = seq.next_element_seed(MsgSeed::<M>::new(&mut *self.cx))? {
            if let Some(t) = (self.keep)(required(m)?, self.cx) {
                self.out.push(t);
            }
        }
        Ok(())
    }
}

/// Decodes a repeated field of `M`s into `out`, each kept as it is.
fn list<'de, D: Deserializer<'de>, M: Message>(
    d: D,
    out: &mut Vec<M>,
    cx: &mut Cx<'_>,
) -> Result<(), D::Error> {
    ListSeed {
        out,
        cx,
        keep: |m: M, _: &mut Cx<'_>| Some(m),
    }
    .deserialize(d)
}

/// Decodes a message field (`null`: absent).
fn msg<'de, D: Deserializer<'de>, M: Message>(
    d: D,
    cx: &mut Cx<'_>,
) -> Result<Option<M>, D::Error> {
    MsgSeed::<M>::new(cx).deserialize(d)
}

/// Attributes: each `KeyValue`, unless its value is a string longer than `limit`.
fn attributes<'de, D: Deserializer<'de>>(
    d: D,
    out: &mut Vec<KeyValue>,
    cx: &mut Cx<'_>,
    limit: usize,
) -> Result<(), D::Error> {
    let outer = std::mem::replace(&mut cx.limit, limit);
    let r = ListSeed {
        out,
        cx: &mut *cx,
        keep: |kv: KeyValueIn, _: &mut Cx<'_>| (!kv.too_long).then_some(kv.kv),
    }
    .deserialize(d);
    cx.limit = outer;
    r
}

impl Message for ExportTraceServiceRequest {
    const FIELDS: &'static [&'static str] = fields::REQUEST;
    const EXPECTING: &'static str = "ExportTraceServiceRequest";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        _: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        list(d, &mut self.resource_spans, cx)
    }
}

impl Message for ResourceSpans {
    const FIELDS: &'static [&'static str] = fields::RESOURCE_SPANS;
    const EXPECTING: &'static str = "ResourceSpans";
    fn field(key: &str) -> Option<usize> {
        match key {
            "resource" => Some(0),
            "scopeSpans" => Some(1),
            "schemaUrl" => Some(2),
            "instrumentationLibrarySpans" => Some(3),
            _ => None,
        }
    }
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.resource = msg(d, cx)?,
            1 | 3 => list(d, &mut self.scope_spans, cx)?,
            _ => self.schema_url = string(d)?,
        }
        Ok(())
    }
}

impl Message for Resource {
    const FIELDS: &'static [&'static str] = fields::RESOURCE;
    const EXPECTING: &'static str = "Resource";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => attributes(d, &mut self.attributes, cx, usize::MAX)?,
            1 => self.dropped_attributes_count = uint32(d)?,
            _ => list(d, &mut self.entity_refs, cx)?,
        }
        Ok(())
    }
}

impl Message for EntityRef {
    const FIELDS: &'static [&'static str] = fields::ENTITY_REF;
    const EXPECTING: &'static str = "EntityRef";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        _: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.schema_url = string(d)?,
            1 => self.r#type = string(d)?,
            2 => self.id_keys = strings(d)?,
            _ => self.description_keys = strings(d)?,
        }
        Ok(())
    }
}

impl Message for ScopeSpans {
    const FIELDS: &'static [&'static str] = fields::SCOPE_SPANS;
    const EXPECTING: &'static str = "ScopeSpans";
    fn field(key: &str) -> Option<usize> {
        match key {
            "scope" => Some(0),
            "spans" => Some(1),
            "schemaUrl" => Some(2),
            "instrumentationLibrary" => Some(3),
            _ => None,
        }
    }
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 | 3 => self.scope = msg(d, cx)?,
            1 => ListSeed {
                out: &mut self.spans,
                cx,
                keep: SpanIn::checked,
            }
            .deserialize(d)?,
            _ => self.schema_url = string(d)?,
        }
        Ok(())
    }
}

impl Message for InstrumentationScope {
    const FIELDS: &'static [&'static str] = fields::SCOPE;
    const EXPECTING: &'static str = "InstrumentationScope";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.name = string(d)?,
            1 => self.version = string(d)?,
            2 => attributes(d, &mut self.attributes, cx, usize::MAX)?,
            _ => self.dropped_attributes_count = uint32(d)?,
        }
        Ok(())
    }
}

/// An id that did not decode, as given.
type BadId = Option<Box<str>>;

/// A span as decoded, with the ids that did not decode (its verdict comes at its end, once
/// its name is known).
#[derive(Default)]
struct SpanIn {
    span: Span,
    bad_trace: BadId,
    bad_span: BadId,
    bad_parent: BadId,
    bad_link: BadId,
}

impl SpanIn {
    /// The span, or its refusal (counted through the context).
    fn checked(self, cx: &mut Cx<'_>) -> Option<Span> {
        let s = &self.span;
        let got = |b: &BadId| b.as_deref().unwrap_or("").to_owned();
        let why = if self.bad_trace.is_some() || s.trace_id.is_empty() {
            format!(
                "traceId must be 32 hex digits, not all zero (got '{}')",
                got(&self.bad_trace)
            )
        } else if self.bad_span.is_some() || s.span_id.is_empty() {
            format!(
                "spanId must be 16 hex digits, not all zero (got '{}')",
                got(&self.bad_span)
            )
        } else if self.bad_parent.is_some() {
            format!(
                "parentSpanId must be empty or 16 hex digits (got '{}')",
                got(&self.bad_parent)
            )
        } else if self.bad_link.is_some() {
            format!(
                "a link's traceId or spanId is neither hex nor base64 (got '{}')",
                got(&self.bad_link)
            )
        } else {
            return Some(self.span);
        };
        (cx.refused)(format!("span '{}': {why}", quoted(&s.name)));
        None
    }
}

impl Message for SpanIn {
    const FIELDS: &'static [&'static str] = fields::SPAN;
    const EXPECTING: &'static str = "Span";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        let s = &mut self.span;
        match i {
            0 => id::<16, _>(d, &mut s.trace_id, &mut self.bad_trace)?,
            1 => id::<8, _>(d, &mut s.span_id, &mut self.bad_span)?,
            2 => s.trace_state = string(d)?,
            3 => match id_text(d, |t| {
                if t.is_empty() {
                    Some(Vec::new())
                } else {
                    decode_id::<8>(t).map(|b| b.to_vec())
                }
            })? {
                Ok(b) => s.parent_span_id = b,
                Err(t) => self.bad_parent = Some(t),
            },
            4 => s.flags = uint32(d)?,
            5 => s.name = string(d)?,
            6 => s.kind = enumeration(d, span_kind)?,
            7 => s.start_time_unix_nano = timestamp(d)?,
            8 => s.end_time_unix_nano = timestamp(d)?,
            9 => attributes(d, &mut s.attributes, cx, cx.keep.max_string)?,
            10 => s.dropped_attributes_count = uint32(d)?,
            11 => ListSeed {
                out: &mut s.events,
                cx,
                keep: |e: Event, cx: &mut Cx<'_>| cx.keep.events_and_links.then_some(e),
            }
            .deserialize(d)?,
            12 => s.dropped_events_count = uint32(d)?,
            13 => {
                ListSeed {
                    out: &mut s.links,
                    cx: &mut *cx,
                    keep: |l: LinkIn, cx: &mut Cx<'_>| {
                        if cx.bad_link.is_none() {
                            cx.bad_link = l.bad;
                        }
                        cx.keep.events_and_links.then_some(l.link)
                    },
                }
                .deserialize(d)?;
                if self.bad_link.is_none() {
                    self.bad_link = cx.bad_link.take();
                }
            }
            14 => s.dropped_links_count = uint32(d)?,
            _ => s.status = msg(d, cx)?,
        }
        Ok(())
    }
}

impl Message for Event {
    const FIELDS: &'static [&'static str] = fields::EVENT;
    const EXPECTING: &'static str = "Event";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.time_unix_nano = timestamp(d)?,
            1 => self.name = string(d)?,
            2 => attributes(d, &mut self.attributes, cx, usize::MAX)?,
            _ => self.dropped_attributes_count = uint32(d)?,
        }
        Ok(())
    }
}

/// A link, with an id that did not decode.
#[derive(Default)]
struct LinkIn {
    link: Link,
    bad: BadId,
}

impl Message for LinkIn {
    const FIELDS: &'static [&'static str] = fields::LINK;
    const EXPECTING: &'static str = "Link";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        let l = &mut self.link;
        match i {
            0 | 1 => {
                let n = if i == 0 { 16 } else { 8 };
                match id_text(d, |t| link_id(t, n))? {
                    Ok(b) if i == 0 => l.trace_id = b,
                    Ok(b) => l.span_id = b,
                    Err(t) => self.bad = Some(t),
                }
            }
            2 => l.trace_state = string(d)?,
            3 => attributes(d, &mut l.attributes, cx, usize::MAX)?,
            4 => l.dropped_attributes_count = uint32(d)?,
            _ => l.flags = uint32(d)?,
        }
        Ok(())
    }
}

impl Message for Status {
    const FIELDS: &'static [&'static str] = fields::STATUS;
    const EXPECTING: &'static str = "Status";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        _: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.message = string(d)?,
            _ => self.code = enumeration(d, status_code)?,
        }
        Ok(())
    }
}

/// A `KeyValue`, and whether its value was a string too long to keep.
#[derive(Default)]
struct KeyValueIn {
    kv: KeyValue,
    too_long: bool,
}

impl Message for KeyValueIn {
    const FIELDS: &'static [&'static str] = fields::KEY_VALUE;
    const EXPECTING: &'static str = "KeyValue";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        match i {
            0 => self.kv.key = string(d)?,
            1 => {
                let max = if cx.depth == 0 { cx.limit } else { usize::MAX };
                cx.depth += 1;
                let v = msg::<D, AnyValueIn>(d, cx);
                cx.depth -= 1;
                match v? {
                    Some(AnyValueIn {
                        value: Some(Value::StringValue(s)),
                        ..
                    }) if s.len() > max => {
                        self.too_long = true;
                    }
                    Some(v) => self.kv.value = Some(AnyValue { value: v.value }),
                    None => self.kv.value = None,
                }
            }
            _ => self.kv.key_strindex = int32(d)?,
        }
        Ok(())
    }
}

/// An `AnyValue`: its members by name, the last one given wins; unknown members ignored.
#[derive(Default)]
struct AnyValueIn {
    value: Option<Value>,
}

impl Message for AnyValueIn {
    const FIELDS: &'static [&'static str] = &[];
    const EXPECTING: &'static str = "AnyValue";
    const UNIQUE: bool = false;
    fn field(key: &str) -> Option<usize> {
        Some(match key {
            "stringValue" => 0,
            "boolValue" => 1,
            "intValue" => 2,
            "doubleValue" => 3,
            "arrayValue" => 4,
            "kvlistValue" => 5,
            "bytesValue" => 6,
            _ => return None,
        })
    }
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        i: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        let v = match i {
            0 => d.deserialize_any(StringValue)?,
            1 => d.deserialize_any(Bool)?,
            2 => d.deserialize_any(IntValue)?,
            3 => d.deserialize_any(DoubleValue)?,
            4 => msg::<D, ValuesIn<ArrayValue>>(d, cx)?.map(|a| Value::ArrayValue(a.0)),
            5 => msg::<D, ValuesIn<KeyValueList>>(d, cx)?.map(|l| Value::KvlistValue(l.0)),
            _ => d.deserialize_any(BytesValue)?,
        };
        if v.is_some() {
            self.value = v;
        }
        Ok(())
    }
}

/// `ArrayValue` or `KeyValueList`: `{"values": [...]}`, `{}` when empty.
#[derive(Default)]
struct ValuesIn<T>(T);

impl Message for ValuesIn<ArrayValue> {
    const FIELDS: &'static [&'static str] = fields::VALUES;
    const EXPECTING: &'static str = "ArrayValue";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        _: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        ListSeed {
            out: &mut self.0.values,
            cx,
            keep: |v: AnyValueIn, _: &mut Cx<'_>| Some(AnyValue { value: v.value }),
        }
        .deserialize(d)
    }
}

impl Message for ValuesIn<KeyValueList> {
    const FIELDS: &'static [&'static str] = fields::VALUES;
    const EXPECTING: &'static str = "KeyValueList";
    fn set<'de, D: Deserializer<'de>>(
        &mut self,
        _: usize,
        d: D,
        cx: &mut Cx<'_>,
    ) -> Result<(), D::Error> {
        attributes(d, &mut self.0.values, cx, usize::MAX)
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
    }
    d.deserialize_string(V)
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// A number in the range of `T`.
fn number<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    d: D,
    what: &'static str,
) -> Result<T, D::Error> {
    struct V<T>(&'static str, PhantomData<T>);
    impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
    }
    d.deserialize_any(V(what, PhantomData))
}

fn uint32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    number(d, "an unsigned 32-bit integer")
}

fn int32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    number(d, "a 32-bit integer")
}

/// A `fixed64` time: a number (integral floats too) or a decimal string.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
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

/// An enum: its number, or its name through `by_name`.
fn enumeration<'de, D: Deserializer<'de>>(
    d: D,
    by_name: fn(&str) -> Option<i32>,
) -> Result<i32, D::Error> {
    struct V(fn(&str) -> Option<i32>);
    impl Visitor<'_> for V {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an enum number or name")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            (self.0)(v).ok_or_else(|| E::custom(format!("unknown enum value '{v}'")))
        }
    }
    d.deserialize_any(V(by_name))
}

/// `Span.kind` by name.
pub(crate) fn span_kind(name: &str) -> Option<i32> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        _ => return None,
    })
}

/// `Status.code` by name.
pub(crate) fn status_code(name: &str) -> Option<i32> {
    Some(match name {
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        _ => return None,
    })
}

/// `stringValue` (`null`: no value).
struct StringValue;

impl Visitor<'_> for StringValue {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(Value::StringValue(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<Value>, E> {
        Ok(Some(Value::StringValue(v)))
    }
}

/// `bytesValue`: base64 (`null`: no value).
struct BytesValue;

impl Visitor<'_> for BytesValue {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        match base64(v) {
            Some(b) => Ok(Some(Value::BytesValue(b))),
            None => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

struct Bool;

impl Visitor<'_> for Bool {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::BoolValue(v)))
    }
}

/// `intValue`: a number or a decimal string; anything else is kept as text (see the module
/// docs).
struct IntValue;

impl Visitor<'_> for IntValue {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a decimal string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::IntValue(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(match i64::try_from(v) {
            Ok(i) => Value::IntValue(i),
            Err(_) => Value::StringValue(v.to_string()),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(Value::StringValue(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(match v.trim().parse() {
            Ok(i) => Value::IntValue(i),
            Err(_) => Value::StringValue(v.to_owned()),
        }))
    }
}

/// `doubleValue`: a number, a numeric string, `"NaN"`, `"Infinity"` or `"-Infinity"`.
struct DoubleValue;

impl Visitor<'_> for DoubleValue {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a numeric string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(Value::DoubleValue(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::DoubleValue(v as f64)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(Value::DoubleValue(v as f64)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        let f = match v {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => v
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("doubleValue is not a number: '{v}'")))?,
        };
        Ok(Some(Value::DoubleValue(f)))
    }
}

// ---------------------------------------------------------------------------------------------
// Ids and bytes
// ---------------------------------------------------------------------------------------------

/// Longest part of a bad id, or of the span's name, quoted in the span's refusal.
const QUOTED_ID: usize = 64;

/// An id's text decoded by `decode` (no copy of the text), or, when it does not decode, the
/// text as quoted in the refusal (at most [`QUOTED_ID`] bytes).
fn id_text<'de, D: Deserializer<'de>>(
    d: D,
    decode: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Result<Vec<u8>, Box<str>>, D::Error> {
    struct V<F>(F);
    impl<F: Fn(&str) -> Option<Vec<u8>>> Visitor<'_> for V<F> {
        type Value = Result<Vec<u8>, Box<str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an id (a string)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok((self.0)(v).ok_or_else(|| quoted(v)))
        }
    }
    d.deserialize_str(V(decode))
}

/// `s`, cut to [`QUOTED_ID`] bytes (on a character boundary) with `…` when longer.
fn quoted(s: &str) -> Box<str> {
    if s.len() <= QUOTED_ID {
        return s.into();
    }
    let mut end = QUOTED_ID;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

/// A span's own id of `N` bytes, non-zero: decoded into `out`, or kept as quoted in `bad`.
fn id<'de, const N: usize, D: Deserializer<'de>>(
    d: D,
    out: &mut Vec<u8>,
    bad: &mut BadId,
) -> Result<(), D::Error> {
    match id_text(d, |t| {
        decode_id::<N>(t)
            .filter(|b| *b != [0; N])
            .map(|b| b.to_vec())
    })? {
        Ok(b) => *out = b,
        Err(t) => *bad = Some(t),
    }
    Ok(())
}

/// A link's id: hex of any even length, or base64 of `n` bytes.
fn link_id(s: &str, n: usize) -> Option<Vec<u8>> {
    hex(s).or_else(|| base64(s).filter(|b| b.len() == n))
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex (any case) of any even length.
fn hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect()
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

/// base64, standard or URL-safe alphabet, padded or not.
pub(crate) fn base64(s: &str) -> Option<Vec<u8>> {
    let t = s
        .strip_suffix("==")
        .or_else(|| s.strip_suffix('='))
        .unwrap_or(s);
    if t.len() % 4 == 1 || (t.len() != s.len() && !s.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in t.as_bytes() {
        acc = acc << 6 | u32::from(b64_val(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An id of `N` bytes: hex of `2N` digits (the spec), or base64 of `N` bytes.
pub(crate) fn decode_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = if s.len() == 2 * N { hex(s) } else { base64(s) }?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<(ExportTraceServiceRequest, Vec<String>), String> {
        let mut refused = Vec::new();
        let mut push = |m: String| refused.push(m);
        let mut cx = Cx::new(Keep::ALL, &mut push);
        let r = request(text.as_bytes(), &mut cx).map_err(|e| e.to_string());
        r.map(|req| (req, refused))
    }

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
        assert_eq!(base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64("aGVsbG8=="), None);
        assert_eq!(base64("a"), None);
        assert_eq!(hex("0aF"), None);
    }

    #[test]
    fn values_of_every_form() {
        let (req, refused) = decode(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",
            "spanId":"00f067aa0ba902b7","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"},
            "startTimeUnixNano":"5","endTimeUnixNano":7.0,
            "attributes":[{"key":"a","value":{"intValue":"12"}},{"key":"b","value":{"intValue":13}},
            {"key":"c","value":{"doubleValue":"NaN"}},{"key":"d","value":{"doubleValue":"2.5"}},
            {"key":"e","value":{"arrayValue":{}}},{"key":"f","value":{}},{"key":"g","value":{"intValue":"12x"}},
            {"key":"h","value":{"bytesValue":"aGVsbG8="}},{"key":"i","value":{"stringValue":"x","boolValue":true}},
            {"key":"j","value":null},{"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"intValue":1}}]}}}]}]}]}]}"#,
        )
        .unwrap();
        assert!(refused.is_empty());
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((s.kind, s.status.as_ref().map(|s| s.code)), (3, Some(2)));
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (5, 7));
        let v: Vec<Option<Value>> = s
            .attributes
            .iter()
            .map(|kv| kv.value.as_ref().and_then(|v| v.value.clone()))
            .collect();
        assert_eq!(v[0], Some(Value::IntValue(12)));
        assert_eq!(v[1], Some(Value::IntValue(13)));
        assert!(matches!(v[2], Some(Value::DoubleValue(f)) if f.is_nan()));
        assert_eq!(v[3], Some(Value::DoubleValue(2.5)));
        assert_eq!(v[4], Some(Value::ArrayValue(ArrayValue::default())));
        assert_eq!(v[5], None);
        assert_eq!(v[6], Some(Value::StringValue("12x".into())));
        assert_eq!(v[7], Some(Value::BytesValue(b"hello".to_vec())));
        assert_eq!(v[8], Some(Value::BoolValue(true)), "the last member wins");
        assert_eq!(v[9], None);
        assert!(matches!(&v[10], Some(Value::KvlistValue(l)) if l.values.len() == 1));
    }

    #[test]
    fn long_strings_events_and_links_are_left_out_when_not_kept() {
        let text = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c",
            "spanId":"00f067aa0ba902b7","events":[{{"name":"e"}}],"links":[{{"traceId":"0af7651916cd43dd8448eb211c80319c"}}],
            "attributes":[{{"key":"long","value":{{"stringValue":"{}"}}}},{{"key":"short","value":{{"stringValue":"s"}}}},
            {{"key":"nested","value":{{"arrayValue":{{"values":[{{"stringValue":"{}"}}]}}}}}}]}}]}}]}}]}}"#,
            "x".repeat(11),
            "y".repeat(11)
        );
        let mut none = |_: String| {};
        let mut cx = Cx::new(
            Keep {
                max_string: 10,
                events_and_links: false,
            },
            &mut none,
        );
        let req = request(text.as_bytes(), &mut cx).unwrap();
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["short", "nested"], "nested strings are kept");
        assert!(s.events.is_empty() && s.links.is_empty());
        let (all, _) = decode(&text).unwrap();
        let s = &all.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            (s.attributes.len(), s.events.len(), s.links.len()),
            (3, 1, 1)
        );
    }

    #[test]
    fn bad_ids_refuse_their_span_and_keep_its_neighbours() {
        let (req, refused) = decode(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"xyz","spanId":"00f067aa0ba902b7","name":"bad"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000000","name":"zero"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","parentSpanId":"12","name":"parent"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","links":[{"spanId":"?"}],"name":"link"},
            {"spanId":"00f067aa0ba902b7","name":"no trace"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"good"}]}]}]}"#,
        )
        .unwrap();
        let names: Vec<&str> = req.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["good"]);
        assert_eq!(
            refused,
            [
                "span 'bad': traceId must be 32 hex digits, not all zero (got 'xyz')",
                "span 'zero': spanId must be 16 hex digits, not all zero (got '0000000000000000')",
                "span 'parent': parentSpanId must be empty or 16 hex digits (got '12')",
                "span 'link': a link's traceId or spanId is neither hex nor base64 (got '?')",
                "span 'no trace': traceId must be 32 hex digits, not all zero (got '')",
            ]
        );
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        for (text, says) in [
            (r#"{"resourceSpans": 5}"#, "invalid type: integer `5`"),
            (r#"{"resourceSpans":null}"#, "invalid type: null"),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#,
                "expected a string",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NONE"}]}]}]}"#,
                "unknown enum value 'SPAN_KIND_NONE'",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"yesterday"}]}]}]}"#,
                "not an unsigned integer: 'yesterday'",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","name":"b"}]}]}]}"#,
                "duplicate field `name`",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"value":{"doubleValue":"x"}}]}]}]}]}"#,
                "doubleValue is not a number: 'x'",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"value":{"bytesValue":"!"}}]}]}]}]}"#,
                "expected a base64 string",
            ),
            (
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[null]}]}]}"#,
                "invalid type: null",
            ),
            (
                r#"{"resourceSpans":[[null,[[null,[[],[]]]],"",1]]}"#,
                "invalid length 4",
            ),
            (r#"{"resourceSpans":[]} x"#, "trailing characters"),
            ("null", "invalid type: null"),
        ] {
            let e = decode(text).map(|_| ()).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        // Positional arrays, the pre-1.0 names, unknown keys.
        let (req, _) = decode(
            r#"{"x":{"y":[1]},"resourceSpans":[[null,[[null,[["0102030405060708090a0b0c0d0e0f10","0102030405060708","",""]]]]],
            {"instrumentationLibrarySpans":[{"instrumentationLibrary":{"name":"old"},"spans":[
             {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","unknown":[{}]}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            req.resource_spans[0].scope_spans[0].spans[0].span_id,
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        let old = &req.resource_spans[1].scope_spans[0];
        assert_eq!(old.scope.as_ref().map(|s| s.name.as_str()), Some("old"));
        assert_eq!(old.spans.len(), 1);
    }
}
