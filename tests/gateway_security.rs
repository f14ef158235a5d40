//! Security of the gateway, on 127.0.0.1:0: TLS on both receivers and on both exporters (a
//! CA and a server certificate generated at test time with rcgen), bearer-token auth, loopback
//! default binds, decompression-ratio limits (zip bombs), and logs that never carry a token or
//! prompt text (the real binary at trace level).
#![cfg(feature = "gateway")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gateway::*;
use prost::Message;

const WAIT: Duration = Duration::from_secs(20);
const FAST: &str = "assembly: { root_grace: 0s, trace_timeout: 5s }";

/// A CA and a server certificate for `localhost` / 127.0.0.1, written as PEM files.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// A client certificate from the same CA (mutual TLS).
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(name: &str) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-pki-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("pki dir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "otel-llm-cost test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
        .expect("ca cert");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    let cert = params.signed_by(&key, &ca).expect("server cert");
    let client_key = KeyPair::generate().expect("client key");
    let mut client_params =
        CertificateParams::new(vec!["gateway-a".to_owned()]).expect("client params");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params
        .signed_by(&client_key, &ca)
        .expect("client cert");
    let p = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        dir,
    };
    std::fs::write(&p.ca, ca.pem()).expect("write ca");
    std::fs::write(&p.cert, cert.pem()).expect("write cert");
    std::fs::write(&p.key, key.serialize_pem()).expect("write key");
    std::fs::write(&p.client_cert, client_cert.pem()).expect("write client cert");
    std::fs::write(&p.client_key, client_key.serialize_pem()).expect("write client key");
    p
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn trace(t: u8) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    request(
        "svc",
        vec![
            span(t, 1, 0, "root", vec![]),
            span(t, 2, 1, "llm", llm("gpt-4o-mini", 100, 10)),
        ],
    )
}

/// Gateway B: both receivers on TLS with the test PKI (and, with `mutual`, requiring a client
/// certificate from the test CA), exporting in plaintext to a sink answering with `faults`.
async fn tls_gateway(
    pki: &Pki,
    mutual: bool,
    faults: &Faults,
) -> (
    otel_llm_cost::gateway::RunningGateway,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let client_ca = if mutual {
        format!(", client_ca_file: '{}'", s(&pki.ca))
    } else {
        String::new()
    };
    let tls = format!(
        "tls: {{ cert_file: '{}', key_file: '{}'{client_ca} }}",
        s(&pki.cert),
        s(&pki.key)
    );
    let b = start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "{FAST}\nreceivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: '127.0.0.1:0', {tls} }}, http: {{ endpoint: '127.0.0.1:0', {tls} }} }} }} }}"
        ),
    )
    .await;
    let (grpc, http) = (b.grpc_addr().expect("grpc"), b.http_addr().expect("http"));
    (b, grpc, http)
}

