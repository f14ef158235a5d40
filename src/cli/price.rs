//! `otel-llm-cost price MODEL --input N --output N ...`

use std::process::ExitCode;

use anyhow::bail;
use otel_llm_cost::pricing::{PriceContext, Priced, ServiceTier, Unit, Usage};
use otel_llm_cost::Usd;
use serde_json::json;

use super::PricingArgs;

#[derive(clap::Args)]
pub(crate) struct PriceArgs {
    /// Model id as your spans carry it (`gpt-4o-2024-08-06`, `bedrock/us.anthropic...`, ...).
    model: String,
    /// All input tokens, cache reads and writes included (as OpenAI and the OTel GenAI
    /// conventions count them).
    #[arg(long, default_value_t = 0)]
    input: u64,
    /// All output tokens, reasoning included.
    #[arg(long, default_value_t = 0)]
    output: u64,
    /// Input tokens read from the prompt cache (part of --input).
    #[arg(long, default_value_t = 0)]
    cache_read: u64,
    /// Input tokens written to the cache, 5-minute TTL (part of --input).
    #[arg(long, default_value_t = 0)]
    cache_write: u64,
    /// Input tokens written to the cache, 1-hour TTL (part of --input).
    #[arg(long = "cache-write-1h", default_value_t = 0)]
    cache_write_1h: u64,
    /// Reasoning tokens (part of --output).
    #[arg(long, default_value_t = 0)]
    reasoning: u64,
    /// Audio input tokens (part of --input).
    #[arg(long, default_value_t = 0)]
    audio_input: u64,
    /// Audio output tokens (part of --output).
    #[arg(long, default_value_t = 0)]
    audio_output: u64,
    /// Any unit of the usage vocabulary, `NAME=N` (repeatable): `web_searches=3`,
    /// `input_image_tokens=1290`, `cache_read_tokens=4000`, `input_audio_seconds=600`. Token
    /// units are parts of --input / --output as those count them (an `input_tokens=` or
    /// `output_tokens=` here sets the total itself).
    #[arg(long = "usage", value_name = "NAME=N")]
    usage: Vec<String>,
    /// When the call happened: YYYY-MM-DD or RFC 3339 (default: now). Picks the price in force.
    #[arg(long)]
    at: Option<String>,
    /// Service tier.
    #[arg(long, value_parser = ["batch", "flex", "priority"])]
    service_tier: Option<String>,
    /// Request context that selects a price variant, `KEY=VALUE` (repeatable): `speed=fast`,
    /// `service_tier=priority`, `processing=batch`, `route=mistral/eu`. A value the model has no
    /// price for is priced at the standard rates (a note says so).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Provider, to break ties (`openai`, `azure`, `aws.bedrock`, `gcp.vertex_ai` ...).
    #[arg(long)]
    provider: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Parses `YYYY-MM-DD` (midnight UTC) or RFC 3339 into Unix seconds.
pub(crate) fn parse_instant(s: &str) -> anyhow::Result<i64> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &day) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        // `time`'s message repeats its cause; one plain sentence is clearer.
        .map_err(|_| anyhow::anyhow!("--at '{s}': expected YYYY-MM-DD or an RFC 3339 time"))?;
    Ok(t.unix_timestamp())
}

