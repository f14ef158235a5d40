//! The gateway's CPU path for benchmarks and load generation, and the fuzz targets' entry
//! points' neighbours: not part of the API, reached only through [`crate::internals`] (feature
//! `internals`). `benches/gateway.rs` and `examples/loadgen.rs` use it so that both measure the
//! gateway's real code on the same generated traces ([`crate::internals::synth`]).
//!
//! ```text
//! synth::TraceGen -> synth::request(..) -> ExportTraceServiceRequest
//!   -> GatewayPath::run: decode -> split -> assembly -> Engine::price_trace -> encode (the exporter's)
//! ```

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
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
use crate::engine::usage::{extract, ExtractOptions, UsageState};
use crate::engine::{Engine, EngineOptions};
use crate::internals::synth::{request, TraceGen};
use crate::pricing::Catalog;
use crate::semconv::DEFAULT_PREFIX;

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

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`): the gateway's own reader.
pub fn process_status_kib(pid: u32, field: &str) -> Option<u64> {
    super::process_status_kib(pid, field)
}
