//! The cost report over exported traces (`otel-llm-cost report`).
//!
//! ```text
//! inputs (files, -, http:// URLs) -> detect format per input
//!   OTLP/JSON lines | OTLP/JSON document | Jaeger /api/v3 -> spans -> Assembler (bounded) -> trace
//!       -> Engine::price_trace (when not priced yet) -> call + trace records -+
//!   cost records (JSONL) -> calls grouped by trace (bounded) -----------------+-> Aggregator -> Report
//! ```
//!
//! **Formats**, detected per input from its first line: a line holding a whole JSON object
//! with `resourceSpans` (the Collector's `file` exporter, one `ExportTraceServiceRequest` a
//! line), `result` (Jaeger's `/api/v3/traces`, one response a line) or `type` (our cost
//! records); a first line that is not a whole JSON value starts a (pretty-printed) document,
//! read as a stream of `ResourceSpans`.
//!
//! **Memory.** Spans are buffered per trace until the trace's root has been read plus
//! [`ReportOptions::linger_spans`] more spans (default 10,000), or the buffer passes
//! [`ReportOptions::buffer_bytes`] (default 256 MiB, estimated), when the oldest traces are
//! released early and counted incomplete. After that, a trace costs the report only its
//! aggregates, plus 4 bytes per LLM call for the latency percentiles (kept for the total, the
//! call's group and its model: 12 bytes a call, about 12 MB per million calls), plus one row
//! per group and per top trace. String attribute values over 1 KiB (prompts) are not kept.
//!
//! **Percentiles** are exact nearest-rank: pXX is the smallest latency such that XX % of the
//! calls took at most that long (the value at rank ⌈XX/100 · n⌉ of the sorted latencies).
//! **Shares** of spend are tenths of a percent summing to exactly 100.0 (largest remainder).
//! **Money** is exact (decimal strings in JSON and CSV); the table rounds to $0.000001.

mod assemble;
mod containers;
mod input;
mod output;
mod span;
mod stats;

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeSeed;
use serde::Serialize;

use crate::engine::{Engine, EngineOptions};
use crate::money::{percent_tenths, Usd};
use crate::otlp_json::Cx;
use crate::pricing::Catalog;
use crate::records::{
    call_record, root_index, trace_record, CallRecord, Record, RecordWriter, TraceRecord,
};
use crate::semconv::ours;
use crate::span_view::SpanView;

use assemble::{Assembler, Released};
pub use assemble::{DEFAULT_BUFFER_BYTES, DEFAULT_LINGER_SPANS};
use containers::{Container, Interner, Outcome};
use input::Progress;
use span::ReportSpan;
use stats::{Acc, Charges};

/// Errors kept with their text (all are counted).
const MAX_KEPT_ERRORS: usize = 100;

/// How traces are grouped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One row per trace: the report lists the top traces only (see [`ReportOptions::top`]).
    #[default]
    Trace,
    /// By root span name (`workflow` in cost records).
    Root,
    /// By `service.name` of the root span.
    Service,
    /// By a span attribute (`session.id`, `user.id` …), read on the root span, else on the first
    /// span of the trace that has it. Not available from cost records (grouped as `(none)`).
    Attribute(String),
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<GroupBy, String> {
        Ok(match s.trim() {
            "" => return Err("empty --group-by".into()),
            "trace" => GroupBy::Trace,
            "root" => GroupBy::Root,
            "service" | "service.name" => GroupBy::Service,
            a => GroupBy::Attribute(a.to_owned()),
        })
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupBy::Trace => f.write_str("trace"),
            GroupBy::Root => f.write_str("root"),
            GroupBy::Service => f.write_str("service"),
            GroupBy::Attribute(a) => f.write_str(a),
        }
    }
}

/// Options of a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Grouping of traces. Default: [`GroupBy::Trace`].
    pub group_by: GroupBy,
    /// Keep only the first N characters of the group key (`--run-prefix`): runs named
    /// `nightly-2025-06-01-a`, `nightly-2025-06-01-b` group together with `8`. Default: none.
    pub run_prefix: Option<usize>,
    /// Step of a call: the value of this attribute on the call span or its nearest ancestor.
    /// Default (`None`): the name of the root's child the call descends from.
    pub step_attr: Option<String>,
    /// How many of the most expensive traces to list; `None` lists all (memory grows with the
    /// traces). Default: 10.
    pub top: Option<usize>,
    /// Budget of buffered spans, estimated bytes. Default: [`DEFAULT_BUFFER_BYTES`].
    pub buffer_bytes: usize,
    /// Spans read after a trace's root before the trace is priced. Default:
    /// [`DEFAULT_LINGER_SPANS`].
    pub linger_spans: u64,
    /// Engine options (attribute prefix, re-pricing of provided costs).
    pub engine: EngineOptions,
    /// Show a progress line on stderr when it is a terminal. Default: false.
    pub progress: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            group_by: GroupBy::Trace,
            run_prefix: None,
            step_attr: None,
            top: Some(10),
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            linger_spans: DEFAULT_LINGER_SPANS,
            engine: EngineOptions::default(),
            progress: false,
        }
    }
}

