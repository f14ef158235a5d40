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

/// The call spans of real-span fixtures (tests/fixtures/real-spans, those with GenAI input
/// tokens, `keep` choosing by span name) as one OTLP/JSON request: one trace, under a root
/// `agent run`, each call under its own instrumentation scope, attribute types kept.
fn units_trace(files: &[&str], keep: impl Fn(&str) -> bool) -> String {
    let mut scopes = Vec::new();
    let mut id = 1u8;
    for file in files {
        let path = format!(
            "{}/tests/fixtures/real-spans/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for s in doc["spans"].as_array().unwrap() {
            let attrs = s["attributes"].as_object().unwrap();
            let name = s["name"].as_str().unwrap();
            if !attrs.contains_key("gen_ai.usage.input_tokens") || !keep(name) {
                continue;
            }
            let attributes: Vec<serde_json::Value> = attrs
                .iter()
                .filter_map(|(k, v)| {
                    let val = &v["value"];
                    let value = match v["type"].as_str()? {
                        "int" => serde_json::json!({"intValue": val.as_i64()?.to_string()}),
                        "double" => serde_json::json!({"doubleValue": val.as_f64()?}),
                        "bool" => serde_json::json!({"boolValue": val.as_bool()?}),
                        "string" => serde_json::json!({"stringValue": val.as_str()?}),
                        _ => return None,
                    };
                    Some(serde_json::json!({"key": k, "value": value}))
                })
                .collect();
            id += 1;
            scopes.push(serde_json::json!({
                "scope": {"name": s["instrumentation_scope"]["name"]},
                "spans": [{
                    "traceId": "07".repeat(16),
                    "spanId": format!("{id:02x}").repeat(8),
                    "parentSpanId": "01".repeat(8),
                    "name": name,
                    "startTimeUnixNano": (T0 + 1_000_000).to_string(),
                    "endTimeUnixNano": (T0 + 2_000_000).to_string(),
                    "attributes": attributes,
                }],
            }));
        }
    }
    scopes.push(serde_json::json!({"scope": {"name": "app"}, "spans": [{
        "traceId": "07".repeat(16),
        "spanId": "01".repeat(8),
        "name": "agent run",
        "startTimeUnixNano": T0.to_string(),
        "endTimeUnixNano": (T0 + 3_000_000).to_string(),
    }]}));
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "units"}}]},
        "scopeSpans": scopes,
    }]})
    .to_string()
}

