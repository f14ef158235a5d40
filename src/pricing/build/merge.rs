//! The merge rules (catalog/README.md, "How the sources are combined"): genai-prices models into
//! the LiteLLM models their clauses select, genai-prices-only models, and `equals` aliases given
//! to exactly one model per provider.

use std::collections::{HashMap, HashSet};

use super::check::UNIT_MODES;
use super::genai::{clause_rules, GenaiModel};
use super::model::{BModel, Rule};
use super::notes::Notes;
use super::units::{over, PriceEntry, RateSet, UnitId};

/// Base rates present in both sources that differ: `input 2 (litellm) vs 1.25 (genai-prices)`.
fn compare(genai: &RateSet, litellm: &RateSet) -> Vec<String> {
    UnitId::all()
        .filter_map(|u| match (genai.get(&u), litellm.get(&u)) {
            (Some(g), Some(l)) if g.base != l.base => Some(format!(
                "{} {} (litellm) vs {} (genai-prices)",
                u.name(),
                l.base,
                g.base
            )),
            _ => None,
        })
        .collect()
}

/// Index of the price in force on `day` (the first one if all start later).
fn in_force(prices: &[PriceEntry], day: &str) -> usize {
    prices
        .iter()
        .enumerate()
        .filter(|(_, p)| p.effective_from.as_deref().is_none_or(|d| d <= day))
        .map(|(i, _)| i)
        .next_back()
        .unwrap_or(0)
}

/// Merges the genai-prices models into the LiteLLM ones (`day`: the catalog date, which picks
/// genai-prices' price "now"); returns every model, LiteLLM's first, then genai-prices-only ones.
pub(crate) fn merge(
    mut litellm: Vec<BModel>,
    genai: Vec<GenaiModel>,
    day: &str,
    notes: &mut Notes,
) -> Vec<BModel> {
    // genai-prices resolves a name to the FIRST model (in its order) whose clause matches; each
    // LiteLLM model is resolved the same way (its stripped names, then its key), so that e.g.
    // `global.anthropic.claude-…` takes the global price and `us.anthropic.claude-…` the
    // regional one, and no LiteLLM model is claimed by two genai-prices models.
    let mut by_provider: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, g) in genai.iter().enumerate() {
        by_provider.entry(g.provider.as_str()).or_default().push(i);
    }
    let mut assigned: Vec<Vec<usize>> = vec![Vec::new(); genai.len()];
    for (li, m) in litellm.iter().enumerate() {
        let Some(gms) = by_provider.get(m.provider.as_str()) else {
            continue;
        };
        let hit = m.match_names.iter().find_map(|n| {
            gms.iter()
                .copied()
                .find(|&gi| genai[gi].matcher.is_match(n))
        });
        if let Some(gi) = hit {
            assigned[gi].push(li);
        }
    }
    let mut existing: HashSet<String> = litellm.iter().map(|m| m.id.clone()).collect();
    let mut extra = Vec::new();
    for (gi, g) in genai.iter().enumerate() {
        if assigned[gi].is_empty() {
            extra.push(genai_only(g, &mut existing, notes));
            continue;
        }
        // A model priced per token whose clause only LiteLLM models of the operations beyond
        // chat fall in (`gemini-2.0-flash`'s prefix clause and LiteLLM's
        // `gemini-2.0-flash-exp-image-generation`) is still its own entry: those are not the
        // chat model it names, and without it a `gemini-2.0-flash` span would price elsewhere.
        let only_ops = assigned[gi]
            .iter()
            .all(|&li| UNIT_MODES.contains(&litellm[li].mode.as_str()));
        if g.unit_mode.is_none() && only_ops {
            notes.add(
                "genai-prices models kept as their own entry (matched only LiteLLM models of operations beyond chat)",
                format!("{}/{}", g.raw_provider, g.id),
            );
            extra.push(genai_only(g, &mut existing, notes));
        }
        for &li in &assigned[gi] {
            merge_one(&mut litellm[li], g, day, notes);
        }
    }
    litellm.extend(extra);
    litellm
}

