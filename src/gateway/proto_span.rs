//! [`SpanView`] over an OTLP proto span, plus the resource and scope it came with.
//!
//! ```text
//! ResourceSpans{resource, ScopeSpans{scope, [Span]}} --split--> [GatewaySpan{span, Arc<resource>, Arc<scope>}]
//!                                                    <--regroup-- (export)
//! ```

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::span_view::{AttrKey, AttrValue, OwnedValue, SpanView};

/// `flags` bit: whether the parent's remoteness is known.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `flags` bit: the parent is remote.
const FLAG_IS_REMOTE: u32 = 0x200;

/// A resource as received, shared by all its spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ResourceInfo {
    pub resource: Option<Resource>,
    pub schema_url: String,
}

/// An instrumentation scope as received, shared by all its spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ScopeInfo {
    pub scope: Option<InstrumentationScope>,
    pub schema_url: String,
}

impl ResourceInfo {
    /// `service.name`, if any.
    pub(crate) fn service_name(&self) -> Option<&str> {
        self.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .rev()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.as_str()),
                    _ => None,
                })
        })
    }

    fn encoded_len(&self) -> usize {
        self.resource.as_ref().map_or(0, Message::encoded_len) + self.schema_url.len()
    }
}

impl ScopeInfo {
    fn encoded_len(&self) -> usize {
        self.scope.as_ref().map_or(0, Message::encoded_len) + self.schema_url.len()
    }
}

/// One span in the gateway, with its resource and scope.
#[derive(Debug, Clone)]
pub(crate) struct GatewaySpan {
    pub span: Span,
    pub resource: Arc<ResourceInfo>,
    pub scope: Arc<ScopeInfo>,
}

/// Why a span was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InvalidSpan {
    Trace(usize),
    Span(usize),
    Parent(usize),
}

impl std::fmt::Display for InvalidSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidSpan::Trace(n) => write!(
                f,
                "traceId must be 16 non-zero bytes (got {n} bytes or all zero)"
            ),
            InvalidSpan::Span(n) => write!(
                f,
                "spanId must be 8 non-zero bytes (got {n} bytes or all zero)"
            ),
            InvalidSpan::Parent(n) => {
                write!(f, "parentSpanId must be empty or 8 bytes (got {n} bytes)")
            }
        }
    }
}

fn check_ids(s: &Span) -> Result<(), InvalidSpan> {
    if s.trace_id.len() != 16 || s.trace_id.iter().all(|&b| b == 0) {
        return Err(InvalidSpan::Trace(s.trace_id.len()));
    }
    if s.span_id.len() != 8 || s.span_id.iter().all(|&b| b == 0) {
        return Err(InvalidSpan::Span(s.span_id.len()));
    }
    if !(s.parent_span_id.is_empty() || s.parent_span_id.len() == 8) {
        return Err(InvalidSpan::Parent(s.parent_span_id.len()));
    }
    Ok(())
}

/// Spans of a request, split out; invalid ones counted and described.
#[derive(Debug, Default)]
pub(crate) struct Split {
    pub spans: Vec<GatewaySpan>,
    pub invalid: usize,
    pub first_error: Option<String>,
}