/// A problem with the input: which input, which line, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The input as given (path, `-`, URL).
    pub input: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.input, self.message),
            None => write!(f, "{}: {}", self.input, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// One LLM call, as the aggregator sees it.
struct CallUnit {
    model: String,
    cost: Option<Usd>,
    charges: Charges,
    input: u64,
    output: u64,
    latency: u32,
    step: String,
}

/// One trace, as the aggregator sees it.
struct TraceUnit {
    trace: TraceRecord,
    group: String,
    start: u64,
    end: u64,
    calls: Vec<CallUnit>,
}

/// Ordering of the top-N heap: cheapest first, then the larger trace id (so ties keep the
/// smaller ids).
struct TopEntry(TraceRow);

impl TopEntry {
    fn key(&self) -> (std::cmp::Reverse<Usd>, &str) {
        (std::cmp::Reverse(self.0.total_usd), &self.0.trace_id)
    }
}
impl PartialEq for TopEntry {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for TopEntry {}
impl PartialOrd for TopEntry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TopEntry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

#[derive(Default)]
struct Aggregator {
    total: Acc,
    groups: HashMap<String, Acc>,
    models: HashMap<String, Acc>,
    steps: HashMap<String, Acc>,
    top: BinaryHeap<TopEntry>,
}

/// Call records waiting for their trace record.
#[derive(Default)]
struct Pending {
    calls: HashMap<String, Vec<CallRecord>>,
    order: VecDeque<String>,
    count: usize,
}

/// Reads inputs and aggregates them into a [`Report`]: create, [`read`](Reporter::read) or
/// [`read_input`](Reporter::read_input) each input, then [`finish`](Reporter::finish).
///
/// ```no_run
/// use std::sync::Arc;
/// use otel_llm_cost::{Catalog, report::ReportOptions, report::Reporter};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut r = Reporter::new(Arc::new(Catalog::embedded()?), ReportOptions::default());
/// r.read_input("traces.jsonl");
/// let report = r.finish();
/// report.write_table(&mut std::io::stdout())?;
/// # Ok(()) }
/// ```
pub struct Reporter {
    engine: Engine,
    opts: ReportOptions,
    status_key: String,
    assembler: Assembler,
    released: Vec<Released>,
    pending: Pending,
    agg: Aggregator,
    interner: Interner,
    errors: Vec<InputError>,
    error_count: u64,
    inputs: u64,
    lines: u64,
    spans: u64,
    records: u64,
    traces: u64,
    bytes_read: Arc<AtomicU64>,
    progress: Progress,
    records_out: Option<RecordWriter>,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("opts", &self.opts)
            .field("spans", &self.spans)
            .field("traces", &self.traces)
            .finish_non_exhaustive()
    }
}

/// Input format of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Otlp,
    Records,
}

impl Reporter {
    /// A reporter pricing with `catalog`.
    pub fn new(catalog: Arc<Catalog>, opts: ReportOptions) -> Reporter {
        let engine = Engine::new(catalog, opts.engine.clone());
        Reporter {
            status_key: format!("{}{}", opts.engine.prefix, ours::PRICING_STATUS),
            assembler: Assembler::new(opts.buffer_bytes, opts.linger_spans),
            progress: Progress::new(opts.progress),
            engine,
            opts,
            released: Vec::new(),
            pending: Pending::default(),
            agg: Aggregator::default(),
            interner: Interner::default(),
            errors: Vec::new(),
            error_count: 0,
            inputs: 0,
            lines: 0,
            spans: 0,
            records: 0,
            traces: 0,
            bytes_read: Arc::new(AtomicU64::new(0)),
            records_out: None,
        }
    }

    /// Also writes the cost records (calls, then the trace) of every trace priced from spans to
    /// `w`: turns exported OTLP into cost records. Write failures are input problems.
    pub fn with_records_writer(mut self, w: RecordWriter) -> Reporter {
        self.records_out = Some(w);
        self
    }

    /// Input problems so far (the first 100; [`error_count`](Reporter::error_count) has all).
    pub fn errors(&self) -> &[InputError] {
        &self.errors
    }

    /// Number of input problems so far.
    pub fn error_count(&self) -> u64 {
        self.error_count
    }

