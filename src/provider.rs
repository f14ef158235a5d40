//! Provider names: the many spellings instrumentations use, mapped to one canonical id
//! (the OTel GenAI `gen_ai.provider.name` value where one exists).

/// Longest provider name a span may carry to be priced: 128 bytes (the longest real ones, e.g.
/// `vertex_ai-anthropic_models`, are under 30). Longer values make the span `invalid_usage`
/// naming the attribute; they never become a cache key or a metric label.
pub const MAX_PROVIDER_BYTES: usize = 128;

/// Canonical provider id for a provider name as spans, configs or price sets spell it.
/// Unknown names are returned lower-cased and trimmed.
///
/// ```
/// use otel_llm_cost::provider::canonical;
/// assert_eq!(canonical("az.ai.openai"), "azure.ai.openai");
/// assert_eq!(canonical("vertex_ai"), "gcp.vertex_ai");
/// assert_eq!(canonical("aws"), "aws.bedrock");
/// assert_eq!(canonical("OpenAI"), "openai");
/// ```
pub fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    canonical_static(&lower).map_or(lower, str::to_owned)
}

/// The table behind [`canonical`]; `name` must be lower-case.
pub(crate) fn canonical_static(name: &str) -> Option<&'static str> {
    Some(match name {
        "openai" | "text-completion-openai" | "openai.chat" => "openai",
        "anthropic" | "claude" => "anthropic",
        "az.ai.openai" | "azure" | "azure_openai" | "azure-openai" | "azure.openai"
        | "azure.ai.openai" => "azure.ai.openai",
        "az.ai.inference" | "azure_ai" | "azure.ai.inference" => "azure.ai.inference",
        "aws" | "bedrock" | "aws_bedrock" | "aws.bedrock" | "bedrock_converse" | "amazon" => {
            "aws.bedrock"
        }
        "vertex_ai"
        | "vertexai"
        | "vertex"
        | "google_vertex"
        | "gcp.vertex_ai"
        | "vertex_ai-language-models"
        | "vertex_ai-anthropic_models" => "gcp.vertex_ai",
        "gemini" | "google" | "google_genai" | "google-genai" | "gcp.gemini"
        | "google_ai_studio" => "gcp.gemini",
        "gcp.gen_ai" => "gcp.gen_ai",
        "mistral" | "mistralai" | "mistral_ai" => "mistral_ai",
        "xai" | "x-ai" | "x_ai" | "grok" => "x_ai",
        "together" | "togetherai" | "together_ai" => "together_ai",
        "fireworks" | "fireworks_ai" | "fireworks-ai" => "fireworks_ai",
        "cohere" | "cohere_chat" => "cohere",
        "watsonx" | "ibm.watsonx.ai" | "ibm" => "ibm.watsonx.ai",
        "deepseek" => "deepseek",
        "groq" => "groq",
        "perplexity" => "perplexity",
        "openrouter" => "openrouter",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_provider_spellings() {
        for (raw, want) in [
            ("az.ai.openai", "azure.ai.openai"),
            ("azure", "azure.ai.openai"),
            ("vertex_ai", "gcp.vertex_ai"),
            ("aws", "aws.bedrock"),
            ("Bedrock", "aws.bedrock"),
            ("google", "gcp.gemini"),
            ("mistralai", "mistral_ai"),
            ("xai", "x_ai"),
            (" OpenAI ", "openai"),
            ("some-new-llm", "some-new-llm"),
        ] {
            assert_eq!(canonical(raw), want, "{raw}");
        }
    }
}
