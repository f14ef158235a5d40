//! Subcommands, one module each.

mod catalog;
mod price;
mod report;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use otel_llm_cost::{pricing::PriceLayers, Catalog};

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
        Ok(self.layers()?.build()?)
    }

    /// The layers the flags name (paths as given, relative to the working directory).
    pub(crate) fn layers(&self) -> anyhow::Result<PriceLayers> {
        Ok(PriceLayers {
            catalog_file: self.catalog.clone(),
            litellm: self.import_litellm.clone(),
            overrides: self.overrides.clone(),
            aliases: self.aliases()?,
        })
    }

    /// `--alias NAME=MODEL_ID` flags, parsed.
    pub(crate) fn aliases(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.alias
            .iter()
            .map(|a| {
                let (name, id) = a
                    .split_once('=')
                    .with_context(|| format!("--alias '{a}': expected NAME=MODEL_ID"))?;
                Ok((name.to_owned(), id.to_owned()))
            })
            .collect()
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
