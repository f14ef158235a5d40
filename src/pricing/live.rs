//! Live prices: the catalog built at run time from the upstream price feeds, validated, layered
//! and cached. One routine for the gateway (`pricing.catalog.sources`) and the in-process
//! refresher (`crate::refresh`):
//!
//! ```text
//! sources (genai-prices v2 feed + LiteLLM map; URL or path) -> fetch (crate::fetch) -> build
//!   (pricing::build::build, the embedded catalog's builder) -> validate (invariants; at most 10 %
//!   of the models in use lost) -> layers (PriceLayers: LiteLLM imports and overrides re-read)
//!   -> cache (cache_dir/catalog.json, atomic rename) -> the new catalog + the diff summary
//! start: sources -> cache -> the base (catalog file or embedded), each failure kept to be logged
//! ```
//!
//! A failure is one [`FailureKind`] (a metric label) with a message naming the source; the
//! caller keeps the catalog in use. Nothing here swaps anything: the caller does (one atomic
//! pointer change, `Engine::replace_catalog`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::build::{self, BuildError, CatalogDiff, Input, JsonFault};
use super::{Catalog, CatalogError, Date, PriceLayers};

/// Default interval between refreshes: 24 h.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default bound on fetching one source (connection, answer, each read of the body): 60 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// A new catalog losing more than this share of the models of the catalog in use (percent) is
/// refused: an upstream mistake or a partial feed, not a real retirement of models.
pub const MAX_MODELS_LOST_PERCENT: usize = 10;
/// The cached last good catalog, in `cache_dir`.
pub const CACHE_FILE: &str = "catalog.json";

/// The format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// genai-prices' published v2 feed (`prices/new_data/v2/data.json`).
    GenaiPrices,
    /// LiteLLM's `model_prices_and_context_window.json`.
    Litellm,
}

impl SourceFormat {
    /// The name in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::GenaiPrices => "genai-prices",
            SourceFormat::Litellm => "litellm",
        }
    }
}

/// One upstream price feed: its format and where it is (an `http(s)://` URL, or a file path
/// such as a mirrored copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSource {
    /// The feed's format.
    pub format: SourceFormat,
    /// URL or path.
    pub location: String,
}

/// Where the catalog is built from at run time, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// The feeds: at most one `genai-prices` and one `litellm` (the builder merges both; with
    /// one of them only, the catalog holds that feed's models). Empty: no fetching; a refresh
    /// re-reads the layers on the base catalog (file or embedded).
    pub sources: Vec<CatalogSource>,
    /// Between two refreshes (the loops' business; [`Duration::ZERO`]: only at start).
    /// Default [`DEFAULT_REFRESH_INTERVAL`].
    pub refresh_interval: Duration,
    /// Where the last good built catalog is kept, to start from when a source is unreachable.
    /// Default: none (no cache).
    pub cache_dir: Option<PathBuf>,
    /// Bound on fetching one source. Default [`DEFAULT_FETCH_TIMEOUT`].
    pub timeout: Duration,
    /// The layers (base catalog file, LiteLLM imports, overrides, aliases), re-read on every
    /// refresh; the sources' catalog replaces the base.
    pub layers: PriceLayers,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            sources: Vec::new(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            cache_dir: None,
            timeout: DEFAULT_FETCH_TIMEOUT,
            layers: PriceLayers::default(),
        }
    }
}

/// Why a refresh was refused (the catalog in use is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A source could not be reached (connection refused, DNS, TLS; a missing file).
    Unreachable,
    /// A source took longer than the timeout.
    Timeout,
    /// A source answered with an HTTP status other than 2xx.
    HttpError,
    /// A source answered with an HTML page instead of JSON (a proxy's error page).
    HtmlPage,
    /// A source's JSON ends early (a cut transfer) or is empty.
    Truncated,
    /// A source is not JSON, or not of its format.
    InvalidJson,
    /// The built catalog breaks the catalog's invariants.
    InvalidCatalog,
    /// The new catalog loses more than [`MAX_MODELS_LOST_PERCENT`] of the models in use.
    ModelsLost,
    /// An overrides file or a LiteLLM import (re-read) is broken.
    Layers,
    /// The cached catalog cannot be read or is invalid (at start only).
    Cache,
}

