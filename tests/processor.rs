//! CostSpanProcessor behaviour: golden prices on real instrumentation spans, roll-up, late
//! children, unknown models, invalid usage, aggregates, duplicates, provided costs; and the
//! same pricing placed in front of an exporter (CostSpanExporter behind a BatchSpanProcessor).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, InMemorySpanExporter, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use otel_llm_cost::{engine::Engine, CostSpanExporter, CostSpanProcessor};

/// Collects finished spans (and the resource it was given).
#[derive(Debug, Clone, Default)]
struct Collect {
    spans: Arc<Mutex<Vec<SpanData>>>,
    resource: Arc<Mutex<Option<Resource>>>,
}

impl SpanProcessor for Collect {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.spans.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn set_resource(&mut self, r: &Resource) {
        *self.resource.lock().unwrap() = Some(r.clone());
    }
}

struct Harness {
    provider: SdkTracerProvider,
    collect: Collect,
    engine: Arc<Engine>,
    /// Set when pricing runs in a `CostSpanExporter` behind a `BatchSpanProcessor`.
    exported: Option<InMemorySpanExporter>,
}

fn harness() -> Harness {
    harness_with(|b| b)
}

/// A provider over `processor`, with the test resource (`service.name` = svc-under-test).
fn provider_with(processor: impl SpanProcessor + 'static) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name("svc-under-test")
                .build(),
        )
        .build()
}

fn harness_with(
    f: impl FnOnce(
        otel_llm_cost::CostSpanProcessorBuilder<Collect>,
    ) -> otel_llm_cost::CostSpanProcessorBuilder<Collect>,
) -> Harness {
    let collect = Collect::default();
    let p = f(CostSpanProcessor::builder(collect.clone()))
        .build()
        .unwrap();
    let engine = p.engine().clone();
    Harness {
        provider: provider_with(p),
        collect,
        engine,
        exported: None,
    }
}

/// Pricing in front of the exporter: `BatchSpanProcessor -> CostSpanExporter -> in memory`.
fn exporter_harness() -> Harness {
    exporter_harness_with(512, |b| b)
}

/// As [`exporter_harness`], with the batch processor's export batch size and builder options.
fn exporter_harness_with(
    batch_size: usize,
    f: impl FnOnce(
        otel_llm_cost::CostSpanExporterBuilder<InMemorySpanExporter>,
    ) -> otel_llm_cost::CostSpanExporterBuilder<InMemorySpanExporter>,
) -> Harness {
    let memory = InMemorySpanExporter::default();
    let exporter = f(CostSpanExporter::builder(memory.clone()))
        .build()
        .unwrap();
    let engine = exporter.engine().clone();
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            opentelemetry_sdk::trace::BatchConfigBuilder::default()
                .with_max_export_batch_size(batch_size)
                .build(),
        )
        .build();
    Harness {
        provider: provider_with(batch),
        collect: Collect::default(),
        engine,
        exported: Some(memory),
    }
}

impl Harness {
    fn spans(&self) -> Vec<SpanData> {
        match &self.exported {
            Some(memory) => {
                self.provider.force_flush().unwrap();
                memory.get_finished_spans().unwrap()
            }
            None => self.collect.spans.lock().unwrap().clone(),
        }
    }
    fn by_name(&self, name: &str) -> SpanData {
        let v: Vec<SpanData> = self
            .spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        assert_eq!(v.len(), 1, "exactly one span named {name}");
        v.into_iter().next().unwrap()
    }
}

fn attr(s: &SpanData, key: &str) -> Option<Value> {
    s.attributes
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}
fn f64a(s: &SpanData, key: &str) -> Option<f64> {
    match attr(s, key)? {
        Value::F64(f) => Some(f),
        other => panic!("{key} is not a double: {other:?}"),
    }
}
fn i64a(s: &SpanData, key: &str) -> Option<i64> {
    match attr(s, key)? {
        Value::I64(i) => Some(i),
        other => panic!("{key} is not an int: {other:?}"),
    }
}
fn stra(s: &SpanData, key: &str) -> Option<String> {
    attr(s, key).map(|v| v.as_str().into_owned())
}

/// Dollar attributes are f64 renderings of exact sums: equal within float rounding.
fn assert_usd(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: attribute missing"));
    assert!((got - want).abs() < 1e-12, "{what}: got {got}, want {want}");
}

/// The span is `priced`, at `total` dollars, with `tier` as `cost.pricing.tier`.
fn assert_priced(s: &SpanData, name: &str, total: f64, tier: Option<&str>) {
    assert_eq!(
        stra(s, "cost.pricing.status").as_deref(),
        Some("priced"),
        "{name}"
    );
    assert_usd(f64a(s, "llm.cost.total"), total, name);
    assert_eq!(stra(s, "cost.pricing.tier").as_deref(), tier, "{name}");
}

// ---------------------------------------------------------------- real instrumentation spans

/// Replays a captured span file (tests/fixtures/real-spans) through the SDK: same names, scopes,
/// attributes (with their value types) and parent links; children end before parents.
fn replay(h: &Harness, file: &str) {
    replay_with(h, file, |_| Vec::new());
}

/// [`replay`], with attributes an application adds to the spans of a case (`extra(case)`).
fn replay_with(h: &Harness, file: &str, extra: impl Fn(&str) -> Vec<KeyValue>) {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/real-spans/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let spans = doc["spans"].as_array().unwrap();
    let mut by_case: HashMap<String, Vec<&serde_json::Value>> = HashMap::new();
    for s in spans {
        by_case
            .entry(s["case"].as_str().unwrap().to_owned())
            .or_default()
            .push(s);
    }
    for (_, mut case) in by_case {
        // Parents first.
        case.sort_by_key(|s| s["parent_span_id"].is_string());
        let mut started: Vec<(String, Context)> = Vec::new();
        for s in &case {
            let scope = &s["instrumentation_scope"];
            let tracer = h.provider.tracer_with_scope(
                InstrumentationScope::builder(scope["name"].as_str().unwrap().to_owned())
                    .with_version(scope["version"].as_str().unwrap_or("").to_owned())
                    .build(),
            );
            let mut attrs: Vec<KeyValue> = s["attributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let val = &v["value"];
                    let value = match v["type"].as_str().unwrap() {
                        "int" => Value::I64(val.as_i64().unwrap()),
                        "double" => Value::F64(val.as_f64().unwrap()),
                        "bool" => Value::Bool(val.as_bool().unwrap()),
                        "string" => Value::String(val.as_str().unwrap().to_owned().into()),
                        _ => Value::Array(Array::String(
                            val.as_array()
                                .unwrap()
                                .iter()
                                .map(|x| StringValue::from(x.to_string()))
                                .collect(),
                        )),
                    };
                    KeyValue::new(k.clone(), value)
                })
                .collect();
            attrs.extend(extra(s["case"].as_str().unwrap()));
            let parent_cx = match s["parent_span_id"].as_str() {
                Some(p) => started
                    .iter()
                    .find(|(id, _)| id == p)
                    .map(|(_, cx)| cx.clone())
                    .unwrap(),
                None => Context::new(),
            };
            let span = tracer
                .span_builder(s["name"].as_str().unwrap().to_owned())
                .with_attributes(attrs)
                .start_with_context(&tracer, &parent_cx);
            started.push((
                s["span_id"].as_str().unwrap().to_owned(),
                parent_cx.with_span(span),
            ));
        }
        for (_, cx) in started.into_iter().rev() {
            cx.span().end();
        }
    }
}

fn find(h: &Harness, scope: &str, name: &str, model_attr: &str) -> Vec<SpanData> {
    h.spans()
        .into_iter()
        .filter(|s| s.instrumentation_scope.name() == scope && s.name == name)
        .filter(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.value.as_str().contains(model_attr))
        })
        .collect()
}

