//! Every configuration file shipped in collector-config/ parses: gateway.yaml through the real
//! config loader (and validates), the others as YAML with the keys their tools need.
#![cfg(feature = "gateway")]

use std::path::PathBuf;

use otel_llm_cost::gateway::config::{ExporterProtocol, GatewayConfig};
use serde_norway::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("collector-config")
}

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| {
        v.get(*k)
            .unwrap_or_else(|| panic!("missing key {k} in {path:?}"))
    })
}

/// Guards: the documented gateway.yaml is accepted by the loader (deny_unknown_fields) and
/// validates with no environment at all; its values are the defaults except the compose ones.
#[test]
fn shipped_gateway_yaml_loads_and_validates() {
    let cfg = GatewayConfig::from_file(dir().join("gateway.yaml")).expect("gateway.yaml parses");
    let s = cfg.resolve(&|_| None).expect("gateway.yaml validates");
    assert_eq!(s.grpc.map(|a| a.port()), Some(4317));
    assert_eq!(s.http.map(|a| a.port()), Some(4318));
    assert_eq!(s.exporter.url, "http://jaeger:4317");
    assert_eq!(s.exporter.protocol, ExporterProtocol::Grpc);
    let d = GatewayConfig::from_yaml(
        "defaults",
        "exporter: {endpoint: 'http://jaeger:4317'}",
        None,
    )
    .expect("parses")
    .resolve(&|_| None)
    .expect("valid");
    assert_eq!(s.assembly.root_grace, d.assembly.root_grace);
    assert_eq!(s.assembly.trace_timeout, d.assembly.trace_timeout);
    assert_eq!(s.assembly.max_bytes, d.assembly.max_bytes);
    assert_eq!(s.exporter.queue.size, d.exporter.queue.size);
    assert_eq!(
        s.exporter.retry.initial_interval,
        d.exporter.retry.initial_interval
    );
    assert_eq!(s.exporter.max_message_bytes, d.exporter.max_message_bytes);
    assert_eq!(s.shutdown_timeout, d.shutdown_timeout);
}

#[test]
fn load_balancing_collector_routes_by_trace_id_over_dns() {
    let v = yaml("otel-collector-lb.yaml");
    let lb = at(&v, &["exporters", "loadbalancing"]);
    assert_eq!(at(lb, &["routing_key"]).as_str(), Some("traceID"));
    assert_eq!(
        at(lb, &["resolver", "dns", "hostname"]).as_str(),
        Some("gateway")
    );
    assert_eq!(at(lb, &["resolver", "dns", "port"]).as_u64(), Some(4317));
    let exporters = at(&v, &["service", "pipelines", "traces", "exporters"]);
    assert_eq!(exporters.as_sequence().map(Vec::len), Some(1));
    assert_eq!(exporters[0].as_str(), Some("loadbalancing"));
}

#[test]
fn jaeger_v2_config_stores_otlp_in_memory() {
    let v = yaml("jaeger-config.yaml");
    assert!(at(&v, &["receivers", "otlp", "protocols", "grpc"]).is_mapping());
    assert!(at(
        &v,
        &[
            "extensions",
            "jaeger_storage",
            "backends",
            "memstore",
            "memory"
        ]
    )
    .is_mapping());
    assert_eq!(
        at(&v, &["extensions", "jaeger_query", "storage", "traces"]).as_str(),
        Some("memstore")
    );
    assert_eq!(
        at(
            &v,
            &["exporters", "jaeger_storage_exporter", "trace_storage"]
        )
        .as_str(),
        Some("memstore")
    );
}

#[test]
fn compose_file_wires_jaeger_gateway_and_senders() {
    let v = yaml("docker-compose.yaml");
    let services = at(&v, &["services"]);
    for s in [
        "jaeger",
        "gateway",
        "demo-sender",
        "lb-collector",
        "demo-sender-lb",
    ] {
        assert!(services.get(s).is_some(), "service {s}");
    }
    assert_eq!(
        at(services, &["gateway", "build", "dockerfile"]).as_str(),
        Some("collector-config/Dockerfile")
    );
    let mounts = format!("{:?}", at(services, &["gateway", "volumes"]));
    assert!(mounts.contains("./gateway.yaml"), "{mounts}");
    let lb = format!("{:?}", at(services, &["lb-collector", "volumes"]));
    assert!(lb.contains("./otel-collector-lb.yaml"), "{lb}");
    // Every file the compose file and the Dockerfile name exists.
    for f in [
        "gateway.yaml",
        "jaeger-config.yaml",
        "otel-collector-lb.yaml",
        "Dockerfile",
        "README.md",
    ] {
        assert!(dir().join(f).exists(), "{f}");
    }
    let dockerfile = std::fs::read_to_string(dir().join("Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.contains("--features cli")
            && dockerfile.contains("ENTRYPOINT [\"otel-llm-cost\", \"serve\"]")
    );
}

#[test]
fn readme_warns_that_a_trace_must_reach_one_gateway() {
    let readme = std::fs::read_to_string(dir().join("README.md")).expect("README");
    assert!(readme.contains("all spans of a trace must reach the same gateway"));
    assert!(readme.contains("routing_key: traceID"));
}
