//! Golden prices: each expectation is worked out by hand from the published rates (as in
//! catalog/catalog.json, cross-checked against /work/shared/reference/*.json). Rates are USD per
//! million tokens, so `tokens x rate / 1e6` dollars.

use std::sync::Arc;

use otel_llm_cost::{pricing::Priced, pricing::ServiceTier, pricing::Usage, Catalog, Usd};

fn catalog() -> Arc<Catalog> {
    Catalog::shared().expect("embedded catalog loads")
}

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap()
}

/// Unix seconds at 00:00 UTC of `YYYY-MM-DD`.
fn day(date: &str) -> i64 {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &fmt)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

/// A day at which every undated price is in force and no dated change applies yet.
const NOW: &str = "2025-01-15";

fn io(input: u64, output: u64) -> Usage {
    Usage {
        input_total: input,
        output_total: output,
        ..Usage::default()
    }
}

fn price<'a>(
    c: &'a Catalog,
    model: &str,
    provider: Option<&str>,
    usage: impl std::borrow::Borrow<Usage>,
    date: &str,
    tier: Option<ServiceTier>,
) -> Priced<'a> {
    c.price(model, provider, usage.borrow(), day(date), tier)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn total(
    model: &str,
    provider: Option<&str>,
    usage: impl std::borrow::Borrow<Usage>,
    date: &str,
) -> String {
    let c = catalog();
    price(&c, model, provider, usage, date, None)
        .cost
        .total()
        .to_string()
}

#[test]
fn g01_gpt_4o_2024_08_06_basic() {
    // $2.50/M in, $10/M out: 1000 x 2.5 / 1e6 = 0.0025; 500 x 10 / 1e6 = 0.005; sum 0.0075.
    let c = catalog();
    let p = price(&c, "gpt-4o-2024-08-06", None, io(1000, 500), NOW, None);
    assert_eq!(p.cost.input, usd("0.0025"));
    assert_eq!(p.cost.output, usd("0.005"));
    assert_eq!(p.cost.total(), usd("0.0075"));
    assert_eq!(p.cost.total().to_string(), "0.0075");
    assert_eq!(p.cost.prompt(), usd("0.0025"));
    assert_eq!(p.cost.completion(), usd("0.005"));
    assert!((p.cost.total().as_f64() - 0.0075).abs() < 1e-15);
    assert_eq!(p.applied.label(), None);
}

#[test]
fn g02_o3_before_the_2025_06_10_cut() {
    // Before 2025-06-10: $10/M in, $40/M out: 1M x 10 + 1M x 40 = $50.
    let c = catalog();
    let p = price(&c, "o3", None, io(1_000_000, 1_000_000), "2025-06-01", None);
    assert_eq!(p.cost.total(), usd("50"));
    assert_eq!(p.price.effective_from, None);
}

#[test]
fn g03_o3_after_the_2025_06_10_cut() {
    // From 2025-06-10: $2/M in, $8/M out: 1M x 2 + 1M x 8 = $10.
    let c = catalog();
    let p = price(&c, "o3", None, io(1_000_000, 1_000_000), "2025-07-01", None);
    assert_eq!(p.cost.total(), usd("10"));
    assert_eq!(p.price.effective_from.unwrap().to_string(), "2025-06-10");
}

#[test]
fn g04_o3_cut_applies_from_midnight_utc() {
    // The last second of 2025-06-09 is still $50 for 1M+1M; 00:00:00 on 2025-06-10 is $10.
    let c = catalog();
    let u = io(1_000_000, 1_000_000);
    let cut = day("2025-06-10");
    let before = c.price("o3", None, &u, cut - 1, None).unwrap();
    let at = c.price("o3", None, &u, cut, None).unwrap();
    assert_eq!(before.cost.total(), usd("50"));
    assert_eq!(at.cost.total(), usd("10"));
}

#[test]
fn g05_gemini_2_5_pro_at_200k_input_is_below_the_cliff() {
    // Tier applies strictly above 200,000 input tokens. At exactly 200,000:
    // 200,000 x $1.25/M = 0.25; 10,000 x $10/M = 0.1; total 0.35.
    let c = catalog();
    let p = price(
        &c,
        "gemini-2.5-pro",
        Some("gcp.gemini"),
        io(200_000, 10_000),
        NOW,
        None,
    );
    assert_eq!(&*p.model.provider, "gcp.gemini");
    assert_eq!(p.cost.total(), usd("0.35"));
    assert_eq!(p.applied.above_input_tokens, None);
}

