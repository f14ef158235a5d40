//! An HTTP(S) GET for inputs named by a URL: the catalog builder's sources (`catalog build
//! --litellm URL`) and the report's inputs (`report http://jaeger:16686/api/v3/traces/...`).
//!
//! reqwest's blocking client (its own runtime thread: no async runtime needed by the caller),
//! TLS through rustls with the system's roots (`SSL_CERT_FILE` names a private CA). Redirects
//! are followed; no compression is asked for. One timeout bounds the connection (at most
//! 10 s), the wait for the answer, and each read of the body.

use std::io::Read;
use std::time::Duration;

/// Longest connect phase, whatever the timeout.
const MAX_CONNECT: Duration = Duration::from_secs(10);
/// Bytes of an error answer's body quoted in the error.
const QUOTED_ERROR_BYTES: u64 = 300;

/// Why a GET failed, as far as a caller acts on it (the catalog refresh counts each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchKind {
    /// No connection: refused, no route, DNS, TLS handshake.
    Unreachable,
    /// The connection, the answer or a read of the body took longer than the timeout.
    Timeout,
    /// The server answered with a status other than 2xx.
    Status,
    /// The body ended before its announced length (a cut transfer).
    Body,
    /// The body came whole but is not an input: larger than allowed, or not UTF-8 text.
    Content,
    /// Anything else (a malformed URL, the client could not be built).
    Other,
}

/// A failed GET: its kind, and the message (with the error's causes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchError {
    pub kind: FetchKind,
    pub message: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<FetchError> for String {
    fn from(e: FetchError) -> String {
        e.message
    }
}

impl FetchError {
    fn new(kind: FetchKind, message: String) -> FetchError {
        FetchError { kind, message }
    }

    /// A reqwest error, classified.
    fn of(e: &reqwest::Error) -> FetchError {
        let kind = if e.is_timeout() {
            FetchKind::Timeout
        } else if e.is_connect() {
            FetchKind::Unreachable
        } else if e.is_body() || e.is_decode() {
            FetchKind::Body
        } else {
            FetchKind::Other
        };
        FetchError::new(kind, error_chain(e))
    }

    /// An error reading the body.
    fn reading(e: &std::io::Error) -> FetchError {
        // reqwest's blocking body reports its read timeout as an io error wrapping its own.
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref()
                .and_then(|i| i.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout);
        let kind = if timed_out {
            FetchKind::Timeout
        } else {
            FetchKind::Body
        };
        FetchError::new(kind, format!("reading the body: {}", error_chain(e)))
    }
}

/// A response being read: the body as a reader, and its length when the server gave one.
pub(crate) struct Download {
    pub body: Box<dyn Read + Send>,
    pub len: Option<u64>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("len", &self.len).finish()
    }
}

/// GETs `url` (`http://` or `https://`). A status other than 2xx is an error quoting the start
/// of the answer (`GET returned HTTP 404 Not Found: trace not found`).
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Download, FetchError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT))
        .user_agent(concat!("otel-llm-cost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            FetchError::new(
                FetchKind::Other,
                format!("HTTP client: {}", error_chain(&e)),
            )
        })?;
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .map_err(|e| FetchError::of(&e))?;
    let status = resp.status();
    if !status.is_success() {
        let mut text = Vec::new();
        let _ = resp.take(QUOTED_ERROR_BYTES).read_to_end(&mut text);
        let text = String::from_utf8_lossy(&text);
        return Err(FetchError::new(
            FetchKind::Status,
            format!("GET returned HTTP {status}: {}", text.trim()),
        ));
    }
    Ok(Download {
        len: resp.content_length(),
        body: Box::new(resp),
    })
}

/// GETs `url` as UTF-8 text of at most `max_bytes`.
pub(crate) fn get_text(url: &str, timeout: Duration, max_bytes: u64) -> Result<String, FetchError> {
    let d = get(url, timeout)?;
    let mut bytes = Vec::new();
    d.body
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FetchError::reading(&e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(FetchError::new(
            FetchKind::Content,
            format!("the body is larger than the {max_bytes} bytes an input may have"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| FetchError::new(FetchKind::Content, format!("not UTF-8 text: {e}")))
}

/// An error with its causes (reqwest's own message alone says little: "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Answers one connection with `answer` after reading the request head.
    fn serve_once(answer: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            s.write_all(answer).unwrap();
        });
        format!("http://{addr}/x")
    }

    #[test]
    fn chunked_bodies_length_limits_and_error_answers() {
        let t = Duration::from_secs(20);
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
        );
        let d = get(&url, t).unwrap();
        assert_eq!(d.len, None);
        let mut text = String::new();
        let mut body = d.body;
        body.read_to_string(&mut text).unwrap();
        assert_eq!(text, "abcde");

        let url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde");
        assert_eq!(get_text(&url, t, 5), Ok("abcde".into()));
        let url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
        let e = get_text(&url, t, 10).unwrap_err();
        assert!(e.message.contains("larger than the 10 bytes"), "{e}");
        assert_eq!(e.kind, FetchKind::Content);
        let url = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno thanks",
        );
        let e = get_text(&url, t, 10).unwrap_err();
        assert_eq!(
            e.message,
            "GET returned HTTP 503 Service Unavailable: no thanks"
        );
        assert_eq!(e.kind, FetchKind::Status);
        // Nothing listens there any more; not a URL.
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = get(&format!("http://{dead}/"), t).unwrap_err();
        assert!(e.message.contains("onnect"), "{e}");
        assert_eq!(e.kind, FetchKind::Unreachable);
        assert!(get("http://[::1/", t).is_err());
        // Accepted and never answered: the timeout, named as such.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let e = get(&url, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind, FetchKind::Timeout, "{e}");
        drop(silent);
    }
}
