//! OTLP/JSON request decoding (HTTP `application/json`: the scan, which also fills the
//! proto3-JSON gaps, then serde), then price / encode (the exporter's encoder). Must never
//! panic, and serde must never take a request the scan refused.
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
    // The receivers refuse what the scan refuses: serde must not take any of it.
    if fuzzing::scan_json(data).is_err() {
        assert!(
            serde_json::from_slice::<fuzzing::ExportTraceServiceRequest>(data).is_err(),
            "serde decoded a request the scan refused"
        );
    }
    if let Ok(req) = fuzzing::decode_json(data) {
        let n = fuzzing::price_request(engine(), req, false);
        assert_ne!(n, usize::MAX, "re-encoded export request does not decode");
    }
});