/// Number of spans in a request.
pub(crate) fn count_spans(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// Splits a request into spans sharing their resource and scope.
pub(crate) fn split(req: ExportTraceServiceRequest) -> Split {
    let mut out = Split::default();
    for rs in req.resource_spans {
        let resource = Arc::new(ResourceInfo {
            resource: rs.resource,
            schema_url: rs.schema_url,
        });
        for ss in rs.scope_spans {
            let scope = Arc::new(ScopeInfo {
                scope: ss.scope,
                schema_url: ss.schema_url,
            });
            for span in ss.spans {
                match check_ids(&span) {
                    Ok(()) => out.spans.push(GatewaySpan {
                        span,
                        resource: resource.clone(),
                        scope: scope.clone(),
                    }),
                    Err(e) => {
                        out.invalid += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(format!("span '{}': {e}", span.name));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Upper bound of a span's share of an export request (field tag + length prefix).
/// Walks the span (prost `encoded_len`): only where a release has to be cut into batches.
pub(crate) fn span_wire_len(s: &GatewaySpan) -> usize {
    s.span.encoded_len() + 6
}

/// Heap bytes of one allocation of `len` bytes: rounded up to a 16-byte chunk with its 8-byte
/// header, 32 at least (glibc malloc's chunk rules; other allocators use less).
fn alloc_bytes(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        ((len + 8 + 15) & !15).max(32)
    }
}

fn value_heap(v: &AnyValue) -> usize {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => alloc_bytes(s.capacity()),
        Some(any_value::Value::BytesValue(b)) => alloc_bytes(b.capacity()),
        Some(any_value::Value::ArrayValue(a)) => {
            alloc_bytes(a.values.capacity() * std::mem::size_of::<AnyValue>())
                + a.values.iter().map(value_heap).sum::<usize>()
        }
        Some(any_value::Value::KvlistValue(l)) => attrs_heap(&l.values),
        _ => 0,
    }
}

fn attrs_heap(attrs: &Vec<KeyValue>) -> usize {
    alloc_bytes(attrs.capacity() * std::mem::size_of::<KeyValue>())
        + attrs
            .iter()
            .map(|kv| alloc_bytes(kv.key.capacity()) + kv.value.as_ref().map_or(0, value_heap))
            .sum::<usize>()
}

/// Resident memory a buffered span takes: the `GatewaySpan` itself and every heap block it
/// owns (ids, name, attributes, events, links, status), by capacity and with allocator chunk
/// overhead. Resources and scopes are shared per request and not counted here.
pub(crate) fn memory_estimate(gs: &GatewaySpan) -> usize {
    let s = &gs.span;
    let mut n = std::mem::size_of::<GatewaySpan>()
        + alloc_bytes(s.trace_id.capacity())
        + alloc_bytes(s.span_id.capacity())
        + alloc_bytes(s.parent_span_id.capacity())
        + alloc_bytes(s.trace_state.capacity())
        + alloc_bytes(s.name.capacity())
        + attrs_heap(&s.attributes)
        + alloc_bytes(s.events.capacity() * std::mem::size_of::<Event>())
        + alloc_bytes(
            s.links.capacity()
                * std::mem::size_of::<opentelemetry_proto::tonic::trace::v1::span::Link>(),
        );
    for e in &s.events {
        n += alloc_bytes(e.name.capacity()) + attrs_heap(&e.attributes);
    }
    for l in &s.links {
        n += alloc_bytes(l.trace_id.capacity())
            + alloc_bytes(l.span_id.capacity())
            + alloc_bytes(l.trace_state.capacity())
            + attrs_heap(&l.attributes);
    }
    if let Some(st) = &s.status {
        n += alloc_bytes(st.message.capacity());
    }
    n
}

/// Upper bound of the bytes a new resource group adds.
pub(crate) fn resource_wire_len(r: &ResourceInfo) -> usize {
    r.encoded_len() + 24
}

/// Upper bound of the bytes a new scope group adds.
pub(crate) fn scope_wire_len(s: &ScopeInfo) -> usize {
    s.encoded_len() + 24
}

type ScopeGroup = (Arc<ScopeInfo>, Vec<Span>);
type ResourceGroup = (Arc<ResourceInfo>, Vec<ScopeGroup>);

/// Finds (or adds) the group of `key`: by pointer first (every span of a request shares its
/// `Arc`s, so a deep comparison happens once per distinct `Arc`, not once per span). `seen`
/// holds the `Arc`s it has matched, so an address cannot be freed and reused meanwhile.
fn group_of<T: PartialEq, G>(
    seen: &mut Vec<(Arc<T>, usize)>,
    groups: &mut Vec<(Arc<T>, G)>,
    key: &Arc<T>,
    new: impl FnOnce() -> G,
) -> usize {
    if let Some((_, i)) = seen.iter().find(|(p, _)| Arc::ptr_eq(p, key)) {
        return *i;
    }
    let i = match groups.iter().position(|(g, _)| **g == **key) {
        Some(i) => i,
        None => {
            groups.push((key.clone(), new()));
            groups.len() - 1
        }
    };
    seen.push((key.clone(), i));
    i
}

/// Regroups spans into `ResourceSpans` / `ScopeSpans` (equal resources and scopes merged).
pub(crate) fn regroup(spans: Vec<GatewaySpan>) -> ExportTraceServiceRequest {
    let mut groups: Vec<ResourceGroup> = Vec::new();
    let mut seen_resources: Vec<(Arc<ResourceInfo>, usize)> = Vec::new();
    // Per resource group: scope `Arc` -> index in that group's scopes.
    let mut seen_scopes: Vec<Vec<(Arc<ScopeInfo>, usize)>> = Vec::new();
    for s in spans {
        let gi = group_of(&mut seen_resources, &mut groups, &s.resource, Vec::new);
        if seen_scopes.len() < groups.len() {
            seen_scopes.resize_with(groups.len(), Vec::new);
        }
        let si = group_of(&mut seen_scopes[gi], &mut groups[gi].1, &s.scope, Vec::new);
        groups[gi].1[si].1.push(s.span);
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(r, scopes)| ResourceSpans {
                resource: r.resource.clone(),
                schema_url: r.schema_url.clone(),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sc, spans)| ScopeSpans {
                        scope: sc.scope.clone(),
                        schema_url: sc.schema_url.clone(),
                        spans,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn view(v: Option<&AnyValue>) -> AttrValue<'_> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
        Some(any_value::Value::IntValue(i)) => AttrValue::I64(*i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::F64(*d),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        _ => AttrValue::Other,
    }
}

fn owned(v: OwnedValue) -> AnyValue {
    AnyValue {
        value: Some(match v {
            OwnedValue::Str(s) => any_value::Value::StringValue(s),
            OwnedValue::Shared(s) => any_value::Value::StringValue(s.to_string()),
            OwnedValue::I64(i) => any_value::Value::IntValue(i),
            OwnedValue::F64(f) => any_value::Value::DoubleValue(f),
            OwnedValue::Bool(b) => any_value::Value::BoolValue(b),
        }),
    }
}

fn id<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    if b.len() == N {
        out.copy_from_slice(b);
    }
    out
}

impl GatewaySpan {
    /// Appends an attribute.
    fn push_attr(&mut self, kv: KeyValue) {
        self.span.attributes.push(kv);
    }

    /// Trace id bytes (validated on receipt).
    pub(crate) fn trace_key(&self) -> [u8; 16] {
        id(&self.span.trace_id)
    }

    /// `true` for a trace's root (no parent at all).
    pub(crate) fn is_root(&self) -> bool {
        self.parent_span_id().is_none()
    }
}

impl SpanView for GatewaySpan {
    fn trace_id(&self) -> [u8; 16] {
        id(&self.span.trace_id)
    }
    fn span_id(&self) -> [u8; 8] {
        id(&self.span.span_id)
    }
    fn parent_span_id(&self) -> Option<[u8; 8]> {
        let p: [u8; 8] = id(&self.span.parent_span_id);
        (p != [0; 8]).then_some(p)
    }
    fn parent_is_remote(&self) -> bool {
        self.span.flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE)
            == FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE
    }
    fn start_unix_nanos(&self) -> u64 {
        self.span.start_time_unix_nano
    }
    fn scope_name(&self) -> &str {
        self.scope.scope.as_ref().map_or("", |s| s.name.as_str())
    }
    fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>)) {
        for kv in &self.span.attributes {
            f(&kv.key, view(kv.value.as_ref()));
        }
    }
    // The hot-path variants, as for the SDK's spans: one loop, no call per skipped key.
    #[inline]
    fn for_each_attr_in(
        &self,
        filter: &crate::span_view::KeyFilter,
        f: &mut dyn FnMut(usize, &str, AttrValue<'_>),
    ) {
        for (i, kv) in self.span.attributes.iter().enumerate() {
            if filter.passes(&kv.key) {
                f(i, &kv.key, view(kv.value.as_ref()));
            }
        }
    }
    fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
        self.span
            .attributes
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .map(|kv| view(kv.value.as_ref()))
    }
    fn attr_at(&self, index: usize, key: &str) -> Option<AttrValue<'_>> {
        match self.span.attributes.get(index) {
            Some(kv) if crate::span_view::eq_long(kv.key.as_bytes(), key.as_bytes()) => {
                Some(view(kv.value.as_ref()))
            }
            _ => self.attr(key),
        }
    }
    fn set_attr(&mut self, key: &str, value: OwnedValue) {
        let value = Some(owned(value));
        let mut found = false;
        // Replace every occurrence: readers may take the first or the last.
        for kv in self.span.attributes.iter_mut().filter(|kv| kv.key == key) {
            kv.value = value.clone();
            found = true;
        }
        if !found {
            self.push_attr(KeyValue {
                key: key.to_owned(),
                value,
                ..Default::default()
            });
        }
    }
    fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
        if replace {
            self.set_attr(key.as_str(), value);
        } else {
            self.push_attr(KeyValue {
                key: key.as_str().to_owned(),
                value: Some(owned(value)),
                ..Default::default()
            });
        }
    }
    fn reserve_attrs(&mut self, additional: usize) {
        self.span.attributes.reserve(additional);
    }
    fn name(&self) -> &str {
        &self.span.name
    }
    fn service_name(&self) -> Option<&str> {
        self.resource.service_name()
    }
    fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>) {
        let event = Event {
            time_unix_nano: self.span.end_time_unix_nano,
            name: name.to_owned(),
            attributes: attrs
                .into_iter()
                .map(|(k, v)| KeyValue {
                    key: k.as_str().to_owned(),
                    value: Some(owned(v)),
                    ..Default::default()
                })
                .collect(),
            dropped_attributes_count: 0,
        };
        self.span.events.push(event);
    }
}

