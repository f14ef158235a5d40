//! The real `otel-llm-cost serve` binary as a child process: SIGTERM with traces still buffered
//! delivers all of them before the process exits.
#![cfg(all(feature = "cli", unix))]

mod common;

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
