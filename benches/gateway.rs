//! The gateway's CPU path, piece by piece and whole, against its ceiling, in one run.
//!
//! - `extract_usage/512`: usage extraction over a realistic 512-span batch (per batch).
//! - `enrich_one_llm_span`: price one LLM span and write its attributes.
//! - `assembly/insert_release_512`: add one request's spans, let the root grace pass, release.
//! - `batch_512/*`: one `ExportTraceServiceRequest` of ~512 spans (agent traces, 4 services,
//!   OpenInference and GenAI usage across models):
//!   - `ceiling_decode_encode`: plain prost decode + encode of the same bytes;
//!   - `decode_wire_encode`: decode, split into spans, the exporter's own encoder (which sizes
//!     each span once where prost's `encode_to_vec` walks it four times): the ceiling as our
//!     encoder sets it;
//!   - `passthrough`: decode -> split -> assembly -> encode (the exporter's), no pricing;
//!   - `gateway`: decode -> split -> assembly -> price -> encode (the exporter's).
//!   - `decode_json`: the same request as OTLP/JSON (opentelemetry-proto's serde encoding:
//!     hex ids, int64s as strings), through the HTTP receiver's JSON decode (scan, decoder).
//!
//! Throughput is reported in spans (elements), so the three `batch_512` lines compare directly.
//! Run: `cargo bench --features gateway,internals --bench gateway`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use otel_llm_cost::internals::gateway::{
    self as fuzzing, decode_encode, decode_encode_wire, encoded_batch, GatewayPath, Spans,
};
use otel_llm_cost::internals::synth::{request, TraceGen};
use prost::Message;

// The allocator the `otel-llm-cost` binary ships with (feature `mimalloc`, part of `cli`), so
// the ceiling and the gateway path are both measured as the binary runs them.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 512;

fn spans(tag: u64) -> Spans {
    Spans::split(request(TraceGen::new(tag).spans(BATCH)))
}

fn pieces(c: &mut Criterion) {
    let mut path = GatewayPath::new().expect("embedded catalog loads");
    let batch = spans(1);
    let n = batch.len() as u64;

    let mut g = c.benchmark_group("extract_usage");
    g.throughput(Throughput::Elements(n));
    g.bench_function("512", |b| b.iter(|| black_box(path.extract_usage(&batch))));
    g.finish();

    let one = batch.first_llm().expect("the batch has an LLM span");
    c.bench_function("enrich_one_llm_span", |b| {
        b.iter_batched_ref(
            || one.clone(),
            |s| path.enrich(black_box(s)),
            BatchSize::SmallInput,
        )
    });

    let mut g = c.benchmark_group("assembly");
    g.throughput(Throughput::Elements(n));
    g.bench_function("insert_release_512", |b| {
        b.iter_batched(
            || batch.clone(),
            |s| black_box(path.assemble(s)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut path = GatewayPath::new().expect("embedded catalog loads");
    let bytes = encoded_batch(2, BATCH);
    let n = Spans::split(
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            bytes.as_slice(),
        )
        .expect("decodes"),
    )
    .len() as u64;
    let mut g = c.benchmark_group("batch_512");
    g.throughput(Throughput::Elements(n));
    g.bench_function("ceiling_decode_encode", |b| {
        b.iter(|| black_box(decode_encode(black_box(&bytes))))
    });
    g.bench_function("decode_wire_encode", |b| {
        b.iter(|| black_box(decode_encode_wire(black_box(&bytes))))
    });
    g.bench_function("passthrough", |b| {
        b.iter(|| black_box(path.run(black_box(&bytes), false)))
    });
    g.bench_function("gateway", |b| {
        b.iter(|| black_box(path.run(black_box(&bytes), true)))
    });
    let json = serde_json::to_vec(
        &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            bytes.as_slice(),
        )
        .expect("decodes"),
    )
    .expect("encodes as JSON");
    g.bench_function("decode_json", |b| {
        b.iter(|| black_box(fuzzing::decode_json(black_box(&json)).expect("decodes")))
    });
    g.finish();
}

criterion_group!(benches, pieces, batches);
criterion_main!(benches);
