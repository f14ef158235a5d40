//! The seam between the engine and span representations: the SDK's `SpanData` (in process) and
//! the OTLP proto `Span` (gateway). Usage extraction, pricing and roll-up are written once,
//! generic over [`SpanView`].

/// A borrowed attribute value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    I64(i64),
    /// A double.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// Arrays, maps, bytes, empty values.
    Other,
}

use std::sync::Arc;

/// An attribute key built once and cloned cheaply into any span representation.
#[derive(Debug, Clone)]
pub struct AttrKey {
    name: Arc<str>,
    /// The interned name, when there is one: the SDK's `Key` made from it touches no reference
    /// count when cloned or dropped, and the gateway keeps it beside a span without a copy.
    interned: Option<&'static str>,
}

#[cfg(feature = "processor")]
impl AttrKey {
    /// The key as the SDK holds it: `'static` when interned, else sharing the name.
    #[inline(always)]
    fn otel_key(&self) -> opentelemetry::Key {
        match self.interned {
            Some(s) => opentelemetry::Key::from_static_str(s),
            None => opentelemetry::Key::from(Arc::clone(&self.name)),
        }
    }
}

impl AttrKey {
    /// A key. The name is interned for the life of the process (up to 4,096 distinct names,
    /// then kept reference-counted): keys are a fixed set built once per engine.
    pub fn new(name: &str) -> AttrKey {
        AttrKey {
            interned: intern(name),
            name: name.into(),
        }
    }

    /// The key's name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The key's name as an interned `'static` string, when the intern table had room.
    #[cfg_attr(not(feature = "gateway"), allow(dead_code))]
    pub(crate) fn interned(&self) -> Option<&'static str> {
        self.interned
    }

    /// The key's name, shared.
    #[cfg_attr(not(feature = "gateway"), allow(dead_code))]
    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.name
    }
}

/// `a == b` at compile time (tables built in `const` blocks).
pub(crate) const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `a == b`, inline for byte strings of 8 bytes or more: up to 16 bytes as two words (the
/// second overlapping), up to 64 as two or four blocks of 16 (overlapping), without a branch
/// per block; longer ones 16 bytes at a time (a call to `memcmp` costs more than the compare
/// for attribute keys, and a loop a word at a time more than this: BENCHMARKS.md, issue 15
/// token-only regression).
#[inline(always)]
pub(crate) fn eq_long(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() || n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_ne_bytes(w)
    };
    if n <= 16 {
        return (word(a, 0) ^ word(b, 0)) | (word(a, n - 8) ^ word(b, n - 8)) == 0;
    }
    let pair = |s: &[u8], i: usize| {
        let mut w = [0u8; 16];
        w.copy_from_slice(&s[i..i + 16]);
        u128::from_ne_bytes(w)
    };
    let differ = |i: usize| pair(a, i) ^ pair(b, i);
    if n <= 32 {
        return differ(0) | differ(n - 16) == 0;
    }
    if n <= 64 {
        return differ(0) | differ(16) | differ(n - 32) | differ(n - 16) == 0;
    }
    let mut i = 0;
    while i + 16 < n {
        if differ(i) != 0 {
            return false;
        }
        i += 16;
    }
    differ(n - 16) == 0
}

/// `s` is empty or white space only (as `s.trim().is_empty()`, without the scan for the usual
/// value that starts with a visible ASCII character).
#[inline]
pub(crate) fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(&b) if b.is_ascii() && !matches!(b, b' ' | b'\t'..=b'\r') => false,
        _ => s.trim().is_empty(),
    }
}

/// Most distinct strings [`intern`] leaks; past it, callers keep reference-counted copies.
const INTERN_CAPACITY: usize = 4096;

/// A `'static` copy of `s`, leaked once per distinct string and process (at most
/// [`INTERN_CAPACITY`] of them; `None` past that).
///
/// Attribute keys and a few fixed values (catalog version) are written on every priced span;
/// as `&'static str` the SDK stores them without a reference count to bump and drop per span.
pub(crate) fn intern(s: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    // A poisoned table is taken as it is: a lookup or one insert cannot leave it half-updated.
    let mut t = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(&k) = t.get(s) {
        return Some(k);
    }
    if t.len() >= INTERN_CAPACITY {
        return None;
    }
    let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
    t.insert(k);
    Some(k)
}

