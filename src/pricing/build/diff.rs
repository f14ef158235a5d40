//! What changed between two catalogs: models added and removed, and for models in both, every
//! rate that changed, by price date (`catalog diff OLD NEW`; the gateway's refresh logs the
//! summary on each swap).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::pricing::{Catalog, Model, RateSet};

/// One model, as a diff names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    /// Catalog id.
    pub id: String,
    /// Canonical provider.
    pub provider: String,
}

/// One rate that changed, appeared or disappeared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateChange {
    /// The price's first day (`YYYY-MM-DD`), or `initial` for an undated first price.
    pub effective_from: String,
    /// The rate: `input`, `batch.output`, `tiers>200000.input`, `batch.tiers>200000.input`.
    pub rate: String,
    /// USD per million tokens before (`None`: no such rate, e.g. a new dated price).
    pub old: Option<String>,
    /// USD per million tokens after (`None`: removed).
    pub new: Option<String>,
}

/// A model whose prices changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelChange {
    /// Catalog id.
    pub id: String,
    /// Canonical provider.
    pub provider: String,
    /// Every rate that differs, by price date then rate.
    pub changes: Vec<RateChange>,
}

/// The difference between two catalogs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogDiff {
    /// Version of the old catalog.
    pub old_version: String,
    /// Version of the new catalog.
    pub new_version: String,
    /// Models only in the new catalog (by id, case-insensitive), sorted by id.
    pub added: Vec<ModelRef>,
    /// Models only in the old catalog, sorted by id.
    pub removed: Vec<ModelRef>,
    /// Models in both whose rates differ, sorted by id.
    pub changed: Vec<ModelChange>,
}

fn set_rates(prefix: &str, set: &RateSet, out: &mut BTreeMap<String, String>) {
    for (name, v) in set.rates.fields() {
        if let Some(v) = v {
            out.insert(format!("{prefix}{name}"), v.to_string());
        }
    }
    for t in &set.tiers {
        for (name, v) in t.rates.fields() {
            if let Some(v) = v {
                out.insert(
                    format!("{prefix}tiers>{}.{name}", t.above_input_tokens),
                    v.to_string(),
                );
            }
        }
    }
}

/// A model's prices flattened: (price date, rate) -> value; the undated first price sorts first.
fn flatten(m: &Model) -> BTreeMap<(Option<String>, String), String> {
    let mut out = BTreeMap::new();
    for p in &m.prices {
        let date = p.effective_from.map(|d| d.to_string());
        let mut rates = BTreeMap::new();
        set_rates("", &p.standard, &mut rates);
        for (st, set) in &p.service_tiers {
            set_rates(&format!("{st}."), set, &mut rates);
        }
        for (k, v) in rates {
            out.insert((date.clone(), k), v);
        }
    }
    out
}

impl CatalogDiff {
    /// Compares two catalogs.
    pub fn between(old: &Catalog, new: &Catalog) -> CatalogDiff {
        let index = |c: &Catalog| -> BTreeMap<String, usize> {
            c.models()
                .iter()
                .enumerate()
                .map(|(i, m)| (m.id.to_ascii_lowercase(), i))
                .collect()
        };
        let (oi, ni) = (index(old), index(new));
        let r = |m: &Model| ModelRef {
            id: m.id.to_string(),
            provider: m.provider.to_string(),
        };
        let mut added: Vec<ModelRef> = ni
            .iter()
            .filter(|(k, _)| !oi.contains_key(*k))
            .map(|(_, &i)| r(&new.models()[i]))
            .collect();
        let mut removed: Vec<ModelRef> = oi
            .iter()
            .filter(|(k, _)| !ni.contains_key(*k))
            .map(|(_, &i)| r(&old.models()[i]))
            .collect();
        added.sort_by(|a, b| a.id.cmp(&b.id));
        removed.sort_by(|a, b| a.id.cmp(&b.id));
        let mut changed = Vec::new();
        for (k, &i) in &oi {
            let Some(&j) = ni.get(k) else { continue };
            let (a, b) = (flatten(&old.models()[i]), flatten(&new.models()[j]));
            if a == b {
                continue;
            }
            let keys: BTreeSet<&(Option<String>, String)> = a.keys().chain(b.keys()).collect();
            let changes = keys
                .into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| RateChange {
                    effective_from: k.0.clone().unwrap_or_else(|| "initial".to_owned()),
                    rate: k.1.clone(),
                    old: a.get(k).cloned(),
                    new: b.get(k).cloned(),
                })
                .collect();
            let m = &new.models()[j];
            changed.push(ModelChange {
                id: m.id.to_string(),
                provider: m.provider.to_string(),
                changes,
            });
        }
        changed.sort_by(|a, b| a.id.cmp(&b.id));
        CatalogDiff {
            old_version: old.info().version.to_string(),
            new_version: new.info().version.to_string(),
            added,
            removed,
            changed,
        }
    }

    /// `true` when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line: `catalog 2026.11.22 -> 2026.12.01: 3 models added, 1 removed, 12 with price changes`.
    pub fn summary(&self) -> String {
        format!(
            "catalog {} -> {}: {} models added, {} removed, {} with price changes",
            self.old_version,
            self.new_version,
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        )
    }
}

/// The full report, one line per model and per changed rate.
impl fmt::Display for CatalogDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary())?;
        for m in &self.added {
            writeln!(f, "+ {} ({})", m.id, m.provider)?;
        }
        for m in &self.removed {
            writeln!(f, "- {} ({})", m.id, m.provider)?;
        }
        for m in &self.changed {
            writeln!(f, "~ {} ({})", m.id, m.provider)?;
            for c in &m.changes {
                let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".to_owned());
                writeln!(
                    f,
                    "    {} {}: {} -> {}",
                    c.effective_from,
                    c.rate,
                    v(&c.old),
                    v(&c.new)
                )?;
            }
        }
        Ok(())
    }
}
