//! Does pricing in process make the `BatchSpanProcessor` drop spans? Emits spans at a fixed rate
//! (default 50,000 spans/s for 5 s) through `SdkTracerProvider -> [CostSpanProcessor ->]
//! BatchSpanProcessor (default config) -> [CostSpanExporter ->] counting no-op exporter`:
//! `baseline` without pricing, `with_cost` with the `CostSpanProcessor`, `exporter` with the
//! `CostSpanExporter` (pricing on the batch processor's thread), and prints emitted, exported
//! and dropped spans for each arm, and the emitting thread's busy share.
//!
//! Traces look like the criterion bench's: a step span with 9 children, 1 LLM call and 8
//! plain spans (1 LLM : 9 plain). The arms alternate (`--rounds`, default 2 each) so both see
//! the same machine load.
//!
//! ```text
//! cargo run --release --example processor_rate -- [--rate 50000] [--seconds 5] [--rounds 2]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use otel_llm_cost::{CostSpanExporter, CostSpanProcessor};

#[path = "../benches/support/agent_spans.rs"]
mod agent_spans;
use agent_spans::trace_of_ten;

/// Counts the spans it is given and drops them.
#[derive(Debug, Clone, Default)]
struct CountingExporter(Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

struct Outcome {
    emitted: u64,
    exported: u64,
    elapsed: Duration,
    busy: Duration,
}

/// Where the pricing sits: nowhere, around the batch processor, or in front of the exporter.
#[derive(Clone, Copy)]
enum Arm {
    Baseline,
    Processor,
    Exporter,
}

fn run(arm: Arm, rate: u64, seconds: u64) -> Result<Outcome, Box<dyn std::error::Error>> {
    let exported = Arc::new(AtomicU64::new(0));
    let counting = CountingExporter(exported.clone());
    let b = SdkTracerProvider::builder();
    let provider = match arm {
        Arm::Baseline => b.with_span_processor(BatchSpanProcessor::builder(counting).build()),
        Arm::Processor => b.with_span_processor(CostSpanProcessor::new(
            BatchSpanProcessor::builder(counting).build(),
        )?),
        Arm::Exporter => b.with_span_processor(
            BatchSpanProcessor::builder(CostSpanExporter::new(counting)?).build(),
        ),
    }
    .build();
    let total = rate * seconds;
    let mut emitted = 0u64;
    let mut busy = Duration::ZERO;
    let start = Instant::now();
    while emitted < total {
        // Spans due by now at the target rate; emit whole traces until caught up, then sleep.
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if emitted + 10 <= due.min(total) {
            let t = Instant::now();
            while emitted + 10 <= due.min(total) {
                trace_of_ten(&provider);
                emitted += 10;
            }
            busy += t.elapsed();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let elapsed = start.elapsed();
    provider.force_flush()?;
    provider.shutdown()?;
    Ok(Outcome {
        emitted,
        exported: exported.load(Ordering::Relaxed),
        elapsed,
        busy,
    })
}

fn arg(name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rate = arg("--rate", 50_000)?;
    let seconds = arg("--seconds", 5)?;
    let rounds = arg("--rounds", 2)?;
    println!(
        "target {rate} spans/s for {seconds} s, BatchSpanProcessor default config, 1 LLM : 9 plain"
    );
    println!(
        "{:<10} {:>5} {:>9} {:>9} {:>7} {:>12} {:>10}",
        "arm", "round", "emitted", "exported", "dropped", "spans/s", "emit busy"
    );
    for round in 1..=rounds {
        for (name, arm) in [
            ("baseline", Arm::Baseline),
            ("with_cost", Arm::Processor),
            ("exporter", Arm::Exporter),
        ] {
            let o = run(arm, rate, seconds)?;
            println!(
                "{:<10} {:>5} {:>9} {:>9} {:>7} {:>12.0} {:>9.1}%",
                name,
                round,
                o.emitted,
                o.exported,
                o.emitted.saturating_sub(o.exported),
                o.emitted as f64 / o.elapsed.as_secs_f64(),
                100.0 * o.busy.as_secs_f64() / o.elapsed.as_secs_f64(),
            );
        }
    }
    Ok(())
}