/// Merges genai-prices model `g` into LiteLLM model `m`.
fn merge_one(m: &mut BModel, g: &GenaiModel, day: &str, notes: &mut Notes) {
    let lit = m.prices[0].clone();
    let now = in_force(&g.prices, day);
    let latest = &g.prices[now];
    let diffs = compare(&latest.rates, &lit.rates);
    notes.count("merged: LiteLLM models matched by a genai-prices model");
    if m.name.as_deref().is_none_or(str::is_empty) {
        if let Some(n) = g.name.as_ref().filter(|n| !n.is_empty()) {
            m.name = Some(n.clone());
        }
    }
    // genai-prices models a dimension LiteLLM lacks (catalog/README.md, "the source that
    // models a dimension wins"): a dated history, long-context cliffs; and, where the two
    // disagree on the rates, price variants or Bedrock's regional premium (its `regional.*`
    // models: the in-region and geo price, where LiteLLM may price the in-region id like
    // `global.`). Time-of-day windows alone do not: the undated ones the feed has are
    // DeepSeek's discontinued off-peak discount, next to a stale base price (rule 18 keeps
    // LiteLLM's, the windows are dropped and counted). Where they agree, rule 18's union keeps
    // both sources' dimensions (LiteLLM's long-context cliffs next to genai-prices' variants).
    let regional = g.raw_provider == "aws" && g.id.starts_with("regional.");
    let modelled = g.prices.iter().any(|e| !e.variants.is_empty());
    if g.dated || g.tiered || (!diffs.is_empty() && (modelled || regional)) {
        // genai-prices has the dated history / long-context cliffs: it is the curated fact.
        let mut prices = g.prices.clone();
        // LiteLLM's service tiers describe its current rates: only the price in force now gets
        // the ones genai-prices lacks.
        let cur = &mut prices[now];
        for (st, rs) in &lit.service_tiers {
            if !cur.service_tiers.contains_key(st) {
                cur.service_tiers.insert(st, rs.clone());
                m.notes.push(format!("{st} service tier from litellm"));
            }
        }
        // So do LiteLLM's variants (per-image prices by size and quality), over the rates now.
        let lit_variants = litellm_variants(&lit, &cur.rates);
        if !lit_variants.is_empty() {
            m.notes
                .push("price variants (per image by size/quality) from litellm".to_owned());
            cur.variants.extend(lit_variants);
        }
        m.prices = prices;
        m.notes.extend(g.notes.iter().cloned());
        let why = if g.dated || g.tiered {
            "dated history or tiers"
        } else if modelled {
            "price variants"
        } else {
            "regional premium"
        };
        m.notes.push(format!(
            "prices from genai-prices model {}/{} ({why})",
            g.raw_provider, g.id
        ));
        if !diffs.is_empty() {
            notes.add(
                "disagreements: genai-prices dated/tiered/variant/regional price kept over LiteLLM",
                m.id.clone(),
            );
            m.notes
                .push(format!("litellm disagrees: {}", diffs.join("; ")));
        }
        return;
    }
    if !diffs.is_empty() {
        // both undated: LiteLLM is the newer snapshot
        notes.add("disagreements: undated, LiteLLM price kept", m.id.clone());
        if !latest.windows.is_empty() {
            notes.add(
                "genai-prices time-of-day windows dropped (undated, LiteLLM price kept)",
                m.id.clone(),
            );
        }
        m.notes.push(format!(
            "genai-prices ({}/{}) disagrees, litellm kept: {}",
            g.raw_provider,
            g.id,
            diffs.join("; ")
        ));
        return;
    }
    // undated and agreeing: one price, the union of units and service tiers
    let mut rates = lit.rates.clone();
    for (u, v) in &latest.rates {
        rates.entry(*u).or_insert_with(|| v.clone());
    }
    let mut services = lit.service_tiers.clone();
    for (st, rs) in &latest.service_tiers {
        services.insert(st, over(&rates, rs)); // genai-prices' curated tier wins
    }
    let mut p = PriceEntry::new(None, "genai-prices+litellm", rates);
    p.service_tiers = services;
    p.variants = latest.variants.clone();
    p.variants.extend(litellm_variants(&lit, &p.rates));
    p.windows = latest.windows.clone();
    m.prices = vec![p];
    m.notes.extend(g.notes.iter().cloned());
    notes.count("agreements: undated prices equal in both sources");
}

/// LiteLLM's price variants of `lit` (per-image prices by size and quality, `litellm.rs`) as
/// full rate sets over `rates`: each variant's own rates (those not equal to `lit`'s standard
/// ones) over the rates the merged price has.
fn litellm_variants(
    lit: &PriceEntry,
    rates: &RateSet,
) -> Vec<(std::collections::BTreeMap<String, String>, RateSet)> {
    lit.variants
        .iter()
        .map(|(when, full)| {
            let own: RateSet = full
                .iter()
                .filter(|(u, t)| lit.rates.get(u) != Some(t))
                .map(|(u, t)| (*u, t.clone()))
                .collect();
            (when.clone(), over(rates, &own))
        })
        .collect()
}