    fn error(&mut self, input: &str, line: Option<u64>, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(InputError {
                input: input.to_owned(),
                line,
                message,
            });
        }
    }

    /// Reads one input given as a path, `-` (stdin) or an `http://` URL. Problems are recorded
    /// (see [`errors`](Reporter::errors)), never fatal.
    pub fn read_input(&mut self, spec: &str) {
        match input::open(spec, self.bytes_read.clone()) {
            Ok(o) => {
                let len = o.len;
                self.read_inner(spec, o.reader, len);
            }
            Err(e) => {
                self.inputs += 1;
                self.error(spec, None, e);
            }
        }
    }

    /// Reads one input from `reader`; `name` labels its errors.
    pub fn read(&mut self, name: &str, reader: impl BufRead) {
        self.read_inner(name, reader, None);
    }

    fn read_inner(&mut self, name: &str, mut reader: impl BufRead, len: Option<u64>) {
        self.inputs += 1;
        let start_bytes = self.bytes_read.load(Ordering::Relaxed);
        let mut mode: Option<Mode> = None;
        let mut buf: Vec<u8> = Vec::new();
        let mut line_no: u64 = 0;
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.error(name, Some(line_no + 1), format!("read error: {e}"));
                    break;
                }
            }
            line_no += 1;
            self.lines += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let m = match mode {
                Some(m) => m,
                None => match serde_json::from_slice::<serde_json::Value>(&buf) {
                    Ok(serde_json::Value::Object(o)) => {
                        let m = if o.contains_key("type") {
                            Mode::Records
                        } else {
                            Mode::Otlp
                        };
                        mode = Some(m);
                        m
                    }
                    Ok(_) => {
                        self.error(
                            name,
                            Some(line_no),
                            "not a JSON object (expected OTLP/JSON, a Jaeger response or a cost record)".into(),
                        );
                        continue;
                    }
                    Err(e) if e.is_eof() => {
                        // Not a whole value on one line: a (pretty-printed) document.
                        let first = std::mem::take(&mut buf);
                        self.read_document(name, line_no - 1, first, reader);
                        break;
                    }
                    Err(e) => {
                        self.error(name, Some(line_no), format!("not JSON: {}", json_err(&e)));
                        continue;
                    }
                },
            };
            match m {
                Mode::Otlp => self.otlp_line(name, line_no, &buf),
                Mode::Records => self.record_line(name, line_no, &buf),
            }
            if buf.capacity() > 64 << 20 {
                buf = Vec::new();
            }
            self.tick(name, start_bytes, len);
        }
        self.progress.clear();
    }

    fn tick(&mut self, name: &str, start: u64, len: Option<u64>) {
        let read = self
            .bytes_read
            .load(Ordering::Relaxed)
            .saturating_sub(start);
        let (spans, records, traces) = (self.spans, self.records, self.traces);
        self.progress.tick(|| {
            let of = len
                .map(|l| format!(" / {}", input::mib(l)))
                .unwrap_or_default();
            format!(
                "{name}: {}{of}, {spans} spans, {records} records, {traces} traces",
                input::mib(read)
            )
        });
    }

    fn otlp_line(&mut self, name: &str, line: u64, buf: &[u8]) {
        if !starts_object(buf) {
            self.error(name, Some(line), "not a JSON object".into());
            return;
        }
        // A line is one request: its spans count only if the whole line decodes (as the
        // gateway takes or refuses a request whole).
        let (mut spans, mut refused) = (Vec::new(), Vec::new());
        let outcome = {
            let services = &mut self.interner;
            let mut sink = |rs| containers::convert(rs, services, &mut spans);
            let mut refuse = |m| refused.push(m);
            let mut de = serde_json::Deserializer::from_slice(trim_eol(buf));
            Container {
                sink: &mut sink,
                cx: &mut Cx::new(containers::KEEP, &mut refuse),
                doc: false,
            }
            .deserialize(&mut de)
            .and_then(|o| de.end().map(|()| o))
        };
        match outcome {
            Ok(Outcome::Spans) => {
                for m in refused {
                    self.error(name, Some(line), m);
                }
                self.add_spans(spans);
            }
            Ok(Outcome::NoSpans) => self.error(name, Some(line), containers::NO_SPANS.into()),
            Ok(Outcome::ServerError(e)) => self.error(name, Some(line), e.to_string()),
            Err(e) => self.error(
                name,
                Some(line),
                format!("invalid OTLP/JSON: {}", json_err(&e)),
            ),
        }
    }

    /// Spans read: counted, and into the assembly.
    fn add_spans(&mut self, spans: Vec<ReportSpan>) {
        self.spans += spans.len() as u64;
        let mut out = std::mem::take(&mut self.released);
        for s in spans {
            self.assembler.add(s, &mut out);
        }
        for r in out.drain(..) {
            self.on_trace(r);
        }
        self.released = out;
    }

    /// A (pretty-printed) document, read as a stream: what was read before an error is kept.
    fn read_document(&mut self, name: &str, skipped: u64, first: Vec<u8>, rest: impl Read) {
        let reader = std::io::Cursor::new(first).chain(rest);
        let mut de = serde_json::Deserializer::from_reader(reader);
        loop {
            let (mut spans, mut refused) = (Vec::new(), Vec::new());
            let res = {
                let services = &mut self.interner;
                let mut sink = |rs| containers::convert(rs, services, &mut spans);
                let mut refuse = |m| refused.push(m);
                Container {
                    sink: &mut sink,
                    cx: &mut Cx::new(containers::KEEP, &mut refuse),
                    doc: true,
                }
                .deserialize(&mut de)
            };
            for m in refused {
                self.error(name, None, m);
            }
            self.add_spans(spans);
            if let Err(e) = res {
                let line = skipped + e.line() as u64;
                self.error(
                    name,
                    Some(line),
                    format!("invalid OTLP/JSON document: {}", json_err(&e)),
                );
                break;
            }
            if de.end().is_ok() {
                break;
            }
        }
    }

    fn record_line(&mut self, name: &str, line: u64, buf: &[u8]) {
        if !starts_object(buf) {
            self.error(name, Some(line), "not a JSON object".into());
            return;
        }
        let r: Record = match serde_json::from_slice(trim_eol(buf)) {
            Ok(r) => r,
            Err(e) => {
                self.error(
                    name,
                    Some(line),
                    format!("invalid cost record: {}", json_err(&e)),
                );
                return;
            }
        };
        self.records += 1;
        match r {
            Record::Call(mut c) => {
                let (_, errors) = Charges::of(&c);
                if !errors.is_empty() {
                    for e in errors {
                        self.error(name, Some(line), format!("invalid cost record: {e}"));
                    }
                    // The call counts (its cost is whole); the charges that could not be read
                    // are left out of the breakdown.
                    c.charges_usd.retain(|k, v| {
                        stats::CHARGE_NAMES.contains(&k.as_str()) && Usd::parse(v).is_ok()
                    });
                }
                let p = &mut self.pending;
                let v = p.calls.entry(c.trace_id.clone()).or_default();
                if v.is_empty() {
                    p.order.push_back(c.trace_id.clone());
                }
                v.push(c);
                p.count += 1;
                // Bound: ~512 bytes a pending call record.
                while self.pending.count.saturating_mul(512) > self.opts.buffer_bytes {
                    let Some(t) = self.pending.order.pop_front() else {
                        break;
                    };
                    if let Some(calls) = self.pending.calls.remove(&t) {
                        self.pending.count -= calls.len();
                        self.orphan_calls(calls);
                    }
                }
            }
            Record::Trace(t) => {
                let calls = match self.pending.calls.remove(&t.trace_id) {
                    Some(c) => {
                        self.pending.count -= c.len();
                        c
                    }
                    None => Vec::new(),
                };
                self.on_record_trace(t, calls);
            }
        }
    }

    /// Calls whose trace record never came: a trace of their own, incomplete.
    fn orphan_calls(&mut self, calls: Vec<CallRecord>) {
        let Some(first) = calls.first() else { return };
        let mut t = TraceRecord {
            time: first.time.clone(),
            trace_id: first.trace_id.clone(),
            service: first.service.clone(),
            workflow: first.workflow.clone(),
            total_usd: Usd::ZERO,
            llm_calls: 0,
            unpriced_calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            by_model: Vec::new(),
            complete: false,
            duration_ms: 0,
        };
        let (mut s, mut e) = (u64::MAX, 0u64);
        for c in &calls {
            t.llm_calls += 1;
            t.input_tokens = t.input_tokens.saturating_add(c.input_tokens);
            t.output_tokens = t.output_tokens.saturating_add(c.output_tokens);
            match c.cost_usd {
                Some(x) => t.total_usd += x,
                None => t.unpriced_calls += 1,
            }
            let cs = parse_time(&c.time);
            s = s.min(cs);
            e = e.max(cs.saturating_add(c.duration_ms.saturating_mul(1_000_000)));
        }
        t.time = crate::records::rfc3339(s);
        t.duration_ms = crate::records::duration_ms(s, e);
        self.on_record_trace(t, calls);
    }

    fn on_record_trace(&mut self, t: TraceRecord, calls: Vec<CallRecord>) {
        let start = parse_time(&t.time);
        let end = start.saturating_add(t.duration_ms.saturating_mul(1_000_000));
        let group = match &self.opts.group_by {
            GroupBy::Trace => t.trace_id.clone(),
            GroupBy::Root => t.workflow.clone().unwrap_or_else(|| "(no root)".into()),
            GroupBy::Service => t.service.clone().unwrap_or_else(|| "(no service)".into()),
            GroupBy::Attribute(_) => "(none)".into(),
        };
        let calls = calls
            .into_iter()
            .map(|c| CallUnit {
                charges: Charges::of(&c).0,
                model: c.model.unwrap_or_else(|| "unknown".into()),
                cost: c.cost_usd,
                input: c.input_tokens,
                output: c.output_tokens,
                latency: u32::try_from(c.duration_ms).unwrap_or(u32::MAX),
                step: c.span_name,
            })
            .collect();
        self.aggregate(TraceUnit {
            trace: t,
            group,
            start,
            end,
            calls,
        });
    }

    fn on_trace(&mut self, r: Released) {
        let mut spans = r.spans;
        let prefix = self.opts.engine.prefix.clone();
        let priced = spans.iter().any(|s| s.attr(&self.status_key).is_some());
        if !priced {
            self.engine.price_trace(&mut spans, r.complete);
        }
        let root = root_index(&spans);
        let workflow = root.map(|i: usize| spans[i].name.to_string());
        let mut calls = Vec::new();
        let mut at = Vec::new();
        for (i, s) in spans.iter().enumerate() {
            if let Some(c) = call_record(s, workflow.as_deref(), &prefix) {
                calls.push(c);
                at.push(i);
            }
        }
        let trace = trace_record(&spans, &calls, r.complete, &prefix);
        if let Some(w) = self.records_out.as_mut() {
            let mut recs: Vec<Record> = calls.iter().cloned().map(Record::Call).collect();
            recs.push(Record::Trace(trace.clone()));
            if let Err(e) = w.write(&recs) {
                let path = w.path().display().to_string();
                self.error(&path, None, format!("cannot write cost records: {e}"));
            }
        }
        let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end).max().unwrap_or(0);
        let group = self.group_key(&spans, root, &trace);
        let steps = self.steps(&spans, root, &at);
        let units = calls
            .into_iter()
            .zip(steps)
            .map(|(c, step)| CallUnit {
                charges: Charges::of(&c).0,
                model: c.model.unwrap_or_else(|| "unknown".into()),
                cost: c.cost_usd,
                input: c.input_tokens,
                output: c.output_tokens,
                latency: u32::try_from(c.duration_ms).unwrap_or(u32::MAX),
                step,
            })
            .collect();
        self.aggregate(TraceUnit {
            trace,
            group,
            start,
            end,
            calls: units,
        });
    }

    fn group_key(&self, spans: &[ReportSpan], root: Option<usize>, t: &TraceRecord) -> String {
        match &self.opts.group_by {
            GroupBy::Trace => t.trace_id.clone(),
            GroupBy::Root => t.workflow.clone().unwrap_or_else(|| "(no root)".into()),
            GroupBy::Service => t.service.clone().unwrap_or_else(|| "(no service)".into()),
            GroupBy::Attribute(k) => root
                .and_then(|i| spans[i].label(k))
                .or_else(|| spans.iter().find_map(|s| s.label(k)))
                .unwrap_or_else(|| "(none)".into()),
        }
    }

    /// The step of each call at `at`.
    fn steps(&self, spans: &[ReportSpan], root: Option<usize>, at: &[usize]) -> Vec<String> {
        if at.is_empty() {
            return Vec::new();
        }
        let index: HashMap<[u8; 8], usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let parent = |i: usize| -> Option<usize> {
            spans[i]
                .parent
                .and_then(|p| index.get(&p).copied())
                .filter(|&p| p != i)
        };
        at.iter()
            .map(|&i| {
                let mut cur = i;
                for _ in 0..spans.len() {
                    if let Some(k) = &self.opts.step_attr {
                        if let Some(v) = spans[cur].label(k) {
                            return v;
                        }
                    } else if Some(cur) == root || parent(cur) == root && root.is_some() {
                        return spans[cur].name.to_string();
                    }
                    match parent(cur) {
                        Some(p) => cur = p,
                        None => break,
                    }
                }
                if self.opts.step_attr.is_some() {
                    "(none)".into()
                } else {
                    // No root above: the topmost span reached.
                    spans[cur].name.to_string()
                }
            })
            .collect()
    }

    fn aggregate(&mut self, mut t: TraceUnit) {
        self.traces += 1;
        if let Some(n) = self.opts.run_prefix {
            if let Some((i, _)) = t.group.char_indices().nth(n) {
                t.group.truncate(i);
            }
        }
        let by_group = self.opts.group_by != GroupBy::Trace;
        let complete = t.trace.complete;
        let agg = &mut self.agg;
        agg.total.add_trace(t.start, t.end, complete);
        let mut group = by_group.then(|| {
            let g = agg.groups.entry(std::mem::take(&mut t.group)).or_default();
            g.add_trace(t.start, t.end, complete);
            g
        });
        let mut own = Vec::with_capacity(t.calls.len());
        let mut charges = Charges::default();
        for c in &t.calls {
            agg.total
                .add_call(c.cost, &c.charges, c.input, c.output, c.latency, true);
            if let Some(g) = group.as_mut() {
                g.add_call(c.cost, &c.charges, c.input, c.output, c.latency, true);
            }
            charges.add(&c.charges);
            own.push(c.latency);
        }
        for c in t.calls {
            agg.models
                .entry(c.model)
                .or_default()
                .add_call(c.cost, &c.charges, c.input, c.output, c.latency, true);
            agg.steps
                .entry(c.step)
                .or_default()
                .add_call(c.cost, &c.charges, c.input, c.output, 0, false);
        }
        if self.opts.top != Some(0) {
            let p = stats::nearest_rank(&mut own, &[50, 95, 99]);
            let tr = t.trace;
            agg.top.push(TopEntry(TraceRow {
                trace_id: tr.trace_id,
                time: tr.time,
                workflow: tr.workflow,
                service: tr.service,
                llm_calls: tr.llm_calls,
                unpriced_calls: tr.unpriced_calls,
                total_usd: tr.total_usd,
                input_tokens: tr.input_tokens,
                output_tokens: tr.output_tokens,
                duration_ms: tr.duration_ms,
                p50_ms: p[0],
                p95_ms: p[1],
                p99_ms: p[2],
                complete: tr.complete,
                charges: Some(ChargeColumns::of(tr.total_usd, &charges)),
            }));
            if let Some(n) = self.opts.top {
                while agg.top.len() > n {
                    agg.top.pop();
                }
            }
        }
    }

    /// Ends the input: releases buffered traces and pending records, and builds the report.
    pub fn finish(mut self) -> Report {
        let mut out = Vec::new();
        self.assembler.finish(&mut out);
        for r in out {
            self.on_trace(r);
        }
        let order = std::mem::take(&mut self.pending.order);
        for t in order {
            if let Some(calls) = self.pending.calls.remove(&t) {
                self.orphan_calls(calls);
            }
        }
        self.progress.clear();
        let a = self.assembler.stats;
        let input = InputSummary {
            inputs: self.inputs,
            lines: self.lines,
            spans: self.spans,
            records: self.records,
            errors: self.error_count,
            late_spans: a.late_spans,
            duplicate_spans: a.duplicate_spans,
            evicted_traces: a.evicted,
        };
        build_report(self.agg, &self.opts, input)
    }
}

