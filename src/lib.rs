#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod engine;
mod money;
mod pricing;
#[cfg(feature = "processor")]
mod processor;
mod provider;
pub mod semconv;
mod span_view;
mod usage;

pub use engine::{Engine, EngineOptions, ModelShare, PricingStatus, Stats, StatsSnapshot, Totals};
pub use money::{DecimalError, Rate, Usd};
pub use pricing::{
    AppliedTier, Catalog, CatalogBuilder, CatalogError, CatalogInfo, CostBreakdown, Date, Model,
    Price, Priced, RateSet, Rates, ServiceTier, SourceFile, Tier, UnknownModel,
};
#[cfg(feature = "processor")]
pub use processor::{
    CostSpanProcessor, CostSpanProcessorBuilder, DEFAULT_LEDGER_CAPACITY, DEFAULT_LEDGER_TTL,
};
pub use provider::canonical as canonical_provider;
pub use span_view::{AttrValue, OwnedValue, SpanView};
pub use usage::{ExtractOptions, InputCounting, Usage};
