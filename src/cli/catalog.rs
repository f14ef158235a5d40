//! `otel-llm-cost catalog list|show|validate|info|build|diff`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use otel_llm_cost::pricing::build::{self as catalog_build, CatalogDiff, Input};
use otel_llm_cost::{pricing::Date, pricing::Model, pricing::Rates, Catalog};

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
    /// Build a catalog from LiteLLM's price map and genai-prices' v2 feed (files or URLs).
    ///
    /// The result is checked like any catalog (it is not written if it breaks the rules); a
    /// summary, the notes and the embedded catalog's must-have facts go to stderr.
    Build {
        /// LiteLLM's `model_prices_and_context_window.json`: a path or an http(s) URL.
        #[arg(long, value_name = "PATH|URL")]
        litellm: String,
        /// genai-prices' v2 feed (`prices/new_data/v2/data.json`): a path or an http(s) URL.
        #[arg(long = "genai-prices", value_name = "PATH|URL")]
        genai_prices: String,
        /// Where to write the catalog (replaced atomically).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// LiteLLM version the map comes from, recorded in the catalog's sources.
        #[arg(long, value_name = "VERSION", default_value = "unknown")]
        litellm_version: String,
        /// genai-prices version the feed comes from, recorded in the catalog's sources.
        #[arg(long, value_name = "VERSION", default_value = "unknown")]
        genai_prices_version: String,
        /// The catalog's date (its version, and the day that picks genai-prices' price "now").
        /// Default: today (UTC). Fix it for reproducible output.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Longest wait for each URL, e.g. `60s`.
        #[arg(long, value_name = "DURATION", default_value = "60s")]
        timeout: String,
    },
    /// What changed between two catalog files: models added and removed, rates changed.
    Diff {
        /// The old catalog.
        old: PathBuf,
        /// The new catalog.
        new: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(pricing: &PricingArgs, cmd: CatalogCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCmd::List { filter, provider } => {
            let catalog = pricing.catalog()?;
            let f = filter.map(|f| f.to_ascii_lowercase());
            let p = provider.map(|p| otel_llm_cost::provider::canonical(&p));
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
        CatalogCmd::Build {
            litellm,
            genai_prices,
            output,
            litellm_version,
            genai_prices_version,
            date,
            timeout,
        } => {
            let timeout = otel_llm_cost::gateway::config::parse_duration(&timeout)
                .map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
            let date: Date = match date {
                Some(d) => d
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--date '{d}': {e}"))?,
                None => today()?,
            };
            let l = catalog_build::read_input(&litellm, timeout)?;
            let g = catalog_build::read_input(&genai_prices, timeout)?;
            let built = catalog_build::build(
                Input {
                    name: &litellm,
                    text: &l,
                    version: &litellm_version,
                },
                Input {
                    name: &genai_prices,
                    text: &g,
                    version: &genai_prices_version,
                },
                date,
            )?;
            write_atomically(&output, built.json.as_bytes())?;
            summary(&built.catalog);
            eprintln!("written: {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Diff { old, new, json } => {
            let load = |p: &Path| -> anyhow::Result<Catalog> {
                Ok(Catalog::builder().with_catalog_file(p).build()?)
            };
            let d = CatalogDiff::between(&load(&old)?, &load(&new)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{d}");
            }
            Ok(ExitCode::SUCCESS)
        }
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
            for n in &info.layer_notes {
                println!("left    {n}");
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
        let b = pricing.layers()?.builder();
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
            let mut msg = format!(
                "{kind}: {} models after layering ({} new)",
                c.models().len(),
                c.models().len().saturating_sub(before)
            );
            // What the file left out, and why (a LiteLLM import skips what the builder skips).
            let own = format!("{name}: ");
            for n in &c.info().layer_notes {
                if let Some(n) = n.strip_prefix(&own) {
                    msg.push_str("\n  left out: ");
                    msg.push_str(n);
                }
            }
            msg
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

/// Today (UTC).
fn today() -> anyhow::Result<Date> {
    Date::today().context("system clock out of range")
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    otel_llm_cost::pricing::live::write_atomically(path, bytes)
        .with_context(|| format!("{}", path.display()))
}

/// Counts, notes and the must-have facts of a built catalog, to stderr.
fn summary(c: &Catalog) {
    let mut per: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for m in c.models() {
        *per.entry(&m.provider).or_default() += 1;
    }
    eprintln!(
        "catalog {}: {} models, {} providers",
        c.info().version,
        c.models().len(),
        per.len()
    );
    let mut by_count: Vec<(&str, usize)> = per.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let line: Vec<String> = by_count.iter().map(|(p, n)| format!("{p}={n}")).collect();
    eprintln!("per provider: {}", line.join(", "));
    eprintln!("notes ({}):", c.info().notes.len());
    for n in &c.info().notes {
        eprintln!("  - {n}");
    }
    eprintln!("must-have facts of the embedded catalog:");
    for f in catalog_build::must_have_facts(c) {
        eprintln!("  {} {}", if f.ok { "ok  " } else { "FAIL" }, f.message);
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
