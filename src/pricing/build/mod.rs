//! The catalog builder: LiteLLM's price map + genai-prices' v2 feed -> the catalog (schema 2,
//! `catalog/FORMAT.md`), with the merge rules of `catalog/README.md`.
//!
//! ```text
//! litellm.rs  LiteLLM map ----------\
//!                                     merge.rs (rules) -> resolve aliases -> render.rs -> JSON
//! genai.rs    genai-prices v2 feed --/                                           |
//!  (+ variants.rs: its price variants and time-of-day prices,                    |
//!   what schema 1 keeps of them)              Catalog::from_catalog_json (loader + check.rs)
//! ```
//!
//! Pure: text in, text out (no I/O, no runtime), so the embedded catalog's test, the CLI and a
//! runtime refresh run the same code. Deterministic: same inputs and date, same bytes. What was
//! skipped, merged or resolved is counted in the catalog's `notes` (notes.rs). Units are data
//! (units.rs): a new unit is a row there. [`read_input`] reads a path, or a URL with the
//! `fetch` feature.

mod check;
mod diff;
mod genai;
pub(crate) mod litellm;
mod merge;
pub(crate) mod model;
pub(crate) mod notes;
pub(crate) mod render;
pub(crate) mod units;
pub(crate) mod variants;

use sha2::{Digest, Sha256};

pub(crate) use check::invariants;
pub use check::{must_have_facts, Fact, MODES, REQUIRED_PROVIDERS, UNIT_MODES};
pub use diff::{CatalogDiff, ModelChange, ModelRef, RateChange};

use crate::pricing::{Catalog, CatalogError, Date, SourceFile};

/// Why a build failed. Each names the input (path or URL) it is about.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An input could not be read or fetched.
    #[error("{input}: {message}")]
    Read {
        /// Path or URL.
        input: String,
        /// What went wrong.
        message: String,
    },
    /// An input is not the format it was given as.
    #[error("{input}: not {expected}: {message}")]
    Format {
        /// Path or URL.
        input: String,
        /// The format expected.
        expected: &'static str,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The built catalog breaks the catalog's rules (it is not written).
    #[error("the built catalog is invalid: {0}")]
    Invalid(CatalogError),
}

/// One input: its name (path or URL, for errors and `sources`), its text, its version.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Path or URL as given.
    pub name: &'a str,
    /// The file's content.
    pub text: &'a str,
    /// The upstream package version it comes from (`1.109.1`), or `unknown`.
    pub version: &'a str,
}

/// A built catalog: the file's text, and the catalog loaded from it (checked).
pub struct Built {
    /// `catalog.json`'s bytes.
    pub json: String,
    /// The catalog as loaded from `json`.
    pub catalog: Catalog,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("bytes", &self.json.len())
            .field("catalog", &self.catalog)
            .finish()
    }
}

/// Parses `text` as `T`; an error names the input and says what it looks like.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(
    name: &str,
    expected: &'static str,
    text: &'a str,
) -> Result<T, BuildError> {
    serde_json::from_str(text).map_err(|e| BuildError::Format {
        input: name.to_owned(),
        expected,
        message: json_fault(text, &e).1,
    })
}

/// What is wrong with a text that is not the JSON expected (a refresh counts each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonFault {
    /// An HTML page (a proxy's or a CDN's error page, a login page, the wrong URL).
    Html,
    /// Nothing, or JSON that ends early.
    Truncated,
    /// Not JSON, or JSON of another shape.
    Invalid,
}

/// The kind of `e`, the parser's error on `text`, and the message saying what the text looks
/// like.
pub(crate) fn json_fault(text: &str, e: &serde_json::Error) -> (JsonFault, String) {
    let head = text.trim_start();
    if head.starts_with('<') {
        let m = "it looks like an HTML page, not JSON (an error page, or the wrong URL?)";
        (JsonFault::Html, m.to_owned())
    } else if head.is_empty() {
        (JsonFault::Truncated, "it is empty".to_owned())
    } else if e.is_eof() {
        (
            JsonFault::Truncated,
            format!("it ends early (truncated?): {e}"),
        )
    } else {
        (JsonFault::Invalid, e.to_string())
    }
}

