//! Load generator and fast sink for the OTLP gateway (`otel-llm-cost serve`), loopback only,
//! bounded in time and count: it always stops by itself.
//!
//! It sends realistic agent traces (a root, steps, LLM calls with OpenInference or GenAI usage
//! across several models, tool and retrieval spans, four services) over OTLP/gRPC or
//! OTLP/HTTP, at a target rate or flat out, over N connections, for a duration or a span count,
//! and reports the achieved rate, errors and export-call latency (p50/p99). With `--sink` it
//! also runs a fast OTLP/gRPC sink (counts spans, answers at once) and measures the latency the
//! gateway adds beyond `root_grace` (root span sent -> root span at the sink, minus the grace).
//! With `--gateway-pid` it reads the gateway's CPU time (utime + stime) over the run and its
//! peak RSS (VmHWM); with `--flood` it measures resident memory per buffered span instead.
//!
//! ```text
//! templates (internals::synth::TraceGen, encoded once) --patch trace ids--> N gRPC/HTTP senders --> gateway
//! gateway --OTLP/gRPC--> sink (raw bytes, spans counted, sampled roots timed)
//! ```
//!
//! ```sh
//! cargo run --release --features gateway --example loadgen -- \
//!     --target 127.0.0.1:4317 --sink 127.0.0.1:4319 --connections 4 --duration 10 --root-grace-ms 200
//! cargo run --release --features gateway --example loadgen -- --sink 127.0.0.1:4319 --duration 60   # sink only
//! ```
//!
//! Options (defaults in brackets): `--target ADDR` gateway receiver (none: sink only);
//! `--protocol grpc|http` [grpc]; `--connections N` [4]; `--batch N` spans per request [512];
//! `--rate R` spans/s in total, 0 = flat out [0]; `--duration S` [10, at most 600]; `--spans N`
//! stop after N spans [unbounded]; `--sink ADDR`; `--root-grace-ms MS` [2000]; `--drain-s S`
//! longest wait for the sink after sending [grace + 10]; `--gateway-pid PID`; `--metrics ADDR`
//! the gateway's /metrics; `--flood` (memory per buffered span; needs `--gateway-pid` and
//! `--metrics`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use otel_llm_cost::internals::gateway::{
    process_cpu_seconds, process_status_kib, BytesClientCodec, BytesServerCodec, EXPORT_PATH,
};
use otel_llm_cost::internals::synth::{request, TraceGen};
use prost::Message;
use tonic::codegen::{http, Body, Service, StdError};
use tonic::Status;

/// One trace in this many has its latency measured.
const SAMPLE: u64 = 16;
/// Hard limit of a run.
const MAX_DURATION: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Opts {
    target: Option<SocketAddr>,
    http: bool,
    connections: usize,
    batch: usize,
    rate: f64,
    duration: Duration,
    spans: u64,
    sink: Option<SocketAddr>,
    root_grace: Duration,
    drain: Option<Duration>,
    gateway_pid: Option<u32>,
    metrics: Option<SocketAddr>,
    flood: bool,
}