/// Rates (catalog 2026.11.22, $ per 1M tokens):
/// gpt-4o-2024-08-06: input 2.5, cache_read 1.25, output 10 (reasoning billed as output).
/// o4-mini-2025-04-16: input 1.1, cache_read 0.275, output 4.4.
/// claude-sonnet-4-5-20250929: input 3, cache_read 0.3, cache_write_5m 3.75, cache_write_1h 6, output 15.
mod expect {
    /// gpt-4o, prompt 1200 incl. 1000 cached, completion 300 incl. 200 reasoning:
    /// 200 x 2.5 = 0.0005; 1000 x 1.25 = 0.00125; 100 x 10 = 0.001; 200 x 10 = 0.002 (per 1M)
    /// prompt 0.00175, completion 0.003, total 0.00475.
    pub const GPT4O_TOTAL: f64 = 0.00475;
    pub const GPT4O_PROMPT: f64 = 0.00175;
    pub const GPT4O_COMPLETION: f64 = 0.003;
    /// o4-mini, prompt 1100 incl. 800 cached, completion 250 incl. 150 reasoning:
    /// 300 x 1.1 = 0.00033; 800 x 0.275 = 0.00022; 250 x 4.4 = 0.0011; total 0.00165.
    pub const O4MINI_TOTAL: f64 = 0.00165;
    /// Claude (Anthropic SDK span, TTL split known): input 2350 incl. 2000 read + 200 5m + 100 1h:
    /// 50 x 3 = 0.00015; 2000 x 0.3 = 0.0006; 200 x 3.75 = 0.00075; 100 x 6 = 0.0006;
    /// 400 x 15 = 0.006; total 0.0081.
    pub const CLAUDE_SDK_TOTAL: f64 = 0.0081;
    /// Claude without the TTL split (all 300 writes at the 5m rate): 50 x 3 + 2000 x 0.3 +
    /// 300 x 3.75 + 400 x 15 = 0.00015 + 0.0006 + 0.001125 + 0.006 = 0.007875.
    pub const CLAUDE_NO_SPLIT_TOTAL: f64 = 0.007875;
}

#[test]
fn openinference_spans_are_priced_and_the_anthropic_sdk_span_wins() {
    let h = harness();
    replay(&h, "openinference_spans.json");
    let scope = "openinference.instrumentation.openai";
    for s in find(&h, scope, "ChatCompletion", "gpt-4o-2024-08-06") {
        assert_eq!(stra(&s, "cost.pricing.status").as_deref(), Some("priced"));
        assert_eq!(
            stra(&s, "cost.pricing.model").as_deref(),
            Some("gpt-4o-2024-08-06")
        );
        assert_usd(
            f64a(&s, "llm.cost.total"),
            expect::GPT4O_TOTAL,
            "gpt-4o total",
        );
        assert_usd(
            f64a(&s, "llm.cost.prompt"),
            expect::GPT4O_PROMPT,
            "gpt-4o prompt",
        );
        assert_usd(
            f64a(&s, "llm.cost.completion"),
            expect::GPT4O_COMPLETION,
            "gpt-4o completion",
        );
        assert_usd(
            f64a(&s, "llm.cost.prompt_details.cache_read"),
            0.00125,
            "cache read",
        );
        assert_usd(
            f64a(&s, "llm.cost.completion_details.reasoning"),
            0.002,
            "reasoning",
        );
        assert_usd(
            f64a(&s, "cost.total_usd"),
            expect::GPT4O_TOTAL,
            "root total",
        );
        assert_eq!(i64a(&s, "cost.llm_calls"), Some(1));
        assert_eq!(i64a(&s, "cost.input_tokens"), Some(1200));
        assert_eq!(i64a(&s, "cost.output_tokens"), Some(300));
        assert_eq!(attr(&s, "cost.complete"), Some(Value::Bool(true)));
        assert!(stra(&s, "cost.pricing.catalog").is_some());
        assert!(stra(&s, "cost.pricing.effective_from").is_some());
        assert!(stra(&s, "cost.pricing.source").is_some());
    }
    let resp = find(&h, scope, "Response", "o4-mini");
    assert_eq!(resp.len(), 1);
    assert_usd(
        f64a(&resp[0], "llm.cost.total"),
        expect::O4MINI_TOTAL,
        "o4-mini",
    );

    // One call, two spans: the SDK's own span (inner) is priced, the instrumentation span is not.
    let sdk = h.by_name("anthropic.messages.create");
    let outer = h.by_name("messages.create");
    assert_eq!(stra(&sdk, "cost.pricing.status").as_deref(), Some("priced"));
    assert_usd(
        f64a(&sdk, "llm.cost.total"),
        expect::CLAUDE_SDK_TOTAL,
        "claude sdk span",
    );
    assert_usd(
        f64a(&sdk, "llm.cost.prompt_details.cache_write"),
        0.00135,
        "5m + 1h writes",
    );
    assert_eq!(
        stra(&outer, "cost.pricing.status").as_deref(),
        Some("duplicate")
    );
    assert_eq!(
        attr(&outer, "llm.cost.total"),
        None,
        "no per-call cost on the duplicate"
    );
    assert_usd(
        f64a(&outer, "cost.total_usd"),
        expect::CLAUDE_SDK_TOTAL,
        "root total counts the call once",
    );
    assert_eq!(i64a(&outer, "cost.llm_calls"), Some(1));
}

#[test]
fn official_genai_spans_are_priced_once() {
    let h = harness();
    replay(&h, "otel_genai_spans.json");
    for s in find(
        &h,
        "opentelemetry.instrumentation.genai.openai",
        "chat gpt-4o",
        "gpt-4o-2024-08-06",
    ) {
        assert_usd(
            f64a(&s, "llm.cost.total"),
            expect::GPT4O_TOTAL,
            &format!("{} gpt-4o", s.name),
        );
    }
    let o4 = find(
        &h,
        "opentelemetry.instrumentation.genai.openai",
        "chat o4-mini",
        "o4-mini",
    );
    assert_usd(
        f64a(&o4[0], "llm.cost.total"),
        expect::O4MINI_TOTAL,
        "o4-mini",
    );
    let sdk = h.by_name("anthropic.messages.create");
    let outer = h.by_name("chat claude-sonnet-4-5");
    assert_usd(
        f64a(&sdk, "llm.cost.total"),
        expect::CLAUDE_SDK_TOTAL,
        "claude",
    );
    assert_eq!(
        stra(&outer, "cost.pricing.status").as_deref(),
        Some("duplicate")
    );
    assert_usd(
        f64a(&outer, "cost.total_usd"),
        expect::CLAUDE_SDK_TOTAL,
        "root",
    );
}

#[test]
fn openllmetry_spans_are_priced() {
    let h = harness();
    replay(&h, "openllmetry_spans.json");
    for s in find(
        &h,
        "opentelemetry.instrumentation.openai.v1",
        "openai.chat",
        "gpt-4o-2024-08-06",
    ) {
        // Legacy `gen_ai.usage.reasoning_tokens` inside output (total 1500 = 1200 + 300).
        assert_usd(f64a(&s, "llm.cost.total"), expect::GPT4O_TOTAL, "gpt-4o");
    }
    let o4 = find(
        &h,
        "opentelemetry.instrumentation.openai.v1",
        "openai.response",
        "o4-mini",
    );
    assert_usd(
        f64a(&o4[0], "llm.cost.total"),
        expect::O4MINI_TOTAL,
        "o4-mini",
    );
    // OpenLLMetry 0.62.4 does not parent the SDK's span under its own: two traces, each priced.
    // The SDK span knows the TTL split; OpenLLMetry's span only the cache-write total.
    let sdk = h.by_name("anthropic.messages.create");
    assert_usd(
        f64a(&sdk, "llm.cost.total"),
        expect::CLAUDE_SDK_TOTAL,
        "sdk span",
    );
    let ollm = h.by_name("anthropic.chat");
    assert_usd(
        f64a(&ollm, "llm.cost.total"),
        expect::CLAUDE_NO_SPLIT_TOTAL,
        "openllmetry span",
    );
}

// ---------------------------------------------------------------- synthetic trees

fn call(model: &str, input: i64, output: i64) -> Vec<KeyValue> {
    vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", "openai"),
        KeyValue::new("gen_ai.response.model", model.to_owned()),
        KeyValue::new("gen_ai.usage.input_tokens", input),
        KeyValue::new("gen_ai.usage.output_tokens", output),
    ]
}

fn start(h: &Harness, name: &str, parent: &Context, attrs: Vec<KeyValue>) -> Context {
    let tracer = h.provider.tracer("test");
    let s = tracer
        .span_builder(name.to_owned())
        .with_attributes(attrs)
        .start_with_context(&tracer, parent);
    parent.with_span(s)
}

/// root -> step-a -> {gpt-4o 1000/500, sub-step -> gpt-4o-mini 10000/1000}
///      -> step-b -> {gpt-4o 2000/100, tool}
fn three_level_tree(h: &Harness) {
    let root = start(h, "root", &Context::new(), vec![]);
    let a = start(h, "step-a", &root, vec![]);
    start(h, "call-1", &a, call("gpt-4o-2024-08-06", 1000, 500))
        .span()
        .end();
    let sub = start(h, "sub-step", &a, vec![]);
    start(
        h,
        "call-2",
        &sub,
        call("gpt-4o-mini-2024-07-18", 10_000, 1_000),
    )
    .span()
    .end();
    sub.span().end();
    a.span().end();
    let b = start(h, "step-b", &root, vec![]);
    start(h, "call-3", &b, call("gpt-4o-2024-08-06", 2000, 100))
        .span()
        .end();
    start(
        h,
        "tool",
        &b,
        vec![KeyValue::new("gen_ai.operation.name", "execute_tool")],
    )
    .span()
    .end();
    b.span().end();
    root.span().end();
}

