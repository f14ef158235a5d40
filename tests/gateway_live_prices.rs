//! Live prices in the gateway (issue 16): the catalog built from upstream feeds served on
//! 127.0.0.1:0, refreshed at run time (on request, on SIGHUP), each failure kind keeping the
//! catalog in use and counted, the cache used at start when the sources are unreachable, the
//! overrides re-read. Real OTLP over real sockets.
#![cfg(feature = "gateway")]

mod common;
#[path = "common/feeds.rs"]
mod feeds;
#[path = "common/http_server.rs"]
mod http_server;

use std::net::SocketAddr;
use std::time::Duration;

use common::gateway::*;
use common::{f64_attr, start_grpc_sink, str_attr};
use feeds::{Answer, Feeds, GENAI, LITELLM};
use http_server::Canned;
use otel_llm_cost::gateway::RunningGateway;
use otel_llm_cost::pricing::live::FailureKind;

async fn start(sink: SocketAddr, catalog: &str) -> RunningGateway {
    start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "assembly: {{ root_grace: 20ms, trace_timeout: 5s }}\npricing: {{ catalog: {catalog} }}"
        ),
    )
    .await
}

/// The metric line with these labels, as a number.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// Guards items 3's first two cases: a model added upstream is `unknown_model` before the
/// refresh and priced after it; a price changed upstream applies to traces priced after the
/// swap, not to those priced before, and each span names the catalog that priced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_model_and_a_price_change_apply_after_the_swap_only() {
    let feeds = Feeds::start();
    let (sink, captured) = start_grpc_sink().await;
    let gw = start(sink, &format!("{{ sources: {} }}", feeds.sources_yaml())).await;
    let text = scrape(&gw).await;
    assert!(
        text.contains("otel_llm_cost_catalog_info{version=\"")
            && text.contains("source=\"sources\"} 1"),
        "{text}"
    );
    assert_eq!(sample(&text, "otel_llm_cost_catalog_models"), Some(10.0));

    // Before: the new model is unknown; odd-rate costs 0.123456789 per M.
    let (status, _, _) = price_one(&gw, &captured, 1, "new-before", "acme-fresh").await;
    assert_eq!(status, "unknown_model");
    let (status, cost, v1) = price_one(&gw, &captured, 2, "odd-before", "odd-rate").await;
    assert_eq!(status, "priced");
    assert_usd(cost, 0.000_123_456_789);
    let v1 = v1.expect("catalog version");

    // Upstream: acme-fresh appears, odd-rate's input price goes to 1 per M.
    let map: serde_json::Value =
        serde_json::from_str(&feeds::litellm_with("acme-fresh", 2e-6, 4e-6)).unwrap();
    let mut map = map.as_object().unwrap().clone();
    map["odd-rate"]["input_cost_per_token"] = serde_json::json!(1e-6);
    feeds.set_json(LITELLM, &serde_json::to_string(&map).unwrap());
    let r = gw.refresh_catalog().await.expect("refresh succeeds");
    assert_eq!(r.diff.added.len(), 1, "{}", r.diff);
    assert_eq!(r.diff.added[0].id, "acme-fresh");
    assert_eq!(r.diff.changed.len(), 1, "{}", r.diff);
    assert_eq!(r.diff.changed[0].id, "odd-rate");

    let (status, cost, v2) = price_one(&gw, &captured, 3, "new-after", "acme-fresh").await;
    assert_eq!(status, "priced");
    assert_usd(cost, 0.002);
    let v2 = v2.expect("catalog version");
    assert_ne!(v1, v2, "the span names the catalog that priced it");
    let (_, cost, _) = price_one(&gw, &captured, 4, "odd-after", "odd-rate").await;
    assert_usd(cost, 0.001);
    // The span priced before the swap kept the old price and version.
    let spans = captured.spans();
    let before = by_name(&spans, "odd-before");
    assert_usd(
        f64_attr(&before.attributes, "llm.cost.total"),
        0.000_123_456_789,
    );
    assert_eq!(
        str_attr(&before.attributes, "cost.pricing.catalog"),
        Some(v1)
    );

    let text = scrape(&gw).await;
    assert_eq!(refreshes(&text, "ok"), 1.0, "{text}");
    assert_eq!(sample(&text, "otel_llm_cost_catalog_models"), Some(11.0));
    assert!(text.contains(&format!("version=\"{v2}\"")), "{text}");
    let age = sample(&text, "otel_llm_cost_catalog_age_seconds").expect("age");
    assert!((0.0..3600.0).contains(&age), "{age}");
    gw.shutdown().await;
}

