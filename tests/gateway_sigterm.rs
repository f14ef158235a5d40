//! The real `otel-llm-cost serve` binary as a child process: SIGTERM with traces still buffered
//! delivers all of them before the process exits, whatever stalled clients are connected.
#![cfg(all(feature = "cli", unix))]

mod common;
#[path = "common/feeds.rs"]
mod feeds;
#[path = "common/http_server.rs"]
mod http_server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::gateway::*;
use common::{bool_attr, f64_attr, start_grpc_sink};

/// Reads stderr lines until one starts with `prefix` (bounded).
fn wait_line(
    rx: &mpsc::Receiver<String>,
    prefix: &str,
    timeout: Duration,
    seen: &mut Vec<String>,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if l.starts_with(prefix) {
                    return l;
                }
            }
            Err(_) => panic!(
                "no line starting with {prefix:?} within {timeout:?}; stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn field(line: &str, key: &str) -> std::net::SocketAddr {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= address in {line:?}"))
}

/// Guards: SIGTERM stops accepting, releases every buffered trace (long root_grace, so they are
/// all still buffered) and drains the export queue before the process exits; exit code 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_every_buffered_trace_before_exit() {
    let (sink, captured) = start_grpc_sink().await;
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
assembly: {{ root_grace: 30s, trace_timeout: 60s }}
exporter: {{ endpoint: "http://{sink}", protocol: grpc }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: info }} }}
shutdown: {{ timeout: 10s }}
"#
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start otel-llm-cost serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let listening = wait_line(
        &rx,
        "otel-llm-cost: listening",
        Duration::from_secs(20),
        &mut seen,
    );
    let grpc = field(&listening, "grpc");
    let http = field(&listening, "http");

    // Two traces, one per receiver; their roots are in, but root_grace (30 s) keeps them buffered.
    // gpt-4o-mini: 100 in * $0.15/M + 10 out * $0.6/M = $0.000021 per call.
    send_grpc(
        grpc,
        request(
            "svc-a",
            vec![
                span(1, 1, 0, "root-1", vec![]),
                span(1, 2, 1, "llm-1", llm("gpt-4o-mini", 100, 10)),
            ],
        ),
    )
    .await
    .expect("accepted");
    let body = prost::Message::encode_to_vec(&request(
        "svc-b",
        vec![
            span(2, 1, 0, "root-2", vec![]),
            span(2, 2, 1, "llm-2", llm("gpt-4o-mini", 100, 10)),
        ],
    ));
    let (status, _, _) = post_http(http, "application/x-protobuf", None, body).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(captured.spans().len(), 0, "nothing released before SIGTERM");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway did not exit within 20 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let summary = wait_line(
        &rx,
        "otel-llm-cost: received",
        Duration::from_secs(5),
        &mut seen,
    );
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        seen.join("\n")
    );
    assert!(
        summary.contains("received 4 spans, exported 4, not delivered 0"),
        "{summary}"
    );
    // Everything was in the sink before the process exited.
    let spans = captured.spans();
    assert_eq!(spans.len(), 4);
    for root in ["root-1", "root-2"] {
        let r = by_name(&spans, root);
        assert_usd(f64_attr(&r.attributes, "cost.total_usd"), 0.000021);
        assert_eq!(
            bool_attr(&r.attributes, "cost.complete"),
            Some(true),
            "root present: complete"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Guards issue 13, B2: with spans buffered, a slow downstream and one stalled client, SIGTERM
/// waited for the client until the deadline, drained after it, and reported "exported 0, not
/// delivered 81920" while the downstream had 8,192 of them (requests sent and abandoned at
/// once); exit 1. And: the exit code was 1 whenever an invalid span had ever been refused. Now
/// stalled connections are dropped at once, every buffered span is delivered within the
/// deadline, the summary counts exactly what the downstream acknowledged, and the exit code is
/// 0 (the invalid span reported, not lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stalled_client_delivers_everything_and_counts_what_was_acknowledged() {
    use common::gateway::process::{temp_dir, Serve};
    use tokio::io::AsyncWriteExt;
    let (sink, acked) = start_counting_sink_with_delay(Duration::from_millis(300)).await;
    let dir = temp_dir("sigterm-stalled");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
assembly: {{ root_grace: 60s, trace_timeout: 120s }}
exporter: {{ endpoint: "http://{sink}", protocol: grpc, max_batch_spans: 1024 }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: info }} }}
shutdown: {{ timeout: 5s }}
"#
        ),
    )
    .expect("write config");
    let mut gw = Serve::start(&config, &[]);
    let (grpc, http, metrics) = gw.listening();
    // 8 traces of 1,024 spans, all buffered (root_grace 60 s).
    for t in 0..8u64 {
        send_grpc(
            grpc,
            request(
                "svc",
                (0..1024).map(|i| span_n(t, i, 0, "s", vec![])).collect(),
            ),
        )
        .await
        .expect("accepted");
    }
    // One span with a broken trace id: refused as invalid (partial success), never accepted.
    let mut bad = span(9, 1, 0, "bad-id", vec![]);
    bad.trace_id = vec![1, 2, 3];
    let resp = send_grpc(grpc, request("svc", vec![bad]))
        .await
        .expect("answered");
    assert_eq!(resp.partial_success.map(|p| p.rejected_spans), Some(1));
    // Stalled clients: a partial header, and a chunked body that never ends.
    let mut partial = tokio::net::TcpStream::connect(http).await.expect("connect");
    partial
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: gw\r\n")
        .await
        .expect("write");
    let mut chunked = tokio::net::TcpStream::connect(http).await.expect("connect");
    chunked
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .expect("write");
    otel_llm_cost::gateway::install_default_crypto_provider();
    let scrape = || async {
        reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Both stalled connections open, the chunked body being read.
        let text = scrape().await;
        if metric_sum(&text, "otel_llm_cost_connections_open{listener=\"http\"}") >= 2.0
            && metric_sum(&text, "otel_llm_cost_receiver_bytes") > 0.0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled connections were not under way: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(acked.total(), 0, "all buffered before SIGTERM");
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(30));
    let summary = gw.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    assert!(status.success(), "exit {status}; stderr:\n{}", gw.stderr());
    assert!(
        summary.contains("received 8193 spans, exported 8192, not delivered 1"),
        "{summary}"
    );
    assert!(summary.contains("\"invalid_span\": 1"), "{summary}");
    assert!(summary.ends_with("lost 0"), "{summary}");
    assert_eq!(
        acked.total(),
        8192,
        "the summary counts what the downstream acknowledged"
    );
    drop((partial, chunked));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway config with these price sources (YAML flow), and its temporary directory.
