//! # otel-llm-cost
//!
//! Dollar costs on OpenTelemetry traces of LLM applications.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod money;
mod pricing;
mod provider;
mod usage;

pub use money::{DecimalError, Rate, Usd};
pub use pricing::{
    AppliedTier, Catalog, CatalogBuilder, CatalogError, CatalogInfo, CostBreakdown, Date, Model,
    Price, Priced, RateSet, Rates, ServiceTier, SourceFile, Tier, UnknownModel,
};
pub use provider::canonical as canonical_provider;
pub use usage::Usage;
