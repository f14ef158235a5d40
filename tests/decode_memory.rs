//! The receivers reserve, before decoding a request, a bound on the memory decoding takes
//! (src/gateway/otlp_scan.rs); this binary checks that bound against what the decoders really
//! allocate, with a counting global allocator, on ordinary requests and on the shapes that
//! amplify most (empty spans, empty attributes, nested attribute values, JSON written as
//! positional arrays, escapes, the proto3-JSON gaps). Guards issue 13, B3: one 4 MiB OTLP/JSON
//! body took 279 MiB and nothing counted it.
#![cfg(all(feature = "gateway", feature = "internals"))]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otel_llm_cost::internals::gateway as fuzzing;
use prost::Message;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak;

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn llm_span(i: u64) -> Span {
    Span {
        trace_id: [&[0xAB; 8][..], &i.to_be_bytes()].concat(),
        span_id: (i + 1).to_be_bytes().to_vec(),
        parent_span_id: 7u64.to_be_bytes().to_vec(),
        name: "chat gpt-4o".into(),
        kind: 3,
        start_time_unix_nano: 1_748_736_000_000_000_000,
        end_time_unix_nano: 1_748_736_001_000_000_000,
        attributes: vec![
            kv("gen_ai.system", s("openai")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv(
                "gen_ai.usage.input_tokens",
                any_value::Value::IntValue(1200),
            ),
            kv(
                "gen_ai.usage.output_tokens",
                any_value::Value::IntValue(300),
            ),
            kv("gen_ai.prompt", s(&"Summarise this document. ".repeat(8))),
            kv("temperature", any_value::Value::DoubleValue(0.2)),
        ],
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
        ..Default::default()
    }
}

fn request(resources: usize, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let per = spans.len().div_ceil(resources.max(1)).max(1);
    let mut spans = spans.into_iter();
    ExportTraceServiceRequest {
        resource_spans: (0..resources)
            .map(|r| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s(&format!("svc-{r}")))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans.by_ref().take(per).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn nested(depth: usize, leaf: any_value::Value) -> any_value::Value {
    let mut v = leaf;
    for i in 0..depth {
        v = if i % 2 == 0 {
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(v) }, AnyValue { value: None }],
            })
        } else {
            any_value::Value::KvlistValue(KeyValueList {
                values: vec![kv("k", v)],
            })
        };
    }
    v
}

/// Requests of every shape, as protobuf.
fn shapes() -> Vec<(&'static str, ExportTraceServiceRequest)> {
    let mut out = vec![
        (
            "2,000 LLM spans",
            request(1, (0..2000).map(llm_span).collect()),
        ),
        (
            "50,000 empty spans",
            request(1, vec![Span::default(); 50_000]),
        ),
        (
            "1,000 resources of one span",
            request(1000, (0..1000).map(llm_span).collect()),
        ),
        (
            "one span, 20,000 empty attributes",
            request(
                1,
                vec![Span {
                    attributes: vec![KeyValue::default(); 20_000],
                    ..Default::default()
                }],
            ),
        ),
        (
            "attribute values nested 30 deep",
            request(
                1,
                (0..50)
                    .map(|_| Span {
                        attributes: vec![kv("deep", nested(30, s("leaf")))],
                        ..Default::default()
                    })
                    .collect(),
            ),
        ),
        (
            "events and links",
            request(
                1,
                (0..300)
                    .map(|i| Span {
                        events: vec![
                            Event {
                                name: "e".into(),
                                attributes: vec![kv("a", s("b"))],
                                ..Default::default()
                            };
                            5
                        ],
                        links: vec![
                            Link {
                                trace_id: vec![1; 16],
                                span_id: vec![2; 8],
                                attributes: vec![KeyValue::default(); 3],
                                ..Default::default()
                            };
                            5
                        ],
                        ..llm_span(i)
                    })
                    .collect(),
            ),
        ),
        (
            "one 2 MiB string",
            request(
                1,
                vec![Span {
                    name: "x".repeat(2 << 20),
                    ..Default::default()
                }],
            ),
        ),
        (
            "wide arrays of empty values",
            request(
                1,
                vec![Span {
                    attributes: vec![kv(
                        "wide",
                        any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue::default(); 30_000],
                        }),
                    )],
                    ..Default::default()
                }],
            ),
        ),
    ];
    out.push(("empty request", ExportTraceServiceRequest::default()));
    out
}

