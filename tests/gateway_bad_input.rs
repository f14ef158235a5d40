//! Hostile and broken span data through the real gateway (in process, OTLP/gRPC and OTLP/JSON
//! on 127.0.0.1:0): token counts that are NaN, infinite, negative, huge, strings, arrays or
//! maps; parent cycles, a span that is its own parent, duplicate span ids, traces without a
//! root, spans ending before they start, empty and oversized names. The gateway never panics,
//! forwards every span with a valid id, counts the unusable usage, and its counters balance.
#![cfg(feature = "gateway")]

mod common;

use std::time::Duration;

use common::gateway::*;
use common::str_attr;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::trace::v1::Span;

const WAIT: Duration = Duration::from_secs(15);
const FAST: &str = "assembly: { root_grace: 0s, trace_timeout: 1s }";

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// An OpenInference LLM span whose prompt token count is `v`.
fn llm_with_prompt(t: u8, s: u8, p: u8, v: any_value::Value) -> Span {
    span(
        t,
        s,
        p,
        "llm",
        vec![
            kv_str("openinference.span.kind", "LLM"),
            kv_str("llm.model_name", "gpt-4o-mini"),
            kv("llm.token_count.prompt", v),
            kv_int("llm.token_count.completion", 10),
        ],
    )
}

fn status(s: &Span) -> Option<String> {
    str_attr(&s.attributes, "cost.pricing.status")
}

/// Starts a gateway and a sink, sends `spans` as one request over gRPC, waits for all of them
/// downstream, and returns them with the final counters.
async fn through_gateway(spans: Vec<Span>) -> (Vec<Span>, otel_llm_cost::gateway::MetricsSnapshot) {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let n = spans.len();
    send_grpc(gw.grpc_addr().expect("grpc"), request("svc", spans))
        .await
        .expect("accepted");
    assert_eq!(faults.captured.wait_for(n, WAIT).await, n);
    assert_balanced(&scrape(&gw).await);
    let m = gw.shutdown().await.metrics;
    assert!(m.balanced(), "{m:?}");
    assert_eq!((m.spans_received, m.spans_exported), (n as u64, n as u64));
    let out = faults
        .captured
        .spans()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    (out, m)
}

/// Guards: unusable token counts (NaN, ±inf, negative, i64::MIN, 2^63-1, a fraction, a
/// non-numeric string, a numeric string, an array, a map, bytes, a bool, an empty value) never
/// panic; each call is forwarded, marked with a status, and the unusable ones are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_counts_are_counted_and_forwarded() {
    use any_value::Value;
    let cases: Vec<(&str, Value, bool)> = vec![
        ("nan", Value::DoubleValue(f64::NAN), false),
        ("inf", Value::DoubleValue(f64::INFINITY), false),
        ("neg-inf", Value::DoubleValue(f64::NEG_INFINITY), false),
        ("negative", Value::IntValue(-5), false),
        ("negative-double", Value::DoubleValue(-5.0), false),
        ("i64-min", Value::IntValue(i64::MIN), false),
        ("i64-max", Value::IntValue(i64::MAX), true),
        ("huge-double", Value::DoubleValue(1e300), true),
        ("fraction", Value::DoubleValue(12.5), true),
        ("word", Value::StringValue("many".into()), false),
        ("numeric-string", Value::StringValue("100".into()), true),
        ("huge-string", Value::StringValue("1".repeat(400)), true),
        (
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(100)),
                }],
            }),
            true,
        ),
        (
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![kv_int("n", 100)],
            }),
            true,
        ),
        ("bytes", Value::BytesValue(vec![1, 2, 3]), true),
        ("bool", Value::BoolValue(true), true),
    ];
    let mut spans = vec![span(1, 1, 0, "root", vec![])];
    for (i, (_, v, _)) in cases.iter().enumerate() {
        spans.push(llm_with_prompt(1, 10 + i as u8, 1, v.clone()));
    }
    // Also an empty AnyValue and a KeyValue without a value.
    let mut empty = llm_with_prompt(1, 60, 1, any_value::Value::IntValue(0));
    empty.attributes[2].value = Some(AnyValue { value: None });
    let mut missing = llm_with_prompt(1, 61, 1, any_value::Value::IntValue(0));
    missing.attributes[2].value = None;
    spans.push(empty);
    spans.push(missing);
    let (out, m) = through_gateway(spans).await;
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let s = out
            .iter()
            .find(|s| s.span_id == vec![10 + i as u8; 8])
            .unwrap_or_else(|| panic!("{name}: forwarded"));
        let st = status(s).unwrap_or_else(|| panic!("{name}: has a pricing status"));
        assert!(
            ["priced", "invalid_usage"].contains(&st.as_str()),
            "{name}: {st}"
        );
    }
    // The clearly unusable ones are invalid usage, counted by the engine.
    for (i, (name, _, usable)) in cases.iter().enumerate() {
        if !usable {
            let s = out
                .iter()
                .find(|s| s.span_id == vec![10 + i as u8; 8])
                .expect("forwarded");
            assert_eq!(status(s).as_deref(), Some("invalid_usage"), "{name}");
        }
    }
    assert!(m.engine.invalid_usage >= 7, "{:?}", m.engine);
    // The root is complete and its total is a finite number (no NaN leaks into the sum).
    let root = out.iter().find(|s| s.name == "root").expect("root");
    let total = common::f64_attr(&root.attributes, "cost.total_usd").expect("total");
    assert!(total.is_finite() && total >= 0.0, "{total}");
}

