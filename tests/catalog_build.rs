//! The catalog builder (`otel_llm_cost::catalog_build`): the committed catalog is its output on
//! the committed inputs; small fixture feeds give the golden catalog (cross-checked once against
//! the former catalog/generate.py, see catalog/README.md); bad inputs are refused with their name;
//! catalogs that break the FORMAT.md rules are refused; the diff of two catalogs.

use otel_llm_cost::catalog_build::{self, BuildError, CatalogDiff, Input};
use otel_llm_cost::{Catalog, Date};

fn path(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn fixture(name: &str) -> String {
    read(&format!("tests/fixtures/catalog-build/{name}"))
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn input<'a>(name: &'a str, text: &'a str, version: &'a str) -> Input<'a> {
    Input {
        name,
        text,
        version,
    }
}

#[test]
fn committed_catalog_is_the_builders_output_on_the_committed_inputs() {
    let committed = read("catalog/catalog.json");
    // The date and the versions the committed catalog was built with are in its header.
    let head: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let version = |i: usize| head["sources"][i]["version"].as_str().unwrap().to_owned();
    let (lv, gv) = (version(0), version(1));
    let day = date(head["generated"].as_str().unwrap());
    let litellm = read("catalog/sources/litellm_model_prices.json");
    let genai = read("catalog/sources/genai_prices_v2.json");
    let built = catalog_build::build(
        input("catalog/sources/litellm_model_prices.json", &litellm, &lv),
        input("catalog/sources/genai_prices_v2.json", &genai, &gv),
        day,
    )
    .unwrap();
    if built.json != committed {
        let first = built
            .json
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b);
        panic!(
            "catalog/catalog.json is not the builder's output on catalog/sources (first differing \
             line: {first:?}); rebuild it as catalog/README.md says"
        );
    }
    assert_eq!(
        built.catalog.models().len(),
        Catalog::embedded().unwrap().models().len()
    );
}

