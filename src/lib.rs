#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod analytics;
mod engine;
#[cfg(feature = "fetch")]
mod fetch;
#[cfg(feature = "gateway")]
pub mod gateway;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals;
#[cfg(all(not(feature = "internals"), feature = "gateway"))]
mod internals;
#[cfg(feature = "processor")]
mod metrics;
mod money;
#[cfg(any(feature = "gateway", feature = "report"))]
mod otlp_json;
mod pricing;
#[cfg(feature = "processor")]
mod processor;
mod provider;
mod records;
pub mod refresh;
#[cfg(feature = "report")]
mod report;
pub mod semconv;
mod span_view;

pub use analytics::{
    CardinalityLimit, CostAggregator, CostSeries, MetricLimits, ModelLabels, SeriesTotals,
    DEFAULT_MAX_MODELS, DEFAULT_MAX_PROVIDERS, DEFAULT_MAX_SERVICES, DEFAULT_MAX_WORKFLOW_LABELS,
    OVERFLOW_LABEL,
};
pub use engine::{
    AnomalyOptions, BudgetRule, Engine, EngineOptions, ModelShare, PricingStatus, Stats,
    StatsSnapshot, TokenCounts, TraceObserver, TraceSummary, Verdicts, DEFAULT_ANOMALY_MIN_SAMPLES,
    DEFAULT_ANOMALY_THRESHOLD, DEFAULT_ANOMALY_WINDOW, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_WORKFLOWS,
};
pub use engine::{ExtractOptions, InputCounting};
#[cfg(feature = "gateway")]
pub use gateway::{config::GatewayConfig, Gateway, RunningGateway};
#[cfg(feature = "processor")]
pub use metrics::CostMetrics;
pub use money::{DecimalError, Rate, Usd};
/// The catalog builder (`otel-llm-cost catalog build`) and catalog diff.
pub use pricing::build as catalog_build;
/// Live prices: the catalog built at run time from the upstream feeds, validated and cached.
pub use pricing::live as catalog_live;
/// The usage vocabulary: every unit a call can be billed by (issue 15).
pub use pricing::units;
pub use pricing::{
    AppliedTier, Beyond, Catalog, CatalogBuilder, CatalogError, CatalogInfo, CostBreakdown, Date,
    Model, OtherUnits, Price, PriceContext, PriceLayers, PriceVariant, PriceWindow, Priced,
    RateSet, Rates, ServiceTier, SourceFile, Tier, Unit, UnknownModel, Usage, MAX_MODEL_ID_BYTES,
};
#[cfg(feature = "processor")]
pub use processor::{
    CatalogHandle, CostBuilder, CostSpanExporter, CostSpanExporterBuilder, CostSpanProcessor,
    CostSpanProcessorBuilder, DEFAULT_LEDGER_CAPACITY, DEFAULT_LEDGER_TTL,
};
pub use provider::canonical as canonical_provider;
pub use provider::MAX_PROVIDER_BYTES;
pub use records::{
    call_record, trace_records, CallRecord, CallStatus, ModelCost, Record, RecordSpan,
    RecordWriter, TraceRecord, TraceRecords, RECORD_WRITER_CHECK_INTERVAL,
};
#[cfg(feature = "report")]
pub use report::{
    GroupBy, GroupRow, InputError, InputSummary, ModelRow, Report, ReportOptions, Reporter,
    StepRow, Summary, TraceRow, DEFAULT_BUFFER_BYTES, DEFAULT_LINGER_SPANS,
};
pub use span_view::{AttrKey, AttrValue, KeyFilter, OwnedValue, SpanView};