/// Guards item 3's failure rule: every failure kind keeps the catalog in use (the span is
/// still priced by it, with its version) and is counted under its own outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_kind_keeps_the_catalog_in_use_and_is_counted() {
    let feeds = Feeds::start();
    let (sink, captured) = start_grpc_sink().await;
    let gw = start(
        sink,
        &format!("{{ sources: {}, timeout: 500ms }}", feeds.sources_yaml()),
    )
    .await;
    let (_, cost, v1) = price_one(&gw, &captured, 1, "first", "odd-rate").await;
    assert_usd(cost, 0.000_123_456_789);
    let good = feeds::fixture("genai_small_v2.json");
    let html = Canned {
        status: 200,
        content_type: "text/html",
        body: b"<!DOCTYPE html><html><body>Please sign in</body></html>".to_vec(),
        cut: false,
    };
    let cut = Canned {
        cut: true,
        ..http_server::ok_json(good.clone().into_bytes())
    };
    let status_503 = Canned {
        status: 503,
        content_type: "text/plain",
        body: b"upstream down".to_vec(),
        cut: false,
    };
    // Two OpenAI models whose ids differ only in case: the built catalog breaks the id
    // invariant (ids are case-insensitive).
    let invalid_catalog = feeds::genai_with(
        r#"{"id": "GPT-NEW", "match": {"equals": "zz"}, "prices": {"input_mtok": 1, "output_mtok": 4}}"#,
    );
    let cases: Vec<(&'static str, Answer, FailureKind)> = vec![
        (GENAI, Answer::Canned(status_503), FailureKind::HttpError),
        (GENAI, Answer::Canned(html), FailureKind::HtmlPage),
        (GENAI, Answer::Canned(cut), FailureKind::Truncated),
        (
            GENAI,
            Answer::Canned(http_server::ok_json(
                good.as_bytes()[..good.len() / 2].to_vec(),
            )),
            FailureKind::Truncated,
        ),
        (
            GENAI,
            Answer::Canned(http_server::ok_json(b"{\"providers\": ]".to_vec())),
            FailureKind::InvalidJson,
        ),
        // Not UTF-8 (a mirror saved as UTF-16): whole, so not `truncated`.
        (
            GENAI,
            Answer::Canned(http_server::ok_json(b"\xff\xfe[\x00]\x00".to_vec())),
            FailureKind::InvalidJson,
        ),
        (
            GENAI,
            Answer::Silent(Duration::from_secs(3)),
            FailureKind::Timeout,
        ),
        (GENAI, Answer::Close, FailureKind::Unreachable),
        (
            LITELLM,
            Answer::Canned(http_server::ok_json(
                feeds::litellm_without(&["odd-rate", "tts-1"]).into_bytes(),
            )),
            FailureKind::ModelsLost,
        ),
        (
            GENAI,
            Answer::Canned(http_server::ok_json(invalid_catalog.into_bytes())),
            FailureKind::InvalidCatalog,
        ),
    ];
    for (i, (path, answer, kind)) in cases.into_iter().enumerate() {
        feeds.set(path, answer);
        let e = gw.refresh_catalog().await.expect_err("refused");
        assert_eq!(e.kind, kind, "case {i}: {e}");
        // Back to good feeds for the next case (one thing broken at a time).
        feeds.set_json(GENAI, &good);
        feeds.set_json(LITELLM, &feeds::fixture("litellm_small.json"));
        let (status, cost, v) = price_one(
            &gw,
            &captured,
            10 + i as u8,
            &format!("after-{i}"),
            "odd-rate",
        )
        .await;
        assert_eq!(status, "priced", "case {i}");
        assert_usd(cost, 0.000_123_456_789);
        assert_eq!(v, v1, "case {i}: the catalog in use is kept");
    }
    let text = scrape(&gw).await;
    for (outcome, n) in [
        ("ok", 0.0),
        ("http_error", 1.0),
        ("html_page", 1.0),
        ("truncated", 2.0),
        ("invalid_json", 2.0),
        ("timeout", 1.0),
        ("unreachable", 1.0),
        ("models_lost", 1.0),
        ("invalid_catalog", 1.0),
    ] {
        assert_eq!(refreshes(&text, outcome), n, "{outcome}: {text}");
    }
    gw.shutdown().await;
}