fn loopback(v: &str) -> Result<SocketAddr, String> {
    let a = v
        .to_socket_addrs()
        .map_err(|e| format!("address '{v}': {e}"))?
        .next()
        .ok_or_else(|| format!("address '{v}' resolves to nothing"))?;
    if !a.ip().is_loopback() {
        return Err(format!(
            "address '{v}' is not loopback; this tool only talks to 127.0.0.1 / ::1"
        ));
    }
    Ok(a)
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        target: None,
        http: false,
        connections: 4,
        batch: 512,
        rate: 0.0,
        duration: Duration::from_secs(10),
        spans: u64::MAX,
        sink: None,
        root_grace: Duration::from_secs(2),
        drain: None,
        gateway_pid: None,
        metrics: None,
        flood: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        if k == "--flood" {
            o.flood = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{k} {v}: {e}"));
        match k.as_str() {
            "--target" => o.target = Some(loopback(v)?),
            "--protocol" => {
                o.http = match v.as_str() {
                    "grpc" => false,
                    "http" => true,
                    _ => return Err(format!("--protocol {v}: grpc or http")),
                }
            }
            "--connections" => o.connections = (num(v)? as usize).clamp(1, 256),
            "--batch" => o.batch = (num(v)? as usize).clamp(1, 100_000),
            "--rate" => o.rate = num(v)?.max(0.0),
            "--duration" => o.duration = Duration::from_secs_f64(num(v)?.max(0.0)),
            "--spans" => o.spans = num(v)? as u64,
            "--sink" => o.sink = Some(loopback(v)?),
            "--root-grace-ms" => o.root_grace = Duration::from_secs_f64(num(v)? / 1000.0),
            "--drain-s" => o.drain = Some(Duration::from_secs_f64(num(v)?)),
            "--gateway-pid" => o.gateway_pid = Some(num(v)? as u32),
            "--metrics" => o.metrics = Some(loopback(v)?),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    o.duration = o.duration.min(MAX_DURATION);
    if o.target.is_none() && o.sink.is_none() {
        return Err("give --target (send), --sink (receive), or both".into());
    }
    if o.flood && (o.gateway_pid.is_none() || o.metrics.is_none() || o.target.is_none()) {
        return Err("--flood needs --target, --gateway-pid and --metrics".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Protobuf walking (no allocation): find spans, their trace ids and whether they are roots
// ---------------------------------------------------------------------------------------------

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Calls `f(field, offset, bytes)` for each length-delimited field of a message; skips others.
fn fields(b: &[u8], mut f: impl FnMut(u64, usize, &[u8])) -> Option<()> {
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        match key & 7 {
            0 => {
                varint(b, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = usize::try_from(varint(b, &mut pos)?).ok()?;
                let v = b.get(pos..pos + len)?;
                f(key >> 3, pos, v);
                pos += len;
            }
            _ => return None,
        }
    }
    Some(())
}

/// Calls `f(trace_id_offset, trace_id, is_root)` for every span of an encoded
/// `ExportTraceServiceRequest`; returns the number of spans.
fn walk_spans(req: &[u8], mut f: impl FnMut(usize, &[u8], bool)) -> u64 {
    let mut n = 0;
    let _ = fields(req, |fi, rs_off, rs| {
        if fi != 1 {
            return;
        }
        let _ = fields(rs, |fi, ss_off, ss| {
            if fi != 2 {
                return;
            }
            let _ = fields(ss, |fi, sp_off, sp| {
                if fi != 2 {
                    return;
                }
                n += 1;
                let mut tid = (0usize, 0usize);
                let mut root = true;
                let _ = fields(sp, |fi, off, v| match fi {
                    1 => tid = (off, v.len()),
                    4 if !v.is_empty() => root = false,
                    _ => {}
                });
                f(
                    rs_off + ss_off + sp_off + tid.0,
                    &sp[tid.0..tid.0 + tid.1],
                    root,
                );
            });
        });
    });
    n
}

// ---------------------------------------------------------------------------------------------
// gRPC codecs: raw bytes both ways
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Shared state: sampled send times, the sink's counts
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Shared {
    /// Run tag in bytes 8..16 of every trace id.
    tag: [u8; 8],
    next_trace: AtomicU64,
    /// Sampled trace seq -> when the request holding its root was handed to the client.
    sent_at: Mutex<HashMap<u64, Instant>>,
    sink_spans: AtomicU64,
    sink_requests: AtomicU64,
    /// Latency from root sent to root at the sink, microseconds.
    arrivals: Mutex<Vec<u64>>,
}

impl Shared {
    fn sink_saw(&self, req: &[u8], now: Instant) {
        let mut roots = Vec::new();
        let n = walk_spans(req, |_, tid, root| {
            if root && tid.len() == 16 && tid[8..] == self.tag {
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&tid[..8]);
                let seq = u64::from_be_bytes(seq);
                if seq % SAMPLE == 0 {
                    roots.push(seq);
                }
            }
        });
        if !roots.is_empty() {
            let mut lat = Vec::new();
            if let Ok(mut m) = self.sent_at.lock() {
                for s in roots {
                    if let Some(t) = m.remove(&s) {
                        lat.push(now.saturating_duration_since(t).as_micros() as u64);
                    }
                }
            }
            if let Ok(mut a) = self.arrivals.lock() {
                a.extend(lat);
            }
        }
        self.sink_requests.fetch_add(1, Ordering::Relaxed);
        self.sink_spans.fetch_add(n, Ordering::Release);
    }
}

struct SinkExport(Arc<Shared>);

impl tonic::server::UnaryService<Bytes> for SinkExport {
    type Response = ExportTraceServiceResponse;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<Self::Response>, Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move {
            shared.sink_saw(&request.into_inner(), Instant::now());
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        })
    }
}

#[derive(Clone)]
struct SinkService(Arc<Shared>);

impl<B> Service<http::Request<B>> for SinkService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(BytesServerCodec)
                .apply_max_message_size_config(Some(256 << 20), None);
            Ok(grpc.unary(SinkExport(shared), req).await)
        })
    }
}