/// OTLP/JSON texts of every shape: the serde encoding of the protobuf shapes, and hand-written
/// ones the serde encoder never writes.
fn json_shapes() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = shapes()
        .into_iter()
        .map(|(name, req)| {
            (
                format!("{name} (JSON)"),
                serde_json::to_vec(&req).expect("encodes"),
            )
        })
        .collect();
    let spans = |each: &str, n: usize| {
        let body = vec![each; n].join(",");
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{body}]}}]}}]}}"#).into_bytes()
    };
    out.push(("100,000 '{}' spans".into(), spans("{}", 100_000)));
    // Spans with nothing but their ids: kept (a span without ids is refused by the decoder,
    // which then holds nothing of it).
    out.push((
        "100,000 spans of only their ids".into(),
        spans(
            r#"{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}"#,
            100_000,
        ),
    ));
    out.push((
        "empty arrayValues and enum names".into(),
        spans(
            r#"{"kind":"SPAN_KIND_CLIENT","attributes":[{"key":"a","value":{"arrayValue":{}}},{"key":"b","value":{"kvlistValue":{}}}]}"#,
            20_000,
        ),
    ));
    out.push((
        "spans as positional arrays".into(),
        format!(
            r#"{{"resourceSpans":[[null,[[null,[{}]]]]]}}"#,
            vec![r#"["0102030405060708090a0b0c0d0e0f10","0102030405060708","",""]"#; 20_000]
                .join(",")
        )
        .into_bytes(),
    ));
    let deep = {
        let mut v = r#"{"stringValue":"leaf \"escaped\""}"#.to_owned();
        for _ in 0..30 {
            v = format!(
                r#"{{"arrayValue":{{"values":[{v},{{"intValue":"12"}},{{"unknown":{{"x":[1,2,3]}}}}]}}}}"#
            );
        }
        v
    };
    out.push((
        "attribute values nested 30 deep, with unknown keys".into(),
        spans(
            &format!(r#"{{"attributes":[{{"key":"d","value":{deep}}}]}}"#),
            20,
        ),
    ));
    out.push((
        "escaped strings".into(),
        spans(
            r#"{"name":"\u0041\n\t\"quoted\"","attributes":[{"key":"\u006b","value":{"stringValue":"\\\\\\\\"}}]}"#,
            20_000,
        ),
    ));
    out.push((
        "many unknown keys".into(),
        spans(
            r#"{"zz":{"a":[{},{},{}]},"yy":"long string here","name":"n"}"#,
            20_000,
        ),
    ));
    out
}

/// A scan: `(spans, decode bound)`, or why the input cannot be a request.
type Scan = fn(&[u8]) -> Result<(usize, usize), String>;

/// A decoder: the spans it read (decoded, or refused for their ids by the OTLP/JSON decoder),
/// or why the input is no request.
type Decode = fn(&[u8]) -> Result<usize, String>;

/// The spans of a decoded request.
fn count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum::<usize>()
}

/// Checks one shape: the scan's span count and bound against the decode; a report line.
fn check(name: &str, bytes: &[u8], scan: Scan, decode: Decode) -> String {
    let (spans, bound) = scan(bytes).unwrap_or_else(|e| panic!("{name}: scan: {e}"));
    let (decoded, used) = peak(|| decode(bytes));
    let decoded = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(spans, decoded, "{name}: span count");
    assert!(
        used <= bound,
        "{name}: decoding allocated {used} bytes, more than the bound of {bound}"
    );
    format!(
        "{name}: {} bytes -> allocated {used}, bound {bound} ({:.2}x)",
        bytes.len(),
        bound as f64 / used.max(1) as f64
    )
}

#[test]
fn the_scan_bounds_what_decoding_allocates_for_every_shape() {
    let mut report = Vec::new();
    for (name, req) in shapes() {
        report.push(check(
            name,
            &req.encode_to_vec(),
            fuzzing::scan_protobuf,
            |b| fuzzing::decode_protobuf(b).map(|r| count(&r)),
        ));
    }
    for (name, text) in json_shapes() {
        report.push(check(
            &name,
            &text,
            fuzzing::scan_json,
            fuzzing::decode_json_unscanned,
        ));
    }
    println!("{}", report.join("\n"));
}
