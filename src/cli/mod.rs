//! Subcommands, one module each.

mod catalog;
mod price;
mod report;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use otel_llm_cost::{Catalog, CatalogBuilder};

/// Put dollar costs on OpenTelemetry traces of LLM applications.
#[derive(Parser)]
#[command(name = "otel-llm-cost", version, about)]
struct Cli {
    #[command(flatten)]
    pricing: PricingArgs,
    #[command(subcommand)]
    command: Command,
}

/// Price layers shared by every subcommand.
#[derive(clap::Args, Clone, Default)]
pub(crate) struct PricingArgs {
    /// A catalog file (written by `catalog build`) to use instead of the embedded catalog.
    #[arg(long = "catalog", global = true, value_name = "FILE")]
    catalog: Option<std::path::PathBuf>,
    /// Overrides file (TOML): own models, negotiated prices, aliases. Repeatable; later wins.
    #[arg(
        long = "overrides",
        global = true,
        value_name = "FILE",
        env = "OTEL_LLM_COST_OVERRIDES"
    )]
    overrides: Vec<std::path::PathBuf>,
    /// Import a LiteLLM-format JSON price map. Repeatable.
    #[arg(long = "import-litellm", global = true, value_name = "FILE")]
    import_litellm: Vec<std::path::PathBuf>,
    /// Map an opaque model name (Azure deployment, Bedrock profile ARN) to a catalog id.
    #[arg(long = "alias", global = true, value_name = "NAME=MODEL_ID")]
    alias: Vec<String>,
}

impl PricingArgs {
    pub(crate) fn catalog(&self) -> anyhow::Result<Catalog> {
        Ok(self.builder()?.build()?)
    }

    /// The embedded catalog with the user's layers and aliases, not yet built.
    pub(crate) fn builder(&self) -> anyhow::Result<CatalogBuilder> {
        let mut b = Catalog::builder();
        if let Some(c) = &self.catalog {
            b = b.with_catalog_file(c);
        }
        for p in &self.import_litellm {
            b = b.with_litellm_file(p);
        }
        for p in &self.overrides {
            b = b.with_overrides_file(p);
        }
        for a in &self.alias {
            let (name, id) = a
                .split_once('=')
                .with_context(|| format!("--alias '{a}': expected NAME=MODEL_ID"))?;
            b = b.with_alias(name, id);
        }
        Ok(b)
    }
}

#[derive(Subcommand)]
enum Command {
    /// What an LLM call costs: breakdown, total, and which catalog entry and date priced it.
    Price(price::PriceArgs),
    /// Inspect and validate price catalogs.
    #[command(subcommand)]
    Catalog(catalog::CatalogCmd),
    /// Run the OTLP gateway: receive traces, price whole traces, export OTLP downstream.
    Serve(serve::ServeArgs),
    /// Cost report over exported traces (OTLP/JSON, Jaeger) or cost records.
    Report(report::ReportArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Price(a) => price::run(&cli.pricing, a),
        Command::Catalog(c) => catalog::run(&cli.pricing, c),
        Command::Serve(a) => serve::run(&cli.pricing, a),
        Command::Report(a) => report::run(&cli.pricing, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
