//! The gateway priced by a built catalog file (`pricing.catalog.file`, `serve --catalog FILE`)
//! instead of the embedded one, over real OTLP on 127.0.0.1:0.
#![cfg(feature = "gateway")]

mod common;

use std::time::Duration;

use common::gateway::*;
use common::{f64_attr, start_grpc_sink, str_attr};

/// Guards: the catalog file is the one that prices (a model only it has is priced, and its
/// version is written), not the embedded catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_prices_instead_of_the_embedded_catalog() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/catalog-build/small_catalog.json"
    );
    let (sink, captured) = start_grpc_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "assembly: {{ root_grace: 50ms, trace_timeout: 5s }}\npricing: {{ catalog: {{ file: '{file}' }} }}"
        ),
    )
    .await;
    let grpc = gw.grpc_addr().expect("grpc");
    // openai/gpt-new (genai-prices only, $1 / $4 per M): 1000 x 1 + 100 x 4 = $0.0014.
    // The embedded catalog has no such model.
    send_grpc(
        grpc,
        request(
            "svc",
            vec![span(4, 1, 0, "call", llm("gpt-new-2026", 1000, 100))],
        ),
    )
    .await
    .expect("ok");
    assert_eq!(captured.wait_for(1, Duration::from_secs(10)).await, 1);
    let spans = captured.spans();
    let call = by_name(&spans, "call");
    assert_usd(f64_attr(&call.attributes, "llm.cost.total"), 0.0014);
    assert_eq!(
        str_attr(&call.attributes, "cost.pricing.model").as_deref(),
        Some("openai/gpt-new")
    );
    assert_eq!(
        str_attr(&call.attributes, "cost.pricing.catalog").as_deref(),
        Some("2026.01.01")
    );
    gw.shutdown().await;
}