#[test]
fn g06_gemini_2_5_pro_above_200k_reprices_all_tokens() {
    // 200,001 input: every token at the >200k rates ($2.50 in, $15 out), not just the excess.
    // 200,001 x 2.5 / 1e6 = 0.5000025; 10,000 x 15 / 1e6 = 0.15; total 0.6500025.
    let c = catalog();
    let p = price(
        &c,
        "gemini-2.5-pro",
        Some("gcp.gemini"),
        io(200_001, 10_000),
        NOW,
        None,
    );
    assert_eq!(p.cost.input, usd("0.5000025"));
    assert_eq!(p.cost.output, usd("0.15"));
    assert_eq!(p.cost.total(), usd("0.6500025"));
    assert_eq!(p.applied.above_input_tokens, Some(200_000));
    assert_eq!(p.applied.label().as_deref(), Some("input>200000"));
}

#[test]
fn g07_gemini_cliff_counts_cached_input_and_reprices_cache_reads() {
    // 300,000 input of which 100,000 cache reads: total input 300k > 200k, so >200k rates:
    // 200,000 x 2.5 = 0.5; 100,000 x 0.25 (cache read >200k) = 0.025; 1,000 x 15 = 0.015.
    // Total 0.54.
    let u = Usage {
        input_total: 300_000,
        cache_read: 100_000,
        output_total: 1_000,
        ..Usage::default()
    };
    assert_eq!(total("gemini-2.5-pro", Some("gcp.gemini"), &u, NOW), "0.54");
    // Same call on Vertex (same published rates): same total.
    assert_eq!(
        total("gemini-2.5-pro", Some("gcp.vertex_ai"), u, NOW),
        "0.54"
    );
}

#[test]
fn g08_claude_cache_read_and_5m_and_1h_writes() {
    // claude-sonnet-4-5: in $3, out $15, cache read $0.30, 5m write $3.75, 1h write $6.
    // 10,000 input = 1,000 uncached + 6,000 read + 2,000 5m write + 1,000 1h write.
    // 1,000 x 3 = 0.003; 6,000 x 0.3 = 0.0018; 2,000 x 3.75 = 0.0075; 1,000 x 6 = 0.006;
    // 500 out x 15 = 0.0075. Total 0.0258; cache writes 0.0135.
    let u = Usage {
        input_total: 10_000,
        cache_read: 6_000,
        cache_write_5m: 2_000,
        cache_write_1h: 1_000,
        output_total: 500,
        ..Usage::default()
    };
    let c = catalog();
    let p = price(&c, "claude-sonnet-4-5", Some("anthropic"), u, NOW, None);
    assert_eq!(p.cost.input, usd("0.003"));
    assert_eq!(p.cost.cache_read, usd("0.0018"));
    assert_eq!(p.cost.cache_write, usd("0.0135"));
    assert_eq!(p.cost.output, usd("0.0075"));
    assert_eq!(p.cost.total(), usd("0.0258"));
}

#[test]
fn g09_openai_cached_input_and_reasoning() {
    // o3 after the cut: in $2, cached $0.50, out $8 (reasoning billed as output).
    // 10,000 input with 4,000 cached: 6,000 x 2 = 0.012; 4,000 x 0.5 = 0.002.
    // 3,000 output with 2,000 reasoning: 1,000 x 8 = 0.008; 2,000 x 8 = 0.016.
    // Total 0.038.
    let u = Usage {
        input_total: 10_000,
        cache_read: 4_000,
        output_total: 3_000,
        reasoning: 2_000,
        ..Usage::default()
    };
    let c = catalog();
    let p = price(&c, "o3", Some("openai"), u, "2025-07-01", None);
    assert_eq!(p.cost.input, usd("0.012"));
    assert_eq!(p.cost.cache_read, usd("0.002"));
    assert_eq!(p.cost.output, usd("0.008"));
    assert_eq!(p.cost.reasoning, usd("0.016"));
    assert_eq!(p.cost.total(), usd("0.038"));
}

#[test]
fn g10_batch_is_half_price() {
    // gpt-4o-2024-08-06 batch: $1.25 in, $5 out. 1M + 1M = 6.25 (standard would be 12.5).
    let c = catalog();
    let u = io(1_000_000, 1_000_000);
    let p = price(
        &c,
        "gpt-4o-2024-08-06",
        None,
        &u,
        NOW,
        Some(ServiceTier::Batch),
    );
    assert_eq!(p.cost.total(), usd("6.25"));
    assert_eq!(p.applied.service_tier, Some(ServiceTier::Batch));
    assert_eq!(p.applied.label().as_deref(), Some("batch"));
    let std = price(&c, "gpt-4o-2024-08-06", None, &u, NOW, None);
    assert_eq!(std.cost.total(), usd("12.5"));
}

