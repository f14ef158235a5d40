//! A tiny HTTP/1.1 and HTTPS server on 127.0.0.1:0 answering canned bodies by path, for the
//! tests of inputs named by URL (`catalog build --litellm URL`, `report URL`). The HTTPS one
//! has a certificate of a test CA generated at test time, written to a PEM file for the client
//! (`SSL_CERT_FILE`, as an air-gapped mirror with a private CA would be trusted).
#![allow(dead_code)]

use std::io::Write as _;

/// One canned answer of the test server: status, content type, body, and whether to cut the
/// connection halfway through the body (after announcing its full length).
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub cut: bool,
}

pub fn ok_json(body: Vec<u8>) -> Canned {
    Canned {
        status: 200,
        content_type: "application/json",
        body,
        cut: false,
    }
}

/// Reads one request head and answers it from `routes` (404 for other paths).
pub fn answer<S: std::io::Read + std::io::Write>(stream: &mut S, routes: &[(&str, Canned)]) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut b).is_ok_and(|n| n == 1) {
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let c = routes
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, c)| c.clone())
        .unwrap_or(Canned {
            status: 404,
            content_type: "text/plain",
            body: b"not found".to_vec(),
            cut: false,
        });
    let sent = if c.cut {
        &c.body[..c.body.len() / 2]
    } else {
        &c.body[..]
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        c.status,
        c.content_type,
        c.body.len()
    );
    let _ = stream.write_all(sent);
    let _ = stream.flush();
}

/// A plain HTTP server on 127.0.0.1:0 serving `requests` requests, then stopping.
pub fn http_server(routes: Vec<(&'static str, Canned)>, requests: usize) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut s, _)) = l.accept() else { return };
            answer(&mut s, &routes);
        }
    });
    addr
}

/// An HTTPS server on 127.0.0.1:0 serving `requests` requests, then stopping; the PEM of the
/// CA that signed its certificate (for 127.0.0.1) is written to `ca_file`.
pub fn https_server(
    routes: Vec<(&'static str, Canned)>,
    requests: usize,
    ca_file: &std::path::Path,
) -> std::net::SocketAddr {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("cert");
    std::fs::write(ca_file, ca.pem()).expect("write the CA");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server cert");
    let config = std::sync::Arc::new(config);
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((tcp, _)) = l.accept() else { return };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            answer(&mut tls, &routes);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    addr
}
