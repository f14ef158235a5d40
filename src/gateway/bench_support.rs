//! Benchmark and load-generation support. Not part of the API: hidden from the docs, may change
//! in any release. `benches/gateway.rs` and `examples/loadgen.rs` use it so that both measure the
//! gateway's real code on the same realistic traces.
//!
//! ```text
//! TraceGen (agent traces, several services, OpenInference + GenAI across models)
//!   -> request(..) -> ExportTraceServiceRequest
//!   -> GatewayPath::run: decode -> split -> assembly -> Engine::price_trace -> encode (the exporter's)
//! ```
#![doc(hidden)]

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// The gateway's gRPC codecs on raw bytes: a client sending encoded `ExportTraceServiceRequest`
/// bytes (the exporter's), and a server taking a request's bytes as they are (the receiver's).
pub use super::export::EncodedCodec as BytesClientCodec;
pub use super::grpc::RawCodec as BytesServerCodec;
pub use super::otlp::EXPORT_PATH;

use super::assembly::{Assembler, ManualClock, Release};
use super::config::AssemblyConfig;
use super::export::{encode_within, BatchLimits};
use super::pipeline::price_release;
use super::proto_span::{split, GatewaySpan};
use super::receive::decode_request;
use crate::engine::{Engine, EngineOptions};
use crate::pricing::Catalog;
use crate::semconv::DEFAULT_PREFIX;
use crate::usage::{extract, ExtractOptions, UsageState};

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

/// `n` spans or a little more (whole traces), encoded, from a generator tagged `tag`.
pub fn encoded_batch(tag: u64, n: usize) -> Vec<u8> {
    request(TraceGen::new(tag).spans(n)).encode_to_vec()
}

/// An engine over the embedded catalog with default options, as `serve` builds it.
fn engine() -> Result<Engine, String> {
    let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
    Ok(Engine::new(Arc::new(catalog), EngineOptions::default()))
}

/// Spans as the gateway holds them (opaque).
#[derive(Debug, Clone)]
pub struct Spans(Vec<GatewaySpan>);

impl Spans {
    /// Splits a request as the receivers do.
    pub fn split(req: ExportTraceServiceRequest) -> Spans {
        Spans(split(req).spans)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first span that carries LLM usage, alone.
    pub fn first_llm(&self) -> Option<Spans> {
        self.0
            .iter()
            .find(|s| {
                s.span
                    .attributes
                    .iter()
                    .any(|kv| kv.key == "llm.token_count.prompt")
            })
            .map(|s| Spans(vec![s.clone()]))
    }
}

/// The gateway's CPU path without the network: the same functions the receivers, the assembly,
/// the pipeline's release and the exporter's batching call.
#[derive(Debug)]
pub struct GatewayPath {
    engine: Engine,
    assembler: Assembler,
    clock: Arc<ManualClock>,
    grace: Duration,
    limits: AssemblyConfig,
    extract: ExtractOptions,
}

impl GatewayPath {
    /// Default assembly limits, embedded catalog, default pricing options.
    pub fn new() -> Result<GatewayPath, String> {
        let limits = AssemblyConfig::default();
        let clock = Arc::new(ManualClock::default());
        Ok(GatewayPath {
            engine: engine()?,
            grace: limits.root_grace,
            assembler: Assembler::new(limits.clone(), clock.clone()),
            limits,
            clock,
            extract: ExtractOptions::default(),
        })
    }

    /// A new, empty assembly buffer. The benches send the same traces every iteration: with the
    /// buffer of the previous iteration, which remembers them as released, every span would
    /// take the late-span path (priced alone) instead of being assembled into its trace.
    fn fresh_assembler(&mut self) {
        self.assembler = Assembler::new(self.limits.clone(), self.clock.clone());
    }

    /// Usage extraction only, over every span; returns how many carried usage.
    pub fn extract_usage(&self, spans: &Spans) -> usize {
        spans
            .0
            .iter()
            .filter(|s| {
                let ex = extract(*s, &self.extract, DEFAULT_PREFIX, |_| None);
                matches!(ex.usage, UsageState::Valid(_))
            })
            .count()
    }

    /// Enriches the spans as one trace (price, roll up, write attributes).
    pub fn enrich(&self, spans: &mut Spans) {
        self.engine.price_trace(&mut spans.0, true);
    }

    /// Adds the spans to the assembly (one lock's worth, as one request), then lets the root
    /// grace pass and releases what is due; returns the number of spans released.
    pub fn assemble(&mut self, spans: Spans) -> usize {
        self.fresh_assembler();
        let mut out: Vec<Release> = Vec::new();
        self.assembler.add_all(spans.0, &mut out);
        self.clock.advance(self.grace);
        self.assembler.poll(&mut out);
        self.assembler.drain(&mut out);
        out.iter().map(|r| r.spans.len()).sum()
    }

    /// One request through the gateway: decode, split, assembly, (pricing when `price`),
    /// encode as the exporter does. Returns the encoded export request.
    pub fn run(&mut self, bytes: &[u8], price: bool) -> Result<Vec<bytes::Bytes>, String> {
        let req = decode_request(bytes)?;
        let s = split(req);
        self.fresh_assembler();
        let mut releases = Vec::new();
        self.assembler.add_all(s.spans, &mut releases);
        self.clock.advance(self.grace);
        self.assembler.poll(&mut releases);
        self.assembler.drain(&mut releases);
        let mut out = Vec::new();
        for mut r in releases {
            if price {
                price_release(&self.engine, &mut r);
            }
            out.append(&mut r.spans);
        }
        Ok(exported(out))
    }
}

/// The exporter's encoding, as one push of the whole batch (no batch limits: one request).
fn exported(spans: Vec<GatewaySpan>) -> Vec<bytes::Bytes> {
    encode_within(spans, BatchLimits::default())
        .into_iter()
        .map(|(b, _)| b)
        .collect()
}

/// Decode, split into spans and encode with the exporter's encoder (no assembly, no pricing):
/// the ceiling as the gateway's own encoder would set it.
pub fn decode_encode_wire(bytes: &[u8]) -> Result<Vec<bytes::Bytes>, String> {
    Ok(exported(split(decode_request(bytes)?).spans))
}

/// The ceiling: plain prost decode + encode of the same bytes.
pub fn decode_encode(bytes: &[u8]) -> Result<Vec<u8>, String> {
    Ok(decode_request(bytes)?.encode_to_vec())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 if unknown).
fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time (user + system) a process has used, in seconds (Linux `/proc/<pid>/stat`).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), closed by ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / clk_tck())
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn process_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
