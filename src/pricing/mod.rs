//! The price catalog: loading, matching model ids as spans carry them, dated lookup and cost.
//!
//! ```text
//! model id + provider -> user aliases -> exact (case-insensitive) -> cache -> normalisation
//! ladder (exact on each form) -> patterns -> Model -> price_at(span start) -> Price::cost(usage)
//! ```

pub mod build;
mod file;
mod layers;
pub mod live;
mod matcher;
mod model;
mod overrides;
pub mod units;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use file::SourceFile;
pub use layers::PriceLayers;
pub(crate) use model::Interned;
pub use model::{
    AppliedTier, Beyond, CostBreakdown, Date, Model, OtherUnits, Price, PriceContext, PriceVariant,
    PriceWindow, RateSet, Rates, ServiceTier, Tier, Usage,
};
pub use units::Unit;

use matcher::Index;

/// Longest model id a span may carry to be priced: 512 bytes. Real ids are far shorter (the
/// longest catalog id is 76 bytes; a Bedrock application-inference-profile ARN behind a
/// `bedrock/converse/` prefix, or a full Vertex resource name, about 200); longer values are
/// taken as hostile or broken, and the span is `invalid_usage` naming the attribute, never
/// looked up (matching costs time linear in the id, and the id would be a cache key).
pub const MAX_MODEL_ID_BYTES: usize = 512;

/// The catalog data embedded in the binary.
pub(crate) const EMBEDDED_CATALOG: &str = include_str!("../../catalog/catalog.json");
/// Name used for the embedded catalog in error messages.
const EMBEDDED_NAME: &str = "<embedded catalog.json>";

/// Errors loading a catalog, an overrides file or a LiteLLM import. Each names the file, and where
/// it applies the entry and field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON / TOML.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// Parser message, with position.
        message: String,
    },
    /// A value failed validation.
    #[error("{file}: entry '{entry}': field '{field}': {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The model id or alias.
        entry: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Several problems; every one is listed.
    #[error("{} problems:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Many(Vec<CatalogError>),
}

impl CatalogError {
    fn from_list(v: Vec<CatalogError>) -> Result<(), CatalogError> {
        // One flat list: a layer's own `Many` is spliced in, not nested.
        let mut v: Vec<CatalogError> = v
            .into_iter()
            .flat_map(|e| match e {
                CatalogError::Many(inner) => inner,
                e => vec![e],
            })
            .collect();
        match v.len() {
            0 => Ok(()),
            1 => Err(v.remove(0)),
            _ => Err(CatalogError::Many(v)),
        }
    }
}

/// A model id that matched nothing in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model '{model}'")]
pub struct UnknownModel {
    /// The id as given.
    pub model: String,
}

/// Metadata of the loaded catalog.
#[derive(Debug, Clone)]
pub struct CatalogInfo {
    /// The catalog's version (its date, `2026.11.22`), written to `cost.pricing.catalog`.
    pub version: Arc<str>,
    /// Day the catalog was generated.
    pub generated: String,
    /// Public price sets it was built from.
    pub sources: Vec<SourceFile>,
    /// Generator notes.
    pub notes: Vec<String>,
    /// User files layered on top (overrides, imports), in load order.
    pub layers: Vec<String>,
    /// What those layers left out, counted with examples, each prefixed by its file
    /// (`<file>: LiteLLM entries skipped: mode 'realtime' (...): 55 (e.g. ...)`): a LiteLLM
    /// import skips what the catalog builder skips, for the same reasons.
    pub layer_notes: Vec<String>,
    /// Entries of those layers left out, all layers together (each counted in `layer_notes`).
    pub layers_left_out: u64,
}

/// A priced call: which model and price, and the cost.
#[derive(Debug, Clone)]
pub struct Priced<'a> {
    /// The catalog entry that matched.
    pub model: &'a Model,
    /// The price in force at the call's time.
    pub price: &'a Price,
    /// The cost by component.
    pub cost: CostBreakdown,
    /// Service tier and long-context tier that applied.
    pub applied: AppliedTier,
}

/// The price catalog: models with dated prices, and the matcher that finds them.
///
/// ```
/// use otel_llm_cost::{Catalog, pricing::Usage};
/// let catalog = Catalog::embedded().unwrap();
/// let usage = Usage { input_total: 1000, output_total: 500, ..Usage::default() };
/// let priced = catalog.price("gpt-4o-2024-08-06", None, &usage, 1_735_689_600, None).unwrap();
/// assert_eq!(priced.cost.total().to_string(), "0.0075");
/// ```
pub struct Catalog {
    info: CatalogInfo,
    models: Vec<Model>,
    index: Index,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("version", &self.info.version)
            .field("models", &self.models.len())
            .finish()
    }
}