/// A genai-prices model that matched no LiteLLM model becomes its own entry.
fn genai_only(g: &GenaiModel, existing: &mut HashSet<String>, notes: &mut Notes) -> BModel {
    let mut id = format!("{}/{}", g.provider, g.id);
    if existing.contains(&id) {
        id = format!("{}/{}@genai-prices", g.provider, g.id);
        notes.add("genai-prices ids suffixed to stay unique", id.clone());
    }
    existing.insert(id.clone());
    let ctx = format!("{}/{}", g.raw_provider, g.id);
    let mut rules = clause_rules(&g.clause, &ctx, notes);
    if rules.is_empty() {
        rules = vec![Rule::Equals(g.id.clone())];
        notes.add(
            "genai-prices models whose whole match clause was dropped (matched by id only)",
            ctx,
        );
    }
    let mode = if let Some(m) = g.unit_mode {
        m
    } else if g.id.to_lowercase().contains("embed") {
        "embedding"
    } else {
        "chat"
    };
    // equals rules compete with the other aliases of the provider (lowest priority)
    let (equals, others): (Vec<Rule>, Vec<Rule>) = rules
        .into_iter()
        .partition(|r| matches!(r, Rule::Equals(_)));
    let alias_candidates = equals
        .into_iter()
        .filter_map(|r| match r {
            Rule::Equals(s) => Some((s, 3)),
            _ => None,
        })
        .collect();
    notes.count("genai-prices-only models (matched no LiteLLM model)");
    BModel {
        id,
        provider: g.provider.clone(),
        mode: mode.to_owned(),
        name: g.name.clone(),
        prices: g.prices.clone(),
        alias_candidates,
        rules: others,
        notes: g.notes.clone(),
        match_names: Vec::new(),
    }
}

/// Gives every `equals` alias to exactly one model per provider: the claimant with the lowest
/// priority (0 its own id, 1 routing prefix stripped, 2 location stripped, 3 genai-prices
/// clause) if it is alone at that priority; otherwise nobody gets it (counted).
pub(crate) fn resolve_aliases(models: &mut [BModel], notes: &mut Notes) {
    // Claims in first-claim order (the notes' examples follow it).
    let mut order: Vec<(String, String)> = Vec::new();
    let mut claims: HashMap<(String, String), Vec<(u8, usize)>> = HashMap::new();
    for (i, m) in models.iter().enumerate() {
        let mut seen = HashSet::new();
        for (alias, prio) in &m.alias_candidates {
            let k = (m.provider.clone(), alias.to_lowercase());
            if !seen.insert(k.clone()) {
                continue;
            }
            let e = claims.entry(k.clone()).or_default();
            if e.is_empty() {
                order.push(k);
            }
            e.push((*prio, i));
        }
    }
    let mut winners: HashMap<(String, String), usize> = HashMap::new();
    for k in order {
        let cl = &claims[&k];
        let best = cl.iter().map(|(p, _)| *p).min().unwrap_or(0);
        let at_best: Vec<usize> = cl
            .iter()
            .filter(|(p, _)| *p == best)
            .map(|(_, i)| *i)
            .collect();
        let label = format!("{}:{}", k.0, k.1);
        if at_best.len() == 1 {
            winners.insert(k.clone(), at_best[0]);
        } else {
            notes.add(
                "equals aliases dropped (claimed equally by several models of one provider)",
                label.clone(),
            );
        }
        if cl.len() > 1 && best > 0 {
            notes.add(
                "equals aliases given to one of several claimants (plainest key wins)",
                label,
            );
        }
    }
    for (i, m) in models.iter_mut().enumerate() {
        let mut eq = Vec::new();
        let mut seen = HashSet::new();
        for (alias, _) in &m.alias_candidates {
            let k = (m.provider.clone(), alias.to_lowercase());
            if winners.get(&k) == Some(&i) && seen.insert(k) {
                eq.push(Rule::Equals(alias.clone()));
            }
        }
        eq.append(&mut m.rules);
        m.rules = eq;
    }
}

/// A model left without any match rule (every alias went to another model) can never be
/// selected: left out, counted.
pub(crate) fn drop_unmatchable(models: Vec<BModel>, notes: &mut Notes) -> Vec<BModel> {
    models
        .into_iter()
        .filter(|m| {
            if m.rules.is_empty() {
                notes.add(
                    "models left out: every match alias belongs to another model of the provider",
                    m.id.clone(),
                );
            }
            !m.rules.is_empty()
        })
        .collect()
}
