//! End to end with the real OpenTelemetry Python SDK: one trace across two services (two
//! TracerProviders, context propagated between them), exported over OTLP/gRPC and OTLP/HTTP
//! (both gzip), or as OTLP/JSON, through the gateway to a capture receiver.
//!
//! Needs `OTEL_LLM_COST_PYTHON` (a Python with tests/python/requirements.txt installed);
//! `scripts/ci/test.sh` sets it up. Without it these tests fail and say so.
#![cfg(feature = "gateway")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::gateway::*;
use common::{bool_attr, f64_attr, i64_attr, start_grpc_sink, str_attr};

fn python() -> String {
    match std::env::var("OTEL_LLM_COST_PYTHON") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!(
            "OTEL_LLM_COST_PYTHON is not set: these tests drive the real OpenTelemetry Python SDK. \
             Run scripts/ci/test.sh (it creates .venv, installs tests/python/requirements.txt and \
             sets OTEL_LLM_COST_PYTHON), or set it to a Python that has them installed."
        ),
    }
}

/// Runs the sender; bounded: killed after 60 s.
async fn run_sender(mode: &str, grpc: std::net::SocketAddr, http: std::net::SocketAddr) -> String {
    let script = format!("{}/tests/python/send_trace.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python())
        .args([
            "-u",
            &script,
            "--mode",
            mode,
            "--grpc",
            &grpc.to_string(),
            "--http",
            &format!("http://{http}"),
        ])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python sender");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for the sender") {
            let out = child.wait_with_output().expect("sender output");
            assert!(
                status.success(),
                "Python sender failed: {status}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return String::from_utf8_lossy(&out.stdout).trim().to_owned();
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Python sender did not finish within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn two_services_through_the_gateway(mode: &str) {
    let (sink, captured) = start_grpc_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        "assembly: { root_grace: 200ms, trace_timeout: 10s }",
    )
    .await;
    let trace_id = run_sender(
        mode,
        gw.grpc_addr().expect("grpc"),
        gw.http_addr().expect("http"),
    )
    .await;
    assert_eq!(
        trace_id.len(),
        32,
        "sender prints the trace id: {trace_id:?}"
    );
    assert_eq!(
        captured.wait_for(6, Duration::from_secs(15)).await,
        6,
        "all six spans delivered"
    );
    eventually(
        "6 spans counted as exported",
        Duration::from_secs(10),
        || gw.metrics().spans_exported == 6,
    )
    .await;
    let spans = captured.spans();
    for (_, s) in &spans {
        assert_eq!(hex(&s.trace_id), trace_id, "one trace");
    }
    let service = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .and_then(|(svc, _)| svc.clone())
    };
    assert_eq!(service("agent-run").as_deref(), Some("planner"));
    assert_eq!(service("handle").as_deref(), Some("retriever"));

    // Per call, from catalog rates ($ per 1M tokens; `otel-llm-cost catalog show MODEL`):
    // ChatCompletion, gpt-4o-2024-08-06 (input 2.5, cache read 1.25, output 10):
    //   (1200 - 200) * 2.5 = 0.0025, 200 * 1.25 = 0.00025, 300 * 10 = 0.003   -> $0.00575
    let chat = by_name(&spans, "ChatCompletion");
    assert_usd(f64_attr(&chat.attributes, "llm.cost.total"), 0.00575);
    assert_usd(f64_attr(&chat.attributes, "llm.cost.prompt"), 0.00275);
    assert_usd(
        f64_attr(&chat.attributes, "llm.cost.prompt_details.cache_read"),
        0.00025,
    );
    assert_usd(f64_attr(&chat.attributes, "llm.cost.completion"), 0.003);
    assert_eq!(
        str_attr(&chat.attributes, "cost.pricing.status").as_deref(),
        Some("priced")
    );
    // chat gpt-4o-mini, gpt-4o-mini (input 0.15, output 0.6):
    //   5000 * 0.15 = 0.00075, 1000 * 0.6 = 0.0006                               -> $0.00135
    let mini = by_name(&spans, "chat gpt-4o-mini");
    assert_usd(f64_attr(&mini.attributes, "llm.cost.total"), 0.00135);
    // messages.create, claude-3-5-haiku-20241022 -> anthropic/claude-3-5-haiku-latest
    // (input 0.8, output 4): 2000 * 0.8 = 0.0016, 500 * 4 = 0.002                 -> $0.0036
    let claude = by_name(&spans, "messages.create");
    assert_usd(f64_attr(&claude.attributes, "llm.cost.total"), 0.0036);
    assert_eq!(
        str_attr(&claude.attributes, "cost.pricing.model").as_deref(),
        Some("anthropic/claude-3-5-haiku-latest")
    );
    // The retriever's subtree: 0.00135 + 0.0036 = $0.00495, seen from both services' spans.
    assert_usd(
        f64_attr(&by_name(&spans, "handle").attributes, "cost.total_usd"),
        0.00495,
    );
    assert_usd(
        f64_attr(
            &by_name(&spans, "call-retriever").attributes,
            "cost.total_usd",
        ),
        0.00495,
    );
    // The root (service planner) holds the sum over both services: 0.00575 + 0.00495 = $0.0107.
    let root = by_name(&spans, "agent-run");
    assert_usd(f64_attr(&root.attributes, "cost.total_usd"), 0.0107);
    assert_eq!(i64_attr(&root.attributes, "cost.llm_calls"), Some(3));
    assert_eq!(i64_attr(&root.attributes, "cost.input_tokens"), Some(8200));
    assert_eq!(i64_attr(&root.attributes, "cost.output_tokens"), Some(1800));
    assert_eq!(bool_attr(&root.attributes, "cost.complete"), Some(true));
    assert!(str_attr(&root.attributes, "cost.by_model").is_some());

    let text = scrape(&gw).await;
    assert_balanced(&text);
    let m = gw.shutdown().await.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported, m.not_delivered_total()),
        (6, 6, 0)
    );
    assert_eq!(m.traces_released["root"], 1);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Guards: the Python SDK's OTLP/gRPC and OTLP/HTTP exporters (gzip both) feed one trace from two
/// services; the root's total is the exact sum over both, every call is priced right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_trace_across_two_services_over_grpc_and_http_is_exact() {
    two_services_through_the_gateway("sdk").await;
}

/// Guards: the same spans as OTLP/JSON (made by the SDK's own encoder and protobuf's JSON
/// mapping, ids as hex, int64 as strings) decode and price identically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_trace_as_otlp_json_is_exact() {
    two_services_through_the_gateway("json").await;
}