/// Guards: TLS end to end. Gateway B serves OTLP/gRPC and OTLP/HTTP over TLS and exports in
/// plaintext to a sink; gateway A exports to B over https (OTLP/HTTP), gateway A2 over gRPC +
/// TLS, both trusting the test CA (`exporter.tls.ca_file`). A TLS gRPC client reaches B; a
/// plaintext client does not; a client that does not trust the CA does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_receivers_and_exporters_end_to_end() {
    let pki = pki("e2e");
    let faults = Faults::new(Answer::Ok);
    let (b, b_grpc, b_http) = tls_gateway(&pki, false, &faults).await;

    // A -> B over OTLP/HTTP + TLS.
    let a = start_gateway(
        &format!("https://localhost:{}", b_http.port()),
        &format!(
            "  protocol: http/protobuf\n  tls: {{ ca_file: '{}' }}",
            s(&pki.ca)
        ),
        FAST,
    )
    .await;
    send_grpc(a.grpc_addr().expect("grpc"), trace(1))
        .await
        .expect("A accepts");
    // A2 -> B over OTLP/gRPC + TLS.
    let a2 = start_gateway(
        &format!("https://localhost:{}", b_grpc.port()),
        &format!("  tls: {{ ca_file: '{}' }}", s(&pki.ca)),
        FAST,
    )
    .await;
    send_grpc(a2.grpc_addr().expect("grpc"), trace(2))
        .await
        .expect("A2 accepts");
    assert_eq!(faults.captured.wait_for(4, WAIT).await, 4);
    eventually("A and A2 exported", WAIT, || {
        a.metrics().spans_exported == 2 && a2.metrics().spans_exported == 2
    })
    .await;

    // A TLS gRPC client trusting the CA reaches B directly.
    let ca = std::fs::read(&pki.ca).expect("ca");
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", b_grpc.port()))
            .expect("endpoint")
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(&ca))
                    .domain_name("localhost"),
            )
            .expect("tls config")
            .connect()
            .await
            .expect("TLS connect");
    opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::new(
        channel,
    )
    .export(trace(3))
    .await
    .expect("accepted over TLS");
    assert_eq!(faults.captured.wait_for(6, WAIT).await, 6);

    // Plaintext to a TLS port: refused.
    let plain = tokio::time::timeout(WAIT, async {
        let mut c = grpc_client(b_grpc).await;
        c.export(trace(4)).await
    })
    .await
    .expect("answered");
    assert!(plain.is_err(), "plaintext gRPC to a TLS port must fail");
    let plain_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .post(format!("http://{b_http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(trace(5).encode_to_vec())
        .send()
        .await;
    assert!(
        plain_http.is_err() || !plain_http.as_ref().is_ok_and(|r| r.status().is_success()),
        "plaintext HTTP to a TLS port must fail"
    );
    // A client that does not trust the test CA: the handshake fails.
    let untrusted = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_backend_preconfigured(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .expect("client")
        .post(format!("https://localhost:{}/v1/traces", b_http.port()))
        .header("content-type", "application/x-protobuf")
        .body(trace(6).encode_to_vec())
        .send()
        .await;
    assert!(untrusted.is_err(), "an untrusted certificate must fail");

    for gw in [a, a2] {
        let m = gw.shutdown().await.metrics;
        assert_eq!((m.spans_received, m.spans_exported), (2, 2));
    }
    let m = b.shutdown().await.metrics;
    assert_eq!((m.spans_received, m.spans_exported), (6, 6));
    assert!(m.balanced());
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// Guards: mutual TLS. Gateway B's receivers require a client certificate from the test CA
/// (`client_ca_file`); gateways A (OTLP/HTTP) and A2 (OTLP/gRPC) present one
/// (`exporter.tls.cert_file`/`key_file`) and deliver; A3, trusting the CA but without a client
/// certificate, is refused at the handshake: its spans are counted as not delivered, never
/// received by B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_on_both_receivers() {
    let pki = pki("mtls");
    let faults = Faults::new(Answer::Ok);
    let (b, b_grpc, b_http) = tls_gateway(&pki, true, &faults).await;
    let with_cert = format!(
        "  tls: {{ ca_file: '{}', cert_file: '{}', key_file: '{}' }}",
        s(&pki.ca),
        s(&pki.client_cert),
        s(&pki.client_key)
    );
    let a = start_gateway(
        &format!("https://localhost:{}", b_http.port()),
        &format!("  protocol: http/protobuf\n{with_cert}"),
        FAST,
    )
    .await;
    let a2 = start_gateway(
        &format!("https://localhost:{}", b_grpc.port()),
        &with_cert,
        FAST,
    )
    .await;
    send_grpc(a.grpc_addr().expect("grpc"), trace(1))
        .await
        .expect("A accepts");
    send_grpc(a2.grpc_addr().expect("grpc"), trace(2))
        .await
        .expect("A2 accepts");
    assert_eq!(faults.captured.wait_for(4, WAIT).await, 4);

    // No client certificate: refused at the handshake, for both protocols.
    for (proto, port) in [
        ("  protocol: http/protobuf\n", b_http.port()),
        ("", b_grpc.port()),
    ] {
        let a3 = start_gateway(
            &format!("https://localhost:{port}"),
            &format!(
                "{proto}  retry: {{ enabled: false }}\n  tls: {{ ca_file: '{}' }}",
                s(&pki.ca)
            ),
            FAST,
        )
        .await;
        send_grpc(a3.grpc_addr().expect("grpc"), trace(3))
            .await
            .expect("A3 accepts (it cannot deliver)");
        eventually("A3's export failed", WAIT, || {
            a3.metrics().not_delivered_total() == 2
        })
        .await;
        let m = a3.shutdown().await.metrics;
        assert_eq!((m.spans_received, m.spans_exported), (2, 0), "{proto}");
        assert!(m.balanced());
    }

    for gw in [a, a2] {
        let m = gw.shutdown().await.metrics;
        assert_eq!((m.spans_received, m.spans_exported), (2, 2));
    }
    let m = b.shutdown().await.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported),
        (4, 4),
        "nothing from the gateway without a client certificate"
    );
    assert_eq!(faults.captured.wait_for(4, WAIT).await, 4);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// Guards: an exporter client certificate with a key that is not its own is refused at start
/// with a message naming the files, for both exporter protocols (for gRPC, tonic alone said
/// "exporter TLS: transport error").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_with_the_wrong_key_is_refused_at_start() {
    let pki = pki("mismatch");
    for protocol in ["grpc", "http/protobuf"] {
        let yaml = format!(
            "receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: '127.0.0.1:0' }} }} }} }}\nexporter: {{ endpoint: 'https://localhost:1', protocol: {protocol}, tls: {{ ca_file: '{}', cert_file: '{}', key_file: '{}' }} }}\ntelemetry: {{ metrics: {{ endpoint: '' }} }}",
            s(&pki.ca),
            s(&pki.client_cert),
            s(&pki.key) // the server's key, not the client certificate's
        );
        let settings =
            otel_llm_cost::gateway::config::GatewayConfig::from_yaml("t.yaml", &yaml, None)
                .expect("parses")
                .resolve(&|_| None)
                .expect("valid");
        let err = match otel_llm_cost::gateway::Gateway::builder(settings)
            .start()
            .await
        {
            Ok(_) => panic!("{protocol}: a mismatched certificate and key must not start"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("cert_file"), "{protocol}: {err}");
    }
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// Guards: with `auth:` configured, both receivers refuse requests without the exact bearer
/// token (HTTP 401 + `WWW-Authenticate: Bearer`, gRPC UNAUTHENTICATED) and touch nothing; the
/// right token is accepted. The token is read from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required_on_both_receivers() {
    let dir = std::env::temp_dir().join(format!("otel-llm-cost-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "tok-0123456789abcdef\n").expect("token");
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let gw = start_gateway(
        &format!("http://{sink}"),
        "",
        &format!(
            "{FAST}\nreceivers: {{ otlp: {{ auth: {{ bearer_token_file: '{}' }}, protocols: {{ grpc: {{ endpoint: '127.0.0.1:0' }}, http: {{ endpoint: '127.0.0.1:0' }} }} }} }}",
            s(&token_file)
        ),
    )
    .await;
    let (grpc, http) = (gw.grpc_addr().expect("grpc"), gw.http_addr().expect("http"));

    // gRPC: none, wrong, right.
    let mut c = grpc_client(grpc).await;
    let none = c.export(trace(1)).await.expect_err("no token");
    assert_eq!(none.code(), tonic::Code::Unauthenticated, "{none:?}");
    for (bearer, ok) in [
        ("Bearer tok-0123456789abcdeX", false),
        ("Bearer tok-0123456789abcdef0", false),
        ("Basic tok-0123456789abcdef", false),
        ("Bearer tok-0123456789abcdef", true),
    ] {
        let mut r = tonic::Request::new(trace(2));
        r.metadata_mut()
            .insert("authorization", bearer.parse().expect("metadata"));
        let res = c.export(r).await;
        match ok {
            true => {
                res.expect("right token accepted");
            }
            false => assert_eq!(
                res.expect_err("wrong token").code(),
                tonic::Code::Unauthenticated
            ),
        }
    }
    // HTTP: none, wrong, right.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let post = |auth: Option<&'static str>, t: u8| {
        let mut rb = client
            .post(format!("http://{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(trace(t).encode_to_vec());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    let r = post(None, 3).await.expect("answered");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .starts_with("Bearer"));
    let r = post(Some("Bearer nope"), 3).await.expect("answered");
    assert_eq!(r.status(), 401);
    let r = post(Some("Bearer tok-0123456789abcdef"), 4)
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);

    assert_eq!(faults.captured.wait_for(4, WAIT).await, 4);
    // Every refusal is counted, per protocol (4 gRPC, 2 HTTP).
    let text = gw.render_metrics();
    for line in [
        "otel_llm_cost_requests_unauthenticated_total{protocol=\"grpc\"} 4",
        "otel_llm_cost_requests_unauthenticated_total{protocol=\"http\"} 2",
    ] {
        assert!(text.contains(line), "missing '{line}' in:\n{text}");
    }
    let m = gw.shutdown().await.metrics;
    assert_eq!(
        (m.spans_received, m.spans_exported),
        (4, 4),
        "refused requests are not received"
    );
    assert_eq!(m.requests_unauthenticated, 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Guards: the defaults bind loopback only (receivers and metrics), TLS and auth are off, and
/// the ratio limit is on.
#[test]
fn defaults_bind_loopback_only() {
    let s = otel_llm_cost::GatewayConfig::from_yaml("t", "exporter: {endpoint: 'x:1'}", None)
        .expect("parses")
        .resolve(&|_| None)
        .expect("valid");
    for a in [s.grpc, s.http, s.metrics] {
        let a = a.expect("enabled by default");
        assert!(a.ip().is_loopback(), "{a}");
    }
    assert!(s.grpc_tls.is_none() && s.http_tls.is_none() && s.auth_token.is_none());
    assert!(!s.exporter.tls.enabled);
    assert_eq!(s.max_decompression_ratio, 100);
    // The token never shows in Debug output of the settings.
    let s = otel_llm_cost::GatewayConfig::from_yaml(
        "t",
        "exporter: {endpoint: 'x:1'}\nreceivers: {otlp: {auth: {bearer_token: 'tok-DEBUG-SECRET'}}}",
        None,
    )
    .expect("parses");
    assert!(!format!("{s:?}").contains("tok-DEBUG-SECRET"));
    let s = s.resolve(&|_| None).expect("valid");
    assert!(!format!("{s:?}").contains("tok-DEBUG-SECRET"));
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// Guards: zip bombs under the size limit are refused by the decompression-ratio limit on both
/// receivers (HTTP 413, gRPC RESOURCE_EXHAUSTED) without being decompressed past the bound;
/// ordinary gzip requests are accepted on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bombs_are_refused_by_the_ratio_limit_on_both_receivers() {
    let faults = Faults::new(Answer::Ok);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    // Default 64 MiB size limit, default ratio 100.
    let gw = start_gateway(&format!("http://{sink}"), "", FAST).await;
    let (grpc, http) = (gw.grpc_addr().expect("grpc"), gw.http_addr().expect("http"));
    // 32 MiB of one repeated span name: compresses ~1000:1, under the 64 MiB size limit.
    let bomb_req = request("svc", vec![span(9, 1, 0, &"x".repeat(32 << 20), vec![])]);
    let bomb = gzip(&bomb_req.encode_to_vec());
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    let (status, _, body) = post_http(http, "application/x-protobuf", Some("gzip"), bomb).await;
    assert_eq!(status, 413);
    assert!(
        String::from_utf8_lossy(&body).contains("max_decompression_ratio"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let mut c = grpc_client(grpc)
        .await
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_encoding_message_size(usize::MAX);
    let err = c.export(bomb_req).await.expect_err("bomb refused");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("max_decompression_ratio"), "{err:?}");
    // Ordinary compressed requests still go through both receivers.
    c.export(trace(1)).await.expect("gzip gRPC accepted");
    let (status, _, _) = post_http(
        http,
        "application/x-protobuf",
        Some("gzip"),
        gzip(&trace(2).encode_to_vec()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(faults.captured.wait_for(4, WAIT).await, 4);
    let m = gw.shutdown().await.metrics;
    assert_eq!((m.spans_received, m.spans_exported), (4, 4));
}

/// Guards: the real binary at `--log-level trace`, with auth, an exporter header holding a
/// secret, and traffic that exercises every log site we own (accepted requests carrying a
/// prompt, a malformed JSON request whose bad value is the prompt, wrong and missing tokens, a
/// downstream refusing exports, shutdown): neither the tokens nor the prompt text appear in
/// its output.
#[cfg(all(feature = "cli", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_prompts_never_reach_the_logs() {
    use common::gateway::process::{temp_dir, Serve};
    const TOKEN: &str = "tok-RECEIVER-SECRET-4f9a";
    const EXPORTER_SECRET: &str = "EXPORTER-SECRET-77b1";
    const PROMPT: &str = "PROMPT-TEXT-my-credit-card-is-4111";
    // The downstream refuses the first export (logged), then accepts.
    let faults = Faults::new(Answer::Ok).then(vec![
        Answer::Grpc(tonic::Code::Unavailable),
        Answer::Grpc(tonic::Code::InvalidArgument),
    ]);
    let sink = start_grpc_fault_sink(faults.clone()).await;
    let dir = temp_dir("logs");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers: {{ otlp: {{ auth: {{ bearer_token: "{TOKEN}" }}, protocols: {{ grpc: {{ endpoint: "127.0.0.1:0" }}, http: {{ endpoint: "127.0.0.1:0" }} }} }} }}
assembly: {{ root_grace: 0s, trace_timeout: 5s }}
exporter:
  endpoint: "http://{sink}"
  headers: {{ authorization: "Bearer {EXPORTER_SECRET}" }}
  retry: {{ initial_interval: 10ms, max_interval: 20ms }}
telemetry: {{ metrics: {{ endpoint: "127.0.0.1:0" }}, logs: {{ level: trace }} }}
"#
        ),
    )
    .expect("config");
    let mut gw = Serve::start(&config, &["--log-level", "trace"]);
    let (grpc, http, _) = gw.listening();
    let with_prompt = |t: u8| {
        let mut attrs = llm("gpt-4o-mini", 100, 10);
        attrs.push(kv_str("llm.input_messages.0.message.content", PROMPT));
        attrs.push(kv_str("gen_ai.prompt", PROMPT));
        request("svc", vec![span(t, 1, 0, PROMPT, attrs)])
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let post = |auth: Option<String>, ct: &'static str, body: Vec<u8>| {
        let mut rb = client
            .post(format!("http://{http}/v1/traces"))
            .header("content-type", ct)
            .body(body);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    let bearer = format!("Bearer {TOKEN}");
    // Accepted, with prompt text everywhere (attributes, span name).
    let r = post(
        Some(bearer.clone()),
        "application/x-protobuf",
        with_prompt(1).encode_to_vec(),
    )
    .await
    .expect("answered");
    assert_eq!(r.status(), 200);
    // Malformed JSON whose offending value is the prompt (serde quotes it in its error).
    let bad = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":{{"x":"{PROMPT}"}},"kind":"{PROMPT}"}}]}}]}}]}}"#
    );
    let r = post(Some(bearer.clone()), "application/json", bad.into_bytes())
        .await
        .expect("answered");
    assert_eq!(r.status(), 400);
    // Wrong and missing tokens (a wrong token that contains the real one).
    for auth in [
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        None,
    ] {
        let r = post(
            auth,
            "application/x-protobuf",
            with_prompt(2).encode_to_vec(),
        )
        .await
        .expect("answered");
        assert_eq!(r.status(), 401);
    }
    // gRPC: accepted with the token, refused without.
    let mut c = grpc_client(grpc).await;
    let mut req = tonic::Request::new(with_prompt(3));
    req.metadata_mut()
        .insert("authorization", bearer.parse().expect("metadata"));
    c.export(req).await.expect("accepted");
    c.export(with_prompt(4)).await.expect_err("no token");
    // Garbage protobuf with the prompt inside.
    let mut garbage = vec![0x0a, 0xff, 0x01];
    garbage.extend_from_slice(PROMPT.as_bytes());
    let r = post(Some(bearer.clone()), "application/x-protobuf", garbage)
        .await
        .expect("answered");
    assert_eq!(r.status(), 400);
    // The downstream answered the retryable and the permanent failure (both logged). The two
    // accepted traces go in two requests or, when the second is queued before the first is
    // sent (a loaded machine), in one: so 2 attempts, not 3, is all that is certain here; the
    // shutdown below settles whatever is left.
    eventually("downstream answered", WAIT, || faults.attempts() >= 2).await;
    gw.signal("TERM");
    let status = gw.wait_exit(WAIT);
    let _ = gw.wait_line("otel-llm-cost: received", Duration::from_secs(5));
    let logs = gw.stderr();
    // The test means something: trace-level lines from the request paths are there.
    assert!(logs.contains("malformed OTLP request refused"), "{logs}");
    assert!(logs.contains("unauthenticated request refused"), "{logs}");
    assert!(logs.contains("export failed"), "{logs}");
    for secret in [TOKEN, EXPORTER_SECRET, PROMPT, "credit-card"] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
    let _ = status;
    let _ = std::fs::remove_dir_all(&dir);
}