impl tonic::server::NamedService for SinkService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

// ---------------------------------------------------------------------------------------------
// Senders
// ---------------------------------------------------------------------------------------------

/// A request encoded once, with where its trace ids are: `(offset, local trace index)`.
struct Template {
    bytes: Vec<u8>,
    /// Encoded bytes of the spans alone (without resource and scope wrappers).
    span_bytes: u64,
    ids: Vec<(usize, u64)>,
    traces: u64,
    spans: u64,
    /// Local index of each trace whose root is in the request.
    roots: Vec<u64>,
}

fn templates(conn: usize, n: usize, batch: usize) -> Vec<Template> {
    (0..n)
        .map(|k| {
            let mut tg = TraceGen::new((conn * 1000 + k) as u64 + 1);
            let req = request(tg.spans(batch));
            let span_bytes: u64 = req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| s.encoded_len() as u64)
                .sum();
            let bytes = req.encode_to_vec();
            let mut local: HashMap<Vec<u8>, u64> = HashMap::new();
            let mut ids = Vec::new();
            let mut roots = Vec::new();
            let spans = walk_spans(&bytes, |off, tid, root| {
                let next = local.len() as u64;
                let l = *local.entry(tid.to_vec()).or_insert(next);
                ids.push((off, l));
                if root {
                    roots.push(l);
                }
            });
            Template {
                bytes,
                span_bytes,
                ids,
                traces: local.len() as u64,
                spans,
                roots,
            }
        })
        .collect()
}

#[derive(Debug, Default)]
struct SenderStats {
    spans_sent: u64,
    spans_ok: u64,
    requests: u64,
    errors: HashMap<String, u64>,
    latencies_us: Vec<u64>,
}

enum Transport {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http(reqwest::Client, String),
}

impl Transport {
    async fn export(&mut self, body: Vec<u8>) -> Result<(), String> {
        match self {
            Transport::Grpc(g) => {
                g.ready().await.map_err(|e| format!("not ready: {e}"))?;
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                g.unary(
                    tonic::Request::new(Bytes::from(body)),
                    path,
                    BytesClientCodec,
                )
                .await
                .map(|_| ())
                .map_err(|s| format!("gRPC {:?}", s.code()))
            }
            Transport::Http(c, url) => {
                let r = c
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("HTTP transport: {e}"))?;
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(format!("HTTP {status}"))
                }
            }
        }
    }
}