#[test]
fn three_level_tree_rolls_up_exactly() {
    // gpt-4o (2.5/10): 1000/500 = 0.0025 + 0.005 = 0.0075; 2000/100 = 0.005 + 0.001 = 0.006
    // gpt-4o-mini (0.15/0.6): 10000/1000 = 0.0015 + 0.0006 = 0.0021
    let h = harness();
    three_level_tree(&h);
    let total = |n: &str| f64a(&h.by_name(n), "cost.total_usd");
    assert_usd(total("call-1"), 0.0075, "call-1");
    assert_usd(total("call-2"), 0.0021, "call-2");
    assert_usd(total("sub-step"), 0.0021, "sub-step");
    assert_usd(total("step-a"), 0.0096, "step-a");
    assert_usd(total("step-b"), 0.006, "step-b");
    assert_usd(total("root"), 0.0156, "root");
    assert_eq!(total("tool"), None, "no cost on spans without calls below");
    // Each parent's total equals its own plus its children's.
    assert_usd(
        total("step-a"),
        total("call-1").unwrap() + total("sub-step").unwrap(),
        "step-a sum",
    );
    assert_usd(
        total("root"),
        total("step-a").unwrap() + total("step-b").unwrap(),
        "root sum",
    );
    let root = h.by_name("root");
    assert_eq!(i64a(&root, "cost.llm_calls"), Some(3));
    assert_eq!(i64a(&root, "cost.input_tokens"), Some(13_000));
    assert_eq!(i64a(&root, "cost.output_tokens"), Some(1_600));
    assert_usd(
        f64a(&root, "cost.input_usd"),
        0.0025 + 0.0015 + 0.005,
        "input side",
    );
    assert_usd(
        f64a(&root, "cost.output_usd"),
        0.005 + 0.0006 + 0.001,
        "output side",
    );
    assert_eq!(attr(&root, "cost.complete"), Some(Value::Bool(true)));
    assert_eq!(
        attr(&h.by_name("step-a"), "cost.by_model"),
        None,
        "by_model on the root only"
    );
    // by_model: sorted by spend, percentages sum to 100.
    let by: serde_json::Value =
        serde_json::from_str(&stra(&root, "cost.by_model").unwrap()).unwrap();
    let rows = by.as_array().unwrap();
    assert_eq!(rows[0]["model"], "gpt-4o-2024-08-06");
    assert_eq!(rows[0]["calls"], 2);
    assert_usd(rows[0]["cost_usd"].as_f64(), 0.0135, "gpt-4o share");
    assert_eq!(rows[1]["model"], "gpt-4o-mini-2024-07-18");
    let pct: f64 = rows.iter().map(|r| r["pct"].as_f64().unwrap()).sum();
    assert!((pct - 100.0).abs() < 1e-9, "percentages sum to {pct}");
    // 0.0135 / 0.0156 = 86.538..% -> 86.5; 0.0021 / 0.0156 = 13.46..% -> 13.5
    assert_eq!(rows[0]["pct"], 86.5);
    assert_eq!(rows[1]["pct"], 13.5);
}

/// Every span's attributes, by span name, sorted by key.
fn attributes_by_name(h: &Harness) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = h
        .spans()
        .iter()
        .map(|s| {
            let mut kv: Vec<(String, String)> = s
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), format!("{:?}", kv.value)))
                .collect();
            kv.sort();
            (s.name.to_string(), kv)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_exporter_placement_writes_exactly_what_the_processor_writes() {
    let (p, e) = (harness(), exporter_harness());
    three_level_tree(&p);
    three_level_tree(&e);
    let (a, b) = (attributes_by_name(&p), attributes_by_name(&e));
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
    assert_usd(
        f64a(&e.by_name("root"), "cost.total_usd"),
        0.0156,
        "root total, exporter placement",
    );
    assert_eq!(e.engine.stats().snapshot().priced, 3);
    // And a late child there too: priced alone, counted late, the ancestor unchanged.
    late_child_tree(&e);
    assert_usd(
        f64a(&e.by_name("late-call"), "llm.cost.total"),
        0.0075,
        "late child priced",
    );
    assert_eq!(attr(&e.by_name("late-step"), "cost.total_usd"), None);
    assert_eq!(e.engine.stats().snapshot().late, 1);
}

/// Records the traces an observer sees.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<(String, Option<String>, u32)>>);

impl otel_llm_cost::engine::TraceObserver for Seen {
    fn on_trace(&self, t: &otel_llm_cost::engine::TraceSummary<'_>) {
        self.0.lock().unwrap().push((
            t.workflow.to_owned(),
            t.service.map(str::to_owned),
            t.totals.calls,
        ));
    }
}

#[test]
fn the_exporter_placement_rolls_up_across_export_calls_and_knows_the_service() {
    // One span per export call: every child's total reaches its parent through the ledger
    // across calls. The observer sees the provider's service.name, which only reaches the
    // engine through the exporter's set_resource.
    let seen = Arc::new(Seen::default());
    let observer: Arc<dyn otel_llm_cost::engine::TraceObserver> = seen.clone();
    let e = exporter_harness_with(1, |b| b.with_observer(observer));
    three_level_tree(&e);
    let p = harness();
    three_level_tree(&p);
    assert_eq!(attributes_by_name(&e), attributes_by_name(&p));
    assert_eq!(
        *seen.0.lock().unwrap(),
        vec![("root".to_owned(), Some("svc-under-test".to_owned()), 3)]
    );
}

/// late-root -> late-step -> late-call, the call ending after both.
fn late_child_tree(h: &Harness) {
    let root = start(h, "late-root", &Context::new(), vec![]);
    let step = start(h, "late-step", &root, vec![]);
    let late = start(h, "late-call", &step, call("gpt-4o-2024-08-06", 1000, 500));
    step.span().end();
    root.span().end();
    late.span().end();
}

#[test]
fn child_ending_after_its_parent_is_priced_forwarded_and_counted_late() {
    let h = harness();
    late_child_tree(&h);
    let s = h.by_name("late-call");
    assert_usd(
        f64a(&s, "llm.cost.total"),
        0.0075,
        "late child still priced",
    );
    assert_eq!(
        attr(&h.by_name("late-step"), "cost.total_usd"),
        None,
        "ancestor cannot change"
    );
    assert_eq!(h.engine.stats().snapshot().late, 1);
    assert_eq!(h.spans().len(), 3, "every span forwarded");
}

#[test]
fn unknown_model_is_counted_not_shown_as_zero() {
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    start(&h, "known", &root, call("gpt-4o-2024-08-06", 1000, 500))
        .span()
        .end();
    start(&h, "mystery", &root, call("acme-llm-9000", 1000, 500))
        .span()
        .end();
    root.span().end();
    let m = h.by_name("mystery");
    assert_eq!(
        stra(&m, "cost.pricing.status").as_deref(),
        Some("unknown_model")
    );
    assert_eq!(
        stra(&m, "cost.pricing.reason").as_deref(),
        Some("unknown model 'acme-llm-9000'")
    );
    assert_eq!(attr(&m, "llm.cost.total"), None, "never $0");
    assert_eq!(attr(&m, "cost.total_usd"), None, "never $0");
    assert_eq!(i64a(&m, "cost.unpriced_calls"), Some(1));
    let root = h.by_name("root");
    assert_eq!(i64a(&root, "cost.unpriced_calls"), Some(1));
    assert_eq!(i64a(&root, "cost.llm_calls"), Some(2));
    assert_usd(f64a(&root, "cost.total_usd"), 0.0075, "known part only");
    assert_eq!(h.engine.stats().snapshot().unknown_model, 1);
}

#[test]
fn invalid_token_values_are_invalid_usage_and_never_panic() {
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    let bad: Vec<(&str, Value)> = vec![
        ("negative", Value::I64(-5)),
        ("nan", Value::F64(f64::NAN)),
        ("fraction", Value::F64(2.5)),
        ("abc", Value::String("abc".into())),
        ("array", Value::Array(Array::I64(vec![1, 2]))),
        ("bool", Value::Bool(true)),
        ("huge-negative", Value::I64(i64::MIN)),
    ];
    for (name, v) in &bad {
        let mut attrs = call("gpt-4o-2024-08-06", 0, 10);
        attrs.push(KeyValue::new("gen_ai.usage.input_tokens", v.clone()));
        start(&h, name, &root, attrs).span().end();
    }
    // Huge but valid: u64-sized string counts price without overflow.
    let mut attrs = call("gpt-4o-2024-08-06", 0, 0);
    attrs.push(KeyValue::new(
        "gen_ai.usage.input_tokens",
        "18446744073709551615",
    ));
    start(&h, "huge", &root, attrs).span().end();
    root.span().end();
    for (name, _) in &bad {
        let s = h.by_name(name);
        assert_eq!(
            stra(&s, "cost.pricing.status").as_deref(),
            Some("invalid_usage"),
            "{name}"
        );
        assert!(stra(&s, "cost.pricing.reason")
            .unwrap()
            .contains("gen_ai.usage.input_tokens"));
        assert_eq!(attr(&s, "llm.cost.total"), None);
    }
    assert_eq!(
        stra(&h.by_name("huge"), "cost.pricing.status").as_deref(),
        Some("priced")
    );
    assert_eq!(h.spans().len(), bad.len() + 2, "every span forwarded");
    assert_eq!(
        i64a(&h.by_name("root"), "cost.unpriced_calls"),
        Some(bad.len() as i64)
    );
    assert_eq!(h.engine.stats().snapshot().invalid_usage, bad.len() as u64);
}