impl Catalog {
    /// The embedded catalog, no user layers.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Catalog::builder().build()
    }

    /// A process-wide shared copy of the embedded catalog (parsed once).
    pub fn shared() -> Result<Arc<Catalog>, CatalogError> {
        static SHARED: OnceLock<Arc<Catalog>> = OnceLock::new();
        if let Some(c) = SHARED.get() {
            return Ok(c.clone());
        }
        let c = Arc::new(Catalog::embedded()?);
        Ok(SHARED.get_or_init(|| c).clone())
    }

    /// A builder: the embedded catalog plus user layers.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Catalog metadata.
    pub fn info(&self) -> &CatalogInfo {
        &self.info
    }

    /// All models.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Finds the model for an id as a span carries it. `provider` (any spelling) breaks ties
    /// between providers that serve the same id.
    pub fn resolve(&self, model: &str, provider: Option<&str>) -> Option<&Model> {
        self.index
            .resolve(&self.models, model, provider)
            .map(|i| &self.models[i as usize])
    }

    /// Bytes the model-resolution cache holds now: ids that needed the normalisation ladder,
    /// with the provider they were looked up with. Bounded (4 MiB, 16,384 entries; cleared when
    /// full), so a stream of distinct ids cannot grow it.
    pub fn resolve_cache_bytes(&self) -> usize {
        self.index.cache_bytes()
    }

    /// The model with exactly this catalog id (case-insensitive).
    pub fn get(&self, id: &str) -> Option<&Model> {
        self.index.by_id(id).map(|i| &self.models[i as usize])
    }

    /// Prices one call: `at_unix_seconds` is the call's start (picks the price in force).
    pub fn price(
        &self,
        model: &str,
        provider: Option<&str>,
        usage: &Usage,
        at_unix_seconds: i64,
        service_tier: Option<ServiceTier>,
    ) -> Result<Priced<'_>, UnknownModel> {
        self.price_in(
            model,
            provider,
            usage,
            at_unix_seconds,
            &PriceContext::tier(service_tier),
        )
    }

    /// Prices one call in a request context (service tier, speed, route, region ...): the
    /// price in force at `at_unix_seconds` (the call's start), its variant or time-of-day
    /// window as [`Price::select`] chooses.
    pub fn price_in(
        &self,
        model: &str,
        provider: Option<&str>,
        usage: &Usage,
        at_unix_seconds: i64,
        ctx: &PriceContext,
    ) -> Result<Priced<'_>, UnknownModel> {
        let m = self.resolve(model, provider).ok_or_else(|| UnknownModel {
            model: model.to_owned(),
        })?;
        let price = m.price_at(at_unix_seconds);
        let (cost, applied) = price.cost_in(usage, ctx, at_unix_seconds);
        Ok(Priced {
            model: m,
            price,
            cost,
            applied,
        })
    }

    /// Up to `n` catalog ids closest to `model`, for "did you mean" messages.
    pub fn nearest(&self, model: &str, n: usize) -> Vec<&str> {
        let q = model.to_ascii_lowercase();
        let mut scored: Vec<(f64, &str)> = self
            .models
            .iter()
            .map(|m| {
                let id = m.id.to_ascii_lowercase();
                let mut s = strsim::jaro_winkler(&q, &id);
                if id.contains(&q) || q.contains(&id) {
                    s += 0.2;
                }
                (s, &*m.id)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
        scored.into_iter().take(n).map(|(_, id)| id).collect()
    }

    /// Parses a catalog file in the embedded format (`catalog validate FILE`).
    pub fn from_catalog_json(name: &str, json: &str) -> Result<Catalog, CatalogError> {
        let (info, models) = load_catalog_json(name, json)?;
        Catalog::assemble(info, models, Vec::new(), HashMap::new())
    }

    fn assemble(
        info: CatalogInfo,
        models: Vec<Model>,
        user_first: Vec<u32>,
        aliases: HashMap<String, (String, String)>,
    ) -> Result<Catalog, CatalogError> {
        let index = Index::build(&models, &user_first, &aliases)?;
        Ok(Catalog {
            info,
            models,
            index,
        })
    }
}

fn load_catalog_json(name: &str, json: &str) -> Result<(CatalogInfo, Vec<Model>), CatalogError> {
    let f: file::CatalogFile = serde_json::from_str(json).map_err(|e| CatalogError::Syntax {
        file: name.to_owned(),
        message: e.to_string(),
    })?;
    // Schema 2 adds `units` (prices of the other units of the vocabulary) to rate sets; a
    // schema 1 file is a schema 2 file without them.
    if !(1..=2).contains(&f.schema) {
        return Err(CatalogError::Syntax {
            file: name.to_owned(),
            message: format!(
                "unsupported catalog schema {} (this build reads 1 and 2)",
                f.schema
            ),
        });
    }
    let mut errors = Vec::new();
    let mut models = Vec::with_capacity(f.models.len());
    for m in &f.models {
        match m.to_model(name) {
            Ok(m) => models.push(m),
            Err(e) => errors.push(e),
        }
    }
    CatalogError::from_list(errors)?;
    CatalogError::from_list(build::invariants(name, &models))?;
    Ok((
        CatalogInfo {
            version: f.catalog_version.into(),
            generated: f.generated,
            sources: f.sources,
            notes: f.notes,
            layers: Vec::new(),
            layer_notes: Vec::new(),
            layers_left_out: 0,
        },
        models,
    ))
}

/// The catalog under the layers, when not the embedded one.
enum Base {
    Json(String, String),
    File(PathBuf),
}

enum Layer {
    Overrides(PathBuf),
    OverridesStr(String, String),
    Litellm(PathBuf),
}

/// Builds a [`Catalog`]: the embedded data, then user layers in order (later wins). Nothing is
/// half-loaded: `build` either applies every layer or returns every problem found.
#[derive(Default)]
pub struct CatalogBuilder {
    base: Option<Base>,
    layers: Vec<Layer>,
    aliases: Vec<(String, String, String)>,
}

impl CatalogBuilder {
    /// Uses a catalog JSON file instead of the embedded one.
    pub fn with_base_catalog(mut self, name: impl Into<String>, json: impl Into<String>) -> Self {
        self.base = Some(Base::Json(name.into(), json.into()));
        self
    }

    /// Uses a catalog file (one written by `otel-llm-cost catalog build`) instead of the
    /// embedded one; read and checked when the catalog is built.
    pub fn with_catalog_file(mut self, path: impl AsRef<Path>) -> Self {
        self.base = Some(Base::File(path.as_ref().to_owned()));
        self
    }

    /// Adds an overrides file (TOML): own models, negotiated prices, aliases.
    pub fn with_overrides_file(mut self, path: impl AsRef<Path>) -> Self {
        self.layers.push(Layer::Overrides(path.as_ref().to_owned()));
        self
    }

    /// Adds overrides from a TOML string; `name` is used in error messages.
    pub fn with_overrides_toml(mut self, name: impl Into<String>, toml: impl Into<String>) -> Self {
        self.layers
            .push(Layer::OverridesStr(name.into(), toml.into()));
        self
    }

    /// Imports a LiteLLM-format JSON price map (`model_prices_and_context_window.json`).
    pub fn with_litellm_file(mut self, path: impl AsRef<Path>) -> Self {
        self.layers.push(Layer::Litellm(path.as_ref().to_owned()));
        self
    }

    /// Maps an opaque model name (an Azure deployment, a Bedrock application inference profile
    /// ARN) to a catalog id.
    pub fn with_alias(mut self, name: impl Into<String>, model_id: impl Into<String>) -> Self {
        self.aliases
            .push((name.into(), model_id.into(), "<builder>".to_owned()));
        self
    }

    /// Loads everything and builds the index.
    pub fn build(self) -> Result<Catalog, CatalogError> {
        let file_base;
        let (name, json) = match &self.base {
            Some(Base::Json(n, j)) => (n.clone(), j.as_str()),
            Some(Base::File(p)) => {
                file_base = read(p)?;
                (p.display().to_string(), file_base.as_str())
            }
            None => (EMBEDDED_NAME.to_owned(), EMBEDDED_CATALOG),
        };
        let (mut info, mut models) = load_catalog_json(&name, json)?;
        let mut user_first = Vec::new();
        let mut aliases: HashMap<String, (String, String)> = HashMap::new();
        let mut errors = Vec::new();
        for layer in &self.layers {
            let loaded = match layer {
                Layer::Overrides(p) => {
                    read(p).and_then(|s| overrides::parse_toml(&p.display().to_string(), &s))
                }
                Layer::OverridesStr(n, s) => overrides::parse_toml(n, s),
                Layer::Litellm(p) => {
                    read(p).and_then(|s| overrides::parse_litellm(&p.display().to_string(), &s))
                }
            };
            match loaded {
                Ok(l) => {
                    // A layer with problems still goes through the alias check below (so every
                    // problem is listed); the build then fails, so nothing is half-loaded.
                    errors.extend(l.errors);
                    info.layers.push(l.file.clone());
                    info.layers_left_out += l.left_out;
                    let file = &l.file;
                    info.layer_notes
                        .extend(l.notes.iter().map(|n| format!("{file}: {n}")));
                    for m in l.models {
                        overrides::merge(&mut models, &mut user_first, m);
                    }
                    for (k, v) in l.aliases {
                        aliases.insert(k.to_ascii_lowercase(), (v, l.file.clone()));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (k, v, src) in self.aliases {
            aliases.insert(k.to_ascii_lowercase(), (v, src));
        }
        // Alias targets must exist; checked here so they are reported with every other problem.
        let ids: std::collections::HashSet<String> =
            models.iter().map(|m| m.id.to_ascii_lowercase()).collect();
        let mut dangling: Vec<(&String, &(String, String))> = aliases
            .iter()
            .filter(|(_, (target, _))| !ids.contains(&target.to_ascii_lowercase()))
            .collect();
        dangling.sort();
        for (name, (target, file)) in dangling {
            errors.push(CatalogError::Invalid {
                file: file.clone(),
                entry: name.clone(),
                field: "aliases".into(),
                message: format!("target model '{target}' is not in the catalog"),
            });
        }
        CatalogError::from_list(errors)?;
        Catalog::assemble(info, models, user_first, aliases)
    }
}

fn read(p: &Path) -> Result<String, CatalogError> {
    std::fs::read_to_string(p).map_err(|source| CatalogError::Io {
        file: p.display().to_string(),
        source,
    })
}
