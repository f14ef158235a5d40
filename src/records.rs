//! Cost records: one JSON object per line (JSONL), `"type"` first, money as exact decimal
//! strings. The gateway appends them to a file; `otel-llm-cost report` reads them back.
//!
//! ```text
//! priced trace (spans after Engine::price_trace) --trace_records--> [call..., trace] --RecordWriter--> costs.jsonl
//! ```
//!
//! ```json
//! {"type":"call","time":"2025-06-01T00:00:00.1Z","trace_id":"0af7…","span_id":"00f0…","parent_span_id":"b7ad…","service":"frontend","workflow":"POST /ask","span_name":"ChatCompletion","model":"gpt-4o-2024-08-06","provider":"openai","status":"priced","input_tokens":1000,"output_tokens":250,"cache_read_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":"0.005","input_cost_usd":"0.0025","output_cost_usd":"0.0025","duration_ms":900}
//! {"type":"trace","time":"2025-06-01T00:00:00Z","trace_id":"0af7…","service":"frontend","workflow":"POST /ask","total_usd":"0.005","llm_calls":1,"unpriced_calls":0,"input_tokens":1000,"output_tokens":250,"by_model":[{"model":"gpt-4o-2024-08-06","calls":1,"cost_usd":"0.005"}],"complete":true,"duration_ms":3000}
//! ```
//!
//! Records are built from the attributes the engine wrote (`cost.pricing.status`,
//! `cost.total_usd`, `cost.input_usd`, … on each counted call span). Those are `f64` dollars;
//! they are turned back into exact decimals through their shortest round-trip form (what the
//! engine meant: `0.00625`, not `0.006250000000000000347`), falling back to 15 decimals.
//! Sums over records are exact.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::usage::{extract, ExtractOptions, UsageState};
use crate::money::Usd;
use crate::semconv::{self as k, ours};
use crate::span_view::{AttrValue, SpanView};

/// A span that cost records can be built from: a [`SpanView`] plus its name, end time and
/// the `service.name` of its resource.
pub trait RecordSpan: SpanView {
    /// End time, Unix nanoseconds.
    fn end_unix_nanos(&self) -> u64;
}

/// `status` of a call record: how its cost was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Priced from the catalog.
    Priced,
    /// The span carried its own cost.
    Provided,
    /// The model matched nothing in the catalog; no cost.
    UnknownModel,
    /// Token counts were unusable; no cost.
    InvalidUsage,
}

impl CallStatus {
    /// From a `cost.pricing.status` value; `None` for spans that are not counted calls
    /// (`duplicate`, `aggregate`, anything else).
    pub fn from_attr(s: &str) -> Option<CallStatus> {
        match s {
            "priced" => Some(CallStatus::Priced),
            "provided" => Some(CallStatus::Provided),
            "unknown_model" => Some(CallStatus::UnknownModel),
            "invalid_usage" => Some(CallStatus::InvalidUsage),
            _ => None,
        }
    }

    /// The value as written (`priced`, `provided`, `unknown_model`, `invalid_usage`).
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Priced => "priced",
            CallStatus::Provided => "provided",
            CallStatus::UnknownModel => "unknown_model",
            CallStatus::InvalidUsage => "invalid_usage",
        }
    }
}

/// One LLM call (`"type":"call"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Span start, RFC 3339 (UTC).
    pub time: String,
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id, 16 hex digits; `null` for a root.
    pub parent_span_id: Option<String>,
    /// `service.name` of the span's resource.
    pub service: Option<String>,
    /// Name of the trace's root span; `null` when the root was not seen.
    pub workflow: Option<String>,
    /// Span name.
    pub span_name: String,
    /// Catalog id when priced, else the model the span names.
    pub model: Option<String>,
    /// Provider as the span names it, normalised.
    pub provider: Option<String>,
    /// How the cost was obtained.
    pub status: CallStatus,
    /// All input tokens (cache included).
    pub input_tokens: u64,
    /// All output tokens (reasoning included).
    pub output_tokens: u64,
    /// Input tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the cache (5 minute and 1 hour TTLs).
    pub cache_write_tokens: u64,
    /// Reasoning output tokens.
    pub reasoning_tokens: u64,
    /// The call's cost; `null` when it could not be priced.
    #[serde(with = "usd_opt")]
    pub cost_usd: Option<Usd>,
    /// Input-side cost.
    #[serde(with = "usd_opt")]
    pub input_cost_usd: Option<Usd>,
    /// Output-side cost.
    #[serde(with = "usd_opt")]
    pub output_cost_usd: Option<Usd>,
    /// Span duration, milliseconds (rounded).
    pub duration_ms: u64,
    /// Units beyond the token counts above, by unit id (`web_searches`, `input_image_tokens`
    /// ...); absent when none (issue 15).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub units: std::collections::BTreeMap<String, u64>,
    /// The charges beyond tokens in `cost_usd` (`cost.charges.*`): `media_input`,
    /// `media_output`, `tool_calls`, `per_unit`, each in USD; absent when none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub charges_usd: std::collections::BTreeMap<String, String>,
    /// Units the call carried that its price has no rate for (`cost.charges.unpriced_units`):
    /// its cost may be short; absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unpriced_units: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The charges beyond tokens, as named in [`CallRecord::charges_usd`], and the attribute each is
