//! What a catalog in use is built from: a base catalog and the user's layers on top, in one
//! fixed order. The CLI (`--catalog`, `--import-litellm`, `--overrides`, `--alias`), the gateway
//! (`pricing:` section) and the in-process builders describe their prices with this one value
//! and build it with [`PriceLayers::build`]; a refresh of the base catalog at run time re-runs
//! the same layers on the new base with [`PriceLayers::build_on`].
//!
//! ```text
//! base (catalog file | embedded | a catalog given as text) -> LiteLLM imports -> overrides files
//!   -> aliases -> Catalog (every problem of every layer reported at once; nothing half-loaded)
//! ```

use std::path::PathBuf;

use super::{Catalog, CatalogBuilder, CatalogError};

/// The price layers of a catalog: which base catalog, which files on top, which aliases.
///
/// Order is fixed whatever order the parts were given in: the base, then the LiteLLM imports,
/// then the overrides files (each list in its own order, later wins), then the aliases.
///
/// ```
/// use otel_llm_cost::pricing::PriceLayers;
/// let layers = PriceLayers {
///     aliases: vec![("prod-gpt4o".into(), "gpt-4o-2024-08-06".into())],
///     ..PriceLayers::default()
/// };
/// let catalog = layers.build().unwrap();
/// assert_eq!(&*catalog.resolve("prod-gpt4o", None).unwrap().id, "gpt-4o-2024-08-06");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceLayers {
    /// A catalog file (written by `otel-llm-cost catalog build`) to use instead of the embedded
    /// catalog. Default: none (the embedded catalog).
    pub catalog_file: Option<PathBuf>,
    /// LiteLLM-format JSON price maps to import, in order. Default: none.
    pub litellm: Vec<PathBuf>,
    /// Overrides files (TOML): own models, negotiated prices, aliases; in order, after the
    /// imports. Default: none.
    pub overrides: Vec<PathBuf>,
    /// Opaque model names (Azure deployments, Bedrock profile ARNs) -> catalog id, applied last.
    /// Default: none.
    pub aliases: Vec<(String, String)>,
}

impl PriceLayers {
    /// `true` when nothing is layered: the catalog is the embedded one as it is.
    pub fn is_empty(&self) -> bool {
        *self == PriceLayers::default()
    }

    /// Reads every file and builds the catalog.
    pub fn build(&self) -> Result<Catalog, CatalogError> {
        self.builder().build()
    }

    /// The layers on another base: a catalog in the embedded format given as text (`name`
    /// names it in errors), in the place of [`catalog_file`](PriceLayers::catalog_file) or the
    /// embedded catalog. The files are read again.
    pub fn build_on(&self, name: &str, catalog_json: &str) -> Result<Catalog, CatalogError> {
        self.layered(Catalog::builder().with_base_catalog(name, catalog_json))
            .build()
    }

    /// The builder with every layer added, not yet built (to add one more layer, e.g. the file
    /// `catalog validate` checks on top of the others).
    pub fn builder(&self) -> CatalogBuilder {
        let mut b = Catalog::builder();
        if let Some(f) = &self.catalog_file {
            b = b.with_catalog_file(f);
        }
        self.layered(b)
    }

    /// The layers on top of `b`'s base.
    fn layered(&self, mut b: CatalogBuilder) -> CatalogBuilder {
        for p in &self.litellm {
            b = b.with_litellm_file(p);
        }
        for p in &self.overrides {
            b = b.with_overrides_file(p);
        }
        for (name, id) in &self.aliases {
            b = b.with_alias(name, id);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("layers-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn overrides_apply_after_imports_whatever_the_order_given() {
        let litellm = temp(
            "map.json",
            r#"{"acme-7b": {"litellm_provider": "acme", "mode": "chat",
                "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}"#,
        );
        let overrides = temp(
            "prices.toml",
            "[[models]]\nid = \"acme-7b\"\nprovider = \"acme\"\n[[models.prices]]\ninput = 5\noutput = 6\n",
        );
        let layers = PriceLayers {
            overrides: vec![overrides.clone()],
            litellm: vec![litellm.clone()],
            aliases: vec![("prod".into(), "acme-7b".into())],
            ..PriceLayers::default()
        };
        assert!(!layers.is_empty());
        let c = layers.build().unwrap();
        let m = c.resolve("prod", None).unwrap();
        assert_eq!(&*m.id, "acme-7b");
        assert_eq!(m.prices[0].standard.rates.input.to_string(), "5");
        assert_eq!(
            c.info().layers,
            vec![
                litellm.display().to_string(),
                overrides.display().to_string()
            ]
        );
        // The same layers on a base given as text: the files are read again, on top of it.
        let embedded = crate::pricing::EMBEDDED_CATALOG;
        let again = layers.build_on("<refreshed>", embedded).unwrap();
        assert_eq!(again.models().len(), c.models().len());
        let e = layers.build_on("<refreshed>", "{").unwrap_err().to_string();
        assert!(e.starts_with("<refreshed>: "), "{e}");
        std::fs::remove_file(litellm).ok();
        std::fs::remove_file(overrides).ok();
    }

    #[test]
    fn every_layer_problem_is_reported_at_once() {
        let layers = PriceLayers {
            overrides: vec!["/nonexistent/prices.toml".into()],
            litellm: vec!["/nonexistent/map.json".into()],
            aliases: vec![("x".into(), "no-such-model".into())],
            ..PriceLayers::default()
        };
        let e = layers.build().unwrap_err().to_string();
        assert!(e.starts_with("3 problems"), "{e}");
        for want in [
            "/nonexistent/prices.toml",
            "/nonexistent/map.json",
            "no-such-model",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        assert!(PriceLayers::default().is_empty());
    }
}
