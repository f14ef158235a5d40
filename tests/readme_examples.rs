//! Every configuration example in the README parses: YAML blocks through the gateway's real
//! config loader, TOML blocks through the overrides loader.
#![cfg(feature = "gateway")]

use otel_llm_cost::{Catalog, GatewayConfig};

fn blocks(lang: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = readme.as_str();
    while let Some(i) = rest.find(&fence) {
        let body = &rest[i + fence.len()..];
        let end = body.find("```").expect("closed fence");
        out.push(body[..end].to_owned());
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn readme_yaml_examples_are_valid_gateway_config() {
    let yaml = blocks("yaml");
    assert!(!yaml.is_empty(), "the README has YAML examples");
    for y in yaml {
        let cfg =
            GatewayConfig::from_yaml("README.md", &y, None).unwrap_or_else(|e| panic!("{e}\n{y}"));
        // Only the exporter endpoint is required; supply it as the environment would.
        cfg.resolve(&|k| {
            (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:14317".to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}\n{y}"));
    }
}

#[test]
fn readme_toml_examples_are_valid_overrides() {
    let toml = blocks("toml");
    assert!(!toml.is_empty(), "the README has TOML examples");
    for t in toml {
        let c = Catalog::builder()
            .with_overrides_toml("README.md", t.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}\n{t}"));
        assert!(c.get("acme-llm").is_some() || !t.contains("acme-llm"));
    }
}
