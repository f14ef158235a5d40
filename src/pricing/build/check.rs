//! Checks on a loaded catalog: the FORMAT.md rules the loader does not already enforce by
//! construction (every catalog file goes through them, built or given with `--catalog`), and the
//! "must-have facts" the embedded catalog is tested against.
//!
//! The loader itself refuses: unparsable or negative rates, more than 9 decimals, prices out of
//! date order, a missing input/output rate, tiers out of order, unknown service tiers and
//! regexes Rust cannot compile. Here: unique ids, known modes, and no `equals` alias shared by
//! two models of one provider.

use std::collections::{BTreeSet, HashMap};

use crate::pricing::{Catalog, CatalogError, Model, Price};

/// Modes a catalog model may have: the token modes, then [`UNIT_MODES`].
pub const MODES: [&str; 9] = [
    "chat",
    "completion",
    "responses",
    "embedding",
    "image_generation",
    "audio_transcription",
    "audio_speech",
    "rerank",
    "ocr",
];

/// Operations beyond chat (issue 15), priced by units of the vocabulary (images generated,
/// audio seconds, characters, rerank searches, document pages): a rate set of such a model may
/// have no token price (FORMAT.md).
pub const UNIT_MODES: [&str; 5] = [
    "image_generation",
    "audio_transcription",
    "audio_speech",
    "rerank",
    "ocr",
];

/// Providers the embedded catalog must cover.
pub const REQUIRED_PROVIDERS: [&str; 14] = [
    "openai",
    "anthropic",
    "gcp.gemini",
    "gcp.vertex_ai",
    "aws.bedrock",
    "azure.ai.openai",
    "mistral_ai",
    "deepseek",
    "x_ai",
    "groq",
    "cohere",
    "together_ai",
    "fireworks_ai",
    "openrouter",
];

/// Every invariant broken by `models`, as errors naming the file and the model.
pub(crate) fn invariants(file: &str, models: &[Model]) -> Vec<CatalogError> {
    let err = |entry: &str, field: &str, message: String| CatalogError::Invalid {
        file: file.to_owned(),
        entry: entry.to_owned(),
        field: field.to_owned(),
        message,
    };
    let mut errors = Vec::new();
    let mut ids: HashMap<String, &str> = HashMap::with_capacity(models.len());
    let mut aliases: HashMap<(&str, &str), &str> = HashMap::new();
    for m in models {
        if let Some(first) = ids.insert(m.id.to_ascii_lowercase(), &m.id) {
            errors.push(err(
                &m.id,
                "id",
                format!("id used twice (also '{first}', ids are case-insensitive)"),
            ));
        }
        if !MODES.contains(&m.mode.as_str()) {
            errors.push(err(
                &m.id,
                "mode",
                format!("unknown mode '{}' (expected {})", m.mode, MODES.join(", ")),
            ));
        }
        if !UNIT_MODES.contains(&m.mode.as_str()) {
            if let Some(i) = m.prices.iter().position(unit_only) {
                errors.push(err(
                    &format!("{}: prices[{i}]", m.id),
                    "input",
                    format!(
                        "a rate set without input and output (no token price) is only for the \
                         operations beyond chat ({}), not mode '{}'",
                        UNIT_MODES.join(", "),
                        m.mode
                    ),
                ));
            }
        }
        for a in m.aliases() {
            match aliases.insert((&m.provider, a), &m.id) {
                Some(other) if other != &*m.id => errors.push(err(
                    &m.id,
                    "match.equals",
                    format!(
                        "alias '{a}' is also an alias of '{other}' (provider {})",
                        m.provider
                    ),
                )),
                _ => {}
            }
        }
    }
    errors
}

/// `true` when some rate set of `p` has no token price.
fn unit_only(p: &Price) -> bool {
    let sets = std::iter::once(&p.standard)
        .chain(p.service_tiers.iter().map(|(_, s)| s))
        .chain(p.variants.iter().map(|v| &v.set))
        .chain(p.windows.iter().map(|w| &w.set));
    sets.flat_map(|s| std::iter::once(&s.rates).chain(s.tiers.iter().map(|t| &t.rates)))
        .any(|r| r.no_token_price)
}