/// A serde_json error without its " at line L column C" suffix, with the column instead (the
/// caller names the line).
fn json_err(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = match s.rfind(" at line ") {
        Some(i) => &s[..i],
        None => &s,
    };
    if e.column() > 0 {
        format!("{msg} (column {})", e.column())
    } else {
        msg.to_owned()
    }
}

/// The line without its line ending.
fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// `true` when the first non-blank byte opens an object.
fn starts_object(b: &[u8]) -> bool {
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{')
}

/// Unix nanoseconds of an RFC 3339 time; 0 when unparsable.
fn parse_time(s: &str) -> u64 {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        .unwrap_or(0)
}

fn pct(tenths: u32) -> f64 {
    f64::from(tenths) / 10.0
}

fn build_report(agg: Aggregator, opts: &ReportOptions, input: InputSummary) -> Report {
    let Aggregator {
        mut total,
        groups,
        models,
        steps,
        top,
    } = agg;
    let [p50, p95, p99] = total.percentiles();
    // Charge columns only when some call had a charge beyond tokens (or an unpriced unit): a
    // token-only report is as it was.
    let shown = !total.charges.is_empty();
    let cols = |a: &Acc| shown.then(|| ChargeColumns::of(a.cost, &a.charges));
    let summary = Summary {
        charges: cols(&total),
        traces: total.traces,
        incomplete_traces: total.incomplete,
        llm_calls: total.calls,
        unpriced_calls: total.unpriced,
        total_usd: total.cost,
        input_tokens: total.input_tokens,
        output_tokens: total.output_tokens,
        duration_ms: total.duration_ms(),
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
    };
    let sorted = |m: HashMap<String, Acc>| {
        let mut v: Vec<(String, Acc)> = m.into_iter().collect();
        v.sort_by(|a, b| {
            b.1.cost
                .cmp(&a.1.cost)
                .then(b.1.calls.cmp(&a.1.calls))
                .then(a.0.cmp(&b.0))
        });
        let shares = percent_tenths(&v.iter().map(|x| x.1.cost).collect::<Vec<_>>());
        v.into_iter().zip(shares)
    };
    let groups = sorted(groups)
        .map(|((key, mut a), share)| {
            let [p50, p95, p99] = a.percentiles();
            GroupRow {
                charges: cols(&a),
                avg_usd_per_trace: Usd::from_femto(a.cost.femto() / u128::from(a.traces.max(1))),
                key,
                traces: a.traces,
                incomplete_traces: a.incomplete,
                llm_calls: a.calls,
                unpriced_calls: a.unpriced,
                total_usd: a.cost,
                pct: pct(share),
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                duration_ms: a.duration_ms(),
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
            }
        })
        .collect();
    let models = sorted(models)
        .map(|((model, mut a), share)| {
            let [p50, p95, p99] = a.percentiles();
            ModelRow {
                charges: cols(&a),
                model,
                calls: a.calls,
                unpriced_calls: a.unpriced,
                cost_usd: a.cost,
                pct: pct(share),
                avg_input_tokens: stats::avg1(a.input_tokens, a.calls),
                avg_output_tokens: stats::avg1(a.output_tokens, a.calls),
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
            }
        })
        .collect();
    let steps = sorted(steps)
        .map(|((step, a), share)| StepRow {
            charges: cols(&a),
            step,
            calls: a.calls,
            unpriced_calls: a.unpriced,
            cost_usd: a.cost,
            pct: pct(share),
            avg_input_tokens: stats::avg1(a.input_tokens, a.calls),
            avg_output_tokens: stats::avg1(a.output_tokens, a.calls),
        })
        .collect();
    let mut top: Vec<TraceRow> = top
        .into_iter()
        .map(|e| TraceRow {
            charges: e.0.charges.filter(|_| shown),
            ..e.0
        })
        .collect();
    top.sort_by(|a, b| {
        b.total_usd
            .cmp(&a.total_usd)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    Report {
        group_by: opts.group_by.to_string(),
        summary,
        groups,
        models,
        steps,
        top_traces: top,
        input,
    }
}

/// Everything read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Traces (fragments of late spans included).
    pub traces: u64,
    /// Traces that may miss spans (no root seen, evicted, late fragments, marked incomplete).
    pub incomplete_traces: u64,
    /// LLM calls counted (priced, provided, unpriced).
    pub llm_calls: u64,
    /// Calls that could not be priced (unknown model, invalid usage).
    pub unpriced_calls: u64,
    /// Total cost.
    #[serde(serialize_with = "ser_usd")]
    pub total_usd: Usd,
    /// Input tokens of counted calls.
    pub input_tokens: u64,
    /// Output tokens of counted calls.
    pub output_tokens: u64,
    /// Earliest span start to latest span end, ms.
    pub duration_ms: u64,
    /// Median LLM call latency, ms (nearest rank).
    pub p50_ms: Option<u32>,
    /// 95th percentile LLM call latency, ms (nearest rank).
    pub p95_ms: Option<u32>,
    /// 99th percentile LLM call latency, ms (nearest rank).
    pub p99_ms: Option<u32>,
    /// The cost by kind of charge, when the report has charges beyond tokens.
    #[serde(flatten)]
    pub charges: Option<ChargeColumns>,
}

/// A row's cost by kind of charge (issue 15): on every row when some call of the report had a
/// charge beyond tokens (`cost.charges.*`) or a unit no rate priced; `None` otherwise, so a
/// token-only report is as it was. The dollar columns sum exactly to the row's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChargeColumns {
    /// The cost of tokens: the row's cost less the charges below (a cost the span carried
    /// itself, with no breakdown, is counted here).
    #[serde(serialize_with = "ser_usd")]
    pub token_usd: Usd,
    /// Image and video tokens at rates of their own (`cost.charges.media_input_usd`).
    #[serde(serialize_with = "ser_usd")]
    pub media_input_usd: Usd,
    /// Image and video output tokens (`cost.charges.media_output_usd`).
    #[serde(serialize_with = "ser_usd")]
    pub media_output_usd: Usd,
    /// Server-side tool calls: web searches and fetches, file searches, code executions
    /// (`cost.charges.tool_calls_usd`).
    #[serde(serialize_with = "ser_usd")]
    pub tool_calls_usd: Usd,
    /// Other units billed per count: requests, characters, audio seconds, images ...
    /// (`cost.charges.per_unit_usd`).
    #[serde(serialize_with = "ser_usd")]
    pub per_unit_usd: Usd,
    /// Units the calls carried that their price has no rate for (`cost.charges.unpriced_units`):
    /// the cost may be short.
    pub unpriced_units: u64,
}

impl ChargeColumns {
    fn of(cost: Usd, c: &Charges) -> ChargeColumns {
        let [media_input_usd, media_output_usd, tool_calls_usd, per_unit_usd] = c.usd;
        ChargeColumns {
            // The charges are parts of the cost; never below zero on inconsistent records.
            token_usd: Usd::from_femto(cost.femto().saturating_sub(c.sum().femto())),
            media_input_usd,
            media_output_usd,
            tool_calls_usd,
            per_unit_usd,
            unpriced_units: c.unpriced_units,
        }
    }
}

/// One group of traces (`--group-by`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// Group key (after `--run-prefix`).
    pub key: String,
    /// Traces.
    pub traces: u64,
    /// Traces that may miss spans.
    pub incomplete_traces: u64,
    /// LLM calls.
    pub llm_calls: u64,
    /// Calls that could not be priced.
    pub unpriced_calls: u64,
    /// Cost.
    #[serde(serialize_with = "ser_usd")]
    pub total_usd: Usd,
    /// Share of all spend, percent (one decimal; the groups sum to 100).
    pub pct: f64,
    /// Cost per trace (rounded down to the femto-dollar).
    #[serde(serialize_with = "ser_usd")]
    pub avg_usd_per_trace: Usd,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Earliest span start to latest span end over the group's traces, ms.
    pub duration_ms: u64,
    /// Median LLM call latency, ms.
    pub p50_ms: Option<u32>,
    /// 95th percentile LLM call latency, ms.
    pub p95_ms: Option<u32>,
    /// 99th percentile LLM call latency, ms.
    pub p99_ms: Option<u32>,
    /// The cost by kind of charge, when the report has charges beyond tokens.
    #[serde(flatten)]
    pub charges: Option<ChargeColumns>,
}

