//! Gateway test helpers: a fault-injecting OTLP/gRPC sink, an OTLP/HTTP capture sink, span
//! builders and a gateway on 127.0.0.1:0 ports. Everything binds loopback and every wait is
//! bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otel_llm_cost::gateway::config::GatewayConfig;
use otel_llm_cost::gateway::Gateway;
use otel_llm_cost::gateway::RunningGateway;
use prost::Message;

use super::Captured;

/// What a fault-injecting sink answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Accept and capture.
    Ok,
    /// Capture at once, answer OK after this long (a slow downstream: batches stay in flight).
    OkAfter(Duration),
    /// Accept, capture, and report `n` rejected spans (partial success).
    Partial(i64),
    /// Fail with this gRPC code (nothing captured).
    Grpc(tonic::Code),
    /// Fail with this HTTP status and optional Retry-After seconds (nothing captured).
    Http(u16, Option<u64>),
    /// Never answer (a hung downstream); the caller's timeout ends the request.
    Hang,
}

/// A sink whose answers are scripted: the queue is consumed first, then `default` applies.
#[derive(Clone)]
pub struct Faults {
    pub captured: Captured,
    script: Arc<Mutex<Vec<Answer>>>,
    default: Arc<Mutex<Answer>>,
    /// Requests seen (accepted or not).
    pub attempts: Arc<AtomicUsize>,
}

impl Faults {
    pub fn new(default: Answer) -> Faults {
        Faults {
            captured: Captured::default(),
            script: Arc::new(Mutex::new(Vec::new())),
            default: Arc::new(Mutex::new(default)),
            attempts: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Answers these first, in order.
    pub fn then(self, answers: Vec<Answer>) -> Faults {
        *self.script.lock().expect("script lock") = answers;
        self
    }

    /// Changes the answer from now on.
    pub fn set(&self, a: Answer) {
        *self.default.lock().expect("default lock") = a;
    }

    fn next(&self) -> Answer {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let mut s = self.script.lock().expect("script lock");
        if s.is_empty() {
            self.default.lock().expect("default lock").clone()
        } else {
            s.remove(0)
        }
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

struct GrpcFaultSink(Faults);

#[tonic::async_trait]
impl TraceService for GrpcFaultSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.0.next() {
            Answer::Ok => {
                self.0
                    .captured
                    .0
                    .lock()
                    .expect("capture lock")
                    .push(request.into_inner());
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success: None,
                }))
            }
            Answer::OkAfter(wait) => {
                self.0
                    .captured
                    .0
                    .lock()
                    .expect("capture lock")
                    .push(request.into_inner());
                tokio::time::sleep(wait).await;
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success: None,
                }))
            }
            Answer::Partial(n) => {
                self.0
                    .captured
                    .0
                    .lock()
                    .expect("capture lock")
                    .push(request.into_inner());
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: n,
                        error_message: "test sink rejects some".into(),
                    }),
                }))
            }
            Answer::Grpc(code) => Err(tonic::Status::new(code, "scripted failure")),
            Answer::Http(..) => Err(tonic::Status::internal(
                "HTTP answer scripted on a gRPC sink",
            )),
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(tonic::Status::unavailable("hung"))
            }
        }
    }
}

/// Starts a fault-injecting OTLP/gRPC sink on `addr` (use `127.0.0.1:0`).
pub async fn start_grpc_fault_sink_on(addr: SocketAddr, faults: Faults) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind sink");
    let addr = listener.local_addr().expect("local addr");
    let svc = TraceServiceServer::new(GrpcFaultSink(faults))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await;
    });
    addr
}

/// Starts a fault-injecting OTLP/gRPC sink on 127.0.0.1:0.
pub async fn start_grpc_fault_sink(faults: Faults) -> SocketAddr {
    start_grpc_fault_sink_on("127.0.0.1:0".parse().expect("addr"), faults).await
}

/// A sink that keeps only counts: distinct (trace, span) ids as [`span_n`] numbers them
/// (the last 8 bytes of each id), spans received in all (duplicates included), and
/// `cost.pricing.status` values. No request bodies in memory: floods go through it. It answers
/// each request after `delay` (a slow downstream).
#[derive(Clone, Default)]
pub struct Counting {
    ids: Arc<Mutex<std::collections::HashSet<(u64, u64)>>>,
    total: Arc<AtomicUsize>,
    statuses: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    delay: Duration,
}

