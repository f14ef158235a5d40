#![cfg(feature = "report")]
//! Cost records and the report through the library API: records built from a trace priced by
//! `Engine::price_trace` over a `RecordSpan` of our own (as the gateway will do), the
//! `RecordWriter` following log rotation, `Reporter` over in-memory input, and what
//! `opentelemetry-proto`'s serde support makes of collector output.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use otel_llm_cost::{
    engine::BudgetRule, engine::Engine, engine::EngineOptions, records::trace_records,
    records::CallStatus, records::Record, records::RecordSpan, records::RecordWriter,
    report::ReportOptions, report::Reporter, span_view::AttrKey, span_view::AttrValue,
    span_view::KeyFilter, span_view::OwnedValue, span_view::SpanView, Catalog, Usd,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report"
    ))
    .join(name)
}

fn catalog() -> Arc<Catalog> {
    Arc::new(
        Catalog::builder()
            .with_overrides_file(fixture("prices.toml"))
            .build()
            .expect("catalog"),
    )
}

/// A span of our own, as a driver would hold it.
#[derive(Debug, Clone)]
struct S {
    id: u8,
    parent: u8,
    name: &'static str,
    start_ms: u64,
    end_ms: u64,
    attrs: Vec<(String, OwnedValue)>,
}

const T0: u64 = 1_748_736_000_000_000_000;

fn view(v: &OwnedValue) -> AttrValue<'_> {
    match v {
        OwnedValue::Str(s) => AttrValue::Str(s),
        OwnedValue::Shared(s) => AttrValue::Str(s),
        OwnedValue::I64(i) => AttrValue::I64(*i),
        OwnedValue::F64(f) => AttrValue::F64(*f),
        OwnedValue::Bool(b) => AttrValue::Bool(*b),
    }
}

impl SpanView for S {
    fn trace_id(&self) -> [u8; 16] {
        [0xab; 16]
    }
    fn span_id(&self) -> [u8; 8] {
        [self.id; 8]
    }
    fn parent_span_id(&self) -> Option<[u8; 8]> {
        (self.parent != 0).then_some([self.parent; 8])
    }
    fn start_unix_nanos(&self) -> u64 {
        T0 + self.start_ms * 1_000_000
    }
    fn scope_name(&self) -> &str {
        "test"
    }
    fn for_each_attr(&self, f: &mut dyn FnMut(&str, AttrValue<'_>)) {
        for (k, v) in &self.attrs {
            f(k, view(v));
        }
    }
    fn attr(&self, key: &str) -> Option<AttrValue<'_>> {
        self.attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| view(v))
    }
    fn set_attr(&mut self, key: &str, value: OwnedValue) {
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value,
            None => self.attrs.push((key.to_owned(), value)),
        }
    }
    fn name(&self) -> &str {
        self.name
    }
    fn service_name(&self) -> Option<&str> {
        Some("svc")
    }
    /// Kept as attributes `event:<name>:<key>`, so the tests can read them back.
    fn add_event(&mut self, name: &str, attrs: Vec<(AttrKey, OwnedValue)>) {
        for (k, v) in attrs {
            self.attrs.push((format!("event:{name}:{}", k.as_str()), v));
        }
    }
}

impl RecordSpan for S {
    fn end_unix_nanos(&self) -> u64 {
        T0 + self.end_ms * 1_000_000
    }
}

fn int(k: &str, v: i64) -> (String, OwnedValue) {
    (k.to_owned(), OwnedValue::I64(v))
}
fn text(k: &str, v: &str) -> (String, OwnedValue) {
    (k.to_owned(), OwnedValue::Str(v.to_owned()))
}

fn agent_trace() -> Vec<S> {
    vec![
        S {
            id: 1,
            parent: 0,
            name: "run",
            start_ms: 0,
            end_ms: 3000,
            attrs: vec![],
        },
        S {
            id: 2,
            parent: 1,
            name: "chat",
            start_ms: 100,
            end_ms: 1100,
            attrs: vec![
                text("gen_ai.request.model", "acme-large"),
                int("gen_ai.usage.input_tokens", 1000),
                int("gen_ai.usage.output_tokens", 200),
                int("gen_ai.usage.cache_read.input_tokens", 400),
                int("gen_ai.usage.reasoning.output_tokens", 50),
            ],
        },
        S {
            id: 3,
            parent: 1,
            name: "chat",
            start_ms: 1200,
            end_ms: 1300,
            attrs: vec![
                text("gen_ai.request.model", "nobody-knows-me"),
                int("gen_ai.usage.input_tokens", 10),
                int("gen_ai.usage.output_tokens", 1),
            ],
        },
    ]
}

