//! `otel-llm-cost catalog list|show|validate|info`

use std::process::ExitCode;

use anyhow::Context;
use otel_llm_cost::{Catalog, Model, Rates};

use super::PricingArgs;

#[derive(clap::Subcommand)]
pub(crate) enum CatalogCmd {
    /// List models (id, provider, mode, current input/output $ per 1M tokens).
    List {
        /// Only ids containing this text (case-insensitive).
        filter: Option<String>,
        /// Only this provider (`openai`, `aws.bedrock`, `azure` ...).
        #[arg(long)]
        provider: Option<String>,
    },
    /// Show one model as a span's id resolves: aliases, dated prices, tiers, notes.
    Show {
        /// Model id as a span carries it.
        model: String,
        /// Provider, to break ties.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Validate a file: an overrides TOML, a LiteLLM JSON map, or a catalog JSON.
    Validate {
        /// The file.
        file: std::path::PathBuf,
    },
    /// Catalog version, sources and counts.
    Info,
}

pub(crate) fn run(pricing: &PricingArgs, cmd: CatalogCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCmd::List { filter, provider } => {
            let catalog = pricing.catalog()?;
            let f = filter.map(|f| f.to_ascii_lowercase());
            let p = provider.map(|p| otel_llm_cost::canonical_provider(&p));
            let mut n = 0;
            for m in catalog.models() {
                if f.as_ref()
                    .is_some_and(|f| !m.id.to_ascii_lowercase().contains(f.as_str()))
                {
                    continue;
                }
                if p.as_ref().is_some_and(|p| *m.provider != **p) {
                    continue;
                }
                let last = m.prices.last().map(|p| &p.standard.rates);
                let (i, o) = last.map_or((String::new(), String::new()), |r| {
                    (r.input.to_string(), r.output.to_string())
                });
                println!(
                    "{:<60} {:<18} {:<10} {:>10} {:>10}",
                    m.id, m.provider, m.mode, i, o
                );
                n += 1;
            }
            eprintln!("{n} models ($ per 1M tokens: input, output; current price)");
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Show { model, provider } => {
            let catalog = pricing.catalog()?;
            match catalog.resolve(&model, provider.as_deref()) {
                Some(m) => {
                    show(m, &model);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: unknown model '{model}'");
                    eprintln!(
                        "nearest catalog ids: {}",
                        catalog.nearest(&model, 5).join(", ")
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        CatalogCmd::Validate { file } => validate(pricing, &file),
        CatalogCmd::Info => {
            let catalog = pricing.catalog()?;
            let info = catalog.info();
            let providers: std::collections::BTreeSet<&str> =
                catalog.models().iter().map(|m| &*m.provider).collect();
            println!("catalog {} (generated {})", info.version, info.generated);
            println!(
                "{} models, {} providers",
                catalog.models().len(),
                providers.len()
            );
            for s in &info.sources {
                println!(
                    "source  {} {} ({}, {}) sha256 {}",
                    s.package, s.version, s.license, s.file, s.sha256
                );
            }
            for l in &info.layers {
                println!("layer   {l}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(pricing: &PricingArgs, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let name = file.display().to_string();
    let is_toml = file.extension().is_some_and(|e| e == "toml");
    let is_catalog =
        !is_toml && text.contains("\"schema\"") && text.contains("\"catalog_version\"");
    let result = if is_catalog {
        Catalog::from_catalog_json(&name, &text)
            .map(|c| format!("catalog with {} models", c.models().len()))
    } else {
        // Validated on top of the configured layers (`--overrides` ...), as it would be used.
        let before = pricing.catalog()?.models().len();
        let b = pricing.builder()?;
        let b = if is_toml {
            b.with_overrides_file(file)
        } else {
            b.with_litellm_file(file)
        };
        b.build().map(|c| {
            let kind = if is_toml {
                "overrides"
            } else {
                "LiteLLM import"
            };
            format!(
                "{kind}: {} models after layering ({} new)",
                c.models().len(),
                c.models().len().saturating_sub(before)
            )
        })
    };
    match result {
        Ok(msg) => {
            println!("ok: {name}: {msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn rates_line(r: &Rates) -> String {
    r.fields()
        .iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(m: &Model, asked: &str) {
    println!("{} ({}, {})", m.id, m.provider, m.mode);
    if !m.id.eq_ignore_ascii_case(asked) {
        println!("  matched from '{asked}'");
    }
    if let Some(n) = &m.name {
        println!("  name: {n}");
    }
    let aliases: Vec<&str> = m.aliases().collect();
    if !aliases.is_empty() {
        println!("  aliases: {}", aliases.join(", "));
    }
    println!("  prices ($ per 1M tokens):");
    for p in &m.prices {
        let from = p
            .effective_from
            .map_or_else(|| "start".to_owned(), |d| d.to_string());
        println!(
            "    from {from} [{}]: {}",
            p.source,
            rates_line(&p.standard.rates)
        );
        for t in &p.standard.tiers {
            println!(
                "      input > {}: {}",
                t.above_input_tokens,
                rates_line(&t.rates)
            );
        }
        for (st, set) in &p.service_tiers {
            println!("      {st}: {}", rates_line(&set.rates));
            for t in &set.tiers {
                println!(
                    "        input > {}: {}",
                    t.above_input_tokens,
                    rates_line(&t.rates)
                );
            }
        }
    }
    for n in &m.notes {
        println!("  note: {n}");
    }
}
