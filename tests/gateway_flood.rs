//! Floods: many distinct open traces, and one huge trace. The assembly buffer stays within its
//! byte budget (`assembly.max_bytes`), early releases are counted (`evicted`, `span_limit`),
//! and no span is lost. Bounds checked are exact (bytes <= budget, counts equal), never timing.
//!
//! The 1M-trace flood against the release binary, with its resident memory read from
//! `/proc/<pid>/status`, is the ignored test `flood_real_binary` (run by `scripts/reliability/flood.sh`;
//! figures in RELIABILITY.md).
#![cfg(all(feature = "gateway", feature = "internals"))]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::gateway::*;
use opentelemetry_proto::tonic::trace::v1::Span;

const WAIT: Duration = Duration::from_secs(120);

/// An open span: its parent is never sent, so its trace waits in the buffer.
fn open_span(trace: u64, span: u64) -> Span {
    span_n(
        trace,
        span,
        999_999_999,
        "open",
        llm("gpt-4o-mini", 100, 10),
    )
}

/// Sends `traces` one-span open traces, `per_request` per request, retrying refusals; calls
/// `check` after every request.
async fn flood_traces(
    addr: SocketAddr,
    traces: u64,
    per_request: u64,
    check: impl FnMut(u64),
) -> u64 {
    flood(addr, traces, per_request, false, check).await
}

/// `n` spans: one per trace, or all in one trace (`one_trace`).
async fn flood(
    addr: SocketAddr,
    n: u64,
    per_request: u64,
    one_trace: bool,
    mut check: impl FnMut(u64),
) -> u64 {
    let traces = n;
    let mut c = grpc_client(addr).await;
    c = c.max_encoding_message_size(usize::MAX);
    let mut sent = 0;
    let mut t = 0;
    while t < traces {
        let end = (t + per_request).min(traces);
        let req = request(
            "flood",
            (t..end)
                .map(|i| open_span(if one_trace { 0 } else { i }, i))
                .collect(),
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match c.export(req.clone()).await {
                Ok(_) => break,
                Err(st) if st.code() == tonic::Code::Unavailable => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "refused for too long"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(st) => panic!("{st:?}"),
            }
        }
        sent += end - t;
        t = end;
        check(sent);
    }
    sent
}

/// Guards: 50,000 distinct open traces against a 1 MiB buffer budget. After every request the
/// buffered bytes are within the budget; the oldest traces are released early and counted as
/// `evicted` (never dropped); at the end every span reached the downstream exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_open_traces_stay_within_the_byte_budget() {
    const TRACES: u64 = 50_000;
    const BUDGET: f64 = 1024.0 * 1024.0;
    let (sink, counting) = start_counting_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  queue: { size: 200000, consumers: 4 }",
        "assembly: { root_grace: 60s, trace_timeout: 120s, max_bytes: 1048576 }",
    )
    .await;
    let rss_before = rss_kib(std::process::id(), "VmRSS:");
    let mut max_seen = 0.0f64;
    let sent = flood_traces(gw.grpc_addr().expect("grpc"), TRACES, 2000, |_| {
        let text = gw.render_metrics();
        let b = metric_sum(&text, "otel_llm_cost_buffered_bytes");
        max_seen = max_seen.max(b);
        assert!(b <= BUDGET, "buffered {b} bytes over the {BUDGET} budget");
    })
    .await;
    assert_eq!(sent, TRACES);
    let m = gw.metrics();
    let evicted = m.traces_released.get("evicted").copied().unwrap_or(0);
    assert!(evicted > TRACES / 2, "evictions counted: {evicted}");
    assert!(max_seen > 0.0);
    eventually("evicted traces delivered", WAIT, || {
        counting.total() >= evicted
    })
    .await;
    assert_balanced(&scrape(&gw).await);
    let report = gw.shutdown().await;
    let m = report.metrics;
    assert!(report.drained_in_time);
    assert_eq!((m.spans_received, m.spans_exported), (TRACES, TRACES));
    assert_eq!(m.not_delivered_total(), 0);
    assert_eq!(
        m.traces_released.values().sum::<u64>(),
        TRACES,
        "every trace released once: {:?}",
        m.traces_released
    );
    assert_eq!(counting.distinct() as u64, TRACES, "no loss");
    // At least once: an export that timed out on a loaded machine after the sink took it is
    // sent again (OTLP retry semantics), so duplicates are possible, losses are not.
    assert!(counting.total() >= TRACES);
    eprintln!(
        "flood 50k traces: max buffered bytes {max_seen} (budget {BUDGET}), evicted {evicted}, \
         test-process RSS {} -> {} KiB, VmHWM {} KiB",
        rss_before,
        rss_kib(std::process::id(), "VmRSS:"),
        rss_kib(std::process::id(), "VmHWM:")
    );
}

