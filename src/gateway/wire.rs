//! The export encoder: priced spans -> one `ExportTraceServiceRequest`, as bytes.
//!
//! Spans are grouped by resource and scope (equal ones merged, as the Collector's batching
//! does) and written straight into one buffer of the exact size:
//!
//! - every span's length is computed once ([`span_len`]) and reused for its length prefix, its
//!   scope's and resource's, the request's and the exporter's batch cutting (prost's own
//!   `encode_to_vec` walks a span four times over to size each enclosing message);
//! - the attributes the engine wrote ([`GatewaySpan::added`]) are encoded after the span's own
//!   fields as more `attributes` (field 9) entries. Protobuf parsers merge a repeated field
//!   from wherever it appears in the message ("parsers must be able to parse fields in any
//!   order", protobuf encoding guide), so the request decodes to the span with those
//!   attributes appended, exactly as if they had been pushed onto `attributes`.
//!
//! Without written attributes the bytes are those prost writes for the same request (a test
//! holds them equal).

use std::sync::Arc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use super::proto_span::{Added, AddedValue, GatewaySpan, ResourceInfo, ScopeInfo};

/// `attributes` of `Span`, `resource_spans` of the request, `resource`/`scope` of the groups.
const SPAN_ATTRIBUTES: u32 = 9;
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;

/// Bytes of a length-delimited field of `len` bytes with a one-byte tag (all tags here), e.g.
/// a span's entry in its scope: tag, length prefix, message.
#[inline]
pub(crate) fn entry_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn value_len(v: &AddedValue) -> usize {
    match v {
        AddedValue::Str(s) => entry_len(s.len()),
        AddedValue::Static(s) => entry_len(s.len()),
        AddedValue::Shared(s) => entry_len(s.len()),
        AddedValue::I64(i) => 1 + encoded_len_varint(*i as u64),
        AddedValue::F64(_) => 9,
        AddedValue::Bool(_) => 2,
    }
}

/// Length of the `KeyValue` message of `a` (without its own tag and length).
fn added_kv_len(a: &Added) -> usize {
    let key = a.key.as_str().len();
    // proto3: an empty key is not written.
    let key = if key == 0 { 0 } else { entry_len(key) };
    key + entry_len(value_len(&a.value))
}

fn put_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(s.len() as u64, buf);
    buf.extend_from_slice(s.as_bytes());
}

fn put_added(buf: &mut Vec<u8>, a: &Added) {
    encode_key(SPAN_ATTRIBUTES, WireType::LengthDelimited, buf);
    encode_varint(added_kv_len(a) as u64, buf);
    let key = a.key.as_str();
    if !key.is_empty() {
        put_str(buf, KV_KEY, key);
    }
    encode_key(KV_VALUE, WireType::LengthDelimited, buf);
    encode_varint(value_len(&a.value) as u64, buf);
    match &a.value {
        AddedValue::Str(s) => put_str(buf, ANY_STRING, s),
        AddedValue::Static(s) => put_str(buf, ANY_STRING, s),
        AddedValue::Shared(s) => put_str(buf, ANY_STRING, s),
        AddedValue::I64(i) => {
            encode_key(ANY_INT, WireType::Varint, buf);
            encode_varint(*i as u64, buf);
        }
        AddedValue::F64(f) => {
            encode_key(ANY_DOUBLE, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        AddedValue::Bool(b) => {
            encode_key(ANY_BOOL, WireType::Varint, buf);
            encode_varint(u64::from(*b), buf);
        }
    }
}

/// Length of the span's `Span` message as exported: its own fields plus the written
/// attributes (without the span's tag and length prefix).
pub(crate) fn span_len(s: &GatewaySpan) -> usize {
    s.span.encoded_len()
        + s.added
            .iter()
            .map(|a| entry_len(added_kv_len(a)))
            .sum::<usize>()
}

/// A span's share of an export request: tag, length prefix and message.
#[cfg(test)]
pub(crate) fn span_wire_len(s: &GatewaySpan) -> usize {
    entry_len(span_len(s))
}

/// Spans of one scope within a resource group: indices into the spans being encoded.
struct ScopeGroup {
    scope: Arc<ScopeInfo>,
    spans: Vec<usize>,
    len: usize,
}

struct ResourceGroup {
    resource: Arc<ResourceInfo>,
    scopes: Vec<ScopeGroup>,
    /// Per scope `Arc` seen: index in `scopes` (matched by pointer first).
    seen: Vec<(Arc<ScopeInfo>, usize)>,
    len: usize,
}

/// Finds (or adds) the group of `key`: by pointer first (every span of a request shares its
/// `Arc`s, so a deep comparison happens once per distinct `Arc`, not once per span). `seen`
/// holds the `Arc`s it has matched, so an address cannot be freed and reused meanwhile.
fn group_of<T: PartialEq, G>(
    seen: &mut Vec<(Arc<T>, usize)>,
    groups: &mut Vec<G>,
    key: &Arc<T>,
    of: impl Fn(&G) -> &Arc<T>,
    new: impl FnOnce() -> G,
) -> usize {
    if let Some((_, i)) = seen.iter().find(|(p, _)| Arc::ptr_eq(p, key)) {
        return *i;
    }
    let i = match groups.iter().position(|g| **of(g) == **key) {
        Some(i) => i,
        None => {
            groups.push(new());
            groups.len() - 1
        }
    };
    seen.push((key.clone(), i));
    i
}

fn optional_message_len<M: Message>(m: Option<&M>) -> usize {
    m.map_or(0, |m| entry_len(m.encoded_len()))
}

fn optional_str_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        entry_len(s.len())
    }
}