/// Spend of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    /// Catalog id, or the model the span names when unpriced or provided.
    pub model: String,
    /// Calls.
    pub calls: u64,
    /// Calls that could not be priced.
    pub unpriced_calls: u64,
    /// Cost.
    #[serde(serialize_with = "ser_usd")]
    pub cost_usd: Usd,
    /// Share of all spend, percent (one decimal; the models sum to 100).
    pub pct: f64,
    /// Input tokens per call (one decimal).
    pub avg_input_tokens: f64,
    /// Output tokens per call (one decimal).
    pub avg_output_tokens: f64,
    /// Median latency, ms.
    pub p50_ms: Option<u32>,
    /// 95th percentile latency, ms.
    pub p95_ms: Option<u32>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<u32>,
    /// The cost by kind of charge, when the report has charges beyond tokens.
    #[serde(flatten)]
    pub charges: Option<ChargeColumns>,
}

/// Spend of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    /// The root's child the calls descend from, or the `--step-attr` value; from cost
    /// records, the call's span name.
    pub step: String,
    /// Calls.
    pub calls: u64,
    /// Calls that could not be priced.
    pub unpriced_calls: u64,
    /// Cost.
    #[serde(serialize_with = "ser_usd")]
    pub cost_usd: Usd,
    /// Share of all spend, percent (one decimal; the steps sum to 100).
    pub pct: f64,
    /// Input tokens per call (one decimal).
    pub avg_input_tokens: f64,
    /// Output tokens per call (one decimal).
    pub avg_output_tokens: f64,
    /// The cost by kind of charge, when the report has charges beyond tokens.
    #[serde(flatten)]
    pub charges: Option<ChargeColumns>,
}