/// Guards: one trace of 30,000 spans (3x `max_spans_per_trace`, and more bytes than the 1 MiB
/// budget). The buffer stays within the budget, the trace is released early in parts (each
/// counted as `span_limit` — a part reaches a quarter of the budget first; spans arriving after
/// a part was released gather into the next part, none goes alone as late), and all 30,000
/// spans are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_huge_trace_is_released_early_in_parts_without_loss() {
    const SPANS: u64 = 30_000;
    const BUDGET: f64 = 1024.0 * 1024.0;
    let (sink, counting) = start_counting_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "  queue: { size: 200000, consumers: 4 }",
        "assembly: { root_grace: 60s, trace_timeout: 120s, max_bytes: 1048576, max_spans_per_trace: 10000 }",
    )
    .await;
    let mut c = grpc_client(gw.grpc_addr().expect("grpc")).await;
    let mut i = 0;
    while i < SPANS {
        let spans = (i..(i + 1000).min(SPANS))
            .map(|s| open_span(7, s))
            .collect();
        c.export(request("huge", spans)).await.expect("accepted");
        i += 1000;
        let b = metric_sum(&gw.render_metrics(), "otel_llm_cost_buffered_bytes");
        assert!(b <= BUDGET, "buffered {b} bytes over the {BUDGET} budget");
    }
    let m = gw.metrics();
    let parts = m.traces_released.get("span_limit").copied().unwrap_or(0);
    assert!(parts >= 2, "released in parts: {:?}", m.traces_released);
    assert_eq!(m.spans_late, 0, "no span released alone");
    let report = gw.shutdown().await;
    let m = report.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported),
        (SPANS, SPANS),
        "{m:?}"
    );
    assert_eq!(m.not_delivered_total(), 0);
    assert_eq!(counting.distinct() as u64, SPANS, "no loss");
    assert!(counting.total() >= SPANS, "at least once");
}

/// The 1M-trace flood against the real (release) binary: `FLOOD_TRACES` one-span open traces
/// (default 1,000,000), `assembly.max_bytes` = `FLOOD_MAX_BYTES` (default 64 MiB); prints the
/// gateway's VmRSS / VmHWM sampled from /proc/<pid>/status during the flood, and checks that
/// every span is delivered. Run by `scripts/reliability/flood.sh`.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long; run by scripts/reliability/flood.sh"]
async fn flood_real_binary() {
    use common::gateway::process::{temp_dir, Serve};
    let traces: u64 = std::env::var("FLOOD_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let max_bytes: u64 = std::env::var("FLOOD_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20);
    // `memory_limiter.limit_mib` (0: off). When on, peak resident memory must stay under it.
    // `FLOOD_ONE_TRACE=1`: all FLOOD_TRACES spans belong to one trace.
    let one_trace = std::env::var("FLOOD_ONE_TRACE").is_ok_and(|v| v == "1");
    let max_spans_per_trace: u64 = std::env::var("FLOOD_MAX_SPANS_PER_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let limit_mib: u64 = std::env::var("FLOOD_MEMORY_LIMIT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (sink, counting) = start_counting_sink().await;
    let dir = temp_dir("flood");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
assembly: {{ root_grace: 300s, trace_timeout: 600s, max_traces: 2000000, max_bytes: {max_bytes}, max_spans_per_trace: {max_spans_per_trace} }}
exporter: {{ endpoint: "http://{sink}", queue: {{ size: 200000 }} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: warn }} }}
shutdown: {{ timeout: 120s }}
memory_limiter: {{ limit_mib: {limit_mib} }}
"#
        ),
    )
    .expect("config");
    let mut gw = Serve::start(&config, &[]);
    let (grpc, _, metrics) = gw.listening();
    let pid = gw.child.id();
    let rss_start = rss_kib(pid, "VmRSS:");
    let started = std::time::Instant::now();
    let mut max_rss = 0;
    let sent = flood(grpc, traces, 5000, one_trace, |sent| {
        max_rss = max_rss.max(rss_kib(pid, "VmRSS:"));
        if sent % 100_000 == 0 {
            eprintln!(
                "sent {sent}: VmRSS {} KiB, VmHWM {} KiB",
                rss_kib(pid, "VmRSS:"),
                rss_kib(pid, "VmHWM:")
            );
        }
    })
    .await;
    let flood_s = started.elapsed().as_secs_f64();
    otel_llm_cost::gateway::install_default_crypto_provider();
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let hwm = rss_kib(pid, "VmHWM:");
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(300));
    let summary = gw.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    eprintln!(
        "FLOOD spans={traces} one_trace={one_trace} max_spans_per_trace={max_spans_per_trace} max_bytes={max_bytes} memory_limit_mib={limit_mib} refused_memory_limit={} flood_s={flood_s:.1} rss_start_kib={rss_start} \
         max_rss_kib={max_rss} vmhwm_kib={hwm} buffered_bytes_end={} traces_buffered_end={} \
         evicted={} span_limit={} late={} delivered_distinct={} delivered_total={} summary={summary:?}",
        text.lines()
            .find(|l| l.contains("reason=\"memory_limit\"") && l.starts_with("otel_llm_cost_spans_refused_total"))
            .unwrap_or(""),
        metric_sum(&text, "otel_llm_cost_buffered_bytes"),
        metric_sum(&text, "otel_llm_cost_traces_buffered"),
        text.lines()
            .find(|l| l.contains("reason=\"evicted\"") && l.starts_with("otel_llm_cost_traces_released_total"))
            .unwrap_or(""),
        text.lines()
            .find(|l| l.contains("reason=\"span_limit\"") && l.starts_with("otel_llm_cost_traces_released_total"))
            .unwrap_or(""),
        metric_sum(&text, "otel_llm_cost_spans_late_total"),
        counting.distinct(),
        counting.total()
    );
    assert!(status.success(), "{}", gw.stderr());
    assert_eq!(sent, traces);
    assert_eq!(counting.distinct() as u64, traces, "no loss");
    if limit_mib > 0 {
        assert!(
            hwm <= limit_mib * 1024,
            "peak resident memory {hwm} KiB over memory_limiter.limit_mib {limit_mib} MiB"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