/// Guards issue 13, B4: a model or provider attribute longer than the limits is not looked up
/// (it would be a cache key and a label); the call is `invalid_usage` naming the attribute,
/// forwarded, and counted. At the limit exactly, the value is read as usual.
#[test]
fn over_long_model_or_provider_is_invalid_usage_naming_the_attribute() {
    use otel_llm_cost::{pricing::MAX_MODEL_ID_BYTES, provider::MAX_PROVIDER_BYTES};
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    let long_model = format!("gpt-4o-{}", "x".repeat(MAX_MODEL_ID_BYTES));
    start(&h, "long-model", &root, call(&long_model, 100, 10))
        .span()
        .end();
    let mut attrs = call("gpt-4o-2024-08-06", 100, 10);
    attrs[1] = KeyValue::new("gen_ai.provider.name", "p".repeat(MAX_PROVIDER_BYTES + 1));
    start(&h, "long-provider", &root, attrs).span().end();
    // At the limits exactly: read as usual (an unknown model, a provider that breaks no tie).
    let at_limit = "m".repeat(MAX_MODEL_ID_BYTES);
    start(&h, "model-at-limit", &root, call(&at_limit, 100, 10))
        .span()
        .end();
    let mut attrs = call("gpt-4o-2024-08-06", 100, 10);
    attrs[1] = KeyValue::new("gen_ai.provider.name", "p".repeat(MAX_PROVIDER_BYTES));
    start(&h, "provider-at-limit", &root, attrs).span().end();
    root.span().end();
    for (name, key, len) in [
        (
            "long-model",
            "gen_ai.response.model",
            long_model.len().to_string(),
        ),
        (
            "long-provider",
            "gen_ai.provider.name",
            (MAX_PROVIDER_BYTES + 1).to_string(),
        ),
    ] {
        let s = h.by_name(name);
        assert_eq!(
            stra(&s, "cost.pricing.status").as_deref(),
            Some("invalid_usage"),
            "{name}"
        );
        let reason = stra(&s, "cost.pricing.reason").unwrap();
        assert!(
            reason.contains(key) && reason.contains(&len),
            "{name}: {reason}"
        );
        assert_eq!(attr(&s, "llm.cost.total"), None);
    }
    assert_eq!(
        stra(&h.by_name("model-at-limit"), "cost.pricing.status").as_deref(),
        Some("unknown_model")
    );
    assert_eq!(
        stra(&h.by_name("provider-at-limit"), "cost.pricing.status").as_deref(),
        Some("priced")
    );
    assert_eq!(h.spans().len(), 5, "every span forwarded");
    let st = h.engine.stats().snapshot();
    assert_eq!((st.invalid_usage, st.unknown_model, st.priced), (2, 1, 1));
    assert_eq!(i64a(&h.by_name("root"), "cost.unpriced_calls"), Some(3));
}

#[test]
fn agent_span_repeating_its_childrens_usage_is_not_counted_again() {
    let h = harness();
    let mut agent_attrs = call("gpt-4o-2024-08-06", 3000, 600);
    agent_attrs[0] = KeyValue::new("gen_ai.operation.name", "invoke_agent");
    let agent = start(&h, "agent", &Context::new(), agent_attrs);
    start(&h, "c1", &agent, call("gpt-4o-2024-08-06", 1000, 500))
        .span()
        .end();
    start(&h, "c2", &agent, call("gpt-4o-2024-08-06", 2000, 100))
        .span()
        .end();
    agent.span().end();
    let a = h.by_name("agent");
    assert_eq!(
        stra(&a, "cost.pricing.status").as_deref(),
        Some("aggregate")
    );
    assert_eq!(attr(&a, "llm.cost.total"), None);
    // 0.0075 + 0.006, not doubled.
    assert_usd(f64a(&a, "cost.total_usd"), 0.0135, "agent subtree");
    assert_eq!(i64a(&a, "cost.llm_calls"), Some(2));
}

#[test]
fn provided_cost_is_kept_unless_repricing_is_asked() {
    let mut attrs = call("gpt-4o-2024-08-06", 1000, 500);
    attrs.push(KeyValue::new("llm.cost.total", 0.5));
    let h = harness();
    start(&h, "c", &Context::new(), attrs.clone()).span().end();
    let s = h.by_name("c");
    assert_eq!(stra(&s, "cost.pricing.status").as_deref(), Some("provided"));
    assert_usd(f64a(&s, "cost.total_usd"), 0.5, "provided kept");

    let h = harness_with(|b| b.with_reprice_provided(true));
    start(&h, "c", &Context::new(), attrs).span().end();
    let s = h.by_name("c");
    assert_eq!(stra(&s, "cost.pricing.status").as_deref(), Some("priced"));
    assert_usd(f64a(&s, "llm.cost.total"), 0.0075, "re-priced");
}

#[test]
fn tracing_style_string_counts_price_and_prefix_is_configurable() {
    let h = harness_with(|b| b.with_prefix("llmcost."));
    let attrs = vec![
        KeyValue::new("llm.model_name", "gpt-4o-2024-08-06"),
        KeyValue::new("llm.token_count.prompt", "1000"),
        KeyValue::new("llm.token_count.completion", "500"),
    ];
    start(&h, "c", &Context::new(), attrs).span().end();
    let s = h.by_name("c");
    assert_usd(f64a(&s, "llmcost.total_usd"), 0.0075, "prefixed");
    assert_eq!(
        stra(&s, "llmcost.pricing.status").as_deref(),
        Some("priced")
    );
    assert_eq!(attr(&s, "cost.total_usd"), None);
}

#[test]
fn set_resource_is_forwarded_so_service_name_survives() {
    let h = harness();
    let r = h
        .collect
        .resource
        .lock()
        .unwrap()
        .clone()
        .expect("inner processor got the resource");
    let name = r.get(&opentelemetry::Key::from_static_str("service.name"));
    assert_eq!(
        name.map(|v| v.as_str().into_owned()).as_deref(),
        Some("svc-under-test")
    );
}

#[test]
fn service_tier_and_history_follow_the_span() {
    // o3 at $10/$40 before 2025-06-10, $2/$8 after: 1M in + 1M out = $50 / $10.
    let h = harness();
    let tracer = h.provider.tracer("test");
    for (name, ts) in [
        ("before", 1_748_736_000u64 /* 2025-06-01 */),
        ("after", 1_751_328_000 /* 2025-07-01 */),
    ] {
        let s = tracer
            .span_builder(name)
            .with_start_time(std::time::UNIX_EPOCH + Duration::from_secs(ts))
            .with_attributes(call("o3-2025-04-16", 1_000_000, 1_000_000))
            .start(&tracer);
        drop(s);
    }
    assert_usd(
        f64a(&h.by_name("before"), "llm.cost.total"),
        50.0,
        "o3 before the cut",
    );
    assert_usd(
        f64a(&h.by_name("after"), "llm.cost.total"),
        10.0,
        "o3 after the cut",
    );
    assert_eq!(
        stra(&h.by_name("after"), "cost.pricing.effective_from").as_deref(),
        Some("2025-06-10")
    );
    // Flex from the span's service tier attribute: o3 flex 1/4 -> 1M/1M = $5.
    let mut attrs = call("o3-2025-04-16", 1_000_000, 1_000_000);
    attrs.push(KeyValue::new("openai.response.service_tier", "flex"));
    start(&h, "flex", &Context::new(), attrs).span().end();
    let f = h.by_name("flex");
    assert_usd(f64a(&f, "llm.cost.total"), 5.0, "flex");
    assert_eq!(stra(&f, "cost.pricing.tier").as_deref(), Some("flex"));
}

