//! User price layers: an overrides TOML file and a LiteLLM-format JSON import, on top of the
//! embedded catalog (or a base catalog file); and the errors bad files give.

use std::path::PathBuf;

use otel_llm_cost::{
    money::Rate, pricing::CatalogBuilder, pricing::PriceContext, pricing::ServiceTier,
    pricing::Unit, pricing::Usage, Catalog, CatalogError, Usd,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pricing"
    ))
    .join(name)
}

fn day(date: &str) -> i64 {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &fmt)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap()
}

fn rate(s: &str) -> Rate {
    Rate::parse_per_mtok(s).unwrap()
}

fn io(input: u64, output: u64) -> Usage {
    Usage {
        input_total: input,
        output_total: output,
        ..Usage::default()
    }
}

fn total(
    c: &Catalog,
    model: &str,
    usage: impl std::borrow::Borrow<Usage>,
    date: &str,
    tier: Option<ServiceTier>,
) -> Usd {
    c.price(model, None, usage.borrow(), day(date), tier)
        .unwrap_or_else(|e| panic!("{e}"))
        .cost
        .total()
}

fn with_overrides() -> Catalog {
    Catalog::builder()
        .with_overrides_file(fixture("overrides.toml"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The error list of a failed build (a single error is a list of one).
fn problems(e: CatalogError) -> Vec<CatalogError> {
    match e {
        CatalogError::Many(v) => v,
        e => vec![e],
    }
}

fn build_err(b: CatalogBuilder) -> CatalogError {
    match b.build() {
        Ok(_) => panic!("expected the build to fail"),
        Err(e) => e,
    }
}

// ---- overrides TOML ----------------------------------------------------------------------

#[test]
fn negotiated_price_replaces_a_catalog_models_prices_with_history() {
    let c = with_overrides();
    let m = c.get("gpt-4o-2024-08-06").unwrap();
    assert_eq!(m.prices.len(), 2);
    assert!(m.prices.iter().all(|p| p.source.starts_with("override:")));
    assert!(
        m.prices[0].source.ends_with("overrides.toml"),
        "{}",
        m.prices[0].source
    );
    // Before the contract: list price. 1000 x 2.5 + 500 x 10 = 0.0025 + 0.005 = 0.0075.
    assert_eq!(
        total(&c, "gpt-4o-2024-08-06", io(1000, 500), "2025-02-28", None),
        usd("0.0075")
    );
    // From 2025-03-01: $2 in, $0.10 cached, $8 out. 1000 in with 400 cached, 500 out:
    // 600 x 2 = 0.0012; 400 x 0.1 = 0.00004; 500 x 8 = 0.004 -> 0.00524.
    let u = Usage {
        input_total: 1000,
        cache_read: 400,
        output_total: 500,
        ..Usage::default()
    };
    let p = c
        .price("gpt-4o-2024-08-06", None, &u, day("2025-03-01"), None)
        .unwrap();
    assert_eq!(p.price.effective_from.unwrap().to_string(), "2025-03-01");
    assert_eq!(p.cost.total(), usd("0.00524"));
    // Negotiated batch: $1 in / $4 out (cache reads absent: billed at the batch input rate).
    // 1M + 1M -> 5.
    assert_eq!(
        total(
            &c,
            "gpt-4o-2024-08-06",
            io(1_000_000, 1_000_000),
            "2025-06-01",
            Some(ServiceTier::Batch)
        ),
        usd("5")
    );
    // The catalog's match rules stay: prefixed ids find the overridden entry too.
    assert_eq!(
        c.resolve("openai/gpt-4o-2024-08-06", None).unwrap().id,
        m.id
    );
    assert_eq!(
        total(&c, "openai/gpt-4o-2024-08-06", u, "2025-03-01", None),
        usd("0.00524")
    );
    // Other models are untouched: Azure's deployment of the same model keeps its catalog price.
    assert_eq!(
        total(
            &c,
            "azure/gpt-4o-2024-08-06",
            io(1000, 500),
            "2025-06-01",
            None
        ),
        usd("0.0075")
    );
    assert_eq!(
        c.models().len(),
        Catalog::shared().unwrap().models().len() + 1
    );
    assert_eq!(c.info().layers.len(), 1);
}

#[test]
fn own_model_with_aliases_patterns_tiers_and_service_tiers() {
    let c = with_overrides();
    let m = c.get("acme-llm").unwrap();
    assert_eq!(&*m.provider, "acme");
    for id in [
        "acme-llm",
        "ACME-LLM",
        "acme-llm-v2",
        "acme/llm",
        "acme-llm-v3-preview",
        "acme-prod",
    ] {
        assert_eq!(
            c.resolve(id, None).map(|m| &*m.id),
            Some("acme-llm"),
            "{id}"
        );
        assert_eq!(
            c.resolve(id, Some("acme")).map(|m| &*m.id),
            Some("acme-llm"),
            "{id}"
        );
    }
    let at = "2025-06-01";
    // Base: $0.10 in, $0.40 out. 1000 x 0.1 = 0.0001; 100 x 0.4 = 0.00004 -> 0.00014.
    assert_eq!(
        total(&c, "acme-llm", io(1000, 100), at, None),
        usd("0.00014")
    );
    // Above 100k input every token at $0.20 / $0.80:
    // 100,001 x 0.2 = 0.0200002; 1000 x 0.8 = 0.0008 -> 0.0208002.
    let p = c
        .price("acme-llm", None, &io(100_001, 1000), day(at), None)
        .unwrap();
    assert_eq!(p.cost.total(), usd("0.0208002"));
    assert_eq!(p.applied.above_input_tokens, Some(100_000));
    // The tier lists no cache_read: it inherits the base $0.01.
    // 200,000 in with 100,000 cached: 100,000 x 0.2 = 0.02; 100,000 x 0.01 = 0.001 -> 0.021.
    let u = Usage {
        input_total: 200_000,
        cache_read: 100_000,
        ..Usage::default()
    };
    assert_eq!(total(&c, "acme-llm", u, at, None), usd("0.021"));
    // Reasoning at $0.50: 1000 out with 600 reasoning: 400 x 0.4 + 600 x 0.5 = 0.00046.
    let u = Usage {
        output_total: 1000,
        reasoning: 600,
        ..Usage::default()
    };
    assert_eq!(total(&c, "acme-llm", u, at, None), usd("0.00046"));
    // Cache writes at $0.125: 8,000 x 0.125 = 0.001.
    let u = Usage {
        input_total: 8000,
        cache_write_5m: 8000,
        ..Usage::default()
    };
    assert_eq!(total(&c, "acme-llm", u, at, None), usd("0.001"));
    // Service tiers (no long-context tiers of their own): for 1M + 1M, priority $0.30/$1.20
    // -> 1.5; flex $0.05/$0.20 -> 0.25. Batch is not offered: standard rates, and 1M input is
    // above the 100k cliff ($0.20/$0.80) -> 0.2 + 0.8 = 1.
    let big = io(1_000_000, 1_000_000);
    assert_eq!(
        total(&c, "acme-llm", &big, at, Some(ServiceTier::Priority)),
        usd("1.5")
    );
    assert_eq!(
        total(&c, "acme-llm", &big, at, Some(ServiceTier::Flex)),
        usd("0.25")
    );
    assert_eq!(
        total(&c, "acme-llm", &big, at, Some(ServiceTier::Batch)),
        usd("1")
    );
    // From 2026-01-01: $0.000000001 in (9 decimals, the finest rate), $0.001 out (TOML 1e-3).
    // 1M in -> 0.000000001; 1M out -> 0.001; total 0.001000001.
    assert_eq!(
        total(&c, "acme-llm", &big, "2026-01-01", None),
        usd("0.001000001")
    );
}

#[test]
fn toml_floats_stay_exact() {
    let toml = r#"
[[models]]
id = "floaty"
[[models.prices]]
input = 0.1
output = 0.3
cache_read = 2.675
cache_write_5m = 1e-7
cache_write_1h = 0.000000001
reasoning = 7
audio_input = 123456.789
"#;
    let c = Catalog::builder()
        .with_overrides_toml("floats.toml", toml)
        .build()
        .unwrap();
    let r = &c.get("floaty").unwrap().prices[0].standard.rates;
    assert_eq!(r.input, rate("0.1"));
    assert_eq!(r.output, rate("0.3"));
    assert_eq!(r.cache_read, Some(rate("2.675")));
    assert_eq!(r.cache_write_5m, Some(rate("0.0000001")));
    assert_eq!(r.cache_write_1h, Some(rate("0.000000001")));
    assert_eq!(r.reasoning, Some(rate("7")));
    assert_eq!(r.audio_input, Some(rate("123456.789")));
    // 10 million one-token calls at 0.1/M sum to exactly $1 (f64 would drift).
    let one = c
        .price("floaty", None, &io(1, 0), 0, None)
        .unwrap()
        .cost
        .total();
    let sum: Usd = std::iter::repeat_n(one, 10_000_000).sum();
    assert_eq!(sum, usd("1"));
}

#[test]
fn effective_from_as_string_or_toml_date() {
    for v in ["\"2025-03-01\"", "2025-03-01"] {
        let toml = format!(
            "[[models]]\nid = \"d\"\n[[models.prices]]\ninput = 1\noutput = 1\n\
             [[models.prices]]\neffective_from = {v}\ninput = 2\noutput = 2\n"
        );
        let c = Catalog::builder()
            .with_overrides_toml("d.toml", toml)
            .build()
            .unwrap_or_else(|e| panic!("{v}: {e}"));
        let m = c.get("d").unwrap();
        assert_eq!(
            m.prices[1].effective_from.unwrap().to_string(),
            "2025-03-01",
            "{v}"
        );
    }
    // A date-time is not a day: refused, naming the entry and field.
    let toml = "[[models]]\nid = \"d\"\n[[models.prices]]\neffective_from = 2025-03-01T10:00:00Z\ninput = 1\noutput = 1\n";
    let e = build_err(Catalog::builder().with_overrides_toml("d.toml", toml)).to_string();
    assert!(
        e.contains("d.toml") && e.contains("'d: prices[0]'") && e.contains("effective_from"),
        "{e}"
    );
}

#[test]
fn later_layers_win() {
    let a = "[[models]]\nid = \"gpt-4o-mini\"\n[[models.prices]]\ninput = 1\noutput = 1\n";
    let b = "[[models]]\nid = \"gpt-4o-mini\"\n[[models.prices]]\ninput = 2\noutput = 2\n";
    let c = Catalog::builder()
        .with_overrides_toml("a.toml", a)
        .with_overrides_toml("b.toml", b)
        .build()
        .unwrap();
    assert_eq!(
        c.get("gpt-4o-mini").unwrap().prices[0].standard.rates.input,
        rate("2")
    );
    assert_eq!(c.info().layers, ["a.toml", "b.toml"]);
    // An alias defined in two layers: the later target.
    let a = "[aliases]\n\"dep\" = \"gpt-4o\"\n";
    let b = "[aliases]\n\"DEP\" = \"o3\"\n";
    let c = Catalog::builder()
        .with_overrides_toml("a.toml", a)
        .with_overrides_toml("b.toml", b)
        .build()
        .unwrap();
    assert_eq!(&*c.resolve("dep", None).unwrap().id, "o3");
}

#[test]
fn aliases_may_target_a_model_defined_in_the_same_file() {
    let c = with_overrides();
    assert_eq!(&*c.resolve("acme-prod", None).unwrap().id, "acme-llm");
    assert_eq!(
        &*c.resolve("prod-gpt4o", Some("azure")).unwrap().id,
        "azure/eu/gpt-4o-2024-08-06"
    );
    assert_eq!(
        &*c.resolve(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            Some("aws.bedrock")
        )
        .unwrap()
        .id,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
}

// ---- LiteLLM import ----------------------------------------------------------------------

fn with_litellm() -> Catalog {
    Catalog::builder()
        .with_litellm_file(fixture("litellm_small.json"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn litellm_import_adds_models_with_tiers_and_batch() {
    let c = with_litellm();
    let m = c.get("my-gateway/llama-4-maverick").unwrap();
    assert_eq!(&*m.provider, "my-gateway");
    assert_eq!(m.mode, "chat");
    assert!(m.prices[0].source.starts_with("litellm-import:"));
    assert!(m.prices[0].source.ends_with("litellm_small.json"));
    let at = "2025-06-01";
    // 2e-07/token = $0.20/M in, $0.60/M out: 1000 x 0.2 + 1000 x 0.6 = 0.0002 + 0.0006.
    assert_eq!(
        total(&c, "my-gateway/llama-4-maverick", io(1000, 1000), at, None),
        usd("0.0008")
    );
    // Above 128k (input_cost_per_token_above_128k_tokens = $0.40/M): 128,001 x 0.4 = 0.0512004.
    assert_eq!(
        total(&c, "my-gateway/llama-4-maverick", io(128_001, 0), at, None),
        usd("0.0512004")
    );
    // Batch $0.10 / $0.30; cache reads keep the standard $0.05 (LiteLLM lists only what changes):
    // 5,000 x 0.1 = 0.0005; 5,000 x 0.05 = 0.00025; 1,000 x 0.3 = 0.0003 -> 0.00105.
    let u = Usage {
        input_total: 10_000,
        cache_read: 5_000,
        output_total: 1_000,
        ..Usage::default()
    };
    assert_eq!(
        total(
            &c,
            "my-gateway/llama-4-maverick",
            u,
            at,
            Some(ServiceTier::Batch)
        ),
        usd("0.00105")
    );
}

#[test]
fn litellm_import_strips_routing_prefixes_for_an_alias() {
    let c = with_litellm();
    let m = c.resolve("my-gpt-4o-deployment", Some("azure")).unwrap();
    assert_eq!(&*m.id, "azure/my-gpt-4o-deployment");
    assert_eq!(&*m.provider, "azure.ai.openai");
    assert_eq!(
        c.resolve("azure/my-gpt-4o-deployment", None).unwrap().id,
        m.id
    );
}

#[test]
fn litellm_import_replaces_a_catalog_price_and_takes_what_the_builder_prices() {
    let c = with_litellm();
    // gpt-4o-mini re-priced at $0.12 / $0.48: 1M + 1M -> 0.6 (catalog: 0.75).
    assert_eq!(
        total(
            &c,
            "gpt-4o-mini",
            io(1_000_000, 1_000_000),
            "2025-06-01",
            None
        ),
        usd("0.6")
    );
    // An embedding without an output price: output is 0. 1M x $0.01/M -> 0.01.
    let e = c.get("my-gateway/embed-small").unwrap();
    assert_eq!(e.mode, "embedding");
    assert_eq!(
        total(
            &c,
            "my-gateway/embed-small",
            io(1_000_000, 0),
            "2025-06-01",
            None
        ),
        usd("0.01")
    );
    // Image generation is an operation the builder prices per image, so the import takes it
    // too (its mode, no token price); a chat entry priced per second alone is left out as the
    // builder leaves it out: skipped, not an error.
    let img = c
        .get("my-gateway/image-gen")
        .expect("image generation imported");
    assert_eq!(img.mode, "image_generation");
    assert!(c.get("my-gateway/per-second-audio").is_none());
    assert!(c.get("sample_spec").is_none());
    // 5 priced entries, one of which replaced a catalog model.
    assert_eq!(
        c.models().len(),
        Catalog::shared().unwrap().models().len() + 4
    );
}

#[test]
fn overrides_and_import_together() {
    let c = Catalog::builder()
        .with_litellm_file(fixture("litellm_small.json"))
        .with_overrides_file(fixture("overrides.toml"))
        .with_alias("edge-deployment", "my-gateway/llama-4-maverick")
        .build()
        .unwrap();
    assert_eq!(c.info().layers.len(), 2);
    assert!(c.get("acme-llm").is_some());
    assert_eq!(
        &*c.resolve("edge-deployment", None).unwrap().id,
        "my-gateway/llama-4-maverick"
    );
}

// ---- a base catalog file -------------------------------------------------------------------

#[test]
fn a_base_catalog_file_replaces_the_embedded_one() {
    let json = std::fs::read_to_string(fixture("catalog_min.json")).unwrap();
    let c = Catalog::builder()
        .with_base_catalog("catalog_min.json", json.clone())
        .build()
        .unwrap();
    assert_eq!(c.models().len(), 2);
    assert_eq!(&*c.info().version, "2025.01.01");
    assert!(c.resolve("gpt-4o", None).is_none());
    assert_eq!(&*c.resolve("tiny-1-mini", None).unwrap().id, "tiny-1");
    // Before 2025-06-01: $1 / $2. After: $0.50 / $1, and above 1000 input $1 / $2.
    assert_eq!(
        total(&c, "tiny-1", io(1000, 1000), "2025-01-01", None),
        usd("0.003")
    );
    assert_eq!(
        total(&c, "tiny-1", io(1000, 1000), "2025-06-01", None),
        usd("0.0015")
    );
    assert_eq!(
        total(&c, "tiny-1", io(1001, 1000), "2025-06-01", None),
        usd("0.003001")
    );
    assert_eq!(
        total(
            &c,
            "tiny-1",
            io(1000, 1000),
            "2025-06-01",
            Some(ServiceTier::Batch)
        ),
        usd("0.00075")
    );
    let same = Catalog::from_catalog_json("catalog_min.json", &json).unwrap();
    assert_eq!(same.models().len(), 2);
}

// ---- errors ------------------------------------------------------------------------------

#[test]
fn a_bad_overrides_file_lists_every_problem_with_file_entry_and_field() {
    let path = fixture("overrides_bad.toml");
    let e = build_err(Catalog::builder().with_overrides_file(&path));
    let all = e.to_string();
    let list = problems(e);
    assert_eq!(list.len(), 6, "{all}");
    assert!(all.starts_with("6 problems:"), "{all}");
    let file = path.display().to_string();
    for p in &list {
        assert!(p.to_string().starts_with(&file), "{p}");
        assert!(matches!(p, CatalogError::Invalid { .. }), "{p:?}");
    }
    let find = |entry: &str| {
        list.iter()
            .find_map(|p| match p {
                CatalogError::Invalid {
                    entry: e,
                    field,
                    message,
                    ..
                } if e == entry => Some((field.clone(), message.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no error for {entry}: {all}"))
    };
    let (f, m) = find("bad-rate: prices[0]");
    assert_eq!(f, "input");
    assert!(
        m.contains("'abc'") && m.contains("not a decimal number"),
        "{m}"
    );
    let (f, m) = find("negative: prices[0]");
    assert_eq!(f, "input");
    assert!(m.contains("-1.5") && m.contains("negative"), "{m}");
    let (f, m) = find("too-precise: prices[0]");
    assert_eq!(f, "input");
    assert!(m.contains("too many decimal places (at most 9)"), "{m}");
    let (f, m) = find("no-output: prices[0]");
    assert_eq!(f, "output");
    assert!(m.contains("missing"), "{m}");
    let (f, m) = find("unsorted");
    assert_eq!(f, "prices[1].effective_from");
    assert!(m.contains("ascending date order"), "{m}");
    let (f, m) = find("prod-gpt4o");
    assert_eq!(f, "aliases");
    assert!(
        m.contains("'gpt-4o-2099-12-31' is not in the catalog"),
        "{m}"
    );
}

#[test]
fn unknown_fields_and_malformed_toml_name_the_file_and_line() {
    let path = fixture("overrides_unknown_field.toml");
    let e = build_err(Catalog::builder().with_overrides_file(&path));
    assert!(matches!(e, CatalogError::Invalid { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.starts_with(&path.display().to_string()), "{s}");
    // A price is read as the catalog reads one; a field no price has is named with its model
    // and price.
    assert!(
        s.contains("entry 'x: prices[0]': field 'inptu': unknown field"),
        "{s}"
    );

    let path = fixture("overrides_malformed.toml");
    let e = build_err(Catalog::builder().with_overrides_file(&path)).to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(e.contains("line 3"), "{e}");

    // Unknown top-level tables and model fields are refused too (typos must not pass silently).
    for toml in [
        "[alias]\n\"x\" = \"gpt-4o\"\n",
        "[[models]]\nid = \"x\"\nprovder = \"y\"\n[[models.prices]]\ninput = 1\noutput = 1\n",
    ] {
        let e = build_err(Catalog::builder().with_overrides_toml("typo.toml", toml)).to_string();
        assert!(
            e.starts_with("typo.toml: ") && e.contains("unknown field"),
            "{e}"
        );
    }
}

#[test]
fn more_override_mistakes_are_named() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[models]]\nid = \"x\"\n",
            "field 'prices'",
            "at least one",
        ),
        (
            "[[models]]\nid = \"\"\n[[models.prices]]\ninput = 1\noutput = 1\n",
            "entry 'models[0]'",
            "empty model id",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = 1\noutput = 1\n[[models]]\nid = \"X\"\n[[models.prices]]\ninput = 1\noutput = 1\n",
            "field 'id'",
            "defined twice",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = 1\noutput = 1\n[models.prices.service_tiers.turbo]\ninput = 1\noutput = 1\n",
            "field 'service_tiers.turbo'",
            "unknown service tier",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = 1\noutput = 1\n[models.prices.service_tiers.batch]\ninput = 0.5\n",
            "field 'service_tiers.batch.output'",
            "missing",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = 1\noutput = 1\n[[models.prices.tiers]]\nabove_input_tokens = 200000\ninput = 2\n[[models.prices.tiers]]\nabove_input_tokens = 100000\ninput = 3\n",
            "field 'tiers[1].above_input_tokens'",
            "ascending",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = true\noutput = 1\n",
            "field 'input'",
            "not a decimal number",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = nan\noutput = 1\n",
            "field 'input'",
            "not a decimal number",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\ninput = 1\noutput = 1\n[[models.prices]]\ninput = 2\noutput = 2\n",
            "field 'prices[1].effective_from'",
            "only the first undated",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\neffective_from = \"2025-01-01\"\ninput = 1\noutput = 1\n[[models.prices]]\neffective_from = \"2025-01-01\"\ninput = 2\noutput = 2\n",
            "field 'prices[1].effective_from'",
            "one per date",
        ),
        (
            "[[models]]\nid = \"x\"\n[[models.prices]]\neffective_from = \"2025-13-01\"\ninput = 1\noutput = 1\n",
            "field 'effective_from'",
            "not a YYYY-MM-DD date",
        ),
        ("[aliases]\n\"\" = \"gpt-4o\"\n", "field 'aliases'", "non-empty"),
    ];
    for (toml, want_where, want_what) in cases {
        let e = build_err(Catalog::builder().with_overrides_toml("o.toml", *toml)).to_string();
        assert!(e.starts_with("o.toml: "), "{e}");
        assert!(e.contains(want_where), "{toml}\n=> {e}");
        assert!(e.contains(want_what), "{toml}\n=> {e}");
    }
}

#[test]
fn a_bad_litellm_file_names_entry_and_field() {
    let path = fixture("litellm_bad.json");
    let e = build_err(Catalog::builder().with_litellm_file(&path));
    let all = e.to_string();
    let list = problems(e);
    // `output-only` is not a problem: the builder leaves such an entry out (LiteLLM's own map
    // has them), and so does the import (`litellm_import_leaves_out_what_the_builder_leaves_out`).
    assert_eq!(list.len(), 3, "{all}");
    let file = path.display().to_string();
    let has = |entry: &str, field: &str, what: &str| {
        assert!(
            list.iter().any(|p| {
                let s = p.to_string();
                s.starts_with(&file)
                    && s.contains(&format!("entry '{entry}'"))
                    && s.contains(&format!("field '{field}'"))
                    && s.contains(what)
            }),
            "{entry}/{field}/{what} not in:\n{all}"
        )
    };
    has(
        "string-cost",
        "input_cost_per_token",
        "expected a number, found \"0.000001\"",
    );
    has("negative-cost", "output_cost_per_token", "negative");
    has("not-an-object", "(entry)", "expected an object");
    assert!(!all.contains("good-model"), "{all}");
    assert!(!all.contains("output-only"), "{all}");
}

/// The import is the catalog builder's LiteLLM loader: it takes what the builder takes (image
/// size/quality entries become variants of one model) and leaves out what it leaves out,
/// counted under the builder's reasons in the catalog's `layer_notes`. It used to refuse the
/// whole file for an entry priced by output alone, which LiteLLM's own map has (23 of them).
#[test]
fn litellm_import_leaves_out_what_the_builder_leaves_out() {
    let path = fixture("litellm_leaves_out.json");
    let c = Catalog::builder()
        .with_litellm_file(&path)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let chat = c.get("acme-chat").expect("the chat model is imported");
    assert_eq!(chat.prices[0].standard.rates.input.to_string(), "1");
    assert!(c.get("acme-output-only").is_none());
    assert!(c.get("acme-realtime").is_none());
    // The two size/quality entries are one model priced per image by context.
    let img = c.get("acme-img").expect("the image model is imported");
    assert!(c.get("low/1024-x-1024/acme-img").is_none());
    assert_eq!(img.prices[0].variants.len(), 2, "{:?}", img.prices[0]);
    assert!(img.prices[0].source.starts_with("litellm-import:"));
    let file = path.display().to_string();
    let notes = &c.info().layer_notes;
    let noted = |what: &str, example: &str| {
        assert!(
            notes.iter().any(|n| n
                .starts_with(&format!("{file}: LiteLLM entries skipped: {what}"))
                && n.contains(example)),
            "{what} / {example} not in {notes:#?}"
        )
    };
    noted(
        "a token price without input or output: 1",
        "acme-output-only",
    );
    noted("mode 'realtime'", "acme-realtime");
    assert_eq!(c.info().layers_left_out, 2);
}

#[test]
fn malformed_json_and_missing_files_name_the_file() {
    let path = fixture("litellm_malformed.json");
    let e = build_err(Catalog::builder().with_litellm_file(&path));
    assert!(matches!(e, CatalogError::Syntax { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.starts_with(&path.display().to_string()), "{s}");
    assert!(s.contains("line 2"), "{s}");

    let e = build_err(Catalog::builder().with_litellm_file(fixture("no-such-file.json")));
    assert!(matches!(e, CatalogError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("no-such-file.json"), "{e}");
    let e = build_err(Catalog::builder().with_overrides_file(fixture("no-such-file.toml")));
    assert!(e.to_string().contains("no-such-file.toml"), "{e}");

    // A JSON array is not a price map.
    let e = build_err(Catalog::builder().with_base_catalog("c.json", "[1, 2]"));
    assert!(e.to_string().starts_with("c.json: "), "{e}");
}

#[test]
fn a_bad_catalog_file_lists_every_model_problem() {
    let json = std::fs::read_to_string(fixture("catalog_bad.json")).unwrap();
    let e = Catalog::from_catalog_json("catalog_bad.json", &json).unwrap_err();
    let all = e.to_string();
    let list = problems(e);
    assert_eq!(list.len(), 3, "{all}");
    assert!(
        all.contains("entry 'unsorted': field 'prices[1].effective_from'"),
        "{all}"
    );
    assert!(
        all.contains("entry 'negative: prices[0]': field 'input'"),
        "{all}"
    );
    assert!(
        all.contains("entry 'bad-regex': field 'match.regex'"),
        "{all}"
    );
    // Wrong schema version (this build reads 1 and 2).
    let e = Catalog::from_catalog_json(
        "v3.json",
        r#"{"schema": 3, "catalog_version": "x", "generated": "x", "models": []}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unsupported catalog schema 3"), "{e}");
    // Schema 2 `units`: an unknown unit and a unit with a field of its own, both named.
    let e = Catalog::from_catalog_json(
        "units.json",
        r#"{"schema": 2, "catalog_version": "x", "generated": "x", "models": [
            {"id": "m", "provider": "p", "mode": "chat", "match": [{"equals": "m"}],
             "prices": [{"effective_from": null, "source": "s", "input": "1", "output": "2",
                         "units": {"web_search": "10"}}]},
            {"id": "n", "provider": "p", "mode": "chat", "match": [{"equals": "n"}],
             "prices": [{"effective_from": null, "source": "s", "input": "1", "output": "2",
                         "units": {"cache_read_tokens": "0.1"}}]}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("field 'units.web_search': unknown unit 'web_search'"),
        "{e}"
    );
    assert!(
        e.contains("field 'units.cache_read_tokens': 'cache_read_tokens' has a rate field"),
        "{e}"
    );
}

#[test]
fn nothing_is_half_loaded() {
    // One good layer and one bad: the build fails as a whole.
    let e = build_err(
        Catalog::builder()
            .with_overrides_file(fixture("overrides.toml"))
            .with_litellm_file(fixture("litellm_bad.json")),
    );
    assert_eq!(problems(e).len(), 3);
    // Good + bad overrides + bad LiteLLM + a dangling builder alias: every problem, one flat list.
    let e = build_err(
        Catalog::builder()
            .with_overrides_file(fixture("overrides.toml"))
            .with_overrides_file(fixture("overrides_bad.toml"))
            .with_litellm_file(fixture("litellm_bad.json"))
            .with_alias("nowhere", "no-such-model"),
    );
    let all = e.to_string();
    let list = problems(e);
    assert_eq!(list.len(), 6 + 3 + 1, "{all}");
    assert!(
        list.iter().all(|p| !matches!(p, CatalogError::Many(_))),
        "nested: {all}"
    );
    assert!(all.contains("overrides_bad.toml") && all.contains("litellm_bad.json"));
    assert!(all.contains("<builder>: entry 'nowhere'"), "{all}");
    // A syntax error in one layer still lets the others be checked.
    let e = build_err(
        Catalog::builder()
            .with_overrides_file(fixture("overrides_malformed.toml"))
            .with_overrides_file(fixture("overrides_bad.toml")),
    );
    assert_eq!(problems(e).len(), 1 + 6);
    // And a good build after all that still sees none of the bad layers' models.
    let c = with_overrides();
    assert!(c.get("bad-rate").is_none() && c.get("good-model").is_none());
}

// ---- issue 15: every charge a catalog price expresses, in overrides and imports -----------

/// Seconds of `date` (UTC midnight) plus `secs`.
fn at(date: &str, secs: i64) -> i64 {
    day(date) + secs
}

fn priced(
    c: &Catalog,
    model: &str,
    usage: &Usage,
    when: i64,
    ctx: &PriceContext,
) -> (Usd, Option<String>) {
    let p = c
        .price_in(model, None, usage, when, ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    (p.cost.total(), p.applied.label())
}

/// 10,000 input and 1,000 output tokens with `extra` units of the vocabulary.
fn call(extra: &[(&str, u64)]) -> Usage {
    let mut u = io(10_000, 1_000);
    for (name, n) in extra {
        u.set(name.parse::<Unit>().unwrap(), *n);
    }
    u
}

#[test]
fn overrides_price_units_request_fees_variants_and_windows() {
    let c = Catalog::builder()
        .with_overrides_file(fixture("overrides_units.toml"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let none = PriceContext::default();
    let mut fast = PriceContext::default();
    fast.set("speed", "fast");
    let noon = at("2026-03-01", 12 * 3600);
    let searches = call(&[("web_searches", 3)]);
    // Standard: 10,000 x $1/M = 0.01; 1,000 x $4/M = 0.004; 3 searches x $8 / 1,000 = 0.024;
    // the request fee, one request x $0.50 / 1,000 = 0.0005 -> 0.0385.
    assert_eq!(
        priced(&c, "acme-agent", &searches, noon, &none),
        (usd("0.0385"), None)
    );
    // Fast mode, a full rate set of its own (no request fee): 10,000 x 2 = 0.02;
    // 1,000 x 8 = 0.008; searches 0.024 -> 0.052.
    assert_eq!(
        priced(&c, "acme-agent", &searches, noon, &fast),
        (usd("0.052"), Some("speed=fast".into()))
    );
    // Off-peak 01:00-04:00 UTC (TOML time 01:00:00, string "04:00"): 02:30 is in it.
    // 10,000 x 0.5 = 0.005; 1,000 x 2 = 0.002; 3 x $4 / 1,000 = 0.012 -> 0.019.
    let (cost, label) = priced(&c, "acme-agent", &searches, at("2026-03-01", 9000), &none);
    assert_eq!(
        (cost, label.as_deref()),
        (usd("0.019"), Some("utc=01:00-04:00"))
    );
    // 04:00 is not (end excluded): standard.
    let (cost, label) = priced(
        &c,
        "acme-agent",
        &searches,
        at("2026-03-01", 4 * 3600),
        &none,
    );
    assert_eq!((cost, label), (usd("0.0385"), None));
    // Image input tokens at their own rate, characters per million: of 10,000 input tokens
    // 4,000 are image tokens. 6,000 x 1 = 0.006; 4,000 x 0.5 = 0.002; 1,000 x 4 = 0.004;
    // 2,000 characters x $20 / 1M = 0.04; the request fee 0.0005 -> 0.0525.
    let media = call(&[("input_image_tokens", 4000), ("input_characters", 2000)]);
    let p = c.price_in("acme-agent", None, &media, noon, &none).unwrap();
    assert_eq!(p.cost.total(), usd("0.0525"));
    let beyond = p.cost.beyond.as_deref().unwrap();
    assert_eq!(beyond.media_input, usd("0.002"));
    assert_eq!(beyond.per_unit, usd("0.0405"));
    assert_eq!(beyond.unpriced, 0);
    // The TOML date is the price's effective_from; the file is its source.
    let m = c.get("acme-agent").unwrap();
    assert_eq!(
        m.prices[0].effective_from.unwrap().to_string(),
        "2026-01-01"
    );
    assert!(m.prices[0].source.starts_with("override:"));
}

/// Every mistake in the new parts of a price is named with file, model, price and field, and
/// all are listed at once.
#[test]
fn unit_variant_and_window_mistakes_are_named_all_at_once() {
    let price = |id: &str, extra: &str| {
        format!("[[models]]\nid = \"{id}\"\n[[models.prices]]\ninput = 1\noutput = 2\n{extra}\n")
    };
    let toml = [
        price("unknown-unit", "units = { web_search = 8 }"),
        price("negative", "units = { web_searches = -8 }"),
        price("words", "units = { web_searches = \"eight\" }"),
        price("boolean", "units = { web_searches = true }"),
        price("field-unit", "units = { input_tokens = 1 }"),
        price(
            "context-key",
            "[[models.prices.variants]]\nwhen = { sped = \"fast\" }\ninput = 2\noutput = 4",
        ),
        price(
            "window",
            "[[models.prices.windows]]\nstart = \"25:00\"\nend = \"04:00\"\ninput = 2\noutput = 4",
        ),
        price(
            "variant-typo",
            "[[models.prices.variants]]\nwhen = { speed = \"fast\" }\ninput = 2\nouptut = 4",
        ),
        price("source", "source = \"my contract\""),
        price(
            "tier-typo",
            "tiers = [{ above_input_tokens = 1000, inptu = 2 }]",
        ),
        price(
            "audio-twice",
            "audio_cache_read = 1\nunits = { cache_audio_read_tokens = 1 }",
        ),
        // Several problems in one price: each named.
        price("two", "units = { web_search = 8 }\nwindow = []"),
    ]
    .concat();
    let e = build_err(Catalog::builder().with_overrides_toml("u.toml", &toml));
    let all = e.to_string();
    let list = problems(e);
    assert_eq!(list.len(), 14, "{all}");
    for (entry, field, what) in [
        (
            "unknown-unit",
            "units.web_search",
            "unknown unit 'web_search' (known: ",
        ),
        (
            "negative",
            "units.web_searches",
            "'-8': negative amounts are not allowed",
        ),
        (
            "words",
            "units.web_searches",
            "'eight': not a decimal number",
        ),
        (
            "boolean",
            "units.web_searches",
            "not a decimal number (\"2.5\" or 2.5): found a boolean",
        ),
        (
            "field-unit",
            "units.input_tokens",
            "'input_tokens' has a rate field of its own",
        ),
        (
            "context-key",
            "variants[0].when.sped",
            "unknown context key 'sped' (known: speed, ",
        ),
        (
            "window",
            "windows[0].start",
            "'25:00': not HH:MM[:SS] (UTC)",
        ),
        ("variant-typo", "variants[0].ouptut", "unknown field"),
        ("source", "source", "an override's source is its file"),
        ("tier-typo", "tiers[0].inptu", "unknown field"),
        ("audio-twice", "audio_cache_read", "given twice"),
        (
            "variant-typo",
            "variants[0].output",
            "required rate is missing",
        ),
        ("two", "window", "unknown field"),
        ("two", "units.web_search", "unknown unit 'web_search'"),
    ] {
        let want = format!("u.toml: entry '{entry}: prices[0]': field '{field}': {what}");
        assert!(
            list.iter().any(|p| p.to_string().starts_with(&want)),
            "{want}\nin\n{all}"
        );
    }
}

/// The catalog's `audio_cache_read` field (written by the builder) prices audio cache reads;
/// the reader used to drop it (billed at `cache_read`).
#[test]
fn audio_cache_read_prices_audio_cache_reads() {
    let toml = "[[models]]\nid = \"voice\"\n[[models.prices]]\ninput = 4\noutput = 16\n\
                cache_read = 2\naudio_input = 40\naudio_cache_read = 2.5\n";
    let c = Catalog::builder()
        .with_overrides_toml("a.toml", toml)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // 10,000 input of which 4,000 audio, 1,000 of those read from the cache:
    // 6,000 text x 4 = 0.024; 3,000 audio x 40 = 0.12; 1,000 audio cache reads x 2.5 = 0.0025.
    let mut u = io(10_000, 0);
    u.audio_in = 4000;
    u.set("cache_audio_read_tokens".parse::<Unit>().unwrap(), 1000);
    let (cost, _) = priced(&c, "voice", &u, 0, &PriceContext::default());
    assert_eq!(cost, usd("0.1465"));
    // The embedded catalog's audio models keep theirs too.
    let json = include_str!("../catalog/catalog.json");
    let holder = json
        .lines()
        .find(|l| l.contains("\"audio_cache_read\""))
        .and_then(|l| l.split('"').nth(3))
        .expect("a catalog model with audio_cache_read");
    let m = Catalog::shared().unwrap().get(holder).unwrap().clone();
    let unit: Unit = "cache_audio_read_tokens".parse().unwrap();
    assert!(
        m.prices
            .iter()
            .any(|p| p.standard.rates.other(unit).is_some()),
        "{holder}"
    );
}

/// Guards issue 15 item 6: the LiteLLM import holds what the catalog builder takes from the
/// same entry (units, request fee, tiers, service tiers), priced the same.
#[test]
fn litellm_import_prices_an_entry_as_the_builder_does() {
    use otel_llm_cost::pricing::build::{self as catalog_build, Input};
    let path = fixture("litellm_units.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let built = catalog_build::build(
        Input {
            name: "litellm_units.json",
            text: &text,
            version: "test",
        },
        Input {
            name: "none.json",
            text: "[]",
            version: "none",
        },
        "2026-01-01".parse().unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let imported = Catalog::builder()
        .with_litellm_file(&path)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let b = &built.catalog.get("acme-units-1").unwrap().prices[0];
    let i = &imported.get("acme-units-1").unwrap().prices[0];
    assert_eq!(i.standard, b.standard);
    assert_eq!(i.service_tiers, b.service_tiers);
    assert_eq!(i.variants, b.variants);
    assert_eq!(i.windows, b.windows);
    // Not vacuous: the units the builder prices from LiteLLM's fields are there.
    let other = |u: &str| {
        i.standard
            .rates
            .other(u.parse().unwrap())
            .map(|p| p.to_string())
    };
    assert_eq!(other("input_characters").as_deref(), Some("15")); // 1.5e-05 per char, per 1M
    assert_eq!(other("requests").as_deref(), Some("2")); // $0.002 per request, per 1,000
    assert_eq!(other("storage_searches").as_deref(), Some("2.5")); // per 1,000 calls
    assert_eq!(other("input_image_tokens").as_deref(), Some("1")); // per 1M tokens
    assert_eq!(other("cache_audio_read_tokens").as_deref(), Some("2.5"));
    // Priced the same: 10,000 in (2,000 image), 1,000 out, 4 file searches, 500 characters.
    let u = call(&[
        ("input_image_tokens", 2000),
        ("storage_searches", 4),
        ("input_characters", 500),
    ]);
    let ctx = PriceContext::default();
    let now = day("2026-06-01");
    let (cost, _) = priced(&imported, "acme-units-1", &u, now, &ctx);
    assert_eq!(
        cost,
        priced(&built.catalog, "acme-units-1", &u, now, &ctx).0
    );
    // 8,000 x 2 = 0.016; 2,000 x 1 = 0.002; 1,000 x 8 = 0.008; 4 x 2.5 / 1,000 = 0.01;
    // 500 x 15 / 1M = 0.0075; one request x 2 / 1,000 = 0.002 -> 0.0455.
    assert_eq!(cost, usd("0.0455"));
}