#[test]
fn g11_flex_and_priority_with_cached_input() {
    // o3 from 2025-06-10; 1M input of which 200k cached, 100k output.
    // standard: 800k x 2 = 1.6; 200k x 0.5 = 0.1; 100k x 8 = 0.8 -> 2.5
    // flex:     800k x 1 = 0.8; 200k x 0.25 = 0.05; 100k x 4 = 0.4 -> 1.25
    // priority: 800k x 3.5 = 2.8; 200k x 0.875 = 0.175; 100k x 14 = 1.4 -> 4.375
    let c = catalog();
    let u = Usage {
        input_total: 1_000_000,
        cache_read: 200_000,
        output_total: 100_000,
        ..Usage::default()
    };
    let at = "2025-07-01";
    let t = |tier| price(&c, "o3", None, &u, at, tier).cost.total();
    assert_eq!(t(None), usd("2.5"));
    assert_eq!(t(Some(ServiceTier::Flex)), usd("1.25"));
    assert_eq!(t(Some(ServiceTier::Priority)), usd("4.375"));
    assert_eq!(t(Some(ServiceTier::Batch)), usd("1.3")); // 0.8 + 200k x 0.5 = 0.1 + 0.4
}

#[test]
fn g12_service_tier_missing_from_the_price_in_force_falls_back_to_standard() {
    // o3 before the cut has no flex price: standard $10 in, $0.50 cached, $40 out.
    // 800k x 10 = 8; 200k x 0.5 = 0.1; 100k x 40 = 4 -> 12.1, and no service tier applied.
    let c = catalog();
    let u = Usage {
        input_total: 1_000_000,
        cache_read: 200_000,
        output_total: 100_000,
        ..Usage::default()
    };
    let p = price(&c, "o3", None, &u, "2025-06-01", Some(ServiceTier::Flex));
    assert_eq!(p.cost.total(), usd("12.1"));
    assert_eq!(p.applied.service_tier, None);
}

#[test]
fn g13_claude_sonnet_4_6_long_context_before_and_after_2026_03_13() {
    // 300k input, 10k output.
    // Before 2026-03-13 (>200k tier: $6 in, $22.50 out): 300k x 6 = 1.8; 10k x 22.5 = 0.225
    //   -> 2.025.
    // From 2026-03-13 (no tier; $3 in, $15 out): 300k x 3 = 0.9; 10k x 15 = 0.15 -> 1.05.
    let c = catalog();
    let u = io(300_000, 10_000);
    let before = price(&c, "claude-sonnet-4-6", None, &u, "2026-03-12", None);
    assert_eq!(before.cost.total(), usd("2.025"));
    assert_eq!(before.applied.above_input_tokens, Some(200_000));
    let after = price(&c, "claude-sonnet-4-6", None, &u, "2026-03-13", None);
    assert_eq!(after.cost.total(), usd("1.05"));
    assert_eq!(after.applied.above_input_tokens, None);
}

#[test]
fn g14_claude_sonnet_4_6_batch() {
    // Batch from the 2026-03-13 price: $1.50 in, $7.50 out. 1M + 1M -> 9.
    let c = catalog();
    let p = price(
        &c,
        "claude-sonnet-4-6",
        Some("anthropic"),
        io(1_000_000, 1_000_000),
        "2026-11-01",
        Some(ServiceTier::Batch),
    );
    assert_eq!(p.cost.total(), usd("9"));
}

#[test]
fn g15_bedrock_us_profile_costs_10_percent_more_than_global() {
    // Claude Sonnet 4.5 on Bedrock: us. profile $3.30 in / $16.50 out; global. $3 / $15.
    // 100k + 100k (below the 200k cliff): us. 0.33 + 1.65 = 1.98; global. 0.3 + 1.5 = 1.8.
    let u = io(100_000, 100_000);
    let us = "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let global = "bedrock/converse/global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(total(us, Some("aws.bedrock"), &u, NOW), "1.98");
    assert_eq!(total(global, Some("aws.bedrock"), &u, NOW), "1.8");
    // The same us. profile as an inference-profile ARN prices the same.
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(total(arn, None, &u, NOW), "1.98");
    // 1M + 1M crosses the cliff (>200k: us. $6.60 / $24.75): 6.6 + 24.75 = 31.35.
    assert_eq!(total(us, None, io(1_000_000, 1_000_000), NOW), "31.35");
}

#[test]
fn g16_azure_data_zone_price() {
    // azure/eu/gpt-4o-2024-08-06 (EU data zone): $2.75 in, $11 out.
    // 1000 x 2.75 = 0.00275; 500 x 11 = 0.0055 -> 0.00825 (global deployment: 0.0075).
    assert_eq!(
        total("azure/eu/gpt-4o-2024-08-06", None, io(1000, 500), NOW),
        "0.00825"
    );
    assert_eq!(
        total("azure/gpt-4o-2024-08-06", None, io(1000, 500), NOW),
        "0.0075"
    );
}

#[test]
fn g17_embedding_model() {
    // text-embedding-3-small: $0.02/M in, no output. 12,345 x 0.02 / 1e6 = 0.0002469.
    let c = catalog();
    let p = price(&c, "text-embedding-3-small", None, io(12_345, 0), NOW, None);
    assert_eq!(p.model.mode, "embedding");
    assert_eq!(p.cost.total(), usd("0.0002469"));
    // Batch embeddings: $0.01/M -> 0.00012345.
    let b = price(
        &c,
        "text-embedding-3-small",
        None,
        io(12_345, 0),
        NOW,
        Some(ServiceTier::Batch),
    );
    assert_eq!(b.cost.total(), usd("0.00012345"));
}