/// Issue 15: the report shows the cost by kind of charge, per model, per trace and in the
/// totals, in every format, exact, summing to the cost. Real spans: OpenLIT's two Responses calls
/// to gpt-5.4 and the official google-genai instrumentation's two Gemini calls (the gateway test
/// `tests/gateway_units.rs` sends the same; each figure worked out in tests/processor.rs
/// `units_expect`): gpt-5.4 0.0438 (of which tool calls: 2 web searches x $10 / 1k + 1 file
/// search x $2.50 / 1k = 0.0225) + 0.01065 (streamed, no tools recorded) = 0.05445, tokens
/// 0.05445 - 0.0225 = 0.03195; gemini-2.5-flash 2 x 0.00378352 = 0.00756704, all tokens.
/// Total 0.06201704 = tokens 0.03951704 + tool calls 0.0225.
#[test]
fn the_report_shows_charges_by_kind_summing_to_the_cost() {
    let opts = ReportOptions {
        // OpenLIT writes `gen_ai.usage.cost` = 0 (no price of its own for gpt-5.4): re-price it.
        engine: EngineOptions {
            reprice_provided: true,
            ..EngineOptions::default()
        },
        ..ReportOptions::default()
    };
    let mut r = Reporter::new(Arc::new(Catalog::embedded().unwrap()), opts);
    let line = units_trace(
        &["units_openlit.json", "units_otel_google_genai.json"],
        |name| name == "chat gpt-5.4" || name.starts_with("generate_content"),
    );
    r.read("mem", line.as_bytes());
    assert_eq!(r.error_count(), 0, "{:?}", r.errors());
    let rep = r.finish();
    let usd = |s: &str| Usd::parse(s).unwrap();
    let s = &rep.summary;
    assert_eq!((s.llm_calls, s.unpriced_calls), (4, 0));
    assert_eq!(s.total_usd, usd("0.06201704"));
    let c = s.charges.expect("charges in the totals");
    assert_eq!(c.token_usd, usd("0.03951704"));
    assert_eq!(c.tool_calls_usd, usd("0.0225"));
    assert_eq!(
        (c.media_input_usd, c.media_output_usd, c.per_unit_usd),
        (Usd::ZERO, Usd::ZERO, Usd::ZERO)
    );
    assert_eq!(c.unpriced_units, 0);
    let sum = |c: &otel_llm_cost::report::ChargeColumns| {
        c.token_usd + c.media_input_usd + c.media_output_usd + c.tool_calls_usd + c.per_unit_usd
    };
    assert_eq!(sum(&c), s.total_usd);
    // Per model: each row's kinds sum to its cost.
    let models: Vec<(&str, Usd, Usd, Usd)> = rep
        .models
        .iter()
        .map(|m| {
            let c = m.charges.expect("charges on every model row");
            assert_eq!(sum(&c), m.cost_usd, "{}", m.model);
            (m.model.as_str(), m.cost_usd, c.token_usd, c.tool_calls_usd)
        })
        .collect();
    assert_eq!(
        models,
        [
            ("gpt-5.4", usd("0.05445"), usd("0.03195"), usd("0.0225")),
            (
                "gemini/gemini-2.5-flash",
                usd("0.00756704"),
                usd("0.00756704"),
                Usd::ZERO
            ),
        ]
    );
    // Per trace.
    let t = &rep.top_traces[0];
    assert_eq!(t.charges, Some(c));
    // The steps have them too.
    assert!(rep.steps.iter().all(|s| s.charges.is_some()));
    // JSON: exact decimal strings, fields added beside the old ones.
    let mut out = Vec::new();
    rep.write_json(&mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["summary"]["total_usd"], "0.06201704");
    assert_eq!(json["summary"]["token_usd"], "0.03951704");
    assert_eq!(json["summary"]["tool_calls_usd"], "0.0225");
    assert_eq!(json["summary"]["media_input_usd"], "0");
    assert_eq!(json["summary"]["unpriced_units"], 0);
    assert_eq!(json["models"][0]["cost_usd"], "0.05445");
    assert_eq!(json["models"][0]["token_usd"], "0.03195");
    assert_eq!(json["top_traces"][0]["tool_calls_usd"], "0.0225");
    // CSV: six columns after the old seventeen.
    let mut out = Vec::new();
    rep.write_csv(&mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "section,key,label,traces,llm_calls,unpriced_calls,cost_usd,pct,avg_input_tokens,\
         avg_output_tokens,input_tokens,output_tokens,duration_ms,p50_ms,p95_ms,p99_ms,complete,\
         token_usd,media_input_usd,media_output_usd,tool_calls_usd,per_unit_usd,unpriced_units"
    );
    let total = lines.next().unwrap();
    assert!(
        total.starts_with("total,all,,1,4,0,0.06201704,100,"),
        "{csv}"
    );
    assert!(total.ends_with(",0.03951704,0,0,0.0225,0,0"), "{csv}");
    let gpt = csv
        .lines()
        .find(|l| l.starts_with("model,gpt-5.4,"))
        .unwrap();
    assert!(gpt.ends_with(",0.03195,0,0,0.0225,0,0"), "{csv}");
    // Table: the charge columns and a line of totals.
    let mut out = Vec::new();
    rep.write_table(&mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(
        table.contains("Charges: tokens $0.039517, media in $0.000000, media out $0.000000, tool calls $0.022500, per unit $0.000000; 0 units unpriced"),
        "{table}"
    );
    assert!(table.contains("TOOL CALLS"), "{table}");
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("gpt-5.4"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..10],
        [
            "gpt-5.4",
            "2",
            "0",
            "$0.054450",
            "$0.031950",
            "$0.000000",
            "$0.000000",
            "$0.022500",
            "$0.000000",
            "0"
        ],
        "{table}"
    );
}

