//! gzip-framed gRPC request bodies through the gRPC receiver's path for one call: the framing
//! checks (exactly one message, within the limit), gunzip within the size and ratio limits,
//! the scan (span count, decode memory bound), the decode. Must never panic.
//!
//! And the two properties of the scan the receivers rely on (src/gateway/otlp_scan.rs): what
//! prost decodes, the scan accepts (a request the scan refuses would be one prost takes), and
//! decoding never allocates more than the scan's bound (measured by a counting allocator).
//!
//! Input: a mode byte, then the payload. Modes: the raw bytes as the body; one gzip message of
//! the payload; the payload split into two gzip messages; the payload framed as if gzip.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otel_llm_cost::internals::gateway as fuzzing;
use prost::Message;

#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![flag];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let body = match mode % 4 {
        0 => payload.to_vec(),
        1 => frame(1, &gzip(payload)),
        2 => {
            let (a, b) = payload.split_at(payload.len() / 2);
            [frame(1, &gzip(a)), frame(1, &gzip(b))].concat()
        }
        _ => frame(1, payload),
    };
    let whole = fuzzing::grpc_body(&body, LIMIT);
    if mode % 4 == 2 && !payload.is_empty() {
        assert!(whole.is_err(), "two messages in one unary call were accepted");
    }
    // The scan against prost, on the plain message.
    let scan = fuzzing::scan_protobuf(payload);
    let (decoded, used) = peak(|| ExportTraceServiceRequest::decode(payload));
    match (&scan, &decoded) {
        (Err(why), Ok(_)) => panic!("prost decoded a request the scan refused: {why}"),
        (Ok((spans, bound)), _) => {
            assert!(used <= *bound, "decoding allocated {used} bytes, over the bound {bound}");
            if let Ok(req) = &decoded {
                let n: usize = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                assert_eq!(n, *spans, "span count");
                if mode % 4 == 1 && payload.len() <= LIMIT {
                    assert_eq!(whole, Ok(n), "one gzip message of a valid request");
                }
            }
        }
        (Err(_), Err(_)) => {}
    }
});
