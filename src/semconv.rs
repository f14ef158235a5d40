//! Every attribute key read or written, as constants. No key literals elsewhere.

// ---- model and provider (read, first present wins) ----
/// OTel GenAI: model that served the response.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// OpenInference: response model.
pub const LLM_RESPONSE_MODEL_NAME: &str = "llm.response.model_name";
/// OpenInference: model name.
pub const LLM_MODEL_NAME: &str = "llm.model_name";
/// OTel GenAI: requested model.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// OpenInference: requested model.
pub const LLM_REQUEST_MODEL_NAME: &str = "llm.request.model_name";
/// Model keys in precedence order.
pub const MODEL_KEYS: [&str; 5] = [
    GEN_AI_RESPONSE_MODEL,
    LLM_RESPONSE_MODEL_NAME,
    LLM_MODEL_NAME,
    GEN_AI_REQUEST_MODEL,
    LLM_REQUEST_MODEL_NAME,
];

/// OTel GenAI (current): provider.
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// OpenInference: provider.
pub const LLM_PROVIDER: &str = "llm.provider";
/// OTel GenAI (older): system.
pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
/// OpenInference: system.
pub const LLM_SYSTEM: &str = "llm.system";
/// Provider keys in precedence order.
pub const PROVIDER_KEYS: [&str; 4] = [
    GEN_AI_PROVIDER_NAME,
    LLM_PROVIDER,
    GEN_AI_SYSTEM,
    LLM_SYSTEM,
];

// ---- service tier (read) ----
/// OTel GenAI OpenAI: response service tier.
pub const GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: &str = "gen_ai.openai.response.service_tier";
/// OpenAI instrumentations: response service tier.
pub const OPENAI_RESPONSE_SERVICE_TIER: &str = "openai.response.service_tier";
/// OTel GenAI OpenAI: requested service tier.
pub const GEN_AI_OPENAI_REQUEST_SERVICE_TIER: &str = "gen_ai.openai.request.service_tier";
/// OpenAI instrumentations: requested service tier.
pub const OPENAI_REQUEST_SERVICE_TIER: &str = "openai.request.service_tier";
/// Anthropic SDK: response service tier.
pub const ANTHROPIC_RESPONSE_SERVICE_TIER: &str = "anthropic.response.service_tier";
/// OpenInference: the request's parameters as a JSON object (issue 15 reads `speed`,
/// `service_tier`, `inference_geo` from it).
pub const LLM_INVOCATION_PARAMETERS: &str = "llm.invocation_parameters";
/// Service tier keys in precedence order.
pub const SERVICE_TIER_KEYS: [&str; 5] = [
    GEN_AI_OPENAI_RESPONSE_SERVICE_TIER,
    OPENAI_RESPONSE_SERVICE_TIER,
    ANTHROPIC_RESPONSE_SERVICE_TIER,
    GEN_AI_OPENAI_REQUEST_SERVICE_TIER,
    OPENAI_REQUEST_SERVICE_TIER,
];

// ---- tokens: OpenInference ----
/// Prompt tokens (cache included).
pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
/// Completion tokens (reasoning included).
pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
/// Total tokens.
pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
/// Cache reads.
pub const LLM_TOKEN_COUNT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
/// Cache writes.
pub const LLM_TOKEN_COUNT_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
/// Audio input.
pub const LLM_TOKEN_COUNT_PROMPT_AUDIO: &str = "llm.token_count.prompt_details.audio";
/// Reasoning.
pub const LLM_TOKEN_COUNT_REASONING: &str = "llm.token_count.completion_details.reasoning";
/// Audio output.
pub const LLM_TOKEN_COUNT_COMPLETION_AUDIO: &str = "llm.token_count.completion_details.audio";

// ---- tokens: OTel GenAI ----
/// Input tokens.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Cache reads.
pub const GEN_AI_USAGE_CACHE_READ: &str = "gen_ai.usage.cache_read.input_tokens";
/// Cache writes.
pub const GEN_AI_USAGE_CACHE_WRITE: &str = "gen_ai.usage.cache_write.input_tokens";
/// Cache writes (older name).
pub const GEN_AI_USAGE_CACHE_CREATION: &str = "gen_ai.usage.cache_creation.input_tokens";
/// Reasoning.
pub const GEN_AI_USAGE_REASONING: &str = "gen_ai.usage.reasoning.output_tokens";
/// Audio input.
pub const GEN_AI_USAGE_AUDIO_INPUT: &str = "gen_ai.usage.audio.input_tokens";
/// Audio output.
pub const GEN_AI_USAGE_AUDIO_OUTPUT: &str = "gen_ai.usage.audio.output_tokens";

