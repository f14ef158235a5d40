//! One pass over an OTLP trace request before it is decoded: how many spans it holds, and a
//! bound on the memory decoding it takes. With them a receiver refuses before it decodes: a
//! request over the export queue's room, or over the receivers' memory budget (budget.rs).
//!
//! ```text
//! body bytes --protobuf()--> Scan { spans, decode_bytes } --> admission, reserve, prost
//! body text  --json()------> Scan { spans, decode_bytes } --> admission, reserve, crate::otlp_json
//! ```
//!
//! Decoding amplifies: an empty span is 2 bytes of protobuf (or `{},` of JSON) and a ~250-byte
//! struct once decoded, so a size limit alone bounds nothing. The bound follows the decoders:
//! every element of a repeated field costs its struct in a vector that grows by doubling (4 at
//! least), every string or id its bytes, all with allocator chunk overhead, plus the largest
//! transient (a vector's old buffer while it grows, serde_json's scratch for one escaped
//! string). The OTLP/JSON decoder (crate::otlp_json) decodes each value where it stands: no
//! attribute value is buffered before it is decoded (opentelemetry-proto's serde derive, used
//! before, buffered each `AnyValue` subtree once per nesting level).
//!
//! The scanners accept a superset of what the decoders accept (structure only), so on input the
//! decoder takes, the bound covers it; on input that breaks the scan stops, and the decoder
//! refuses it no later than where the scan stopped. Tests (`tests/decode_memory.rs`, with a
//! counting allocator) and the `grpc_gzip_frames` fuzz target check the bound against the
//! bytes the decoders really allocate.

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{AnyValue, EntityRef, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::proto_span::{alloc_bytes, GatewaySpan};

/// What a scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Spans in the request.
    pub spans: usize,
    /// Upper bound of the heap bytes decoding the request holds at its peak, plus the vector
    /// that splitting it into spans allocates.
    pub decode_bytes: usize,
}

/// Message types of `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
    EntityRef,
}

impl Ty {
    /// Size of the decoded struct (an element of a vector).
    fn size(self) -> usize {
        match self {
            Ty::Request => 0,
            Ty::ResourceSpans => size_of::<ResourceSpans>(),
            Ty::Resource => size_of::<Resource>(),
            Ty::ScopeSpans => size_of::<ScopeSpans>(),
            Ty::Scope => size_of::<InstrumentationScope>(),
            Ty::Span => size_of::<Span>(),
            Ty::Event => size_of::<Event>(),
            Ty::Link => size_of::<Link>(),
            Ty::Status => size_of::<Status>(),
            Ty::KeyValue => size_of::<KeyValue>(),
            Ty::AnyValue | Ty::ArrayValue | Ty::KvList => size_of::<AnyValue>(),
            Ty::EntityRef => size_of::<EntityRef>(),
        }
    }
}

/// What a field holds, for the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A message held inline (optional field, oneof): its contents cost, not its struct.
    Msg(Ty),
    /// A repeated message: one struct per element.
    Rep(Ty),
    /// A string or bytes field.
    Str,
    /// Repeated strings (`EntityRef` keys).
    RepStr,
    /// OTLP/JSON: an id, hex or base64 (bytes: at most three quarters of the text).
    Hex,
    /// OTLP/JSON: base64 bytes (`bytesValue`).
    Base64,
    /// A scalar, or a field the decoder skips.
    Other,
}

