//! Model ids exactly as real spans carry them -> the catalog entry they must price with.

use std::sync::Arc;

use otel_llm_cost::{money::Rate, pricing::CatalogBuilder, Catalog};

fn catalog() -> Arc<Catalog> {
    Catalog::shared().expect("embedded catalog loads")
}

/// (id as a span carries it, gen_ai.provider.name if any, expected catalog id)
const TABLE: &[(&str, Option<&str>, &str)] = &[
    // OpenAI: exact ids, dated snapshots, case, whitespace, routing prefixes, `-latest`.
    ("gpt-4o-2024-08-06", None, "gpt-4o-2024-08-06"),
    ("gpt-4o-mini-2024-07-18", None, "gpt-4o-mini-2024-07-18"),
    ("gpt-4.1-2025-04-14", None, "gpt-4.1-2025-04-14"),
    ("o3-2025-04-16", None, "o3-2025-04-16"),
    ("o3", Some("openai"), "o3"),
    ("GPT-4o-2024-08-06", None, "gpt-4o-2024-08-06"),
    ("  GPT-4O  ", None, "gpt-4o"),
    ("gpt-4o\n", None, "gpt-4o"),
    ("openai/gpt-4o-2024-08-06", None, "gpt-4o-2024-08-06"),
    ("openai/gpt-4o-mini", None, "gpt-4o-mini"),
    ("openai/gpt-5", None, "gpt-5"),
    ("gpt-4o-latest", None, "gpt-4o"),
    ("chatgpt-4o-latest", None, "openai/chatgpt-4o-latest"),
    ("text-embedding-3-small", None, "text-embedding-3-small"),
    // OpenAI fine-tunes: fine-tune rates when the catalog has them.
    ("ft:gpt-4o-mini-2024-07-18:org::id", None, "ft:gpt-4o-mini-2024-07-18"),
    ("ft:gpt-4o-2024-08-06:acme:support:9abc", None, "ft:gpt-4o-2024-08-06"),
    ("ft:gpt-3.5-turbo-0125:acme::abc", None, "ft:gpt-3.5-turbo-0125"),
    // Anthropic: dated snapshots fall back to the family entry, `-latest`, mixed case.
    ("claude-sonnet-4-5-20250929", None, "claude-sonnet-4-5-20250929"),
    ("claude-3-5-sonnet-20241022", None, "anthropic/claude-3-5-sonnet"),
    ("Claude-3-5-Sonnet-20241022", None, "anthropic/claude-3-5-sonnet"),
    ("claude-3-5-sonnet-latest", None, "anthropic/claude-3-5-sonnet"),
    ("claude-3-7-sonnet-20250219", None, "anthropic/claude-3-7-sonnet-latest"),
    ("claude-sonnet-4-20250514", None, "anthropic/claude-sonnet-4-0"),
    ("claude-haiku-4-5-20251001", Some("anthropic"), "claude-haiku-4-5-20251001"),
    // Azure OpenAI: `azure/` prefix, data zones, provider tie-break on a bare id.
    ("azure/gpt-4o-2024-08-06", None, "azure/gpt-4o-2024-08-06"),
    ("azure/eu/gpt-4o-2024-08-06", None, "azure/eu/gpt-4o-2024-08-06"),
    ("azure/gpt-4o-mini", None, "azure/gpt-4o-mini"),
    ("gpt-4o", Some("azure"), "azure/gpt-4o"),
    ("gpt-4o", Some("az.ai.openai"), "azure/gpt-4o"),
    ("gpt-4o", Some("azure.ai.openai"), "azure/gpt-4o"),
    ("gpt-4o", Some("openai"), "gpt-4o"),
    ("gpt-4o", None, "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", Some("az.ai.openai"), "azure/gpt-4o-mini-2024-07-18"),
    ("o3", Some("az.ai.openai"), "azure/o3"),
    ("text-embedding-3-large", Some("azure"), "azure/text-embedding-3-large"),
    // AWS Bedrock: routing prefixes, geography kept, ARNs, `-vN:M` suffixes.
    (
        "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "bedrock/converse/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    (
        "bedrock/us-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        Some("aws.bedrock"),
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        Some("aws"),
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    ("amazon.nova-pro-v1:0", None, "amazon.nova-pro-v1:0"),
    ("us.amazon.nova-pro-v1:0", None, "us.amazon.nova-pro-v1:0"),
    (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        Some("aws.bedrock"),
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
        None,
        "amazon.nova-pro-v1:0",
    ),
    // Google: Vertex `@date`, `vertex_ai/`, resource paths, Gemini API `models/`.
    ("vertex_ai/gemini-2.5-pro", None, "gemini-2.5-pro"),
    ("gemini-2.5-pro", Some("gcp.vertex_ai"), "gemini-2.5-pro"),
    ("gemini-2.5-pro", Some("gcp.gemini"), "gemini/gemini-2.5-pro"),
    ("gemini-2.5-flash", Some("google"), "gemini/gemini-2.5-flash"),
    ("models/gemini-2.5-flash", None, "gemini/gemini-2.5-flash"),
    ("models/gemini-2.5-pro", Some("gcp.vertex_ai"), "gemini-2.5-pro"),
    ("gemini/gemini-2.5-flash", None, "gemini/gemini-2.5-flash"),
    (
        "projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        None,
        "gemini-2.5-flash",
    ),
    (
        "projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929",
        None,
        "vertex_ai/claude-sonnet-4-5@20250929",
    ),
    (
        "vertex_ai/claude-sonnet-4-5@20250929",
        None,
        "vertex_ai/claude-sonnet-4-5@20250929",
    ),
    (
        "claude-sonnet-4-5@20250929",
        None,
        "vertex_ai/claude-sonnet-4-5@20250929",
    ),
    (
        "claude-3-5-sonnet@20240620",
        Some("vertex_ai"),
        "vertex_ai/claude-3-5-sonnet@20240620",
    ),
    ("claude-sonnet-4-5", Some("gcp.vertex_ai"), "vertex_ai/claude-sonnet-4-5"),
    // Claude on Vertex with only genai-prices' entry: a Vertex AI entry, never the Gemini API's.
    (
        "vertex_ai/claude-3-7-sonnet@20250219",
        None,
        "gcp.vertex_ai/claude-3-7-sonnet",
    ),
    (
        "publishers/anthropic/models/claude-sonnet-4@20250514",
        None,
        "gcp.vertex_ai/claude-4-sonnet",
    ),
    // OpenRouter and other hosts.
    (
        "openrouter/anthropic/claude-3.5-sonnet",
        None,
        "openrouter/anthropic/claude-3.5-sonnet",
    ),
    ("openrouter/openai/gpt-4o", None, "openrouter/openai/gpt-4o"),
    (
        "anthropic/claude-3.5-sonnet",
        Some("openrouter"),
        "openrouter/anthropic/claude-3.5-sonnet",
    ),
    ("mistral-large-latest", None, "mistral/mistral-large-latest"),
    ("mistral/mistral-small-latest", None, "mistral/mistral-small-latest"),
    ("deepseek-chat", None, "deepseek-chat"),
    ("deepseek/deepseek-reasoner", None, "deepseek/deepseek-reasoner"),
    ("grok-4", None, "x_ai/grok-4-0709"),
    ("xai/grok-4", None, "x_ai/grok-4-0709"),
    ("groq/llama-3.3-70b-versatile", None, "groq/llama-3.3-70b-versatile"),
    ("llama-3.3-70b-versatile", Some("groq"), "groq/llama-3.3-70b-versatile"),
    ("command-r-08-2024", Some("cohere"), "command-r-08-2024"),
    (
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        None,
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    (
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        Some("together_ai"),
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    (
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        None,
        "fireworks_ai/accounts/fireworks/models/llama-v3p1-70b-instruct",
    ),
];

#[test]
fn model_ids_as_spans_carry_them_resolve_to_the_right_entry() {
    assert!(TABLE.len() >= 40, "{} rows", TABLE.len());
    let c = catalog();
    let mut wrong = Vec::new();
    for &(id, provider, want) in TABLE {
        let got = c.resolve(id, provider).map(|m| &*m.id);
        if got != Some(want) {
            wrong.push(format!("{id:?} ({provider:?}): want {want}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_row_also_prices() {
    let c = catalog();
    let usage = otel_llm_cost::pricing::Usage {
        input_total: 1000,
        output_total: 100,
        ..Default::default()
    };
    for &(id, provider, want) in TABLE {
        let p = c
            .price(id, provider, &usage, 1_767_225_600, None)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(&*p.model.id, want);
    }
}

#[test]
fn bedrock_geography_is_kept_and_changes_the_price() {
    let c = catalog();
    let us = c
        .resolve(
            "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            Some("aws.bedrock"),
        )
        .unwrap();
    let global = c
        .resolve(
            "bedrock/converse/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            Some("aws.bedrock"),
        )
        .unwrap();
    let eu = c
        .resolve(
            "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            None,
        )
        .unwrap();
    assert_ne!(us.id, global.id);
    assert_ne!(us.id, eu.id);
    assert!(
        us.id.starts_with("us.") && global.id.starts_with("global.") && eu.id.starts_with("eu.")
    );
    // Regional (us.) profiles carry a 10% premium over global: $3.30 vs $3.00 input.
    let r = |m: &otel_llm_cost::pricing::Model| m.prices.last().unwrap().standard.rates.input;
    assert_eq!(r(us), Rate::parse_per_mtok("3.3").unwrap());
    assert_eq!(r(global), Rate::parse_per_mtok("3").unwrap());
    // Stripping the geography would lose that: the bare foundation model is a different entry.
    let bare = c
        .resolve("anthropic.claude-sonnet-4-5-20250929-v1:0", None)
        .unwrap();
    assert_ne!(bare.id, us.id);
    assert_ne!(bare.id, global.id);
}

#[test]
fn provider_breaks_ties_between_hosts_of_one_id() {
    let c = catalog();
    let openai = c.resolve("gpt-4o-2024-08-06", Some("openai")).unwrap();
    let azure = c
        .resolve("gpt-4o-2024-08-06", Some("az.ai.openai"))
        .unwrap();
    assert_eq!(&*openai.provider, "openai");
    assert_eq!(&*azure.provider, "azure.ai.openai");
    assert_ne!(openai.id, azure.id);
    // Provider spellings are canonicalised, in any case.
    for p in ["azure", "AZURE", "azure_openai", "azure.ai.openai"] {
        assert_eq!(
            c.resolve("gpt-4o-2024-08-06", Some(p)).unwrap().id,
            azure.id,
            "{p}"
        );
    }
    // No provider: the model maker's own API.
    assert_eq!(c.resolve("gpt-4o-2024-08-06", None).unwrap().id, openai.id);
    // An empty provider attribute is no provider.
    assert_eq!(
        c.resolve("gpt-4o-2024-08-06", Some("")).unwrap().id,
        openai.id
    );
    // A provider that serves nothing under that id does not make the id unknown.
    assert_eq!(
        c.resolve("gpt-4o-2024-08-06", Some("some-new-gateway"))
            .unwrap()
            .id,
        openai.id
    );
    // Gemini API vs Vertex AI.
    assert_eq!(
        &*c.resolve("gemini-2.5-pro", Some("gcp.gemini"))
            .unwrap()
            .provider,
        "gcp.gemini"
    );
    assert_eq!(
        &*c.resolve("gemini-2.5-pro", Some("gcp.vertex_ai"))
            .unwrap()
            .provider,
        "gcp.vertex_ai"
    );
}

#[test]
fn a_resellers_full_id_is_never_taken_by_a_pattern() {
    // `kyma/...` and `github_copilot/...` are catalog ids of resellers; the Google-hosted Claude
    // entries carry `contains: claude-...` patterns that must not steal them.
    let c = catalog();
    for id in [
        "kyma/claude-sonnet-4-6",
        "github_copilot/claude-sonnet-4.6",
        "vercel_ai_gateway/anthropic/claude-3-5-sonnet",
    ] {
        assert_eq!(c.resolve(id, None).map(|m| &*m.id), Some(id));
    }
}

#[test]
fn unknown_ids_are_none_never_a_zero_price() {
    let c = catalog();
    for id in [
        "gpt-9",
        "",
        "   ",
        "not a model at all!!",
        "\u{1F916}",
        "my-company-llm",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
        "bedrock/converse/",
        "openai/",
        "ft:",
        "@20240620",
        "-latest",
        "models/",
        &"x".repeat(10_000),
    ] {
        assert!(
            c.resolve(id, None).is_none(),
            "{id:?} -> {:?}",
            c.resolve(id, None).map(|m| &m.id)
        );
        assert!(c.resolve(id, Some("openai")).is_none(), "{id:?}");
        let err = c
            .price(id, None, &otel_llm_cost::pricing::Usage::default(), 0, None)
            .unwrap_err();
        assert_eq!(err.model, id);
        assert_eq!(err.to_string(), format!("unknown model '{id}'"));
    }
}

#[test]
fn nearest_suggests_close_ids() {
    let c = catalog();
    let near = c.nearest("gpt-4o-2024-08-07", 5);
    assert_eq!(near.len(), 5);
    assert!(near.contains(&"gpt-4o-2024-08-06"), "{near:?}");
    assert!(c.nearest("", 3).len() <= 3);
}

#[test]
fn repeated_lookups_give_the_same_answer() {
    let c = Catalog::embedded().unwrap();
    // Ids that take the ladder (and so the cache), with and without providers, interleaved.
    let ids: &[(&str, Option<&str>)] = &[
        (
            "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            None,
        ),
        ("claude-3-5-sonnet-20241022", None),
        ("claude-3-5-sonnet-20241022", Some("gcp.vertex_ai")),
        ("claude-3-5-sonnet-20241022", Some("anthropic")),
        ("anthropic/claude-3.5-sonnet", None),
        ("anthropic/claude-3.5-sonnet", Some("openrouter")),
        ("gpt-9", None),
        ("gpt-9", Some("openai")),
        ("models/gemini-2.5-pro", None),
        ("models/gemini-2.5-pro", Some("gcp.vertex_ai")),
    ];
    let first: Vec<Option<*const otel_llm_cost::pricing::Model>> = ids
        .iter()
        .map(|(m, p)| c.resolve(m, *p).map(|x| x as *const _))
        .collect();
    // A fresh catalog (empty cache) agrees with the first answers ...
    let fresh = Catalog::embedded().unwrap();
    for (m, p) in ids {
        let a = c.resolve(m, *p).map(|x| &x.id);
        let b = fresh.resolve(m, *p).map(|x| &x.id);
        assert_eq!(a, b, "{m} {p:?}");
    }
    // ... and repeated lookups (cache hits) return the very same entries, in any order.
    for _ in 0..3 {
        for (i, (m, p)) in ids.iter().enumerate().rev() {
            assert_eq!(
                c.resolve(m, *p).map(|x| x as *const _),
                first[i],
                "{m} {p:?}"
            );
        }
    }
    // Case variants of a cached id agree too.
    assert_eq!(
        c.resolve("CLAUDE-3-5-SONNET-20241022", None).map(|m| &m.id),
        c.resolve("claude-3-5-sonnet-20241022", None).map(|m| &m.id)
    );
    // The provider is part of the cache key: the Vertex answer is not the Anthropic one.
    assert_ne!(first[2], first[3]);
}

#[test]
fn the_match_cache_stays_correct_past_its_capacity() {
    let c = Catalog::embedded().unwrap();
    let want = c
        .resolve("claude-3-5-sonnet-20241022", None)
        .unwrap()
        .id
        .clone();
    // More distinct ids than the cache holds: it is cleared, never wrong.
    for i in 0..17_000 {
        assert!(c.resolve(&format!("no-such-model-{i}"), None).is_none());
    }
    assert_eq!(
        c.resolve("claude-3-5-sonnet-20241022", None).unwrap().id,
        want
    );
}

#[test]
fn azure_deployment_names_through_builder_aliases() {
    let c = CatalogBuilder::default()
        .with_alias("prod-gpt4o", "azure/eu/gpt-4o-2024-08-06")
        .with_alias("Chat-Deployment-2", "gpt-4o-mini")
        .build()
        .unwrap();
    // Without the alias an Azure deployment name is unknown, never guessed.
    assert!(catalog().resolve("prod-gpt4o", Some("azure")).is_none());
    assert_eq!(
        &*c.resolve("prod-gpt4o", Some("az.ai.openai")).unwrap().id,
        "azure/eu/gpt-4o-2024-08-06"
    );
    // Alias names are case-insensitive, and win whatever the provider says.
    assert_eq!(
        &*c.resolve("PROD-GPT4O", None).unwrap().id,
        "azure/eu/gpt-4o-2024-08-06"
    );
    assert_eq!(
        &*c.resolve("chat-deployment-2", Some("openai")).unwrap().id,
        "gpt-4o-mini"
    );
    // Alias targets are catalog ids, matched case-insensitively.
    let c2 = CatalogBuilder::default()
        .with_alias("x", "GPT-4O-MINI")
        .build()
        .unwrap();
    assert_eq!(&*c2.resolve("x", None).unwrap().id, "gpt-4o-mini");
    // Everything else still resolves as before.
    assert_eq!(
        &*c.resolve("gpt-4o-2024-08-06", None).unwrap().id,
        "gpt-4o-2024-08-06"
    );
}

#[test]
fn azure_deployment_names_through_an_overrides_aliases_table() {
    let toml = r#"
[aliases]
"prod-gpt4o" = "azure/eu/gpt-4o-2024-08-06"
"summariser" = "gpt-4o-mini-2024-07-18"
"#;
    let c = CatalogBuilder::default()
        .with_overrides_toml("aliases.toml", toml)
        .build()
        .unwrap();
    assert_eq!(
        &*c.resolve("prod-gpt4o", Some("azure")).unwrap().id,
        "azure/eu/gpt-4o-2024-08-06"
    );
    assert_eq!(
        &*c.resolve("Summariser", None).unwrap().id,
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(c.info().layers, ["aliases.toml"]);
}

#[test]
fn bedrock_application_inference_profile_arn_through_an_alias() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
    // Opaque: no model name in it, so unknown without configuration ...
    assert!(catalog().resolve(arn, Some("aws.bedrock")).is_none());
    // ... and the configured model with it.
    let c = CatalogBuilder::default()
        .with_alias(arn, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .build()
        .unwrap();
    let m = c.resolve(arn, Some("aws.bedrock")).unwrap();
    assert_eq!(&*m.id, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    // Through an overrides file as well.
    let toml =
        format!("[aliases]\n\"{arn}\" = \"global.anthropic.claude-sonnet-4-5-20250929-v1:0\"\n");
    let c = CatalogBuilder::default()
        .with_overrides_toml("profiles.toml", toml)
        .build()
        .unwrap();
    assert_eq!(
        &*c.resolve(arn, None).unwrap().id,
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
}

#[test]
fn alias_to_a_model_not_in_the_catalog_is_an_error() {
    let err = CatalogBuilder::default()
        .with_alias("prod-gpt4o", "gpt-4o-2099-01-01")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("prod-gpt4o"), "{err}");
    assert!(err.contains("gpt-4o-2099-01-01"), "{err}");
    assert!(err.contains("<builder>"), "{err}");
}
