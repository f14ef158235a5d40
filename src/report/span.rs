//! The report's own span: what an OTLP/JSON span keeps once read, a [`SpanView`] for the
//! engine and a [`RecordSpan`] for the records.

use std::sync::Arc;

use crate::records::RecordSpan;
use crate::span_view::{AttrKey, AttrValue, OwnedValue, SpanView};

/// An attribute value as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(Box<str>),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Arrays, maps, bytes, empty values (kept so the engine sees the key).
    Other,
}

impl Val {
    fn view(&self) -> AttrValue<'_> {
        match self {
            Val::Str(s) => AttrValue::Str(s),
            Val::I64(i) => AttrValue::I64(*i),
            Val::F64(f) => AttrValue::F64(*f),
            Val::Bool(b) => AttrValue::Bool(*b),
            Val::Other => AttrValue::Other,
        }
    }

    fn from_owned(v: OwnedValue) -> Val {
        match v {
            OwnedValue::Str(s) => Val::Str(s.into()),
            OwnedValue::Shared(s) => Val::Str((*s).into()),
            OwnedValue::I64(i) => Val::I64(i),
            OwnedValue::F64(f) => Val::F64(f),
            OwnedValue::Bool(b) => Val::Bool(b),
        }
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_len(&self) -> usize {
        match self {
            Val::Str(s) => s.len(),
            _ => 0,
        }
    }
}

/// One span, with the `service.name` of its resource and its scope name.
#[derive(Debug, Clone)]
pub(crate) struct ReportSpan {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: Box<str>,
    pub start: u64,
    pub end: u64,
    pub attrs: Vec<(Box<str>, Val)>,
    pub service: Option<Arc<str>>,
    pub scope: Arc<str>,
}

impl ReportSpan {
    /// Approximate memory held by the span, for the assembly buffer's budget.
    pub(crate) fn mem_size(&self) -> usize {
        std::mem::size_of::<ReportSpan>()
            + self.name.len()
            + self
                .attrs
                .iter()
                .map(|(k, v)| std::mem::size_of::<(Box<str>, Val)>() + k.len() + v.heap_len())
                .sum::<usize>()
    }

    /// The attribute as a group / step label (strings as they are, numbers and booleans
    /// printed); `None` when absent or empty.
    pub(crate) fn label(&self, key: &str) -> Option<String> {
        match self.attr(key)? {
            AttrValue::Str(s) if !s.is_empty() => Some(s.to_owned()),
            AttrValue::I64(i) => Some(i.to_string()),
            AttrValue::F64(f) => Some(f.to_string()),
            AttrValue::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl SpanView for ReportSpan {
    fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }
    fn span_id(&self) -> [u8; 8] {
        self.span_id
    }
    fn parent_span_id(&self) -> Option<[u8; 8]> {
        self.parent
    }
    fn start_unix_nanos(&self) -> u64 {
        self.start
    }
    fn scope_name(&self) -> &str {
        &self.scope
    }
    fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>)) {
        for (k, v) in &self.attrs {
            f(k, v.view());
        }
    }
    fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
        self.attrs
            .iter()
            .rev()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v.view())
    }
    fn set_attr(&mut self, key: &str, value: OwnedValue) {
        let value = Val::from_owned(value);
        let mut found = false;
        for (_, v) in self.attrs.iter_mut().filter(|(k, _)| &**k == key) {
            *v = value.clone();
            found = true;
        }
        if !found {
            self.attrs.push((key.into(), value));
        }
    }
    fn reserve_attrs(&mut self, additional: usize) {
        self.attrs.reserve(additional);
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn service_name(&self) -> Option<&str> {
        self.service.as_deref()
    }
    /// Not kept: the report reads priced spans back only for their attributes (the budget
    /// verdict an event would repeat is an attribute too), and writes no spans.
    fn add_event(&mut self, _name: &str, _attrs: Vec<(AttrKey, OwnedValue)>) {}
}

impl RecordSpan for ReportSpan {
    fn end_unix_nanos(&self) -> u64 {
        self.end
    }
}