impl FailureKind {
    /// Every kind, in a fixed order (metric series).
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Unreachable,
        FailureKind::Timeout,
        FailureKind::HttpError,
        FailureKind::HtmlPage,
        FailureKind::Truncated,
        FailureKind::InvalidJson,
        FailureKind::InvalidCatalog,
        FailureKind::ModelsLost,
        FailureKind::Layers,
        FailureKind::Cache,
    ];

    /// The label (`outcome` of `otel_llm_cost_catalog_refresh_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::HttpError => "http_error",
            FailureKind::HtmlPage => "html_page",
            FailureKind::Truncated => "truncated",
            FailureKind::InvalidJson => "invalid_json",
            FailureKind::InvalidCatalog => "invalid_catalog",
            FailureKind::ModelsLost => "models_lost",
            FailureKind::Layers => "layers",
            FailureKind::Cache => "cache",
        }
    }
}

/// A refused refresh: its kind, and what happened (naming the source or file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({})", .kind.as_str())]
pub struct RefreshError {
    /// The kind.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
}

impl RefreshError {
    fn new(kind: FailureKind, message: impl Into<String>) -> RefreshError {
        RefreshError {
            kind,
            message: message.into(),
        }
    }
}

/// Where the catalog in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Built from the sources.
    Sources,
    /// The cached last good catalog (`cache_dir`).
    Cache,
    /// The catalog file (`pricing.catalog.file`, `--catalog`).
    File,
    /// The catalog embedded in the binary.
    Embedded,
}

impl Origin {
    /// The label (`source` of `otel_llm_cost_catalog_info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Sources => "sources",
            Origin::Cache => "cache",
            Origin::File => "file",
            Origin::Embedded => "embedded",
        }
    }
}

/// A catalog ready to be swapped in.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The catalog, layers applied.
    pub catalog: Arc<Catalog>,
    /// Where its base came from.
    pub origin: Origin,
    /// When its base was built: fetched from the sources; the cache file's last write; for the
    /// embedded catalog or a file, its `generated` day.
    pub built_at: SystemTime,
    /// What changed against the catalog in use (none at start).
    pub diff: Option<CatalogDiff>,
    /// The cache could not be written (the catalog is good and used; the caller logs this).
    pub cache_error: Option<RefreshError>,
}

impl Loaded {
    fn new(catalog: Catalog, origin: Origin, built_at: SystemTime) -> Loaded {
        Loaded {
            catalog: Arc::new(catalog),
            origin,
            built_at,
            diff: None,
            cache_error: None,
        }
    }
}

