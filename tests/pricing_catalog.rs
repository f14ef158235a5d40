//! Invariants of the embedded catalog (catalog/FORMAT.md, "Rules the catalog satisfies"), its
//! coverage, its recorded sources, and the price history it keeps.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use otel_llm_cost::{money::Rate, pricing::RateSet, Catalog};

fn catalog() -> Arc<Catalog> {
    Catalog::shared().expect("embedded catalog loads")
}

/// The raw catalog file, to check what the loader might normalise away.
fn raw() -> serde_json::Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/catalog.json"))
            .expect("catalog/catalog.json");
    serde_json::from_str(&text).expect("catalog.json is JSON")
}

fn unix(date: &str) -> i64 {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &fmt)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

fn rate(s: &str) -> Rate {
    Rate::parse_per_mtok(s).unwrap()
}

#[test]
fn embedded_and_shared_load_the_same_catalog() {
    let a = Catalog::embedded().unwrap();
    let b = catalog();
    assert_eq!(a.models().len(), b.models().len());
    assert_eq!(a.info().version, b.info().version);
    // `shared` hands out one copy.
    assert!(Arc::ptr_eq(&b, &catalog()));
}

#[test]
fn every_model_has_a_price_with_input_and_output() {
    let v = raw();
    let models = v["models"].as_array().unwrap();
    for m in models {
        let id = m["id"].as_str().unwrap();
        let prices = m["prices"].as_array().unwrap();
        assert!(!prices.is_empty(), "{id}: no price");
        // Both, or neither (no token price) in a model of an operation beyond chat priced by
        // its units (FORMAT.md).
        let unit_mode =
            otel_llm_cost::pricing::build::UNIT_MODES.contains(&m["mode"].as_str().unwrap());
        for p in prices {
            let (i, o) = (p["input"].is_string(), p["output"].is_string());
            assert!(
                (i && o) || (unit_mode && !i && !o),
                "{id}: input or output missing: {p}"
            );
        }
    }
    for m in catalog().models() {
        assert!(!m.prices.is_empty(), "{}", m.id);
        assert!(!m.provider.is_empty(), "{}: no provider", m.id);
        assert!(
            otel_llm_cost::pricing::build::MODES.contains(&m.mode.as_str()),
            "{}: mode {}",
            m.id,
            m.mode
        );
    }
}

/// Walks every rate string of the raw file (base, tiers, service tiers, service-tier tiers).
fn each_rate(v: &serde_json::Value, path: &str, f: &mut dyn FnMut(&str, &str)) {
    const RATE_FIELDS: &[&str] = &[
        "input",
        "output",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "reasoning",
        "audio_input",
        "audio_output",
        "audio_cache_read",
    ];
    let Some(obj) = v.as_object() else { return };
    for (k, x) in obj {
        if RATE_FIELDS.contains(&k.as_str()) {
            f(
                &format!("{path}.{k}"),
                x.as_str().unwrap_or("<not a string>"),
            );
        }
    }
    if let Some(tiers) = obj.get("tiers").and_then(|t| t.as_array()) {
        for (i, t) in tiers.iter().enumerate() {
            each_rate(t, &format!("{path}.tiers[{i}]"), f);
        }
    }
    if let Some(st) = obj.get("service_tiers").and_then(|t| t.as_object()) {
        for (name, s) in st {
            each_rate(s, &format!("{path}.service_tiers.{name}"), f);
        }
    }
}

#[test]
fn every_rate_is_a_non_negative_decimal_string_with_at_most_nine_decimals() {
    let v = raw();
    let mut bad = Vec::new();
    let mut n = 0;
    for m in v["models"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        for (i, p) in m["prices"].as_array().unwrap().iter().enumerate() {
            each_rate(p, &format!("{id}.prices[{i}]"), &mut |path, s| {
                n += 1;
                if s.starts_with('-') || Rate::parse_per_mtok(s).is_err() {
                    bad.push(format!("{path} = {s}"));
                }
            });
        }
    }
    assert!(n > 10_000, "only {n} rates seen");
    assert!(bad.is_empty(), "bad rates:\n{}", bad.join("\n"));
}

fn check_set(id: &str, what: &str, set: &RateSet, bad: &mut Vec<String>) {
    let mut last = None;
    for t in &set.tiers {
        if last.is_some_and(|l| t.above_input_tokens <= l) {
            bad.push(format!("{id} {what}: tiers not ascending"));
        }
        if t.above_input_tokens == 0 {
            bad.push(format!("{id} {what}: tier at 0 tokens"));
        }
        last = Some(t.above_input_tokens);
    }
}

