#![cfg(feature = "cli")]
//! The `otel-llm-cost` command line, run as a built binary.

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "common/http_server.rs"]
mod http_server;
use http_server::{http_server, https_server, ok_json, Canned};

fn fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pricing"
    ))
    .join(name)
    .display()
    .to_string()
}

/// Runs the binary with `args`, hermetic (no overrides from the environment).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .args(args)
        .env_remove("OTEL_LLM_COST_OVERRIDES")
        .output()
        .expect("run otel-llm-cost")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed ({:?}):\n{}\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs and expects failure with exit code `code`; returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "{args:?}:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The value in the last column of the table row starting with `name`.
fn row(table: &str, name: &str) -> String {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned()
}

#[test]
fn price_prints_a_table() {
    let out = ok(&[
        "price",
        "gpt-4o-2024-08-06",
        "--input",
        "1000",
        "--output",
        "500",
        "--at",
        "2025-01-01",
    ]);
    assert!(out.contains("gpt-4o-2024-08-06 (openai)"), "{out}");
    assert!(
        out.contains("catalog 2026.11.22") || out.contains("catalog "),
        "{out}"
    );
    // 1000 x $2.50/M = 0.0025; 500 x $10/M = 0.005; total 0.0075.
    assert_eq!(row(&out, "input "), "0.0025");
    assert_eq!(row(&out, "output "), "0.005");
    assert_eq!(row(&out, "total"), "0.0075");
    let total_line = out.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(total_line.contains("1500"), "{total_line}");
}

#[test]
fn price_table_shows_cache_reasoning_and_tiers() {
    // o3 after the cut: 10,000 input (4,000 cached) and 3,000 output (2,000 reasoning):
    // 6,000 x 2 = 0.012; 4,000 x 0.5 = 0.002; 1,000 x 8 = 0.008; 2,000 x 8 = 0.016 -> 0.038.
    let out = ok(&[
        "price",
        "o3",
        "--input",
        "10000",
        "--cache-read",
        "4000",
        "--output",
        "3000",
        "--reasoning",
        "2000",
        "--at",
        "2025-07-01",
    ]);
    assert_eq!(row(&out, "cache read"), "0.002");
    assert_eq!(row(&out, "reasoning"), "0.016");
    assert_eq!(row(&out, "total"), "0.038");
    assert!(out.contains("price in force from 2025-06-10"), "{out}");
    // Gemini 2.5 Pro above 200k: the tier is shown.
    let out = ok(&[
        "price",
        "gemini-2.5-pro",
        "--provider",
        "gcp.gemini",
        "--input",
        "200001",
        "--output",
        "10000",
    ]);
    assert!(out.contains("tier      input>200000"), "{out}");
    assert_eq!(row(&out, "total"), "0.6500025");
    // A service tier the price in force lacks: a note, standard rates.
    let out = ok(&[
        "price",
        "o3",
        "--input",
        "1000",
        "--output",
        "100",
        "--at",
        "2025-06-01",
        "--service-tier",
        "flex",
    ]);
    assert!(out.contains("no flex price"), "{out}");
    assert_eq!(row(&out, "total"), "0.014");
}