/// A provider as the catalog names it: the two sources' own spellings first, then the crate's
/// canonical ids (`provider::canonical`).
pub(crate) fn canonical_provider(p: &str) -> String {
    let lower = p.trim().to_lowercase();
    if lower.starts_with("vertex_ai") {
        // vertex_ai, vertex_ai-language-models, vertex_ai-*_models ...
        return "gcp.vertex_ai".to_owned();
    }
    match lower.as_str() {
        "azure_text" => "azure.ai.openai".to_owned(),
        "fireworks_ai-embedding-models" => "fireworks_ai".to_owned(),
        // the same provider, spelled differently by the two sources (so that they merge)
        "moonshotai" => "moonshot".to_owned(),
        "voyageai" => "voyage".to_owned(),
        "github-copilot" => "github_copilot".to_owned(),
        _ => crate::provider::canonical(&lower),
    }
}

pub(crate) fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file name of a path, or a URL as given (recorded in `sources`, so that a build does not
/// depend on the directory it ran in).
pub(crate) fn source_label(name: &str) -> String {
    if name.contains("://") {
        return name.to_owned();
    }
    std::path::Path::new(name)
        .file_name()
        .map_or_else(|| name.to_owned(), |f| f.to_string_lossy().into_owned())
}

/// Builds the catalog dated `date` (its version, and the day that picks genai-prices' price in
/// force "now") from LiteLLM's map and genai-prices' v2 feed. The result is loaded and checked
/// like any catalog file; a catalog that breaks the rules is an error.
pub fn build(litellm: Input<'_>, genai_prices: Input<'_>, date: Date) -> Result<Built, BuildError> {
    let day = date.to_string();
    let mut notes = notes::Notes::default();
    let lmodels = litellm::load(litellm.name, litellm.text, &mut notes)?;
    let gmodels = genai::load(genai_prices.name, genai_prices.text, &mut notes)?;
    let mut models = merge::merge(lmodels, gmodels, &day, &mut notes);
    merge::resolve_aliases(&mut models, &mut notes);
    let mut models = merge::drop_unmatchable(models, &mut notes);
    models.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
    let sources = [
        SourceFile {
            name: "litellm".into(),
            package: "litellm".into(),
            version: litellm.version.into(),
            license: "MIT".into(),
            file: source_label(litellm.name),
            sha256: sha256(litellm.text),
        },
        SourceFile {
            name: "genai-prices".into(),
            package: "genai-prices".into(),
            version: genai_prices.version.into(),
            license: "MIT".into(),
            file: source_label(genai_prices.name),
            sha256: sha256(genai_prices.text),
        },
    ];
    let json = render::catalog(&day, &sources, &notes.render(), &models);
    let catalog =
        Catalog::from_catalog_json("<built catalog>", &json).map_err(BuildError::Invalid)?;
    Ok(Built { json, catalog })
}

/// Largest input read (LiteLLM's map is ~3 MB today).
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads an input: a file path, or an `http://` / `https://` URL (with the `fetch` feature;
/// `timeout` bounds the connection, the wait for the answer and each read of the body). Errors
/// name the input.
pub fn read_input(spec: &str, timeout: std::time::Duration) -> Result<String, BuildError> {
    let err = |message: String| BuildError::Read {
        input: spec.to_owned(),
        message,
    };
    if spec.starts_with("http://") || spec.starts_with("https://") {
        #[cfg(feature = "fetch")]
        {
            return crate::fetch::get_text(spec, timeout, MAX_INPUT_BYTES)
                .map_err(|e| err(e.message));
        }
        #[cfg(not(feature = "fetch"))]
        {
            let _ = timeout;
            return Err(err(
                "reading URLs needs the crate's `fetch` feature".to_owned()
            ));
        }
    }
    let meta = std::fs::metadata(spec).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(err(format!(
            "{} bytes, more than the {MAX_INPUT_BYTES} bytes an input may have",
            meta.len()
        )));
    }
    let bytes = std::fs::read(spec).map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| err(format!("not UTF-8 text: {e}")))
}
