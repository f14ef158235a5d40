//! Bounds on what one span can cost the gateway (issue 13, B4-B6): model and provider strings
//! are length-capped before they are looked up or become labels, the model-resolution cache is
//! bounded in bytes, pricing one model with many providers stays linear, every `/metrics` label
//! is bounded in count and length, and the counters balance at every scrape, under load too.
//!
//! Everything runs the real gateway in process on 127.0.0.1:0, with real OTLP/gRPC senders and
//! a real sink; waits are bounded and fail saying what they waited for; no duration is asserted.
#![cfg(all(feature = "gateway", feature = "internals"))]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::gateway::*;
use common::str_attr;
use opentelemetry_proto::tonic::trace::v1::Span;

const FAST: &str = "assembly: { root_grace: 0s, trace_timeout: 1s }";

/// An OTel GenAI call span of trace `t`, span `s` under the trace's root (span 1), with this
/// model and provider (`gen_ai.system`).
fn call(t: u64, s: u64, model: &str, provider: &str) -> Span {
    span_n(
        t,
        s,
        1,
        "chat",
        vec![
            kv_str("gen_ai.operation.name", "chat"),
            kv_str("gen_ai.system", provider),
            kv_str("gen_ai.request.model", model),
            kv_int("gen_ai.usage.input_tokens", 100),
            kv_int("gen_ai.usage.output_tokens", 10),
        ],
    )
}

/// Traces `ts`, each of a root (span 1) named `root` and `calls` calls (spans 2..) whose model
/// and provider `attrs(trace, span)` gives.
fn traces(
    ts: std::ops::Range<u64>,
    root: &str,
    calls: u64,
    attrs: impl Fn(u64, u64) -> (String, String),
) -> Vec<Span> {
    let mut out = Vec::new();
    for t in ts {
        out.push(span_n(t, 1, 0, root, vec![]));
        for s in 2..2 + calls {
            let (model, provider) = attrs(t, s);
            out.push(call(t, s, &model, &provider));
        }
    }
    out
}

/// Guards issue 13, B5: 100k spans of one model with distinct provider names took 31 CPU-s to
/// price (each lookup scanned a list of every provider seen with the model). Now each
/// (model, provider) pair is one cache entry, and pricing stays linear. 150,000 calls of one
/// model, each with its own 128-byte provider, through the real gateway, the wait bounded at
/// 45 s: this debug build needs 6-13 s; the starting code (quadratic) took 158 s for the test
/// and had delivered 81,507 of the spans when the wait ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_with_many_providers_prices_in_linear_time() {
    const TRACES: u64 = 1_500;
    const CALLS: u64 = 100;
    let (sink, counting) = start_counting_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let mut client = grpc_client(gw.grpc_addr().expect("grpc")).await;
    for chunk in 0..TRACES / 50 {
        let spans = traces(chunk * 50..(chunk + 1) * 50, "root", CALLS, |t, s| {
            (
                "gpt-4o".to_owned(),
                format!("{}{:08}", "x".repeat(120), t * CALLS + s),
            )
        });
        client
            .export(request("svc", spans))
            .await
            .expect("accepted");
    }
    let n = TRACES * (CALLS + 1);
    let calls = TRACES * CALLS;
    counting
        .wait_for(
            n as usize,
            Duration::from_secs(45),
            "151,500 spans (150,000 calls of one model, each with its own provider) priced and delivered",
        )
        .await;
    assert_eq!(counting.of("priced"), calls);
    // 150,000 distinct pairs went through the resolve cache: bounded in bytes, and shown.
    let cache = metric(&gw, "otel_llm_cost_model_cache_bytes").await;
    assert!(
        cache > 0.0 && cache <= 4.0 * 1024.0 * 1024.0,
        "resolve cache: {cache} bytes"
    );
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
    assert_eq!(m.engine.priced, calls, "{m:?}");
}

/// The invariant's terms in one scrape: (received, right-hand side, spans inside the gateway).
fn terms(text: &str) -> (f64, f64, f64) {
    let received = metric_sum(text, "otel_llm_cost_spans_received_total");
    let done = metric_sum(text, "otel_llm_cost_spans_exported_total")
        + metric_sum(text, "otel_llm_cost_spans_not_delivered_total");
    let inside = metric_sum(text, "otel_llm_cost_spans_buffered")
        + metric_sum(text, "otel_llm_cost_spans_pricing")
        + metric_sum(text, "otel_llm_cost_spans_queued")
        + metric_sum(text, "otel_llm_cost_spans_exporting");
    (received, done + inside, inside)
}