pub(crate) fn run(pricing: &PricingArgs, a: PriceArgs) -> anyhow::Result<ExitCode> {
    let catalog = pricing.catalog()?;
    let at = match &a.at {
        Some(s) => parse_instant(s)?,
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let mut usage = Usage {
        input_total: a.input,
        cache_read: a.cache_read,
        cache_write_5m: a.cache_write,
        cache_write_1h: a.cache_write_1h,
        output_total: a.output,
        reasoning: a.reasoning,
        audio_in: a.audio_input,
        audio_out: a.audio_output,
        other: Default::default(),
    };
    let cached = a
        .cache_read
        .saturating_add(a.cache_write)
        .saturating_add(a.cache_write_1h)
        .saturating_add(a.audio_input);
    if cached > a.input {
        bail!("--cache-read + --cache-write + --cache-write-1h + --audio-input ({cached}) exceed --input ({}): --input counts all input tokens", a.input);
    }
    if a.reasoning.saturating_add(a.audio_output) > a.output {
        bail!(
            "--reasoning + --audio-output exceed --output ({}): --output counts all output tokens",
            a.output
        );
    }
    // After the flags' own checks (their messages name the flags).
    for item in &a.usage {
        let (unit, n) = parse_usage(item)?;
        usage.set(unit, n);
    }
    if !a.usage.is_empty() {
        if let Err(e) = usage.check_containment() {
            bail!("--usage: {e}");
        }
    }
    let mut ctx = PriceContext::tier(a.service_tier.as_deref().and_then(ServiceTier::parse));
    for item in &a.context {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => ctx.set(k, v),
            _ => bail!("--context '{item}': expected KEY=VALUE (e.g. speed=fast)"),
        }
    }
    let priced = match catalog.price_in(&a.model, a.provider.as_deref(), &usage, at, &ctx) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            let near = catalog.nearest(&a.model, 5);
            if !near.is_empty() {
                eprintln!("nearest catalog ids: {}", near.join(", "));
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(
                &priced,
                &usage,
                catalog.info().version.as_ref(),
                &ctx
            ))?
        );
    } else {
        print_table(&priced, &usage, catalog.info().version.as_ref(), &ctx, at);
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME=N`: a unit of the vocabulary and a non-negative integer count.
fn parse_usage(item: &str) -> anyhow::Result<(Unit, u64)> {
    let Some((name, n)) = item.split_once('=') else {
        bail!("--usage '{item}': expected NAME=N (e.g. web_searches=3)");
    };
    let unit: Unit = name
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--usage '{item}': {e}"))?;
    let n: u64 = n.trim().parse().map_err(|_| {
        anyhow::anyhow!("--usage '{item}': the count must be a non-negative integer")
    })?;
    Ok((unit, n))
}

fn to_json(p: &Priced<'_>, u: &Usage, version: &str, ctx: &PriceContext) -> serde_json::Value {
    let c = &p.cost;
    json!({
        "model": &*p.model.id,
        "provider": &*p.model.provider,
        "catalog": version,
        "effective_from": p.price.effective_from.map(|d| d.to_string()),
        "source": &*p.price.source,
        "tier": p.applied.label(),
        "service_tier_requested": ctx.service_tier.map(|t| t.as_str()),
        "context": ctx.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "variant": p.applied.variant.as_deref(),
        "usage": {
            "input_total": u.input_total, "cache_read": u.cache_read,
            "cache_write_5m": u.cache_write_5m, "cache_write_1h": u.cache_write_1h,
            "output_total": u.output_total, "reasoning": u.reasoning,
            "audio_input": u.audio_in, "audio_output": u.audio_out,
            "units": u.units().map(|(unit, n)| (unit.id().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        },
        "cost_usd": {
            "input": c.input.to_string(), "cache_read": c.cache_read.to_string(),
            "cache_write": c.cache_write.to_string(), "audio_input": c.audio_input.to_string(),
            "output": c.output.to_string(), "reasoning": c.reasoning.to_string(),
            "audio_output": c.audio_output.to_string(),
            "media_input": c.beyond().media_input.to_string(), "media_output": c.beyond().media_output.to_string(),
            "tool_calls": c.beyond().tool_calls.to_string(), "per_unit": c.beyond().per_unit.to_string(),
            "unpriced_units": c.beyond().unpriced,
            "prompt": c.prompt().to_string(), "completion": c.completion().to_string(),
            "total": c.total().to_string(),
        },
    })
}

fn print_table(p: &Priced<'_>, u: &Usage, version: &str, ctx: &PriceContext, at: i64) {
    let asked = ctx.service_tier;
    let (rates, _) = p.price.select(ctx, at).0.select(u.input_total);
    let c = &p.cost;
    let eff = p.price.effective_from.map_or_else(
        || "the start (no earlier price known)".to_owned(),
        |d| d.to_string(),
    );
    println!("model     {} ({})", p.model.id, p.model.provider);
    println!(
        "priced    catalog {version}, price in force from {eff}, source {}",
        p.price.source
    );
    if let Some(t) = p.applied.label() {
        println!("tier      {t}");
    }
    if let (Some(t), None, None) = (asked, p.applied.service_tier, &p.applied.variant) {
        println!("note      no {t} price in the catalog for this model: standard rates used");
    }
    if p.applied.variant.is_none() && !ctx.values.is_empty() {
        let given: Vec<String> = ctx.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if p.applied.service_tier.is_none() {
            println!(
                "note      no price variant for context {} in the catalog for this model: standard rates used",
                given.join(",")
            );
        }
    }
    println!();
    println!(
        "{:<16}{:>12}{:>14}{:>18}",
        "component", "tokens", "$ / 1M", "cost $"
    );
    let cached = u
        .cache_read
        .saturating_add(u.cache_write_5m)
        .saturating_add(u.cache_write_1h);
    let rows: [(&str, u64, String, Usd); 8] = [
        (
            "input",
            u.input_total
                .saturating_sub(cached)
                .saturating_sub(u.audio_in),
            rates.input.to_string(),
            c.input,
        ),
        (
            "cache read",
            u.cache_read,
            rates.cache_read().to_string(),
            c.cache_read,
        ),
        (
            "cache write 5m",
            u.cache_write_5m,
            rates.cache_write_5m().to_string(),
            rates.cache_write_5m().cost(u.cache_write_5m),
        ),
        (
            "cache write 1h",
            u.cache_write_1h,
            rates.cache_write_1h().to_string(),
            rates.cache_write_1h().cost(u.cache_write_1h),
        ),
        (
            "audio input",
            u.audio_in,
            rates.audio_input().to_string(),
            c.audio_input,
        ),
        (
            "output",
            u.output_total
                .saturating_sub(u.reasoning)
                .saturating_sub(u.audio_out),
            rates.output.to_string(),
            c.output,
        ),
        (
            "reasoning",
            u.reasoning,
            rates.reasoning().to_string(),
            c.reasoning,
        ),
        (
            "audio output",
            u.audio_out,
            rates.audio_output().to_string(),
            c.audio_output,
        ),
    ];
    for (name, tokens, rate, cost) in rows
        .iter()
        .filter(|r| r.1 > 0 || r.0 == "input" || r.0 == "output")
    {
        println!("{name:<16}{tokens:>12}{rate:>14}{:>18}", cost.to_string());
    }
    println!(
        "{:<16}{:>12}{:>14}{:>18}",
        "prompt",
        "",
        "",
        c.prompt().to_string()
    );
    println!(
        "{:<16}{:>12}{:>14}{:>18}",
        "completion",
        "",
        "",
        c.completion().to_string()
    );
    for (name, cost) in [
        ("media (in)", c.beyond().media_input),
        ("media (out)", c.beyond().media_output),
        ("tool calls", c.beyond().tool_calls),
        ("per unit", c.beyond().per_unit),
    ] {
        if !cost.is_zero() {
            println!("{name:<16}{:>12}{:>14}{:>18}", "", "", cost.to_string());
        }
    }
    for (unit, n) in u.other.iter() {
        println!("  {:<28}{n:>12}", unit.id());
    }
    if c.beyond().unpriced > 0 {
        println!(
            "note: {} unit(s) have no price for this model: the total may be short",
            c.beyond().unpriced
        );
    }
    println!(
        "{:<16}{:>12}{:>14}{:>18}",
        "total",
        u.input_total.saturating_add(u.output_total),
        "",
        c.total().to_string()
    );
}
