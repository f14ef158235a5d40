//! OTLP/protobuf request decoding (gRPC receiver and HTTP `application/x-protobuf`), then the
//! gateway's split / price / encode (the exporter's encoder) of whatever decoded, decoded again.
//! Must never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use otel_llm_cost::internals::gateway as fuzzing;
use otel_llm_cost::{Catalog, engine::Engine, engine::EngineOptions};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let catalog = Catalog::embedded().expect("embedded catalog loads");
        Engine::new(Arc::new(catalog), EngineOptions::default())
    })
}

fuzz_target!(|data: &[u8]| {
    // The gzip path first (size and ratio limits), on the raw input.
    let _ = fuzzing::gunzip(data, 1 << 20);
    if let Ok(req) = fuzzing::decode_protobuf(data) {
        let n = fuzzing::price_request(engine(), req, true);
        assert_ne!(n, usize::MAX, "re-encoded export request does not decode");
    }
});