/// Guards: `with_catalog_file` prices with a built catalog instead of the embedded one (a model
/// only that file has is priced, and the file's version is written).
#[test]
fn a_catalog_file_prices_instead_of_the_embedded_catalog() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/catalog-build/small_catalog.json"
    );
    let h = harness_with(|b| b.with_catalog_file(file));
    let root = start(&h, "root", &Context::new(), vec![]);
    // openai/gpt-new, $1 / $4 per M: 1000 x 1 + 100 x 4 = $0.0014.
    start(&h, "call", &root, call("gpt-new-2026", 1000, 100))
        .span()
        .end();
    root.span().end();
    let c = h.by_name("call");
    assert_usd(f64a(&c, "llm.cost.total"), 0.0014, "gpt-new");
    assert_eq!(
        stra(&c, "cost.pricing.model").as_deref(),
        Some("openai/gpt-new")
    );
    assert_eq!(
        stra(&c, "cost.pricing.catalog").as_deref(),
        Some("2026.01.01")
    );
    // A missing file: an error naming it.
    let e = CostSpanProcessor::builder(Collect::default())
        .with_catalog_file("/nonexistent/catalog.json")
        .build()
        .expect_err("a missing catalog file is an error");
    assert!(e.to_string().contains("/nonexistent/catalog.json"), "{e}");
}

#[test]
fn a_per_request_fee_is_in_the_call_total_its_charges_and_the_roll_up() {
    // Issue 15: Perplexity Sonar, $1/M in and out plus $12 per 1,000 requests (catalog schema 2
    // `units.requests`; one call = one request). 1000/1000 tokens: 0.001 + 0.001 + 0.012.
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    let mut attrs = call("perplexity/sonar", 1000, 1000);
    attrs[1] = KeyValue::new("gen_ai.provider.name", "perplexity");
    start(&h, "sonar", &root, attrs).span().end();
    start(&h, "gpt", &root, call("gpt-4o-2024-08-06", 1000, 500))
        .span()
        .end();
    root.span().end();
    let s = h.by_name("sonar");
    assert_usd(f64a(&s, "llm.cost.total"), 0.014, "sonar total");
    assert_usd(f64a(&s, "llm.cost.prompt"), 0.001, "sonar prompt");
    assert_usd(f64a(&s, "llm.cost.completion"), 0.001, "sonar completion");
    assert_usd(
        f64a(&s, "cost.charges.per_unit_usd"),
        0.012,
        "sonar request fee",
    );
    assert_eq!(f64a(&s, "cost.charges.tool_calls_usd"), None);
    // A token-only call gets no charges attribute.
    assert_eq!(f64a(&h.by_name("gpt"), "cost.charges.per_unit_usd"), None);
    // Roll-up: 0.014 + 0.0075.
    assert_usd(f64a(&h.by_name("root"), "cost.total_usd"), 0.0215, "root");
}

/// Issue 15: non-token units recorded by real instrumentation libraries
/// (tests/fixtures/real-spans/UNITS.md), priced and rolled up. Rates: catalog 2026.11.22.
mod units_expect {
    /// OpenLIT, OpenAI Responses `gpt-5.4`, billed tier `priority` (`openai.response.service_tier`):
    /// input 2100 incl. 600 cached, output 450 incl. 120 reasoning, and in
    /// `openai.response.built_in_tools` 2 web searches and 1 file search.
    /// Priority rates ($ / 1M): input 5, cache read 0.5, output 30:
    /// 1500 x 5 = 0.0075; 600 x 0.5 = 0.0003; 450 x 30 = 0.0135 (reasoning at the output rate).
    /// Tool calls: web search $10 / 1k x 2 = 0.02; file search $2.50 / 1k x 1 = 0.0025.
    /// Total 0.0078 + 0.0135 + 0.0225 = 0.0438.
    pub const LIT_RESPONSES_TOTAL: f64 = 0.0438;
    pub const LIT_RESPONSES_TOOL_CALLS: f64 = 0.0225;
    /// The same call streamed: no built-in tools recorded, tier `default` (OpenLIT's, UNITS.md 9):
    /// standard rates 2.5 / 0.25 / 15: 1500 x 2.5 + 600 x 0.25 + 450 x 15 =
    /// 0.00375 + 0.00015 + 0.00675 = 0.01065.
    pub const LIT_RESPONSES_STREAM_TOTAL: f64 = 0.01065;
    /// official google-genai instrumentation, `gemini-2.5-flash`: input 2600 (text 1100, image
    /// 800, audio 400; 1024 text cache reads), output 1200 (text 380, image 120, thoughts 700).
    /// Rates: input 0.3, cache read 0.03, audio input 1, output 2.5 (text and image tokens have
    /// no rate of their own: the input / output rate prices them).
    /// 1176 x 0.3 = 0.0003528; 1024 x 0.03 = 0.00003072; 400 x 1 = 0.0004; 1200 x 2.5 = 0.003.
    /// Total 0.00378352.
    pub const GEMINI_TOTAL: f64 = 0.00378352;
    /// OpenInference's `messages.create` over the Anthropic SDK's own `anthropic.messages.create`
    /// (units_openinference.json, `anthropic_units` and `_stream`), `claude-opus-4-8`: input 8120
    /// incl. 5000 cache reads and 3000 writes (SDK span: 2000 at 5m, 1000 at 1h), output 800 incl.
    /// 300 reasoning (billed as output: no reasoning rate). Standard rates ($ / 1M): input 5,
    /// cache read 0.5, write 5m 6.25, write 1h 10, output 25; fast mode (`speed=fast`): 10, 1,
    /// 12.5, 20, 50; web searches $10 / 1k in both; web fetches: no rate (unpriced units).
    /// The SDK span (billed tier `priority`: no such tier for this model, standard rates):
    /// 120 x 5 = 0.0006; 5000 x 0.5 = 0.0025; 2000 x 6.25 = 0.0125; 1000 x 10 = 0.01;
    /// 800 x 25 = 0.02. Total 0.0456 (prompt 0.0256, completion 0.02).
    pub const ANT_SDK_TOTAL: f64 = 0.0456;
    /// The same call with what only the OpenInference span records (`speed=fast` in
    /// `llm.invocation_parameters`, 3 web searches and 2 fetches in `metadata`): fast rates
    /// 120 x 10 = 0.0012; 5000 x 1 = 0.005; 2000 x 12.5 = 0.025; 1000 x 20 = 0.02;
    /// 800 x 50 = 0.04 (0.0912) + 3 x 10 / 1000 = 0.03. Total 0.1212.
    pub const OI_ANT_CALL_TOTAL: f64 = 0.1212;
    /// What the OpenInference span adds, its own charge: 0.1212 - 0.0456 = 0.0756, of which
    /// input side 0.0512 - 0.0256 = 0.0256, output side 0.04 - 0.02 = 0.02, tool calls 0.03.
    pub const OI_DUPLICATE_ADDS: f64 = 0.0756;
    pub const OI_DUPLICATE_PROMPT: f64 = 0.0256;
    pub const OI_DUPLICATE_COMPLETION: f64 = 0.02;
    pub const OI_DUPLICATE_TOOL_CALLS: f64 = 0.03;
    /// OpenInference, OpenAI Responses `gpt-5.4` (`openai_responses_units`, `_results`,
    /// `_stream`): `service_tier=fast` in `llm.invocation_parameters` selects the `fast` variant
    /// (5 / 0.5 / 30 per M); the 2 `web_search_call` and 1 `file_search_call` output items only in
    /// `output.value`: 1500 x 5 = 0.0075; 600 x 0.5 = 0.0003; 450 x 30 = 0.0135; web searches
    /// 2 x 10 / 1000 = 0.02, file search 1 x 2.5 / 1000 = 0.0025. Total 0.0438 (the price CLI:
    /// `price gpt-5.4 --input 2100 --cache-read 600 --output 450 --reasoning 120 --usage
    /// web_searches=2 --usage storage_searches=1 --context service_tier=fast`).
    pub const OI_RESPONSES_TOTAL: f64 = 0.0438;
    pub const OI_RESPONSES_TOOL_CALLS: f64 = 0.0225;
    /// Its tokens alone (the body not recorded: content capture off): 0.0078 + 0.0135.
    pub const OI_RESPONSES_TOKENS: f64 = 0.0213;
    /// OpenInference, Gemini `gemini-2.5-flash` (catalog `gemini/gemini-2.5-flash`): input 2850
    /// (incl. 1024 cache reads, 400 audio), output 1200 (incl. 700 thoughts, reasoning rate 2.5);
    /// 3 grounding queries in `output.value`, billed per grounded prompt up to Gemini 2.5 ($35 /
    /// 1,000 prompts): 1426 x 0.3 = 0.0004278; 1024 x 0.03 = 0.00003072; 400 x 1 = 0.0004;
    /// 1200 x 2.5 = 0.003; 1 x 35 / 1000 = 0.035. Total 0.03885852.
    pub const OI_GEMINI_TOTAL: f64 = 0.03885852;
    pub const OI_GEMINI_GROUNDING: f64 = 0.035;
}

