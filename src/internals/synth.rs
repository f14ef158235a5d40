//! The one generator of synthetic agent traces, for benchmarks, load tests and
//! `otel-llm-cost report --generate N`: deterministic, realistic OTLP spans, as protobuf
//! messages ([`request`]) or as OTLP/JSON lines ([`write_otlp_json_lines`], the Collector
//! `file` exporter's format). Not part of the API (feature `internals`).
//!
//! Each trace: a root (AGENT) and 2-5 steps (CHAIN), each with an LLM call (OpenInference or
//! GenAI usage, one of five catalog models, one call in 50 on a model the catalog does not
//! know, sometimes cached or reasoning tokens), 0-2 tool calls and sometimes a retrieval;
//! about 12.7 spans a trace, from four services. Spans come in the order they end (children
//! first, the root last).
//!
//! ```text
//! TraceGen::next_trace -> Trace (spans with their service) -> request(..) -> ExportTraceServiceRequest
//!                                                          -> write_otlp_json_lines -> OTLP/JSON lines
//! ```
#![cfg_attr(not(feature = "internals"), allow(dead_code))]

use std::fmt::Write as _;
use std::io::{self, Write};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};

/// 2025-06-01T00:00:00Z in Unix nanoseconds: the price in force is fixed.
pub const T0: u64 = 1_748_736_000_000_000_000;

/// The services a generated trace crosses, with their instrumentation scope.
pub const SERVICES: [(&str, &str); 4] = [
    ("agent-api", "openinference.instrumentation.langchain"),
    ("agent-worker", "opentelemetry.instrumentation.openai_v2"),
    ("tool-runner", "opentelemetry.instrumentation.requests"),
    ("retriever", "openinference.instrumentation.llama_index"),
];

/// Models called, with their provider: OpenInference (`llm.*`) on even picks, GenAI
/// (`gen_ai.*`) on odd ones. The last one is not in the catalog (`unknown_model`).
const MODELS: [(&str, &str); 6] = [
    ("gpt-4o-2024-08-06", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("gemini-2.0-flash", "google"),
    ("o3-mini", "openai"),
    ("acme-finetune-v3", "acme"),
];

const PROMPT: &str = "You are a helpful research agent. Answer the user's question using the \
                      tools available; cite sources and keep the answer under 200 words.";

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.to_owned()))
}

fn i(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}

/// The resource of service `i` (as an SDK would send it).
pub fn resource(i: usize) -> Resource {
    let (name, _) = SERVICES[i % SERVICES.len()];
    Resource {
        attributes: vec![
            s("service.name", name),
            s("service.version", "1.42.0"),
            s("service.instance.id", &format!("{name}-7f9c4d-{i}")),
            s("deployment.environment.name", "production"),
            s("host.name", &format!("ip-10-0-{i}-17.ec2.internal")),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.language", "python"),
            s("telemetry.sdk.version", "1.33.1"),
        ],
        ..Default::default()
    }
}

/// The instrumentation scope of service `i`.
pub fn scope(i: usize) -> InstrumentationScope {
    let (_, scope) = SERVICES[i % SERVICES.len()];
    InstrumentationScope {
        name: scope.to_owned(),
        version: "0.1.8".to_owned(),
        ..Default::default()
    }
}

/// One generated trace: spans in the order they end (children first, the root last), each with
/// the index of the service that sent it.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The trace id: bytes 0..8 the generator's sequence number, 8..16 its tag.
    pub trace_id: [u8; 16],
    /// `(service index, span)`.
    pub spans: Vec<(usize, Span)>,
}

/// A deterministic generator of agent traces: a root (AGENT), 2-5 steps (CHAIN), each with an
/// LLM call (OpenInference or GenAI usage, one of several models, sometimes cached or reasoning
/// tokens), 0-2 tool calls and sometimes a retrieval. About 12 spans per trace on average.
#[derive(Debug, Clone)]
pub struct TraceGen {
    rng: u64,
    seq: u64,
    tag: u64,
    next_span: u64,
}