/// read from (under the prefix).
pub(crate) const CHARGES: [(&str, &str); 4] = [
    ("media_input", ours::CHARGES_MEDIA_INPUT_USD),
    ("media_output", ours::CHARGES_MEDIA_OUTPUT_USD),
    ("tool_calls", ours::CHARGES_TOOL_CALLS_USD),
    ("per_unit", ours::CHARGES_PER_UNIT_USD),
];

/// Spend of one model within a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCost {
    /// Catalog id (or the span's model for provided costs).
    pub model: String,
    /// Calls with a cost.
    pub calls: u64,
    /// Their cost.
    #[serde(with = "usd")]
    pub cost_usd: Usd,
}

/// One trace (`"type":"trace"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Start of the root span (or of the earliest span when the root is missing), RFC 3339.
    pub time: String,
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// `service.name` of the root span (or of the first span).
    pub service: Option<String>,
    /// Root span name; `null` when the root was not seen.
    pub workflow: Option<String>,
    /// Cost of every counted call in the trace.
    #[serde(with = "usd")]
    pub total_usd: Usd,
    /// Counted calls (priced, provided and unpriced).
    pub llm_calls: u64,
    /// Calls that could not be priced.
    pub unpriced_calls: u64,
    /// Input tokens of counted calls.
    pub input_tokens: u64,
    /// Output tokens of counted calls.
    pub output_tokens: u64,
    /// Spend by model, sorted by spend (then name).
    pub by_model: Vec<ModelCost>,
    /// `false` when the total may miss spans (no single root, eviction, timeout).
    pub complete: bool,
    /// Earliest span start to latest span end, milliseconds (rounded).
    pub duration_ms: u64,
}

/// One line of a cost-record file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A record lives between the pricing and the writer thread (or the report's reader), one at a
// time per trace: boxing the call variant would allocate per call for no saving.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// An LLM call.
    Call(CallRecord),
    /// A whole trace.
    Trace(TraceRecord),
}

impl Record {
    /// The record as one JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        // Serialising these plain structs cannot fail (string keys, no maps with other keys).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The records of one trace: its calls, in span order, then the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecords {
    /// One record per counted call.
    pub calls: Vec<CallRecord>,
    /// The trace.
    pub trace: TraceRecord,
}

impl TraceRecords {
    /// Calls then the trace, as [`Record`]s.
    pub fn into_records(self) -> Vec<Record> {
        let mut v: Vec<Record> = self.calls.into_iter().map(Record::Call).collect();
        v.push(Record::Trace(self.trace));
        v
    }
}

/// Exact decimal strings for [`Usd`].
mod usd {
    use super::Usd;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Usd, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Usd, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Usd::parse(&s).map_err(|e| serde::de::Error::custom(format!("'{s}': {e}")))
    }
}

/// Optional exact decimal strings for [`Usd`] (`null` when absent).
mod usd_opt {
    use super::Usd;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Usd>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Usd>, D::Error> {
        match Option::<std::borrow::Cow<str>>::deserialize(d)? {
            None => Ok(None),
            Some(s) => Usd::parse(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("'{s}': {e}"))),
        }
    }
}

/// Lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(D[usize::from(x >> 4)]));
        s.push(char::from(D[usize::from(x & 15)]));
    }
    s
}