/// Guards issue 13 ("spans being priced are in no gauge"): under load, a scrape showed
/// received != exported + not delivered + buffered + queued + exporting (gaps up to 6,189),
/// because spans being priced, and spans just received and not yet buffered, were in no term.
/// Two senders push 60,000 LLM spans over gRPC while `/metrics` is scraped over HTTP in a
/// loop; every scrape must balance (`spans_pricing` included), and some must see spans inside
/// the gateway (else the check proved nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_invariant_holds_at_every_scrape_under_load() {
    const SENDERS: u64 = 2;
    const REQUESTS: u64 = 30; // per sender
    const TRACES: u64 = 20; // per request
    const CALLS: u64 = 49; // per trace, plus the root
    let (sink, counting) = start_counting_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let grpc = gw.grpc_addr().expect("grpc");
    let mut senders = Vec::new();
    for id in 0..SENDERS {
        senders.push(tokio::spawn(async move {
            let mut client = grpc_client(grpc).await;
            for r in 0..REQUESTS {
                let first = (id * REQUESTS + r) * TRACES;
                let spans = traces(first..first + TRACES, "agent run", CALLS, |_, _| {
                    ("gpt-4o-2024-08-06".to_owned(), "openai".to_owned())
                });
                client
                    .export(request("svc", spans))
                    .await
                    .expect("accepted");
            }
        }));
    }
    let n = SENDERS * REQUESTS * TRACES * (CALLS + 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (mut scrapes, mut under_load) = (0, 0);
    loop {
        let text = scrape(&gw).await;
        let (received, rhs, inside) = terms(&text);
        scrapes += 1;
        assert_eq!(
            received, rhs,
            "scrape {scrapes}: received != exported + not delivered + buffered + pricing + queued + exporting:\n{}",
            text.lines().filter(|l| l.starts_with("otel_llm_cost_spans")).collect::<Vec<_>>().join("\n")
        );
        if inside > 0.0 {
            under_load += 1;
        }
        if counting.distinct() as u64 >= n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 60 s for {n} spans at the sink; {} arrived",
            counting.distinct()
        );
    }
    for s in senders {
        s.await.expect("sender");
    }
    assert!(
        under_load >= 3,
        "only {under_load} of {scrapes} scrapes saw spans inside the gateway: no load seen"
    );
    assert_eq!(counting.of("priced"), SENDERS * REQUESTS * TRACES * CALLS);
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
    assert_eq!(m.spans_exported, n);
}

/// Label values of every sample line of a Prometheus text.
fn label_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((labels, _)) = rest.rsplit_once('}') else {
            continue;
        };
        // Values are quoted with `\"` and `\\` escaped; names never contain `="`.
        let mut s = labels;
        while let Some((name, after)) = s.split_once("=\"") {
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = after.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            value.push(e);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            out.push((name.trim_start_matches(',').to_owned(), value));
            s = &after[end..];
        }
    }
    out
}

/// A call span that carries its own cost (`llm.cost.total`): priced as `provided`, its own
/// model and provider become the cost series' labels.
fn provided(t: u64, s: u64, model: &str, provider: &str) -> Span {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    span_n(
        t,
        s,
        1,
        "llm",
        vec![
            kv_str("openinference.span.kind", "LLM"),
            kv_str("llm.model_name", model),
            kv_str("llm.provider", provider),
            kv_int("llm.token_count.prompt", 10),
            kv_int("llm.token_count.completion", 5),
            KeyValue {
                key: "llm.cost.total".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(0.01)),
                }),
                ..Default::default()
            },
        ],
    )
}

