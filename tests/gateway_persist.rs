//! The persistent queue (`exporter.queue.directory`), "accepted means durable": every span a
//! sender got an OK for survives `kill -9` of the real binary under load (in the assembly buffer,
//! the queue or in flight) and is delivered after restart, with no more duplicates than the
//! batches in flight; the disk budget (`max_bytes`) refuses senders with the retryable status,
//! counted; delivered segments are deleted. Loopback only; every wait bounded.
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

/// A config file in a fresh directory `(dir, dir/queue, dir/gateway.yaml)`: receivers and
/// `/metrics` on 127.0.0.1:0, traces released at their root, exporting to `down` with quick
/// retries and a persistent queue in `dir/queue` (`queue`: more of its fields), `extra` added.
#[cfg(all(feature = "cli", unix))]
fn config_to_down(
    name: &str,
    down: std::net::SocketAddr,
    queue: &str,
    extra: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = common::gateway::process::temp_dir(name);
    let queue_dir = dir.join("queue");
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
  queue: {{ directory: "{}"{queue} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: info }} }}
{extra}
"#,
            queue_dir.display()
        ),
    )
    .expect("config");
    (dir, queue_dir, config)
}

/// Guards: start the binary with a persistent queue while the downstream is down, send 200
/// traces (1000 spans), wait until all of them left the assembly buffer for the queue,
/// `kill -9` it, restart it with the downstream up on the same address: every span arrives,
/// and the queue directory is empty afterwards.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_spans_survive_kill_9_and_are_delivered_after_restart() {
    use common::gateway::process::Serve;
    let down = closed_port();
    let (dir, queue_dir, config) =
        config_to_down("persist-kill9", down.addr, ", max_bytes: 67108864", "");
    let mut first = Serve::start(&config, &[]);
    let (grpc, _, metrics) = first.listening();
    let mut client = grpc_client(grpc).await;
    for t in 1..=200 {
        client.export(trace(t, 4)).await.expect("accepted");
    }
    // All 1000 spans released into the (persistent) queue and retried against the closed port.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = scrape_addr(metrics).await;
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
    down.open_grpc_sink(faults.clone()).await;
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
        second.stderr().contains("persistent queue: replaying"),
        "{}",
        second.stderr()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Guards (review of issue 13, "exit 0 when nothing accepted was lost"): with a persistent
/// queue, SIGTERM while the downstream is down counts the spans it could not deliver as
/// `not delivered (shutdown)` for this run but keeps them on disk for the next start, so none
/// is lost: the summary says "lost 0" and the exit code is 0. A restart delivers all of them.
/// The merged code reported them lost and exited 1.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_downstream_down_keeps_what_it_holds_and_exits_0() {
    use common::gateway::process::Serve;
    let down = closed_port();
    let (dir, _, config) = config_to_down(
        "persist-sigterm-down",
        down.addr,
        "",
        "shutdown: { timeout: 1s }",
    );
    let mut first = Serve::start(&config, &[]);
    let (grpc, _, metrics) = first.listening();
    let mut client = grpc_client(grpc).await;
    for t in 1..=20 {
        client.export(trace(t, 4)).await.expect("accepted");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = scrape_addr(metrics).await;
        if metric_sum(&t, "otel_llm_cost_spans_buffered") == 0.0
            && metric_sum(&t, "otel_llm_cost_spans_received_total") == 100.0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not released in time:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.signal("TERM");
    let status = first.wait_exit(WAIT);
    let summary = first.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    assert!(
        summary.contains("received 100 spans, exported 0, not delivered 100")
            && summary.contains("lost 0"),
        "{summary}"
    );
    assert!(status.success(), "{summary}\n{}", first.stderr());

    // They were kept: the next start delivers every one of them.
    let faults = Faults::new(Answer::Ok);
    down.open_grpc_sink(faults.clone()).await;
    let mut second = Serve::start(&config, &[]);
    let _ = second.listening();
    assert_eq!(
        faults.captured.wait_for(100, WAIT).await,
        100,
        "{}",
        second.stderr()
    );
    second.signal("TERM");
    let status = second.wait_exit(WAIT);
    assert!(status.success(), "{}", second.stderr());
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

/// Exporter settings of the kill -9 runs: at most `CONSUMERS` batches of `MAX_BATCH` spans are in
/// flight at any instant, the bound on what a restart may deliver twice.
const CONSUMERS: usize = 4;
const MAX_BATCH: usize = 256;

/// One `kill -9` of a real gateway under steady load: what the senders got an OK for, and what
/// reached the downstream over both runs.
#[cfg(all(feature = "cli", unix))]
#[derive(Debug)]
struct Kill9 {
    /// Spans in requests answered OK.
    acknowledged: usize,
    /// Distinct span ids the downstream received (over both runs).
    delivered: usize,
    /// Acknowledged spans the downstream never received.
    lost: usize,
    /// Deliveries beyond the first of a span.
    duplicated: usize,
    /// Gauges scraped just before the kill: spans buffered, queued, being exported.
    at_kill: (f64, f64, f64),
    /// The restarted gateway's shutdown summary line.
    second_run: String,
}

/// Runs `bin` (`persistent`: with `exporter.queue.directory`), sends from 4 gRPC connections
/// flat out (8 traces of 4 spans per request, unique ids) for `load`, scrapes the gauges,
/// `kill -9`s it while the senders still send, restarts it on the same directory and waits until
/// it is idle (bounded), then stops it with SIGTERM. The downstream answers each batch after
/// 20 ms (captured on arrival), so batches are in flight at the kill.
#[cfg(all(feature = "cli", unix))]
async fn kill_9_under_load(
    bin: &std::path::Path,
    persistent: bool,
    load: Duration,
    root_grace_ms: u64,
) -> Kill9 {
    use common::gateway::process::{temp_dir, Serve};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    static RUN: AtomicU64 = AtomicU64::new(0);
    let dir = temp_dir(&format!("kill9-{}", RUN.fetch_add(1, Ordering::SeqCst)));
    let faults = Faults::new(Answer::OkAfter(Duration::from_millis(20)));
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let queue = if persistent {
        format!("directory: \"{}\", ", dir.join("queue").display())
    } else {
        String::new()
    };
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
assembly: {{ root_grace: {root_grace_ms}ms, trace_timeout: 10s }}
exporter:
  endpoint: "http://{sink}"
  compression: none
  max_batch_spans: {MAX_BATCH}
  retry: {{ initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 10m }}
  queue: {{ {queue}consumers: {CONSUMERS} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: warn }} }}