/// A set of bytes: the first bytes of attribute keys worth looking at. Spans without any such
/// key are skipped after one cheap pass (most spans of an application are not LLM calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFilter([u64; 4]);

impl KeyFilter {
    /// No byte.
    pub const EMPTY: KeyFilter = KeyFilter([0; 4]);
    /// Every byte (every key, the empty one included, passes).
    pub const ALL: KeyFilter = KeyFilter([u64::MAX; 4]);

    /// This set plus `b`.
    pub const fn with(mut self, b: u8) -> KeyFilter {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
        self
    }

    /// This set plus the first byte of every key in `keys`.
    pub const fn with_first_bytes(mut self, keys: &[&str]) -> KeyFilter {
        let mut i = 0;
        while i < keys.len() {
            let b = keys[i].as_bytes();
            if !b.is_empty() {
                self = self.with(b[0]);
            }
            i += 1;
        }
        self
    }

    /// Whether `key` passes: its first byte is in the set (the empty key only in [`Self::ALL`]).
    #[inline]
    pub fn passes(&self, key: &str) -> bool {
        match key.as_bytes().first() {
            Some(&b) => (self.0[(b >> 6) as usize] >> (b & 63)) & 1 != 0,
            None => *self == KeyFilter::ALL,
        }
    }
}

/// An attribute value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    /// A string.
    Str(String),
    /// A shared string (catalog ids, versions: no copy on the SDK path).
    Shared(Arc<str>),
    /// An integer.
    I64(i64),
    /// A double (USD amounts).
    F64(f64),
    /// A boolean.
    Bool(bool),
}

/// Read and write access to one span.
pub trait SpanView {
    /// Trace id bytes.
    fn trace_id(&self) -> [u8; 16];
    /// Span id bytes.
    fn span_id(&self) -> [u8; 8];
    /// Parent span id; `None` for a root (an all-zero id is no parent).
    fn parent_span_id(&self) -> Option<[u8; 8]>;
    /// `true` when the parent lives in another process (the span is a local root).
    fn parent_is_remote(&self) -> bool {
        false
    }
    /// Start time, Unix nanoseconds.
    fn start_unix_nanos(&self) -> u64;
    /// Instrumentation scope name.
    fn scope_name(&self) -> &str;
    /// Calls `f` for every attribute, in order (later duplicates win for the reader).
    fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>));
    /// Calls `f` with the position and value of every attribute whose key passes `filter`, in
    /// order. A hot-path variant of [`Self::for_each_attr`]: implementations can skip the
    /// other keys without a call each.
    fn for_each_attr_in(&self, filter: &KeyFilter, f: &mut dyn FnMut(usize, &str, AttrValue<'_>)) {
        let mut i = 0;
        self.for_each_attr(&mut |k, v| {
            if filter.passes(k) {
                f(i, k, v);
            }
            i += 1;
        });
    }
    /// `false` when no attribute's key passes `filter` (most spans of an application): a first
    /// look in a loop of its own, before the walk of [`Self::for_each_attr_in`]. `true` when
    /// some key may pass (the default, for a representation without a cheaper scan).
    fn may_have_attr_in(&self, filter: &KeyFilter) -> bool {
        let _ = filter;
        true
    }
    /// The value of `key` (the last one when duplicated).
    fn attr(&self, key: &str) -> Option<AttrValue<'_>>;
    /// The value of the attribute at `index` (a position [`Self::for_each_attr_in`] gave) when
    /// it is named `key`; else as [`Self::attr`]. Saves the search where positions are stable.
    fn attr_at(&self, index: usize, key: &str) -> Option<AttrValue<'_>> {
        let _ = index;
        self.attr(key)
    }
    /// Sets `key`, replacing an existing value.
    fn set_attr(&mut self, key: &str, value: OwnedValue);
    /// Writes a prebuilt key. `replace: false` tells the implementation the key is known to be
    /// absent, so it may append without searching.
    fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
        let _ = replace;
        self.set_attr(key.as_str(), value);
    }
    /// Writes a prebuilt key with a `'static` string value (no copy and no reference count
    /// where the representation can hold it as is).
    fn write_static(&mut self, key: &AttrKey, value: &'static str, replace: bool) {
        self.write_attr(key, OwnedValue::Str(value.to_owned()), replace);
    }
    /// Room for `additional` more attributes (a hint).
    fn reserve_attrs(&mut self, additional: usize) {
        let _ = additional;
    }
    /// The span's name (the workflow name, for a root).
    fn name(&self) -> &str;
    /// The span's `service.name`, when the representation carries its resource.
    fn service_name(&self) -> Option<&str> {
        None
    }
    /// Adds an event (at the span's end time) with attributes: the engine writes one on a root
    /// over its budget (`<prefix>budget.exceeded`, with the rule, the limit and the total).
    fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>);
}