/// One trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRow {
    /// Trace id.
    pub trace_id: String,
    /// Root start (RFC 3339).
    pub time: String,
    /// Root span name.
    pub workflow: Option<String>,
    /// `service.name` of the root.
    pub service: Option<String>,
    /// LLM calls.
    pub llm_calls: u64,
    /// Calls that could not be priced.
    pub unpriced_calls: u64,
    /// Cost.
    #[serde(serialize_with = "ser_usd")]
    pub total_usd: Usd,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Trace duration, ms.
    pub duration_ms: u64,
    /// Median LLM call latency in the trace, ms.
    pub p50_ms: Option<u32>,
    /// 95th percentile, ms.
    pub p95_ms: Option<u32>,
    /// 99th percentile, ms.
    pub p99_ms: Option<u32>,
    /// `false` when the trace may miss spans.
    pub complete: bool,
    /// The cost by kind of charge, when the report has charges beyond tokens.
    #[serde(flatten)]
    pub charges: Option<ChargeColumns>,
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    /// Inputs.
    pub inputs: u64,
    /// Lines read.
    pub lines: u64,
    /// Spans read.
    pub spans: u64,
    /// Cost records read.
    pub records: u64,
    /// Input problems (bad lines, bad spans, unreadable inputs).
    pub errors: u64,
    /// Spans that arrived after their trace was priced.
    pub late_spans: u64,
    /// Spans dropped as repeats of a span already read (same trace and span id).
    pub duplicate_spans: u64,
    /// Traces priced early because the span buffer was full.
    pub evicted_traces: u64,
}

/// The report. Write it with [`write_table`](Report::write_table),
/// [`write_json`](Report::write_json) or [`write_csv`](Report::write_csv).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The grouping (`trace`, `root`, `service` or the attribute).
    pub group_by: String,
    /// Totals over everything.
    pub summary: Summary,
    /// Groups by spend (empty when grouping by trace).
    pub groups: Vec<GroupRow>,
    /// Models by spend.
    pub models: Vec<ModelRow>,
    /// Steps by spend.
    pub steps: Vec<StepRow>,
    /// The most expensive traces.
    pub top_traces: Vec<TraceRow>,
    /// What was read.
    pub input: InputSummary,
}

fn ser_usd<S: serde::Serializer>(v: &Usd, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