fn put_optional_message<M: Message>(buf: &mut Vec<u8>, tag: u32, m: Option<&M>) {
    if let Some(m) = m {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(m.encoded_len() as u64, buf);
        m.encode_raw(buf);
    }
}

fn put_optional_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
    if !s.is_empty() {
        put_str(buf, tag, s);
    }
}

/// `spans` grouped by resource and scope, with the exact encoded size of the request they make.
pub(crate) struct Plan {
    groups: Vec<ResourceGroup>,
    /// Bytes of the whole `ExportTraceServiceRequest`.
    pub total: usize,
}

impl Plan {
    /// Groups `spans` (`lens[i]` is [`span_len`] of `spans[i]`) and sizes the request.
    pub(crate) fn new(spans: &[GatewaySpan], lens: &[usize]) -> Plan {
        debug_assert_eq!(spans.len(), lens.len());
        let mut groups: Vec<ResourceGroup> = Vec::new();
        let mut seen: Vec<(Arc<ResourceInfo>, usize)> = Vec::new();
        for (i, (s, &len)) in spans.iter().zip(lens).enumerate() {
            debug_assert_eq!(len, span_len(s), "span {i}: stale length");
            let gi = group_of(
                &mut seen,
                &mut groups,
                &s.resource,
                |g| &g.resource,
                || ResourceGroup {
                    resource: s.resource.clone(),
                    scopes: Vec::new(),
                    seen: Vec::new(),
                    len: 0,
                },
            );
            let g = &mut groups[gi];
            let si = group_of(
                &mut g.seen,
                &mut g.scopes,
                &s.scope,
                |sg| &sg.scope,
                || ScopeGroup {
                    scope: s.scope.clone(),
                    spans: Vec::new(),
                    len: 0,
                },
            );
            let sg = &mut g.scopes[si];
            sg.spans.push(i);
            sg.len += entry_len(len);
        }
        // Sizes, inside out.
        let mut total = 0;
        for g in &mut groups {
            let mut len = optional_message_len(g.resource.resource.as_ref())
                + optional_str_len(&g.resource.schema_url);
            for sg in &mut g.scopes {
                sg.len += optional_message_len(sg.scope.scope.as_ref())
                    + optional_str_len(&sg.scope.schema_url);
                len += entry_len(sg.len);
            }
            g.len = len;
            total += entry_len(len);
        }
        Plan { groups, total }
    }

    /// The request, encoded: the same `spans` and `lens` the plan was made from.
    pub(crate) fn write(&self, spans: &[GatewaySpan], lens: &[usize]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.total);
        // Fields in number order, as prost writes them:
        // ExportTraceServiceRequest { resource_spans = 1 }
        // ResourceSpans { resource = 1, scope_spans = 2, schema_url = 3 }
        // ScopeSpans { scope = 1, spans = 2, schema_url = 3 }
        for g in &self.groups {
            encode_key(1, WireType::LengthDelimited, &mut buf);
            encode_varint(g.len as u64, &mut buf);
            put_optional_message(&mut buf, 1, g.resource.resource.as_ref());
            for sg in &g.scopes {
                encode_key(2, WireType::LengthDelimited, &mut buf);
                encode_varint(sg.len as u64, &mut buf);
                put_optional_message(&mut buf, 1, sg.scope.scope.as_ref());
                for &i in &sg.spans {
                    let s = &spans[i];
                    encode_key(2, WireType::LengthDelimited, &mut buf);
                    encode_varint(lens[i] as u64, &mut buf);
                    // `encode_raw` is prost's (hidden) building block of every `encode`; the
                    // crate pins prost 0.14, and the tests hold our bytes equal to prost's.
                    s.span.encode_raw(&mut buf);
                    for a in &s.added {
                        put_added(&mut buf, a);
                    }
                }
                put_optional_str(&mut buf, 3, &sg.scope.schema_url);
            }
            put_optional_str(&mut buf, 3, &g.resource.schema_url);
        }
        // A length that did not match its span would corrupt the request: checked in debug
        // builds per span (`Plan::new`) and here for the whole.
        debug_assert_eq!(buf.len(), self.total);
        buf
    }
}

