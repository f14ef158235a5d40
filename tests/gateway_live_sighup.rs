//! Live prices in the gateway (issue 16): SIGHUP re-reads the price layers. In a test binary
//! of its own: the signal goes to the whole process, and would refresh the gateways of other
//! tests running beside it (tests/gateway_live_prices.rs counts refreshes exactly).
#![cfg(all(feature = "gateway", unix))]

mod common;

use std::time::Duration;

use common::gateway::*;
use common::{f64_attr, start_grpc_sink, Captured};
use otel_llm_cost::RunningGateway;

const WAIT: Duration = Duration::from_secs(15);

/// Sends one trace of one LLM call (`model`, 1000 prompt tokens) and returns its cost.
async fn cost_of(
    gw: &RunningGateway,
    sink: &Captured,
    trace: u8,
    name: &str,
    model: &str,
) -> Option<f64> {
    let before = sink.spans().len();
    send_grpc(
        gw.grpc_addr().expect("grpc"),
        request("svc", vec![span(trace, 1, 0, name, llm(model, 1000, 0))]),
    )
    .await
    .expect("accepted");
    assert_eq!(
        sink.wait_for(before + 1, WAIT).await,
        before + 1,
        "span {name} exported"
    );
    let spans = sink.spans();
    f64_attr(&by_name(&spans, name).attributes, "llm.cost.total")
}

fn refreshes(text: &str, outcome: &str) -> f64 {
    let key = format!("otel_llm_cost_catalog_refresh_total{{outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str())?.trim().parse().ok())
        .unwrap_or(-1.0)
}

/// Guards item 3's SIGHUP and overrides: overrides edited on disk apply after SIGHUP; a broken
/// overrides file is refused (counted as `layers`) and the previous one stays in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_overrides_and_a_broken_file_is_refused() {
    let file = std::env::temp_dir().join(format!("otel-llm-cost-live-{}.toml", std::process::id()));
    let prices = |input: u32| {
        format!("[[models]]\nid = \"acme-7b\"\nprovider = \"openai\"\n[[models.prices]]\ninput = {input}\noutput = 1\n")
    };
    std::fs::write(&file, prices(5)).unwrap();
    let (sink, captured) = start_grpc_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "assembly: {{ root_grace: 20ms, trace_timeout: 5s }}\npricing: {{ overrides: ['{}'] }}",
            file.display()
        ),
    )
    .await;
    let cost = cost_of(&gw, &captured, 1, "before", "acme-7b").await;
    assert_usd(cost, 0.005);

    let hup = |n: f64| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        n
    };
    std::fs::write(&file, prices(7)).unwrap();
    let want = hup(1.0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while refreshes(&scrape(&gw).await, "ok") < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the SIGHUP refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cost = cost_of(&gw, &captured, 2, "after", "acme-7b").await;
    assert_usd(cost, 0.007);

    std::fs::write(&file, "[[models]\nid = ").unwrap();
    hup(0.0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while refreshes(&scrape(&gw).await, "layers") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the refused SIGHUP refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cost = cost_of(&gw, &captured, 3, "broken", "acme-7b").await;
    assert_usd(cost, 0.007);
    gw.shutdown().await;
    std::fs::remove_file(&file).ok();
}