#[test]
fn g18_no_cache_read_rate_falls_back_to_input() {
    // gpt-3.5-turbo-0125 has no cache rates: cache reads and writes bill at input ($0.50).
    // 10,000 input = 4,000 uncached + 4,000 read + 2,000 written: 10,000 x 0.5 = 0.005;
    // 1,000 out x 1.5 = 0.0015. Total 0.0065.
    let u = Usage {
        input_total: 10_000,
        cache_read: 4_000,
        cache_write_5m: 2_000,
        output_total: 1_000,
        ..Usage::default()
    };
    let c = catalog();
    let p = price(&c, "gpt-3.5-turbo-0125", None, &u, NOW, None);
    assert_eq!(p.cost.input, usd("0.002"));
    assert_eq!(p.cost.cache_read, usd("0.002"));
    assert_eq!(p.cost.cache_write, usd("0.001"));
    assert_eq!(p.cost.total(), usd("0.0065"));
}

#[test]
fn g19_no_1h_write_rate_falls_back_to_5m() {
    // anthropic.claude-3-5-sonnet-20241022-v2:0 on Bedrock: 5m write $3.75, no 1h rate.
    // 4,000 1h writes x 3.75 = 0.015; 1,000 uncached x 3 = 0.003; 100 out x 15 = 0.0015.
    // Total 0.0195.
    let u = Usage {
        input_total: 5_000,
        cache_write_1h: 4_000,
        output_total: 100,
        ..Usage::default()
    };
    assert_eq!(
        total("anthropic.claude-3-5-sonnet-20241022-v2:0", None, &u, NOW),
        "0.0195"
    );
}

#[test]
fn g20_inconsistent_usage_never_goes_negative() {
    // claude-sonnet-4-5: more cache reads (500) than input (100), more reasoning (50) than
    // output (10). Uncached input and plain output clamp to 0; the parts that are there bill:
    // 500 x 0.3 = 0.00015; 50 x 15 = 0.00075. Total 0.0009.
    let u = Usage {
        input_total: 100,
        cache_read: 500,
        output_total: 10,
        reasoning: 50,
        ..Usage::default()
    };
    let c = catalog();
    let p = price(&c, "claude-sonnet-4-5", Some("anthropic"), u, NOW, None);
    assert_eq!(p.cost.input, Usd::ZERO);
    assert_eq!(p.cost.output, Usd::ZERO);
    assert_eq!(p.cost.cache_read, usd("0.00015"));
    assert_eq!(p.cost.reasoning, usd("0.00075"));
    assert_eq!(p.cost.total(), usd("0.0009"));
    // Saturating everywhere: absurd counts neither panic nor wrap.
    let huge = Usage {
        input_total: 1,
        cache_read: u64::MAX,
        cache_write_5m: u64::MAX,
        cache_write_1h: u64::MAX,
        output_total: 0,
        reasoning: u64::MAX,
        audio_in: u64::MAX,
        audio_out: u64::MAX,
        other: Default::default(),
    };
    let p = price(&c, "claude-sonnet-4-5", Some("anthropic"), huge, NOW, None);
    assert!(p.cost.total() > Usd::ZERO);
    assert_eq!(p.cost.input, Usd::ZERO);
}

#[test]
fn g21_audio_tokens() {
    // gpt-4o-audio-preview-2024-12-17: text $2.50/$10, audio in $40, audio out $80.
    // 1,000 input (600 audio): 400 x 2.5 = 0.001; 600 x 40 = 0.024.
    // 500 output (300 audio): 200 x 10 = 0.002; 300 x 80 = 0.024. Total 0.051.
    let u = Usage {
        input_total: 1_000,
        audio_in: 600,
        output_total: 500,
        audio_out: 300,
        ..Usage::default()
    };
    let c = catalog();
    let p = price(&c, "gpt-4o-audio-preview-2024-12-17", None, &u, NOW, None);
    assert_eq!(p.cost.audio_input, usd("0.024"));
    assert_eq!(p.cost.audio_output, usd("0.024"));
    assert_eq!(p.cost.total(), usd("0.051"));
}

#[test]
fn g22_fine_tune_rates() {
    // ft:gpt-4o-mini-2024-07-18: $0.30 in, $1.20 out (twice the base $0.15/$0.60).
    // 1M + 1M -> 1.5; the base model would be 0.75.
    let u = io(1_000_000, 1_000_000);
    assert_eq!(
        total("ft:gpt-4o-mini-2024-07-18:acme:support:9abc", None, &u, NOW),
        "1.5"
    );
    assert_eq!(total("gpt-4o-mini-2024-07-18", None, &u, NOW), "0.75");
}