/// RFC 3339 (UTC) of Unix nanoseconds; the epoch for out-of-range values.
pub(crate) fn rfc3339(nanos: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Milliseconds between two Unix-nanosecond instants, rounded; 0 when `end < start`.
pub(crate) fn duration_ms(start: u64, end: u64) -> u64 {
    end.saturating_sub(start).saturating_add(500_000) / 1_000_000
}

/// An `f64` dollar attribute as exact decimal: its shortest round-trip form, or 15 decimals.
pub(crate) fn usd_from_f64(f: f64) -> Option<Usd> {
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    Usd::parse(&f.to_string())
        .or_else(|_| Usd::parse(&format!("{f:.15}")))
        .ok()
}

fn usd_attr<V: SpanView + ?Sized>(span: &V, key: &str) -> Option<Usd> {
    match span.attr(key)? {
        AttrValue::F64(f) => usd_from_f64(f),
        AttrValue::I64(i) => u128::try_from(i)
            .ok()
            .map(|i| Usd::from_femto(i.saturating_mul(1_000_000_000_000_000))),
        AttrValue::Str(s) => Usd::parse(s).ok(),
        _ => None,
    }
}

fn count_attr<V: SpanView + ?Sized>(span: &V, key: &str) -> Option<u64> {
    match span.attr(key)? {
        AttrValue::I64(i) => u64::try_from(i).ok(),
        AttrValue::F64(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Some(f as u64),
        AttrValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn str_attr<'a, V: SpanView + ?Sized>(span: &'a V, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| match span.attr(key) {
        Some(AttrValue::Str(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    })
}

/// The call record of one span, when the engine counted it as a call (`cost.pricing.status`
/// under `prefix` is `priced`, `provided`, `unknown_model` or `invalid_usage`). `workflow`: the
/// root span's name.
pub fn call_record<S: RecordSpan + ?Sized>(
    span: &S,
    workflow: Option<&str>,
    prefix: &str,
) -> Option<CallRecord> {
    let key = |s: &str| format!("{prefix}{s}");
    let status = match span.attr(&key(ours::PRICING_STATUS))? {
        AttrValue::Str(s) => CallStatus::from_attr(s)?,
        _ => return None,
    };
    // Token details the engine does not write: read them as the engine did.
    let ex = extract(span, &ExtractOptions::default(), prefix, |_| None);
    let usage = match ex.usage {
        UsageState::Valid(u) => u,
        _ => Default::default(),
    };
    let priced = matches!(status, CallStatus::Priced | CallStatus::Provided);
    let cost = priced
        .then(|| {
            usd_attr(span, &key(ours::TOTAL_USD))
                .or_else(|| usd_attr(span, k::LLM_COST_TOTAL))
                .or_else(|| usd_attr(span, k::GEN_AI_USAGE_COST))
        })
        .flatten();
    let side = |ours_key: &str, llm_key: &str| {
        cost.and_then(|_| usd_attr(span, &key(ours_key)).or_else(|| usd_attr(span, llm_key)))
    };
    let model = match span.attr(&key(ours::PRICING_MODEL)) {
        Some(AttrValue::Str(s)) if !s.is_empty() => Some(s.to_owned()),
        _ => str_attr(span, &k::MODEL_KEYS).map(str::to_owned),
    };
    Some(CallRecord {
        time: rfc3339(span.start_unix_nanos()),
        trace_id: hex(&span.trace_id()),
        span_id: hex(&span.span_id()),
        parent_span_id: span.parent_span_id().map(|p| hex(&p)),
        service: SpanView::service_name(span).map(str::to_owned),
        workflow: workflow.map(str::to_owned),
        span_name: SpanView::name(span).to_owned(),
        model,
        provider: str_attr(span, &k::PROVIDER_KEYS).map(crate::provider::canonical),
        status,
        input_tokens: count_attr(span, &key(ours::INPUT_TOKENS)).unwrap_or(usage.input_total),
        output_tokens: count_attr(span, &key(ours::OUTPUT_TOKENS)).unwrap_or(usage.output_total),
        cache_read_tokens: usage.cache_read,
        cache_write_tokens: usage.cache_write_5m.saturating_add(usage.cache_write_1h),
        reasoning_tokens: usage.reasoning,
        cost_usd: cost,
        input_cost_usd: side(ours::INPUT_USD, k::LLM_COST_PROMPT),
        output_cost_usd: side(ours::OUTPUT_USD, k::LLM_COST_COMPLETION),
        duration_ms: duration_ms(span.start_unix_nanos(), span.end_unix_nanos()),
        units: usage
            .other
            .iter()
            .map(|(u, n)| (u.id().to_owned(), n))
            .collect(),
        charges_usd: CHARGES
            .into_iter()
            .filter_map(|(name, k)| Some((name.to_owned(), usd_attr(span, &key(k))?.to_string())))
            .collect(),
        unpriced_units: count_attr(span, &key(ours::CHARGES_UNPRICED_UNITS)).unwrap_or(0),
    })
}

/// The root of a trace: the earliest-starting span without a parent.
pub(crate) fn root_index<S: SpanView>(spans: &[S]) -> Option<usize> {
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.parent_span_id().is_none())
        .min_by_key(|(i, s)| (s.start_unix_nanos(), *i))
        .map(|(i, _)| i)
}

/// Call and trace records of a priced trace (spans after
/// [`Engine::price_trace`](crate::engine::Engine::price_trace), or spans a gateway or processor already
/// priced). `complete`: whether the caller holds the whole trace; the record says `false` as
/// well when the trace has no single root or the root says `cost.complete=false`.
pub fn trace_records<S: RecordSpan>(spans: &[S], complete: bool, prefix: &str) -> TraceRecords {
    let workflow = root_index(spans).map(|i| SpanView::name(&spans[i]));
    let calls: Vec<CallRecord> = spans
        .iter()
        .filter_map(|s| call_record(s, workflow, prefix))
        .collect();
    let trace = trace_record(spans, &calls, complete, prefix);
    TraceRecords { calls, trace }
}

/// The trace record of `spans`, whose call records are `calls`.
pub(crate) fn trace_record<S: RecordSpan>(
    spans: &[S],
    calls: &[CallRecord],
    complete: bool,
    prefix: &str,
) -> TraceRecord {
    let root = root_index(spans);
    let roots = spans
        .iter()
        .filter(|s| s.parent_span_id().is_none())
        .count();
    let root_complete = root.is_none_or(|i| {
        !matches!(
            spans[i].attr(&format!("{prefix}{}", ours::COMPLETE)),
            Some(AttrValue::Bool(false))
        )
    });
    let first = spans
        .iter()
        .map(SpanView::start_unix_nanos)
        .min()
        .unwrap_or(0);
    let last = spans
        .iter()
        .map(RecordSpan::end_unix_nanos)
        .max()
        .unwrap_or(0);
    let start = root.map_or(first, |i| spans[i].start_unix_nanos());
    let mut by_model: Vec<ModelCost> = Vec::new();
    let (mut total, mut unpriced, mut input, mut output) = (Usd::ZERO, 0u64, 0u64, 0u64);
    for c in calls {
        input = input.saturating_add(c.input_tokens);
        output = output.saturating_add(c.output_tokens);
        match c.cost_usd {
            Some(cost) => {
                total += cost;
                let model = c.model.as_deref().unwrap_or("unknown");
                match by_model.iter_mut().find(|m| m.model == model) {
                    Some(m) => {
                        m.calls += 1;
                        m.cost_usd += cost;
                    }
                    None => by_model.push(ModelCost {
                        model: model.to_owned(),
                        calls: 1,
                        cost_usd: cost,
                    }),
                }
            }
            None => unpriced += 1,
        }
    }
    by_model.sort_by(|a, b| b.cost_usd.cmp(&a.cost_usd).then(a.model.cmp(&b.model)));
    let service = root
        .and_then(|i| SpanView::service_name(&spans[i]))
        .or_else(|| spans.iter().find_map(SpanView::service_name));
    TraceRecord {
        time: rfc3339(start),
        trace_id: spans
            .first()
            .map(|s| hex(&s.trace_id()))
            .unwrap_or_default(),
        service: service.map(str::to_owned),
        workflow: root.map(|i| SpanView::name(&spans[i]).to_owned()),
        total_usd: total,
        llm_calls: calls.len() as u64,
        unpriced_calls: unpriced,
        input_tokens: input,
        output_tokens: output,
        by_model,
        complete: complete && roots == 1 && root_complete,
        duration_ms: duration_ms(first, last),
    }
}

/// Default interval between checks that the file was not rotated.
pub const RECORD_WRITER_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Appends records to a JSONL file, one line each, and follows log rotation: when the path no
/// longer names the open file (renamed or removed, e.g. logrotate's `mv` then a new file), the
/// writer opens (creates) the path again. The check costs one `stat` and runs at most once per
/// [`RECORD_WRITER_CHECK_INTERVAL`]; [`RecordWriter::reopen`] forces it (call it on SIGHUP if
/// you prefer `copytruncate`-free rotation with a signal).
///
/// Each [`write`](RecordWriter::write) is one `write` call on a file opened in append mode, so
/// lines from one batch are never interleaved with other appenders' lines on local file
/// systems.
#[derive(Debug)]
pub struct RecordWriter {
    path: PathBuf,
    file: File,
    id: FileId,
    check_every: Duration,
    last_check: Instant,
    buf: Vec<u8>,
}

/// What identifies the open file: device and inode on Unix; elsewhere nothing (never rotated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

fn file_id(m: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileId(m.dev(), m.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        FileId(0, 0)
    }
}

impl RecordWriter {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> io::Result<RecordWriter> {
        let path = path.as_ref().to_path_buf();
        let (file, id) = Self::open_file(&path)?;
        Ok(RecordWriter {
            path,
            file,
            id,
            check_every: RECORD_WRITER_CHECK_INTERVAL,
            last_check: Instant::now(),
            buf: Vec::new(),
        })
    }

    /// Checks for rotation at most once per `interval` (default
    /// [`RECORD_WRITER_CHECK_INTERVAL`]; `Duration::ZERO` checks before every write).
    pub fn with_check_interval(mut self, interval: Duration) -> RecordWriter {
        self.check_every = interval;
        self
    }

    fn open_file(path: &Path) -> io::Result<(File, FileId)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let id = file_id(&file.metadata()?);
        Ok((file, id))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again if it no longer names the open file.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.last_check = Instant::now();
        let same = match std::fs::metadata(&self.path) {
            Ok(m) => file_id(&m) == self.id,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !same {
            let (file, id) = Self::open_file(&self.path)?;
            self.file = file;
            self.id = id;
        }
        Ok(())
    }

    /// Appends `records`, one line each, in one write.
    pub fn write(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        if self.last_check.elapsed() >= self.check_every {
            self.reopen()?;
        }
        self.buf.clear();
        for r in records {
            serde_json::to_writer(&mut self.buf, r).map_err(io::Error::other)?;
            self.buf.push(b'\n');
        }
        self.file.write_all(&self.buf)
    }

    /// Appends the records of one trace (its calls, then the trace).
    pub fn write_trace(&mut self, records: TraceRecords) -> io::Result<()> {
        self.write(&records.into_records())
    }

    /// Flushes to the operating system (writes are unbuffered; this syncs nothing to disk).
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_from_f64_keeps_what_the_engine_meant() {
        assert_eq!(
            usd_from_f64(0.00625).map(|u| u.to_string()),
            Some("0.00625".into())
        );
        assert_eq!(
            usd_from_f64(4.188).map(|u| u.to_string()),
            Some("4.188".into())
        );
        assert_eq!(
            usd_from_f64(1e-7).map(|u| u.to_string()),
            Some("0.0000001".into())
        );
        // 17 significant decimals: rounded to the femto-dollar.
        assert_eq!(
            usd_from_f64(0.1 + 0.2).map(|u| u.to_string()),
            Some("0.3".into())
        );
        assert_eq!(usd_from_f64(-1.0), None);
        assert_eq!(usd_from_f64(f64::NAN), None);
    }

    #[test]
    fn record_lines_start_with_type_and_round_trip() {
        let t = Record::Trace(TraceRecord {
            time: rfc3339(1_748_736_000_000_000_000),
            trace_id: hex(&[0xab; 16]),
            service: None,
            workflow: Some("run".into()),
            total_usd: Usd::parse("0.0125").unwrap(),
            llm_calls: 2,
            unpriced_calls: 1,
            input_tokens: 10,
            output_tokens: 5,
            by_model: vec![ModelCost {
                model: "m".into(),
                calls: 1,
                cost_usd: Usd::parse("0.0125").unwrap(),
            }],
            complete: true,
            duration_ms: 3,
        });
        let line = t.to_json_line();
        assert!(
            line.starts_with(r#"{"type":"trace","time":"2025-06-01T00:00:00Z""#),
            "{line}"
        );
        assert!(line.contains(r#""total_usd":"0.0125""#), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_money_is_a_clear_error() {
        let line = r#"{"type":"trace","time":"x","trace_id":"a","service":null,"workflow":null,"total_usd":"-1","llm_calls":0,"unpriced_calls":0,"input_tokens":0,"output_tokens":0,"by_model":[],"complete":true,"duration_ms":0}"#;
        let e = serde_json::from_str::<Record>(line)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'-1'") && e.contains("negative"), "{e}");
    }

    #[test]
    fn durations_round_to_the_millisecond() {
        assert_eq!(duration_ms(0, 1_499_999), 1);
        assert_eq!(duration_ms(0, 1_500_000), 2);
        assert_eq!(duration_ms(5, 1), 0);
    }
}