/// Guards issue 13, B6: 20,000 distinct `gen_ai.system` values made 20,000 series (the
/// provider label had no limit), and 100 root span names of 1 MiB made an 839 MB scrape (no
/// label had a length limit). 2,000 distinct providers, 2,000 distinct models, 20 root names
/// of 64 KiB and 20 services of 64 KiB: every label of `/metrics` stays within its count
/// (`max_providers` 50, `max_models` 200, ...) and length (`max_label_bytes` 256) limits, the
/// rest is `other`, and the cost is all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_labels_are_bounded_in_count_and_length() {
    let (sink, counting) = start_counting_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let mut client = grpc_client(gw.grpc_addr().expect("grpc")).await;
    // 40 traces of 50 provided calls: 2,000 distinct providers and models.
    let mut spans = Vec::new();
    for t in 0..40u64 {
        spans.push(span_n(t, 1, 0, "run", vec![]));
        for s in 2..52 {
            let k = t * 50 + s;
            spans.push(provided(t, s, &format!("model-{k}"), &format!("prov-{k}")));
        }
    }
    client
        .export(request("svc", spans))
        .await
        .expect("accepted");
    // 20 traces with 64 KiB root names, each from a service with a 64 KiB name.
    let long = |c: char, i: u64| format!("{i:03}{}", c.to_string().repeat(64 * 1024));
    for t in 100..120u64 {
        let spans = vec![
            span_n(t, 1, 0, &long('w', t), vec![]),
            call(t, 2, "gpt-4o-2024-08-06", "openai"),
        ];
        client
            .export(request(&long('s', t), spans))
            .await
            .expect("accepted");
    }
    let n = 40 * 51 + 20 * 2;
    counting
        .wait_for(n, Duration::from_secs(30), "every span delivered")
        .await;
    let text = scrape(&gw).await;
    let labels = label_values(&text);
    assert!(!labels.is_empty());
    for (name, value) in &labels {
        assert!(
            value.len() <= 256, // max_label_bytes: 256 (default)
            "label {name} has a {}-byte value",
            value.len()
        );
    }
    let distinct = |name: &str| {
        labels
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (providers, models) = (distinct("provider"), distinct("model"));
    assert_eq!(providers.len(), 51, "50 first come + other: {providers:?}");
    assert!(providers.contains("other"));
    assert_eq!(models.len(), 201, "200 first come + other");
    assert!(distinct("workflow").contains("other"));
    assert!(distinct("service").contains("other"));
    // Nothing lost to the caps: 2,000 calls at $0.01 plus 20 priced calls.
    let calls = metric_sum(&text, "otel_llm_cost_llm_calls_total");
    assert_eq!(calls, 2_020.0);
    let usd = metric_sum(&text, "otel_llm_cost_usd_total");
    assert!((usd - 20.0).abs() < 0.01, "{usd}");
    assert!(
        text.len() < 2 << 20,
        "a {}-byte scrape for {} series",
        text.len(),
        labels.len()
    );
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
}

/// Guards issue 13, B4: 300 spans each with a distinct 1 MiB `gen_ai.request.model` grew the
/// gateway by 362 MiB and kept it (the resolve cache was bounded in entries, not bytes). Now a
/// model over 512 bytes or a provider over 128 is never looked up: the call is `invalid_usage`
/// naming the attribute, forwarded and counted, and the cache's bytes (shown on `/metrics`)
/// stay within their budget. 64 calls with 64 KiB models and 64 with 1 KiB providers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_models_and_providers_are_invalid_usage_and_never_cached() {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let mut client = grpc_client(gw.grpc_addr().expect("grpc")).await;
    let spans = traces(0..8, "root", 16, |t, s| {
        if t < 4 {
            (
                format!("gpt-4o-{t}-{s}-{}", "m".repeat(64 * 1024)),
                "openai".into(),
            )
        } else {
            ("gpt-4o".into(), format!("{t}-{s}-{}", "p".repeat(1024)))
        }
    });
    client
        .export(request("svc", spans))
        .await
        .expect("accepted");
    assert_eq!(
        faults.captured.wait_for(136, Duration::from_secs(30)).await,
        136
    );
    let spans = faults.captured.spans();
    let mut seen = BTreeMap::<String, usize>::new();
    for (_, s) in spans.iter().filter(|(_, s)| s.name == "chat") {
        assert_eq!(
            str_attr(&s.attributes, "cost.pricing.status").as_deref(),
            Some("invalid_usage"),
            "{:.80}",
            str_attr(&s.attributes, "cost.pricing.reason").unwrap_or_default()
        );
        let reason = str_attr(&s.attributes, "cost.pricing.reason").expect("reason");
        assert!(reason.len() < 200, "the reason does not repeat the value");
        *seen
            .entry(reason.split('\'').nth(1).unwrap_or("").to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ("gen_ai.request.model".to_owned(), 64),
            ("gen_ai.system".to_owned(), 64)
        ])
    );
    let text = scrape(&gw).await;
    assert_eq!(
        metric_sum(&text, "otel_llm_cost_spans_unpriced_total"),
        128.0
    );
    let cache = metric_sum(&text, "otel_llm_cost_model_cache_bytes");
    assert!(cache < 64.0 * 1024.0, "the cache holds {cache} bytes");
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
    assert_eq!(m.engine.invalid_usage, 128);
}

