//! Entry points for the crate's own benchmarks, fuzz targets, examples and the CLI's
//! `report --generate`: not a stable API, hidden from the docs, compiled in only with the
//! `internals` feature (the CLI's `cli` feature turns it on). Everything a user builds with is
//! at the crate root.
//!
//! - [`synth`]: the one generator of synthetic agent traces (protobuf requests, OTLP/JSON lines).
//! - `gateway` (feature `gateway`): the receivers' decoders and the gateway's CPU path without the
//!   network (fuzz targets, `benches/gateway.rs`, `examples/loadgen.rs`), raw-bytes gRPC codecs
//!   and `/proc` readers (load tests).

#[cfg(any(feature = "gateway", feature = "report"))]
pub mod synth;

/// The gateway's internals for fuzzing, benchmarks and load tests.
#[cfg(all(feature = "gateway", feature = "internals"))]
pub mod gateway {
    pub use crate::gateway::bench_support::*;
    pub use crate::gateway::fuzzing::*;
}
