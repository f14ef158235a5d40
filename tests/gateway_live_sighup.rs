//! Live prices in the gateway (issue 16): SIGHUP re-reads the price layers. In a test binary
//! of its own: the signal goes to the whole process, and would refresh the gateways of other
//! tests running beside it (tests/gateway_live_prices.rs counts refreshes exactly).
#![cfg(all(feature = "gateway", unix))]

mod common;

use std::time::Duration;

use common::gateway::*;
use common::start_grpc_sink;
use otel_llm_cost::gateway::RunningGateway;

const WAIT: Duration = Duration::from_secs(15);

/// Waits (bounded) until `outcome` was counted `n` times.
async fn wait_refreshes(gw: &RunningGateway, outcome: &str, n: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while refreshes(&scrape(gw).await, outcome) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {n} refreshes with outcome {outcome}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Guards item 3's SIGHUP and overrides: overrides edited on disk apply after SIGHUP; a broken
/// overrides file (bad TOML, or a price naming an unknown unit) is refused (counted as
/// `layers`) and the previous one stays in use.
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
    let (_, cost, _) = price_one(&gw, &captured, 1, "before", "acme-7b").await;
    assert_usd(cost, 0.005);

    let hup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    std::fs::write(&file, prices(7)).unwrap();
    hup();
    wait_refreshes(&gw, "ok", 1.0).await;
    let (_, cost, _) = price_one(&gw, &captured, 2, "after", "acme-7b").await;
    assert_usd(cost, 0.007);

    std::fs::write(&file, "[[models]\nid = ").unwrap();
    hup();
    wait_refreshes(&gw, "layers", 1.0).await;
    let (_, cost, _) = price_one(&gw, &captured, 3, "broken", "acme-7b").await;
    assert_usd(cost, 0.007);

    // Well-formed TOML whose price names a unit the vocabulary lacks (issue 15): refused the
    // same way, the previous catalog stays.
    std::fs::write(
        &file,
        format!("{}units = {{ web_search = 8 }}\n", prices(9)),
    )
    .unwrap();
    hup();
    wait_refreshes(&gw, "layers", 2.0).await;
    let (_, cost, _) = price_one(&gw, &captured, 4, "bad unit", "acme-7b").await;
    assert_usd(cost, 0.007);
    gw.shutdown().await;
    std::fs::remove_file(&file).ok();
}