#[test]
fn openlit_built_in_tool_calls_are_priced_and_rolled_up() {
    // OpenLIT writes `gen_ai.usage.cost` = 0 (it has no price for gpt-5.4): re-price it.
    let h = harness_with(|b| b.with_reprice_provided(true));
    replay(&h, "units_openlit.json");
    let spans = find(
        &h,
        "openlit.instrumentation.openai",
        "chat gpt-5.4",
        "gpt-5.4",
    );
    let with_tools: Vec<_> = spans
        .iter()
        .filter(|s| attr(s, "openai.response.built_in_tools").is_some())
        .collect();
    assert_eq!(with_tools.len(), 1);
    let s = with_tools[0];
    assert_eq!(stra(s, "cost.pricing.status").as_deref(), Some("priced"));
    assert_usd(
        f64a(s, "llm.cost.total"),
        units_expect::LIT_RESPONSES_TOTAL,
        "total",
    );
    assert_usd(
        f64a(s, "cost.charges.tool_calls_usd"),
        units_expect::LIT_RESPONSES_TOOL_CALLS,
        "tool calls",
    );
    assert_eq!(attr(s, "cost.charges.unpriced_units"), None);
    assert_usd(
        f64a(s, "cost.total_usd"),
        units_expect::LIT_RESPONSES_TOTAL,
        "roll-up",
    );
    let stream: Vec<_> = spans
        .iter()
        .filter(|s| attr(s, "openai.response.built_in_tools").is_none())
        .filter(|s| attr(s, "gen_ai.usage.input_tokens").is_some())
        .collect();
    assert_eq!(stream.len(), 1);
    assert_usd(
        f64a(stream[0], "cost.total_usd"),
        units_expect::LIT_RESPONSES_STREAM_TOTAL,
        "stream",
    );
    assert_eq!(f64a(stream[0], "cost.charges.tool_calls_usd"), None);
}

/// Issue 15: the processor's cost metrics by charge kind, read through a real OTel metrics
/// reader. OpenLIT's gpt-5.4 calls (`units_expect`): the priority call with 2 web searches and
/// 1 file search, and the streamed one. Input 1500 x 5 + 1500 x 2.5 = 0.01125; cache reads
/// 600 x 0.5 + 600 x 0.25 = 0.00045; output 330 x 30 + 330 x 15 = 0.01485; reasoning 120 x 30 +
/// 120 x 15 = 0.0054; tool calls 0.0225. Sum 0.05445 = `llm.cost` of the model.
#[test]
fn cost_metrics_by_charge_kind_through_an_otel_metrics_reader() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let meter = meters.meter("otel-llm-cost");
    let h = harness_with(|b| b.with_reprice_provided(true).with_meter(&meter));
    replay(&h, "units_openlit.json");
    meters.force_flush().unwrap();
    // (metric, kind) -> sum over the gpt-5.4 series.
    let mut got: HashMap<(String, String), f64> = HashMap::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let AggregatedMetrics::F64(MetricData::Sum(sum)) = m.data() else {
                    continue;
                };
                for dp in sum.data_points() {
                    let label = |k: &str| {
                        dp.attributes()
                            .find(|kv| kv.key.as_str() == k)
                            .map(|kv| kv.value.to_string())
                            .unwrap_or_default()
                    };
                    if label("model") == "gpt-5.4" {
                        *got.entry((m.name().to_owned(), label("kind"))).or_default() += dp.value();
                    }
                }
            }
        }
    }
    let by_kind = |kind: &str| got.get(&("llm.cost.by_kind".to_owned(), kind.to_owned()));
    for (kind, want) in [
        ("input", 0.01125),
        ("cache_read", 0.00045),
        ("output", 0.01485),
        ("reasoning", 0.0054),
        ("tool_calls", 0.0225),
    ] {
        let v = by_kind(kind).unwrap_or_else(|| panic!("{kind}: {got:?}"));
        assert!((v - want).abs() < 1e-12, "{kind}: {v} != {want}");
    }
    // Only the kinds charged; the kinds add up to the model's `llm.cost`.
    assert_eq!(by_kind("media_input"), None, "{got:?}");
    let kinds: f64 = got
        .iter()
        .filter(|((m, _), _)| m == "llm.cost.by_kind")
        .map(|(_, v)| v)
        .sum();
    let total = got[&("llm.cost".to_owned(), String::new())];
    assert!((total - 0.05445).abs() < 1e-12, "{total}");
    assert!((kinds - total).abs() < 1e-12, "{kinds} != {total}");
}

#[test]
fn otel_google_genai_modality_tokens_are_read_and_priced() {
    let h = harness();
    replay(&h, "units_otel_google_genai.json");
    let spans = find(
        &h,
        "opentelemetry.instrumentation.google_genai",
        "generate_content gemini-2.5-flash",
        "gemini-2.5-flash",
    );
    assert_eq!(spans.len(), 2, "the call and its stream");
    for s in &spans {
        assert_eq!(stra(s, "cost.pricing.status").as_deref(), Some("priced"));
        assert_usd(
            f64a(s, "llm.cost.total"),
            units_expect::GEMINI_TOTAL,
            "gemini",
        );
        assert_usd(
            f64a(s, "cost.total_usd"),
            units_expect::GEMINI_TOTAL,
            "roll-up",
        );
        assert_eq!(i64a(s, "cost.input_tokens"), Some(2600));
        assert_eq!(i64a(s, "cost.output_tokens"), Some(1200));
        // Every unit read has a price (its own or its whole's).
        assert_eq!(attr(s, "cost.charges.unpriced_units"), None);
    }
}

/// A Claude Opus 4.8 call span, 10,000 tokens in, 3,000 out, with `extra` attributes.
fn opus(extra: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut a = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", "anthropic"),
        KeyValue::new("gen_ai.response.model", "claude-opus-4-8"),
        KeyValue::new("gen_ai.usage.input_tokens", 10_000_i64),
        KeyValue::new("gen_ai.usage.output_tokens", 3_000_i64),
    ];
    a.extend(extra);
    a
}

/// Issue 15: the request context selects a price variant. Claude Opus 4.8 is 5 / 25 per M,
/// fast mode 10 / 50 (genai-prices): 10,000 in + 3,000 out = $0.125, fast $0.25. The context
/// comes from the application's `cost.context.<key>` or OpenInference's recorded invocation
/// parameters; a value no variant names is priced at the standard rates, the reason says so.
#[test]
fn price_context_selects_fast_mode_from_the_app_or_the_invocation_parameters() {
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    let spans = [
        ("standard", vec![]),
        ("app", vec![KeyValue::new("cost.context.speed", "fast")]),
        (
            "oi",
            vec![KeyValue::new(
                "llm.invocation_parameters",
                r#"{"max_tokens": 1024, "speed": "fast"}"#,
            )],
        ),
        ("warp", vec![KeyValue::new("cost.context.speed", "warp")]),
    ];
    for (name, extra) in spans {
        start(&h, name, &root, opus(extra)).span().end();
    }
    root.span().end();
    for (name, total, tier) in [
        ("standard", 0.125, None),
        ("app", 0.25, Some("speed=fast")),
        ("oi", 0.25, Some("speed=fast")),
        ("warp", 0.125, None),
    ] {
        assert_priced(&h.by_name(name), name, total, tier);
    }
    assert_eq!(stra(&h.by_name("standard"), "cost.pricing.reason"), None);
    assert_eq!(
        stra(&h.by_name("warp"), "cost.pricing.reason").as_deref(),
        Some("context speed=warp matches no price variant of this model: priced at the standard rates")
    );
    assert_usd(f64a(&h.by_name("root"), "cost.total_usd"), 0.75, "roll-up");
}

/// Issue 15, token-only path: a call of a model whose price has a variant (gpt-4o:
/// `service_tier=fast`, $4.25 / $17 per M against $2.50 / $10) reads its request context from
/// each source alone (the service tier attribute, the invocation parameters, the application's
/// `cost.context.*`); with none of them it is priced at the standard rates without reading
/// further, and says nothing. 1M in + 100k out: $3.50 standard, $5.95 fast.
#[test]
fn a_model_with_variants_reads_each_context_source_alone() {
    let h = harness();
    let root = start(&h, "root", &Context::new(), vec![]);
    let fast = Some("service_tier=fast");
    let turbo = "context service_tier=turbo matches no price variant of this model: priced at \
                 the standard rates";
    let (tier, app, oi) = (
        "openai.response.service_tier",
        "cost.context.service_tier",
        "llm.invocation_parameters",
    );
    let params = r#"{"service_tier": "fast"}"#;
    // (span, context attribute, total, tier, reason)
    let cases = [
        ("none", None, 3.5, None, None),
        ("tier", Some((tier, "fast")), 5.95, fast, None),
        ("tier-default", Some((tier, "default")), 3.5, None, None),
        ("params", Some((oi, params)), 5.95, fast, None),
        ("app", Some((app, "fast")), 5.95, fast, None),
        ("app-unknown", Some((app, "turbo")), 3.5, None, Some(turbo)),
    ];
    for (name, context, ..) in cases {
        let mut attrs = call("gpt-4o", 1_000_000, 100_000);
        attrs.extend(context.map(|(k, v)| KeyValue::new(k, v)));
        start(&h, name, &root, attrs).span().end();
    }
    root.span().end();
    for (name, _, total, tier, reason) in cases {
        let s = h.by_name(name);
        assert_priced(&s, name, total, tier);
        assert_eq!(stra(&s, "cost.pricing.reason").as_deref(), reason, "{name}");
    }
}

