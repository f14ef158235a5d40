#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// Modules (rustfmt keeps them sorted), top-down as the data flow, each importing only those
// below it: processor / gateway (feed finished spans) -> report -> refresh, records, analytics
// -> engine (reads usage, prices it, rolls it up, writes it) -> pricing (the catalog) ->
// span_view, semconv, provider, money, otlp_json, fetch. The README's "The library's API"
// lists what each public one holds.
pub mod analytics;
pub mod engine;
#[cfg(feature = "fetch")]
mod fetch;
#[cfg(feature = "gateway")]
pub mod gateway;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals;
#[cfg(feature = "processor")]
mod metrics;
pub mod money;
#[cfg(any(feature = "gateway", feature = "report"))]
mod otlp_json;
pub mod pricing;
#[cfg(feature = "processor")]
mod processor;
pub mod provider;
pub mod records;
pub mod refresh;
#[cfg(feature = "report")]
pub mod report;
pub mod semconv;
pub mod span_view;

// The handful of types an application builds with; everything else is in its module.
#[cfg(feature = "gateway")]
pub use gateway::{config::GatewayConfig, Gateway};
#[cfg(feature = "processor")]
pub use metrics::CostMetrics;
pub use money::Usd;
pub use pricing::{Catalog, CatalogError};
#[cfg(feature = "processor")]
pub use processor::{
    CatalogHandle, CostBuilder, CostSpanExporter, CostSpanExporterBuilder, CostSpanProcessor,
    CostSpanProcessorBuilder, DEFAULT_LEDGER_CAPACITY, DEFAULT_LEDGER_TTL,
};