impl Date {
    /// Today (UTC); `None` when the system clock is out of range.
    pub fn today() -> Option<Date> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?;
        Date::from_unix_seconds(i64::try_from(now.as_secs()).ok()?)
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, then renames it over
/// `path`: a reader sees the old file or the new one, never a part, even after a crash. The
/// temporary file is named by process and write, so two writers of one path (a refresher and
/// a handle's refresh, two gateways sharing a cache volume) never write into each other's.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

impl LiveOptions {
    /// Every problem of the options, at once (empty: fine).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.sources.is_empty() {
            return out;
        }
        for f in [SourceFormat::GenaiPrices, SourceFormat::Litellm] {
            let n = self.sources.iter().filter(|s| s.format == f).count();
            if n > 1 {
                out.push(format!(
                    "sources: {n} '{}' sources; at most one is allowed (the builder merges one genai-prices feed and one litellm map)",
                    f.as_str()
                ));
            }
        }
        for s in &self.sources {
            if s.location.trim().is_empty() {
                out.push(format!(
                    "sources: the '{}' source has no url or path",
                    s.format.as_str()
                ));
            }
        }
        if self.timeout.is_zero() {
            out.push("timeout: must be more than 0s".to_owned());
        }
        out
    }

    /// The cache file, when there is a cache.
    pub fn cache_file(&self) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| d.join(CACHE_FILE))
    }

    /// Fetches, builds, validates and layers a new catalog (without sources: re-reads the layers
    /// on the base), refusing one that loses too many of `current`'s models, then writes the
    /// cache. Blocking (network, files): run it off async workers.
    pub fn refresh(&self, current: &Catalog) -> Result<Loaded, RefreshError> {
        let (loaded, json) = if self.sources.is_empty() {
            (self.base()?, None)
        } else {
            let (json, at) = self.build_from_sources()?;
            (self.layered(&json, Origin::Sources, at)?, Some(json))
        };
        // Measured against the catalog in use when it came from these sources (or from the base,
        // without sources): not against the embedded catalog or a file the gateway fell back to,
        // nor a cache of other sources, which a smaller feed (one source, a mirrored subset)
        // would fail at every refresh, keeping the fallback in use for good.
        let mut loaded = if self.sources.is_empty() || self.built_from_these_sources(current) {
            self.check_loss(current, loaded)?
        } else {
            loaded
        };
        if let Some(json) = json {
            loaded.cache_error = self.write_cache(&json).err();
        }
        loaded.diff = Some(CatalogDiff::between(current, &loaded.catalog));
        Ok(loaded)
    }

    /// The catalog to start with: from the sources; else the cached last good one; else the
    /// base (catalog file or embedded). Every failure on the way is returned to be logged and
    /// counted. Only a broken base (or broken layers) is an error.
    ///
    /// The sources' catalog is checked against the cached one (the last good catalog of the
    /// same sources) for lost models; not against the embedded catalog, which a deliberately
    /// smaller mirrored feed would always fail, nor against a cache of other sources (the
    /// config changed), which is only a fallback.
    pub fn start(&self) -> Result<(Loaded, Vec<RefreshError>), CatalogError> {
        let mut failures = Vec::new();
        let cached = match self.cached() {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                failures.push(e);
                None
            }
            None => None,
        };
        if !self.sources.is_empty() {
            let fresh = self.build_from_sources().and_then(|(json, at)| {
                let l = self.layered(&json, Origin::Sources, at)?;
                let mut l = match &cached {
                    Some(c) if self.built_from_these_sources(&c.catalog) => {
                        self.check_loss(&c.catalog, l)?
                    }
                    _ => l,
                };
                l.cache_error = self.write_cache(&json).err();
                Ok(l)
            });
            match fresh {
                Ok(l) => return Ok((l, failures)),
                Err(e) => failures.push(e),
            }
        }
        let fallback = match cached {
            Some(l) => l,
            None => self.base().map_err(|e| CatalogError::Syntax {
                file: "pricing".into(),
                message: e.message,
            })?,
        };
        Ok((fallback, failures))
    }

    /// The base catalog (file or embedded) with the layers, read again.
    fn base(&self) -> Result<Loaded, RefreshError> {
        let catalog = self
            .layers
            .build()
            .map_err(|e| RefreshError::new(FailureKind::Layers, e.to_string()))?;
        let built_at = generated_at(&catalog);
        let origin = if self.layers.catalog_file.is_some() {
            Origin::File
        } else {
            Origin::Embedded
        };
        Ok(Loaded::new(catalog, origin, built_at))
    }

    /// The cached catalog with the layers; `None` when there is no cache (or no file yet).
    fn cached(&self) -> Option<Result<Loaded, RefreshError>> {
        let file = self.cache_file()?;
        let json = match std::fs::read_to_string(&file) {
            Ok(j) => j,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                let m = format!("{}: {e}", file.display());
                return Some(Err(RefreshError::new(FailureKind::Cache, m)));
            }
        };
        let built_at = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Some(
            self.layered(&json, Origin::Cache, built_at)
                .map_err(|e| RefreshError::new(FailureKind::Cache, e.message)),
        )
    }

    /// Fetches every source and builds the catalog (checked by the builder): its JSON. A format
    /// without a source (a user of one feed only) is built as an empty feed of that format: the
    /// builder merges the two, so the catalog holds the other feed's models alone.
    fn build_from_sources(&self) -> Result<(String, SystemTime), RefreshError> {
        let text = |f: SourceFormat, empty: &str| -> Result<(String, String, &str), RefreshError> {
            match self.source(f) {
                Some(s) => Ok((
                    s.location.clone(),
                    read_source(&s.location, self.timeout)?,
                    "live",
                )),
                None => Ok((input_name(self, f), empty.to_owned(), "none")),
            }
        };
        let (ln, lt, lv) = text(SourceFormat::Litellm, "{}")?;
        let (gn, gt, gv) = text(SourceFormat::GenaiPrices, "[]")?;
        let built_at = SystemTime::now();
        let date = Date::today().ok_or_else(|| {
            RefreshError::new(
                FailureKind::InvalidCatalog,
                "the system clock is out of range",
            )
        })?;
        build::build(
            Input {
                name: &ln,
                text: &lt,
                version: lv,
            },
            Input {
                name: &gn,
                text: &gt,
                version: gv,
            },
            date,
        )
        .map(|b| (b.json, built_at))
        .map_err(|e| classify(e, &[(&ln, &lt), (&gn, &gt)]))
    }

    /// The source of a format, if any.
    fn source(&self, f: SourceFormat) -> Option<&CatalogSource> {
        self.sources.iter().find(|s| s.format == f)
    }

    /// Whether `c`'s base was built from these sources: its `sources` name the same feed for
    /// each format (its URL or file name, as the builder records it; or none).
    fn built_from_these_sources(&self, c: &Catalog) -> bool {
        [SourceFormat::Litellm, SourceFormat::GenaiPrices]
            .into_iter()
            .all(|f| {
                let label = build::source_label(&input_name(self, f));
                c.info()
                    .sources
                    .iter()
                    .any(|s| s.name == f.as_str() && s.file == label)
            })
    }

    /// The layers on a catalog built from the sources (or cached), named by its content: the
    /// version is `DATE+` the first 8 hex digits of the SHA-256 of its JSON, so two catalogs
    /// built the same day are told apart on the spans they price.
    fn layered(
        &self,
        json: &str,
        origin: Origin,
        built_at: SystemTime,
    ) -> Result<Loaded, RefreshError> {
        let name = match origin {
            Origin::Cache => self
                .cache_file()
                .map_or_else(|| CACHE_FILE.to_owned(), |f| f.display().to_string()),
            _ => "<catalog built from the sources>".to_owned(),
        };
        // The built catalog was checked by the builder: what fails here is a layer (an alias
        // whose target the new catalog lacks), or a broken cache file (the caller says so).
        let mut catalog = self
            .layers
            .build_on(&name, json)
            .map_err(|e| RefreshError::new(FailureKind::Layers, e.to_string()))?;
        let hash = build::sha256(json);
        let version = format!("{}+{}", catalog.info.version, &hash[..8]);
        catalog.info.version = version.into();
        Ok(Loaded::new(catalog, origin, built_at))
    }

    /// Refuses `new` when it loses more than [`MAX_MODELS_LOST_PERCENT`] of `current`'s models.
    fn check_loss(&self, current: &Catalog, new: Loaded) -> Result<Loaded, RefreshError> {
        let ids: std::collections::HashSet<String> = new
            .catalog
            .models()
            .iter()
            .map(|m| m.id.to_ascii_lowercase())
            .collect();
        let lost = current
            .models()
            .iter()
            .filter(|m| !ids.contains(&m.id.to_ascii_lowercase()))
            .count();
        let total = current.models().len();
        if lost * 100 > total * MAX_MODELS_LOST_PERCENT {
            return Err(RefreshError::new(
                FailureKind::ModelsLost,
                format!(
                    "the new catalog {} has {} models and lacks {lost} of the {total} of the catalog in use {} (more than {MAX_MODELS_LOST_PERCENT} %): refused",
                    new.catalog.info().version,
                    new.catalog.models().len(),
                    current.info().version
                ),
            ));
        }
        Ok(new)
    }

    /// Keeps `json` as the last good catalog. A cache that cannot be written is not a reason
    /// to refuse a good catalog, but it is said: the error is returned for the caller to log.
    fn write_cache(&self, json: &str) -> Result<(), RefreshError> {
        let (Some(dir), Some(file)) = (&self.cache_dir, self.cache_file()) else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)
            .and_then(|()| write_atomically(&file, json.as_bytes()))
            .map_err(|e| RefreshError::new(FailureKind::Cache, format!("{}: {e}", file.display())))
    }
}