#[test]
fn the_embedded_catalog_holds_the_must_have_facts() {
    let c = Catalog::embedded().unwrap();
    let facts = catalog_build::must_have_facts(&c);
    assert_eq!(facts.len(), 11);
    let failed: Vec<&str> = facts
        .iter()
        .filter(|f| !f.ok)
        .map(|f| f.message.as_str())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn must_have_facts_fail_on_a_catalog_that_lacks_them() {
    let c = Catalog::from_catalog_json("small", &fixture("small_catalog.json")).unwrap();
    let facts = catalog_build::must_have_facts(&c);
    assert!(facts.iter().all(|f| !f.ok), "{facts:#?}");
}

fn small(litellm: &str, genai: &str) -> Result<catalog_build::Built, BuildError> {
    catalog_build::build(
        input("litellm_small.json", litellm, "unknown"),
        input("genai_small_v2.json", genai, "unknown"),
        date("2026-01-01"),
    )
}

#[test]
fn small_feeds_build_the_golden_catalog() {
    let built = small(
        &fixture("litellm_small.json"),
        &fixture("genai_small_v2.json"),
    )
    .unwrap();
    assert_eq!(built.json, fixture("small_catalog.json"));
    // The rules at work, priced: gpt-x takes genai-prices' dated history, with LiteLLM's batch
    // tier on the price in force now (1000 x 1.25 + 1000 x 5 = $0.00625).
    let c = &built.catalog;
    let usage = otel_llm_cost::Usage {
        input_total: 1000,
        output_total: 1000,
        ..Default::default()
    };
    let at = |d: &str| date(d).unix_seconds();
    let p = c
        .price("gpt-x", None, &usage, at("2025-01-01"), None)
        .unwrap();
    assert_eq!(p.cost.total().to_string(), "0.025"); // 5 + 20 per M
    let p = c
        .price(
            "gpt-x",
            None,
            &usage,
            at("2025-07-01"),
            Some(otel_llm_cost::ServiceTier::Batch),
        )
        .unwrap();
    assert_eq!(p.cost.total().to_string(), "0.00625");
    // A genai-prices-only model is priced by its clause.
    assert_eq!(
        &*c.resolve("gpt-new-2026", None).unwrap().id,
        "openai/gpt-new"
    );
}

#[test]
fn the_build_is_deterministic() {
    let (l, g) = (
        fixture("litellm_small.json"),
        fixture("genai_small_v2.json"),
    );
    assert_eq!(small(&l, &g).unwrap().json, small(&l, &g).unwrap().json);
}

#[test]
fn broken_inputs_are_refused_naming_the_input() {
    let (l, g) = (
        fixture("litellm_small.json"),
        fixture("genai_small_v2.json"),
    );
    let cases: [(&str, &str, &str, &str); 5] = [
        // (litellm, genai, the input named, what the message says)
        (
            &l[..l.len() / 2],
            &g,
            "litellm_small.json",
            "ends early (truncated?)",
        ),
        (
            &l,
            &g[..g.len() - 3],
            "genai_small_v2.json",
            "ends early (truncated?)",
        ),
        (
            &l,
            "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            "genai_small_v2.json",
            "HTML page",
        ),
        ("", &g, "litellm_small.json", "it is empty"),
        // The two inputs swapped: each is the wrong shape for the other.
        (&g, &l, "litellm_small.json", "not a LiteLLM price map"),
    ];
    for (lt, gt, named, says) in cases {
        let e = small(lt, gt).unwrap_err().to_string();
        assert!(e.starts_with(named), "{e}");
        assert!(e.contains(says), "{e}");
    }
    let e = small(&l, &l).unwrap_err().to_string();
    assert!(
        e.starts_with("genai_small_v2.json: not a genai-prices v2 feed"),
        "{e}"
    );
}

#[test]
fn a_catalog_that_breaks_the_rules_is_refused() {
    let good = fixture("small_catalog.json");
    // Two models of one provider claiming the same `equals` alias.
    let shared = good.replace(
        r#""match":[{"equals":"odd-rate"}]"#,
        r#""match":[{"equals":"odd-rate"},{"equals":"gpt-x"}]"#,
    );
    assert_ne!(shared, good);
    let e = Catalog::from_catalog_json("shared.json", &shared)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shared.json: entry 'odd-rate': field 'match.equals': alias 'gpt-x' is also an alias of 'gpt-x'"),
        "{e}"
    );
    // The same id twice (ids are case-insensitive), and an unknown mode.
    let dup = good
        .replace(r#"{"id":"odd-rate""#, r#"{"id":"GPT-X""#)
        .replace(r#""mode":"embedding""#, r#""mode":"imaging""#);
    let e = Catalog::from_catalog_json("dup.json", &dup)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("entry 'GPT-X': field 'id': id used twice"),
        "{e}"
    );
    assert!(e.contains("unknown mode 'imaging'"), "{e}");
    // Through the builder used by `--catalog FILE` too.
    let f = std::env::temp_dir().join(format!("otel-llm-cost-dup-{}.json", std::process::id()));
    std::fs::write(&f, &dup).unwrap();
    let e = Catalog::builder()
        .with_catalog_file(&f)
        .build()
        .unwrap_err()
        .to_string();
    std::fs::remove_file(&f).ok();
    assert!(e.contains("id used twice"), "{e}");
}

#[test]
fn diff_of_two_small_catalogs_is_the_golden_one() {
    let old = Catalog::from_catalog_json("old", &fixture("small_catalog.json")).unwrap();
    let new = Catalog::from_catalog_json("new", &fixture("diff_new.json")).unwrap();
    let d = CatalogDiff::between(&old, &new);
    assert_eq!(d.to_string(), fixture("diff.txt"));
    let json: serde_json::Value = serde_json::to_value(&d).unwrap();
    let golden: serde_json::Value = serde_json::from_str(&fixture("diff.json")).unwrap();
    assert_eq!(json, golden);
    assert_eq!(
        d.summary(),
        "catalog 2026.01.01 -> 2026.02.01: 1 models added, 1 removed, 2 with price changes"
    );
    assert!(CatalogDiff::between(&old, &old).is_empty());
}
