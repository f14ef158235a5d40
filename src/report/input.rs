//! Opening inputs (files, `-` for stdin, `http://` URLs) and the progress line on stderr.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeout of each read from (and write to) an HTTP server.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of connecting to an HTTP server.
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open input: a buffered reader and its size when known.
pub(crate) struct Opened {
    pub reader: Box<dyn BufRead>,
    pub len: Option<u64>,
}

/// Opens `spec`: `-` (stdin), `http://…` / `https://…`, or a file path. `read` counts the bytes
/// read (for the progress line).
pub(crate) fn open(spec: &str, read: Arc<AtomicU64>) -> Result<Opened, String> {
    if spec == "-" {
        return Ok(Opened {
            reader: Box::new(BufReader::with_capacity(
                1 << 20,
                Counting {
                    inner: io::stdin(),
                    read,
                },
            )),
            len: None,
        });
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        // Plain `std::net` HTTP: no TLS stack, no async runtime in the report.
        let body = HttpBody::get(spec)?;
        let len = body.len;
        return Ok(Opened {
            reader: Box::new(BufReader::with_capacity(
                1 << 20,
                Counting { inner: body, read },
            )),
            len,
        });
    }
    let f = File::open(spec).map_err(|e| format!("cannot open: {e}"))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok(Opened {
        reader: Box::new(BufReader::with_capacity(
            1 << 20,
            Counting { inner: f, read },
        )),
        len,
    })
}

/// Counts bytes read.
pub(crate) struct Counting<R> {
    pub inner: R,
    pub read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A streamed HTTP/1.1 response body from a plain `http://` URL, over `std::net` (a GET with
/// `Connection: close`; `Content-Length`, chunked and read-to-close bodies). No TLS, no
/// redirects: the report reads from a trace backend on the local network or loopback (Jaeger's
/// query port); for anything else, download the file first.
struct HttpBody {
    body: Body,
    len: Option<u64>,
}

enum Body {
    Length(io::Take<BufReader<TcpStream>>),
    Chunked(Chunked),
    Close(BufReader<TcpStream>),
}

/// Upper bound of the status line plus headers.
const MAX_HEAD: u64 = 64 * 1024;

fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest =
        match url.strip_prefix("http://") {
            Some(r) => r,
            None => return Err(
                "only plain http:// URLs are read (download https:// with curl and pass the file)"
                    .into(),
            ),
        };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("expected http://HOST[:PORT]/PATH".into());
    }
    let port_of = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port '{p}'"));
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        // [v6]:port
        let (h, p) = v6
            .split_once(']')
            .ok_or("expected http://[ADDRESS]:PORT/PATH")?;
        let port = match p.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if p.is_empty() => 80,
            None => return Err(format!("bad port '{p}'")),
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), port_of(p)?),
            None => (authority.to_owned(), 80),
        }
    };
    Ok((host, port, path))
}

