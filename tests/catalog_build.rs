//! The catalog builder (`otel_llm_cost::pricing::build`): the committed catalog is its output on
//! the committed inputs; small fixture feeds give the golden catalog (cross-checked once against
//! the former catalog/generate.py, see catalog/README.md); bad inputs are refused with their name;
//! catalogs that break the FORMAT.md rules are refused; the diff of two catalogs.

use otel_llm_cost::pricing::build::{self as catalog_build, BuildError, CatalogDiff, Input};
use otel_llm_cost::{pricing::Date, Catalog};

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
    let usage = otel_llm_cost::pricing::Usage {
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
            Some(otel_llm_cost::pricing::ServiceTier::Batch),
        )
        .unwrap();
    assert_eq!(p.cost.total().to_string(), "0.00625");
    // A genai-prices-only model is priced by its clause.
    assert_eq!(
        &*c.resolve("gpt-new-2026", None).unwrap().id,
        "openai/gpt-new"
    );
}

fn variants_build() -> catalog_build::Built {
    catalog_build::build(
        input(
            "litellm_variants.json",
            &fixture("litellm_variants.json"),
            "unknown",
        ),
        input(
            "genai_variants_v2.json",
            &fixture("genai_variants_v2.json"),
            "unknown",
        ),
        date("2026-01-01"),
    )
    .unwrap()
}