#[cfg(feature = "processor")]
mod sdk {
    use super::{eq_long, AttrKey, AttrValue, KeyFilter, OwnedValue, SpanView};
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::trace::SpanData;

    fn view(v: &Value) -> AttrValue<'_> {
        match v {
            Value::String(s) => AttrValue::Str(s.as_str()),
            Value::I64(i) => AttrValue::I64(*i),
            Value::F64(f) => AttrValue::F64(*f),
            Value::Bool(b) => AttrValue::Bool(*b),
            _ => AttrValue::Other,
        }
    }

    #[inline(always)]
    fn owned(v: OwnedValue) -> Value {
        match v {
            OwnedValue::Str(s) => Value::from(s),
            OwnedValue::Shared(s) => Value::from(s),
            OwnedValue::I64(i) => Value::I64(i),
            OwnedValue::F64(f) => Value::F64(f),
            OwnedValue::Bool(b) => Value::Bool(b),
        }
    }

    /// Appends `key` (or, when `replace`, overwrites its first occurrence if there is one).
    #[inline(always)]
    fn put(span: &mut SpanData, key: &AttrKey, value: Value, replace: bool) {
        if replace {
            let name = key.as_str();
            if let Some(kv) = span
                .attributes
                .iter_mut()
                .find(|kv| kv.key.as_str() == name)
            {
                kv.value = value;
                return;
            }
        }
        span.attributes.push(KeyValue::new(key.otel_key(), value));
    }

    /// Whether some key of `attributes` passes `filter`.
    #[inline(never)]
    fn any_passes(attributes: &[KeyValue], filter: &KeyFilter) -> bool {
        attributes.iter().any(|kv| filter.passes(kv.key.as_str()))
    }

    impl SpanView for SpanData {
        fn trace_id(&self) -> [u8; 16] {
            self.span_context.trace_id().to_bytes()
        }
        fn span_id(&self) -> [u8; 8] {
            self.span_context.span_id().to_bytes()
        }
        fn parent_span_id(&self) -> Option<[u8; 8]> {
            let p = self.parent_span_id.to_bytes();
            (p != [0; 8]).then_some(p)
        }
        fn parent_is_remote(&self) -> bool {
            self.parent_span_is_remote
        }
        fn start_unix_nanos(&self) -> u64 {
            self.start_time
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        }
        fn scope_name(&self) -> &str {
            self.instrumentation_scope.name()
        }
        fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>)) {
            for kv in &self.attributes {
                f(kv.key.as_str(), view(&kv.value));
            }
        }
        // Inline, so that extraction's closure is called directly (and inlined) on this path.
        #[inline]
        fn for_each_attr_in(
            &self,
            filter: &KeyFilter,
            f: &mut dyn FnMut(usize, &str, AttrValue<'_>),
        ) {
            for (i, kv) in self.attributes.iter().enumerate() {
                let k = kv.key.as_str();
                if filter.passes(k) {
                    f(i, k, view(&kv.value));
                }
            }
        }
        // The first key inline (when it passes, as in the processor bench's LLM span, no call),
        // the rest out of line: in a loop of its own its few values stay in registers (inside
        // the extraction's walk, with the visit inlined, they do not).
        #[inline]
        fn may_have_attr_in(&self, filter: &KeyFilter) -> bool {
            match self.attributes.split_first() {
                Some((first, _)) if filter.passes(first.key.as_str()) => true,
                Some((_, rest)) => any_passes(rest, filter),
                None => false,
            }
        }
        fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
            self.attributes
                .iter()
                .rev()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| view(&kv.value))
        }
        fn attr_at(&self, index: usize, key: &str) -> Option<AttrValue<'_>> {
            match self.attributes.get(index) {
                Some(kv) if eq_long(kv.key.as_str().as_bytes(), key.as_bytes()) => {
                    Some(view(&kv.value))
                }
                _ => self.attr(key),
            }
        }
        fn set_attr(&mut self, key: &str, value: OwnedValue) {
            let value = owned(value);
            match self.attributes.iter_mut().find(|kv| kv.key.as_str() == key) {
                Some(kv) => kv.value = value,
                None => self.attributes.push(KeyValue::new(key.to_owned(), value)),
            }
        }
        #[inline(always)]
        fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
            put(self, key, owned(value), replace);
        }
        #[inline(always)]
        fn write_static(&mut self, key: &AttrKey, value: &'static str, replace: bool) {
            put(self, key, Value::String(value.into()), replace);
        }
        fn reserve_attrs(&mut self, additional: usize) {
            let len = self.attributes.len();
            if self.attributes.capacity() - len >= additional {
                return;
            }
            // A fresh list and a move rather than `reserve`'s `realloc`: with glibc, a `malloc`,
            // the copy and the `free` of the old block take ~10 % fewer instructions than a
            // `realloc` to this size (BENCHMARKS.md). The capacity `reserve` gives a full list.
            let mut grown = Vec::with_capacity(additional.max(len) + len);
            grown.append(&mut self.attributes);
            self.attributes = grown;
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>) {
            let attributes = attrs
                .into_iter()
                .map(|(k, v)| KeyValue::new(k.otel_key(), owned(v)))
                .collect();
            self.events.events.push(opentelemetry::trace::Event::new(
                name.to_owned(),
                self.end_time,
                attributes,
                0,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "processor")]
    #[test]
    fn an_sdk_span_may_have_a_key_that_passes_wherever_it_is() {
        use opentelemetry::trace::{SpanContext, SpanKind, Status};
        use opentelemetry::{InstrumentationScope, KeyValue};
        use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
        let span = |keys: &[&'static str]| SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "s".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: keys.iter().map(|k| KeyValue::new(*k, 1)).collect(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        };
        let f = KeyFilter::EMPTY.with(b'g');
        for (keys, passes) in [
            (&[][..], false),
            (&["http.route"][..], false),
            (&["http.route", "url.scheme", "retries"][..], false),
            (&["gen_ai.system"][..], true),
            (&["gen_ai.system", "http.route"][..], true),
            (&["http.route", "url.scheme", "gen_ai.system"][..], true),
        ] {
            let s = span(keys);
            assert_eq!(s.may_have_attr_in(&f), passes, "{keys:?}");
            let mut seen = 0;
            s.for_each_attr_in(&f, &mut |_, _, _| seen += 1);
            assert_eq!(seen > 0, passes, "{keys:?}");
        }
        assert!(span(&["http.route"]).may_have_attr_in(&KeyFilter::ALL));
    }

    #[test]
    fn blank_matches_trim_is_empty() {
        for s in [
            "",
            " ",
            "\t\n\x0B\x0C\r",
            "\u{a0}",
            "\u{2003}x",
            "x",
            " x",
            "\u{a0}\u{2003}",
            "é",
        ] {
            assert_eq!(is_blank(s), s.trim().is_empty(), "{s:?}");
        }
    }
}
