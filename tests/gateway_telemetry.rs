//! The telemetry endpoint and what the gateway prints about itself (issue 13): `/metrics`
//! behind an optional bearer token (`/healthz` open for probes), the shipped compose setup
//! keeping it off public interfaces, and `serve --check` redacting the exporter's credentials
//! as the logs do. Real gateway on 127.0.0.1:0, real HTTP clients; waits bounded.
#![cfg(feature = "gateway")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::gateway::*;

async fn get(url: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    otel_llm_cost::gateway::install_default_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut rb = client.get(url);
    if let Some(t) = token {
        rb = rb.header("authorization", t);
    }
    let r = rb.send().await.expect("answered");
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, www, r.text().await.expect("body"))
}

/// Guards issue 13 ("`/metrics` and `/healthz` have no authentication"): with
/// `telemetry.metrics.auth`, `/metrics` answers 401 + `WWW-Authenticate: Bearer` without the
/// token, with a wrong one or another scheme, and the counters with it; refusals are counted.
/// `/healthz` stays open (kubelet probes cannot send a token kept in a Secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_requires_the_bearer_token_and_healthz_stays_open() {
    let (sink, _captured) = common::start_grpc_sink().await;
    let gw = start_gateway_yaml(&format!(
        r#"
receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }} }} }} }}
telemetry:
  metrics:
    endpoint: "127.0.0.1:0"
    auth: {{ bearer_token: "m3tr1cs-t0ken" }}
exporter: {{ endpoint: "http://{sink}" }}
"#
    ))
    .await;
    let base = format!("http://{}", gw.metrics_addr().expect("metrics"));
    let metrics = format!("{base}/metrics");
    for bad in [
        None,
        Some("Bearer wrong"),
        Some("Basic m3tr1cs-t0ken"),
        Some("Bearer m3tr1cs-t0ke"),
    ] {
        let (status, www, body) = get(&metrics, bad).await;
        assert_eq!(status, 401, "{bad:?}");
        assert!(www.is_some_and(|w| w.starts_with("Bearer")), "{bad:?}");
        assert!(!body.contains("otel_llm_cost_"), "{bad:?}: {body}");
    }
    let (status, _, body) = get(&metrics, Some("Bearer m3tr1cs-t0ken")).await;
    assert_eq!(status, 200);
    assert!(body.contains("otel_llm_cost_requests_unauthenticated_total{protocol=\"metrics\"} 4"));
    let (status, _, body) = get(&format!("{base}/healthz"), None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    gw.shutdown().await;
}

/// Without `auth`, `/metrics` is open as before (the default), and the token fields are
/// validated like the receivers' (both given, empty, unreadable file: every problem at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_auth_is_off_by_default_and_validated() {
    let (sink, _captured) = common::start_grpc_sink().await;
    let gw = start_gateway(&format!("http://{sink}"), "", "").await;
    let addr = gw.metrics_addr().expect("metrics");
    let (status, _, body) = get(&format!("http://{addr}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("otel_llm_cost_spans_received_total"));
    gw.shutdown().await;
    let bad = otel_llm_cost::gateway::config::GatewayConfig::from_yaml(
        "t",
        r#"
exporter: { endpoint: "http://c:4317" }
receivers: { otlp: { auth: { bearer_token: " " } } }
telemetry: { metrics: { auth: { bearer_token: "a", bearer_token_file: "/nonexistent" } } }
"#,
        None,
    )
    .expect("parses")
    .resolve(&|_| None)
    .expect_err("invalid")
    .to_string();
    assert!(
        bad.contains("receivers.otlp.auth: the bearer token is empty")
            && bad.contains(
                "telemetry.metrics.auth: give bearer_token or bearer_token_file, not both"
            ),
        "{bad}"
    );
    let s = otel_llm_cost::gateway::config::GatewayConfig::from_yaml(
        "t",
        "exporter: { endpoint: 'http://c:4317' }\ntelemetry: { metrics: { auth: { bearer_token: s3cr3t } } }",
        None,
    )
    .expect("parses")
    .resolve(&|_| None)
    .expect("valid");
    assert!(s.metrics_auth_token.is_some());
    assert!(
        !format!("{s:?}").contains("s3cr3t"),
        "the token never shows in Debug"
    );
}

fn collector_config(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("collector-config")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Guards issue 13 ("the compose setup binds them to 0.0.0.0, exposing cost by service and
/// workflow"): the shipped gateway.yaml (also the image's default config) serves telemetry on
/// loopback unless it requires a token, and neither the compose file nor the Dockerfile
/// exposes or publishes the telemetry port.
#[test]
fn compose_keeps_the_telemetry_port_off_public_interfaces() {
    let cfg = otel_llm_cost::gateway::config::GatewayConfig::from_yaml(
        "gateway.yaml",
        &collector_config("gateway.yaml"),
        None,
    )
    .expect("parses");
    let s = cfg.resolve(&|_| None).expect("valid");
    let m = s.metrics.expect("metrics enabled");
    assert!(
        m.ip().is_loopback() || s.metrics_auth_token.is_some(),
        "telemetry on {m} without auth"
    );
    let compose: serde_norway::Value =
        serde_norway::from_str(&collector_config("docker-compose.yaml")).expect("compose parses");
    let services = compose
        .get("services")
        .and_then(|v| v.as_mapping())
        .expect("services");
    let port = m.port().to_string();
    for (name, svc) in services {
        for key in ["ports", "expose"] {
            let listed = svc
                .get(key)
                .and_then(|v| v.as_sequence())
                .map(|v| format!("{v:?}"))
                .unwrap_or_default();
            assert!(
                !listed.contains(&port),
                "service {name:?} {key}: {listed} includes the telemetry port {port}"
            );
        }
    }
    let dockerfile = collector_config("Dockerfile");
    let expose = dockerfile
        .lines()
        .find(|l| l.starts_with("EXPOSE"))
        .expect("EXPOSE");
    assert!(!expose.contains(&port), "{expose}");
}

/// Guards issue 13 ("`serve --check` prints the exporter URL with its password"): `--check`
/// and the validation errors print the exporter URL as the logs do, without its userinfo.
#[cfg(feature = "cli")]
#[test]
fn serve_check_redacts_the_exporter_password() {
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |yaml: &str| {
        let f = dir.join("gateway.yaml");
        std::fs::write(&f, yaml).expect("write");
        std::process::Command::new(env!("CARGO_BIN_EXE_otel-llm-cost"))
            .args(["serve", "--check", "--config"])
            .arg(&f)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_LLM_COST_CONFIG")
            .output()
            .expect("run serve --check")
    };
    let ok = run("exporter: { endpoint: 'https://alice:pa55w0rd@tempo.example:4317' }");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("https://***@tempo.example:4317"),
        "the exporter line is there: {out}"
    );
    assert!(!out.contains("pa55w0rd") && !out.contains("alice"), "{out}");
    // A problem reported about the URL does not print the password either.
    let bad = run("exporter: { endpoint: 'ftp://alice:pa55w0rd@tempo.example:21' }");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("'ftp://***@tempo.example:21': unsupported scheme"),
        "{err}"
    );
    assert!(!err.contains("pa55w0rd") && !err.contains("alice"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
