//! Report throughput: generated agent traces (OTLP/JSON lines from `internals::synth`, the
//! generator the gateway bench uses too: ~12.7 spans a trace, usage on every LLM call) read, assembled, priced and aggregated by `Reporter`, from memory. Results and the
//! memory measurement on 1M spans: BENCHMARKS.md, "Report (issue 5)".
//!
//! ```text
//! cargo bench --features report,internals --bench report -- --warm-up-time 1 --measurement-time 5
//! ```
#![cfg_attr(not(feature = "report"), allow(unused))]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[cfg(feature = "report")]
fn report(c: &mut Criterion) {
    use std::sync::Arc;

    use otel_llm_cost::{report::ReportOptions, report::Reporter, Catalog};

    const SPANS: u64 = 20_000;
    let mut data = Vec::new();
    let written = otel_llm_cost::internals::synth::write_otlp_json_lines(SPANS, 1, &mut data)
        .expect("generate");
    let catalog = Arc::new(Catalog::embedded().expect("embedded catalog"));
    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(written));
    g.sample_size(10);
    g.bench_function("otlp_json_lines", |b| {
        b.iter(|| {
            let mut r = Reporter::new(catalog.clone(), ReportOptions::default());
            r.read("bench", black_box(&data[..]));
            assert_eq!(r.error_count(), 0);
            r.finish().summary.llm_calls
        })
    });
    g.finish();
}

#[cfg(not(feature = "report"))]
fn report(_: &mut Criterion) {
    eprintln!("benches/report.rs needs --features report");
}

criterion_group!(benches, report);
criterion_main!(benches);
