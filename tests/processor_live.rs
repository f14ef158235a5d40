//! Live prices in process (issue 16, item 4): a CostSpanProcessor whose catalog is replaced at
//! run time through its handle, and one refreshed by the `live` feature's thread from feeds
//! served on 127.0.0.1:0, with the gateway's validation. Real SDK spans.
#![cfg(feature = "live")]

#[path = "common/feeds.rs"]
mod feeds;
#[path = "common/http_server.rs"]
mod http_server;

#[path = "common/collect.rs"]
mod collect;
use collect::Collect;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_llm_cost::pricing::live::{CatalogSource, FailureKind, LiveOptions, SourceFormat};
use otel_llm_cost::{Catalog, CatalogHandle, CostSpanProcessor};

use feeds::{Answer, Feeds, GENAI, LITELLM};

/// Ends one LLM call span (`model`, 1000 input tokens) and returns (status, cost, catalog).
fn call(
    provider: &SdkTracerProvider,
    c: &Collect,
    model: &str,
) -> (String, Option<String>, Option<String>) {
    let tracer = provider.tracer("test");
    tracer.in_span("chat", |cx| {
        use opentelemetry::trace::TraceContextExt;
        let s = cx.span();
        s.set_attribute(KeyValue::new("gen_ai.operation.name", "chat"));
        s.set_attribute(KeyValue::new("gen_ai.request.model", model.to_owned()));
        s.set_attribute(KeyValue::new("gen_ai.system", "openai"));
        s.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 1000));
        s.set_attribute(KeyValue::new("gen_ai.usage.output_tokens", 0));
    });
    let spans = c.0.lock().unwrap();
    let last = spans.last().expect("a span");
    let get = |k: &str| {
        last.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    (
        get("cost.pricing.status").unwrap_or_default(),
        get("llm.cost.total"),
        get("cost.pricing.catalog"),
    )
}

fn provider_of(p: CostSpanProcessor<Collect>) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_span_processor(p).build()
}

/// Guards item 4's handle: the app replaces the catalog at run time; spans ended after it are
/// priced by the new catalog and name it.
#[test]
fn the_handle_replaces_the_catalog_for_later_spans() {
    let c = Collect::default();
    let p = CostSpanProcessor::builder(c.clone()).build().unwrap();
    let handle: CatalogHandle = p.catalog_handle();
    let provider = provider_of(p);
    let (status, _, _) = call(&provider, &c, "acme-7b");
    assert_eq!(status, "unknown_model");
    let mine = Catalog::builder()
        .with_overrides_toml(
            "mine.toml",
            "[[models]]\nid = \"acme-7b\"\nprovider = \"openai\"\n[[models.prices]]\ninput = 3\noutput = 1\n",
        )
        .build()
        .unwrap();
    let old = handle.replace(Arc::new(mine));
    assert!(old.get("acme-7b").is_none());
    let (status, cost, _) = call(&provider, &c, "acme-7b");
    assert_eq!(status, "priced");
    assert_eq!(cost.as_deref(), Some("0.003"));
    assert!(
        handle.refresh().is_none(),
        "no live sources: nothing to refresh"
    );
}

/// Guards item 4's refresher: built from the sources at start, refreshed by its thread every
/// interval; a model added upstream is priced after a refresh; a broken feed keeps the
/// catalog in use and is counted.
#[test]
fn the_refresher_thread_follows_the_feeds_and_keeps_the_catalog_on_failure() {
    let feeds = Feeds::start();
    let opts = LiveOptions {
        sources: vec![
            CatalogSource {
                format: SourceFormat::GenaiPrices,
                location: feeds.url(GENAI),
            },
            CatalogSource {
                format: SourceFormat::Litellm,
                location: feeds.url(LITELLM),
            },
        ],
        refresh_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        ..LiveOptions::default()
    };
    let c = Collect::default();
    let p = CostSpanProcessor::builder(c.clone())
        .with_live_catalog(opts)
        .build()
        .unwrap();
    let handle = p.catalog_handle();
    let refresher = handle.refresher().expect("live").clone();
    let provider = provider_of(p);
    assert_eq!(
        handle.current().models().len(),
        10,
        "built from the small feeds"
    );
    let (status, _, v1) = call(&provider, &c, "acme-fresh");
    assert_eq!(status, "unknown_model");
    assert!(v1.is_none());

    feeds.set_json(LITELLM, &feeds::litellm_with("acme-fresh", 2e-6, 4e-6));
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait("the thread's refresh to add acme-fresh", &|| {
        handle.current().get("acme-fresh").is_some()
    });
    let (status, cost, v) = call(&provider, &c, "acme-fresh");
    assert_eq!(status, "priced");
    assert_eq!(cost.as_deref(), Some("0.002"));
    assert_eq!(v.as_deref(), Some(&*handle.current().info().version));

    let count = |k: &str| {
        refresher
            .outcomes()
            .into_iter()
            .find(|(o, _)| *o == k)
            .map_or(0, |(_, n)| n)
    };
    feeds.set(
        GENAI,
        Answer::Canned(http_server::ok_json(b"<html>maintenance</html>".to_vec())),
    );
    let kept = handle.current();
    wait("an html_page refusal", &|| {
        count(FailureKind::HtmlPage.as_str()) >= 2
    });
    assert!(
        Arc::ptr_eq(&kept, &handle.current()),
        "the catalog in use is kept"
    );
    let (status, _, _) = call(&provider, &c, "acme-fresh");
    assert_eq!(status, "priced");
    drop(provider);
}
