//! Quickstart: a simulated agent run priced in process by `CostSpanProcessor`.
//!
//! A research agent plans, searches, reasons and answers: LLM calls across five models (prompt
//! caching, Anthropic cache writes, reasoning tokens), tool spans, and one call to a model the
//! catalog does not know. Every span goes through `CostSpanProcessor`, which prices each call and
//! rolls costs up to each step and the root; the example then prints the cost tree.
//!
//! Runs with no server at all. Set `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://127.0.0.1:4317`,
//! a Jaeger or an OTel Collector) and the same enriched spans are also exported over OTLP/gRPC.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use otel_llm_cost::CostSpanProcessor;

/// Keeps finished spans for the terminal report and, when configured, hands them to OTLP.
#[derive(Debug, Clone, Default)]
struct Keep {
    spans: Arc<Mutex<Vec<SpanData>>>,
    otlp: Option<Arc<BatchSpanProcessor>>,
}

impl SpanProcessor for Keep {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        if let Some(otlp) = &self.otlp {
            otlp.on_end(span.clone());
        }
        if let Ok(mut v) = self.spans.lock() {
            v.push(span);
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.otlp.as_ref().map_or(Ok(()), |p| p.force_flush())
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.otlp
            .as_ref()
            .map_or(Ok(()), |p| p.shutdown_with_timeout(timeout))
    }
    fn set_resource(&mut self, resource: &Resource) {
        if let Some(p) = self.otlp.as_mut().and_then(Arc::get_mut) {
            p.set_resource(resource);
        }
    }
}

/// One LLM call's attributes, in the convention its instrumentation would use.
fn openinference(
    model: &str,
    prompt: i64,
    cached: i64,
    completion: i64,
    reasoning: i64,
) -> Vec<KeyValue> {
    vec![
        KeyValue::new("openinference.span.kind", "LLM"),
        KeyValue::new("llm.system", "openai"),
        KeyValue::new("llm.model_name", model.to_owned()),
        KeyValue::new("llm.token_count.prompt", prompt),
        KeyValue::new("llm.token_count.prompt_details.cache_read", cached),
        KeyValue::new("llm.token_count.completion", completion),
        KeyValue::new("llm.token_count.completion_details.reasoning", reasoning),
        KeyValue::new("llm.token_count.total", prompt + completion),
    ]
}

fn genai(
    provider: &str,
    model: &str,
    input: i64,
    cache_read: i64,
    cache_write: i64,
    output: i64,
) -> Vec<KeyValue> {
    vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", provider.to_owned()),
        KeyValue::new("gen_ai.request.model", model.to_owned()),
        KeyValue::new("gen_ai.response.model", model.to_owned()),
        KeyValue::new("gen_ai.usage.input_tokens", input),
        KeyValue::new("gen_ai.usage.cache_read.input_tokens", cache_read),
        KeyValue::new("gen_ai.usage.cache_write.input_tokens", cache_write),
        KeyValue::new("gen_ai.usage.output_tokens", output),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let _guard = runtime.enter();

    let mut keep = Keep::default();
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        keep.otlp = Some(Arc::new(BatchSpanProcessor::builder(exporter).build()));
        println!("exporting over OTLP/gRPC to {endpoint}");
    }
    let spans = keep.spans.clone();

    // The one line that matters: wrap the processor that exports.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CostSpanProcessor::new(keep)?)
        .with_resource(
            Resource::builder()
                .with_service_name("research-agent")
                .build(),
        )
        .build();
    let tracer = provider.tracer("quickstart");

    // A run, with explicit times so it reads like a real trace.
    let t0 = SystemTime::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let span = |name: &str, parent: &Context, start: u64, attrs: Vec<KeyValue>| {
        let s = tracer
            .span_builder(name.to_owned())
            .with_kind(SpanKind::Internal)
            .with_start_time(at(start))
            .with_attributes(attrs)
            .start_with_context(&tracer, parent);
        parent.with_span(s)
    };
    let end = |cx: Context, ms: u64| cx.span().end_with_timestamp(at(ms));

    let root = span(
        "research-agent run",
        &Context::new(),
        0,
        vec![KeyValue::new("gen_ai.operation.name", "invoke_agent")],
    );

    let plan = span(
        "plan",
        &root,
        10,
        vec![KeyValue::new("openinference.span.kind", "CHAIN")],
    );
    end(
        span(
            "ChatCompletion",
            &plan,
            20,
            openinference("gpt-4o-2024-08-06", 3_200, 2_048, 450, 0),
        ),
        900,
    );
    end(plan, 910);

    let search = span(
        "search",
        &root,
        920,
        vec![KeyValue::new("openinference.span.kind", "CHAIN")],
    );
    for i in 0..3u64 {
        let base = 930 + i * 2_000;
        end(
            span(
                "tool web_search",
                &search,
                base,
                vec![KeyValue::new("gen_ai.operation.name", "execute_tool")],
            ),
            base + 600,
        );
        // The context grows with every result: the step whose cost explodes.
        let input = 12_000 + 40_000 * i as i64;
        end(
            span(
                "chat claude-sonnet-4-5",
                &search,
                base + 610,
                genai(
                    "anthropic",
                    "claude-sonnet-4-5-20250929",
                    input,
                    8_000,
                    2_000,
                    900,
                ),
            ),
            base + 1_900,
        );
    }
    end(search, 7_000);

    let reason = span(
        "reason",
        &root,
        7_010,
        vec![KeyValue::new("openinference.span.kind", "CHAIN")],
    );
    end(
        span(
            "Response",
            &reason,
            7_020,
            openinference("o3-2025-04-16", 5_000, 0, 4_000, 3_200),
        ),
        19_000,
    );
    end(
        span(
            "chat gemini-2.5-flash",
            &reason,
            19_010,
            genai("gcp.gemini", "gemini-2.5-flash", 20_000, 0, 0, 1_200),
        ),
        21_000,
    );
    end(reason, 21_010);

    let answer = span(
        "answer",
        &root,
        21_020,
        vec![KeyValue::new("openinference.span.kind", "CHAIN")],
    );
    end(
        span(
            "ChatCompletion",
            &answer,
            21_030,
            openinference("gpt-4o-mini-2024-07-18", 1_500, 0, 300, 0),
        ),
        22_000,
    );
    end(
        span(
            "chat acme-finetune-v3",
            &answer,
            22_010,
            genai("openai", "acme-finetune-v3", 800, 0, 0, 120),
        ),
        22_500,
    );
    end(answer, 22_600);
    end(root, 22_700);

    provider.force_flush()?;
    print_tree(&spans.lock().map_err(|_| "span store poisoned")?);
    provider.shutdown()?;
    Ok(())
}