/// Fields by protobuf field number.
fn proto_field(ty: Ty, n: u64) -> Field {
    use Field::*;
    match (ty, n) {
        (Ty::Request, 1) => Rep(Ty::ResourceSpans),
        (Ty::ResourceSpans, 1) => Msg(Ty::Resource),
        (Ty::ResourceSpans, 2) => Rep(Ty::ScopeSpans),
        (Ty::ResourceSpans, 3) | (Ty::ScopeSpans, 3) => Str,
        (Ty::Resource, 1) => Rep(Ty::KeyValue),
        (Ty::Resource, 3) => Rep(Ty::EntityRef),
        (Ty::ScopeSpans, 1) => Msg(Ty::Scope),
        (Ty::ScopeSpans, 2) => Rep(Ty::Span),
        (Ty::Scope, 1 | 2) => Str,
        (Ty::Scope, 3) => Rep(Ty::KeyValue),
        (Ty::Span, 1..=5) => Str,
        (Ty::Span, 9) => Rep(Ty::KeyValue),
        (Ty::Span, 11) => Rep(Ty::Event),
        (Ty::Span, 13) => Rep(Ty::Link),
        (Ty::Span, 15) => Msg(Ty::Status),
        (Ty::Event, 2) => Str,
        (Ty::Event, 3) => Rep(Ty::KeyValue),
        (Ty::Link, 1..=3) => Str,
        (Ty::Link, 4) => Rep(Ty::KeyValue),
        (Ty::Status, 2) => Str,
        (Ty::KeyValue, 1) => Str,
        (Ty::KeyValue, 2) => Msg(Ty::AnyValue),
        (Ty::AnyValue, 1 | 7) => Str,
        (Ty::AnyValue, 5) => Msg(Ty::ArrayValue),
        (Ty::AnyValue, 6) => Msg(Ty::KvList),
        (Ty::ArrayValue, 1) => Rep(Ty::AnyValue),
        (Ty::KvList, 1) => Rep(Ty::KeyValue),
        (Ty::EntityRef, 1 | 2) => Str,
        (Ty::EntityRef, 3 | 4) => RepStr,
        _ => Other,
    }
}

/// Fields by OTLP/JSON key (lowerCamelCase, as the serde derive reads them).
fn json_field(ty: Ty, key: &[u8]) -> Field {
    use Field::*;
    match (ty, key) {
        (Ty::Request, b"resourceSpans") => Rep(Ty::ResourceSpans),
        (Ty::ResourceSpans, b"resource") => Msg(Ty::Resource),
        (Ty::ResourceSpans, b"scopeSpans" | b"instrumentationLibrarySpans") => Rep(Ty::ScopeSpans),
        (Ty::ResourceSpans | Ty::ScopeSpans | Ty::EntityRef, b"schemaUrl") => Str,
        (Ty::Resource | Ty::Scope | Ty::Span | Ty::Event | Ty::Link, b"attributes") => {
            Rep(Ty::KeyValue)
        }
        (Ty::Resource, b"entityRefs") => Rep(Ty::EntityRef),
        (Ty::ScopeSpans, b"scope" | b"instrumentationLibrary") => Msg(Ty::Scope),
        (Ty::ScopeSpans, b"spans") => Rep(Ty::Span),
        (Ty::Scope, b"name" | b"version") => Str,
        (Ty::Span | Ty::Link, b"traceId" | b"spanId") | (Ty::Span, b"parentSpanId") => Hex,
        (Ty::Span | Ty::Link, b"traceState") => Str,
        (Ty::Span | Ty::Event, b"name") => Str,
        (Ty::Span, b"events") => Rep(Ty::Event),
        (Ty::Span, b"links") => Rep(Ty::Link),
        (Ty::Span, b"status") => Msg(Ty::Status),
        (Ty::Status, b"message") => Str,
        (Ty::KeyValue, b"key") => Str,
        (Ty::KeyValue, b"value") => Msg(Ty::AnyValue),
        // An `intValue` that is not an integer is kept as a string.
        (Ty::AnyValue, b"stringValue" | b"intValue") => Str,
        (Ty::AnyValue, b"bytesValue") => Base64,
        (Ty::AnyValue, b"arrayValue") => Msg(Ty::ArrayValue),
        (Ty::AnyValue, b"kvlistValue") => Msg(Ty::KvList),
        (Ty::ArrayValue, b"values") => Rep(Ty::AnyValue),
        (Ty::KvList, b"values") => Rep(Ty::KeyValue),
        (Ty::EntityRef, b"type") => Str,
        (Ty::EntityRef, b"idKeys" | b"descriptionKeys") => RepStr,
        _ => Other,
    }
}

