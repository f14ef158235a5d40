//! The persistent export queue (`exporter.queue.directory`): what was released for export
//! survives `kill -9` of the real binary and is delivered after restart; the disk budget
//! (`max_bytes`) refuses senders with the retryable status, counted; delivered batches are
//! deleted. Loopback only; every wait bounded.
#![cfg(feature = "gateway")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::gateway::*;

const WAIT: Duration = Duration::from_secs(30);

fn trace(
    t: u64,
    children: u64,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let mut spans = vec![span_n(t, t * 100, 0, "root", vec![])];
    for c in 1..=children {
        spans.push(span_n(
            t,
            t * 100 + c,
            t * 100,
            "llm",
            llm("gpt-4o-mini", 100, 10),
        ));
    }
    request("svc", spans)
}

fn wal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |r| {
        r.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
            .count()
    })
}

/// Guards: start the binary with a persistent queue while the downstream is down, send 200
/// traces (1000 spans), wait until all of them left the assembly buffer for the queue,
/// `kill -9` it, restart it with the downstream up on the same address: every span arrives,
/// and the queue directory is empty afterwards.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_spans_survive_kill_9_and_are_delivered_after_restart() {
    use common::gateway::process::{temp_dir, Serve};
    let dir = temp_dir("persist-kill9");
    let queue_dir = dir.join("queue");
    let down = closed_port();
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
assembly: {{ root_grace: 0s, trace_timeout: 2s }}
exporter:
  endpoint: "http://{down}"
  retry: {{ initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 10m }}
  queue: {{ directory: "{}", max_bytes: 67108864 }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: info }} }}
"#,
            queue_dir.display()
        ),
    )
    .expect("config");
    let mut first = Serve::start(&config, &[]);
    let (grpc, _, metrics) = first.listening();
    let mut client = grpc_client(grpc).await;
    for t in 1..=200 {
        client.export(trace(t, 4)).await.expect("accepted");
    }
    // All 1000 spans released into the (persistent) queue and retried against the closed port.
    let scrape_text = || async {
        reqwest::Client::new()
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    };
    otel_llm_cost::gateway::install_default_crypto_provider();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = scrape_text().await;
        if metric_sum(&t, "otel_llm_cost_spans_buffered") == 0.0
            && metric_sum(&t, "otel_llm_cost_spans_received_total") == 1000.0
            && metric_sum(&t, "otel_llm_cost_export_retries_total") >= 2.0
        {
            assert_eq!(metric_sum(&t, "otel_llm_cost_spans_exported_total"), 0.0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not queued in time:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(wal_files(&queue_dir) >= 1, "segments on disk");
    first.signal("KILL");
    let status = first.wait_exit(WAIT);
    assert!(!status.success(), "killed");

    // The downstream comes back on the same address; the gateway restarts.
    let faults = Faults::new(Answer::Ok);
    start_grpc_fault_sink_on(down, faults.clone()).await;
    let mut second = Serve::start(&config, &[]);
    let _ = second.listening();
    assert_eq!(
        faults.captured.wait_for(1000, WAIT).await,
        1000,
        "{}",
        second.stderr()
    );
    let ids: BTreeSet<_> = captured_ids(&faults.captured).into_iter().collect();
    assert_eq!(ids.len(), 1000, "every span, each at least once");
    // Delivered batches are deleted.
    let deadline = tokio::time::Instant::now() + WAIT;
    while wal_files(&queue_dir) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "segments not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.signal("TERM");
    let status = second.wait_exit(WAIT);
    let summary = second.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    assert!(status.success(), "{summary}\n{}", second.stderr());
    assert!(
        summary.contains("received 1000 spans, exported 1000, not delivered 0"),
        "{summary}"
    );
    assert!(
        second.stderr().contains("persistent queue: re-sending"),
        "{}",
        second.stderr()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Guards: when the persistent queue reaches `max_bytes`, senders are refused with the
/// retryable status (gRPC UNAVAILABLE) and the refusals are counted; once the downstream is
/// back everything on disk is delivered and deleted, and senders are accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_budget_refuses_with_retryable_status() {
    let dir =
        std::env::temp_dir().join(format!("otel-llm-cost-persist-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let faults = Faults::new(Answer::Grpc(tonic::Code::Unavailable));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        &format!(
            "  queue: {{ directory: '{}', max_bytes: 1048576, fsync: true }}",
            dir.display()
        ),
        "assembly: { root_grace: 0s, trace_timeout: 5s }",
    )
    .await;
    let mut client = grpc_client(gw.grpc_addr().expect("grpc")).await;
    let padding = "p".repeat(4096);
    let mut accepted = 0u64;
    let mut refused = None;
    for t in 1..=1000u64 {
        let mut req = trace(t, 3);
        for s in &mut req.resource_spans[0].scope_spans[0].spans {
            s.attributes.push(kv_str("padding", &padding));
        }
        match client.export(req).await {
            Ok(_) => accepted += 4,
            Err(st) => {
                refused = Some(st);
                break;
            }
        }
        // Let the release reach the disk before the next admission check.
        eventually("released", WAIT, || gw.metrics().spans_buffered == 0).await;
    }
    let st = refused.expect("refused once the disk budget is used");
    assert_eq!(st.code(), tonic::Code::Unavailable, "{st:?}");
    assert!(st.message().contains("queue full"), "{st:?}");
    let m = gw.metrics();
    assert!(m.spans_refused >= 4);
    assert_eq!(m.spans_received, accepted);
    assert!(
        accepted >= 4 * 50,
        "1 MiB holds about 60 such traces: {accepted}"
    );
    assert_balanced(&scrape(&gw).await);
    // Downstream back: everything delivered, the directory emptied, senders accepted again.
    faults.set(Answer::Ok);
    assert_eq!(
        faults.captured.wait_for(accepted as usize, WAIT).await,
        accepted as usize
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while wal_files(&dir) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "segments not deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.export(trace(5000, 1)).await.expect("accepted again");
    let m = gw.shutdown().await.metrics;
    assert_eq!(m.spans_exported, accepted + 2, "{m:?}");
    assert_eq!(m.not_delivered_total(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
