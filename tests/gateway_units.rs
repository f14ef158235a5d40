//! Gateway, in process on 127.0.0.1:0 (issue 15): real instrumentation spans carrying units beyond
//! plain tokens (tests/fixtures/real-spans/UNITS.md) sent over real OTLP/gRPC in one trace,
//! priced, and rolled up exactly (call totals and roll-up, `cost.by_model`).
#![cfg(feature = "gateway")]

mod common;

use std::time::Duration;

use common::gateway::*;
use common::{f64_attr, i64_attr, start_grpc_sink, str_attr};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otel_llm_cost::Usd;

/// The call spans of `file` (those with a token or unit attribute), as OTLP spans of trace 7
/// under the root span 1, each under its own instrumentation scope, attribute types kept.
fn fixture_calls(file: &str, next_id: &mut u8) -> Vec<(String, Span)> {
    fixture_spans(
        file,
        |s| {
            s["attributes"]
                .as_object()
                .is_some_and(|a| a.contains_key("gen_ai.usage.input_tokens"))
        },
        next_id,
    )
}

/// The spans of `file` that `keep` selects, as OTLP spans of trace 7, each under its own
/// instrumentation scope, attribute types kept. A span whose parent is selected too keeps that
/// link; the others go under the root span 1.
fn fixture_spans(
    file: &str,
    keep: impl Fn(&serde_json::Value) -> bool,
    next_id: &mut u8,
) -> Vec<(String, Span)> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/real-spans/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let kept: Vec<&serde_json::Value> = doc["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .filter(|s| keep(s))
        .collect();
    let first = *next_id + 1;
    let id_of = |fixture_id: &serde_json::Value| {
        kept.iter()
            .position(|s| s["span_id"] == *fixture_id)
            .map(|i| first + i as u8)
    };
    let mut out = Vec::new();
    for s in &kept {
        let attrs = s["attributes"].as_object().expect("attributes");
        let attributes = attrs
            .iter()
            .filter_map(|(k, v)| {
                let val = &v["value"];
                let value = match v["type"].as_str()? {
                    "int" => any_value::Value::IntValue(val.as_i64()?),
                    "double" => any_value::Value::DoubleValue(val.as_f64()?),
                    "bool" => any_value::Value::BoolValue(val.as_bool()?),
                    "string" => any_value::Value::StringValue(val.as_str()?.to_owned()),
                    _ => return None,
                };
                Some(KeyValue {
                    key: k.clone(),
                    value: Some(AnyValue { value: Some(value) }),
                    ..Default::default()
                })
            })
            .collect();
        *next_id += 1;
        let parent = id_of(&s["parent_span_id"]).unwrap_or(1);
        let mut span = span(
            7,
            *next_id,
            parent,
            s["name"].as_str().expect("name"),
            attributes,
        );
        span.start_time_unix_nano = T0;
        let scope = s["instrumentation_scope"]["name"]
            .as_str()
            .expect("scope")
            .to_owned();
        out.push((scope, span));
    }
    out
}

/// One request of trace 7: `calls` (scope, span) each under its own scope, and the root span 1
/// `agent run`, from service `units`.
fn units_request(calls: Vec<(String, Span)>) -> ExportTraceServiceRequest {
    let mut scopes: Vec<ScopeSpans> = calls
        .into_iter()
        .map(|(scope, s)| ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope,
                ..Default::default()
            }),
            spans: vec![s],
            ..Default::default()
        })
        .collect();
    scopes.push(ScopeSpans {
        spans: vec![span(7, 1, 0, "agent run", vec![])],
        ..Default::default()
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", "units")],
                ..Default::default()
            }),
            scope_spans: scopes,
            ..Default::default()
        }],
    }
}