/// One `ExportTraceServiceRequest` holding `spans`, grouped by resource and scope, encoded.
/// `lens[i]` is [`span_len`] of `spans[i]`.
pub(crate) fn encode(spans: &[GatewaySpan], lens: &[usize]) -> Vec<u8> {
    Plan::new(spans, lens).write(spans, lens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::proto_span::regroup;
    use crate::gateway::proto_span::tests::span;
    use crate::span_view::{AttrKey, AttrValue, OwnedValue, SpanView};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, InstrumentationScope, KeyValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn lens(spans: &[GatewaySpan]) -> Vec<usize> {
        spans.iter().map(span_len).collect()
    }

    fn resource(name: &str, schema: &str) -> Arc<ResourceInfo> {
        Arc::new(ResourceInfo {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(name.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            schema_url: schema.into(),
        })
    }

    fn scope(name: &str, schema: &str) -> Arc<ScopeInfo> {
        Arc::new(ScopeInfo {
            scope: Some(InstrumentationScope {
                name: name.into(),
                ..Default::default()
            }),
            schema_url: schema.into(),
        })
    }

    /// Spans over two resources (one without a resource message) and three scopes, some
    /// sharing `Arc`s and some equal by value only, with events, a big attribute (multi-byte
    /// length prefixes) and every value kind.
    fn mixed() -> Vec<GatewaySpan> {
        let big = "x".repeat(300);
        let mut out = Vec::new();
        let ra = resource("a", "https://opentelemetry.io/schemas/1.26.0");
        let rb = Arc::new(ResourceInfo::default());
        let sa = scope("openinference", "");
        for i in 1..=12u8 {
            let mut s = span(
                i % 3 + 1,
                i,
                if i % 4 == 0 { 0 } else { i + 100 },
                &[
                    ("k", AttrValue::Str(&big)),
                    ("n", AttrValue::I64(-(i as i64))),
                    ("f", AttrValue::F64(0.25)),
                    ("b", AttrValue::Bool(i % 2 == 0)),
                ],
            );
            s.resource = match i % 3 {
                0 => ra.clone(),
                1 => resource("a", "https://opentelemetry.io/schemas/1.26.0"),
                _ => rb.clone(),
            };
            s.scope = if i % 5 == 0 {
                scope("other", "s")
            } else {
                sa.clone()
            };
            if i == 7 {
                // Present but empty: written as a zero-length message, as prost does.
                s.resource = Arc::new(ResourceInfo {
                    resource: Some(Resource::default()),
                    schema_url: String::new(),
                });
                s.scope = Arc::new(ScopeInfo {
                    scope: Some(InstrumentationScope::default()),
                    schema_url: String::new(),
                });
            }
            if i % 3 == 0 {
                s.add_event("e", vec![(AttrKey::new("ev.k"), OwnedValue::I64(1))]);
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn without_written_attributes_the_bytes_are_prosts() {
        let spans = mixed();
        let ours = encode(&spans, &lens(&spans));
        assert_eq!(ours, regroup(spans).encode_to_vec());
    }

    #[test]
    fn written_attributes_decode_as_appended_attributes() {
        let mut spans = mixed();
        let key = |k: &str| AttrKey::new(k);
        for (i, s) in spans.iter_mut().enumerate() {
            s.write_attr(
                &key("llm.cost.total"),
                OwnedValue::F64(0.001 * i as f64),
                false,
            );
            s.write_attr(&key("cost.llm_calls"), OwnedValue::I64(i as i64 - 3), false);
            s.write_attr(&key("cost.complete"), OwnedValue::Bool(i % 2 == 0), false);
            s.write_static(&key("cost.pricing.status"), "priced", false);
            s.write_attr(
                &key("cost.by_model"),
                OwnedValue::Shared(Arc::from("y".repeat(200 + i))),
                false,
            );
            s.write_attr(&key(""), OwnedValue::Str(String::new()), false);
            // A replacing write of a key the span had: one occurrence, the new value.
            s.write_attr(&key("n"), OwnedValue::I64(7), true);
        }
        let ours = encode(&spans, &lens(&spans));
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("decodes");
        let expected = regroup(spans.clone());
        assert_eq!(decoded, expected);
        assert_eq!(ours.len(), expected.encoded_len());
        // And the written values are what the span reads back.
        let s = &spans[4];
        assert_eq!(s.attr("n"), Some(AttrValue::I64(7)));
        assert_eq!(
            s.attr("cost.pricing.status"),
            Some(AttrValue::Str("priced"))
        );
        assert_eq!(
            s.to_proto()
                .attributes
                .iter()
                .filter(|kv| kv.key == "n")
                .count(),
            1
        );
    }

    #[test]
    fn span_wire_len_is_exact() {
        let mut spans = mixed();
        spans[0].write_attr(&AttrKey::new("a"), OwnedValue::F64(1.0), false);
        spans[1].write_attr(&AttrKey::new("b"), OwnedValue::Str("z".repeat(500)), false);
        for s in &spans {
            let proto = s.to_proto();
            assert_eq!(
                span_wire_len(s),
                prost::encoding::message::encoded_len(2, &proto)
            );
        }
    }
}