async fn sender(
    o: Opts,
    target: SocketAddr,
    shared: Arc<Shared>,
    budget: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tpl: Vec<Template>,
) -> SenderStats {
    let mut st = SenderStats::default();
    let mut t = if o.http {
        match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => Transport::Http(c, format!("http://{target}/v1/traces")),
            Err(e) => {
                st.errors.insert(format!("client: {e}"), 1);
                return st;
            }
        }
    } else {
        let ep = match tonic::transport::Endpoint::from_shared(format!("http://{target}")) {
            Ok(e) => e.timeout(Duration::from_secs(10)),
            Err(e) => {
                st.errors.insert(format!("endpoint: {e}"), 1);
                return st;
            }
        };
        match ep.connect().await {
            Ok(ch) => {
                Transport::Grpc(tonic::client::Grpc::new(ch).max_encoding_message_size(usize::MAX))
            }
            Err(e) => {
                st.errors.insert(format!("connect: {e}"), 1);
                return st;
            }
        }
    };
    let per_conn_rate = o.rate / o.connections as f64;
    let start = tokio::time::Instant::now();
    let mut k = 0usize;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let tp = &tpl[k % tpl.len()];
        k += 1;
        // Claim spans from the budget (count limit).
        let claimed = budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            (b > 0).then(|| b.saturating_sub(tp.spans))
        });
        if claimed.is_err() {
            break;
        }
        if per_conn_rate > 0.0 {
            let due = start + Duration::from_secs_f64(st.spans_sent as f64 / per_conn_rate);
            tokio::time::sleep_until(due).await;
        }
        let base = shared.next_trace.fetch_add(tp.traces, Ordering::Relaxed);
        let mut body = tp.bytes.clone();
        for &(off, l) in &tp.ids {
            body[off..off + 8].copy_from_slice(&(base + l).to_be_bytes());
            body[off + 8..off + 16].copy_from_slice(&shared.tag);
        }
        let sent = Instant::now();
        if o.sink.is_some() {
            let sampled: Vec<u64> = tp
                .roots
                .iter()
                .map(|l| base + l)
                .filter(|s| s % SAMPLE == 0)
                .collect();
            if !sampled.is_empty() {
                if let Ok(mut m) = shared.sent_at.lock() {
                    for s in sampled {
                        m.insert(s, sent);
                    }
                }
            }
        }
        let r = t.export(body).await;
        st.latencies_us.push(sent.elapsed().as_micros() as u64);
        st.requests += 1;
        st.spans_sent += tp.spans;
        match r {
            Ok(()) => st.spans_ok += tp.spans,
            Err(e) => *st.errors.entry(e).or_default() += 1,
        }
    }
    st
}

// ---------------------------------------------------------------------------------------------
// /proc and /metrics
// ---------------------------------------------------------------------------------------------

fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)] as f64
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async fn run(o: Opts) -> Result<(), String> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1 << 63;
    let shared = Arc::new(Shared {
        tag: nonce.to_be_bytes(),
        ..Default::default()
    });

    if let Some(addr) = o.sink {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("sink bind {addr}: {e}"))?;
        let svc = SinkService(shared.clone());
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l))
                .await;
        });
        eprintln!("sink listening on {addr}");
    }

    let Some(target) = o.target else {
        // Sink only: report every second until the duration passes.
        let start = Instant::now();
        let mut last = 0;
        while start.elapsed() < o.duration {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let n = shared.sink_spans.load(Ordering::Acquire);
            println!("sink spans={n} rate={}/s", n - last);
            last = n;
        }
        return Ok(());
    };

    let n_tpl = 16;
    let tpls: Vec<Vec<Template>> = (0..o.connections)
        .map(|c| templates(c, n_tpl, o.batch))
        .collect();
    let req_bytes: usize = tpls.iter().flatten().map(|t| t.bytes.len()).sum();
    let req_spans: u64 = tpls.iter().flatten().map(|t| t.spans).sum();
    let span_bytes: u64 = tpls.iter().flatten().map(|t| t.span_bytes).sum();
    let metrics_before = o.metrics.and_then(scrape);
    let rss_before = o.gateway_pid.and_then(|p| process_status_kib(p, "VmRSS:"));
    let cpu_before = o.gateway_pid.and_then(process_cpu_seconds);

    let budget = Arc::new(AtomicU64::new(o.spans));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = tpls
        .into_iter()
        .map(|tpl| {
            tokio::spawn(sender(
                o.clone(),
                target,
                shared.clone(),
                budget.clone(),
                stop.clone(),
                tpl,
            ))
        })
        .collect();
    {
        let stop = stop.clone();
        let d = o.duration;
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut total = SenderStats::default();
    for h in handles {
        let s = h.await.map_err(|e| format!("sender: {e}"))?;
        total.spans_sent += s.spans_sent;
        total.spans_ok += s.spans_ok;
        total.requests += s.requests;
        total.latencies_us.extend(s.latencies_us);
        for (k, v) in s.errors {
            *total.errors.entry(k).or_default() += v;
        }
    }
    let send_s = start.elapsed().as_secs_f64();
    let errors: u64 = total.errors.values().sum();
    println!("== loadgen");
    println!(
        "connections={} batch={} protocol={} target_rate={} duration_s={:.2}",
        o.connections,
        o.batch,
        if o.http { "http" } else { "grpc" },
        if o.rate > 0.0 {
            format!("{}", o.rate)
        } else {
            "flat-out".into()
        },
        send_s
    );
    println!(
        "sent_spans={} accepted_spans={} requests={} errors={} {:?}",
        total.spans_sent, total.spans_ok, total.requests, errors, total.errors
    );
    println!(
        "achieved_rate_spans_per_s={:.0} export_call_p50_ms={:.2} export_call_p99_ms={:.2} mean_span_bytes={:.0}",
        total.spans_ok as f64 / send_s,
        pct(&mut total.latencies_us, 0.50) / 1000.0,
        pct(&mut total.latencies_us, 0.99) / 1000.0,
        req_bytes as f64 / req_spans.max(1) as f64,
    );

    if o.flood {
        // Wait until the gateway holds everything it accepted, then measure.
        let (pid, maddr) = match (o.gateway_pid, o.metrics) {
            (Some(p), Some(m)) => (p, m),
            _ => return Err("--flood needs --gateway-pid and --metrics".into()),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut text = String::new();
        while Instant::now() < deadline {
            text = scrape(maddr).unwrap_or_default();
            if metric(&text, "otel_llm_cost_spans_received_total")
                >= metrics_before
                    .as_deref()
                    .map_or(0.0, |t| metric(t, "otel_llm_cost_spans_received_total"))
                    + total.spans_ok as f64
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        text = scrape(maddr).unwrap_or(text);
        let rss_after = process_status_kib(pid, "VmRSS:").unwrap_or(0);
        let spans = metric(&text, "otel_llm_cost_spans_buffered");
        let estimate = metric(&text, "otel_llm_cost_buffered_bytes");
        let protobuf = span_bytes as f64 / req_spans.max(1) as f64;
        let growth = (rss_after.saturating_sub(rss_before.unwrap_or(0)) * 1024) as f64;
        println!("== flood (memory per buffered span)");
        println!(
            "spans_buffered={spans:.0} traces_buffered={:.0} gateway_estimate_bytes={estimate:.0} rss_before_kib={} rss_after_kib={rss_after}",
            metric(&text, "otel_llm_cost_traces_buffered"),
            rss_before.unwrap_or(0)
        );
        println!(
            "rss_growth_per_span_bytes={:.0} protobuf_per_span_bytes={protobuf:.0} overhead_per_span_bytes={:.0} gateway_estimate_per_span_bytes={:.0}",
            growth / spans.max(1.0),
            growth / spans.max(1.0) - protobuf,
            estimate / spans.max(1.0)
        );
        return Ok(());
    }

    if o.sink.is_some() {
        let wait = o.drain.unwrap_or(o.root_grace + Duration::from_secs(10));
        let deadline = Instant::now() + wait;
        while shared.sink_spans.load(Ordering::Acquire) < total.spans_ok
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let all_s = start.elapsed().as_secs_f64();
    let received = shared.sink_spans.load(Ordering::Acquire);
    if o.sink.is_some() {
        let mut lat = shared
            .arrivals
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        let grace_us = o.root_grace.as_micros() as f64;
        println!("== sink");
        println!(
            "received_spans={} requests={} complete={} wall_s={:.2} end_to_end_rate_spans_per_s={:.0}",
            received,
            shared.sink_requests.load(Ordering::Relaxed),
            received >= total.spans_ok,
            all_s,
            received as f64 / send_s
        );
        println!(
            "added_latency_beyond_grace_ms p50={:.1} p99={:.1} max={:.1} (sampled roots={}, root_grace_ms={})",
            (pct(&mut lat, 0.50) - grace_us) / 1000.0,
            (pct(&mut lat, 0.99) - grace_us) / 1000.0,
            (pct(&mut lat, 1.0) - grace_us) / 1000.0,
            lat.len(),
            o.root_grace.as_millis()
        );
    }
    if let (Some(pid), Some(before)) = (o.gateway_pid, cpu_before) {
        let cpu = process_cpu_seconds(pid).unwrap_or(before) - before;
        let spans = if o.sink.is_some() {
            received
        } else {
            total.spans_ok
        };
        println!("== gateway pid {pid}");
        println!(
            "cpu_s={cpu:.2} cpu_util={:.2} spans_per_cpu_s={:.0} peak_rss_mib={:.1}",
            cpu / all_s,
            spans as f64 / cpu.max(1e-9),
            process_status_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
