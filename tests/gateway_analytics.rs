//! Budgets and cost anomalies configured in the gateway's YAML: flags on the released roots,
//! counted on `/metrics`.

mod common;

use std::time::Duration;

use common::gateway::{llm, request, scrape, send_grpc, span, start_gateway};
use common::{bool_attr, f64_attr, start_grpc_sink, str_attr};

const ANALYTICS: &str = r#"
assembly: { root_grace: 50ms, trace_timeout: 5s }
analytics:
  budgets:
    - name: support
      workflow: "support*"
      limit_usd: "0.005"
  anomaly: { enabled: true, window: 20, min_samples: 3, threshold: 3.0 }
"#;

/// gpt-4o-2024-08-06 at $2.50 / $10 per 1M: 1000 in / 100 out = $0.0035 per call.
fn trace(t: u8, root: &str, calls: u8) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    let mut v = vec![span(t, 1, 0, root, vec![])];
    for i in 0..calls {
        v.push(span(
            t,
            10 + i,
            1,
            "chat",
            llm("gpt-4o-2024-08-06", 1000, 100),
        ));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_and_anomalies_flag_exactly_the_traces_that_cross_them() {
    let (sink, captured) = start_grpc_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", ANALYTICS).await;
    let grpc = gw.grpc_addr().expect("grpc");
    // support: 1 call ($0.0035) under the $0.005 budget, 2 calls ($0.007) over it.
    // batch: 3 baseline traces of 1 call, then one of 2 calls (2x) and one of 5 calls (5x).
    let traces: Vec<(u8, &str, u8)> = vec![
        (1, "support run", 1),
        (2, "support run", 2),
        (3, "batch", 1),
        (4, "batch", 1),
        (5, "batch", 1),
        (6, "batch", 2),
        (7, "batch", 5),
    ];
    let mut expected = 0;
    for (t, root, calls) in &traces {
        send_grpc(grpc, request("svc", trace(*t, root, *calls)))
            .await
            .expect("accepted");
        expected += 1 + *calls as usize;
        // One at a time, so the baseline is built in order.
        assert_eq!(
            captured.wait_for(expected, Duration::from_secs(10)).await,
            expected
        );
    }
    let spans = captured.spans();
    let root = |t: u8| {
        spans
            .iter()
            .find(|(_, s)| s.trace_id == vec![t; 16] && s.parent_span_id.is_empty())
            .map(|(_, s)| s.clone())
            .expect("root exported")
    };
    assert_eq!(
        bool_attr(&root(1).attributes, "cost.budget.exceeded"),
        Some(false)
    );
    let over = root(2);
    assert_eq!(
        bool_attr(&over.attributes, "cost.budget.exceeded"),
        Some(true)
    );
    assert_eq!(
        str_attr(&over.attributes, "cost.budget.name").as_deref(),
        Some("support")
    );
    assert!(
        over.events.iter().any(|e| e.name == "cost.budget.exceeded"),
        "event on the root"
    );
    for t in 3..=7 {
        assert_eq!(
            bool_attr(&root(t).attributes, "cost.budget.exceeded"),
            None,
            "no rule for batch"
        );
    }
    assert_eq!(
        f64_attr(&root(5).attributes, "cost.anomaly.ratio"),
        None,
        "2 samples: no baseline"
    );
    let r6 = f64_attr(&root(6).attributes, "cost.anomaly.ratio").expect("ratio");
    assert!((r6 - 2.0).abs() < 1e-9, "{r6}");
    assert_eq!(
        bool_attr(&root(6).attributes, "cost.anomaly.detected"),
        Some(false)
    );
    let r7 = f64_attr(&root(7).attributes, "cost.anomaly.ratio").expect("ratio");
    assert!((r7 - 5.0).abs() < 1e-9, "{r7}");
    assert_eq!(
        bool_attr(&root(7).attributes, "cost.anomaly.detected"),
        Some(true)
    );

    let text = scrape(&gw).await;
    for (outcome, n) in [("over_budget", 1), ("anomaly", 1)] {
        let line = format!("otel_llm_cost_traces_total{{service=\"svc\",workflow=\"{}\",outcome=\"{outcome}\"}} {n}", if outcome == "anomaly" { "batch" } else { "support run" });
        assert!(text.contains(&line), "{line}\n{text}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn analytics_config_errors_are_all_reported() {
    let yaml = r#"
analytics:
  budgets:
    - name: ""
      limit_usd: "abc"
  anomaly: { enabled: true, window: 0, threshold: -1 }
  metrics: { max_models: 0 }
"#;
    let cfg = otel_llm_cost::GatewayConfig::from_yaml("t.yaml", yaml, None).expect("parses");
    let err = cfg.resolve(&|_| None).expect_err("invalid").to_string();
    for needle in [
        "analytics.budgets[0].name",
        "analytics.budgets[0].limit_usd",
        "analytics.anomaly.window",
        "analytics.anomaly.threshold",
        "analytics.metrics.max_models",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_traces_are_written_as_jsonl_cost_records() {
    let dir = std::env::temp_dir().join(format!("olc-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("costs.jsonl");
    let (sink, captured) = start_grpc_sink().await;
    let extra = format!(
        "assembly: {{ root_grace: 50ms, trace_timeout: 5s }}\nanalytics: {{ records: {{ path: '{}' }} }}",
        path.display()
    );
    let gw = start_gateway(&format!("http://{sink}"), "", &extra).await;
    let grpc = gw.grpc_addr().expect("grpc");
    send_grpc(grpc, request("svc", trace(9, "support run", 2)))
        .await
        .expect("accepted");
    assert_eq!(captured.wait_for(3, Duration::from_secs(10)).await, 3);
    gw.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("records written");
    let lines: Vec<&str> = text.lines().collect();
    // Two call records ($0.0035 each), then the trace record ($0.007).
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with(r#"{"type":"call""#), "{text}");
    assert!(lines[0].contains(r#""cost_usd":"0.0035""#), "{text}");
    assert!(lines[2].starts_with(r#"{"type":"trace""#), "{text}");
    assert!(lines[2].contains(r#""total_usd":"0.007""#), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 14: a cost record write that fails is counted (before: a warning only), and the trace's
/// spans are exported all the same. `/dev/full` takes the open and fails every write (ENOSPC).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cost_record_write_is_counted_and_the_spans_still_go_out() {
    let (sink, captured) = start_grpc_sink().await;
    let extra = "assembly: { root_grace: 50ms, trace_timeout: 5s }\nanalytics: { records: { path: '/dev/full' } }";
    let gw = start_gateway(&format!("http://{sink}"), "", extra).await;
    let grpc = gw.grpc_addr().expect("grpc");
    send_grpc(grpc, request("svc", trace(10, "support run", 2)))
        .await
        .expect("accepted");
    assert_eq!(captured.wait_for(3, Duration::from_secs(10)).await, 3);
    // The records thread writes after the release: wait (bounded) for its count.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.metrics().cost_records_dropped == 0 {
        assert!(
            tokio::time::Instant::now() < until,
            "no failed cost record write counted within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = scrape(&gw).await;
    let report = gw.shutdown().await;
    assert_eq!(
        report.metrics.cost_records_dropped, 1,
        "one trace's records"
    );
    assert!(report.metrics.balanced());
    assert_eq!(report.lost(), 0);
    assert!(
        text.contains("otel_llm_cost_cost_records_dropped_total{reason=\"write_failed\"} 1"),
        "{text}"
    );
}
