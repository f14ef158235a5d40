//! Does pricing in process make the `BatchSpanProcessor` drop spans? Emits spans at a fixed rate
//! (default 50,000 spans/s for 5 s) through `SdkTracerProvider -> [CostSpanProcessor ->]
//! BatchSpanProcessor (default config) -> counting no-op exporter`, without and with the
//! `CostSpanProcessor`, and prints emitted, exported and dropped spans for each arm.
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
use otel_llm_cost::CostSpanProcessor;

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

fn run(with_cost: bool, rate: u64, seconds: u64) -> Result<Outcome, Box<dyn std::error::Error>> {
    let exported = Arc::new(AtomicU64::new(0));
    let batch = BatchSpanProcessor::builder(CountingExporter(exported.clone())).build();
    let provider = if with_cost {
        SdkTracerProvider::builder()
            .with_span_processor(CostSpanProcessor::new(batch)?)
            .build()
    } else {
        SdkTracerProvider::builder()
            .with_span_processor(batch)
            .build()
    };
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
        for (name, with_cost) in [("baseline", false), ("with_cost", true)] {
            let o = run(with_cost, rate, seconds)?;
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