#[test]
fn g23_gemini_batch_above_200k() {
    // gemini-2.5-pro batch >200k: $1.25 in, $7.50 out. 250,000 x 1.25 = 0.3125;
    // 1,000 x 7.5 = 0.0075 -> 0.32.
    let c = catalog();
    let p = price(
        &c,
        "gemini-2.5-pro",
        Some("gcp.gemini"),
        io(250_000, 1_000),
        NOW,
        Some(ServiceTier::Batch),
    );
    assert_eq!(p.cost.total(), usd("0.32"));
    assert_eq!(p.applied.label().as_deref(), Some("batch,input>200000"));
}

#[test]
fn g24_deepseek_cache_hits() {
    // deepseek-chat: $0.28 in, $0.028 cache hit, $0.42 out. 1M input with 500k hits:
    // 500k x 0.28 = 0.14; 500k x 0.028 = 0.014; 100k out x 0.42 = 0.042 -> 0.196.
    let u = Usage {
        input_total: 1_000_000,
        cache_read: 500_000,
        output_total: 100_000,
        ..Usage::default()
    };
    assert_eq!(total("deepseek-chat", None, &u, NOW), "0.196");
}

#[test]
fn g25_tiny_huge_and_zero_amounts_are_exact() {
    // One input token of gpt-4o-mini at $0.15/M = $0.00000015.
    assert_eq!(total("gpt-4o-mini", None, io(1, 0), NOW), "0.00000015");
    // Zero usage costs zero (a known model, not an error).
    assert_eq!(total("gpt-4o-mini", None, io(0, 0), NOW), "0");
    // 10^12 input tokens on claude-sonnet-4-5 (>200k tier, $6/M): 10^12 x 6 / 1e6 = 6,000,000.
    assert_eq!(
        total(
            "claude-sonnet-4-5",
            Some("anthropic"),
            io(1_000_000_000_000, 0),
            NOW
        ),
        "6000000"
    );
    // 1,000,000 calls of 7 tokens at $0.15/M sum to exactly 7M x 0.15 / 1e6 = $1.05.
    let c = catalog();
    let one = price(&c, "gpt-4o-mini", None, io(7, 0), NOW, None)
        .cost
        .total();
    let sum: Usd = std::iter::repeat_n(one, 1_000_000).sum();
    assert_eq!(sum, usd("1.05"));
}

// ---- Issue 15: charges beyond tokens (per-unit rates of catalog schema 2) ----

/// `input` / `output` tokens plus other units of the vocabulary, by id.
fn with_units(input: u64, output: u64, units: &[(&str, u64)]) -> Usage {
    let mut u = io(input, output);
    for (id, n) in units {
        u.set(id.parse().unwrap(), *n);
    }
    u
}

#[test]
fn i15_anthropic_web_search() {
    // Claude Opus 4.8: $5/M in, $25/M out; web search $10 per 1,000 searches (Anthropic's
    // pricing page, genai-prices `web_searches_kcount`). 10,000 x 5 / 1e6 = 0.05;
    // 1,000 x 25 / 1e6 = 0.025; 3 x 10 / 1000 = 0.03; total 0.105 (the bill; before
    // schema 2: 0.075).
    let c = catalog();
    let u = with_units(10_000, 1_000, &[("web_searches", 3)]);
    let p = price(
        &c,
        "claude-opus-4-8",
        Some("anthropic"),
        &u,
        "2026-12-01",
        None,
    );
    assert_eq!(p.cost.beyond().tool_calls, usd("0.03"));
    assert_eq!(p.cost.total(), usd("0.105"));
    // Without the searches: the token price alone.
    let p = price(
        &c,
        "claude-opus-4-8",
        Some("anthropic"),
        io(10_000, 1_000),
        "2026-12-01",
        None,
    );
    assert_eq!(p.cost.total(), usd("0.075"));
}

#[test]
fn i15_openai_web_and_file_search() {
    // gpt-4o-2024-08-06: $2.50/M in, $10/M out; web search tool calls $10 per 1,000, file
    // search tool calls $2.50 per 1,000 (OpenAI's pricing page, "Built-in tools").
    // 1,000 x 2.5 / 1e6 = 0.0025; 500 x 10 / 1e6 = 0.005; 2 x 10 / 1000 = 0.02;
    // 1 x 2.5 / 1000 = 0.0025; total 0.03.
    let c = catalog();
    let u = with_units(1_000, 500, &[("web_searches", 2), ("storage_searches", 1)]);
    let p = price(&c, "gpt-4o-2024-08-06", None, &u, NOW, None);
    assert_eq!(p.cost.beyond().tool_calls, usd("0.0225"));
    assert_eq!(p.cost.total(), usd("0.03"));
}

