//! Issue 13's attacks, reproduced against a real gateway binary to measure them: peak
//! resident memory, CPU time, and spans acknowledged / delivered / lost / duplicated. Ignored
//! (they take minutes and are measurements, not checks); `scripts/redteam/redteam2.sh` runs them
//! against two binaries and the figures go to RELIABILITY.md ("Red-team round 2").
//!
//! Environment: `REDTEAM_BIN` (the binary; default: this build's), `REDTEAM_LABEL` (a name
//! for it in the output). Each attack prints one line starting with `REDTEAM |`.
//!
//! Spans acknowledged: spans in requests a sender got OK for (retryable refusals retried);
//! delivered: distinct spans at the downstream; lost: acknowledged and not delivered;
//! duplicated: delivered more than once.
#![cfg(all(feature = "cli", unix))]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::gateway::process::{temp_dir, Serve};
use common::gateway::*;
use otel_llm_cost::internals::gateway::{
    process_cpu_seconds, process_status_kib, BytesClientCodec, EXPORT_PATH,
};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn binary() -> PathBuf {
    std::env::var_os("REDTEAM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_otel-llm-cost")))
}

fn label() -> String {
    std::env::var("REDTEAM_LABEL").unwrap_or_else(|_| "this build".into())
}

/// Samples a process's peak RSS (VmHWM) and CPU time until it exits.
#[derive(Clone, Default)]
struct Sampler {
    hwm_kib: Arc<AtomicU64>,
    cpu_ms: Arc<AtomicU64>,
    rss_kib: Arc<AtomicU64>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let s = Sampler::default();
        let t = s.clone();
        std::thread::spawn(move || loop {
            match (process_status_kib(pid, "VmHWM:"), process_cpu_seconds(pid)) {
                (Some(h), Some(c)) => {
                    t.hwm_kib.fetch_max(h, Ordering::SeqCst);
                    t.cpu_ms.store((c * 1000.0) as u64, Ordering::SeqCst);
                    if let Some(r) = process_status_kib(pid, "VmRSS:") {
                        t.rss_kib.store(r, Ordering::SeqCst);
                    }
                }
                _ => return,
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        s
    }
    fn cpu_s(&self) -> f64 {
        self.cpu_ms.load(Ordering::SeqCst) as f64 / 1000.0
    }
    fn peak_mib(&self) -> f64 {
        self.hwm_kib.load(Ordering::SeqCst) as f64 / 1024.0
    }
    fn rss_mib(&self) -> f64 {
        self.rss_kib.load(Ordering::SeqCst) as f64 / 1024.0
    }
}

/// One attack's run: a gateway, its downstream, what senders were acknowledged.
struct Run {
    name: &'static str,
    gw: Serve,
    sampler: Sampler,
    sink: Counting,
    acked: u64,
    notes: Vec<String>,
    dir: PathBuf,
    grpc: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
}

impl Run {
    /// A gateway with `yaml` added to its configuration (and `exporter` to its `exporter:`
    /// mapping), a downstream answering after `delay`, at most `nofile` descriptors if given.
    async fn start(
        name: &'static str,
        yaml: &str,
        exporter: &str,
        delay: Duration,
        nofile: Option<u64>,
    ) -> Run {
        let (sink_addr, sink) = start_counting_sink_with_delay(delay).await;
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let dir = temp_dir(&format!("redteam-{slug}"));
        let config = dir.join("gateway.yaml");
        std::fs::write(
            &config,
            format!(
                r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
exporter: {{ endpoint: "http://{sink_addr}", protocol: grpc {exporter} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: warn }} }}
{yaml}
"#
            ),
        )
        .expect("write config");
        let gw = Serve::start_binary(&binary(), &config, &[], nofile);
        let (grpc, http, metrics) = gw.listening();
        let sampler = Sampler::start(gw.child.id());
        Run {
            name,
            gw,
            sampler,
            sink,
            acked: 0,
            notes: Vec::new(),
            dir,
            grpc,
            http,
            metrics,
        }
    }

