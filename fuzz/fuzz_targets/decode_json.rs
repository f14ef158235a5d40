//! OTLP/JSON request decoding (HTTP `application/json`, including the second pass that fixes
//! proto3-JSON quirks), then price / encode (the exporter's encoder). Must never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use otel_llm_cost::gateway::fuzzing;
use otel_llm_cost::{Catalog, Engine, EngineOptions};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let catalog = Catalog::embedded().expect("embedded catalog loads");
        Engine::new(Arc::new(catalog), EngineOptions::default())
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = fuzzing::decode_json(data) {
        let n = fuzzing::price_request(engine(), req, false);
        assert_ne!(n, usize::MAX, "re-encoded export request does not decode");
    }
});
