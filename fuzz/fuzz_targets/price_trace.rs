//! Usage extraction and whole-trace pricing (`Engine::price_trace`) on spans built from the
//! input: ids from a tiny space (so duplicates, self-parents, cycles and missing roots are
//! common), attribute keys from the conventions the extractor reads, values of every OTLP type
//! (NaN, infinities, negatives, huge integers, numeric strings, arrays, maps, bytes), arbitrary
//! start/end times. Must never panic and must keep every span.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otel_llm_cost::internals::gateway::{self as fuzzing, ExportTraceServiceRequest};
use otel_llm_cost::{Catalog, engine::Engine, engine::EngineOptions};

const KEYS: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.provider.name",
    "gen_ai.operation.name",
    "llm.model_name",
    "llm.provider",
    "llm.system",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.total",
    "llm.token_count.prompt_details.cache_read",
    "openinference.span.kind",
    "traceloop.span.kind",
    "cost.total_usd",
    "cost.usd",
    "service.name",
    "x",
];

const STRINGS: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "claude-3-5-sonnet-20241022",
    "anthropic",
    "openai",
    "LLM",
    "chat",
    "12",
    "-5",
    "1e309",
    "NaN",
    "",
    "azure/gpt-4o-2024-08-06",
    "bedrock",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.byte()) % from.len()]
    }
    fn value(&mut self, depth: u8) -> AnyValue {
        use any_value::Value;
        let v = match self.byte() % 12 {
            0 => Value::IntValue(self.u64() as i64),
            1 => Value::IntValue(i64::from(self.byte())),
            2 => Value::IntValue(-(i64::from(self.byte()))),
            3 => Value::DoubleValue(f64::from_bits(self.u64())),
            4 => Value::DoubleValue(
                [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e300, 0.5]
                    [usize::from(self.byte()) % 6],
            ),
            5 => Value::StringValue(self.pick(STRINGS).to_owned()),
            6 => Value::StringValue(self.u64().to_string()),
            7 => Value::BoolValue(self.byte() & 1 == 1),
            8 if depth < 3 => Value::ArrayValue(ArrayValue {
                values: (0..self.byte() % 4)
                    .map(|_| self.value(depth + 1))
                    .collect(),
            }),
            9 if depth < 3 => Value::KvlistValue(KeyValueList {
                values: (0..self.byte() % 4).map(|_| self.kv(depth + 1)).collect(),
            }),
            10 => Value::BytesValue(vec![self.byte(); usize::from(self.byte() % 9)]),
            _ => return AnyValue { value: None },
        };
        AnyValue { value: Some(v) }
    }
    fn kv(&mut self, depth: u8) -> KeyValue {
        KeyValue {
            key: self.pick(KEYS).to_owned(),
            value: Some(self.value(depth)),
            ..Default::default()
        }
    }
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let catalog = Catalog::embedded().expect("embedded catalog loads");
        Engine::new(Arc::new(catalog), EngineOptions::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let complete = inp.byte() & 1 == 1;
    let n = usize::from(inp.byte() % 24) + 1;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        // Ids from 1..=8 so duplicates, self-parents and cycles are frequent; 0 = no parent.
        let id = inp.byte() % 8 + 1;
        let parent = inp.byte() % 9;
        let attrs = (0..inp.byte() % 8).map(|_| inp.kv(0)).collect();
        spans.push(Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: inp.pick(STRINGS).to_owned(),
            kind: i32::from(inp.byte() % 7),
            start_time_unix_nano: inp.u64(),
            end_time_unix_nano: inp.u64(),
            attributes: attrs,
            ..Default::default()
        });
    }
    let resource_attrs = (0..inp.byte() % 3).map(|_| inp.kv(0)).collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attrs,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: inp.pick(STRINGS).to_owned(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let kept = fuzzing::price_request(engine(), req, complete);
    assert_eq!(kept, n, "every span with valid ids is kept and priced");
});