#[test]
fn i15_gemini_grounding() {
    // Gemini 2.5 Flash (Gemini API): $0.30/M in, $2.50/M out; grounding with Google Search
    // $35 per 1,000 grounded prompts. 1,000 x 0.3 / 1e6 = 0.0003; 100 x 2.5 / 1e6 = 0.00025;
    // 1 x 35 / 1000 = 0.035; total 0.03555.
    let c = catalog();
    let u = with_units(1_000, 100, &[("web_searches", 1)]);
    let p = price(&c, "gemini-2.5-flash", Some("gcp.gemini"), &u, NOW, None);
    assert_eq!(p.cost.total(), usd("0.03555"));
}

#[test]
fn i15_image_output_tokens() {
    // Gemini 2.5 Flash Image: $0.30/M in, $2.50/M text out, $30/M image out (one 1024x1024
    // image = 1,290 tokens = $0.039, Google's published per-image figure).
    // 100 x 0.3 / 1e6 = 0.00003; (1,400 - 1,290) x 2.5 / 1e6 = 0.000275;
    // 1,290 x 30 / 1e6 = 0.0387; total 0.039005.
    let c = catalog();
    let u = with_units(100, 1_400, &[("output_image_tokens", 1_290)]);
    let p = price(
        &c,
        "gemini-2.5-flash-image",
        Some("gcp.gemini"),
        &u,
        NOW,
        None,
    );
    assert_eq!(p.cost.beyond().media_output, usd("0.0387"));
    assert_eq!(p.cost.total(), usd("0.039005"));
}

#[test]
fn i15_audio_seconds() {
    // Voxtral Small (Mistral): $0.10/M in, $0.30/M out, audio input $0.004 per minute
    // ($0.24 per hour). 600 s x 0.24 / 3600 = 0.04; 100 x 0.3 / 1e6 = 0.00003; total 0.04003.
    let c = catalog();
    let u = with_units(0, 100, &[("input_audio_seconds", 600)]);
    let p = price(&c, "mistral/voxtral-small-2507", None, &u, NOW, None);
    assert_eq!(p.cost.beyond().per_unit, usd("0.04"));
    assert_eq!(p.cost.total(), usd("0.04003"));
}

#[test]
fn i15_per_request_fee() {
    // Perplexity Sonar: $1/M in, $1/M out, plus a request fee of $12 per 1,000 requests (the
    // high search-context fee genai-prices records). One call = one request:
    // 1,000 x 1 / 1e6 = 0.001; 1,000 x 1 / 1e6 = 0.001; 1 x 12 / 1000 = 0.012; total 0.014.
    let c = catalog();
    let p = price(&c, "perplexity/sonar", None, io(1_000, 1_000), NOW, None);
    assert_eq!(p.cost.beyond().per_unit, usd("0.012"));
    assert_eq!(p.cost.total(), usd("0.014"));
}

