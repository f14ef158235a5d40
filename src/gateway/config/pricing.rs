//! `pricing:` — the price layers on top of the catalog, and what is written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use std::time::Duration;

use super::values::{duration, BaseDir};
use crate::engine::{ExtractOptions, InputCounting};

/// `inclusive` or `exclusive` (does the input token count include cache tokens?).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counting {
    /// Input includes cache reads and writes.
    Inclusive,
    /// Input excludes them.
    Exclusive,
}

impl From<Counting> for InputCounting {
    fn from(c: Counting) -> Self {
        match c {
            Counting::Inclusive => InputCounting::Inclusive,
            Counting::Exclusive => InputCounting::Exclusive,
        }
    }
}

/// `pricing.input_counting:` — force how input tokens are counted instead of the heuristics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputCountingConfig {
    /// Instrumentation scope name -> `inclusive` | `exclusive`. Default: empty.
    pub by_scope: BTreeMap<String, Counting>,
    /// Provider (any spelling; canonicalised) -> `inclusive` | `exclusive`. Default: empty.
    pub by_provider: BTreeMap<String, Counting>,
}

/// `pricing.catalog:` — the catalog under the price layers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// A catalog file written by `otel-llm-cost catalog build`, used instead of the embedded
    /// catalog. Relative paths are resolved against the config file's directory. Default: none
    /// (the embedded catalog). With `sources`, the fallback when neither the sources nor the
    /// cache give a catalog.
    pub file: Option<PathBuf>,
    // Live prices (issue 16; validated and run by catalog_refresh.rs).
    /// Upstream price feeds the catalog is built from at start and on each refresh, instead of
    /// the embedded one: at most one `{format: genai-prices, url|path}` and one `{format:
    /// litellm, url|path}` (one alone: a catalog of that feed's models). Default: none (the
    /// embedded catalog or `file`; SIGHUP still re-reads the overrides and LiteLLM imports).
    pub sources: Vec<crate::gateway::catalog_refresh::SourceConfig>,
    /// Between two refreshes from the sources; `0s`: only at start. Default: `24h`.
    #[serde(deserialize_with = "duration")]
    pub refresh_interval: Duration,
    /// Directory of the last good built catalog (`catalog.json`), used at start when a source
    /// is unreachable. Relative paths are resolved against the config file's directory.
    /// Default: none (no cache).
    pub cache_dir: Option<PathBuf>,
    /// Bound on fetching one source (connection, answer, each read). Default: `60s`.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            file: None,
            sources: Vec::new(),
            refresh_interval: crate::pricing::live::DEFAULT_REFRESH_INTERVAL,
            cache_dir: None,
            timeout: crate::pricing::live::DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// `pricing:` — price layers on top of the embedded catalog, and what is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// The catalog under the layers. Default: the embedded one.
    pub catalog: CatalogConfig,
    /// Overrides files (TOML), applied in order, later wins. Relative paths are resolved against
    /// the config file's directory. Default: none.
    pub overrides: Vec<PathBuf>,
    /// LiteLLM-format JSON price maps to import, applied before the overrides. Default: none.
    pub litellm: Vec<PathBuf>,
    /// Opaque model names (Azure deployments, Bedrock profile ARNs) -> catalog id.
    /// Default: none.
    pub aliases: BTreeMap<String, String>,
    /// Prefix of the attributes written. Default: `cost.`.
    pub prefix: String,
    /// Re-price spans that already carry a cost. Default: `false`.
    pub reprice_provided: bool,
    /// Input-counting switches. Default: heuristics only.
    pub input_counting: InputCountingConfig,
}

impl Default for PricingConfig {
    fn default() -> Self {
        PricingConfig {
            catalog: CatalogConfig::default(),
            overrides: Vec::new(),
            litellm: Vec::new(),
            aliases: BTreeMap::new(),
            prefix: crate::semconv::DEFAULT_PREFIX.to_owned(),
            reprice_provided: false,
            input_counting: InputCountingConfig::default(),
        }
    }
}

impl PricingConfig {
    /// Validates `pricing:`, resolving its files against `base`.
    pub(super) fn resolve(&self, base: BaseDir<'_>, problems: &mut Vec<String>) -> PricingConfig {
        let mut pricing = self.clone();
        for f in pricing
            .overrides
            .iter_mut()
            .chain(pricing.litellm.iter_mut())
            .chain(pricing.catalog.file.iter_mut())
            .chain(pricing.catalog.cache_dir.iter_mut())
            .chain(
                pricing
                    .catalog
                    .sources
                    .iter_mut()
                    .filter_map(|s| s.path.as_mut()),
            )
        {
            *f = base.resolve(f);
        }
        crate::gateway::catalog_refresh::check(&pricing.catalog, problems);
        for (name, id) in &pricing.aliases {
            if name.trim().is_empty() || id.trim().is_empty() {
                problems.push(format!(
                    "pricing.aliases: '{name}' -> '{id}': name and id must be non-empty"
                ));
            }
        }
        pricing
    }

    /// The engine's extraction switches.
    pub(crate) fn extract_options(&self) -> ExtractOptions {
        let mut o = ExtractOptions::default();
        for (k, v) in &self.input_counting.by_scope {
            o.by_scope.insert(k.clone(), (*v).into());
        }
        for (k, v) in &self.input_counting.by_provider {
            o.by_provider
                .insert(crate::provider::canonical(k).to_string(), (*v).into());
        }
        o
    }
}
