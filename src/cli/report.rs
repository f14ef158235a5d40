//! `otel-llm-cost report [FILES|URLS...]`: cost report over exported traces or cost records.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use otel_llm_cost::{
    records::RecordWriter, report::GroupBy, report::ReportOptions, report::Reporter,
};

use super::PricingArgs;

/// Input errors listed on stderr (all are counted).
const SHOWN_ERRORS: usize = 20;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// Inputs: OTLP/JSON files (Collector `file` exporter lines or one document), Jaeger
    /// `/api/v3/traces` responses, our cost records (JSONL), `-` for stdin, or http:// URLs.
    /// Format detected per input. Default: stdin.
    #[arg(value_name = "FILES|URLS")]
    inputs: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Group traces by `trace` (list the top traces only), `root` (root span name), `service`,
    /// or any span attribute (`session.id`, `user.id` …), read on the root, else on the first
    /// span that has it.
    #[arg(long, value_name = "KEY", default_value = "trace")]
    group_by: GroupBy,
    /// Keep only the first N characters of the group key (runs named `nightly-2025-06-01-a`,
    /// `nightly-2025-06-01-b` group together with 18).
    #[arg(long, value_name = "N")]
    run_prefix: Option<usize>,
    /// Step of a call: this attribute on the call or its nearest ancestor (default: the name
    /// of the root's child the call descends from).
    #[arg(long, value_name = "KEY")]
    step_attr: Option<String>,
    /// List the N most expensive traces (`all`: every trace; memory grows with them).
    #[arg(long, value_name = "N|all", default_value = "10")]
    top: String,
    /// Budget of buffered spans of open traces, MiB (estimated). Past it the oldest traces are
    /// priced early and counted incomplete.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    buffer_mib: usize,
    /// Spans read after a trace's root before the trace is priced (room for stragglers).
    #[arg(long, value_name = "N", default_value_t = otel_llm_cost::report::DEFAULT_LINGER_SPANS)]
    linger_spans: u64,
    /// Also write cost records (JSONL: a line per call, then per trace) of every trace priced
    /// from spans to FILE (appended).
    #[arg(long, value_name = "FILE")]
    write_records: Option<std::path::PathBuf>,
    /// Re-price spans that already carry a cost (`llm.cost.total`, `gen_ai.usage.cost`).
    #[arg(long)]
    reprice: bool,
    /// No progress line on stderr (it is shown only when stderr is a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Write N spans of generated agent traces as OTLP/JSON lines to stdout, and exit.
    #[arg(long, hide = true, value_name = "N")]
    generate: Option<u64>,
    /// Seed of --generate.
    #[arg(long, hide = true, default_value_t = 1)]
    seed: u64,
}

pub(crate) fn run(pricing: &PricingArgs, a: ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(n) = a.generate {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        otel_llm_cost::internals::synth::write_otlp_json_lines(n, a.seed, &mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let top = match a.top.as_str() {
        "all" => None,
        n => Some(
            n.parse::<usize>()
                .with_context(|| format!("--top '{n}': expected a number or 'all'"))?,
        ),
    };
    let catalog = Arc::new(pricing.catalog()?);
    let mut opts = ReportOptions {
        group_by: a.group_by,
        run_prefix: a.run_prefix,
        step_attr: a.step_attr,
        top,
        buffer_bytes: a.buffer_mib.saturating_mul(1 << 20),
        linger_spans: a.linger_spans,
        progress: !a.no_progress,
        ..ReportOptions::default()
    };
    opts.engine.reprice_provided = a.reprice;
    let mut r = Reporter::new(catalog, opts);
    if let Some(p) = &a.write_records {
        let w =
            RecordWriter::open(p).with_context(|| format!("--write-records {}", p.display()))?;
        r = r.with_records_writer(w);
    }
    let inputs = if a.inputs.is_empty() {
        vec!["-".to_owned()]
    } else {
        a.inputs
    };
    for i in &inputs {
        r.read_input(i);
    }
    let errors: Vec<String> = r.errors().iter().map(ToString::to_string).collect();
    let error_count = r.error_count();
    let report = r.finish();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Table => report.write_table(&mut out)?,
        Format::Json => report.write_json(&mut out)?,
        Format::Csv => report.write_csv(&mut out)?,
    }
    out.flush()?;
    if error_count == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    for e in errors.iter().take(SHOWN_ERRORS) {
        eprintln!("error: {e}");
    }
    if error_count > SHOWN_ERRORS as u64 {
        eprintln!("... and {} more", error_count - SHOWN_ERRORS as u64);
    }
    eprintln!("{error_count} input problem(s): the report covers what could be read");
    Ok(ExitCode::from(2))
}