#[test]
fn records_of_a_priced_trace() {
    let engine = Engine::new(catalog(), EngineOptions::default());
    let mut spans = agent_trace();
    engine.price_trace(&mut spans, true);
    let r = trace_records(&spans, true, "cost.");
    assert_eq!(r.calls.len(), 2);
    let c = &r.calls[0];
    assert_eq!(c.status, CallStatus::Priced);
    assert_eq!(c.model.as_deref(), Some("acme-large"));
    assert_eq!(c.time, "2025-06-01T00:00:00.1Z");
    assert_eq!(c.trace_id, "ab".repeat(16));
    assert_eq!(c.span_id, "02".repeat(8));
    assert_eq!(c.parent_span_id.as_deref(), Some("0101010101010101"));
    assert_eq!(c.workflow.as_deref(), Some("run"));
    assert_eq!(c.service.as_deref(), Some("svc"));
    assert_eq!((c.input_tokens, c.output_tokens), (1000, 200));
    assert_eq!((c.cache_read_tokens, c.reasoning_tokens), (400, 50));
    // 600 x $3/M + 400 x $0.3/M + 200 x $15/M
    assert_eq!(c.input_cost_usd, Some(Usd::parse("0.00192").unwrap()));
    assert_eq!(c.output_cost_usd, Some(Usd::parse("0.003").unwrap()));
    assert_eq!(c.cost_usd, Some(Usd::parse("0.00492").unwrap()));
    assert_eq!(c.duration_ms, 1000);
    let u = &r.calls[1];
    assert_eq!(u.status, CallStatus::UnknownModel);
    assert_eq!(u.model.as_deref(), Some("nobody-knows-me"));
    assert_eq!(u.cost_usd, None);
    let t = &r.trace;
    assert_eq!(t.total_usd.to_string(), "0.00492");
    assert_eq!((t.llm_calls, t.unpriced_calls), (2, 1));
    assert_eq!((t.input_tokens, t.output_tokens), (1010, 201));
    assert_eq!(t.by_model.len(), 1);
    assert!(t.complete);
    assert_eq!(t.duration_ms, 3000);
    let lines: Vec<String> = r
        .clone()
        .into_records()
        .iter()
        .map(Record::to_json_line)
        .collect();
    assert!(lines[0].starts_with(r#"{"type":"call","time":"2025-06-01T00:00:00.1Z","#));
    assert!(lines[0].contains(r#""cost_usd":"0.00492","input_cost_usd":"0.00192""#));
    assert!(lines[1].contains(r#""status":"unknown_model""#));
    assert!(lines[1].contains(r#""cost_usd":null"#));
    assert!(lines[2].starts_with(r#"{"type":"trace","#));
    assert!(
        lines[2].contains(r#""by_model":[{"model":"acme-large","calls":1,"cost_usd":"0.00492"}]"#)
    );
    // An incomplete release, or a trace without its root, is not complete.
    assert!(!trace_records(&spans, false, "cost.").trace.complete);
    assert!(!trace_records(&spans[1..], true, "cost.").trace.complete);
}

#[test]
fn record_writer_follows_rotation() {
    let dir = std::env::temp_dir().join(format!("report-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("costs.jsonl");
    let _ = std::fs::remove_file(&path);
    let engine = Engine::new(catalog(), EngineOptions::default());
    let mut spans = agent_trace();
    engine.price_trace(&mut spans, true);
    let recs = trace_records(&spans, true, "cost.").into_records();
    let mut w = RecordWriter::open(&path)
        .unwrap()
        .with_check_interval(Duration::ZERO);
    w.write(&recs).unwrap();
    // logrotate: mv, then the writer must start a new file at the path.
    let rotated = dir.join("costs.jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    w.write(&recs[2..]).unwrap();
    let count = |p: &PathBuf| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(count(&rotated), 3);
    assert_eq!(count(&path), 1);
    // Removed: recreated.
    std::fs::remove_file(&path).unwrap();
    w.write(&recs[..1]).unwrap();
    assert_eq!(count(&path), 1);
    // Every line parses back.
    for l in std::fs::read_to_string(&rotated).unwrap().lines() {
        let _: Record = serde_json::from_str(l).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reporter_over_in_memory_input() {
    let mut r = Reporter::new(catalog(), ReportOptions::default());
    let data = std::fs::read(fixture("collector.jsonl")).unwrap();
    r.read("mem", &data[..]);
    assert_eq!(r.error_count(), 0);
    let rep = r.finish();
    assert_eq!(rep.summary.total_usd.to_string(), "0.2606");
    assert_eq!(rep.summary.traces, 3);
    let tenths: i64 = rep
        .models
        .iter()
        .map(|m| (m.pct * 10.0).round() as i64)
        .sum();
    assert_eq!(tenths, 1000);
}

/// `opentelemetry-proto`'s `with-serde` reads the collector fixture (hex ids, `intValue` as a
/// string, int64 timestamps as strings) but refuses a request with a base64 id outright, which
/// is why the report reads OTLP/JSON with its own lenient model.
#[test]
fn what_opentelemetry_proto_serde_makes_of_collector_output() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let f = std::fs::File::open(fixture("collector.jsonl")).unwrap();
    let mut spans = 0;
    let mut found = false;
    for line in std::io::BufReader::new(f).lines() {
        let req: ExportTraceServiceRequest = serde_json::from_str(&line.unwrap()).unwrap();
        for s in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            spans += 1;
            assert_eq!(s.trace_id.len(), 16);
            for kv in &s.attributes {
                if kv.key == "llm.token_count.prompt" && s.name == "ChatCompletion" {
                    found |= matches!(
                        kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Value::IntValue(1200))
                    );
                }
            }
        }
    }
    assert_eq!(spans, 14);
    assert!(found, "intValue \"1200\" read as IntValue(1200)");
    let b64 = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"oAAAAAAAAAo=","name":"x"}]}]}]}"#;
    assert!(serde_json::from_str::<ExportTraceServiceRequest>(b64).is_err());
    // Ours reads it, as the same ids in hex.
    let mut r = Reporter::new(catalog(), ReportOptions::default());
    r.read("b64", b64.as_bytes());
    assert_eq!(r.error_count(), 0);
    let rep = r.finish();
    assert_eq!(
        rep.top_traces[0].trace_id,
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

/// The root's `cost.by_model` and the report's by-model table give the same percentages on the
/// same trace: one percentage routine, one order of rows. Each trace is a case where the two
/// copies disagreed: nothing spent (the engine split by calls, the report gave 0), equal spend
/// (the engine gave the tie's extra tenth by name, the report by calls), spend past
/// `u128::MAX / 1000` femto-dollars (the engine's sum overflowed).
#[test]
fn root_by_model_and_report_models_agree() {
    // Calls whose cost the span carries (`llm.cost.total`), priced as given by both.
    let call = |id: u8, model: &str, cost: &str| S {
        id,
        parent: 1,
        name: "chat",
        start_ms: u64::from(id) * 10,
        end_ms: u64::from(id) * 10 + 5,
        attrs: vec![
            text("gen_ai.request.model", model),
            text("llm.cost.total", cost),
        ],
    };
    let root = S {
        id: 1,
        parent: 0,
        name: "run",
        start_ms: 0,
        end_ms: 1000,
        attrs: vec![],
    };
    // (case, calls, the by-model rows wanted: model and percentage)
    type Case = (&'static str, Vec<S>, Vec<(&'static str, f64)>);
    let cases: Vec<Case> = vec![
        (
            "nothing spent",
            vec![
                call(2, "free-a", "0"),
                call(3, "free-a", "0"),
                call(4, "free-b", "0"),
            ],
            vec![("free-a", 0.0), ("free-b", 0.0)],
        ),
        (
            "equal spend, more calls first",
            vec![
                call(2, "a-one", "1"),
                call(3, "b-two", "0.5"),
                call(4, "b-two", "0.5"),
                call(5, "c-three", "1"),
            ],
            vec![("b-two", 33.4), ("a-one", 33.3), ("c-three", 33.3)],
        ),
        (
            "past u128::MAX / 1000",
            vec![
                call(2, "big-a", "90000000000000000000000"),
                call(3, "big-b", "45000000000000000000000"),
            ],
            vec![("big-a", 66.7), ("big-b", 33.3)],
        ),
    ];
    let engine = Engine::new(catalog(), EngineOptions::default());
    for (name, calls, want) in cases {
        let mut spans = vec![root.clone()];
        spans.extend(calls);
        // The same spans as OTLP/JSON for the report, before the engine writes on them.
        let json = otlp_json(&spans);
        engine.price_trace(&mut spans, true);
        let by_model = match spans[0].attr("cost.by_model") {
            Some(AttrValue::Str(s)) => s.to_owned(),
            other => panic!("{name}: no cost.by_model on the root: {other:?}"),
        };
        let rows: serde_json::Value = serde_json::from_str(&by_model).unwrap();
        let engine_rows: Vec<(String, f64)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["model"].as_str().unwrap().to_owned(),
                    r["pct"].as_f64().unwrap(),
                )
            })
            .collect();
        let mut r = Reporter::new(catalog(), ReportOptions::default());
        r.read("mem", json.as_bytes());
        assert_eq!(r.error_count(), 0, "{name}");
        let report_rows: Vec<(String, f64)> = r
            .finish()
            .models
            .iter()
            .map(|m| (m.model.clone(), m.pct))
            .collect();
        let want: Vec<(String, f64)> = want.iter().map(|(m, p)| (m.to_string(), *p)).collect();
        assert_eq!(engine_rows, want, "{name}: cost.by_model {by_model}");
        assert_eq!(report_rows, want, "{name}: the report's models");
    }
}

/// One OTLP/JSON request holding `spans` (string attributes only).
fn otlp_json(spans: &[S]) -> String {
    let spans: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            let attrs: Vec<serde_json::Value> = s
                .attrs
                .iter()
                .map(|(k, v)| match v {
                    OwnedValue::Str(v) => {
                        serde_json::json!({"key": k, "value": {"stringValue": v}})
                    }
                    other => panic!("string attributes only: {other:?}"),
                })
                .collect();
            let mut span = serde_json::json!({
                "traceId": "ab".repeat(16),
                "spanId": format!("{:02x}", s.id).repeat(8),
                "name": s.name,
                "startTimeUnixNano": (T0 + s.start_ms * 1_000_000).to_string(),
                "endTimeUnixNano": (T0 + s.end_ms * 1_000_000).to_string(),
                "attributes": attrs,
            });
            if s.parent != 0 {
                span["parentSpanId"] = format!("{:02x}", s.parent).repeat(8).into();
            }
            span
        })
        .collect();
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }]})
    .to_string()
}

/// `SpanView` is implementable outside the crate with nothing left to a silent default: the
/// engine's budget event reaches our own `add_event` (its keys are `AttrKey`s, which we can
/// name), and the hot-path `for_each_attr_in` takes a `KeyFilter` we can build.
#[test]
fn a_span_view_of_our_own_gets_the_budget_event_and_filters_keys() {
    let budget = BudgetRule::new("everything", Usd::parse("0.000001").unwrap());
    let engine = Engine::new(
        catalog(),
        EngineOptions {
            budgets: vec![budget],
            ..EngineOptions::default()
        },
    );
    let mut spans = agent_trace();
    engine.price_trace(&mut spans, true);
    let root = spans.iter().find(|s| s.parent == 0).unwrap();
    let event_key = "event:cost.budget.exceeded:cost.budget.name";
    assert_eq!(
        root.attr(event_key),
        Some(AttrValue::Str("everything")),
        "{:?}",
        root.attrs
    );
    let gen_ai = KeyFilter::EMPTY.with_first_bytes(&["gen_ai."]);
    let mut seen = Vec::new();
    spans[1].for_each_attr_in(&gen_ai, &mut |i, k, _| seen.push((i, k.to_owned())));
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|(_, k)| k.starts_with("gen_ai.")));
}