/// Guards: broken trees: a parent cycle (a -> b -> c -> a), a span that is its own parent,
/// two spans with the same id, a trace without a root, a span ending before it starts (and at
/// u64::MAX). Never a panic; every span forwarded and priced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_trees_are_forwarded_whole() {
    let mut spans = vec![
        // Trace 1: cycle 2 -> 3 -> 4 -> 2, each an LLM call.
        span(1, 2, 4, "cycle-a", llm("gpt-4o-mini", 100, 10)),
        span(1, 3, 2, "cycle-b", llm("gpt-4o-mini", 100, 10)),
        span(1, 4, 3, "cycle-c", llm("gpt-4o-mini", 100, 10)),
        // Trace 2: a span that is its own parent.
        span(2, 5, 5, "self-parent", llm("gpt-4o-mini", 100, 10)),
        // Trace 3: duplicate span ids (both forwarded), under a root.
        span(3, 1, 0, "root-3", vec![]),
        span(3, 6, 1, "dup-1", llm("gpt-4o-mini", 100, 10)),
        span(3, 6, 1, "dup-2", llm("gpt-4o-mini", 100, 10)),
        // Trace 4: no root, parent missing.
        span(4, 7, 99, "orphan", llm("gpt-4o-mini", 100, 10)),
    ];
    // Trace 5: ends before it starts; ends at u64::MAX; starts at 0.
    let mut backwards = span(5, 1, 0, "end-before-start", llm("gpt-4o-mini", 100, 10));
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let mut forever = span(5, 8, 1, "ends-at-max", llm("gpt-4o-mini", 100, 10));
    forever.end_time_unix_nano = u64::MAX;
    let mut epoch = span(5, 9, 1, "starts-at-0", llm("gpt-4o-mini", 100, 10));
    epoch.start_time_unix_nano = 0;
    spans.extend([backwards, forever, epoch]);
    // Trace 6: an empty name and a 64 KiB name.
    spans.push(span(6, 1, 0, "", vec![]));
    spans.push(span(6, 2, 1, &"n".repeat(64 * 1024), vec![]));
    let n = spans.len();
    let (out, m) = through_gateway(spans).await;
    assert_eq!(out.len(), n);
    for name in [
        "cycle-a",
        "cycle-b",
        "cycle-c",
        "self-parent",
        "dup-1",
        "dup-2",
        "orphan",
        "end-before-start",
        "ends-at-max",
        "starts-at-0",
    ] {
        let s = by_name_in(&out, name);
        assert!(status(s).is_some(), "{name} carries a pricing status");
    }
    // Every call is accounted for once: priced, or a duplicate of a call below it once the
    // cycle is cut into a chain (a broken tree never makes a call unpriceable).
    assert_eq!(m.engine.priced + m.engine.duplicate, 10, "{:?}", m.engine);
    assert_eq!(m.engine.invalid_usage + m.engine.unknown_model, 0);
    // Traces without a found root are incomplete.
    let orphan = by_name_in(&out, "orphan");
    assert_eq!(
        common::bool_attr(&orphan.attributes, "cost.complete"),
        Some(false)
    );
}

fn by_name_in<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

/// Guards: the same hostile values as OTLP/JSON (string int64s, NaN as "NaN", huge numbers,
/// enum names, a number where a string belongs) never panic: either refused with 400 and a
/// reason (counted as malformed) or accepted and forwarded whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_json_is_refused_with_a_reason_or_forwarded_whole() {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let http = gw.http_addr().expect("http");
    let span_json = |id: &str, attrs: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{id}","name":"n","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1748736000000000000","endTimeUnixNano":"1","attributes":[{attrs}]}}]}}]}}]}}"#
        )
    };
    let accepted_cases = [
        r#"{"key":"llm.token_count.prompt","value":{"intValue":"9223372036854775807"}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"doubleValue":"NaN"}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"doubleValue":"-Infinity"}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"stringValue":"-12"}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"arrayValue":{}}}"#,
        r#"{"key":"llm.token_count.prompt","value":{}}"#,
    ];
    let refused_cases = [
        r#"{"key":"llm.token_count.prompt","value":{"intValue":"99999999999999999999999"}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"intValue":1.5}}"#,
        r#"{"key":"llm.token_count.prompt","value":{"stringValue":12}}"#,
    ];
    let mut forwarded = 0;
    let mut refused = 0;
    for (i, attrs) in accepted_cases
        .iter()
        .chain(refused_cases.iter())
        .enumerate()
    {
        let body = span_json(
            &format!("{:016x}", i + 1),
            &format!(
                r#"{{"key":"llm.model_name","value":{{"stringValue":"gpt-4o-mini"}}}},{attrs}"#
            ),
        );
        let (status, _, resp) = post_http(http, "application/json", None, body.into_bytes()).await;
        match status {
            200 => forwarded += 1,
            400 => {
                let v: serde_json::Value = serde_json::from_slice(&resp).expect("JSON status");
                assert!(
                    v["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("invalid OTLP/JSON")),
                    "{v}"
                );
                refused += 1;
            }
            other => panic!("case {i}: status {other}"),
        }
    }
    // Which JSON values the decoder accepts is its business; nothing in between is allowed.
    assert_eq!(
        forwarded + refused,
        accepted_cases.len() + refused_cases.len()
    );
    assert!(refused >= 1, "an out-of-range int64 is refused");
    assert_eq!(faults.captured.wait_for(forwarded, WAIT).await, forwarded);
    let m = gw.shutdown().await.metrics;
    assert_eq!(m.requests_malformed, refused as u64);
    assert_eq!(
        (m.spans_received, m.spans_exported),
        (forwarded as u64, forwarded as u64)
    );
    assert!(m.balanced());
}
