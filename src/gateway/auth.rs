//! Optional bearer-token authentication of the receivers: `Authorization: Bearer <token>`
//! (gRPC: the `authorization` metadata). Missing or wrong: HTTP 401 with
//! `WWW-Authenticate: Bearer`, gRPC `UNAUTHENTICATED`. The comparison takes the same time
//! wherever the first difference is (`subtle`); the token is never logged.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;

/// The expected token; `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct BearerAuth {
    token: Arc<[u8]>,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerAuth(<redacted>)")
    }
}

impl BearerAuth {
    pub(crate) fn new(token: &str) -> BearerAuth {
        BearerAuth {
            token: Arc::from(token.as_bytes()),
        }
    }

    /// Whether an `Authorization` header value carries the token.
    pub(crate) fn check(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else { return false };
        let Some(presented) = strip_bearer(h) else {
            return false;
        };
        // `ct_eq` on slices of different lengths is false without comparing contents; the
        // length is not secret (RFC 6750 tokens are not length-hiding anyway).
        bool::from(presented.ct_eq(&self.token))
    }
}

/// The credentials after `Bearer ` (scheme case-insensitive, RFC 7235).
fn strip_bearer(h: &[u8]) -> Option<&[u8]> {
    let h = h.trim_ascii();
    if h.len() < 7 || !h[..6].eq_ignore_ascii_case(b"bearer") || h[6] != b' ' {
        return None;
    }
    Some(h[7..].trim_ascii())
}

/// The message both receivers answer with.
pub(crate) const UNAUTHENTICATED: &str =
    "missing or invalid bearer token (send 'Authorization: Bearer <token>')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_with_the_bearer_scheme_passes() {
        let a = BearerAuth::new("s3cr3t");
        assert!(a.check(Some(b"Bearer s3cr3t")));
        assert!(a.check(Some(b"bearer s3cr3t")));
        assert!(a.check(Some(b"  Bearer   s3cr3t ")));
        for bad in [
            &b"Bearer s3cr3"[..],
            b"Bearer s3cr3tt",
            b"Bearer S3CR3T",
            b"Basic s3cr3t",
            b"Bearers3cr3t",
            b"s3cr3t",
            b"Bearer ",
            b"",
        ] {
            assert!(!a.check(Some(bad)), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!a.check(None));
    }

    #[test]
    fn debug_never_shows_the_token() {
        assert!(!format!("{:?}", BearerAuth::new("s3cr3t")).contains("s3cr3t"));
    }
}