/// Issue 15 item 6: an overrides file's units, variant and UTC window priced by the processor
/// (tests/fixtures/pricing/overrides_units.toml: $1 / $4 per M, web searches $8 per 1,000, a
/// $0.50 per 1,000 request fee, image input tokens $0.5 per M; fast $2 / $8 with searches;
/// 01:00-04:00 UTC $0.5 / $2, searches $4), the roll-up exact.
#[test]
fn overrides_units_variant_and_window_priced_by_the_processor() {
    let h = harness_with(|b| {
        b.with_overrides_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pricing/overrides_units.toml"
        ))
    });
    let tracer = h.provider.tracer("test");
    let day = 1_772_323_200u64; // 2026-03-01T00:00:00Z
    let root = start(&h, "root", &Context::new(), vec![]);
    for (name, secs, extra) in [
        ("standard", 12 * 3600, vec![]),
        (
            "fast",
            12 * 3600,
            vec![KeyValue::new("cost.context.speed", "fast")],
        ),
        ("off-peak", 9000, vec![]),
        (
            "image",
            12 * 3600,
            vec![KeyValue::new("cost.usage.input_image_tokens", 4000_i64)],
        ),
    ] {
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", "acme-agent"),
            KeyValue::new("gen_ai.usage.input_tokens", 10_000_i64),
            KeyValue::new("gen_ai.usage.output_tokens", 1_000_i64),
            KeyValue::new("cost.usage.web_searches", 3_i64),
        ];
        attrs.extend(extra);
        let s = tracer
            .span_builder(name)
            .with_start_time(std::time::UNIX_EPOCH + Duration::from_secs(day + secs))
            .with_attributes(attrs)
            .start_with_context(&tracer, &root);
        drop(s);
    }
    root.span().end();
    // standard: 0.01 + 0.004 + searches 0.024 + request fee 0.0005 = 0.0385;
    // fast: 0.02 + 0.008 + 0.024 = 0.052; off-peak (02:30 UTC): 0.005 + 0.002 + 0.012 = 0.019;
    // image: 6,000 x 1 + 4,000 x 0.5 = 0.008, + 0.004 + 0.024 + 0.0005 = 0.0365.
    for (name, total, tier, tools) in [
        ("standard", 0.0385, None, 0.024),
        ("fast", 0.052, Some("speed=fast"), 0.024),
        ("off-peak", 0.019, Some("utc=01:00-04:00"), 0.012),
        ("image", 0.0365, None, 0.024),
    ] {
        let s = h.by_name(name);
        assert_priced(&s, name, total, tier);
        assert_usd(f64a(&s, "cost.charges.tool_calls_usd"), tools, name);
        assert!(
            stra(&s, "cost.pricing.source")
                .unwrap()
                .starts_with("override:"),
            "{name}"
        );
    }
    assert_usd(f64a(&h.by_name("root"), "cost.total_usd"), 0.146, "roll-up");
}

/// Issue 15, the third library: OpenInference over the Anthropic SDK's own span (real spans,
/// units_openinference.json). The SDK span, the innermost call, is priced alone (it records
/// neither the web searches nor `speed=fast`) and exported first; the OpenInference span is a
/// `duplicate` that adds what only it records, once: its own charge is the call re-priced with
/// them minus what the SDK span was charged (DESIGN §3 as changed by this issue).
#[test]
fn openinference_over_the_anthropic_sdk_keeps_the_units_and_fast_mode_only_it_records() {
    let h = harness();
    replay(&h, "units_openinference.json");
    let sdk = find(
        &h,
        "com.anthropic.sdk.python",
        "anthropic.messages.create",
        "claude-opus-4-8",
    );
    let oi = find(
        &h,
        "openinference.instrumentation.anthropic",
        "messages.create",
        "claude-opus-4-8",
    );
    assert_eq!((sdk.len(), oi.len()), (2, 2), "the call and its stream");
    for s in &sdk {
        assert_eq!(stra(s, "cost.pricing.status").as_deref(), Some("priced"));
        assert_usd(
            f64a(s, "llm.cost.total"),
            units_expect::ANT_SDK_TOTAL,
            "sdk",
        );
        assert_eq!(stra(s, "cost.pricing.tier"), None, "standard rates");
        assert_eq!(f64a(s, "cost.charges.tool_calls_usd"), None);
    }
    for s in &oi {
        let what = format!("oi {:?}", s.span_context.span_id());
        assert_eq!(stra(s, "cost.pricing.status").as_deref(), Some("duplicate"));
        assert_usd(
            f64a(s, "llm.cost.total"),
            units_expect::OI_DUPLICATE_ADDS,
            &what,
        );
        assert_usd(
            f64a(s, "llm.cost.prompt"),
            units_expect::OI_DUPLICATE_PROMPT,
            &what,
        );
        assert_usd(
            f64a(s, "llm.cost.completion"),
            units_expect::OI_DUPLICATE_COMPLETION,
            &what,
        );
        assert_usd(
            f64a(s, "cost.charges.tool_calls_usd"),
            units_expect::OI_DUPLICATE_TOOL_CALLS,
            &what,
        );
        // Web fetches: no rate in the catalog, flagged (the cost may be short), never $0 silently.
        assert_eq!(i64a(s, "cost.charges.unpriced_units"), Some(1), "{what}");
        assert_eq!(stra(s, "cost.pricing.tier").as_deref(), Some("speed=fast"));
        assert_eq!(
            stra(s, "cost.pricing.model").as_deref(),
            Some("claude-opus-4-8")
        );
        assert_eq!(
            stra(s, "cost.pricing.reason").as_deref(),
            Some(
                "repeats the call below (claude-opus-4-8); adds what only this span records: \
                 web_searches=3, web_fetches=2, speed=fast, inference_geo=us"
            )
        );
        // The roll-up counts the call once, with everything on its bill.
        assert_usd(
            f64a(s, "cost.total_usd"),
            units_expect::OI_ANT_CALL_TOTAL,
            &what,
        );
        assert_eq!(i64a(s, "cost.llm_calls"), Some(1));
        assert_eq!(i64a(s, "cost.input_tokens"), Some(8120));
        let by_model: serde_json::Value =
            serde_json::from_str(&stra(s, "cost.by_model").unwrap()).unwrap();
        assert_eq!(
            by_model,
            serde_json::json!([{"model": "claude-opus-4-8", "calls": 1, "cost_usd": 0.1212, "pct": 100.0}])
        );
    }
}