// ---- tokens: legacy (OpenLLMetry and others) ----
/// Prompt tokens.
pub const GEN_AI_USAGE_PROMPT_TOKENS: &str = "gen_ai.usage.prompt_tokens";
/// Completion tokens.
pub const GEN_AI_USAGE_COMPLETION_TOKENS: &str = "gen_ai.usage.completion_tokens";
/// Total tokens.
pub const GEN_AI_USAGE_TOTAL_TOKENS: &str = "gen_ai.usage.total_tokens";
/// Total tokens (OpenLLMetry).
pub const LLM_USAGE_TOTAL_TOKENS: &str = "llm.usage.total_tokens";
/// Cache reads.
pub const GEN_AI_USAGE_CACHE_READ_LEGACY: &str = "gen_ai.usage.cache_read_input_tokens";
/// Cache writes.
pub const GEN_AI_USAGE_CACHE_CREATION_LEGACY: &str = "gen_ai.usage.cache_creation_input_tokens";
/// Reasoning.
pub const GEN_AI_USAGE_REASONING_LEGACY: &str = "gen_ai.usage.reasoning_tokens";

// ---- usage parts by modality (OTel GenAI, issue 15) ----
/// Text input tokens.
pub const GEN_AI_USAGE_TEXT_INPUT: &str = "gen_ai.usage.text.input_tokens";
/// Image input tokens.
pub const GEN_AI_USAGE_IMAGE_INPUT: &str = "gen_ai.usage.image.input_tokens";
/// Video input tokens.
pub const GEN_AI_USAGE_VIDEO_INPUT: &str = "gen_ai.usage.video.input_tokens";
/// Text output tokens.
pub const GEN_AI_USAGE_TEXT_OUTPUT: &str = "gen_ai.usage.text.output_tokens";
/// Image output tokens.
pub const GEN_AI_USAGE_IMAGE_OUTPUT: &str = "gen_ai.usage.image.output_tokens";
/// Text cache reads.
pub const GEN_AI_USAGE_TEXT_CACHE_READ: &str = "gen_ai.usage.text.cache_read.input_tokens";
/// Image cache reads.
pub const GEN_AI_USAGE_IMAGE_CACHE_READ: &str = "gen_ai.usage.image.cache_read.input_tokens";
/// Audio cache reads.
pub const GEN_AI_USAGE_AUDIO_CACHE_READ: &str = "gen_ai.usage.audio.cache_read.input_tokens";
/// OpenInference's free-form metadata (a JSON object as a string): its Anthropic instrumentation
/// puts the response's `server_tool_use` counts there.
pub const OPENINFERENCE_METADATA: &str = "metadata";
/// OpenLIT: the kinds of the OpenAI built-in tool calls of a Responses call, one per call,
/// comma-separated (`"web_search, web_search, file_search"`).
pub const OPENLIT_BUILT_IN_TOOLS: &str = "openai.response.built_in_tools";
/// Prefix of the counts an application sets itself: `cost.usage.<unit id>` (int), any unit of
/// the vocabulary (`pricing::units`).
pub const COST_USAGE_PREFIX: &str = "cost.usage.";

// ---- cache-write TTL split (Anthropic) ----
/// 5 minute cache writes.
pub const ANTHROPIC_CACHE_WRITE_5M: &str =
    "anthropic.usage.cache_creation.ephemeral_5m_input_tokens";
/// 1 hour cache writes.
pub const ANTHROPIC_CACHE_WRITE_1H: &str =
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens";

// ---- span kind ----
/// OTel GenAI operation name (`chat`, `invoke_agent` ...).
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// OpenInference span kind (`LLM`, `AGENT`, `CHAIN` ...).
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
/// Operation names of aggregate spans.
pub const AGGREGATE_OPERATIONS: [&str; 4] = [
    "invoke_agent",
    "create_agent",
    "invoke_workflow",
    "agent_step",
];
/// OpenInference kinds of aggregate spans.
pub const AGGREGATE_KINDS: [&str; 2] = ["AGENT", "CHAIN"];

// ---- cost already on the span ----
/// OpenInference total cost (also written by us).
pub const LLM_COST_TOTAL: &str = "llm.cost.total";
/// OpenLIT cost.
pub const GEN_AI_USAGE_COST: &str = "gen_ai.usage.cost";