#[test]
fn prices_are_sorted_strictly_by_date_with_only_the_first_undated() {
    let c = catalog();
    let mut bad = Vec::new();
    for m in c.models() {
        for (i, p) in m.prices.iter().enumerate() {
            if i > 0 && p.effective_from.is_none() {
                bad.push(format!("{}: prices[{i}] undated but not first", m.id));
            }
            check_set(&m.id, "standard", &p.standard, &mut bad);
            let mut seen = BTreeSet::new();
            for (st, set) in &p.service_tiers {
                if !seen.insert(*st) {
                    bad.push(format!("{}: service tier {st} twice", m.id));
                }
                check_set(&m.id, st.as_str(), set, &mut bad);
            }
        }
        for w in m.prices.windows(2) {
            match (w[0].effective_from, w[1].effective_from) {
                (None, Some(_)) => {}
                (Some(a), Some(b)) if a < b => {}
                (a, b) => bad.push(format!("{}: {a:?} then {b:?}", m.id)),
            }
        }
        // No duplicate (model, date).
        let dates: BTreeSet<_> = m.prices.iter().map(|p| p.effective_from).collect();
        if dates.len() != m.prices.len() {
            bad.push(format!("{}: two prices on one date", m.id));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // The raw file too (the loader would refuse it, but say where).
    let v = raw();
    for m in v["models"].as_array().unwrap() {
        let dates: Vec<Option<&str>> = m["prices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["effective_from"].as_str())
            .collect();
        for w in dates.windows(2) {
            let ok = match (w[0], w[1]) {
                (None, Some(_)) => true,
                // ISO dates sort as strings.
                (Some(a), Some(b)) => a < b,
                _ => false,
            };
            assert!(ok, "{}: {dates:?}", m["id"]);
        }
    }
}

#[test]
fn ids_are_unique_case_insensitively_and_get_finds_each() {
    let c = catalog();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for m in c.models() {
        if let Some(prev) = seen.insert(m.id.to_ascii_lowercase(), &m.id) {
            panic!("duplicate id: {prev} / {}", m.id);
        }
        let got = c.get(&m.id.to_ascii_uppercase()).expect("get by id");
        assert_eq!(got.id, m.id);
    }
}

#[test]
fn no_two_models_of_one_provider_share_an_alias() {
    let c = catalog();
    let mut owner: HashMap<(String, String), &str> = HashMap::new();
    let mut clashes = Vec::new();
    for m in c.models() {
        for a in m.aliases() {
            let k = (m.provider.to_string(), a.to_owned());
            if let Some(prev) = owner.insert(k, &m.id) {
                if prev != &*m.id {
                    clashes.push(format!("{a} ({}): {prev} and {}", m.provider, m.id));
                }
            }
        }
    }
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}

/// Every `equals` alias, given its model's provider, resolves to that very model.
#[test]
fn every_equals_alias_resolves_to_its_model_given_its_provider() {
    let c = catalog();
    let mut wrong = Vec::new();
    let mut n = 0;
    for m in c.models() {
        for alias in m.aliases() {
            n += 1;
            match c.resolve(alias, Some(&m.provider)) {
                Some(r) if r.id == m.id => {}
                Some(r) => wrong.push(format!(
                    "{alias} ({}) of {} -> {} ({})",
                    m.provider, m.id, r.id, r.provider
                )),
                None => wrong.push(format!("{alias} ({}) of {} -> nothing", m.provider, m.id)),
            }
        }
    }
    assert!(n > 5_000, "only {n} aliases");
    assert!(
        wrong.is_empty(),
        "{} aliases go elsewhere:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A catalog id always finds its own entry, with or without its provider, in any case.
#[test]
fn every_catalog_id_resolves_to_itself() {
    let c = catalog();
    let mut wrong = Vec::new();
    for m in c.models() {
        for (q, p) in [
            (m.id.to_string(), None),
            (m.id.to_string(), Some(&*m.provider)),
            (m.id.to_ascii_uppercase(), None),
        ] {
            match c.resolve(&q, p) {
                Some(r) if r.id == m.id => {}
                other => wrong.push(format!(
                    "{q} (provider {p:?}) -> {:?}",
                    other.map(|r| &*r.id)
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn coverage_at_least_2000_models_and_30_providers() {
    let c = catalog();
    assert!(c.models().len() >= 2_000, "{} models", c.models().len());
    let providers: BTreeSet<&str> = c.models().iter().map(|m| &*m.provider).collect();
    assert!(providers.len() >= 30, "{} providers", providers.len());
    for p in otel_llm_cost::pricing::build::REQUIRED_PROVIDERS {
        let n = c.models().iter().filter(|m| &*m.provider == p).count();
        assert!(n >= 3, "provider {p}: {n} models");
    }
    // Provider ids are canonical: canonicalising them changes nothing.
    for p in &providers {
        assert_eq!(otel_llm_cost::provider::canonical(p), *p);
    }
    // Every mode is represented, embeddings included.
    let modes: BTreeSet<&str> = c.models().iter().map(|m| m.mode.as_str()).collect();
    assert!(
        modes.contains("chat") && modes.contains("embedding"),
        "{modes:?}"
    );
}

#[test]
fn catalog_records_its_version_and_sources() {
    let c = catalog();
    let info = c.info();
    // Version is the catalog's date: YYYY.MM.DD.
    let parts: Vec<&str> = info.version.split('.').collect();
    assert_eq!(parts.len(), 3, "{}", info.version);
    assert!(
        parts[0].len() == 4 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "{}",
        info.version
    );
    assert_eq!(info.generated.len(), 10, "{}", info.generated);
    let by_name: HashMap<&str, _> = info.sources.iter().map(|s| (s.name.as_str(), s)).collect();
    for name in ["litellm", "genai-prices"] {
        let s = by_name.get(name).unwrap_or_else(|| panic!("source {name}"));
        assert!(!s.version.is_empty(), "{name}: no version");
        assert!(
            s.version.chars().next().unwrap().is_ascii_digit(),
            "{name}: {}",
            s.version
        );
        assert_eq!(s.license, "MIT", "{name}");
        assert_eq!(s.sha256.len(), 64, "{name}: sha256 {}", s.sha256);
        assert!(!s.file.is_empty());
    }
    assert!(!info.notes.is_empty());
    assert!(
        info.layers.is_empty(),
        "no user layers on the embedded catalog"
    );
    // Every price says where it came from.
    for m in c.models() {
        for p in &m.prices {
            assert!(
                matches!(
                    &*p.source,
                    "litellm" | "genai-prices" | "genai-prices+litellm"
                ),
                "{}: source {}",
                m.id,
                p.source
            );
        }
    }
}

#[test]
fn o3_price_cut_on_2025_06_10_is_kept() {
    let c = catalog();
    let o3 = c.get("o3").unwrap();
    assert_eq!(&*o3.provider, "openai");
    let before = o3.price_at(unix("2025-06-09") + 86_399);
    assert_eq!(before.effective_from, None);
    assert_eq!(before.standard.rates.input, rate("10"));
    assert_eq!(before.standard.rates.output, rate("40"));
    let after = o3.price_at(unix("2025-06-10"));
    assert_eq!(after.effective_from.unwrap().to_string(), "2025-06-10");
    assert_eq!(after.standard.rates.input, rate("2"));
    assert_eq!(after.standard.rates.output, rate("8"));
    // A call before the first known date gets the first price; far future gets the last.
    assert_eq!(o3.price_at(0), &o3.prices[0]);
    assert_eq!(o3.price_at(i64::MIN), &o3.prices[0]);
    assert_eq!(o3.price_at(i64::MAX), o3.prices.last().unwrap());
}

#[test]
fn claude_sonnet_4_6_long_context_tier_removed_on_2026_03_13() {
    let c = catalog();
    let m = c.get("claude-sonnet-4-6").unwrap();
    assert_eq!(&*m.provider, "anthropic");
    let before = m.price_at(unix("2026-03-12"));
    assert_eq!(before.standard.tiers.len(), 1);
    assert_eq!(before.standard.tiers[0].above_input_tokens, 200_000);
    assert_eq!(before.standard.tiers[0].rates.input, rate("6"));
    assert_eq!(before.standard.tiers[0].rates.output, rate("22.5"));
    let after = m.price_at(unix("2026-03-13"));
    assert_eq!(after.effective_from.unwrap().to_string(), "2026-03-13");
    assert!(
        after.standard.tiers.is_empty(),
        "{:?}",
        after.standard.tiers
    );
    assert_eq!(after.standard.rates.input, rate("3"));
    assert_eq!(after.standard.rates.output, rate("15"));
}

#[test]
fn dated_history_exists_beyond_the_two_named_models() {
    let c = catalog();
    let dated = c.models().iter().filter(|m| m.prices.len() > 1).count();
    let tiered = c
        .models()
        .iter()
        .filter(|m| m.prices.iter().any(|p| !p.standard.tiers.is_empty()))
        .count();
    let service = c
        .models()
        .iter()
        .filter(|m| m.prices.iter().any(|p| !p.service_tiers.is_empty()))
        .count();
    assert!(dated >= 20, "{dated} models with history");
    assert!(tiered >= 20, "{tiered} models with long-context tiers");
    assert!(service >= 50, "{service} models with service tiers");
}