/// Rates: catalog 2026.11.22; each figure worked out in tests/processor.rs `units_expect`.
/// OpenLIT Responses with 2 web searches and 1 file search, tier priority: 0.0438 (of which
/// tool calls 0.0225); the same call streamed (no tools recorded, tier default): 0.01065;
/// official google-genai Gemini with modality parts, twice: 0.00378352 each.
/// Roll-up: 0.0438 + 0.01065 + 2 x 0.00378352 = 0.06201704.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_spans_with_units_are_priced_and_rolled_up_exactly() {
    let dir = std::env::temp_dir().join(format!("olc-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("costs.jsonl");
    let (sink, captured) = start_grpc_sink().await;
    // OpenLIT writes `gen_ai.usage.cost` = 0 (no price of its own for gpt-5.4): re-price it.
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "assembly: {{ root_grace: 100ms, trace_timeout: 5s }}\npricing: {{ reprice_provided: true }}\nanalytics: {{ records: {{ path: '{}' }} }}",
            path.display()
        ),
    )
    .await;
    let mut id = 1;
    let mut calls = fixture_calls("units_openlit.json", &mut id);
    calls.retain(|(_, s)| s.name == "chat gpt-5.4");
    calls.extend(fixture_calls("units_otel_google_genai.json", &mut id));
    assert_eq!(calls.len(), 4, "2 OpenLIT Responses calls, 2 Gemini calls");
    let req = units_request(calls);
    send_grpc(gw.grpc_addr().expect("grpc"), req)
        .await
        .expect("accepted");
    assert_eq!(captured.wait_for(5, Duration::from_secs(10)).await, 5);
    let spans = captured.spans();
    let tools: Vec<_> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| str_attr(&s.attributes, "openai.response.built_in_tools").is_some())
        .collect();
    assert_eq!(tools.len(), 1);
    assert_usd(f64_attr(&tools[0].attributes, "llm.cost.total"), 0.0438);
    assert_usd(
        f64_attr(&tools[0].attributes, "cost.charges.tool_calls_usd"),
        0.0225,
    );
    let root = by_name(&spans, "agent run");
    assert_usd(f64_attr(&root.attributes, "cost.total_usd"), 0.06201704);
    assert_eq!(i64_attr(&root.attributes, "cost.llm_calls"), Some(4));
    let by_model: serde_json::Value =
        serde_json::from_str(&str_attr(&root.attributes, "cost.by_model").expect("by_model"))
            .expect("JSON");
    assert_eq!(by_model[0]["model"], "gpt-5.4", "{by_model}");
    // gpt-5.4: 0.0438 + 0.01065; gemini-2.5-flash: 2 x 0.00378352.
    assert_eq!(by_model[0]["cost_usd"].to_string(), "0.05445", "{by_model}");
    assert_eq!(
        by_model[1]["cost_usd"].to_string(),
        "0.00756704",
        "{by_model}"
    );
    // `/metrics`: the cost by charge kind, the web and file searches as `tool_calls`; every
    // series' kinds sum exactly to its `otel_llm_cost_usd_total` (kept as it was).
    let text = scrape(&gw).await;
    let by_kind = kinds_sum_to_totals(&text, 2);
    // gpt-5.4 (tests/processor.rs `units_expect`): priority 1500 x 5 + standard 1500 x 2.5 =
    // 0.01125 input; 600 x 0.5 + 600 x 0.25 = 0.00045 cache reads; output 450 of which 120
    // reasoning, at the output rate: 330 x 30 + 330 x 15 = 0.01485 output and 120 x 30 +
    // 120 x 15 = 0.0054 reasoning; tool calls 0.0225. Sum 0.05445.
    let gpt = |kind: &str| {
        let want = format!(
            "model=\"gpt-5.4\",provider=\"openai\",service=\"units\",workflow=\"agent run\",kind=\"{kind}\""
        );
        by_kind
            .iter()
            .find(|(l, _)| *l == want)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(gpt("tool_calls").as_deref(), Some("0.0225"), "{text}");
    assert_eq!(gpt("input").as_deref(), Some("0.01125"), "{text}");
    assert_eq!(gpt("cache_read").as_deref(), Some("0.00045"), "{text}");
    assert_eq!(gpt("output").as_deref(), Some("0.01485"), "{text}");
    assert_eq!(gpt("reasoning").as_deref(), Some("0.0054"), "{text}");
    assert_eq!(gpt("media_input"), None, "only the kinds charged: {text}");
    let report = gw.shutdown().await;
    assert!(report.metrics.balanced());
    // The JSONL records: the call with tools carries its units and charges, the trace the sum.
    let text = std::fs::read_to_string(&path).expect("records written");
    std::fs::remove_dir_all(&dir).ok();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    let call = lines
        .iter()
        .find(|l| l["units"]["web_searches"] == 2)
        .unwrap_or_else(|| panic!("a call record with its web searches: {text}"));
    assert_eq!(call["units"]["storage_searches"], 1, "{text}");
    assert_eq!(call["cost_usd"], "0.0438", "{text}");
    assert_eq!(call["charges_usd"]["tool_calls"], "0.0225", "{text}");
    let trace = lines
        .iter()
        .find(|l| l["type"] == "trace")
        .expect("trace record");
    assert_eq!(trace["total_usd"], "0.06201704", "{text}");
}