// ---- written per priced call (OpenInference names) ----
/// Prompt-side cost.
pub const LLM_COST_PROMPT: &str = "llm.cost.prompt";
/// Completion-side cost.
pub const LLM_COST_COMPLETION: &str = "llm.cost.completion";
/// Uncached input cost.
pub const LLM_COST_PROMPT_INPUT: &str = "llm.cost.prompt_details.input";
/// Cache read cost.
pub const LLM_COST_PROMPT_CACHE_READ: &str = "llm.cost.prompt_details.cache_read";
/// Cache write cost.
pub const LLM_COST_PROMPT_CACHE_WRITE: &str = "llm.cost.prompt_details.cache_write";
/// Audio input cost.
pub const LLM_COST_PROMPT_AUDIO: &str = "llm.cost.prompt_details.audio";
/// Output cost (reasoning excluded).
pub const LLM_COST_COMPLETION_OUTPUT: &str = "llm.cost.completion_details.output";
/// Reasoning cost.
pub const LLM_COST_COMPLETION_REASONING: &str = "llm.cost.completion_details.reasoning";
/// Audio output cost.
pub const LLM_COST_COMPLETION_AUDIO: &str = "llm.cost.completion_details.audio";

// ---- written under our prefix (default `cost.`) ----
/// Default prefix of our attributes.
pub const DEFAULT_PREFIX: &str = "cost.";
/// Suffixes under the prefix.
pub mod ours {
    /// `priced`, `provided`, `unknown_model`, `invalid_usage`, `duplicate`, `aggregate`.
    pub const PRICING_STATUS: &str = "pricing.status";
    /// Why a call could not be priced (`unknown model 'x'`, the bad token attribute).
    pub const PRICING_REASON: &str = "pricing.reason";
    /// Catalog id that priced the call.
    pub const PRICING_MODEL: &str = "pricing.model";
    /// First day of the price used (`YYYY-MM-DD`, or `initial` for an undated first price).
    pub const PRICING_EFFECTIVE_FROM: &str = "pricing.effective_from";
    /// Public price set the price came from.
    pub const PRICING_SOURCE: &str = "pricing.source";
    /// Service tier / long-context tier applied.
    pub const PRICING_TIER: &str = "pricing.tier";
    /// Catalog version.
    pub const PRICING_CATALOG: &str = "pricing.catalog";
    /// Subtree cost in USD.
    pub const TOTAL_USD: &str = "total_usd";
    /// Subtree input-side cost.
    pub const INPUT_USD: &str = "input_usd";
    /// Subtree output-side cost.
    pub const OUTPUT_USD: &str = "output_usd";
    /// LLM calls in the subtree.
    pub const LLM_CALLS: &str = "llm_calls";
    /// Input tokens in the subtree.
    pub const INPUT_TOKENS: &str = "input_tokens";
    /// Output tokens in the subtree.
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// Calls that could not be priced in the subtree.
    pub const UNPRICED_CALLS: &str = "unpriced_calls";
    /// Root only: JSON breakdown by model.
    pub const BY_MODEL: &str = "by_model";
    /// Root only: false when the total may miss spans.
    pub const COMPLETE: &str = "complete";
    /// Root only: the budget rule that matched.
    pub const BUDGET_NAME: &str = "budget.name";
    /// Root only: its limit in USD.
    pub const BUDGET_LIMIT_USD: &str = "budget.limit_usd";
    /// Root only: whether the trace went over it (an event of the same name marks it too).
    pub const BUDGET_EXCEEDED: &str = "budget.exceeded";
    /// Root only: trace cost / median cost of the workflow's recent traces.
    pub const ANOMALY_RATIO: &str = "anomaly.ratio";
    /// Root only: that median.
    pub const ANOMALY_BASELINE_USD: &str = "anomaly.baseline_usd";
    /// Root only: the ratio reached the threshold (`anomaly.detected`, so `anomaly` stays a namespace).
    pub const ANOMALY: &str = "anomaly.detected";
    /// Image and video input tokens billed at rates of their own (USD; issue 15).
    pub const CHARGES_MEDIA_INPUT_USD: &str = "charges.media_input_usd";
    /// Image and video output tokens billed at rates of their own (USD).
    pub const CHARGES_MEDIA_OUTPUT_USD: &str = "charges.media_output_usd";
    /// Server-side tool calls: web searches and fetches, file searches, code executions (USD).
    pub const CHARGES_TOOL_CALLS_USD: &str = "charges.tool_calls_usd";
    /// Other units billed per count: requests, characters, audio seconds, images ... (USD).
    pub const CHARGES_PER_UNIT_USD: &str = "charges.per_unit_usd";
    /// How many units the call carried that its price has no rate for (int).
    pub const CHARGES_UNPRICED_UNITS: &str = "charges.unpriced_units";
}

/// Instrumentation scopes whose input token count excludes cache tokens.
pub const EXCLUSIVE_INPUT_SCOPES: [&str; 4] = [
    "openlit.instrumentation.anthropic",
    "openlit.instrumentation.bedrock",
    "openinference.instrumentation.bedrock",
    "opentelemetry.instrumentation.bedrock",
];