/// Reproductions of issue 13's B4-B6 and the scrape gap against a real `otel-llm-cost serve`
/// binary (`REDTEAM_BIN`, default this build's; `/work/bin/otel-llm-cost-base` gives the
/// "before" figures), one attack per run (`REDTEAM_ATTACK`). Prints one `REDTEAM` line: the
/// gateway's peak resident memory (VmHWM), CPU seconds (utime + stime from /proc), one scrape's
/// size and time, and spans acknowledged / delivered / lost. Run by
/// `scripts/redteam/redteam-bounds.sh`; figures in RELIABILITY.md ("Red-team round 2").
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long against the release binary; run by scripts/redteam/redteam-bounds.sh"]
async fn red_team_bounds_real_binary() {
    use common::gateway::process::{temp_dir, Serve};
    let bin = std::env::var("REDTEAM_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_otel-llm-cost").to_owned());
    let attack = std::env::var("REDTEAM_ATTACK").unwrap_or_else(|_| "b5".into());
    let limiter = if attack == "b4-limiter" {
        "memory_limiter: { limit_mib: 256 }"
    } else {
        ""
    };
    let (sink, counting) = start_counting_sink().await;
    let dir = temp_dir(&format!("redteam-{attack}"));
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
assembly: {{ root_grace: 0s, trace_timeout: 10s }}
exporter: {{ endpoint: "http://{sink}", queue: {{ size: 200000 }} }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: warn }} }}
shutdown: {{ timeout: 60s }}
{limiter}
"#
        ),
    )
    .expect("config");
    let mut gw = Serve::start_binary(std::path::Path::new(&bin), &config, &[], None);
    let (grpc, _, metrics) = gw.listening();
    let pid = gw.child.id();
    let status_kib = |field: &str| rss_kib(pid, field);
    let cpu_s = || otel_llm_cost::internals::gateway::process_cpu_seconds(pid).unwrap_or_default();
    otel_llm_cost::gateway::install_default_crypto_provider();
    let http = reqwest::Client::new();
    let get_metrics = || async {
        let t = std::time::Instant::now();
        let text = http
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        (text, t.elapsed().as_secs_f64())
    };
    let rss_start = status_kib("VmRSS:");
    let client = grpc_client(grpc)
        .await
        .max_encoding_message_size(usize::MAX);
    let (mut acked, mut refused) = (0u64, 0u64);
    let send = |spans: Vec<Span>| {
        let n = spans.len() as u64;
        let req = request("redteam", spans);
        let mut c = client.clone();
        async move {
            match c.export(req).await {
                Ok(_) => (n, 0),
                Err(st) if st.code() == tonic::Code::Unavailable => (0, n),
                Err(st) => panic!("{st:?}"),
            }
        }
    };
    let mut unbalanced = (0u64, 0u64, 0f64); // (scrapes, unbalanced, largest gap)
    let mb = |i: u64, c: char| format!("{i:06}{}", c.to_string().repeat(1 << 20));
    match attack.as_str() {
        // 300 calls, each with its own 1 MiB model, 10 per request; or 400 under
        // `memory_limiter.limit_mib: 256`, 5 per request (its request limit is 8 MiB).
        "b4" | "b4-limiter" => {
            let (n, per) = if attack == "b4" { (300, 10) } else { (400, 5) };
            for r in 0..n / per {
                let spans = (r * per..r * per + per)
                    .map(|t| call(t, 1, &mb(t, 'm'), "openai"))
                    .map(|mut s| {
                        s.parent_span_id.clear();
                        s
                    })
                    .collect();
                let (a, f) = send(spans).await;
                (acked, refused) = (acked + a, refused + f);
            }
        }
        // 100,000 calls of one model, each with its own 8-byte (b5) or 1 KiB (b5-1k: 20,000
        // calls) provider sharing a long prefix; 1,000 per request.
        "b5" | "b5-1k" => {
            let (n, pad) = if attack == "b5" {
                (100_000u64, String::new())
            } else {
                (20_000, "p".repeat(1016))
            };
            for r in 0..n / 1000 {
                let spans = (r * 1000..r * 1000 + 1000)
                    .map(|k| {
                        let mut s = call(k / 100, k % 100 + 2, "gpt-4o", &format!("{pad}{k:08}"));
                        s.parent_span_id.clear();
                        s
                    })
                    .collect();
                let (a, f) = send(spans).await;
                (acked, refused) = (acked + a, refused + f);
            }
        }
        // 20,000 calls that carry their own cost, each with its own provider (`llm.provider`).
        "b6-providers" => {
            for r in 0..20u64 {
                let spans = (0..1000u64)
                    .map(|i| {
                        let k = r * 1000 + i;
                        let mut s = provided(k, 2, "my-model", &format!("prov{k:06}"));
                        s.parent_span_id.clear();
                        s
                    })
                    .collect();
                let (a, f) = send(spans).await;
                (acked, refused) = (acked + a, refused + f);
            }
        }
        // 100 traces whose root span names are 1 MiB each, with one priced call each.
        "b6-names" => {
            for t in 0..100u64 {
                let spans = vec![
                    span_n(t, 1, 0, &mb(t, 'w'), vec![]),
                    call(t, 2, "gpt-4o-2024-08-06", "openai"),
                ];
                let (a, f) = send(spans).await;
                (acked, refused) = (acked + a, refused + f);
            }
        }
        // 2 senders, 150 requests each of 20 traces x 50 spans, /metrics scraped in a loop:
        // how many scrapes break received = exported + not delivered + in the gateway.
        "invariant" => {
            let mut tasks = Vec::new();
            for id in 0..2u64 {
                let mut c = client.clone();
                tasks.push(tokio::spawn(async move {
                    let mut n = 0;
                    for r in 0..150u64 {
                        let first = (id * 150 + r) * 20;
                        let spans = traces(first..first + 20, "agent run", 49, |_, _| {
                            ("gpt-4o-2024-08-06".to_owned(), "openai".to_owned())
                        });
                        let len = spans.len() as u64;
                        c.export(request("redteam", spans)).await.expect("accepted");
                        n += len;
                    }
                    n
                }));
            }
            while tasks.iter().any(|t| !t.is_finished()) {
                let (text, _) = get_metrics().await;
                let (received, rhs, _) = terms(&text);
                unbalanced.0 += 1;
                if received != rhs {
                    unbalanced.1 += 1;
                    unbalanced.2 = unbalanced.2.max((received - rhs).abs());
                }
            }
            for t in tasks {
                acked += t.await.expect("sender");
            }
        }
        other => panic!("unknown REDTEAM_ATTACK {other}"),
    }
    let sent_cpu = cpu_s();
    // Wait (bounded) until everything acknowledged is at the sink.
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while (counting.distinct() as u64) < acked && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_cpu = cpu_s();
    let hwm_before_scrape = status_kib("VmHWM:");
    let (text, scrape_s) = get_metrics().await;
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let providers = label_values(&text)
        .into_iter()
        .filter(|(n, _)| n == "provider")
        .map(|(_, v)| v)
        .collect::<HashSet<_>>()
        .len();
    let hwm = status_kib("VmHWM:");
    let rss_end = status_kib("VmRSS:");
    let cpu = cpu_s();
    gw.signal("TERM");
    let exit = gw.wait_exit(Duration::from_secs(120));
    let summary = gw.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    let delivered = counting.distinct() as u64;
    eprintln!(
        "REDTEAM attack={attack} bin={bin} rss_start_kib={rss_start} peak_kib={hwm} \
         peak_before_scrape_kib={hwm_before_scrape} rss_end_kib={rss_end} cpu_s_sent={sent_cpu:.2} \
         cpu_s_delivered={drain_cpu:.2} cpu_s_after_scrape={cpu:.2} scrape_bytes={} scrape_s={scrape_s:.2} series={series} \
         provider_labels={providers} acked={acked} refused={refused} delivered={delivered} lost={} \
         statuses={:?} scrapes={} unbalanced_scrapes={} largest_gap={} exit={exit} summary={summary:?}",
        text.len(),
        acked.saturating_sub(delivered),
        counting.statuses(),
        unbalanced.0,
        unbalanced.1,
        unbalanced.2,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
