//! TLS for the receivers and the exporter: rustls with the ring provider, certificates and keys
//! read from PEM files.
//!
//! ```text
//! gRPC receiver:  rustls ServerConfig, ALPN h2        <- cert_file + key_file (+ client_ca_file: mTLS)
//! HTTP receiver:  rustls ServerConfig, ALPN h2 + http/1.1 (same files)
//! gRPC exporter:  tonic ClientTlsConfig (ca_file or system roots), https:// endpoint
//! HTTP exporter:  reqwest with a rustls ClientConfig built here (ca_file or system roots)
//! ```
//!
//! The receivers' handshakes run in each connection's own task (conn.rs), within
//! `header_read_timeout`, so a client that opens a connection and never finishes its handshake
//! holds one connection slot until then; accepting goes on.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{ExporterTlsSettings, TlsFiles};

/// Installs rustls' ring provider as the process default, once (a no-op when a default is
/// already installed), so every rustls user in the process (reqwest clients included) agrees
/// on one provider; the gateway calls this at start. Our own TLS configurations name ring
/// explicitly and do not depend on it.
pub fn install_default_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &str, p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{what} '{}': {e}", p.display()))
}

fn certs(what: &str, p: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(what, p)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} '{}': {e}", p.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} '{}': no PEM certificate found",
            p.display()
        ));
    }
    Ok(certs)
}

fn key(what: &str, p: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(what, p)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{what} '{}': no usable PEM private key: {e}", p.display()))
}

/// The rustls server configuration of a receiver (HTTP/1.1 and h2 offered by ALPN).
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = certs("cert_file", &files.cert_file)?;
    let key = key("key_file", &files.key_file)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &files.client_ca_file {
        Some(p) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("client_ca_file", p)? {
                roots
                    .add(c)
                    .map_err(|e| format!("client_ca_file '{}': {e}", p.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .map_err(|e| format!("client_ca_file '{}': {e}", p.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "cert_file '{}' / key_file '{}': {e}",
            files.cert_file.display(),
            files.key_file.display()
        )
    })?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The gRPC receiver's configuration: as [`server_config`], h2 only by ALPN.
pub(crate) fn grpc_server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut cfg = Arc::unwrap_or_clone(server_config(files)?);
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// tonic's client TLS: the configured CA, else the system roots.
pub(crate) fn grpc_client_config(
    t: &ExporterTlsSettings,
    host: &str,
) -> Result<tonic::transport::ClientTlsConfig, String> {
    let mut cfg = tonic::transport::ClientTlsConfig::new().domain_name(host);
    if let Some((c, k)) = &t.client_identity {
        // rustls checks that the key belongs to the certificate, with a message naming the files
        // (tonic refuses such a pair too, but says only "transport error").
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_client_auth_cert(
                certs("exporter.tls.cert_file", c)?,
                key("exporter.tls.key_file", k)?,
            )
            .map_err(|e| {
                format!(
                    "exporter.tls.cert_file '{}' / key_file '{}': {e}",
                    c.display(),
                    k.display()
                )
            })?;
        cfg = cfg.identity(tonic::transport::Identity::from_pem(
            read("exporter.tls.cert_file", c)?,
            read("exporter.tls.key_file", k)?,
        ));
    }
    Ok(match &t.ca_file {
        Some(p) => {
            certs("exporter.tls.ca_file", p)?;
            cfg.ca_certificate(tonic::transport::Certificate::from_pem(read(
                "exporter.tls.ca_file",
                p,
            )?))
        }
        None => cfg.with_native_roots(),
    })
}

/// A rustls client configuration for reqwest: the configured CA, else the system roots.
pub(crate) fn http_client_config(t: &ExporterTlsSettings) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca_file {
        Some(p) => {
            for c in certs("exporter.tls.ca_file", p)? {
                roots
                    .add(c)
                    .map_err(|e| format!("exporter.tls.ca_file '{}': {e}", p.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A system certificate rustls cannot parse is skipped, as reqwest does.
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(
                    "no system root certificates found; set exporter.tls.ca_file".to_owned(),
                );
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let mut cfg = match &t.client_identity {
        Some((c, k)) => builder
            .with_client_auth_cert(
                certs("exporter.tls.cert_file", c)?,
                key("exporter.tls.key_file", k)?,
            )
            .map_err(|e| format!("exporter.tls.cert_file '{}': {e}", c.display()))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