/// Issue 15, the third library: OpenInference (units_openinference.json), in one trace under
/// `agent run`, its spans' real parent links kept. Figures worked out in tests/processor.rs
/// `units_expect`:
/// - its span over the Anthropic SDK's own span (`anthropic_units`, `_stream`): the SDK span (the
///   call) 0.0456 each; the OpenInference span, a duplicate, adds what only it records
///   (`speed=fast`, 3 web searches): 0.0756 each, of which tool calls 0.03; the call 0.1212;
/// - OpenAI Responses `gpt-5.4`, tool calls from `output.value` (3 spans): 0.0438 each;
/// - Gemini `gemini-2.5-flash`, grounding from `output.value` (2 spans): 0.03885852 each.
/// Roll-up: 2 x 0.1212 + 3 x 0.0438 + 2 x 0.03885852 = 0.2424 + 0.1314 + 0.07771704 =
/// 0.45151704, seven calls; the same figures as the processor's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openinference_spans_with_units_are_priced_and_rolled_up_exactly() {
    let (sink, captured) = start_grpc_sink().await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        "assembly: { root_grace: 100ms, trace_timeout: 5s }",
    )
    .await;
    let mut id = 1;
    let calls = fixture_spans(
        "units_openinference.json",
        |s| {
            s["case"].as_str().is_some_and(|c| {
                ["anthropic_units", "openai_responses_units", "gemini_units"]
                    .iter()
                    .any(|p| c.starts_with(p))
            })
        },
        &mut id,
    );
    assert_eq!(
        calls.len(),
        9,
        "2 OpenInference spans over 2 SDK spans, 3 Responses, 2 Gemini"
    );
    send_grpc(gw.grpc_addr().expect("grpc"), units_request(calls))
        .await
        .expect("accepted");
    assert_eq!(captured.wait_for(10, Duration::from_secs(10)).await, 10);
    let spans = captured.spans();
    let named = |name: &str| -> Vec<&Span> {
        spans
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.name == name)
            .collect()
    };
    let (sdk, oi) = (named("anthropic.messages.create"), named("messages.create"));
    assert_eq!((sdk.len(), oi.len()), (2, 2));
    for s in sdk {
        assert_eq!(
            str_attr(&s.attributes, "cost.pricing.status").as_deref(),
            Some("priced")
        );
        assert_usd(f64_attr(&s.attributes, "llm.cost.total"), 0.0456);
    }
    for s in oi {
        assert_eq!(
            str_attr(&s.attributes, "cost.pricing.status").as_deref(),
            Some("duplicate")
        );
        assert_usd(f64_attr(&s.attributes, "llm.cost.total"), 0.0756);
        assert_usd(f64_attr(&s.attributes, "cost.charges.tool_calls_usd"), 0.03);
        assert_eq!(
            str_attr(&s.attributes, "cost.pricing.tier").as_deref(),
            Some("speed=fast")
        );
        assert_usd(f64_attr(&s.attributes, "cost.total_usd"), 0.1212);
        assert_eq!(i64_attr(&s.attributes, "cost.llm_calls"), Some(1));
    }
    for s in named("Response") {
        assert_usd(f64_attr(&s.attributes, "llm.cost.total"), 0.0438);
        assert_usd(
            f64_attr(&s.attributes, "cost.charges.tool_calls_usd"),
            0.0225,
        );
    }
    let gemini: Vec<&Span> = ["GenerateContent", "GenerateContentStream"]
        .iter()
        .flat_map(|n| named(n))
        .collect();
    assert_eq!(gemini.len(), 2);
    for s in gemini {
        assert_usd(f64_attr(&s.attributes, "llm.cost.total"), 0.03885852);
        assert_usd(
            f64_attr(&s.attributes, "cost.charges.tool_calls_usd"),
            0.035,
        );
    }
    let root = by_name(&spans, "agent run");
    assert_usd(f64_attr(&root.attributes, "cost.total_usd"), 0.45151704);
    assert_eq!(i64_attr(&root.attributes, "cost.llm_calls"), Some(7));
    let by_model: serde_json::Value =
        serde_json::from_str(&str_attr(&root.attributes, "cost.by_model").expect("by_model"))
            .expect("JSON");
    let rows: Vec<(String, u64, String)> = by_model
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            (
                m["model"].as_str().unwrap_or("").to_owned(),
                m["calls"].as_u64().unwrap_or(0),
                m["cost_usd"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("claude-opus-4-8".to_owned(), 2, "0.2424".to_owned()),
            ("gpt-5.4".to_owned(), 3, "0.1314".to_owned()),
            (
                "gemini/gemini-2.5-flash".to_owned(),
                2,
                "0.07771704".to_owned()
            ),
        ],
        "{by_model}"
    );
    // `/metrics`: what the OpenInference duplicates add (web searches, fast mode) is counted by
    // kind too, so every model's kinds still sum exactly to its cost series.
    let text = scrape(&gw).await;
    let by_kind = kinds_sum_to_totals(&text, 3);
    // The fixture's response bodies are all readable: exposed, and none counted.
    assert!(
        text.contains("\notel_llm_cost_unreadable_response_bodies_total 0\n"),
        "{text}"
    );
    assert!(
        by_kind.iter().any(|(l, v)| l.contains("claude-opus-4-8")
            && l.ends_with("kind=\"tool_calls\"")
            && !v.is_zero()),
        "{text}"
    );
    let report = gw.shutdown().await;
    assert!(report.metrics.balanced());
}

/// The `/metrics` series `otel_llm_cost_usd_by_kind_total` as (labels, value), after checking
/// that there are `models` cost series and that each one's kinds sum exactly to its
/// `otel_llm_cost_usd_total`.
fn kinds_sum_to_totals(text: &str, models: usize) -> Vec<(String, Usd)> {
    let series = |name: &str| -> Vec<(String, Usd)> {
        text.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
            .map(|l| {
                let (labels, v) = l.rsplit_once("} ").expect("a sample");
                (labels.to_owned(), Usd::parse(v).expect("an exact decimal"))
            })
            .collect()
    };
    let totals = series("otel_llm_cost_usd_total");
    let by_kind = series("otel_llm_cost_usd_by_kind_total");
    assert_eq!(totals.len(), models, "{text}");
    for (labels, total) in &totals {
        let kinds: Usd = by_kind
            .iter()
            .filter(|(l, _)| l.rsplit_once(",kind=").map(|(s, _)| s) == Some(labels))
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(kinds, *total, "{labels}: {text}");
    }
    by_kind
}