impl crate::records::RecordSpan for GatewaySpan {
    fn end_unix_nanos(&self) -> u64 {
        self.span.end_time_unix_nano
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A span for tests: trace `t`, span `s`, parent `p` (0 = root), attributes.
    pub(crate) fn span(t: u8, s: u8, p: u8, attrs: &[(&str, AttrValue<'_>)]) -> GatewaySpan {
        let attributes = attrs
            .iter()
            .map(|(k, v)| KeyValue {
                key: (*k).to_owned(),
                value: Some(owned(match v {
                    AttrValue::Str(s) => OwnedValue::Str((*s).to_owned()),
                    AttrValue::I64(i) => OwnedValue::I64(*i),
                    AttrValue::F64(f) => OwnedValue::F64(*f),
                    AttrValue::Bool(b) => OwnedValue::Bool(*b),
                    AttrValue::Other => OwnedValue::Str(String::new()),
                })),
                ..Default::default()
            })
            .collect();
        let span = Span {
            trace_id: vec![t; 16],
            span_id: vec![s; 8],
            parent_span_id: if p == 0 { Vec::new() } else { vec![p; 8] },
            name: format!("span-{s}"),
            start_time_unix_nano: 1_750_000_000_000_000_000,
            end_time_unix_nano: 1_750_000_001_000_000_000,
            attributes,
            ..Default::default()
        };
        GatewaySpan {
            span,
            resource: Arc::new(ResourceInfo::default()),
            scope: Arc::new(ScopeInfo::default()),
        }
    }

    #[test]
    fn set_attr_replaces_duplicates_and_appends_new_keys() {
        let mut s = span(
            1,
            2,
            0,
            &[("k", AttrValue::I64(1)), ("k", AttrValue::I64(2))],
        );
        assert_eq!(s.attr("k"), Some(AttrValue::I64(2)));
        s.set_attr("k", OwnedValue::Str("x".into()));
        s.set_attr("new", OwnedValue::Bool(true));
        assert_eq!(s.span.attributes.len(), 3);
        assert!(s
            .span
            .attributes
            .iter()
            .filter(|kv| kv.key == "k")
            .all(|kv| view(kv.value.as_ref()) == AttrValue::Str("x")));
        assert_eq!(s.attr("new"), Some(AttrValue::Bool(true)));
    }

    #[test]
    fn regroup_keeps_distinct_resources_apart_and_merges_scopes() {
        let r = |name: &str| {
            Arc::new(ResourceInfo {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(owned(OwnedValue::Str(name.into()))),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                schema_url: String::new(),
            })
        };
        let mut spans = Vec::new();
        for (i, svc) in ["a", "b", "a", "b", "a"].iter().enumerate() {
            let mut s = span(1, i as u8 + 1, 0, &[]);
            // A new Arc per span: merged by value, not by pointer.
            s.resource = r(svc);
            spans.push(s);
        }
        let req = regroup(spans);
        let names: Vec<(Option<String>, usize)> = req
            .resource_spans
            .iter()
            .map(|rs| {
                let info = ResourceInfo {
                    resource: rs.resource.clone(),
                    schema_url: String::new(),
                };
                (
                    info.service_name().map(str::to_owned),
                    rs.scope_spans.iter().map(|ss| ss.spans.len()).sum(),
                )
            })
            .collect();
        assert_eq!(names, vec![(Some("a".into()), 3), (Some("b".into()), 2)]);
        assert!(req
            .resource_spans
            .iter()
            .all(|rs| rs.scope_spans.len() == 1));
    }

    #[test]
    fn all_zero_parent_is_no_parent_and_remote_flag_is_read() {
        let mut s = span(1, 2, 0, &[]);
        s.span.parent_span_id = vec![0; 8];
        assert!(s.is_root());
        s.span.flags = FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE;
        assert!(s.parent_is_remote());
        s.span.flags = FLAG_IS_REMOTE;
        assert!(!s.parent_is_remote());
    }

    #[test]
    fn invalid_ids_are_refused_with_a_reason() {
        let mut req = ExportTraceServiceRequest::default();
        let mut bad = span(1, 2, 0, &[]).span;
        bad.trace_id = vec![1; 15];
        let good = span(1, 3, 0, &[]).span;
        req.resource_spans.push(ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![bad, good],
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(count_spans(&req), 2);
        let s = split(req);
        assert_eq!((s.spans.len(), s.invalid), (1, 1));
        assert!(s
            .first_error
            .unwrap_or_default()
            .contains("traceId must be 16"));
    }

    #[test]
    fn regroup_merges_equal_resources_from_different_requests() {
        let mut a = span(1, 2, 0, &[]);
        let mut b = span(1, 3, 2, &[]);
        let r = ResourceInfo {
            resource: Some(Resource::default()),
            schema_url: "x".into(),
        };
        a.resource = Arc::new(r.clone());
        b.resource = Arc::new(r);
        let req = regroup(vec![a, b]);
        assert_eq!(req.resource_spans.len(), 1);
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 2);
    }
}
