//! `otel-llm-cost serve [--config FILE] [flags]`: the OTLP gateway.
//!
//! Precedence: flags > the config file > `OTEL_EXPORTER_OTLP_*` environment variables > defaults.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use otel_llm_cost::gateway::config::{
    parse_duration, redact_url, GatewayConfig, GrpcReceiverConfig, HttpReceiverConfig,
};
use otel_llm_cost::gateway::Gateway;

use super::PricingArgs;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (YAML, in the OTel Collector's style). Without it, defaults apply.
    #[arg(long, short = 'c', value_name = "FILE", env = "OTEL_LLM_COST_CONFIG")]
    config: Option<PathBuf>,
    /// OTLP/gRPC receiver address (enables it), e.g. `0.0.0.0:4317`.
    #[arg(long, value_name = "HOST:PORT")]
    grpc: Option<String>,
    /// OTLP/HTTP receiver address (enables it), e.g. `0.0.0.0:4318`.
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    /// `/metrics` and `/healthz` address; an empty string disables it.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// Downstream OTLP endpoint, e.g. `http://jaeger:4317`.
    #[arg(long, value_name = "URL")]
    exporter_endpoint: Option<String>,
    /// Downstream protocol.
    #[arg(long, value_name = "PROTOCOL", value_parser = ["grpc", "http/protobuf"])]
    exporter_protocol: Option<String>,
    /// Wait after a trace's root span before pricing it, e.g. `2s`, `500ms`.
    #[arg(long, value_name = "DURATION")]
    root_grace: Option<String>,
    /// Longest wait after a trace's first span, e.g. `30s`.
    #[arg(long, value_name = "DURATION")]
    trace_timeout: Option<String>,
    /// Log level: error, warn, info, debug, trace (`RUST_LOG` wins when set).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Validate the configuration, print what would run, and exit.
    #[arg(long)]
    check: bool,
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_owned();
    }
    std::env::current_dir().map_or_else(|_| p.to_owned(), |d| d.join(p))
}

/// Builds the configuration: file, then flags.
fn config(pricing: &PricingArgs, a: &ServeArgs) -> anyhow::Result<GatewayConfig> {
    let mut cfg = match &a.config {
        Some(p) => GatewayConfig::from_file(p)?,
        None => GatewayConfig::default(),
    };
    let protocols = &mut cfg.receivers.otlp.protocols;
    if let Some(g) = &a.grpc {
        protocols
            .grpc
            .get_or_insert_with(GrpcReceiverConfig::default)
            .endpoint = g.clone();
    }
    if let Some(h) = &a.http {
        protocols
            .http
            .get_or_insert_with(HttpReceiverConfig::default)
            .endpoint = h.clone();
    }
    if let Some(m) = &a.metrics {
        cfg.telemetry.metrics.endpoint = m.clone();
    }
    if let Some(e) = &a.exporter_endpoint {
        cfg.exporter.endpoint = Some(e.clone());
        cfg.exporter.traces_endpoint = None;
    }
    if let Some(p) = &a.exporter_protocol {
        cfg.exporter.protocol = Some(p.clone());
    }
    if let Some(d) = &a.root_grace {
        cfg.assembly.root_grace =
            parse_duration(d).map_err(|e| anyhow::anyhow!("--root-grace: {e}"))?;
    }
    if let Some(d) = &a.trace_timeout {
        cfg.assembly.trace_timeout =
            parse_duration(d).map_err(|e| anyhow::anyhow!("--trace-timeout: {e}"))?;
    }
    if let Some(l) = &a.log_level {
        cfg.telemetry.logs.level = l.clone();
    }
    // Price layers from the global flags come after the file's (later wins). Flag paths are
    // relative to the working directory, file paths to the file's directory.
    if let Some(c) = &pricing.catalog {
        cfg.pricing.catalog.file = Some(absolute(c));
    }
    cfg.pricing
        .litellm
        .extend(pricing.import_litellm.iter().map(|p| absolute(p)));
    cfg.pricing
        .overrides
        .extend(pricing.overrides.iter().map(|p| absolute(p)));
    cfg.pricing.aliases.extend(pricing.aliases()?);
    Ok(cfg)
}

fn init_logs(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("otel_llm_cost={level},warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn run(pricing: &PricingArgs, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(pricing, &a)?;
    let settings = cfg.resolve(&|k| std::env::var(k).ok())?;
    if a.check {
        println!("configuration OK");
        println!(
            "  grpc receiver:  {}",
            settings.grpc.map_or("disabled".into(), |a| a.to_string())
        );
        println!(
            "  http receiver:  {}",
            settings.http.map_or("disabled".into(), |a| a.to_string())
        );
        println!(
            "  metrics:        {}",
            settings
                .metrics
                .map_or("disabled".into(), |a| a.to_string())
        );
        // Secrets redacted as the logs redact them (userinfo; tokens and headers not shown).
        println!(
            "  exporter:       {} ({:?})",
            redact_url(&settings.exporter.url),
            settings.exporter.protocol
        );
        println!(
            "  catalog:        {}",
            settings
                .pricing
                .catalog
                .file
                .as_ref()
                .map_or_else(|| "embedded".to_owned(), |f| f.display().to_string())
        );
        println!(
            "  assembly:       root_grace {:?}, trace_timeout {:?}",
            settings.assembly.root_grace, settings.assembly.trace_timeout
        );
        let on = |b: bool| if b { "on" } else { "off" };
        println!(
            "  security:       grpc tls {}, http tls {}, bearer auth {}, metrics auth {}, exporter tls {}",
            on(settings.grpc_tls.is_some()),
            on(settings.http_tls.is_some()),
            on(settings.auth_token.is_some()),
            on(settings.metrics_auth_token.is_some()),
            on(settings.exporter.tls.enabled)
        );
        println!(
            "  export queue:   {}",
            settings.exporter.queue.directory.as_ref().map_or_else(
                || "in memory".to_owned(),
                |d| format!(
                    "persistent in {} (max {} bytes, fsync {})",
                    d.display(),
                    settings.exporter.queue.max_bytes,
                    settings.exporter.queue.fsync
                )
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    init_logs(&settings.log_level);
    otel_llm_cost::gateway::install_default_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(async move {
        let gw = Gateway::builder(settings).start().await?;
        // One machine-readable line: where it listens (ports may have been 0).
        let show = |a: Option<std::net::SocketAddr>| {
            a.map_or_else(|| "disabled".to_owned(), |a| a.to_string())
        };
        eprintln!(
            "otel-llm-cost: listening grpc={} http={} metrics={}",
            show(gw.grpc_addr()),
            show(gw.http_addr()),
            show(gw.metrics_addr())
        );
        anyhow::Ok(gw.run_until_signal().await)
    })?;
    let m = &report.metrics;
    let kept = if report.kept > 0 {
        format!(
            "; kept {} in the persistent queue for the next start",
            report.kept
        )
    } else {
        String::new()
    };
    eprintln!(
        "otel-llm-cost: received {} spans, exported {}, not delivered {} {:?}{kept}; lost {}",
        m.spans_received,
        m.spans_exported,
        m.not_delivered_total(),
        m.spans_not_delivered,
        report.lost()
    );
    // Spans refused on receipt as invalid (answered with partial success) were never accepted,
    // and spans the persistent queue keeps are replayed at the next start: reported above, not
    // a failure. Anything else accepted and not delivered is.
    Ok(if report.lost() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