/// genai-prices' price variants (the feed of its 0.2 packages) are the service tiers the former
/// generate.py wrote (the golden file is byte for byte its output on the same facts, except
/// `sources`): batch / flex / priority variants over the price entries they overlap, the newest
/// dated one per entry, long-context cliffs inside a tier; `service_tier: default` is the
/// standard price; other contexts and time-of-day windows are counted, not written.
#[test]
fn price_variants_become_service_tiers_as_generate_py_wrote_them() {
    let built = variants_build();
    assert_eq!(built.json, fixture("variants_catalog.json"));
    let c = &built.catalog;
    let usage = |input_total, output_total| otel_llm_cost::pricing::Usage {
        input_total,
        output_total,
        ..Default::default()
    };
    let at = |d: &str| date(d).unix_seconds();
    let cost = |model: &str, u: &otel_llm_cost::pricing::Usage, day: &str, tier| {
        c.price(model, None, u, at(day), tier)
            .unwrap()
            .cost
            .total()
            .to_string()
    };
    use otel_llm_cost::pricing::ServiceTier::{Batch, Flex, Priority};
    let small = usage(1000, 1000);
    // gpt-v batch since 2025-06-10: genai-prices' variant 1 / 4 per M, not LiteLLM's 1.1 / 4.4
    // (what a builder blind to variants takes: $0.0055).
    assert_eq!(cost("gpt-v", &small, "2025-07-01", Some(Batch)), "0.005");
    // Before that date the undated batch variant: 2.5 / 10.
    assert_eq!(cost("gpt-v", &small, "2025-01-01", Some(Batch)), "0.0125");
    // flex from 2025-09-01 sits on the price in force since 2025-06-10 (schema 1 has no date
    // of its own for a tier): 1 / 4.
    assert_eq!(cost("gpt-v", &small, "2025-07-01", Some(Flex)), "0.005");
    // priority with its long-context cliff: 300,000 x 7 + 1,000 x 14 per M.
    assert_eq!(
        cost("gpt-v", &usage(300_000, 1000), "2025-07-01", Some(Priority)),
        "2.114"
    );
    // undated and agreeing: genai-prices' batch variant (input 0.4, output the standard 4) next
    // to LiteLLM's flex tier.
    assert_eq!(cost("gpt-u", &small, "2025-07-01", Some(Batch)), "0.0044");
    assert_eq!(cost("gpt-u", &small, "2025-07-01", Some(Flex)), "0.0025");
    assert_eq!(
        cost("deepseek-v", &small, "2025-07-01", Some(Batch)),
        "0.000685"
    );
    // Schema 2 writes the other variants and the time-of-day windows, and prices by them.
    let ctx = |pairs: &[(&str, &str)]| {
        let mut x = otel_llm_cost::pricing::PriceContext::default();
        for (k, v) in pairs {
            x.set(k, v);
        }
        x
    };
    let priced = |model: &str, u: &otel_llm_cost::pricing::Usage, at: i64, x| {
        let p = c.price_in(model, None, u, at, &x).unwrap();
        (p.cost.total().to_string(), p.applied.label())
    };
    let july = at("2025-07-01");
    // speed=fast on the price since 2025-06-10: 10 / 40 per M -> 0.01 + 0.04.
    assert_eq!(
        priced("gpt-v", &small, july, ctx(&[("speed", "fast")])),
        ("0.05".into(), Some("speed=fast".into()))
    );
    // A two-key variant needs both: route alone is the standard price (2 / 8), with the flex
    // tier it is the variant (1.1 / 8), not the flex tier (1 / 4).
    let zurich = ("route", "eu/zürich");
    assert_eq!(
        priced("gpt-v", &small, july, ctx(&[zurich])),
        ("0.01".into(), None)
    );
    assert_eq!(
        priced(
            "gpt-v",
            &small,
            july,
            ctx(&[zurich, ("service_tier", "flex")])
        ),
        (
            "0.0091".into(),
            Some("route=eu/zürich,service_tier=flex".into())
        )
    );
    // An unknown value of a known key: the standard price, nothing named.
    assert_eq!(
        priced("gpt-v", &small, july, ctx(&[("speed", "warp")])),
        ("0.01".into(), None)
    );
    // deepseek-v's 16:30-00:30 UTC window: half price (0.135 / 0.55) inside, 0.27 / 1.1 out.
    let window = july + 17 * 3600;
    assert_eq!(
        priced("deepseek-v", &small, window, ctx(&[])),
        ("0.000685".into(), Some("utc=16:30-00:30".into()))
    );
    assert_eq!(
        priced("deepseek-v", &small, july + 12 * 3600, ctx(&[])),
        ("0.00137".into(), None)
    );
    let head: serde_json::Value = serde_json::from_str(&built.json).unwrap();
    let notes: Vec<&str> = head["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for n in [
        r#"genai-prices price variants written (other than batch/flex/priority): 2 (e.g. openai/gpt-v {"speed": "fast"}, openai/gpt-v {"route": "eu/z\u00fcrich", "service_tier": "flex"})"#,
        "genai-prices price variants skipped (non-date constraint): 1 (e.g. openai/gpt-v)",
        "genai-prices dated variants attached to the price in force on their start date: 1 (e.g. openai/gpt-v flex@2025-09-01)",
        "genai-prices time-of-day prices written as windows: 1 (e.g. deepseek/deepseek-v)",
    ] {
        assert!(notes.contains(&n), "{n} not in {notes:#?}");
    }
}