    /// Ordinary senders: `traces` traces of 4 spans over gRPC from trace number `first`,
    /// retrying retryable refusals (up to 50 times, 100 ms apart).
    async fn legit(&mut self, first: u64, traces: u64) -> u64 {
        let mut acked = 0;
        for t in first..first + traces {
            let req = request(
                "legit",
                (0..4)
                    .map(|i| span_n(t, i, if i == 0 { 0 } else { 1 }, "legit", vec![]))
                    .collect(),
            );
            for _ in 0..50 {
                let sent = tokio::time::timeout(Duration::from_secs(5), async {
                    let mut c = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
                        format!("http://{}", self.grpc),
                    )
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                    c.export(req.clone()).await
                })
                .await;
                match sent {
                    Ok(Ok(_)) => {
                        acked += 4;
                        break;
                    }
                    Ok(Err(st)) if st.code() != tonic::Code::Unavailable => break,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        self.acked += acked;
        acked
    }

    async fn scrape(&self) -> String {
        otel_llm_cost::gateway::install_default_crypto_provider();
        match tokio::time::timeout(
            Duration::from_secs(5),
            reqwest::get(format!("http://{}/metrics", self.metrics)),
        )
        .await
        {
            Ok(Ok(r)) => r.text().await.unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// SIGTERM, wait for the exit, print the row.
    async fn finish(mut self) {
        let rss_before = self.sampler.rss_mib();
        let t0 = Instant::now();
        self.gw.signal("TERM");
        let status = self.gw.wait_exit(Duration::from_secs(120));
        let exit_s = t0.elapsed().as_secs_f64();
        let summary = self
            .gw
            .stderr()
            .lines()
            .find(|l| l.starts_with("otel-llm-cost: received"))
            .unwrap_or("(no summary)")
            .to_owned();
        // Let the downstream finish what was sent.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let delivered = self.sink.distinct() as u64;
        let dup = self.sink.total() - delivered;
        let lost = self.acked.saturating_sub(delivered);
        println!(
            "REDTEAM | {} | {} | peak RSS {:.0} MiB (RSS before SIGTERM {:.0}) | CPU {:.1} s | acked {} | delivered {} | lost {} | dup {} | exit {} after {:.2} s | {} | {}",
            self.name,
            label(),
            self.sampler.peak_mib(),
            rss_before,
            self.sampler.cpu_s(),
            self.acked,
            delivered,
            lost,
            dup,
            status.code().map_or("signal".into(), |c| c.to_string()),
            exit_s,
            self.notes.join("; "),
            summary.trim_start_matches("otel-llm-cost: ")
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One unary call of `n` messages, each gzip(1 MiB of zeros).
async fn gzip_frames(addr: SocketAddr, n: usize) -> String {
    let channel = match tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("connect: {e}"),
    };
    let mut grpc =
        tonic::client::Grpc::new(channel).send_compressed(tonic::codec::CompressionEncoding::Gzip);
    if grpc.ready().await.is_err() {
        return "not ready".into();
    }
    let zeros = Bytes::from(vec![0u8; 1 << 20]);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH);
    let r = grpc
        .client_streaming(
            tonic::Request::new(tonic::codegen::tokio_stream::iter(vec![zeros; n])),
            path,
            BytesClientCodec,
        )
        .await;
    match r {
        Ok(_) => "OK".into(),
        Err(st) => format!("{:?}", st.code()),
    }
}

async fn b1(name: &'static str, n: usize, yaml: &str) {
    let mut run = Run::start(name, yaml, "", Duration::ZERO, None).await;
    let outcome = gzip_frames(run.grpc, n).await;
    run.notes
        .push(format!("{n} gzip frames in one call: {outcome}"));
    run.legit(1, 100).await;
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b1_gzip_frames_200() {
    b1("B1: 200 gzip frames of 1 MiB zeros, one call", 200, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b1_gzip_frames_1000_limit_128() {
    b1(
        "B1: 1,000 gzip frames, memory_limiter 128 MiB",
        1000,
        "memory_limiter: { limit_mib: 128 }",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b2_sigterm_with_a_stalled_client() {
    let mut run = Run::start(
        "B2: SIGTERM, 81,920 spans buffered, 300 ms downstream, one stalled client",
        "assembly: { root_grace: 60s, trace_timeout: 120s }\nshutdown: { timeout: 10s }",
        "",
        Duration::from_millis(300),
        None,
    )
    .await;
    let mut client = grpc_client(run.grpc).await;
    for t in 0..80u64 {
        let req = request(
            "buffered",
            (0..1024)
                .map(|i| span_n(10_000 + t, i, 0, "s", vec![]))
                .collect(),
        );
        if client.export(req).await.is_ok() {
            run.acked += 1024;
        }
    }
    let mut stalled = TcpStream::connect(run.http).await.expect("connect");
    stalled
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: gw\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.notes.push("partial HTTP header held open".into());
    run.finish().await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b3_stalled_bodies_limit_128() {
    let mut run = Run::start(
        "B3: 60 bodies of 4 MiB minus the last byte, memory_limiter 128 MiB",
        "memory_limiter: { limit_mib: 128 }",
        "",
        Duration::ZERO,
        None,
    )
    .await;
    let http = run.http;
    let mut writers = Vec::new();
    for _ in 0..60 {
        writers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(http).await.ok()?;
            let head = "POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\nContent-Length: 4194304\r\n\r\n";
            s.write_all(head.as_bytes()).await.ok()?;
            let _ = s.write_all(&vec![0x0a; (4 << 20) - 1]).await;
            Some(s)
        }));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = run.scrape().await;
    run.notes.push(format!(
        "RSS with the bodies held {:.0} MiB; refused over the memory budget: {}",
        run.sampler.rss_mib(),
        metric_sum(&text, "otel_llm_cost_requests_over_memory_budget_total") as u64
    ));
    run.legit(1, 100).await;
    for w in writers {
        w.abort();
    }
    run.finish().await;
}

/// An OTLP/JSON body of about 4 MiB whose attributes are all `"arrayValue":{}` (trace ids
/// from `first`).
fn json_bomb(first: u64) -> Vec<u8> {
    let attrs = vec![r#"{"key":"a","value":{"arrayValue":{}}}"#; 20].join(",");
    let spans: Vec<String> = (0..4400u64)
        .map(|i| {
            format!(
                r#"{{"traceId":"{:032x}","spanId":"{:016x}","name":"s","attributes":[{attrs}]}}"#,
                first + i,
                i + 1
            )
        })
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b3_json_second_pass_eight_at_once() {
    let mut run = Run::start(
        "B3: eight 4 MiB OTLP/JSON bodies with arrayValue:{} at once, memory_limiter 128 MiB",
        "memory_limiter: { limit_mib: 128 }",
        "",
        Duration::ZERO,
        None,
    )
    .await;
    let size = json_bomb(0).len();
    let http = run.http;
    let sends: Vec<_> = (0..8u64)
        .map(|k| {
            let b = json_bomb(900_000 + k * 10_000);
            tokio::spawn(async move { post_http(http, "application/json", None, b).await.0 })
        })
        .collect();
    let mut codes = Vec::new();
    for s in sends {
        codes.push(s.await.expect("task"));
    }
    let ok = codes.iter().filter(|c| **c == 200).count() as u64;
    run.acked += ok * 4400;
    run.notes
        .push(format!("{size} bytes each, answers {codes:?}"));
    run.legit(1, 100).await;
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn b3_one_million_span_request() {
    let mut run = Run::start(
        "B3: one request of 1,000,000 spans, queue.size 100000",
        "",
        ", queue: { size: 100000 }",
        Duration::ZERO,
        None,
    )
    .await;
    let req = request(
        "million",
        (0..1_000_000u64)
            .map(|i| span_n(2_000_000 + i / 10, i, 0, "m", vec![]))
            .collect(),
    );
    let size = req.encoded_len();
    let mut client = grpc_client(run.grpc)
        .await
        .max_encoding_message_size(usize::MAX);
    let started = Instant::now();
    let answer = client.export(req).await;
    let answer = match answer {
        Ok(_) => {
            run.acked += 1_000_000;
            "OK".to_owned()
        }
        Err(st) => format!("{:?}: {}", st.code(), st.message()),
    };
    let mut queued_max = 0.0f64;
    while started.elapsed() < Duration::from_secs(10) {
        let text = run.scrape().await;
        queued_max = queued_max.max(
            metric_sum(&text, "otel_llm_cost_spans_queued")
                + metric_sum(&text, "otel_llm_cost_spans_exporting"),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.notes.push(format!(
        "{size} bytes; answer {answer}; queued + exporting at most {queued_max}"
    ));
    run.legit(1, 100).await;
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn slow_connections_500() {
    let mut run = Run::start(
        "Also: 500 HTTP connections sending a header byte every 5 s",
        "",
        "",
        Duration::ZERO,
        None,
    )
    .await;
    let http = run.http;
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let (stop, closed) = (stop.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(http).await else {
                return;
            };
            let _ = s
                .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: gw\r\n")
                .await;
            while !stop.load(Ordering::SeqCst) {
                if s.write_all(b"X").await.is_err() {
                    closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }));
    }
    run.legit(1, 50).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    stop.store(true, Ordering::SeqCst);
    run.notes.push(format!(
        "closed by the gateway within ~25 s: {} of 500",
        closed.load(Ordering::SeqCst)
    ));
    for t in tasks {
        t.abort();
    }
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (scripts/redteam/redteam2.sh)"]
async fn fd_exhaustion_1100_idle_connections() {
    let mut run = Run::start(
        "Also: 1,100 idle connections, ulimit -n 1024",
        "",
        "",
        Duration::ZERO,
        Some(1024),
    )
    .await;
    let mut idle = Vec::new();
    for i in 0..1100 {
        let to = if i % 2 == 0 { run.grpc } else { run.http };
        if let Ok(s) = TcpStream::connect(to).await {
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c0 = run.sampler.cpu_s();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let spun = run.sampler.cpu_s() - c0;
    let reachable = tokio::time::timeout(Duration::from_secs(2), run.scrape())
        .await
        .is_ok_and(|t| !t.is_empty());
    drop(idle);
    let t0 = Instant::now();
    let back = run.legit(1, 1).await;
    run.notes.push(format!(
        "CPU while out of descriptors {spun:.2} s in 5 s; /metrics reachable then: {reachable}; first request after closing them answered in {:.2} s ({back} spans)",
        t0.elapsed().as_secs_f64()
    ));
    run.legit(2, 99).await;
    run.finish().await;
}
