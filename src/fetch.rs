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
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Download, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT))
        .user_agent(concat!("otel-llm-cost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {}", error_chain(&e)))?;
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .map_err(|e| error_chain(&e))?;
    let status = resp.status();
    if !status.is_success() {
        let mut text = Vec::new();
        let _ = resp.take(QUOTED_ERROR_BYTES).read_to_end(&mut text);
        let text = String::from_utf8_lossy(&text);
        return Err(format!("GET returned HTTP {status}: {}", text.trim()));
    }
    Ok(Download {
        len: resp.content_length(),
        body: Box::new(resp),
    })
}

/// GETs `url` as UTF-8 text of at most `max_bytes`.
pub(crate) fn get_text(url: &str, timeout: Duration, max_bytes: u64) -> Result<String, String> {
    let d = get(url, timeout)?;
    let mut bytes = Vec::new();
    d.body
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the body: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "the body is larger than the {max_bytes} bytes an input may have"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
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
        assert!(e.contains("larger than the 10 bytes"), "{e}");
        let url = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno thanks",
        );
        assert_eq!(
            get_text(&url, t, 10).unwrap_err(),
            "GET returned HTTP 503 Service Unavailable: no thanks"
        );
        // Nothing listens there any more; not a URL.
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = get(&format!("http://{dead}/"), t).unwrap_err();
        assert!(e.contains("onnect"), "{e}");
        assert!(get("http://[::1/", t).is_err());
    }
}