impl TraceGen {
    /// A generator; `tag` goes into bytes 8..16 of every trace id (use one per sender).
    pub fn new(tag: u64) -> TraceGen {
        TraceGen {
            rng: tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            seq: 0,
            tag: tag | 1 << 63,
            next_span: 1,
        }
    }

    fn rand(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    fn span_id(&mut self) -> Vec<u8> {
        let id = self.next_span;
        self.next_span += 1;
        (id ^ self.tag).to_be_bytes().to_vec()
    }

    /// The next trace.
    pub fn next_trace(&mut self) -> Trace {
        let seq = self.seq;
        self.seq += 1;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&seq.to_be_bytes());
        trace_id[8..].copy_from_slice(&self.tag.to_be_bytes());
        let tid = trace_id.to_vec();
        let root_id = self.span_id();
        let mut spans = Vec::with_capacity(16);
        let mut t = T0 + self.rand(3_600) * 1_000_000_000;
        let start = t;
        let base = |name: &str, id: Vec<u8>, parent: Vec<u8>, kind: SpanKind| Span {
            trace_id: tid.clone(),
            span_id: id,
            parent_span_id: parent,
            name: name.to_owned(),
            kind: kind as i32,
            ..Default::default()
        };
        let steps = 2 + self.rand(4);
        for step in 0..steps {
            let step_id = self.span_id();
            let step_start = t;
            // The LLM call.
            let (model, provider) = MODELS
                [self.rand(MODELS.len() as u64 - 1) as usize + usize::from(self.rand(50) == 0)];
            let prompt = 400 + self.rand(4000) as i64;
            let completion = 50 + self.rand(800) as i64;
            let mut llm = base(
                &format!("chat {model}"),
                self.span_id(),
                step_id.clone(),
                SpanKind::Client,
            );
            llm.start_time_unix_nano = t;
            t += 300_000_000 + self.rand(2_000) * 1_000_000;
            llm.end_time_unix_nano = t;
            llm.attributes = if self.rand(2) == 0 {
                let mut a = vec![
                    s("openinference.span.kind", "LLM"),
                    s("llm.model_name", model),
                    s("llm.provider", provider),
                    s("llm.system", provider),
                    i("llm.token_count.prompt", prompt),
                    i("llm.token_count.completion", completion),
                    i("llm.token_count.total", prompt + completion),
                    s("llm.invocation_parameters", "{\"temperature\": 0.2}"),
                    s("input.value", PROMPT),
                    s("input.mime_type", "text/plain"),
                ];
                if self.rand(3) == 0 {
                    a.push(i("llm.token_count.prompt_details.cache_read", prompt / 2));
                }
                a
            } else {
                let mut a = vec![
                    s("gen_ai.operation.name", "chat"),
                    s("gen_ai.system", provider),
                    s("gen_ai.request.model", model),
                    s("gen_ai.response.model", model),
                    s("gen_ai.response.id", "chatcmpl-9xK2vQ7aLmN3pR8sT1uV"),
                    i("gen_ai.usage.input_tokens", prompt),
                    i("gen_ai.usage.output_tokens", completion),
                    kv(
                        "gen_ai.request.temperature",
                        any_value::Value::DoubleValue(0.2),
                    ),
                    s("server.address", "api.example-llm.com"),
                ];
                if model.starts_with("o3") {
                    a.push(i("gen_ai.usage.reasoning.output_tokens", completion / 2));
                }
                a
            };
            spans.push((1, llm));
            // Tools and retrieval.
            for _ in 0..self.rand(3) {
                let mut tool = base(
                    "tool web_search",
                    self.span_id(),
                    step_id.clone(),
                    SpanKind::Internal,
                );
                tool.start_time_unix_nano = t;
                t += 50_000_000 + self.rand(500) * 1_000_000;
                tool.end_time_unix_nano = t;
                tool.attributes = vec![
                    s("openinference.span.kind", "TOOL"),
                    s("tool.name", "web_search"),
                    s("http.request.method", "GET"),
                    s(
                        "url.full",
                        "https://search.internal/v1/search?q=llm+pricing",
                    ),
                    i("http.response.status_code", 200),
                    s("input.value", "{\"q\": \"llm pricing\"}"),
                ];
                spans.push((2, tool));
            }
            if self.rand(3) == 0 {
                let mut r = base(
                    "retrieve",
                    self.span_id(),
                    step_id.clone(),
                    SpanKind::Internal,
                );
                r.start_time_unix_nano = t;
                t += 20_000_000;
                r.end_time_unix_nano = t;
                r.attributes = vec![
                    s("openinference.span.kind", "RETRIEVER"),
                    s("db.system", "qdrant"),
                    s("db.collection.name", "docs"),
                    i("retrieval.top_k", 8),
                ];
                spans.push((3, r));
            }
            let mut st = base(
                &format!("step {step}"),
                step_id,
                root_id.clone(),
                SpanKind::Internal,
            );
            st.start_time_unix_nano = step_start;
            st.end_time_unix_nano = t;
            st.attributes = vec![
                s("openinference.span.kind", "CHAIN"),
                i("agent.step", step as i64),
            ];
            spans.push((1, st));
        }
        let mut root = base("agent.run research", root_id, Vec::new(), SpanKind::Server);
        root.start_time_unix_nano = start;
        root.end_time_unix_nano = t;
        root.attributes = vec![
            s("openinference.span.kind", "AGENT"),
            s("session.id", "b7f1c0de-5a1e-4f00-9d2b-3c4d5e6f7a8b"),
            s("user.id", "user-1842"),
            s("http.route", "/v1/agents/research/run"),
            s(
                "input.value",
                "What did LLM inference cost per million tokens in 2025?",
            ),
        ];
        spans.push((0, root));
        Trace { trace_id, spans }
    }