#[test]
fn price_json_has_total_model_effective_from_and_source() {
    let v = json(&[
        "price",
        "o3",
        "--input",
        "1000000",
        "--output",
        "1000000",
        "--at",
        "2025-07-01",
        "--json",
    ]);
    assert_eq!(v["model"], "o3");
    assert_eq!(v["provider"], "openai");
    assert_eq!(v["effective_from"], "2025-06-10");
    assert_eq!(v["source"], "genai-prices");
    assert_eq!(v["cost_usd"]["total"], "10");
    assert_eq!(v["cost_usd"]["input"], "2");
    assert_eq!(v["cost_usd"]["output"], "8");
    assert_eq!(v["usage"]["input_total"], 1_000_000);
    assert!(v["tier"].is_null());
    assert!(v["catalog"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn price_at_picks_the_price_in_force() {
    let at = |date: &str| {
        json(&[
            "price", "o3", "--input", "1000000", "--output", "1000000", "--at", date, "--json",
        ])
    };
    let before = at("2025-06-09");
    assert_eq!(before["cost_usd"]["total"], "50");
    assert!(before["effective_from"].is_null());
    assert_eq!(at("2025-06-10")["cost_usd"]["total"], "10");
    // RFC 3339 instants too: one second before midnight UTC is still the old price.
    assert_eq!(at("2025-06-09T23:59:59Z")["cost_usd"]["total"], "50");
    assert_eq!(at("2025-06-10T01:00:00+02:00")["cost_usd"]["total"], "50");
    assert_eq!(at("2025-06-10T00:00:00Z")["cost_usd"]["total"], "10");
    // Sonnet 4.6 long-context tier, before and after its removal.
    let s46 = |date: &str| {
        json(&[
            "price",
            "claude-sonnet-4-6",
            "--input",
            "300000",
            "--output",
            "10000",
            "--at",
            date,
            "--json",
        ])
    };
    let before = s46("2026-03-12");
    assert_eq!(before["cost_usd"]["total"], "2.025");
    assert_eq!(before["tier"], "input>200000");
    assert_eq!(s46("2026-03-13")["cost_usd"]["total"], "1.05");
}

#[test]
fn price_service_tier_and_provider() {
    let v = json(&[
        "price",
        "gpt-4o-2024-08-06",
        "--input",
        "1000000",
        "--output",
        "1000000",
        "--service-tier",
        "batch",
        "--json",
    ]);
    assert_eq!(v["cost_usd"]["total"], "6.25");
    assert_eq!(v["tier"], "batch");
    assert_eq!(v["service_tier_requested"], "batch");
    let v = json(&[
        "price",
        "gpt-4o-2024-08-06",
        "--provider",
        "az.ai.openai",
        "--input",
        "1000",
        "--output",
        "500",
        "--json",
    ]);
    assert_eq!(v["model"], "azure/gpt-4o-2024-08-06");
    assert_eq!(v["provider"], "azure.ai.openai");
    // Bad service tier: a usage error from the argument parser.
    let err = fails(&["price", "o3", "--service-tier", "turbo"], 2);
    assert!(err.contains("turbo"), "{err}");
}

#[test]
fn unknown_model_exits_non_zero_with_nearest_ids() {
    // A typo (a date the catalog lacks would resolve to the undated model instead).
    let err = fails(
        &["price", "gtp-4o-mini", "--input", "1", "--output", "1"],
        1,
    );
    assert!(err.contains("unknown model 'gtp-4o-mini'"), "{err}");
    assert!(err.contains("nearest catalog ids: gpt-4o-mini"), "{err}");
    let err = fails(&["price", "x", "--input", "1"], 1);
    assert!(err.contains("unknown model 'x'"), "{err}");
    // Nothing on stdout: no $0 line for an unknown model.
    let o = run(&["price", "x", "--input", "1", "--json"]);
    assert!(stdout(&o).is_empty());
}

#[test]
fn inconsistent_token_counts_are_refused() {
    let err = fails(
        &["price", "gpt-4o", "--input", "10", "--cache-read", "20"],
        1,
    );
    assert!(err.contains("exceed --input"), "{err}");
    let err = fails(&["price", "o3", "--output", "10", "--reasoning", "20"], 1);
    assert!(err.contains("exceed --output"), "{err}");
    // Absurd counts saturate instead of overflowing.
    let max = u64::MAX.to_string();
    let err = fails(
        &[
            "price",
            "gpt-4o",
            "--input",
            "1",
            "--cache-read",
            &max,
            "--cache-write",
            &max,
        ],
        1,
    );
    assert!(err.contains("exceed --input"), "{err}");
    let err = fails(&["price", "o3", "--at", "yesterday"], 1);
    assert!(
        err.contains("--at 'yesterday': expected YYYY-MM-DD or an RFC 3339 time"),
        "{err}"
    );
}

#[test]
fn catalog_list_filters() {
    let o = run(&["catalog", "list", "gpt-4o"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let ids: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o"), "{out}");
    assert!(ids.contains(&"gpt-4o-2024-08-06"), "{out}");
    assert!(ids.contains(&"azure/gpt-4o"), "{out}");
    assert!(
        ids.iter()
            .all(|i| i.to_ascii_lowercase().contains("gpt-4o")),
        "{out}"
    );
    assert!(
        stderr(&o).contains(&format!("{} models", ids.len())),
        "{}",
        stderr(&o)
    );
    // gpt-4o's row: provider, mode, $2.5 in, $10 out.
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("gpt-4o"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, ["gpt-4o", "openai", "chat", "2.5", "10"]);
    // By provider.
    let out = ok(&["catalog", "list", "gpt-4o", "--provider", "azure"]);
    assert!(!out.is_empty());
    assert!(
        out.lines().all(|l| l.contains(" azure.ai.openai ")),
        "{out}"
    );
    // Case-insensitive filter; a filter matching nothing lists nothing but succeeds.
    assert_eq!(
        ok(&["catalog", "list", "GPT-4O"]),
        ok(&["catalog", "list", "gpt-4o"])
    );
    assert!(ok(&["catalog", "list", "no-such-model-anywhere"]).is_empty());
}

#[test]
fn catalog_show_explains_what_an_id_resolves_to() {
    let out = ok(&["catalog", "show", "o3"]);
    assert!(out.starts_with("o3 (openai, chat)"), "{out}");
    assert!(
        out.contains("from start [genai-prices]: input 10, output 40"),
        "{out}"
    );
    assert!(
        out.contains("from 2025-06-10 [genai-prices]: input 2, output 8"),
        "{out}"
    );
    assert!(out.contains("flex: input 1, output 4"), "{out}");
    let out = ok(&[
        "catalog",
        "show",
        "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]);
    assert!(
        out.starts_with("us.anthropic.claude-sonnet-4-5-20250929-v1:0 (aws.bedrock, chat)"),
        "{out}"
    );
    assert!(out.contains("matched from 'bedrock/converse/"), "{out}");
    assert!(out.contains("input > 200000: input 6.6"), "{out}");
    let out = ok(&["catalog", "show", "gpt-4o", "--provider", "azure"]);
    assert!(out.starts_with("azure/gpt-4o (azure.ai.openai"), "{out}");
    let err = fails(&["catalog", "show", "gpt-9"], 1);
    assert!(
        err.contains("unknown model 'gpt-9'") && err.contains("nearest"),
        "{err}"
    );
}

#[test]
fn catalog_info_names_version_and_sources() {
    let out = ok(&["catalog", "info"]);
    assert!(out.starts_with("catalog "), "{out}");
    assert!(out.contains("source  litellm "), "{out}");
    assert!(out.contains("source  genai-prices "), "{out}");
    assert!(out.contains(" models, "), "{out}");
    let out = ok(&["--overrides", &fixture("overrides.toml"), "catalog", "info"]);
    assert!(
        out.contains("layer   ") && out.contains("overrides.toml"),
        "{out}"
    );
}

#[test]
fn catalog_validate_good_files() {
    let out = ok(&["catalog", "validate", &fixture("overrides.toml")]);
    assert!(out.starts_with("ok: "), "{out}");
    assert!(
        out.contains("overrides: ") && out.contains("(1 new)"),
        "{out}"
    );
    // 4 new: the three token models and the image-generation entry priced per image (the
    // builder's modes beyond chat reach the import); the chat entry priced per second alone is
    // left out as the builder leaves it out.
    let out = ok(&["catalog", "validate", &fixture("litellm_small.json")]);
    assert!(
        out.contains("LiteLLM import: ") && out.contains("(4 new)"),
        "{out}"
    );
    // What it left out is said, with the builder's reason and the entry.
    assert!(
        out.contains("left out: LiteLLM entries skipped: priced only by input_cost_per_second")
            && out.contains("my-gateway/per-second-audio"),
        "{out}"
    );
    let out = ok(&["catalog", "validate", &fixture("catalog_min.json")]);
    assert!(out.contains("catalog with 2 models"), "{out}");
    // The shipped catalog validates.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/catalog.json");
    let out = ok(&["catalog", "validate", shipped]);
    assert!(out.contains("catalog with "), "{out}");
    // On top of configured layers: an overrides file that adds nothing new counts 0 new (no
    // underflow when --overrides already added models).
    let only_price = std::env::temp_dir().join(format!(
        "otel-llm-cost-cli-test-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &only_price,
        "[[models]]\nid = \"gpt-4o\"\n[[models.prices]]\ninput = 1\noutput = 2\n",
    )
    .unwrap();
    let out = ok(&[
        "--overrides",
        &fixture("overrides.toml"),
        "catalog",
        "validate",
        &only_price.display().to_string(),
    ]);
    std::fs::remove_file(&only_price).ok();
    assert!(out.contains("(0 new)"), "{out}");
}

#[test]
fn catalog_validate_bad_files() {
    let err = fails(&["catalog", "validate", &fixture("overrides_bad.toml")], 1);
    assert!(err.starts_with("invalid: 6 problems:"), "{err}");
    assert!(
        err.contains("entry 'bad-rate: prices[0]': field 'input': 'abc'"),
        "{err}"
    );
    assert!(
        err.contains("'gpt-4o-2099-12-31' is not in the catalog"),
        "{err}"
    );
    let err = fails(
        &[
            "catalog",
            "validate",
            &fixture("overrides_unknown_field.toml"),
        ],
        1,
    );
    assert!(
        err.contains("entry 'x: prices[0]': field 'inptu': unknown field"),
        "{err}"
    );
    let err = fails(&["catalog", "validate", &fixture("litellm_bad.json")], 1);
    assert!(
        err.contains("entry 'string-cost': field 'input_cost_per_token': expected a number"),
        "{err}"
    );
    let err = fails(
        &["catalog", "validate", &fixture("litellm_malformed.json")],
        1,
    );
    assert!(err.contains("litellm_malformed.json"), "{err}");
    let err = fails(&["catalog", "validate", &fixture("catalog_bad.json")], 1);
    assert!(err.starts_with("invalid: 3 problems:"), "{err}");
    let err = fails(&["catalog", "validate", &fixture("does-not-exist.toml")], 1);
    assert!(err.contains("does-not-exist.toml"), "{err}");
}

#[test]
fn overrides_flag_changes_prices_and_aliases() {
    let o = fixture("overrides.toml");
    // Negotiated from 2025-03-01: $2 / $8. 1000 x 2 + 500 x 8 = 0.002 + 0.004 = 0.006.
    let v = json(&[
        "--overrides",
        &o,
        "price",
        "gpt-4o-2024-08-06",
        "--input",
        "1000",
        "--output",
        "500",
        "--at",
        "2025-04-01",
        "--json",
    ]);
    assert_eq!(v["cost_usd"]["total"], "0.006");
    assert_eq!(v["effective_from"], "2025-03-01");
    assert!(
        v["source"].as_str().unwrap().starts_with("override:"),
        "{v}"
    );
    // Own model through its alias.
    let v = json(&[
        "--overrides",
        &o,
        "price",
        "acme-prod",
        "--input",
        "1000",
        "--output",
        "100",
        "--json",
    ]);
    assert_eq!(v["model"], "acme-llm");
    assert_eq!(v["provider"], "acme");
    // The overrides file also comes from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .args(["catalog", "show", "acme-llm-v2"])
        .env("OTEL_LLM_COST_OVERRIDES", &o)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("acme-llm (acme, chat)"));
    // A bad overrides file stops every command with its problems.
    let err = fails(
        &[
            "--overrides",
            &fixture("overrides_bad.toml"),
            "price",
            "gpt-4o",
        ],
        1,
    );
    assert!(err.contains("6 problems"), "{err}");
}

#[test]
fn import_litellm_and_alias_flags() {
    let v = json(&[
        "--import-litellm",
        &fixture("litellm_small.json"),
        "price",
        "my-gateway/llama-4-maverick",
        "--input",
        "1000",
        "--output",
        "1000",
        "--json",
    ]);
    assert_eq!(v["cost_usd"]["total"], "0.0008");
    // An imported image-generation entry: 2 images at its $0.04 per image.
    let v = json(&[
        "--import-litellm",
        &fixture("litellm_small.json"),
        "price",
        "my-gateway/image-gen",
        "--usage",
        "output_images=2",
        "--json",
    ]);
    assert_eq!(v["cost_usd"]["total"], "0.08", "{v}");
    let v = json(&[
        "--alias",
        "prod-deployment=azure/eu/gpt-4o-2024-08-06",
        "price",
        "prod-deployment",
        "--input",
        "1000",
        "--output",
        "500",
        "--json",
    ]);
    assert_eq!(v["model"], "azure/eu/gpt-4o-2024-08-06");
    assert_eq!(v["cost_usd"]["total"], "0.00825");
    let err = fails(&["--alias", "no-equals-sign", "catalog", "info"], 1);
    assert!(err.contains("expected NAME=MODEL_ID"), "{err}");
    let err = fails(&["--alias", "x=no-such-model", "catalog", "info"], 1);
    assert!(
        err.contains("'no-such-model' is not in the catalog"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// catalog build | diff, and --catalog FILE
// ---------------------------------------------------------------------------------------------

fn build_fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/catalog-build"
    ))
    .join(name)
    .display()
    .to_string()
}

/// A file under the temp directory, unique to this process and `name`.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("otel-llm-cost-cli-{}-{name}", std::process::id()))
}

/// The golden catalog without its `sources` line (which names the inputs).
fn without_sources(catalog: &str) -> String {
    catalog
        .lines()
        .filter(|l| !l.starts_with("\"sources\":"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn catalog_build_from_files_writes_the_golden_catalog() {
    let out = temp("built.json");
    let o = run(&[
        "catalog",
        "build",
        "--litellm",
        &build_fixture("litellm_small.json"),
        "--genai-prices",
        &build_fixture("genai_small_v2.json"),
        "--date",
        "2026-01-01",
        "-o",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let built = std::fs::read_to_string(&out).expect("written");
    std::fs::remove_file(&out).ok();
    let golden = std::fs::read_to_string(build_fixture("small_catalog.json")).unwrap();
    assert_eq!(built, golden);
    let err = stderr(&o);
    assert!(
        err.contains("catalog 2026.01.01: 10 models, 5 providers"),
        "{err}"
    );
    assert!(
        err.contains("genai-prices-only models (matched no LiteLLM model): 2"),
        "{err}"
    );
    // The small catalog lacks the embedded catalog's facts: reported, not fatal.
    assert!(err.contains("FAIL o3 (openai): missing"), "{err}");
}

#[test]
fn catalog_build_reads_http_urls_and_refuses_bad_answers_naming_the_url() {
    let l = std::fs::read(build_fixture("litellm_small.json")).unwrap();
    let g = std::fs::read(build_fixture("genai_small_v2.json")).unwrap();
    let html = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".to_vec();
    let routes = vec![
        ("/litellm.json", ok_json(l.clone())),
        ("/v2/data.json", ok_json(g.clone())),
        (
            "/html.json",
            Canned {
                status: 200,
                content_type: "text/html",
                body: html,
                cut: false,
            },
        ),
        ("/truncated.json", ok_json(g[..g.len() / 2].to_vec())),
        (
            "/cut.json",
            Canned {
                cut: true,
                ..ok_json(g.clone())
            },
        ),
    ];
    // 2 good + 4 bad builds, each fetching the LiteLLM map first and then the feed.
    let addr = http_server(routes, 12);
    let url = |p: &str| format!("http://{addr}{p}");
    let out = temp("from-url.json");
    let build = |litellm: &str, genai: &str| {
        run(&[
            "catalog",
            "build",
            "--litellm",
            litellm,
            "--genai-prices",
            genai,
            "--date",
            "2026-01-01",
            "--timeout",
            "20s",
            "-o",
            &out.display().to_string(),
        ])
    };
    let o = build(&url("/litellm.json"), &url("/v2/data.json"));
    assert!(o.status.success(), "{}", stderr(&o));
    let built = std::fs::read_to_string(&out).expect("written");
    std::fs::remove_file(&out).ok();
    let golden = std::fs::read_to_string(build_fixture("small_catalog.json")).unwrap();
    assert_eq!(without_sources(&built), without_sources(&golden));
    assert!(built.contains(&format!("\"file\":\"{}\"", url("/v2/data.json"))));
    // The same build, from a file and a URL mixed.
    let o = build(&build_fixture("litellm_small.json"), &url("/v2/data.json"));
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&out).ok();
    for (path, says) in [
        ("/missing.json", "HTTP 404 Not Found"),
        ("/html.json", "looks like an HTML page"),
        ("/truncated.json", "ends early (truncated?)"),
        ("/cut.json", "reading the body"),
    ] {
        let o = build(&url("/litellm.json"), &url(path));
        assert_eq!(o.status.code(), Some(1), "{path}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("error: {}: ", url(path))), "{err}");
        assert!(err.contains(says), "{path}: {err}");
        assert!(!out.exists(), "{path}: nothing is written");
    }
}

#[test]
fn catalog_build_reads_https_urls() {
    let routes = vec![
        (
            "/litellm.json",
            ok_json(std::fs::read(build_fixture("litellm_small.json")).unwrap()),
        ),
        (
            "/v2/data.json",
            ok_json(std::fs::read(build_fixture("genai_small_v2.json")).unwrap()),
        ),
    ];
    let ca_file = temp("ca.pem");
    let addr = https_server(routes, 2, &ca_file);
    let out = temp("from-https.json");
    let o = Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
        .args([
            "catalog",
            "build",
            "--litellm",
            &format!("https://{addr}/litellm.json"),
            "--genai-prices",
            &format!("https://{addr}/v2/data.json"),
            "--date",
            "2026-01-01",
            "--timeout",
            "20s",
            "-o",
            &out.display().to_string(),
        ])
        // The test CA, as an air-gapped mirror with a private CA would be trusted.
        .env("SSL_CERT_FILE", &ca_file)
        .output()
        .expect("run");
    std::fs::remove_file(&ca_file).ok();
    assert!(o.status.success(), "{}", stderr(&o));
    let built = std::fs::read_to_string(&out).expect("written");
    std::fs::remove_file(&out).ok();
    let golden = std::fs::read_to_string(build_fixture("small_catalog.json")).unwrap();
    assert_eq!(without_sources(&built), without_sources(&golden));
}

#[test]
fn catalog_diff_prints_the_golden_diff() {
    let (old, new) = (
        build_fixture("small_catalog.json"),
        build_fixture("diff_new.json"),
    );
    let golden = std::fs::read_to_string(build_fixture("diff.txt")).unwrap();
    assert_eq!(ok(&["catalog", "diff", &old, &new]), golden);
    let v = json(&["catalog", "diff", "--json", &old, &new]);
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(build_fixture("diff.json")).unwrap())
            .unwrap();
    assert_eq!(v, golden);
    let err = fails(&["catalog", "diff", &old, &build_fixture("nope.json")], 1);
    assert!(err.contains("nope.json"), "{err}");
}

#[test]
fn catalog_flag_changes_the_price_seen_by_price() {
    // The committed catalog with gpt-4o-2024-08-06 at $5 / $20 instead of $2.50 / $10.
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/catalog.json"))
            .unwrap();
    let line = committed
        .lines()
        .find(|l| l.starts_with(r#"{"id":"gpt-4o-2024-08-06","#))
        .expect("gpt-4o-2024-08-06 in the catalog");
    assert!(line.contains(r#""input":"2.5","output":"10""#), "{line}");
    let changed = committed.replacen(
        line,
        &line.replacen(
            r#""input":"2.5","output":"10""#,
            r#""input":"5","output":"20""#,
            1,
        ),
        1,
    );
    let file = temp("dearer.json");
    std::fs::write(&file, changed).unwrap();
    let args = [
        "price",
        "gpt-4o-2024-08-06",
        "--input",
        "1000",
        "--output",
        "500",
        "--json",
    ];
    // 1000 x 2.5 + 500 x 10 per M = 0.0075; with the file: 1000 x 5 + 500 x 20 = 0.015.
    assert_eq!(json(&args)["cost_usd"]["total"], "0.0075");
    let mut with = vec!["--catalog", file.to_str().unwrap()];
    with.extend(args);
    assert_eq!(json(&with)["cost_usd"]["total"], "0.015");
    std::fs::remove_file(&file).ok();
}

#[test]
fn catalog_flag_refuses_a_broken_catalog_naming_the_file() {
    let good = std::fs::read_to_string(build_fixture("small_catalog.json")).unwrap();
    let file = temp("dup.json");
    std::fs::write(
        &file,
        good.replace(r#"{"id":"odd-rate""#, r#"{"id":"gpt-x""#),
    )
    .unwrap();
    let f = file.display().to_string();
    let err = fails(&["--catalog", &f, "price", "gpt-x", "--input", "1"], 1);
    assert!(
        err.contains(&format!("{f}: entry 'gpt-x': field 'id': id used twice")),
        "{err}"
    );
    // serve reads it the same way: it does not start.
    let err = fails(
        &[
            "--catalog",
            &f,
            "serve",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--metrics",
            "",
            "--exporter-endpoint",
            "http://127.0.0.1:9",
        ],
        1,
    );
    assert!(err.contains("id used twice"), "{err}");
    let out = ok(&[
        "--catalog",
        &f,
        "serve",
        "--check",
        "--exporter-endpoint",
        "http://x:1",
    ]);
    assert!(out.contains(&format!("catalog:        {f}")), "{out}");
    std::fs::remove_file(&file).ok();
    // A missing file.
    let err = fails(
        &[
            "--catalog",
            "/nonexistent/c.json",
            "price",
            "gpt-x",
            "--input",
            "1",
        ],
        1,
    );
    assert!(err.contains("/nonexistent/c.json"), "{err}");
}

#[test]
fn price_usage_adds_any_unit_and_json_shows_every_charge() {
    // Issue 15: Claude Opus 4.8 ($5/M in, $25/M out, web search $10 per 1,000) with 3 web
    // searches: 0.05 + 0.025 + 0.03 = 0.105.
    let v = json(&[
        "price",
        "claude-opus-4-8",
        "--provider",
        "anthropic",
        "--input",
        "10000",
        "--output",
        "1000",
        "--usage",
        "web_searches=3",
        "--at",
        "2026-12-01T10:00:00Z",
        "--json",
    ]);
    assert_eq!(v["cost_usd"]["tool_calls"], "0.03");
    assert_eq!(v["cost_usd"]["total"], "0.105");
    assert_eq!(v["usage"]["units"]["web_searches"], 3);
    // A token unit by name sets the inline count: 4,000 of the 10,000 read from the cache.
    let v = json(&[
        "price",
        "claude-opus-4-8",
        "--input",
        "10000",
        "--usage",
        "cache_read_tokens=4000",
        "--at",
        "2026-12-01",
        "--json",
    ]);
    assert_eq!(v["usage"]["cache_read"], 4000);
    // 6,000 x 5 / 1e6 = 0.03; 4,000 x 0.5 / 1e6 = 0.002.
    assert_eq!(v["cost_usd"]["total"], "0.032");
    // Bad input: an unknown unit, a negative or fractional count, a part above its whole.
    for (arg, want) in [
        ("web_search=3", "unknown unit 'web_search'"),
        ("web_searches=-1", "must be a non-negative integer"),
        ("web_searches=1.5", "must be a non-negative integer"),
        ("web_searches", "expected NAME=N"),
        (
            "input_image_tokens=20000",
            "input_image_tokens (20000) is more than input_tokens (10000)",
        ),
    ] {
        let e = fails(
            &[
                "price",
                "claude-opus-4-8",
                "--input",
                "10000",
                "--usage",
                arg,
            ],
            1,
        );
        assert!(e.contains(want), "{arg}: {e}");
    }
}

/// Issue 15 item 6: an overrides file prices any unit, a variant and a UTC window, end to end
/// through `price` (tests/fixtures/pricing/overrides_units.toml: $1 / $4 per M, web searches
/// $8 per 1,000, a $0.50 per 1,000 request fee; fast $2 / $8; 01:00-04:00 UTC $0.5 / $2 with
/// searches at $4).
#[test]
fn price_with_overrides_prices_units_variants_and_windows() {
    let o = fixture("overrides_units.toml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--overrides",
            &o,
            "price",
            "acme-agent",
            "--input",
            "10000",
            "--output",
            "1000",
            "--usage",
            "web_searches=3",
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        json(&args)
    };
    // 0.01 + 0.004 + 3 x 8 / 1,000 = 0.024 + one request x 0.5 / 1,000 = 0.0005 -> 0.0385.
    let v = run(&["--at", "2026-03-01T12:00:00Z"]);
    assert_eq!(v["cost_usd"]["tool_calls"], "0.024");
    assert_eq!(v["cost_usd"]["per_unit"], "0.0005");
    assert_eq!(v["cost_usd"]["total"], "0.0385");
    assert!(
        v["source"].as_str().unwrap().starts_with("override:"),
        "{v}"
    );
    // Fast: 0.02 + 0.008 + 0.024 -> 0.052.
    let v = run(&["--context", "speed=fast", "--at", "2026-03-01T12:00:00Z"]);
    assert_eq!(v["cost_usd"]["total"], "0.052");
    assert_eq!(v["tier"], "speed=fast");
    // 02:30 UTC, off-peak: 0.005 + 0.002 + 3 x 4 / 1,000 = 0.012 -> 0.019.
    let v = run(&["--at", "2026-03-01T02:30:00Z"]);
    assert_eq!(v["cost_usd"]["total"], "0.019");
    assert_eq!(v["tier"], "utc=01:00-04:00");
}