/// Guards item 3's start order: a gateway whose sources are unreachable at start serves the
/// cached last good catalog (written by an earlier start), says so and counts the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_unreachable_at_start_serve_the_cached_catalog() {
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-live-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let feeds = Feeds::start();
    let added = feeds::litellm_with("acme-fresh", 2e-6, 4e-6);
    feeds.set_json(LITELLM, &added);
    let (sink, captured) = start_grpc_sink().await;
    let cache = dir.display().to_string();
    let gw = start(
        sink,
        &format!(
            "{{ sources: {}, cache_dir: '{cache}' }}",
            feeds.sources_yaml()
        ),
    )
    .await;
    let (_, _, built) = price_one(&gw, &captured, 1, "first", "acme-fresh").await;
    gw.shutdown().await;
    assert!(dir.join("catalog.json").is_file(), "the cache is written");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        ["catalog.json"],
        "renamed into place, no temporary file left"
    );

    // Nothing listens at the sources any more.
    let dead = closed_port();
    let url = format!("http://{}", dead.addr);
    let gw = start(
        sink,
        &format!(
            "{{ sources: [{{ format: genai-prices, url: '{url}/g.json' }}, {{ format: litellm, url: '{url}/l.json' }}], cache_dir: '{cache}' }}"
        ),
    )
    .await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"cache\"} 1"), "{text}");
    assert_eq!(refreshes(&text, "unreachable"), 1.0, "{text}");
    // Priced by the cached catalog (the model only it has), under its version.
    let (status, cost, v) = price_one(&gw, &captured, 2, "second", "acme-fresh").await;
    assert_eq!(status, "priced");
    assert_usd(cost, 0.002);
    assert_eq!(v, built);
    gw.shutdown().await;
    drop(dead);
    std::fs::remove_dir_all(&dir).ok();
}

/// Guards item 3's interval: with `refresh_interval`, the gateway refreshes on its own; a model
/// added upstream gets priced without any signal or call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interval_refreshes_on_its_own() {
    let feeds = Feeds::start();
    let (sink, captured) = start_grpc_sink().await;
    let gw = start(
        sink,
        &format!(
            "{{ sources: {}, refresh_interval: 50ms }}",
            feeds.sources_yaml()
        ),
    )
    .await;
    let (status, _, _) = price_one(&gw, &captured, 1, "before", "acme-fresh").await;
    assert_eq!(status, "unknown_model");
    feeds.set_json(LITELLM, &feeds::litellm_with("acme-fresh", 2e-6, 4e-6));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while sample(&scrape(&gw).await, "otel_llm_cost_catalog_models") != Some(11.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for an interval refresh to add acme-fresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, cost, _) = price_one(&gw, &captured, 2, "after", "acme-fresh").await;
    assert_eq!(status, "priced");
    assert_usd(cost, 0.002);
    gw.shutdown().await;
}

/// Guards "one source alone is a normal case": a user with only the genai-prices feed (here a
/// mirrored file, as air-gapped) or only LiteLLM's map gets a catalog of that feed's models
/// from the sources. It used to be refused at config time ("exactly one is needed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_alone_builds_the_catalog() {
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-live-one-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mirror = dir.join("data.json");
    std::fs::write(&mirror, feeds::fixture("genai_small_v2.json")).unwrap();
    let (sink, captured) = start_grpc_sink().await;
    let gw = start(
        sink,
        &format!(
            "{{ sources: [{{ format: genai-prices, path: '{}' }}] }}",
            mirror.display()
        ),
    )
    .await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"sources\"} 1"), "{text}");
    let (status, _, _) = price_one(&gw, &captured, 1, "genai-only", "gpt-new").await;
    assert_eq!(status, "priced", "a genai-prices model");
    let (status, _, _) = price_one(&gw, &captured, 2, "litellm-model", "odd-rate").await;
    assert_eq!(status, "unknown_model", "LiteLLM's models are not in it");
    let r = gw
        .refresh_catalog()
        .await
        .expect("a refresh of the one source");
    assert!(
        r.diff.added.is_empty() && r.diff.removed.is_empty(),
        "{}",
        r.diff
    );
    gw.shutdown().await;

    let feeds = Feeds::start();
    let gw = start(
        sink,
        &format!(
            "{{ sources: [{{ format: litellm, url: '{}' }}] }}",
            feeds.url(LITELLM)
        ),
    )
    .await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"sources\"} 1"), "{text}");
    let (status, cost, _) = price_one(&gw, &captured, 3, "litellm-only", "odd-rate").await;
    assert_eq!(status, "priced", "a LiteLLM model");
    assert_usd(cost, 0.000_123_456_789);
    let (status, _, _) = price_one(&gw, &captured, 4, "genai-model", "gpt-new").await;
    assert_eq!(
        status, "unknown_model",
        "genai-prices' models are not in it"
    );
    gw.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Guards the loss rule's reference: a gateway that started on the embedded catalog (sources
