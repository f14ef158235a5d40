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
    #[cfg(feature = "processor")]
    otel: opentelemetry::Key,
}

impl AttrKey {
    /// A key.
    pub fn new(name: &str) -> AttrKey {
        let name: Arc<str> = name.into();
        AttrKey {
            #[cfg(feature = "processor")]
            otel: opentelemetry::Key::from(name.clone()),
            name,
        }
    }

    /// The key's name.
    pub fn as_str(&self) -> &str {
        &self.name
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
    /// The value of `key` (the last one when duplicated).
    fn attr(&self, key: &str) -> Option<AttrValue<'_>>;
    /// Sets `key`, replacing an existing value.
    fn set_attr(&mut self, key: &str, value: OwnedValue);
    /// Writes a prebuilt key. `replace: false` tells the implementation the key is known to be
    /// absent, so it may append without searching.
    fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
        let _ = replace;
        self.set_attr(key.as_str(), value);
    }
    /// Room for `additional` more attributes (a hint).
    fn reserve_attrs(&mut self, additional: usize) {
        let _ = additional;
    }
    /// The span's name (the workflow name, for a root).
    fn name(&self) -> &str {
        ""
    }
    /// The span's `service.name`, when the representation carries its resource.
    fn service_name(&self) -> Option<&str> {
        None
    }
    /// Adds an event (at the span's end time) with attributes.
    fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>) {
        let _ = (name, attrs);
    }
}

#[cfg(feature = "processor")]
mod sdk {
    use super::{AttrKey, AttrValue, OwnedValue, SpanView};
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

    fn owned(v: OwnedValue) -> Value {
        match v {
            OwnedValue::Str(s) => Value::from(s),
            OwnedValue::Shared(s) => Value::from(s),
            OwnedValue::I64(i) => Value::I64(i),
            OwnedValue::F64(f) => Value::F64(f),
            OwnedValue::Bool(b) => Value::Bool(b),
        }
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
        fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
            self.attributes
                .iter()
                .rev()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| view(&kv.value))
        }
        fn set_attr(&mut self, key: &str, value: OwnedValue) {
            let value = owned(value);
            match self.attributes.iter_mut().find(|kv| kv.key.as_str() == key) {
                Some(kv) => kv.value = value,
                None => self.attributes.push(KeyValue::new(key.to_owned(), value)),
            }
        }
        fn write_attr(&mut self, key: &AttrKey, value: OwnedValue, replace: bool) {
            let value = owned(value);
            if replace {
                if let Some(kv) = self.attributes.iter_mut().find(|kv| kv.key == key.otel) {
                    kv.value = value;
                    return;
                }
            }
            self.attributes.push(KeyValue::new(key.otel.clone(), value));
        }
        fn reserve_attrs(&mut self, additional: usize) {
            self.attributes.reserve(additional);
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>) {
            let attributes = attrs
                .into_iter()
                .map(|(k, v)| KeyValue::new(k.otel.clone(), owned(v)))
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