/// A malformed variant is refused and counted; the model's other prices and variants stay.
#[test]
fn malformed_price_variants_are_refused_and_counted_the_rest_kept() {
    let genai = r#"[{"id": "openai", "name": "OpenAI", "api_pattern": "x", "models": [
      {"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 2, "output_mtok": 8},
       "price_variants": [
         {"when": {"processing": "batch"}, "prices": {"input_mtok": 1, "output_mtok": 4}},
         {"when": {}, "prices": {"input_mtok": 0.1}},
         {"when": {"processing": 1}, "prices": {"input_mtok": 0.1}},
         {"when": {"service_tier": "flex"}, "prices": 0.1},
         {"when": {"service_tier": "priority"}, "prices": {"input_mtok": 9}, "constraint": {"start_date": "June"}},
         "batch"
       ]},
      {"id": "m2", "match": {"equals": "m2"}, "prices": {"input_mtok": 3, "output_mtok": 6},
       "price_variants": {"processing": "batch"}}
    ]}]"#;
    let built = catalog_build::build(
        input("litellm.json", "{}", "unknown"),
        input("genai.json", genai, "unknown"),
        date("2026-01-01"),
    )
    .unwrap();
    assert!(
        built.json.contains(
            r#""genai-prices price variants refused (malformed): 6 (e.g. openai/m1, openai/m2)""#
        ),
        "{}",
        built.json
    );
    let usage = otel_llm_cost::pricing::Usage {
        input_total: 1000,
        output_total: 1000,
        ..Default::default()
    };
    let price = |m: &str, tier| {
        built
            .catalog
            .price(m, None, &usage, 0, tier)
            .map(|p| p.cost.total().to_string())
    };
    let batch = Some(otel_llm_cost::pricing::ServiceTier::Batch);
    assert_eq!(price("m1", batch).unwrap(), "0.005");
    assert_eq!(price("m1", None).unwrap(), "0.01");
    assert_eq!(price("m2", None).unwrap(), "0.009");
    // No flex / priority tier was made of the refused ones: the standard price applies.
    assert_eq!(
        price("m1", Some(otel_llm_cost::pricing::ServiceTier::Priority)).unwrap(),
        "0.01"
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
    // A window time that is not HH:MM[:SS], and a variant without a context, name their field.
    let bad = good
        .replace(r#""start":"16:30:00""#, r#""start":"25:00""#)
        .replace(
            r#""source":"genai-prices","input":"1","output":"4","units""#,
            r#""source":"genai-prices","input":"1","output":"4","variants":[{"when":{},"input":"2","output":"8"}],"units""#,
        );
    assert_ne!(bad, good);
    let e = Catalog::from_catalog_json("bad.json", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("windows[0].start") && e.contains("'25:00': not HH:MM[:SS] (UTC)"),
        "{e}"
    );
    assert!(
        e.contains("variants[0].when") && e.contains("at least one non-empty key"),
        "{e}"
    );
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

/// Operations beyond chat (issue 15): LiteLLM's image generation, transcription, speech,
/// rerank and OCR entries come in priced in units of the vocabulary; size/quality-keyed image
/// entries are price variants of one model; a model may have no token price (its tokens are
/// then named unpriced, never billed $0); every ignored field and skipped entry is noted with
/// its reason.
#[test]
fn operations_beyond_chat_are_priced_by_their_units() {
    use otel_llm_cost::pricing::{PriceContext, Unit, Usage};
    let built = catalog_build::build(
        input("litellm_ops.json", &fixture("litellm_ops.json"), "unknown"),
        input(
            "genai_ops_v2.json",
            &fixture("genai_ops_v2.json"),
            "unknown",
        ),
        date("2026-01-01"),
    )
    .unwrap();
    assert_eq!(built.json, fixture("ops_catalog.json"));
    let c = &built.catalog;
    let unit = |id: &str| id.parse::<Unit>().unwrap();
    let with = |pairs: &[(&str, u64)]| {
        let mut u = Usage::default();
        for (id, n) in pairs {
            u.set(unit(id), *n);
        }
        u
    };
    let ctx = |pairs: &[(&str, &str)]| {
        let mut c = PriceContext::default();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    };
    let cost = |model: &str, u: &Usage, cx: &PriceContext| {
        let p = c.price_in(model, None, u, 0, cx).unwrap();
        (p.cost.total().to_string(), p.cost.beyond().unpriced)
    };
    // Two medium 1024x1024 images: the {quality, size} variant (0.042 each) wins over the
    // {size} one (0.02).
    let images = with(&[("output_images", 2)]);
    let medium = ctx(&[("image_quality", "medium"), ("image_size", "1024x1024")]);
    assert_eq!(cost("gpt-img", &images, &medium), ("0.084".into(), 0));
    let auto = ctx(&[("image_quality", "auto"), ("image_size", "1024x1024")]);
    assert_eq!(cost("gpt-img", &images, &auto), ("0.04".into(), 0));
    // No size or quality: no per-image price applies; the images are unpriced, not $0.
    assert_eq!(cost("gpt-img", &images, &ctx(&[])), ("0".into(), 1));
    // Per pixel x 1024 x 1024, a model made of its size/quality entries alone.
    let hd = ctx(&[("image_quality", "hd"), ("image_size", "1024x1024")]);
    assert_eq!(
        cost("azure/dall-e-z", &images, &hd),
        ("0.175999916".into(), 0)
    );
    // Transcription: 600 s at 0.0001 USD/s = 0.36 USD/h -> 0.06.
    let seconds = with(&[("input_audio_seconds", 600)]);
    assert_eq!(cost("whisper-z", &seconds, &ctx(&[])), ("0.06".into(), 0));
    // Speech: 64 characters at 15 USD per million.
    let chars = with(&[("input_characters", 64)]);
    assert_eq!(cost("tts-z", &chars, &ctx(&[])), ("0.00096".into(), 0));
    // Rerank: 3 searches at 2 USD per 1,000.
    let searches = with(&[("rerank_searches", 3)]);
    assert_eq!(cost("rerank-z", &searches, &ctx(&[])), ("0.006".into(), 0));
    // OCR: 10 pages of which 4 annotated: 6 x 2 + 4 x 3 per 1,000; batch 6 x 1 + 4 x 3.
    let pages = with(&[
        ("input_document_pages", 10),
        ("input_annotated_document_pages", 4),
    ]);
    assert_eq!(cost("ocr-z", &pages, &ctx(&[])), ("0.024".into(), 0));
    let batch = ctx(&[("processing", "batch")]);
    assert_eq!(cost("ocr-z", &pages, &batch), ("0.018".into(), 0));
    // A model with no token price given only tokens: nothing billed, both sides unpriced,
    // and named.
    let tokens = Usage {
        input_total: 1200,
        output_total: 240,
        ..Usage::default()
    };
    assert_eq!(cost("whisper-z", &tokens, &ctx(&[])), ("0".into(), 2));
    let m = c.resolve("whisper-z", None).unwrap();
    assert_eq!(
        m.price_at(0).unpriced_units(&tokens, &ctx(&[]), 0),
        ["input_tokens=1200", "output_tokens=240"]
    );
    // What is not read is noted with why: a field no row of the reason table explains says so.
    let notes = &c.info().notes;
    let note = |needle: &str| notes.iter().any(|n| n.contains(needle));
    assert!(note(
        "input_dbu_cost_per_token (Databricks DBUs, not dollars"
    ));
    assert!(note("some_new_cost_per_thing (not in the builder's table"));
    assert!(note("mode 'video_generation' (video priced per second"));
    assert!(note("an image price by diffusion steps"));
    assert!(c.resolve("sora-z", None).is_none());
}

/// A rate set with no token price is only for the operations beyond chat: in a token mode it
/// is refused (a chat model that lost its rates must never price tokens at $0), and one of
/// `input` / `output` without the other is refused in every mode.
#[test]
fn no_token_price_is_refused_outside_the_operations_beyond_chat() {
    let good = fixture("small_catalog.json");
    let embed = r#""source":"litellm","input":"0.02","output":"0"}"#;
    assert!(good.contains(embed));
    let no_tokens = good.replace(embed, r#""source":"litellm","units":{"requests":"1"}}"#);
    let e = Catalog::from_catalog_json("bad.json", &no_tokens)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("text-embed-z") && e.contains("only for the operations beyond chat"),
        "{e}"
    );
    let tts = r#""units":{"input_characters":"15"}}"#;
    assert!(good.contains(tts));
    let half = good.replace(tts, r#""input":"1","units":{"input_characters":"15"}}"#);
    let e = Catalog::from_catalog_json("bad.json", &half)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("output") && e.contains("required rate is missing"),
        "{e}"
    );
    Catalog::from_catalog_json("good.json", &good).unwrap();
}
