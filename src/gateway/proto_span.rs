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
use opentelemetry_proto::tonic::trace::v1::Span;
#[cfg(test)]
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
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
    /// Attributes the engine wrote, encoded after the span's own (see [`super::wire`]): kept
    /// with the key as the engine holds it (interned or shared), so a write builds no
    /// `KeyValue` with freshly allocated key and value strings.
    pub added: Vec<Added>,
    /// Where the span is in the write-ahead log (persistent queue only), to checkpoint it
    /// once delivered.
    pub origin: Option<Origin>,
}

/// A span's place in the write-ahead log (`persist.rs` packs and reads it): its record and its
/// index among the record's valid spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Origin {
    pub record: std::num::NonZeroU64,
    pub span: u32,
}

impl GatewaySpan {
    /// A span as received.
    pub(crate) fn new(span: Span, resource: Arc<ResourceInfo>, scope: Arc<ScopeInfo>) -> Self {
        GatewaySpan {
            span,
            resource,
            scope,
            added: Vec::new(),
            origin: None,
        }
    }
}

/// An attribute name the engine wrote.
#[derive(Debug, Clone)]
pub(crate) enum AddedKey {
    Static(&'static str),
    Shared(Arc<str>),
}

impl AddedKey {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            AddedKey::Static(s) => s,
            AddedKey::Shared(s) => s,
        }
    }

    fn of(key: &AttrKey) -> AddedKey {
        match key.interned() {
            Some(s) => AddedKey::Static(s),
            None => AddedKey::Shared(Arc::clone(key.shared())),
        }
    }
}

/// An attribute value the engine wrote.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AddedValue {
    Str(String),
    Static(&'static str),
    Shared(Arc<str>),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl AddedValue {
    fn view(&self) -> AttrValue<'_> {
        match self {
            AddedValue::Str(s) => AttrValue::Str(s),
            AddedValue::Static(s) => AttrValue::Str(s),
            AddedValue::Shared(s) => AttrValue::Str(s),
            AddedValue::I64(i) => AttrValue::I64(*i),
            AddedValue::F64(f) => AttrValue::F64(*f),
            AddedValue::Bool(b) => AttrValue::Bool(*b),
        }
    }

    /// The OTLP value it stands for.
    pub(crate) fn to_proto(&self) -> AnyValue {
        let s = |s: &str| any_value::Value::StringValue(s.to_owned());
        AnyValue {
            value: Some(match self {
                AddedValue::Str(v) => s(v),
                AddedValue::Static(v) => s(v),
                AddedValue::Shared(v) => s(v),
                AddedValue::I64(i) => any_value::Value::IntValue(*i),
                AddedValue::F64(f) => any_value::Value::DoubleValue(*f),
                AddedValue::Bool(b) => any_value::Value::BoolValue(*b),
            }),
        }
    }
}

impl From<OwnedValue> for AddedValue {
    fn from(v: OwnedValue) -> AddedValue {
        match v {
            OwnedValue::Str(s) => AddedValue::Str(s),
            OwnedValue::Shared(s) => AddedValue::Shared(s),
            OwnedValue::I64(i) => AddedValue::I64(i),
            OwnedValue::F64(f) => AddedValue::F64(f),
            OwnedValue::Bool(b) => AddedValue::Bool(b),
        }
    }
}

