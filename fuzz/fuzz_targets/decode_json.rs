//! OTLP/JSON request decoding (HTTP `application/json`: the scan, then the crate's OTLP/JSON
//! decoder), then price / encode (the exporter's encoder). Must never panic, the decoder must
//! never take a request the scan refused, and on one it takes the scan counted every span.
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
    // The receivers refuse what the scan refuses: the decoder must not take any of it.
    match (fuzzing::scan_json(data), fuzzing::decode_json_unscanned(data)) {
        (Err(_), Ok(_)) => panic!("the decoder took a request the scan refused"),
        (Ok((scanned, _)), Ok(decoded)) => assert_eq!(scanned, decoded, "span count"),
        _ => {}
    }
    if let Ok(req) = fuzzing::decode_json(data) {
        let n = fuzzing::price_request(engine(), req, false);
        assert_ne!(n, usize::MAX, "re-encoded export request does not decode");
    }
});