impl Counting {
    /// Distinct spans received.
    pub fn distinct(&self) -> usize {
        self.ids.lock().expect("lock").len()
    }
    /// Spans received, duplicates included.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst) as u64
    }
    /// Spans received with this `cost.pricing.status` (`""`: none).
    pub fn of(&self, status: &str) -> u64 {
        self.statuses
            .lock()
            .expect("lock")
            .get(status)
            .copied()
            .unwrap_or(0)
    }
    /// Spans received by `cost.pricing.status`.
    pub fn statuses(&self) -> std::collections::BTreeMap<String, u64> {
        self.statuses.lock().expect("lock").clone()
    }
    /// Waits (bounded) until `n` distinct spans arrived; fails naming `what` and the counts.
    pub async fn wait_for(&self, n: usize, timeout: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.distinct() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {timeout:?} for {what}; {} of {n} spans arrived: {:?}",
                self.distinct(),
                self.statuses.lock().expect("lock")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Counting {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let req = request.into_inner();
        let mut ids = self.ids.lock().expect("lock");
        let mut statuses = self.statuses.lock().expect("lock");
        let last8 = |b: &[u8]| {
            let tail = b.get(b.len().saturating_sub(8)..).unwrap_or_default();
            u64::from_be_bytes(tail.try_into().unwrap_or([0; 8]))
        };
        for s in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            ids.insert((last8(&s.trace_id), last8(&s.span_id)));
            let st = super::str_attr(&s.attributes, "cost.pricing.status").unwrap_or_default();
            *statuses.entry(st).or_default() += 1;
            self.total.fetch_add(1, Ordering::SeqCst);
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts a [`Counting`] sink on 127.0.0.1:0 answering at once (gzip accepted, requests up to
/// 64 MiB).
pub async fn start_counting_sink() -> (SocketAddr, Counting) {
    start_counting_sink_with_delay(Duration::ZERO).await
}

/// Starts a [`Counting`] sink on 127.0.0.1:0 answering each request after `delay`.
pub async fn start_counting_sink_with_delay(delay: Duration) -> (SocketAddr, Counting) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let c = Counting {
        delay,
        ..Counting::default()
    };
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

/// Starts an OTLP/HTTP sink (`POST /v1/traces`, protobuf, gzip or not) on 127.0.0.1:0.
pub async fn start_http_sink(faults: Faults) -> SocketAddr {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind http sink");
    let addr = listener.local_addr().expect("local addr");
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let faults = faults.clone();
                async move {
                    let gz = headers
                        .get(header::CONTENT_ENCODING)
                        .is_some_and(|v| v.as_bytes() == b"gzip");
                    let raw = if gz {
                        let mut out = Vec::new();
                        std::io::Read::read_to_end(
                            &mut flate2::read::GzDecoder::new(&body[..]),
                            &mut out,
                        )
                        .expect("gunzip");
                        out
                    } else {
                        body.to_vec()
                    };
                    let resp = |ps: Option<ExportTracePartialSuccess>| {
                        (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "application/x-protobuf")],
                            ExportTraceServiceResponse {
                                partial_success: ps,
                            }
                            .encode_to_vec(),
                        )
                            .into_response()
                    };
                    match faults.next() {
                        Answer::Ok => {
                            let req = ExportTraceServiceRequest::decode(raw.as_slice())
                                .expect("sink decodes protobuf");
                            faults.captured.0.lock().expect("capture lock").push(req);
                            resp(None)
                        }
                        Answer::OkAfter(wait) => {
                            let req = ExportTraceServiceRequest::decode(raw.as_slice())
                                .expect("sink decodes protobuf");
                            faults.captured.0.lock().expect("capture lock").push(req);
                            tokio::time::sleep(wait).await;
                            resp(None)
                        }
                        Answer::Partial(n) => {
                            let req = ExportTraceServiceRequest::decode(raw.as_slice())
                                .expect("sink decodes protobuf");
                            faults.captured.0.lock().expect("capture lock").push(req);
                            resp(Some(ExportTracePartialSuccess {
                                rejected_spans: n,
                                error_message: "test sink rejects some".into(),
                            }))
                        }
                        Answer::Http(code, retry_after) => {
                            let mut r = (
                                StatusCode::from_u16(code).expect("status"),
                                "scripted failure",
                            )
                                .into_response();
                            if let Some(s) = retry_after {
                                r.headers_mut().insert(
                                    header::RETRY_AFTER,
                                    s.to_string().parse().expect("header"),
                                );
                            }
                            r
                        }
                        Answer::Grpc(_) => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "gRPC answer scripted on an HTTP sink",
                        )
                            .into_response(),
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            StatusCode::SERVICE_UNAVAILABLE.into_response()
                        }
                    }
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A gateway on 127.0.0.1:0 ports exporting to `exporter_url`, with `extra` YAML added (top-level
/// sections other than `telemetry` and `exporter`; a `receivers:` section replaces the default
/// one) and `exporter_extra` lines added under `exporter:` (indent them by two spaces). No
/// environment variables are read.
pub async fn start_gateway(
    exporter_url: &str,
    exporter_extra: &str,
    extra: &str,
) -> RunningGateway {
    let receivers = if extra.contains("receivers:") {
        ""
    } else {
        "receivers: { otlp: { protocols: { grpc: { endpoint: '127.0.0.1:0' }, http: { endpoint: '127.0.0.1:0' } } } }"
    };
    let retry = if exporter_extra.contains("retry:") {
        ""
    } else {
        "  retry: { initial_interval: 20ms, max_interval: 100ms, max_elapsed_time: 20s }"
    };
    let yaml = format!(
        r#"
{receivers}
telemetry:
  metrics: {{ endpoint: "127.0.0.1:0" }}
  logs: {{ level: debug }}
exporter:
  endpoint: "{exporter_url}"
{retry}
{exporter_extra}
{extra}
"#
    );
    let cfg = GatewayConfig::from_yaml("test", &yaml, None).expect("test config parses");
    let settings = cfg.resolve(&|_| None).expect("test config is valid");
    Gateway::builder(settings)
        .start()
        .await
        .expect("gateway starts")
}

/// A string `KeyValue`.
pub fn kv_str(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

/// An integer `KeyValue`.
pub fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

/// 2025-06-01T00:00:00Z in Unix nanoseconds: a fixed start time, so the price in force is fixed.
pub const T0: u64 = 1_748_736_000_000_000_000;

/// A span of trace `t` with id `s` and parent `p` (0 = root).
pub fn span(t: u8, s: u8, p: u8, name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![t; 16],
        span_id: vec![s; 8],
        parent_span_id: if p == 0 { Vec::new() } else { vec![p; 8] },
        name: name.to_owned(),
        kind: 1,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1_000_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

/// An OpenInference LLM call span's attributes.
pub fn llm(model: &str, prompt: i64, completion: i64) -> Vec<KeyValue> {
    vec![
        kv_str("openinference.span.kind", "LLM"),
        kv_str("llm.model_name", model),
        kv_str("llm.provider", "openai"),
        kv_int("llm.token_count.prompt", prompt),
        kv_int("llm.token_count.completion", completion),
    ]
}

/// A request with one resource (`service.name`) holding `spans`.
pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test-scope".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends a request to the gateway's gRPC receiver.
pub async fn send_grpc(
    addr: SocketAddr,
    req: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to gateway");
    tokio::time::timeout(Duration::from_secs(10), client.export(req))
        .await
        .expect("gRPC export answered within 10 s")
        .map(tonic::Response::into_inner)
}

/// POSTs a body to the gateway's HTTP receiver; returns status, headers and body.
pub async fn post_http(
    addr: SocketAddr,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    otel_llm_cost::gateway::install_default_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut rb = client
        .post(format!("http://{addr}/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = content_encoding {
        rb = rb.header("content-encoding", e);
    }
    let r = rb.send().await.expect("HTTP request answered");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

/// GETs the gateway's `/metrics` text.
pub async fn scrape(gw: &RunningGateway) -> String {
    scrape_addr(gw.metrics_addr().expect("metrics enabled")).await
}

/// GETs `/metrics` at `addr` (e.g. of a gateway process).
pub async fn scrape_addr(addr: SocketAddr) -> String {
    otel_llm_cost::gateway::install_default_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text")
}

/// Sum of a metric's samples in Prometheus text (all label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Checks the /metrics invariant: received = exported + not delivered + buffered + pricing +
/// queued + exporting.
pub fn assert_balanced(text: &str) {
    let received = metric_sum(text, "otel_llm_cost_spans_received_total");
    let rhs = metric_sum(text, "otel_llm_cost_spans_exported_total")
        + metric_sum(text, "otel_llm_cost_spans_not_delivered_total")
        + metric_sum(text, "otel_llm_cost_spans_buffered")
        + metric_sum(text, "otel_llm_cost_spans_pricing")
        + metric_sum(text, "otel_llm_cost_spans_queued")
        + metric_sum(text, "otel_llm_cost_spans_exporting");
    assert_eq!(
        received, rhs,
        "received != exported + not delivered + in the gateway:\n{text}"
    );
}

/// Waits (bounded) until `f` holds.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Finds a captured span by name.
pub fn by_name<'a>(spans: &'a [(Option<String>, Span)], name: &str) -> &'a Span {
    &spans
        .iter()
        .find(|(_, s)| s.name == name)
        .unwrap_or_else(|| panic!("no span named {name}"))
        .1
}

/// Asserts two USD amounts are equal to 1e-12 (they are written as f64).
#[track_caller]
pub fn assert_usd(got: Option<f64>, want: f64) {
    let got = got.expect("USD attribute present");
    assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
}

/// A gateway from a whole YAML configuration (no environment variables read).
pub async fn start_gateway_yaml(yaml: &str) -> RunningGateway {
    let cfg = GatewayConfig::from_yaml("test", yaml, None).expect("test config parses");
    let settings = cfg.resolve(&|_| None).expect("test config is valid");
    Gateway::builder(settings)
        .start()
        .await
        .expect("gateway starts")
}

/// A loopback port that refuses connections, held until [`ClosedPort::open_grpc_sink`]: bound
/// but not listening, so no other `bind(0)` (another test's sink, the gateway under test) can
/// be given it meanwhile. Bound, noted and closed, it could be handed out again while a test
/// relied on nothing listening there: the gateway then exported to whatever did.
pub struct ClosedPort {
    pub addr: SocketAddr,
    hold: Option<tokio::net::TcpSocket>,
}

impl ClosedPort {
    /// Gives the port up and serves a gRPC fault sink on it.
    pub async fn open_grpc_sink(mut self, faults: Faults) -> SocketAddr {
        drop(self.hold.take());
        start_grpc_fault_sink_on(self.addr, faults).await
    }
}

/// A [`ClosedPort`] on 127.0.0.1.
pub fn closed_port() -> ClosedPort {
    let s = tokio::net::TcpSocket::new_v4().expect("socket");
    s.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    ClosedPort {
        addr: s.local_addr().expect("addr"),
        hold: Some(s),
    }
}

/// A gRPC client to the gateway, kept across requests (a sender loop).
pub async fn grpc_client(
    addr: SocketAddr,
) -> opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient<
    tonic::transport::Channel,
> {
    opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
        format!("http://{addr}"),
    )
    .await
    .expect("connect to gateway")
}

/// Span ids (trace byte 0..16 + span id) of every captured span, as a sorted list.
pub fn captured_ids(c: &Captured) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = c
        .spans()
        .into_iter()
        .map(|(_, s)| (s.trace_id, s.span_id))
        .collect();
    v.sort();
    v
}

/// A span with a 16-byte trace id derived from `trace` and an 8-byte span id from `span`.
pub fn span_n(trace: u64, span: u64, parent: u64, name: &str, attrs: Vec<KeyValue>) -> Span {
    let mut tid = vec![0xAB; 8];
    tid.extend_from_slice(&trace.to_be_bytes());
    Span {
        trace_id: tid,
        span_id: (span + 1).to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            (parent + 1).to_be_bytes().to_vec()
        },
        name: name.to_owned(),
        kind: 1,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1_000_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`); 0 if absent.
#[cfg(feature = "internals")]
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    otel_llm_cost::internals::gateway::process_status_kib(pid, field).unwrap_or(0)
}

/// A gauge or counter's value from a `/metrics` scrape (sum of label sets).
pub async fn metric(gw: &RunningGateway, name: &str) -> f64 {
    metric_sum(&scrape(gw).await, name)
}

/// The real `otel-llm-cost serve` binary as a child process, its stderr read line by line.
#[cfg(all(feature = "cli", unix))]
pub mod process {
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::{Duration, Instant};

    /// A running `otel-llm-cost serve`.
    pub struct Serve {
        pub child: Child,
        pub lines: Arc<Mutex<Vec<String>>>,
        rx: mpsc::Receiver<String>,
    }

    impl Serve {
        /// Starts `otel-llm-cost serve --config <config> <args>` with a clean environment for
        /// the variables the gateway reads.
        pub fn start(config: &Path, args: &[&str]) -> Serve {
            Serve::start_binary(
                Path::new(env!("CARGO_BIN_EXE_otel-llm-cost")),
                config,
                args,
                None,
            )
        }

        /// As [`Serve::start`], with at most `nofile` file descriptors (`ulimit -n`, soft and
        /// hard, in a shell that then execs the gateway: the pid is the gateway's).
        pub fn start_with_fd_limit(config: &Path, nofile: u64) -> Serve {
            Serve::start_binary(
                Path::new(env!("CARGO_BIN_EXE_otel-llm-cost")),
                config,
                &[],
                Some(nofile),
            )
        }

        /// `binary serve --config <config> <args>` (another build of the gateway, e.g. a release
        /// binary to compare with), with at most `nofile` file descriptors if given.
        pub fn start_binary(
            binary: &Path,
            config: &Path,
            args: &[&str],
            nofile: Option<u64>,
        ) -> Serve {
            let mut cmd = match nofile {
                Some(n) => {
                    let mut c = Command::new("sh");
                    c.arg("-c")
                        .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                        .arg(binary);
                    c
                }
                None => Command::new(binary),
            };
            cmd.args(["serve", "--config"]).arg(config).args(args);
            Serve::spawn(cmd)
        }

        fn spawn(mut cmd: Command) -> Serve {
            let mut child = cmd
                .env_remove("RUST_LOG")
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
                .env_remove("OTEL_LLM_COST_CONFIG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start otel-llm-cost serve");
            let stderr = child.stderr.take().expect("stderr");
            let (tx, rx) = mpsc::channel();
            let lines = Arc::new(Mutex::new(Vec::new()));
            let all = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    all.lock().expect("lines").push(line.clone());
                    let _ = tx.send(line);
                }
            });
            Serve { child, lines, rx }
        }

        /// Everything written to stderr so far.
        pub fn stderr(&self) -> String {
            self.lines.lock().expect("lines").join("\n")
        }

        /// Waits (bounded) for a stderr line starting with `prefix`.
        pub fn wait_line(&self, prefix: &str, timeout: Duration) -> String {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(l) if l.starts_with(prefix) => return l,
                    Ok(_) => {}
                    Err(_) => panic!(
                        "no line starting with {prefix:?} within {timeout:?}; stderr:\n{}",
                        self.stderr()
                    ),
                }
            }
        }

        /// The `grpc=`, `http=` and `metrics=` addresses of the "listening" line.
        pub fn listening(&self) -> (SocketAddr, SocketAddr, SocketAddr) {
            let line = self.wait_line("otel-llm-cost: listening", Duration::from_secs(30));
            let field = |key: &str| -> SocketAddr {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{key}=")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {key}= address in {line:?}"))
            };
            (field("grpc"), field("http"), field("metrics"))
        }

        /// Sends a signal (`TERM`, `KILL`).
        pub fn signal(&self, sig: &str) {
            let ok = Command::new("kill")
                .args([&format!("-{sig}"), &self.child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(ok.success(), "kill -{sig} failed");
        }

        /// Waits (bounded) for the process to exit; kills it and panics past the timeout.
        pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(s) = self.child.try_wait().expect("wait") {
                    return s;
                }
                if Instant::now() >= deadline {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "the gateway did not exit within {timeout:?}; stderr:\n{}",
                        self.stderr()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    impl Drop for Serve {
        fn drop(&mut self) {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }

    /// A fresh temporary directory for one test.
    pub fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("otel-llm-cost-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }
}

/// Sends one trace of one LLM call (`model`, 1000 prompt tokens, 0 completion) named `name`,
/// waits for it downstream and returns its (status, cost, catalog version).
pub async fn price_one(
    gw: &RunningGateway,
    sink: &crate::common::Captured,
    trace: u8,
    name: &str,
    model: &str,
) -> (String, Option<f64>, Option<String>) {
    let before = sink.spans().len();
    send_grpc(
        gw.grpc_addr().expect("grpc"),
        request("svc", vec![span(trace, 1, 0, name, llm(model, 1000, 0))]),
    )
    .await
    .expect("accepted");
    assert_eq!(
        sink.wait_for(before + 1, Duration::from_secs(15)).await,
        before + 1,
        "span {name} exported"
    );
    let spans = sink.spans();
    let s = by_name(&spans, name);
    (
        crate::common::str_attr(&s.attributes, "cost.pricing.status").unwrap_or_default(),
        crate::common::f64_attr(&s.attributes, "llm.cost.total"),
        crate::common::str_attr(&s.attributes, "cost.pricing.catalog"),
    )
}

/// `otel_llm_cost_catalog_refresh_total{outcome}` in a scrape (-1 when absent).
pub fn refreshes(text: &str, outcome: &str) -> f64 {
    let key = format!("otel_llm_cost_catalog_refresh_total{{outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str())?.trim().parse().ok())
        .unwrap_or(-1.0)
}