/// The builder's input name of a format: its source's URL or path, or `(no FORMAT source)`.
fn input_name(o: &LiveOptions, f: SourceFormat) -> String {
    o.source(f).map_or_else(
        || format!("(no {} source)", f.as_str()),
        |s| s.location.clone(),
    )
}

/// The `generated` day of a catalog, at 00:00 UTC.
fn generated_at(c: &Catalog) -> SystemTime {
    let secs = c
        .info()
        .generated
        .parse::<Date>()
        .map(|d| d.unix_seconds())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Reads a source: a URL through the one fetch helper, or a file; errors are classified.
fn read_source(location: &str, timeout: Duration) -> Result<String, RefreshError> {
    #[cfg(feature = "fetch")]
    if location.starts_with("http://") || location.starts_with("https://") {
        use crate::fetch::FetchKind;
        return crate::fetch::get_text(location, timeout, build::MAX_INPUT_BYTES).map_err(|e| {
            let kind = match e.kind {
                FetchKind::Unreachable | FetchKind::Other => FailureKind::Unreachable,
                FetchKind::Timeout => FailureKind::Timeout,
                FetchKind::Status => FailureKind::HttpError,
                FetchKind::Body => FailureKind::Truncated,
                FetchKind::Content => FailureKind::InvalidJson,
            };
            RefreshError::new(kind, format!("{location}: {}", e.message))
        });
    }
    build::read_input(location, timeout)
        .map_err(|e| RefreshError::new(FailureKind::Unreachable, e.to_string()))
}

/// The kind of a build failure: what the input's text looks like, or the catalog's rules.
fn classify(e: BuildError, texts: &[(&str, &str)]) -> RefreshError {
    let kind = match &e {
        BuildError::Format { input, .. } => {
            let text = texts.iter().find(|(n, _)| n == input).map_or("", |t| t.1);
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(pe) => match build::json_fault(text, &pe).0 {
                    JsonFault::Html => FailureKind::HtmlPage,
                    JsonFault::Truncated => FailureKind::Truncated,
                    JsonFault::Invalid => FailureKind::InvalidJson,
                },
                // JSON, of another shape.
                Ok(_) => FailureKind::InvalidJson,
            }
        }
        BuildError::Read { .. } => FailureKind::Unreachable,
        BuildError::Invalid(_) => FailureKind::InvalidCatalog,
    };
    RefreshError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards "the cache written atomically" with two writers at once (a refresher thread and a
    /// handle's refresh; two processes on one cache volume): both used one `PATH.tmp`, so one
    /// truncated the other's file before its rename (a cache cut short) or renamed it away
    /// under it (`NotFound`). Each write now has its own temporary file.
    #[test]
    fn two_writers_at_once_never_leave_a_part() {
        let dir = std::env::temp_dir().join(format!("otel-llm-cost-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(CACHE_FILE);
        let (a, b) = (vec![b'a'; 256 << 10], vec![b'b'; 256 << 10]);
        let (a, b) = (&a, &b);
        std::thread::scope(|sc| {
            for bytes in [a, b] {
                let path = &path;
                sc.spawn(move || {
                    for i in 0..200 {
                        write_atomically(path, bytes)
                            .unwrap_or_else(|e| panic!("write {i} failed: {e}"));
                        let now = std::fs::read(path).expect("read back");
                        assert!(now == *a || now == *b, "a part: {} bytes", now.len());
                    }
                });
            }
        });
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from(CACHE_FILE)],
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