    /// Whole traces until at least `n` spans.
    pub fn spans(&mut self, n: usize) -> Vec<(usize, Span)> {
        let mut out = Vec::with_capacity(n + 32);
        while out.len() < n {
            out.extend(self.next_trace().spans);
        }
        out
    }
}

/// A request as SDKs send it: one `ResourceSpans` per service (each with its scope), spans in
/// the order given.
pub fn request(spans: Vec<(usize, Span)>) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for (svc, span) in spans {
        by_service[svc % SERVICES.len()].push(span);
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, spans)| ResourceSpans {
                resource: Some(resource(i)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope(i)),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// Whole traces per OTLP/JSON line: at least this many spans (the last trace completes it).
const SPANS_PER_LINE: usize = 512;

/// Writes at least `spans` spans (whole traces) of a generator tagged `seed` as OTLP/JSON
/// lines, about 512 spans a line, each line a [`request`]; returns the spans
/// written.
pub fn write_otlp_json_lines(spans: u64, seed: u64, out: &mut dyn Write) -> io::Result<u64> {
    let mut g = TraceGen::new(seed);
    let mut written = 0u64;
    let mut line = String::new();
    while written < spans {
        let mut batch = Vec::with_capacity(SPANS_PER_LINE + 32);
        while batch.len() < SPANS_PER_LINE && written + (batch.len() as u64) < spans {
            batch.extend(g.next_trace().spans);
        }
        written += batch.len() as u64;
        line.clear();
        json_request(&request(batch), &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(written)
}

/// A request as OTLP/JSON (proto3 JSON mapping: hex ids, 64-bit integers as strings).
fn json_request(r: &ExportTraceServiceRequest, o: &mut String) {
    o.push_str(r#"{"resourceSpans":["#);
    for (i, rs) in r.resource_spans.iter().enumerate() {
        comma(o, i);
        o.push_str(r#"{"resource":{"attributes":"#);
        json_attrs(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes), o);
        o.push_str(r#"},"scopeSpans":["#);
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            comma(o, j);
            o.push_str(r#"{"scope":{"name":"#);
            let (name, version) = ss
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            json_str(name, o);
            o.push_str(r#","version":"#);
            json_str(version, o);
            o.push_str(r#"},"spans":["#);
            for (k, s) in ss.spans.iter().enumerate() {
                comma(o, k);
                json_span(s, o);
            }
            o.push_str("]}");
        }
        o.push_str("]}");
    }
    o.push_str("]}");
}

fn json_span(s: &Span, o: &mut String) {
    o.push_str(r#"{"traceId":""#);
    hex(&s.trace_id, o);
    o.push_str(r#"","spanId":""#);
    hex(&s.span_id, o);
    o.push('"');
    if !s.parent_span_id.is_empty() {
        o.push_str(r#","parentSpanId":""#);
        hex(&s.parent_span_id, o);
        o.push('"');
    }
    o.push_str(r#","name":"#);
    json_str(&s.name, o);
    let _ = write!(
        o,
        r#","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":"#,
        s.kind, s.start_time_unix_nano, s.end_time_unix_nano
    );
    json_attrs(&s.attributes, o);
    o.push('}');
}

fn json_attrs(attrs: &[KeyValue], o: &mut String) {
    o.push('[');
    for (i, kv) in attrs.iter().enumerate() {
        comma(o, i);
        o.push_str(r#"{"key":"#);
        json_str(&kv.key, o);
        o.push_str(r#","value":{"#);
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(v)) => {
                o.push_str(r#""stringValue":"#);
                json_str(v, o);
            }
            Some(any_value::Value::IntValue(v)) => {
                let _ = write!(o, r#""intValue":"{v}""#);
            }
            Some(any_value::Value::DoubleValue(v)) => {
                let _ = write!(o, r#""doubleValue":{v:?}"#);
            }
            Some(any_value::Value::BoolValue(v)) => {
                let _ = write!(o, r#""boolValue":{v}"#);
            }
            // The generator writes no other kind.
            _ => {}
        }
        o.push_str("}}");
    }
    o.push(']');
}

fn comma(o: &mut String, i: usize) {
    if i > 0 {
        o.push(',');
    }
}

fn hex(b: &[u8], o: &mut String) {
    for x in b {
        let _ = write!(o, "{x:02x}");
    }
}

/// A JSON string literal (serde_json's escaping).
fn json_str(s: &str, o: &mut String) {
    o.push_str(&serde_json::Value::from(s).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp_json::{request as decode, Cx, Keep};

    /// The OTLP/JSON lines are the protobuf requests, written faithfully: each line, decoded by
    /// the crate's OTLP/JSON decoder, equals the request the same generator makes.
    #[test]
    fn json_lines_decode_to_the_generators_requests() {
        let mut out = Vec::new();
        let written = write_otlp_json_lines(2_000, 7, &mut out).expect("in memory");
        let mut again = TraceGen::new(7);
        let (mut lines, mut spans) = (0, 0u64);
        for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut refused = Vec::new();
            let mut note = |m: String| refused.push(m);
            let got = decode(line, &mut Cx::new(Keep::ALL, &mut note)).expect("decodes");
            assert!(refused.is_empty(), "{refused:?}");
            let n: usize = got
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            let mut batch = Vec::new();
            while batch.len() < n {
                batch.extend(again.next_trace().spans);
            }
            assert_eq!(got, request(batch), "line {lines}");
            lines += 1;
            spans += n as u64;
        }
        assert_eq!(spans, written);
        assert!((2_000..2_000 + 40).contains(&written), "{written}");
        assert_eq!(lines, 4, "about {SPANS_PER_LINE} spans a line");
    }
}