/// The key of a message's `k`-th field in declaration order (the decoder reads a message
/// written as a JSON array positionally, from the same tables; `AnyValue` cannot be one).
fn positional(ty: Ty, k: usize) -> &'static [u8] {
    use crate::otlp_json::fields;
    let fields = match ty {
        Ty::Request => fields::REQUEST,
        Ty::ResourceSpans => fields::RESOURCE_SPANS,
        Ty::Resource => fields::RESOURCE,
        Ty::ScopeSpans => fields::SCOPE_SPANS,
        Ty::Scope => fields::SCOPE,
        Ty::Span => fields::SPAN,
        Ty::Event => fields::EVENT,
        Ty::Link => fields::LINK,
        Ty::Status => fields::STATUS,
        Ty::KeyValue => fields::KEY_VALUE,
        Ty::ArrayValue | Ty::KvList => fields::VALUES,
        Ty::EntityRef => fields::ENTITY_REF,
        Ty::AnyValue => &[],
    };
    fields.get(k).map_or(b"", |f| f.as_bytes())
}

/// Vector capacity after `n` pushes from empty (doubling, 4 at least: std's `RawVec`).
fn cap(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_power_of_two().max(4)
    }
}

/// The bound, accumulated as the scan goes (so a scan that stops early still bounds what the
/// decoder allocated before it refused).
#[derive(Debug, Default)]
struct Cost {
    held: usize,
    transient: usize,
    spans: usize,
    /// The longest string or id: a decode error may quote one (serde's "invalid type:
    /// string ...").
    longest: usize,
}

/// A decode error itself: prost's boxed error with its stack of up to 100 nesting levels,
/// serde's boxed error and message (plus the string it may quote, counted apart).
const DECODE_ERROR_BYTES: usize = 8 * 1024;

impl Cost {
    fn bytes(&mut self, len: usize) {
        self.longest = self.longest.max(len);
        if len > 0 {
            // Vec<u8> / String: at least 8 bytes of capacity once non-empty.
            self.held += alloc_bytes(len.max(8));
            self.transient = self.transient.max(alloc_bytes(len));
        }
    }

    /// One more element in a vector that held `n` (its count is then `n + 1`).
    fn push(&mut self, n: usize, elem: usize) {
        let (old, new) = (cap(n), cap(n + 1));
        if new != old {
            self.held += alloc_bytes(new * elem) - alloc_bytes(old * elem);
            // While it grows, the old buffer is alive too.
            self.transient = self.transient.max(alloc_bytes(old * elem));
        }
    }

    fn finish(self) -> Scan {
        Scan {
            spans: self.spans,
            decode_bytes: self.held
                + self.transient
                + DECODE_ERROR_BYTES
                + alloc_bytes(self.longest)
                + alloc_bytes(self.spans * size_of::<GatewaySpan>()),
        }
    }
}

/// Counts of a message's repeated fields (at most three per OTLP message).
#[derive(Default)]
struct Counts([(u64, usize); 4]);

impl Counts {
    /// The count of field `f` before this element; counts it.
    fn bump(&mut self, f: u64) -> usize {
        for slot in self.0.iter_mut() {
            if slot.0 == f {
                slot.1 += 1;
                return slot.1 - 1;
            }
            if slot.0 == 0 {
                *slot = (f, 1);
                return 0;
            }
        }
        // More distinct repeated fields than OTLP has: count as if first (never reached).
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf
// ---------------------------------------------------------------------------------------------

/// prost's default recursion limit, plus one (the scan must not stop before prost does).
const PROTO_DEPTH: u32 = 101;

/// Scans an encoded `ExportTraceServiceRequest`. `Err`: the bytes cannot be a request (prost
/// refuses them too); the scan's bound so far is in the error.
pub(crate) fn protobuf(b: &[u8]) -> Result<Scan, (Scan, String)> {
    let mut cost = Cost::default();
    match proto_message(b, Ty::Request, 0, &mut cost) {
        Ok(()) => Ok(cost.finish()),
        Err(m) => Err((cost.finish(), m)),
    }
}

fn varint(b: &[u8], i: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*i).ok_or("truncated varint")?;
        *i += 1;
        if shift == 63 && byte > 1 {
            return Err("varint over 64 bits".into());
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err("varint over 64 bits".into())
}

fn len_slice<'a>(b: &'a [u8], i: &mut usize) -> Result<&'a [u8], String> {
    let len = usize::try_from(varint(b, i)?).map_err(|_| "length over the address space")?;
    let end = i
        .checked_add(len)
        .filter(|e| *e <= b.len())
        .ok_or("length past the end of the message")?;
    let s = &b[*i..end];
    *i = end;
    Ok(s)
}

