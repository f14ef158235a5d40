//! CostSpanProcessor overhead, always against the same pipeline without it, in one run.
//!
//! - `on_end/*`: one `on_end` call on a prepared `SpanData` (cloned per iteration in both
//!   arms), inner processor a no-op: the processor's own added cost per span.
//! - `pipeline/*`: whole spans (start, attributes, end) through an SDK provider with a
//!   `BatchSpanProcessor` over a no-op exporter, 1 LLM : 9 plain spans: `baseline` without
//!   pricing, `with_cost` with `CostSpanProcessor` wrapped around the batch processor,
//!   `exporter` with `CostSpanExporter` wrapped around the no-op exporter (pricing on the batch
//!   processor's thread; the time measured is the emitting thread's).
//!
//! Drops at a fixed span rate (50,000 spans/s through a default `BatchSpanProcessor`) are
//! measured by `examples/processor_rate.rs`, not here: that is a rate, not a time per span.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanEvents,
    SpanExporter, SpanLinks, SpanProcessor,
};
use otel_llm_cost::{CostSpanExporter, CostSpanProcessor};

#[path = "support/agent_spans.rs"]
mod agent_spans;
use agent_spans::{llm_attrs, plain_attrs, trace_of_ten};

#[derive(Debug, Default, Clone)]
struct Noop(Arc<AtomicU64>);

impl SpanProcessor for Noop {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    // Out of line in both arms, so that a profile (callgrind) counts each arm's `on_end` alike.
    #[inline(never)]
    fn on_end(&self, span: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Drops what it is given, counting the spans (a dropped span would make an arm look cheaper).
#[derive(Debug, Clone, Default)]
struct NoopExporter(Arc<AtomicU64>);

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        black_box(batch);
        Ok(())
    }
}

fn span_data(attrs: Vec<KeyValue>, id: u64) -> SpanData {
    let now = std::time::SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(7u128),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(1u64),
        parent_span_is_remote: false,
        span_kind: opentelemetry::trace::SpanKind::Internal,
        name: "span".into(),
        start_time: now,
        end_time: now,
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: opentelemetry::trace::Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bench").build(),
    }
}

/// Times only `on_end` over spans cloned beforehand (in chunks), so allocation and page faults
/// of the setup stay out of both arms.
fn time_on_end<P: SpanProcessor>(p: &P, spans: &[SpanData], iters: u64) -> Duration {
    const CHUNK: usize = 4096;
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut i = 0;
    while left > 0 {
        let n = (left as usize).min(CHUNK);
        let batch: Vec<SpanData> = (0..n)
            .map(|j| spans[(i + j) % spans.len()].clone())
            .collect();
        i += n;
        let start = Instant::now();
        for s in batch {
            p.on_end(s);
        }
        total += start.elapsed();
        left -= n as u64;
    }
    total
}

fn on_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("on_end");
    // Span ids vary (as in real traces); LLM calls are children of a few open steps.
    let plain: Vec<SpanData> = (0..1024)
        .map(|i| span_data(plain_attrs(), 1000 + i))
        .collect();
    let llm: Vec<SpanData> = (0..1024)
        .map(|i| span_data(llm_attrs(), 100_000 + i))
        .collect();
    let mix: Vec<SpanData> = (0..1020)
        .map(|i| {
            if i % 10 == 0 {
                span_data(llm_attrs(), 200_000 + i)
            } else {
                span_data(plain_attrs(), 300_000 + i)
            }
        })
        .collect();
    for (name, spans) in [("plain", &plain), ("llm", &llm), ("mix_1llm_9plain", &mix)] {
        let baseline = Noop::default();
        g.bench_function(format!("{name}/baseline"), |b| {
            b.iter_custom(|n| time_on_end(&baseline, spans, n))
        });
        let cost = CostSpanProcessor::new(Noop::default()).expect("catalog");
        g.bench_function(format!("{name}/with_cost"), |b| {
            b.iter_custom(|n| time_on_end(&cost, spans, n))
        });
    }
    g.finish();
}

/// Where the pricing sits in the pipeline.
#[derive(Clone, Copy)]
enum Arm {
    Baseline,
    Processor,
    Exporter,
}

fn provider(arm: Arm, exported: &NoopExporter) -> SdkTracerProvider {
    fn batch<E: SpanExporter + 'static>(e: E) -> BatchSpanProcessor {
        BatchSpanProcessor::builder(e)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(1 << 16)
                    .build(),
            )
            .build()
    }
    let b = SdkTracerProvider::builder();
    let b = match arm {
        Arm::Baseline => b.with_span_processor(batch(exported.clone())),
        Arm::Processor => {
            b.with_span_processor(CostSpanProcessor::new(batch(exported.clone())).expect("catalog"))
        }
        Arm::Exporter => b.with_span_processor(batch(
            CostSpanExporter::new(exported.clone()).expect("catalog"),
        )),
    };
    b.build()
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline_1llm_9plain");
    for (name, arm) in [
        ("baseline", Arm::Baseline),
        ("with_cost", Arm::Processor),
        ("exporter", Arm::Exporter),
    ] {
        let exported = NoopExporter::default();
        let p = provider(arm, &exported);
        let mut traces = 0u64;
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                // Timed: the emitting thread only. Every FLUSH_EVERY traces (10,000 spans, well
                // under the 65,536-span queue) the batch processor is drained outside the
                // timing, so no arm is measured on the cheaper path of a full queue (a span
                // refused by the queue): the exporter arm's worker prices every span, and
                // cannot keep up with an emitter running flat out.
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < n {
                    let k = (n - done).min(FLUSH_EVERY);
                    let t = Instant::now();
                    for _ in 0..k {
                        trace_of_ten(&p);
                    }
                    timed += t.elapsed();
                    let _ = p.force_flush();
                    done += k;
                }
                traces += n;
                timed
            })
        });
        let _ = p.shutdown();
        let got = exported.0.load(Ordering::Relaxed);
        eprintln!(
            "pipeline_1llm_9plain/{name}: {} spans emitted, {got} exported, {} dropped",
            traces * 10,
            (traces * 10).saturating_sub(got)
        );
    }
    g.finish();
}

/// Traces emitted between two drains of the batch processor (see `pipeline`).
const FLUSH_EVERY: u64 = 1000;

criterion_group!(benches, on_end, pipeline);
criterion_main!(benches);
