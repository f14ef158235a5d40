//! Bounds on what one span can cost the gateway (issue 13, B4-B6): model and provider strings
//! are length-capped before they are looked up or become labels, the model-resolution cache is
//! bounded in bytes, pricing one model with many providers stays linear, every `/metrics` label
//! is bounded in count and length, and the counters balance at every scrape, under load too.
//!
//! Everything runs the real gateway in process on 127.0.0.1:0, with real OTLP/gRPC senders and
//! a real sink; waits are bounded and fail saying what they waited for; no duration is asserted.
#![cfg(feature = "gateway")]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gateway::*;
use common::str_attr;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;

const FAST: &str = "assembly: { root_grace: 0s, trace_timeout: 1s }";

/// A sink that keeps, per request, only the spans' count and `cost.pricing.status` values (no
/// request bodies held: tens of thousands of spans go through).
#[derive(Clone, Default)]
struct Statuses(Arc<Mutex<BTreeMap<String, u64>>>);

impl Statuses {
    fn total(&self) -> u64 {
        self.0.lock().expect("lock").values().sum()
    }
    fn of(&self, status: &str) -> u64 {
        self.0.lock().expect("lock").get(status).copied().unwrap_or(0)
    }
    /// Waits (bounded) until `n` spans arrived.
    async fn wait_for(&self, n: u64, timeout: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.total() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {timeout:?} for {what}; {} of {n} spans arrived: {:?}",
                self.total(),
                self.0.lock().expect("lock")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Statuses {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let req = request.into_inner();
        let mut m = self.0.lock().expect("lock");
        for s in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let st = str_attr(&s.attributes, "cost.pricing.status").unwrap_or_default();
            *m.entry(st).or_default() += 1;
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn start_status_sink() -> (SocketAddr, Statuses) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let c = Statuses::default();
    let svc = TraceServiceServer::new(c.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l))
            .await;
    });
    (addr, c)
}

/// An OTel GenAI call span of trace `t`, span `s` under the trace's root (span 1), with this
/// model and provider (`gen_ai.system`).
fn call(t: u64, s: u64, model: &str, provider: &str) -> Span {
    span_n(
        t,
        s,
        1,
        "chat",
        vec![
            kv_str("gen_ai.operation.name", "chat"),
            kv_str("gen_ai.system", provider),
            kv_str("gen_ai.request.model", model),
            kv_int("gen_ai.usage.input_tokens", 100),
            kv_int("gen_ai.usage.output_tokens", 10),
        ],
    )
}

/// Traces `ts`, each of a root (span 1) named `root` and `calls` calls (spans 2..) whose model
/// and provider `attrs(trace, span)` gives.
fn traces(
    ts: std::ops::Range<u64>,
    root: &str,
    calls: u64,
    attrs: impl Fn(u64, u64) -> (String, String),
) -> Vec<Span> {
    let mut out = Vec::new();
    for t in ts {
        out.push(span_n(t, 1, 0, root, vec![]));
        for s in 2..2 + calls {
            let (model, provider) = attrs(t, s);
            out.push(call(t, s, &model, &provider));
        }
    }
    out
}

/// Guards issue 13, B5: 100k spans of one model with distinct provider names took 31 CPU-s to
/// price (each lookup scanned a list of every provider seen with the model). Now each
/// (model, provider) pair is one cache entry, and pricing stays linear. 100,000 calls of one
/// model, each with its own 128-byte provider, through the real gateway: this debug build
/// prices them in ~10 s; the starting code (quadratic) took 16 s for 40,000 of them, so ~100 s
/// for all; the wait is bounded at 60 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_with_many_providers_prices_in_linear_time() {
    const TRACES: u64 = 1_000;
    const CALLS: u64 = 100;
    let (sink, statuses) = start_status_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let mut client = grpc_client(gw.grpc_addr().expect("grpc")).await;
    for chunk in 0..TRACES / 50 {
        let spans = traces(chunk * 50..(chunk + 1) * 50, "root", CALLS, |t, s| {
            ("gpt-4o".to_owned(), format!("{}{:08}", "x".repeat(120), t * CALLS + s))
        });
        client
            .export(request("svc", spans))
            .await
            .expect("accepted");
    }
    let n = TRACES * (CALLS + 1);
    let calls = TRACES * CALLS;
    statuses
        .wait_for(
            n,
            Duration::from_secs(60),
            "101,000 spans (100,000 calls of one model, each with its own provider) priced and delivered",
        )
        .await;
    assert_eq!(statuses.of("priced"), calls);
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
    assert_eq!(m.engine.priced, calls, "{m:?}");
}