fn attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn money(v: Option<&Value>) -> String {
    match v {
        Some(Value::F64(f)) => format!("${f:.6}"),
        _ => String::new(),
    }
}

/// Prints each span with its own cost and its subtree's cost, then the root's breakdown.
fn print_tree(spans: &[SpanData]) {
    let mut children: HashMap<[u8; 8], Vec<&SpanData>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        let p = s.parent_span_id.to_bytes();
        if p == [0; 8] {
            roots.push(s);
        } else {
            children.entry(p).or_default().push(s);
        }
    }
    for v in children.values_mut() {
        v.sort_by_key(|s| s.start_time);
    }
    println!(
        "\n{:<44} {:>12} {:>12}  status / model",
        "span", "own cost", "subtree"
    );
    fn walk(s: &SpanData, depth: usize, children: &HashMap<[u8; 8], Vec<&SpanData>>) {
        let status = match attr(s, "cost.pricing.status") {
            Some(Value::String(st)) => match attr(s, "cost.pricing.model") {
                Some(m) => format!("{st} {m}"),
                None => match attr(s, "cost.pricing.reason") {
                    Some(r) => format!("{st}: {r}"),
                    None => st.to_string(),
                },
            },
            _ => String::new(),
        };
        let name = format!("{}{}", "  ".repeat(depth), s.name);
        let unpriced = match attr(s, "cost.unpriced_calls") {
            Some(Value::I64(n))
                if !matches!(attr(s, "cost.pricing.status"), Some(Value::String(_))) =>
            {
                format!("+{n} unpriced")
            }
            _ => String::new(),
        };
        println!(
            "{name:<44} {:>12} {:>12}  {status}{unpriced}",
            money(attr(s, "llm.cost.total")),
            money(attr(s, "cost.total_usd"))
        );
        for c in children
            .get(&s.span_context.span_id().to_bytes())
            .into_iter()
            .flatten()
        {
            walk(c, depth + 1, children);
        }
    }
    let usd = |s: &SpanData| match attr(s, "cost.total_usd") {
        Some(Value::F64(f)) => *f,
        _ => 0.0,
    };
    for r in &roots {
        walk(r, 0, &children);
        println!();
        // The step to look at first: the root's child with the largest subtree cost.
        let steps = children.get(&r.span_context.span_id().to_bytes());
        if let Some(top) = steps.and_then(|v| v.iter().max_by(|a, b| usd(a).total_cmp(&usd(b)))) {
            let share = if usd(r) > 0.0 {
                100.0 * usd(top) / usd(r)
            } else {
                0.0
            };
            println!(
                "most expensive step: {} {} ({share:.1}% of the run)\n",
                top.name,
                money(attr(top, "cost.total_usd"))
            );
        }
        if let Some(Value::String(json)) = attr(r, "cost.by_model") {
            println!("by model (root cost.by_model):");
            if let Ok(serde_json::Value::Array(rows)) =
                serde_json::from_str::<serde_json::Value>(json.as_str())
            {
                for row in rows {
                    println!(
                        "  {:<34} {:>2} calls  ${:>10.6}  {:>5.1}%",
                        row["model"].as_str().unwrap_or("?"),
                        row["calls"].as_u64().unwrap_or(0),
                        row["cost_usd"].as_f64().unwrap_or(0.0),
                        row["pct"].as_f64().unwrap_or(0.0)
                    );
                }
            }
        }
        let n = |k: &str| match attr(r, k) {
            Some(Value::I64(i)) => *i,
            _ => 0,
        };
        println!(
            "total {} for {} LLM calls ({} unpriced), {} input / {} output tokens, complete={}",
            money(attr(r, "cost.total_usd")),
            n("cost.llm_calls"),
            n("cost.unpriced_calls"),
            n("cost.input_tokens"),
            n("cost.output_tokens"),
            matches!(attr(r, "cost.complete"), Some(Value::Bool(true)))
        );
    }
}