/// A token-only report is as it was: no charge fields in JSON, no charge columns in CSV or
/// the tables.
#[test]
fn a_token_only_report_has_no_charge_columns() {
    let mut r = Reporter::new(catalog(), ReportOptions::default());
    let data = std::fs::read(fixture("collector.jsonl")).unwrap();
    r.read("mem", &data[..]);
    let rep = r.finish();
    assert_eq!(rep.summary.charges, None);
    assert!(rep.models.iter().all(|m| m.charges.is_none()));
    assert!(rep.top_traces.iter().all(|t| t.charges.is_none()));
    let mut out = Vec::new();
    rep.write_json(&mut out).unwrap();
    let json = String::from_utf8(out).unwrap();
    assert!(
        !json.contains("token_usd") && !json.contains("unpriced_units"),
        "{json}"
    );
    let mut out = Vec::new();
    rep.write_csv(&mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    assert!(
        csv.lines().next().unwrap().ends_with(",p99_ms,complete"),
        "{csv}"
    );
    assert!(csv.lines().all(|l| l.split(',').count() == 17), "{csv}");
    let mut out = Vec::new();
    rep.write_table(&mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(
        !table.contains("TOKENS") && !table.contains("Charges:"),
        "{table}"
    );
}

/// Cost records carry the charges (`charges_usd`, `unpriced_units`): the report adds them up
/// exactly, every kind; a charge that is not a dollar amount is an input error naming it, and
/// the call still counts with its whole cost. Figures: call 1 $0.5 = media in 0.1 + per unit
/// 0.15 + tokens 0.25, 3 units unpriced; call 2 $0.125 = media out 0.025 + tokens 0.1;
/// call 3 $0.2 with a bad `tool_calls` (left out: tokens 0.2). Total 0.825 = tokens 0.55 +
/// media in 0.1 + media out 0.025 + per unit 0.15.
#[test]
fn charges_from_cost_records_add_up_and_bad_ones_are_errors() {
    let call = |span: &str, model: &str, cost: &str, charges: &str, unpriced: u64| {
        format!(
            r#"{{"type":"call","time":"2025-06-01T00:00:00Z","trace_id":"t1","span_id":"{span}","parent_span_id":"r","service":"s","workflow":"w","span_name":"chat","model":"{model}","provider":"openai","status":"priced","input_tokens":1,"output_tokens":1,"cache_read_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":"{cost}","input_cost_usd":null,"output_cost_usd":null,"duration_ms":5,"charges_usd":{{{charges}}},"unpriced_units":{unpriced}}}"#
        )
    };
    let input = [
        call(
            "a",
            "m1",
            "0.5",
            r#""media_input":"0.1","per_unit":"0.15""#,
            3,
        ),
        call("b", "m1", "0.125", r#""media_output":"0.025""#, 0),
        call("c", "m2", "0.2", r#""tool_calls":"lots""#, 0),
        r#"{"type":"trace","time":"2025-06-01T00:00:00Z","trace_id":"t1","service":"s","workflow":"w","total_usd":"0.825","llm_calls":3,"unpriced_calls":0,"input_tokens":3,"output_tokens":3,"by_model":[],"complete":true,"duration_ms":10}"#.to_owned(),
    ]
    .join("\n");
    let mut r = Reporter::new(catalog(), ReportOptions::default());
    r.read("records", input.as_bytes());
    assert_eq!(r.error_count(), 1);
    let e = r.errors()[0].to_string();
    assert!(
        e.starts_with("records:3:") && e.contains("tool_calls 'lots'"),
        "{e}"
    );
    let rep = r.finish();
    let usd = |s: &str| Usd::parse(s).unwrap();
    assert_eq!(rep.summary.total_usd, usd("0.825"));
    let c = rep.summary.charges.unwrap();
    assert_eq!(
        (
            c.token_usd,
            c.media_input_usd,
            c.media_output_usd,
            c.tool_calls_usd,
            c.per_unit_usd,
            c.unpriced_units
        ),
        (
            usd("0.55"),
            usd("0.1"),
            usd("0.025"),
            Usd::ZERO,
            usd("0.15"),
            3
        )
    );
    let m1 = rep.models.iter().find(|m| m.model == "m1").unwrap();
    let c1 = m1.charges.unwrap();
    assert_eq!(m1.cost_usd, usd("0.625"));
    assert_eq!(c1.token_usd, usd("0.35"));
    assert_eq!(c1.unpriced_units, 3);
    let m2 = rep.models.iter().find(|m| m.model == "m2").unwrap();
    assert_eq!(m2.charges.unwrap().token_usd, usd("0.2"));
}