"#
        ),
    )
    .expect("config");
    let first = Serve::start_binary(bin, &config, &[], None);
    let (grpc, _, metrics) = first.listening();
    let acked = Arc::new(Mutex::new(Vec::<(Vec<u8>, Vec<u8>)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next_trace = Arc::new(AtomicU64::new(1));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (acked, stop, next_trace) = (acked.clone(), stop.clone(), next_trace.clone());
            tokio::spawn(async move {
                let mut client = grpc_client(grpc).await;
                while !stop.load(Ordering::SeqCst) {
                    let mut spans = Vec::new();
                    for _ in 0..8 {
                        let t = next_trace.fetch_add(1, Ordering::SeqCst);
                        spans.push(span_n(t, t * 10, 0, "root", vec![]));
                        for c in 1..=3 {
                            spans.push(span_n(
                                t,
                                t * 10 + c,
                                t * 10,
                                "llm",
                                llm("gpt-4o-mini", 100, 10),
                            ));
                        }
                    }
                    let ids: Vec<_> = spans
                        .iter()
                        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
                        .collect();
                    match client.export(request("svc", spans)).await {
                        Ok(_) => acked.lock().expect("acked").extend(ids),
                        // Refused, or the gateway is gone: not acknowledged, the sender keeps it.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(load).await;
    let t = scrape_addr(metrics).await;
    let at_kill = (
        metric_sum(&t, "otel_llm_cost_spans_buffered"),
        metric_sum(&t, "otel_llm_cost_spans_queued"),
        metric_sum(&t, "otel_llm_cost_spans_exporting"),
    );
    first.signal("KILL");
    let mut first = first;
    let status = first.wait_exit(WAIT);
    assert!(!status.success(), "killed");
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.expect("sender");
    }

    // Restart on the same directory; wait until it holds nothing (bounded), then stop it.
    let mut second = Serve::start_binary(bin, &config, &[], None);
    let (_, _, metrics) = second.listening();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut idle_scrapes = 0;
    while idle_scrapes < 3 {
        let t = scrape_addr(metrics).await;
        let held = metric_sum(&t, "otel_llm_cost_spans_buffered")
            + metric_sum(&t, "otel_llm_cost_spans_queued")
            + metric_sum(&t, "otel_llm_cost_spans_exporting");
        idle_scrapes = if held == 0.0 { idle_scrapes + 1 } else { 0 };
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted gateway did not go idle within {WAIT:?}:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.signal("TERM");
    let status = second.wait_exit(WAIT);
    assert!(status.success(), "{}", second.stderr());
    let second_run = second.wait_line("otel-llm-cost: received", Duration::from_secs(5));

    let acked = acked.lock().expect("acked").clone();
    let mut seen: HashMap<(Vec<u8>, Vec<u8>), usize> = HashMap::new();
    for id in captured_ids(&faults.captured) {
        *seen.entry(id).or_default() += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Kill9 {
        acknowledged: acked.len(),
        delivered: seen.len(),
        lost: acked.iter().filter(|id| !seen.contains_key(*id)).count(),
        duplicated: seen.values().map(|n| n - 1).sum(),
        at_kill,
        second_run,
    }
}

/// The binary under test: this build, or `OTEL_LLM_COST_KILL9_BIN` (to run the same check
/// against another build, e.g. the starting commit's, where it fails: spans buffered at the kill
/// are lost).
#[cfg(all(feature = "cli", unix))]
fn kill9_binary() -> std::path::PathBuf {
    std::env::var_os("OTEL_LLM_COST_KILL9_BIN").map_or_else(
        || env!("CARGO_BIN_EXE_otel-llm-cost").into(),
        std::path::PathBuf::from,
    )
}

/// Guards "accepted means durable" (issue 13, build 6): `kill -9` of the real binary under steady
/// load from 4 gRPC senders, with `exporter.queue.directory`, while spans sit in the assembly
/// buffer (`root_grace` 500 ms), in the queue and in flight to a slow downstream. After a
/// restart every span id a sender got an OK for reaches the downstream, and no more spans are
/// delivered twice than the batches that can be in flight (consumers x `max_batch_spans`). On
/// the starting code the spans in the assembly buffer were lost (and a restart re-sent whole
/// segments of already delivered batches).
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_span() {
    let r = kill_9_under_load(&kill9_binary(), true, Duration::from_millis(1500), 500).await;
    eprintln!("{r:?}");
    assert!(r.acknowledged >= 1000, "too little load to judge: {r:?}");
    assert!(
        r.at_kill.0 > 0.0,
        "nothing buffered in the assembly at the kill: {r:?}"
    );
    assert_eq!(r.lost, 0, "acknowledged spans lost: {r:?}");
    assert!(
        r.duplicated <= CONSUMERS * MAX_BATCH,
        "more delivered twice than the batches in flight: {r:?}"
    );
    // The replayed spans count as received by the second run, and all of them left.
    let replayed = r
        .second_run
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse::<usize>().ok())
        .expect("received N spans");
    assert!(replayed > 0, "{r:?}");
    assert!(
        r.second_run.contains(&format!(
            "received {replayed} spans, exported {replayed}, not delivered 0"
        )),
        "{r:?}"
    );
}

/// The RELIABILITY.md "kill -9" table (not a test; run by `scripts/reliability/kill9-table.sh`): for each
/// `name=binary` of `KILL9_BINS`, `KILL9_RUNS` runs with and without the directory, `KILL9_LOAD_MS`
/// of load each; prints one markdown row per run.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement for RELIABILITY.md; run scripts/reliability/kill9-table.sh"]
async fn kill_9_table() {
    let bins = std::env::var("KILL9_BINS").expect("KILL9_BINS=name=path[ name=path...]");
    let runs: usize = std::env::var("KILL9_RUNS").map_or(3, |v| v.parse().expect("KILL9_RUNS"));
    let load: u64 = std::env::var("KILL9_LOAD_MS").map_or(5000, |v| v.parse().expect("ms"));
    let grace: u64 = std::env::var("KILL9_ROOT_GRACE_MS").map_or(2000, |v| v.parse().expect("ms"));
    println!("| binary | directory | run | acknowledged | delivered | lost | duplicated | at the kill: buffered / queued / exporting |");
    println!("|---|---|---|---|---|---|---|---|");
    for nb in bins.split_whitespace() {
        let (name, bin) = nb.split_once('=').expect("name=path");
        for persistent in [false, true] {
            for run in 1..=runs {
                let r = kill_9_under_load(
                    std::path::Path::new(bin),
                    persistent,
                    Duration::from_millis(load),
                    grace,
                )
                .await;
                println!(
                    "| {name} | {} | {run} | {} | {} | {} | {} | {} / {} / {} |",
                    if persistent { "on" } else { "off" },
                    r.acknowledged,
                    r.delivered,
                    r.lost,
                    r.duplicated,
                    r.at_kill.0,
                    r.at_kill.1,
                    r.at_kill.2
                );
            }
        }
    }
}