/// One must-have fact: whether it holds, and what was found.
#[derive(Debug, Clone)]
pub struct Fact {
    /// Whether it holds.
    pub ok: bool,
    /// What was checked and found.
    pub message: String,
}

fn short(p: &Price) -> String {
    let r = &p.standard.rates;
    let from = p
        .effective_from
        .map_or_else(|| "start".to_owned(), |d| d.to_string());
    let mut s = format!("{from}: input={} output={}", r.input, r.output);
    for (k, v) in [
        ("cache_read", r.cache_read),
        ("cache_write_5m", r.cache_write_5m),
        ("cache_write_1h", r.cache_write_1h),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={v}"));
        }
    }
    if !p.standard.tiers.is_empty() {
        let t: Vec<String> = p
            .standard
            .tiers
            .iter()
            .map(|t| {
                format!(
                    ">{}: {}/{}",
                    t.above_input_tokens, t.rates.input, t.rates.output
                )
            })
            .collect();
        s.push_str(&format!(" tiers [{}]", t.join(", ")));
    }
    for (st, set) in &p.service_tiers {
        s.push_str(&format!(" {st} {}/{}", set.rates.input, set.rates.output));
    }
    s
}

fn history(m: Option<&Model>) -> String {
    m.map_or_else(
        || "missing".to_owned(),
        |m| m.prices.iter().map(short).collect::<Vec<_>>().join(" | "),
    )
}