fn live_config(name: &str, sources: &str, timeout: &str) -> std::path::PathBuf {
    let dir = common::gateway::process::temp_dir(name);
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
exporter: {{ endpoint: "http://127.0.0.1:9", protocol: grpc }}
pricing: {{ catalog: {{ sources: {sources}, refresh_interval: 0s, timeout: {timeout} }} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: info }} }}
shutdown: {{ timeout: 5s }}
"#
        ),
    )
    .expect("write config");
    config
}

/// Waits (bounded) until stderr has a line containing `text` (log lines start with a time);
/// fails at once if the gateway has exited.
fn wait_log(serve: &mut common::gateway::process::Serve, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serve.stderr().contains(text) {
        if let Some(status) = serve.child.try_wait().expect("wait") {
            panic!(
                "the gateway exited ({status}) before logging {text:?}; stderr:\n{}",
                serve.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {text:?} within 20 s; stderr:\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Guards "SIGTERM does not wait on a slow fetch" (live prices, issue 16): a refresh (SIGHUP)
/// stuck on a source that never answers (fetch timeout 300 s) ran on tokio's blocking pool,
/// and the runtime's shutdown waited for it: the process outlived its drain by the whole fetch
/// timeout. It must exit once drained.
#[test]
fn sigterm_does_not_wait_for_a_slow_catalog_refresh() {
    use common::gateway::process::Serve;
    let feeds = feeds::Feeds::start();
    let config = live_config("sigterm-refresh", &feeds.sources_yaml(), "300s");
    let mut serve = Serve::start(&config, &[]);
    serve.wait_line("otel-llm-cost: listening", Duration::from_secs(20));
    // From now on the feeds read the request and say nothing.
    feeds.set(
        feeds::GENAI,
        feeds::Answer::Silent(Duration::from_secs(300)),
    );
    feeds.set(
        feeds::LITELLM,
        feeds::Answer::Silent(Duration::from_secs(300)),
    );
    serve.signal("HUP");
    // The refresh has started once this is logged (it is spawned in the same step).
    wait_log(&mut serve, "SIGHUP: refreshing");
    serve.signal("TERM");
    // Bounded: far below the 300 s fetch timeout the old code waited for.
    let status = serve.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
}

/// Guards "SIGHUP during the start": the SIGHUP handler was installed only after the start
/// catalog was built, so a SIGHUP while the sources were fetched at start (up to the fetch
/// timeout per source) killed the gateway (SIGHUP's default action). It is now installed
/// first, and the SIGHUP is a refresh right after the start.
#[test]
fn sighup_while_the_start_catalog_is_fetched_is_a_refresh_not_the_end() {
    use common::gateway::process::Serve;
    let feeds = feeds::Feeds::start();
    // LiteLLM's map (fetched first) says nothing past the 2 s fetch timeout.
    feeds.set(
        feeds::LITELLM,
        feeds::Answer::Silent(Duration::from_secs(5)),
    );
    let config = live_config("sighup-start", &feeds.sources_yaml(), "2s");
    let mut serve = Serve::start(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while feeds.connections.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the gateway did not fetch a source within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    serve.signal("HUP");
    wait_log(&mut serve, "otel-llm-cost: listening");
    // The SIGHUP sent during the start was kept for a refresh.
    wait_log(&mut serve, "SIGHUP: refreshing");
    serve.signal("TERM");
    let status = serve.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
}