/// Skips a field the decoder does not keep (prost's `skip_field`, groups included).
fn skip(b: &[u8], i: &mut usize, field: u64, wire: u64, depth: u32) -> Result<(), String> {
    match wire {
        0 => varint(b, i).map(|_| ()),
        1 | 5 => {
            let n = if wire == 1 { 8 } else { 4 };
            *i = i
                .checked_add(n)
                .filter(|e| *e <= b.len())
                .ok_or("truncated fixed-size field")?;
            Ok(())
        }
        2 => len_slice(b, i).map(|_| ()),
        3 => {
            if depth >= PROTO_DEPTH {
                return Err("nested too deep".into());
            }
            loop {
                let key = varint(b, i)?;
                if key > u64::from(u32::MAX) {
                    return Err(format!("invalid key value {key}"));
                }
                let (f, w) = (key >> 3, key & 7);
                if w == 4 {
                    return if f == field {
                        Ok(())
                    } else {
                        Err("unexpected end group".into())
                    };
                }
                skip(b, i, f, w, depth + 1)?;
            }
        }
        _ => Err(format!("invalid wire type {wire}")),
    }
}

fn proto_message(b: &[u8], ty: Ty, depth: u32, cost: &mut Cost) -> Result<(), String> {
    if depth > PROTO_DEPTH {
        return Err("nested too deep".into());
    }
    let mut counts = Counts::default();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        if key > u64::from(u32::MAX) {
            return Err(format!("invalid key value {key}"));
        }
        let (f, wire) = (key >> 3, key & 7);
        if f == 0 {
            return Err("field number 0".into());
        }
        let field = proto_field(ty, f);
        if matches!(
            field,
            Field::Msg(_) | Field::Rep(_) | Field::Str | Field::RepStr
        ) && wire != 2
        {
            return Err(format!(
                "field {f}: wire type {wire}, expected length-delimited"
            ));
        }
        match field {
            Field::Msg(t) => proto_message(len_slice(b, &mut i)?, t, depth + 1, cost)?,
            Field::Rep(t) => {
                let sub = len_slice(b, &mut i)?;
                cost.push(counts.bump(f), t.size());
                if t == Ty::Span {
                    cost.spans += 1;
                }
                proto_message(sub, t, depth + 1, cost)?;
            }
            Field::Str => cost.bytes(len_slice(b, &mut i)?.len()),
            Field::RepStr => {
                let s = len_slice(b, &mut i)?;
                cost.push(counts.bump(f), size_of::<String>());
                cost.bytes(s.len());
            }
            _ => skip(b, &mut i, f, wire, depth)?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON
// ---------------------------------------------------------------------------------------------

/// serde_json's recursion limit, plus two (the scan must not stop before serde does).
const JSON_DEPTH: usize = 130;

/// Scans an OTLP/JSON `ExportTraceServiceRequest`. `Err`: the text cannot be one (the decoder
/// refuses it too); the scan's bound so far is in the error.
pub(crate) fn json(b: &[u8]) -> Result<Scan, (Scan, String)> {
    let mut s = JsonScan {
        b,
        i: 0,
        cost: Cost::default(),
        depth: 0,
    };
    let r = s.value(Field::Msg(Ty::Request)).and_then(|()| {
        s.ws();
        if s.i < b.len() {
            Err("trailing characters".into())
        } else {
            Ok(())
        }
    });
    match r {
        Ok(()) => Ok(s.cost.finish()),
        Err(m) => {
            let at = &b[..s.i.min(b.len())];
            let line = at.iter().filter(|c| **c == b'\n').count() + 1;
            let column = at.len() - at.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
            Err((
                s.cost.finish(),
                format!("{m} at line {line} column {column}"),
            ))
        }
    }
}

struct JsonScan<'a> {
    b: &'a [u8],
    i: usize,
    cost: Cost,
    depth: usize,
}

impl JsonScan<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string at `self.i` (on its opening quote): its contents' range. One with escapes is
    /// unescaped in serde_json's scratch buffer (alive until the decode ends, as large as the
    /// longest such string).
    fn string(&mut self) -> Result<(usize, usize), String> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.b.get(self.i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.i += 1;
                    let end = self.i - 1;
                    if escaped {
                        self.cost.transient = self.cost.transient.max(alloc_bytes(end - start));
                    }
                    return Ok((start, end));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(_) => self.i += 1,
            }
        }
    }

    /// One value where `field` is expected.
    fn value(&mut self, field: Field) -> Result<(), String> {
        self.ws();
        match self.b.get(self.i) {
            None => Err("unexpected end".into()),
            Some(b'{') => {
                let ty = match field {
                    Field::Msg(t) => Some(t),
                    _ => None,
                };
                self.object(ty)
            }
            Some(b'[') => self.array(field),
            Some(b'"') => {
                let (s, e) = self.string()?;
                let len = e - s;
                self.cost.longest = self.cost.longest.max(len);
                match field {
                    Field::Str => self.cost.bytes(len),
                    // Hex (half the text) or base64 (three quarters).
                    Field::Hex => self.cost.bytes((len * 3).div_ceil(4)),
                    Field::Base64 => self.cost.bytes(len),
                    _ => {}
                }
                Ok(())
            }
            Some(_) => {
                let start = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(
                        c,
                        b',' | b'}'
                            | b']'
                            | b':'
                            | b'"'
                            | b'{'
                            | b'['
                            | b' '
                            | b'\t'
                            | b'\n'
                            | b'\r'
                    ) {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return Err("expected a value".into());
                }
                Ok(())
            }
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > JSON_DEPTH {
            return Err("nested too deep".into());
        }
        self.i += 1;
        Ok(())
    }

    /// An object of type `ty` (`None`: a field the decoder skips, or a non-message).
    fn object(&mut self, ty: Option<Ty>) -> Result<(), String> {
        self.enter()?;
        let mut counts = Counts::default();
        let mut keys = 0usize;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.b.get(self.i) != Some(&b'"') {
                    return Err("expected a key".into());
                }
                let (s, e) = self.string()?;
                self.ws();
                if self.b.get(self.i) != Some(&b':') {
                    return Err("expected ':'".into());
                }
                self.i += 1;
                let field = ty.map_or(Field::Other, |t| json_field(t, &self.b[s..e]));
                keys += 1;
                match field {
                    Field::Rep(_) | Field::RepStr => self.elements(field, &mut counts, keys)?,
                    f => self.value(f)?,
                }
                self.ws();
                match self.b.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err("expected ',' or '}'".into()),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// An array where a non-repeated field was expected: a message written as the sequence of
    /// its fields (the decoder accepts that), else something the decoder refuses or skips.
    fn array(&mut self, field: Field) -> Result<(), String> {
        let ty = match field {
            Field::Msg(t) => Some(t),
            _ => None,
        };
        let mut counts = Counts::default();
        let mut k = 0usize;
        self.seq(|s| {
            let f = ty.map_or(Field::Other, |t| json_field(t, positional(t, k)));
            k += 1;
            match f {
                Field::Rep(_) | Field::RepStr => s.elements(f, &mut counts, k),
                f => s.value(f),
            }
        })
    }

    /// The elements of a repeated field (`Rep` or `RepStr`), key number `key` of its object.
    fn elements(&mut self, field: Field, counts: &mut Counts, key: usize) -> Result<(), String> {
        let (size, each, span) = match field {
            Field::Rep(t) => (t.size(), Field::Msg(t), t == Ty::Span),
            _ => (size_of::<String>(), Field::Str, false),
        };
        self.ws();
        if self.b.get(self.i) != Some(&b'[') {
            return self.value(Field::Other);
        }
        self.seq(|s| {
            s.cost.push(counts.bump(key as u64), size);
            if span {
                s.cost.spans += 1;
            }
            s.value(each)
        })
    }

    fn seq(&mut self, mut each: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.enter()?;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
        } else {
            loop {
                each(self)?;
                self.ws();
                match self.b.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err("expected ',' or ']'".into()),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn request(spans: usize, attrs: usize) -> ExportTraceServiceRequest {
        use opentelemetry_proto::tonic::common::v1::any_value;
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "chat".into(),
            attributes: (0..attrs)
                .map(|i| KeyValue {
                    key: format!("k{i}"),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("v".into())),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_scan_counts_spans_and_bounds_the_decoded_size() {
        let req = request(1000, 5);
        let b = req.encode_to_vec();
        let s = protobuf(&b).unwrap();
        assert_eq!(s.spans, 1000);
        // At least the spans' structs, and not absurdly more than what they hold.
        assert!(s.decode_bytes > 1000 * size_of::<Span>(), "{s:?}");
        assert!(
            s.decode_bytes < 20 * b.len(),
            "{} for {} bytes",
            s.decode_bytes,
            b.len()
        );
    }

    #[test]
    fn empty_spans_are_costed_as_the_structs_they_become() {
        // 100,000 empty spans: 2 bytes each on the wire, a whole struct each once decoded.
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); 100_000],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let b = req.encode_to_vec();
        let s = protobuf(&b).unwrap();
        assert_eq!(s.spans, 100_000);
        assert!(
            s.decode_bytes > 100 * b.len(),
            "{} for {} bytes",
            s.decode_bytes,
            b.len()
        );
    }

    #[test]
    fn broken_protobuf_stops_the_scan_with_a_reason() {
        let b = request(3, 1).encode_to_vec();
        // Truncated: the outer message's length runs past the end, found before its contents
        // are read (as prost does: nothing inside was decoded).
        let (partial, why) = protobuf(&b[..b.len() - 3]).unwrap_err();
        assert!(why.contains("past the end"), "{why}");
        assert_eq!(partial.spans, 0);
        assert!(protobuf(&[0x0a, 0xff, 0xff, 0xff]).is_err());
        assert!(protobuf(&[0x00]).is_err(), "field 0");
        // Unknown fields (groups included) are skipped, as prost does.
        assert_eq!(protobuf(&[0x1b, 0x08, 0x01, 0x1c]).map(|s| s.spans), Ok(0));
    }

    #[test]
    fn json_scan_counts_spans_under_every_name_the_decoder_reads() {
        // Enum names and empty `arrayValue`s (decoded as they are now, no edits), and spans
        // under the pre-1.0 names, which the decoder reads too: counted for admission.
        let text = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
          {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":"SPAN_KIND_CLIENT",
           "status":{"code":"STATUS_CODE_ERROR","message":"x"},
           "attributes":[{"key":"a","value":{"arrayValue":{}}},{"key":"b","value":{"kvlistValue":{"x":1}}},
                         {"key":"c","value":{"arrayValue":{"values":[{"stringValue":"s"}]}}}]},
          {"kind":2}]}]},
          {"instrumentationLibrarySpans":[{"instrumentationLibrary":{"name":"old"},"spans":[{},{}]}]}]}"#;
        let s = json(text).unwrap();
        assert_eq!(s.spans, 4);
        let mut refused = 0;
        let mut count = |_: String| refused += 1;
        let req = crate::otlp_json::request(
            text,
            &mut crate::otlp_json::Cx::new(crate::otlp_json::Keep::ALL, &mut count),
        )
        .unwrap();
        assert_eq!(req.resource_spans[0].scope_spans[0].spans[0].kind, 3);
        // One decoded, three refused (no ids): all counted by the scan.
        assert_eq!(
            crate::gateway::proto_span::count_spans(&req) + refused,
            s.spans
        );
    }

    #[test]
    fn nested_attribute_values_cost_what_they_hold() {
        // The same leaf under 1 and under 20 nested arrays: each level holds a vector of its
        // own (the decoder no longer buffers a value's subtree before decoding it).
        let nest = |levels: usize| {
            let mut v = r#"{"stringValue":"leaf"}"#.to_owned();
            for _ in 0..levels {
                v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
            }
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{v}}}]}}]}}]}}]}}"#
            )
        };
        let shallow = json(nest(1).as_bytes()).unwrap().decode_bytes;
        let deep = json(nest(20).as_bytes()).unwrap().decode_bytes;
        assert!(
            deep >= shallow + 19 * alloc_bytes(4 * size_of::<AnyValue>()),
            "{shallow} vs {deep}"
        );
        // Broken JSON stops with a reason.
        assert!(json(br#"{"resourceSpans":[{"#).is_err());
        assert!(json(br#"{"a" 1}"#).is_err());
        assert!(json(br#"{} x"#).is_err());
    }
}