/// Facts the embedded catalog must hold (each was once wrong somewhere): dated cuts, tiers,
/// service tiers, caching rates, regional prices and coverage.
pub fn must_have_facts(c: &Catalog) -> Vec<Fact> {
    let mut out = Vec::new();
    let mut fact = |ok: bool, message: String| out.push(Fact { ok, message });
    let get = |id: &str| c.models().iter().find(|m| &*m.id == id);
    let rate = |s: &str| crate::money::Rate::parse_per_mtok(s).ok();
    let date = |p: &Price| p.effective_from.map(|d| d.to_string());

    let o3 = get("o3");
    let o3_ok = o3.is_some_and(|m| {
        let h: Vec<_> = m
            .prices
            .iter()
            .map(|p| {
                (
                    date(p),
                    Some(p.standard.rates.input),
                    Some(p.standard.rates.output),
                )
            })
            .collect();
        &*m.provider == "openai"
            && h == [
                (None, rate("10"), rate("40")),
                (Some("2025-06-10".to_owned()), rate("2"), rate("8")),
            ]
    });
    fact(o3_ok, format!("o3 (openai): {}", history(o3)));

    let s46 = get("claude-sonnet-4-6");
    let s46_ok = s46.is_some_and(|m| {
        let (before, after): (Vec<&Price>, Vec<&Price>) = m
            .prices
            .iter()
            .partition(|p| date(p).is_none_or(|d| d.as_str() < "2026-03-13"));
        &*m.provider == "anthropic"
            && !before.is_empty()
            && before.iter().all(|p| {
                p.standard
                    .tiers
                    .iter()
                    .any(|t| t.above_input_tokens == 200_000)
            })
            && !after.is_empty()
            && after.iter().all(|p| p.standard.tiers.is_empty())
    });
    fact(
        s46_ok,
        format!("claude-sonnet-4-6 (anthropic): {}", history(s46)),
    );

    let gemini: Vec<&str> = c
        .models()
        .iter()
        .filter(|m| matches!(&*m.provider, "gcp.gemini" | "gcp.vertex_ai"))
        .filter(|m| m.id.rsplit('/').next() == Some("gemini-2.5-pro"))
        .filter(|m| {
            m.prices.last().is_some_and(|p| {
                p.standard.tiers.iter().any(|t| {
                    t.above_input_tokens == 200_000
                        && Some(t.rates.input) == rate("2.5")
                        && Some(t.rates.output) == rate("15")
                })
            })
        })
        .map(|m| &*m.id)
        .collect();
    fact(
        !gemini.is_empty(),
        format!("gemini-2.5-pro tier above 200000 (input 2.5, output 15): {gemini:?}"),
    );

    let g = get("gpt-4o-2024-08-06");
    let g_ok = g.and_then(|m| m.prices.last()).is_some_and(|p| {
        let r = &p.standard.rates;
        let batch = p
            .service_tiers
            .iter()
            .find(|(t, _)| t.as_str() == "batch")
            .map(|(_, s)| &s.rates);
        (
            Some(r.input),
            Some(r.output),
            r.cache_read,
            batch.map(|b| b.input),
            batch.map(|b| b.output),
        ) == (
            rate("2.5"),
            rate("10"),
            rate("1.25"),
            rate("1.25"),
            rate("5"),
        )
    });
    fact(
        g_ok,
        format!(
            "gpt-4o-2024-08-06: {}",
            g.and_then(|m| m.prices.last())
                .map_or_else(|| "missing".to_owned(), short)
        ),
    );

    let claude4: Vec<&str> = c
        .models()
        .iter()
        .filter(|m| &*m.provider == "anthropic")
        .filter(|m| {
            ["claude-opus-4", "claude-sonnet-4", "claude-haiku-4"]
                .iter()
                .any(|p| m.id.starts_with(p))
        })
        .filter(|m| {
            m.prices.last().is_some_and(|p| {
                let r = &p.standard.rates;
                r.cache_read.is_some() && r.cache_write_5m.is_some() && r.cache_write_1h.is_some()
            })
        })
        .map(|m| &*m.id)
        .collect();
    fact(
        !claude4.is_empty(),
        format!(
            "Anthropic Claude 4.x with cache_read+cache_write_5m+cache_write_1h: {} e.g. {:?}",
            claude4.len(),
            &claude4[..claude4.len().min(3)]
        ),
    );

    let current_input = |m: &Model| m.prices.last().map(|p| p.standard.rates.input);
    let pairs: Vec<String> = c
        .models()
        .iter()
        .filter(|m| &*m.provider == "aws.bedrock" && m.id.starts_with("us.anthropic.claude-"))
        .filter_map(|m| {
            let global = get(&format!("global.{}", &m.id[3..]))?;
            let (us, gl) = (current_input(m)?, current_input(global)?);
            (us != gl).then(|| format!("{} {us} vs global {gl}", m.id))
        })
        .collect();
    fact(
        !pairs.is_empty(),
        format!(
            "Bedrock us. vs global. priced differently: {} e.g. {:?}",
            pairs.len(),
            &pairs[..pairs.len().min(2)]
        ),
    );

    let az = get("azure/eu/gpt-4o-2024-08-06");
    fact(
        az.is_some_and(|m| &*m.provider == "azure.ai.openai"),
        format!(
            "azure/eu/gpt-4o-2024-08-06: {}",
            az.map_or_else(|| "missing".to_owned(), |m| m.provider.to_string())
        ),
    );
    let ft = get("ft:gpt-4o-mini-2024-07-18");
    fact(
        ft.is_some(),
        format!(
            "ft:gpt-4o-mini-2024-07-18: {}",
            if ft.is_some() { "present" } else { "missing" }
        ),
    );

    let mut per_provider: HashMap<&str, usize> = HashMap::new();
    for m in c.models() {
        *per_provider.entry(&m.provider).or_default() += 1;
    }
    let missing: Vec<&str> = REQUIRED_PROVIDERS
        .iter()
        .copied()
        .filter(|p| !per_provider.contains_key(p))
        .collect();
    fact(
        c.models().len() >= 2000 && per_provider.len() >= 30 && missing.is_empty(),
        format!(
            "{} models, {} providers; missing required: {missing:?}",
            c.models().len(),
            per_provider.len()
        ),
    );

    let geo: BTreeSet<&str> = c
        .models()
        .iter()
        .filter(|m| &*m.provider == "aws.bedrock")
        .filter_map(|m| m.id.split('.').next())
        .filter(|p| ["us", "eu", "apac", "global", "jp", "au"].contains(p))
        .collect();
    fact(
        ["us", "eu", "apac", "global"]
            .iter()
            .all(|g| geo.contains(g)),
        format!("Bedrock geography profiles: {geo:?}"),
    );
    let zones: BTreeSet<&str> = c
        .models()
        .iter()
        .filter(|m| &*m.provider == "azure.ai.openai" && m.id.matches('/').count() >= 2)
        .filter_map(|m| m.id.split('/').nth(1))
        .collect();
    fact(
        ["eu", "us", "global"].iter().all(|z| zones.contains(z)),
        format!("Azure data zones: {zones:?}"),
    );
    out
}