impl HttpBody {
    fn get(url: &str) -> Result<HttpBody, String> {
        let (host, port, path) = parse_url(url)?;
        let addrs = (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, HTTP_CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = stream.ok_or_else(|| match last {
            Some(e) => format!("cannot connect to {host}:{port}: {e}"),
            None => format!("cannot resolve {host}"),
        })?;
        let io_err = |e: io::Error| format!("GET {url}: {e}");
        stream
            .set_read_timeout(Some(HTTP_TIMEOUT))
            .map_err(io_err)?;
        stream
            .set_write_timeout(Some(HTTP_TIMEOUT))
            .map_err(io_err)?;
        let host_header = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nAccept-Encoding: identity\r\nUser-Agent: otel-llm-cost/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )
        .map_err(io_err)?;
        let mut r = BufReader::new(stream);
        let mut head = (&mut r).take(MAX_HEAD);
        let mut status_line = String::new();
        head.read_line(&mut status_line).map_err(io_err)?;
        let mut parts = status_line.trim_end().splitn(3, ' ');
        let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let reason = parts.next().unwrap_or("").to_owned();
        if !version.starts_with("HTTP/1.") {
            return Err(format!(
                "not an HTTP/1.x response: '{}'",
                status_line.trim_end()
            ));
        }
        let code: u16 = code
            .parse()
            .map_err(|_| format!("bad HTTP status line: '{}'", status_line.trim_end()))?;
        let (mut len, mut chunked) = (None, false);
        loop {
            let mut line = String::new();
            if head.read_line(&mut line).map_err(io_err)? == 0 {
                return Err("response headers cut short (or over 64 KiB)".into());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("content-length") {
                    len = Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("bad Content-Length '{v}'"))?,
                    );
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.to_ascii_lowercase().contains("chunked");
                }
            }
        }
        let body = if chunked {
            Body::Chunked(Chunked {
                inner: r,
                left: 0,
                done: false,
            })
        } else if let Some(n) = len {
            Body::Length(r.take(n))
        } else {
            Body::Close(r)
        };
        let mut body = HttpBody {
            body,
            len: if chunked { None } else { len },
        };
        if !(200..300).contains(&code) {
            let mut text = Vec::new();
            let _ = (&mut body).take(300).read_to_end(&mut text);
            let text = String::from_utf8_lossy(&text);
            return Err(format!(
                "GET returned HTTP {code} {reason}: {}",
                text.trim()
            ));
        }
        Ok(body)
    }
}

impl Read for HttpBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Length(r) => r.read(buf),
            Body::Chunked(c) => c.read(buf),
            Body::Close(r) => r.read(buf),
        }
    }
}

/// A chunked transfer-encoded body.
struct Chunked {
    inner: BufReader<TcpStream>,
    left: u64,
    done: bool,
}

impl Chunked {
    fn line(&mut self) -> io::Result<String> {
        let mut s = String::new();
        (&mut self.inner).take(4096).read_line(&mut s)?;
        Ok(s)
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            let line = self.line()?;
            if line.is_empty() {
                return Err(bad("chunked body cut short".into()));
            }
            let size = line.trim_end().split(';').next().unwrap_or("").trim();
            let n = u64::from_str_radix(size, 16)
                .map_err(|_| bad(format!("bad chunk size '{size}'")))?;
            if n == 0 {
                // Trailers, up to the empty line.
                loop {
                    let t = self.line()?;
                    if t.trim_end().is_empty() {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
            self.left = n;
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad("chunked body cut short".into()));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let end = self.line()?;
            if end.trim_end() != "" {
                return Err(bad("chunk not followed by CRLF".into()));
            }
        }
        Ok(n)
    }
}

/// The progress line: on stderr, only when stderr is a terminal, at most 5 updates a second.
pub(crate) struct Progress {
    enabled: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub(crate) fn new(wanted: bool) -> Progress {
        Progress {
            enabled: wanted && io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    /// Shows the state if the last update is old enough.
    pub(crate) fn tick(&mut self, f: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        let mut e = io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{}", f());
        let _ = e.flush();
    }

    /// Clears the line.
    pub(crate) fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// `12.3 MiB`.
pub(crate) fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:16686/api/v3/traces/ab?x=1"),
            Ok(("127.0.0.1".into(), 16686, "/api/v3/traces/ab?x=1".into()))
        );
        assert_eq!(
            parse_url("http://jaeger"),
            Ok(("jaeger".into(), 80, "/".into()))
        );
        assert_eq!(
            parse_url("http://[::1]:8080/x"),
            Ok(("[::1]".into(), 8080, "/x".into()))
        );
        assert!(parse_url("https://jaeger/x")
            .unwrap_err()
            .contains("plain http://"));
        assert!(parse_url("http://h:99999/").is_err());
        assert_eq!(
            parse_url("http://[::1]/"),
            Ok(("[::1]".into(), 80, "/".into()))
        );
    }
}