/// The duplicate rule's edges (DESIGN §3 as changed by issue 15). Claude Opus 4.8, 10,000 in and
/// 3,000 out: standard 0.05 + 0.075 = 0.125; fast (10 / 50) 0.1 + 0.15 = 0.25; batch (2.5 /
/// 12.5) 0.025 + 0.0375 = 0.0625; web searches $10 / 1k.
/// - A chain: a span adding fast mode and 2 searches over the call adds 0.25 + 0.02 - 0.125 =
///   0.145; a span above both recording the same adds nothing (it is added once). Bill 0.27.
/// - Two calls below: which call its searches belong to is unknown; nothing added, the reason
///   says so. Bill 2 x 0.125.
/// - A context that would make the call cheaper (batch) cannot take back what the call below
///   was charged (exported already, in process): the call's price stands, the reason says so.
#[test]
fn a_duplicate_adds_what_is_new_once_and_never_takes_back() {
    let h = harness();
    let adds = || {
        opus(vec![
            KeyValue::new("cost.usage.web_searches", 2_i64),
            KeyValue::new("cost.context.speed", "fast"),
        ])
    };
    let root = start(&h, "chain", &Context::new(), adds());
    let mid = start(&h, "mid", &root, adds());
    start(&h, "call", &mid, opus(vec![])).span().end();
    mid.span().end();
    root.span().end();
    assert_usd(f64a(&h.by_name("call"), "llm.cost.total"), 0.125, "call");
    let mid = h.by_name("mid");
    assert_eq!(
        stra(&mid, "cost.pricing.status").as_deref(),
        Some("duplicate")
    );
    assert_usd(f64a(&mid, "llm.cost.total"), 0.145, "mid adds");
    assert_usd(f64a(&mid, "cost.charges.tool_calls_usd"), 0.02, "mid");
    let chain = h.by_name("chain");
    assert_eq!(
        stra(&chain, "cost.pricing.status").as_deref(),
        Some("duplicate")
    );
    assert_eq!(
        attr(&chain, "llm.cost.total"),
        None,
        "nothing new above mid"
    );
    assert_eq!(stra(&chain, "cost.pricing.reason"), None);
    assert_usd(f64a(&chain, "cost.total_usd"), 0.27, "the bill, once");
    assert_eq!(i64a(&chain, "cost.llm_calls"), Some(1));

    let two = start(
        &h,
        "two",
        &Context::new(),
        opus(vec![KeyValue::new("cost.usage.web_searches", 2_i64)]),
    );
    start(&h, "first", &two, opus(vec![])).span().end();
    start(&h, "second", &two, opus(vec![])).span().end();
    two.span().end();
    let two = h.by_name("two");
    assert_eq!(attr(&two, "llm.cost.total"), None);
    assert_eq!(
        stra(&two, "cost.pricing.reason").as_deref(),
        Some(
            "repeats 2 call(s) below, not one priced from the catalog: the units it records \
             (web_searches=2) are not added to them"
        )
    );
    assert_usd(f64a(&two, "cost.total_usd"), 0.25, "two calls");

    let batch = start(
        &h,
        "batch",
        &Context::new(),
        opus(vec![KeyValue::new("cost.context.service_tier", "batch")]),
    );
    start(&h, "standard", &batch, opus(vec![])).span().end();
    batch.span().end();
    let batch = h.by_name("batch");
    assert_eq!(attr(&batch, "llm.cost.total"), None);
    assert_eq!(
        stra(&batch, "cost.pricing.reason").as_deref(),
        Some(
            "with what it adds (service_tier=batch) the call below would cost less (0.0625 \
             instead of 0.125): the call's price stands"
        )
    );
    assert_usd(f64a(&batch, "cost.total_usd"), 0.125, "the call's price");
}

/// Issue 15: OpenInference keeps OpenAI Responses' built-in tool calls and Gemini's grounding
/// queries only in `output.value`, the response body; read there for calls whose model prices
/// them (engine/response_body.rs). Without the body (content capture off) the tokens are priced
/// alone; an unreadable body is counted and named, the call priced all the same.
#[test]
fn openinference_response_bodies_give_the_tool_calls() {
    let h = harness();
    replay(&h, "units_openinference.json");
    let responses = find(
        &h,
        "openinference.instrumentation.openai",
        "Response",
        "gpt-5.4",
    );
    assert_eq!(responses.len(), 3, "units, _results, _stream");
    for s in &responses {
        assert_eq!(stra(s, "cost.pricing.status").as_deref(), Some("priced"));
        assert_eq!(
            stra(s, "cost.pricing.tier").as_deref(),
            Some("service_tier=fast")
        );
        assert_usd(
            f64a(s, "llm.cost.total"),
            units_expect::OI_RESPONSES_TOTAL,
            "responses",
        );
        assert_usd(
            f64a(s, "cost.charges.tool_calls_usd"),
            units_expect::OI_RESPONSES_TOOL_CALLS,
            "responses tools",
        );
        assert_eq!(stra(s, "cost.pricing.reason"), None);
    }
    let gemini: Vec<SpanData> = h
        .spans()
        .into_iter()
        .filter(|s| s.instrumentation_scope.name() == "openinference.instrumentation.google_genai")
        .filter(|s| attr(s, "llm.token_count.prompt").is_some())
        .collect();
    assert_eq!(gemini.len(), 2, "the call and its stream");
    for s in &gemini {
        assert_eq!(
            stra(s, "cost.pricing.model").as_deref(),
            Some("gemini/gemini-2.5-flash")
        );
        assert_usd(
            f64a(s, "llm.cost.total"),
            units_expect::OI_GEMINI_TOTAL,
            "gemini",
        );
        assert_usd(
            f64a(s, "cost.charges.tool_calls_usd"),
            units_expect::OI_GEMINI_GROUNDING,
            "grounding",
        );
    }
    assert_eq!(h.engine.stats().snapshot().unreadable_response_bodies, 0);

    // The same Responses call without its body, and with a truncated one.
    let body = attr(&responses[0], "output.value")
        .unwrap()
        .as_str()
        .into_owned();
    let oi = |body: Option<String>| {
        let mut a: Vec<KeyValue> = responses[0]
            .attributes
            .iter()
            .filter(|kv| {
                kv.key.as_str() != "output.value"
                    && !kv.key.as_str().starts_with("cost.")
                    && !kv.key.as_str().starts_with("llm.cost.")
            })
            .cloned()
            .collect();
        a.extend(body.map(|b| KeyValue::new("output.value", b)));
        a
    };
    let tracer = h.provider.tracer_with_scope(
        InstrumentationScope::builder("openinference.instrumentation.openai").build(),
    );
    for (name, attrs) in [
        ("no body", oi(None)),
        ("truncated", oi(Some(body[..body.len() / 2].to_owned()))),
    ] {
        let mut span = tracer
            .span_builder(name)
            .with_attributes(attrs)
            .start(&tracer);
        opentelemetry::trace::Span::end(&mut span);
    }
    let none = h.by_name("no body");
    assert_usd(
        f64a(&none, "llm.cost.total"),
        units_expect::OI_RESPONSES_TOKENS,
        "no body: tokens only",
    );
    assert_eq!(f64a(&none, "cost.charges.tool_calls_usd"), None);
    assert_eq!(stra(&none, "cost.pricing.reason"), None);
    let cut = h.by_name("truncated");
    assert_eq!(stra(&cut, "cost.pricing.status").as_deref(), Some("priced"));
    assert_usd(
        f64a(&cut, "llm.cost.total"),
        units_expect::OI_RESPONSES_TOKENS,
        "truncated: tokens only",
    );
    let why = stra(&cut, "cost.pricing.reason").unwrap_or_default();
    assert!(
        why.starts_with("'output.value' is not a response body read for tool calls (EOF"),
        "{why}"
    );
    assert_eq!(h.engine.stats().snapshot().unreadable_response_bodies, 1);
}

/// Operations beyond chat through the processor (issue 15): OpenLIT's image generation and
/// transcription spans (tests/fixtures/real-spans/units_openlit.json) carry no count of what
/// they bill (UNITS.md finding 5), so the application adds it (`cost.usage.output_images`,
/// `cost.usage.input_audio_seconds`, README); the image's size and quality are read from
/// OpenLIT's own `gen_ai.request.image_size` / `image_quality`. A transcription priced by
/// tokens needs nothing added.
#[test]
fn image_generation_and_transcription_spans_are_priced_by_their_units() {
    // OpenLIT writes `gen_ai.usage.cost` = 0 on every span: re-price it.
    let h = harness_with(|b| b.with_reprice_provided(true));
    replay_with(&h, "units_openlit.json", |case| match case {
        "openai_image_gpt_image" => vec![KeyValue::new("cost.usage.output_images", 2)],
        "openai_transcription_duration" => {
            vec![KeyValue::new("cost.usage.input_audio_seconds", 600)]
        }
        _ => Vec::new(),
    });
    let one = |name: &str| {
        let v: Vec<SpanData> = h.spans().into_iter().filter(|s| s.name == name).collect();
        assert_eq!(v.len(), 1, "{name}");
        v.into_iter().next().unwrap()
    };
    // gpt-image-1, medium, 1024x1024: 2 x $0.042.
    let s = one("image gpt-image-1");
    assert_eq!(
        stra(&s, "cost.pricing.status").as_deref(),
        Some("priced"),
        "{:?}",
        stra(&s, "cost.pricing.reason")
    );
    assert_eq!(
        stra(&s, "cost.pricing.tier").as_deref(),
        Some("image_quality=medium,image_size=1024x1024")
    );
    assert_usd(f64a(&s, "llm.cost.total"), 0.084, "images");
    assert_usd(f64a(&s, "cost.total_usd"), 0.084, "images roll-up");
    // whisper-1, 600 s at $0.006 a minute.
    let s = one("speech_to_text whisper-1");
    assert_eq!(stra(&s, "cost.pricing.status").as_deref(), Some("priced"));
    assert_usd(f64a(&s, "llm.cost.total"), 0.06, "transcription seconds");
    // gpt-4o-transcribe, by its tokens (1200 in at $2.50/M, 240 out at $10/M, the catalog's
    // LiteLLM price): 0.003 + 0.0024.
    let s = one("speech_to_text gpt-4o-transcribe");
    assert_usd(f64a(&s, "llm.cost.total"), 0.0054, "transcription tokens");
    // dall-e-3 with no count added: the span carries nothing billable, it is not a call.
    let s = one("image dall-e-3");
    assert_eq!(stra(&s, "cost.pricing.status"), None);
}