/// An attribute the engine wrote on a span.
#[derive(Debug, Clone)]
pub(crate) struct Added {
    pub key: AddedKey,
    pub value: AddedValue,
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

/// Spans refused before the request was whole (the OTLP/JSON decoder refuses a span with a bad
/// id itself): counted and answered like the spans [`split`] refuses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RefusedSpans {
    pub spans: usize,
    pub first_error: Option<String>,
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
    out.spans.reserve_exact(count_spans(&req));
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
                    Ok(()) => {
                        out.spans
                            .push(GatewaySpan::new(span, resource.clone(), scope.clone()))
                    }
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

/// Heap bytes of one allocation of `len` bytes: rounded up to a 16-byte chunk with its 8-byte
/// header, 32 at least (glibc malloc's chunk rules; other allocators use less).
pub(crate) fn alloc_bytes(len: usize) -> usize {
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
    n += alloc_bytes(gs.added.capacity() * std::mem::size_of::<Added>());
    for a in &gs.added {
        if let AddedValue::Str(v) = &a.value {
            n += alloc_bytes(v.capacity());
        }
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

/// Regroups spans into `ResourceSpans` / `ScopeSpans` (equal resources and scopes merged),
/// written attributes appended: what [`super::wire::encode`] writes, built the plain way
/// (tests compare the two).
#[cfg(test)]
pub(crate) fn regroup(spans: Vec<GatewaySpan>) -> ExportTraceServiceRequest {
    let mut out: Vec<ResourceSpans> = Vec::new();
    for s in spans {
        let r = match out.iter().position(|rs| {
            rs.resource == s.resource.resource && rs.schema_url == s.resource.schema_url
        }) {
            Some(r) => r,
            None => {
                out.push(ResourceSpans {
                    resource: s.resource.resource.clone(),
                    schema_url: s.resource.schema_url.clone(),
                    scope_spans: Vec::new(),
                });
                out.len() - 1
            }
        };
        let scopes = &mut out[r].scope_spans;
        let i = match scopes
            .iter()
            .position(|ss| ss.scope == s.scope.scope && ss.schema_url == s.scope.schema_url)
        {
            Some(i) => i,
            None => {
                scopes.push(ScopeSpans {
                    scope: s.scope.scope.clone(),
                    schema_url: s.scope.schema_url.clone(),
                    spans: Vec::new(),
                });
                scopes.len() - 1
            }
        };
        scopes[i].spans.push(s.to_proto());
    }
    ExportTraceServiceRequest {
        resource_spans: out,
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

#[cfg(test)]
fn owned(v: OwnedValue) -> AnyValue {
    AddedValue::from(v).to_proto()
}

fn id<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    if b.len() == N {
        out.copy_from_slice(b);
    }
    out
}

impl GatewaySpan {
    /// Trace id bytes (validated on receipt).
    pub(crate) fn trace_key(&self) -> [u8; 16] {
        id(&self.span.trace_id)
    }

    /// `true` for a trace's root (no parent at all).
    pub(crate) fn is_root(&self) -> bool {
        self.parent_span_id().is_none()
    }

    /// Removes every attribute named `key`, the span's own and those written (a replacing
    /// write then appends one: readers may take the first or the last occurrence).
    fn remove_attr(&mut self, key: &str) {
        if self.span.attributes.iter().any(|kv| kv.key == key) {
            self.span.attributes.retain(|kv| kv.key != key);
        }
        if self.added.iter().any(|a| a.key.as_str() == key) {
            self.added.retain(|a| a.key.as_str() != key);
        }
    }

    /// Writes `key` after the span's own attributes; `replace`: removes it everywhere first.
    fn add(&mut self, key: AddedKey, value: AddedValue, replace: bool) {
        if replace {
            self.remove_attr(key.as_str());
        }
        self.added.push(Added { key, value });
    }

    /// The span with the written attributes appended to its own, as OTLP (tests).
    #[cfg(test)]
    pub(crate) fn to_proto(&self) -> Span {
        let mut span = self.span.clone();
        span.attributes.extend(self.added.iter().map(|a| KeyValue {
            key: a.key.as_str().to_owned(),
            value: Some(a.value.to_proto()),
            ..Default::default()
        }));
        span
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
        for a in &self.added {
            f(a.key.as_str(), a.value.view());
        }
    }
    // The hot-path variants, as for the SDK's spans: one loop, no call per skipped key.
    // Positions run over the span's own attributes, then the written ones.
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
        let n = self.span.attributes.len();
        for (i, a) in self.added.iter().enumerate() {
            if filter.passes(a.key.as_str()) {
                f(n + i, a.key.as_str(), a.value.view());
            }
        }
    }
    fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
        match self.added.iter().rev().find(|a| a.key.as_str() == key) {
            Some(a) => Some(a.value.view()),
            None => self
                .span
                .attributes
                .iter()
                .rev()
                .find(|kv| kv.key == key)
                .map(|kv| view(kv.value.as_ref())),
        }
    }
    fn attr_at(&self, index: usize, key: &str) -> Option<AttrValue<'_>> {
        let at = match self.span.attributes.get(index) {
            Some(kv) => crate::span_view::eq_long(kv.key.as_bytes(), key.as_bytes())
                .then(|| view(kv.value.as_ref())),
            None => index
                .checked_sub(self.span.attributes.len())
                .and_then(|i| self.added.get(i))
                .filter(|a| a.key.as_str() == key)
                .map(|a| a.value.view()),
        };
        at.or_else(|| self.attr(key))
    }
    fn set_attr(&mut self, key: &str, value: OwnedValue) {
        self.add(AddedKey::Shared(Arc::from(key)), value.into(), true);
    }
    fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
        self.add(AddedKey::of(key), value.into(), replace);
    }
    fn write_static(&mut self, key: &AttrKey, value: &'static str, replace: bool) {
        self.add(AddedKey::of(key), AddedValue::Static(value), replace);
    }
    fn reserve_attrs(&mut self, additional: usize) {
        self.added.reserve_exact(additional);
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
                    value: Some(AddedValue::from(v).to_proto()),
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
        GatewaySpan::new(
            span,
            Arc::new(ResourceInfo::default()),
            Arc::new(ScopeInfo::default()),
        )
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
        let out = s.to_proto().attributes;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out
            .iter()
            .filter(|kv| kv.key == "k")
            .all(|kv| view(kv.value.as_ref()) == AttrValue::Str("x")));
        assert_eq!(s.attr("k"), Some(AttrValue::Str("x")));
        assert_eq!(s.attr("new"), Some(AttrValue::Bool(true)));
        // Written attributes are read back, in order after the span's own.
        let mut seen = Vec::new();
        s.for_each_attr(&mut |k, _| seen.push(k.to_owned()));
        assert_eq!(seen, ["k", "new"]);
        s.write_attr(&AttrKey::new("new"), OwnedValue::I64(3), true);
        assert_eq!(s.attr("new"), Some(AttrValue::I64(3)));
        assert_eq!(s.added.len(), 2, "replaced, not added twice");
    }

    /// The export encoder's request for `spans`, decoded.
    fn exported(spans: Vec<GatewaySpan>) -> ExportTraceServiceRequest {
        let lens: Vec<usize> = spans.iter().map(crate::gateway::wire::span_len).collect();
        let bytes = crate::gateway::wire::encode(&spans, &lens);
        ExportTraceServiceRequest::decode(bytes.as_slice()).expect("decodes")
    }

    #[test]
    fn export_keeps_distinct_resources_apart_and_merges_scopes() {
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
        let req = exported(spans);
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
    fn export_merges_equal_resources_from_different_requests() {
        let mut a = span(1, 2, 0, &[]);
        let mut b = span(1, 3, 2, &[]);
        let r = ResourceInfo {
            resource: Some(Resource::default()),
            schema_url: "x".into(),
        };
        a.resource = Arc::new(r.clone());
        b.resource = Arc::new(r);
        let req = exported(vec![a, b]);
        assert_eq!(req.resource_spans.len(), 1);
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 2);
    }
}