/// down, no cache) took the sources' catalog at no refresh after they came back, when it was
/// smaller than the embedded one by more than 10 % (a mirrored subset, one source alone):
/// `models_lost`, every time, for good. The rule now measures against a catalog of the same
/// sources only, as at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_at_start_is_replaced_by_the_sources_when_they_come_back() {
    let feeds = Feeds::start();
    feeds.set(GENAI, Answer::Close);
    feeds.set(LITELLM, Answer::Close);
    let (sink, captured) = start_grpc_sink().await;
    let gw = start(sink, &format!("{{ sources: {} }}", feeds.sources_yaml())).await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"embedded\"} 1"), "{text}");
    assert_eq!(refreshes(&text, "unreachable"), 1.0, "{text}");
    let (status, _, _) = price_one(&gw, &captured, 1, "before", "odd-rate").await;
    assert_eq!(status, "unknown_model");

    feeds.set_json(GENAI, &feeds::fixture("genai_small_v2.json"));
    feeds.set_json(LITELLM, &feeds::fixture("litellm_small.json"));
    let r = gw
        .refresh_catalog()
        .await
        .expect("the sources' catalog is taken");
    assert!(
        !r.diff.removed.is_empty(),
        "smaller than the embedded one: {}",
        r.diff
    );
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"sources\"} 1"), "{text}");
    assert_eq!(refreshes(&text, "models_lost"), 0.0, "{text}");
    let (status, _, _) = price_one(&gw, &captured, 2, "after", "odd-rate").await;
    assert_eq!(status, "priced");
    gw.shutdown().await;
}

/// Guards "the cache is the last good catalog of the same sources": after the sources changed
/// (here to LiteLLM's map alone), the new sources' catalog was measured against the cache of
/// the old ones and refused (`models_lost`) at start and at every refresh, for good. Now a
/// cache of other sources is only a fallback: the new sources' catalog is used and cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_of_other_sources_is_only_a_fallback() {
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-live-other-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = dir.display().to_string();
    let feeds = Feeds::start();
    let (sink, captured) = start_grpc_sink().await;
    let both = format!(
        "{{ sources: {}, cache_dir: '{cache}' }}",
        feeds.sources_yaml()
    );
    let gw = start(sink, &both).await;
    gw.shutdown().await;
    assert!(dir.join("catalog.json").is_file(), "the cache is written");

    let one = format!(
        "{{ sources: [{{ format: litellm, url: '{}' }}], cache_dir: '{cache}' }}",
        feeds.url(LITELLM)
    );
    let gw = start(sink, &one).await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"sources\"} 1"), "{text}");
    assert_eq!(refreshes(&text, "models_lost"), 0.0, "{text}");
    let (status, _, _) = price_one(&gw, &captured, 1, "genai-model", "gpt-new").await;
    assert_eq!(
        status, "unknown_model",
        "the new sources' catalog is in use"
    );
    gw.refresh_catalog()
        .await
        .expect("a refresh of the same sources");
    gw.shutdown().await;

    // The cache now holds the new sources' catalog: with the source down, it is served.
    drop(feeds);
    let gw = start(sink, &one).await;
    let text = scrape(&gw).await;
    assert!(text.contains("source=\"cache\"} 1"), "{text}");
    let (status, _, _) = price_one(&gw, &captured, 2, "from-cache", "gpt-new").await;
    assert_eq!(
        status, "unknown_model",
        "the new sources' catalog was cached"
    );
    let (status, _, _) = price_one(&gw, &captured, 3, "from-cache-2", "odd-rate").await;
    assert_eq!(status, "priced");
    gw.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Every problem of the live fields is reported at once.
#[test]
fn the_live_fields_are_validated_all_at_once() {
    use otel_llm_cost::gateway::config::GatewayConfig;
    let yaml = r#"
exporter: { endpoint: "http://127.0.0.1:4317" }
pricing:
  catalog:
    sources:
      - { format: genai-prices, url: "ftp://mirror/data.json" }
      - { format: genai-prices, path: a.json, url: "http://x/y" }
    timeout: 0s
    cache_dir: /tmp/x
"#;
    let e = GatewayConfig::from_yaml("t", yaml, None)
        .expect("parses")
        .resolve(&|_| None)
        .expect_err("invalid")
        .to_string();
    for want in [
        "sources[0].url: 'ftp://mirror/data.json' is not an http:// or https:// URL",
        "sources[1] (genai-prices): give exactly one of url and path",
        "2 'genai-prices' sources; at most one is allowed",
        "pricing.catalog.timeout: must be more than 0s",
    ] {
        assert!(e.contains(want), "{want} in {e}");
    }
    let e = GatewayConfig::from_yaml(
        "t",
        "pricing: { catalog: { sources: [{ format: tarball, url: 'http://x' }] } }",
        None,
    )
    .expect_err("unknown format")
    .to_string();
    assert!(e.contains("tarball"), "{e}");
}