/// Prices a call in a request context (`key=value` pairs) at an RFC 3339 instant: the total
/// and the `cost.pricing.tier` label.
fn in_context(
    model: &str,
    usage: Usage,
    at: &str,
    pairs: &[(&str, &str)],
) -> (String, Option<String>) {
    let c = catalog();
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp();
    let mut ctx = otel_llm_cost::pricing::PriceContext::default();
    for (k, v) in pairs {
        ctx.set(k, v);
    }
    let p = c
        .price_in(model, None, &usage, at, &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    (p.cost.total().to_string(), p.applied.label())
}

#[test]
fn g40_claude_opus_fast_mode_doubles_the_price() {
    // Anthropic's Opus 4.8: standard 5 / 25 per M; fast mode (`speed: fast`) 10 / 50 per M
    // (genai-prices' variant). 10,000 in x 5 + 3,000 out x 25 = 0.05 + 0.075 = $0.125;
    // fast: 10,000 x 10 + 3,000 x 50 = 0.1 + 0.15 = $0.25 (the bill).
    let at = "2026-11-22T12:00:00Z";
    assert_eq!(
        in_context("claude-opus-4-8", io(10_000, 3_000), at, &[]),
        ("0.125".into(), None)
    );
    assert_eq!(
        in_context(
            "claude-opus-4-8",
            io(10_000, 3_000),
            at,
            &[("speed", "fast")]
        ),
        ("0.25".into(), Some("speed=fast".into()))
    );
    // A speed no variant names is priced at the standard rates, nothing applied.
    assert_eq!(
        in_context(
            "claude-opus-4-8",
            io(10_000, 3_000),
            at,
            &[("speed", "slow")]
        ),
        ("0.125".into(), None)
    );
}

#[test]
fn g41_priority_combined_with_the_272k_long_context_tier() {
    // OpenAI GPT-5.6 (price since 2026-08-21): priority 8 / 40 per M, above 272,000 input
    // tokens 16 / 60 per M (genai-prices' priority variant with its cliff; standard 4 / 20 and
    // 8 / 30 above). Below: 100,000 x 8 + 1,000 x 40 = 0.8 + 0.04 = $0.84.
    let at = "2026-11-22T12:00:00Z";
    let prio = [("service_tier", "priority")];
    assert_eq!(
        in_context("gpt-5.6", io(100_000, 1_000), at, &prio),
        ("0.84".into(), Some("priority".into()))
    );
    // Above: 300,000 x 16 + 1,000 x 60 = 4.8 + 0.06 = $4.86; standard above: 2.4 + 0.03.
    assert_eq!(
        in_context("gpt-5.6", io(300_000, 1_000), at, &prio),
        ("4.86".into(), Some("priority,input>272000".into()))
    );
    assert_eq!(
        in_context(
            "gpt-5.6",
            io(300_000, 1_000),
            at,
            &[("processing", "batch")]
        ),
        ("1.215".into(), Some("batch,input>272000".into())) // 300,000 x 4 + 1,000 x 15
    );
    assert_eq!(
        in_context("gpt-5.6", io(300_000, 1_000), at, &[]),
        ("2.43".into(), Some("input>272000".into()))
    );
    // LiteLLM's `*_above_272k_tokens_priority` fields (Azure AI GPT-5.5: priority 10 / 60,
    // above 272k 20 / 90 per M): 300,000 x 20 + 1,000 x 90 = 6 + 0.09 = $6.09.
    assert_eq!(
        in_context("azure_ai/gpt-5.5", io(300_000, 1_000), at, &prio),
        ("6.09".into(), Some("priority,input>272000".into()))
    );
}

#[test]
fn g42_deepseek_time_of_day_window_by_the_start_time_utc() {
    // DeepSeek V4 Flash (price since 2026-09-10): 0.15 / 0.6 per M; 01:00-04:00 and
    // 06:00-10:00 UTC 0.3 / 1.2 per M (genai-prices' time-of-day prices).
    // 1,000,000 in + 100,000 out: 0.15 + 0.06 = $0.21 at noon; 0.3 + 0.12 = $0.42 at 02:00.
    let u = || io(1_000_000, 100_000);
    assert_eq!(
        in_context("deepseek-v4-flash", u(), "2026-11-22T12:00:00Z", &[]),
        ("0.21".into(), None)
    );
    assert_eq!(
        in_context("deepseek-v4-flash", u(), "2026-11-22T02:00:00Z", &[]),
        ("0.42".into(), Some("utc=01:00-04:00".into()))
    );
    // The end is excluded; an offset instant is read in UTC (04:30+02:00 = 02:30 UTC).
    assert_eq!(
        in_context("deepseek-v4-flash", u(), "2026-11-22T04:00:00Z", &[]),
        ("0.21".into(), None)
    );
    assert_eq!(
        in_context("deepseek-v4-flash", u(), "2026-11-22T04:30:00+02:00", &[]),
        ("0.42".into(), Some("utc=01:00-04:00".into()))
    );
}

#[test]
fn g43_bedrock_opus_4_7_global_vs_geo_vs_in_region() {
    // AWS Bedrock Claude Opus 4.7: global cross-region profile 5 / 25 per M; geo profiles
    // (us., eu. ...) and in-region 10% more, 5.5 / 27.5 (genai-prices' regional model, from
    // the AWS price list API). 10,000 in + 3,000 out: global 0.05 + 0.075 = $0.125; geo and
    // in-region 0.055 + 0.0825 = $0.1375 (the bill; LiteLLM had 5 / 25 in-region).
    let at = "2026-11-22T12:00:00Z";
    let u = || io(10_000, 3_000);
    assert_eq!(
        in_context("global.anthropic.claude-opus-4-7-v1:0", u(), at, &[]).0,
        "0.125"
    );
    assert_eq!(
        in_context("us.anthropic.claude-opus-4-7-v1:0", u(), at, &[]).0,
        "0.1375"
    );
    assert_eq!(
        in_context("anthropic.claude-opus-4-7-v1:0", u(), at, &[]).0,
        "0.1375"
    );
}

// ---- Issue 15: operations beyond chat, priced by their units ----

#[test]
fn g44_image_generation_per_image_by_size_and_quality() {
    // gpt-image-1, quality medium, 1024x1024: $0.042 per image (OpenAI's pricing page, "Image
    // generation"; LiteLLM's `medium/1024-x-1024/gpt-image-1`, a price variant of the one
    // model). Two images: 2 x 0.042 = $0.084; with the prompt's 50 text tokens at $5/M
    // (50 x 5 / 1e6 = 0.00025): $0.08425.
    let images = with_units(0, 0, &[("output_images", 2)]);
    let medium = [("image_quality", "medium"), ("image_size", "1024x1024")];
    let at = "2026-11-22T12:00:00Z";
    let (total, tier) = in_context("gpt-image-1", images, at, &medium);
    assert_eq!(total, "0.084");
    assert_eq!(
        tier.as_deref(),
        Some("image_quality=medium,image_size=1024x1024")
    );
    let with_prompt = with_units(50, 0, &[("output_images", 2)]);
    assert_eq!(
        in_context("gpt-image-1", with_prompt, at, &medium).0,
        "0.08425"
    );
    // High quality, 1536x1024 (landscape): $0.25 per image.
    let one = with_units(0, 0, &[("output_images", 1)]);
    let high = [("image_quality", "high"), ("image_size", "1536x1024")];
    assert_eq!(in_context("gpt-image-1", one, at, &high).0, "0.25");
    // No size or quality said: no per-image price applies; the images are unpriced (counted
    // and named on the span), never $0 silently.
    let c = catalog();
    let p = price(
        &c,
        "gpt-image-1",
        None,
        with_units(0, 0, &[("output_images", 2)]),
        NOW,
        None,
    );
    assert_eq!(p.cost.total(), Usd::ZERO);
    assert_eq!(p.cost.beyond().unpriced, 1);
}

#[test]
fn g45_speech_characters_tts_1() {
    // tts-1: $15 per million characters (OpenAI's pricing page, "TTS"). A 64-character input:
    // 64 x 15 / 1e6 = $0.00096. tts-1-hd, $30/M: $0.00192.
    let u = with_units(0, 0, &[("input_characters", 64)]);
    assert_eq!(total("tts-1", Some("openai"), &u, NOW), "0.00096");
    assert_eq!(total("tts-1-hd", Some("openai"), &u, NOW), "0.00192");
}

#[test]
fn g46_transcription_audio_seconds_whisper_1() {
    // whisper-1: $0.006 per minute (OpenAI's pricing page), i.e. $0.36 per hour. Ten minutes
    // (600 s, the `usage.seconds` whisper returns): 600 x 0.36 / 3600 = $0.06. One second:
    // 0.36 / 3600 = $0.0001.
    let ten_min = with_units(0, 0, &[("input_audio_seconds", 600)]);
    assert_eq!(total("whisper-1", Some("openai"), &ten_min, NOW), "0.06");
    let one = with_units(0, 0, &[("input_audio_seconds", 1)]);
    assert_eq!(total("whisper-1", Some("openai"), &one, NOW), "0.0001");
}

#[test]
fn g47_rerank_searches_cohere() {
    // Cohere Rerank 3.5: $2.00 per 1,000 searches (Cohere's pricing page; LiteLLM
    // `input_cost_per_query` 0.002). Three searches: 3 x 2 / 1000 = $0.006; its tokens are
    // free (LiteLLM prices them at 0).
    let u = with_units(5_000, 0, &[("rerank_searches", 3)]);
    assert_eq!(total("rerank-v3.5", Some("cohere"), &u, NOW), "0.006");
}

#[test]
fn g48_ocr_pages_mistral() {
    // Mistral OCR (`mistral-ocr-latest`, price in force since 2026-06-23 in both sources):
    // $4 per 1,000 pages, $5 per 1,000 annotated pages; batch half: $2 and $2.50. Ten pages,
    // four of them annotated (annotated pages are part of the pages): 6 x 4 / 1000 +
    // 4 x 5 / 1000 = 0.024 + 0.02 = $0.044; batch: 6 x 2 / 1000 + 4 x 2.5 / 1000 = $0.022.
    let u = with_units(
        0,
        0,
        &[
            ("input_document_pages", 10),
            ("input_annotated_document_pages", 4),
        ],
    );
    let c = catalog();
    let p = price(
        &c,
        "mistral-ocr-latest",
        Some("mistral_ai"),
        &u,
        "2026-11-22",
        None,
    );
    assert_eq!(p.cost.total(), usd("0.044"));
    assert_eq!(p.cost.beyond().per_unit, usd("0.044"));
    let p = price(
        &c,
        "mistral-ocr-latest",
        Some("mistral_ai"),
        &u,
        "2026-11-22",
        Some(ServiceTier::Batch),
    );
    assert_eq!(p.cost.total(), usd("0.022"));
}

#[test]
fn g49_tokens_on_a_model_with_no_token_price_are_named_unpriced() {
    // whisper-1 has no token price (billed per second). A span carrying only tokens (a
    // library that recorded gpt-4o-transcribe-style usage) is not billed $0 silently: both
    // sides are counted unpriced and named.
    let c = catalog();
    let u = io(1_200, 240);
    let p = price(&c, "whisper-1", Some("openai"), &u, NOW, None);
    assert_eq!(p.cost.total(), Usd::ZERO);
    assert_eq!(p.cost.beyond().unpriced, 2);
    let ctx = otel_llm_cost::pricing::PriceContext::default();
    assert_eq!(
        p.price.unpriced_units(&u, &ctx, day(NOW)),
        ["input_tokens=1200", "output_tokens=240"]
    );
}
