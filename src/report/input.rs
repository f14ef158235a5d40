//! Opening inputs (files, `-` for stdin, `http://` and `https://` URLs with the `fetch`
//! feature) and the progress line on stderr.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeout of connecting to an HTTP server (at most 10 s), of the wait for its answer, and of
/// each read of the body.
#[cfg(feature = "fetch")]
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// An open input: a buffered reader and its size when known.
pub(crate) struct Opened {
    pub reader: Box<dyn BufRead>,
    pub len: Option<u64>,
}

/// Opens `spec`: `-` (stdin), `http://…` / `https://…`, or a file path. `read` counts the bytes
/// read (for the progress line).
pub(crate) fn open(spec: &str, read: Arc<AtomicU64>) -> Result<Opened, String> {
    let (inner, len): (Box<dyn Read>, Option<u64>) = if spec == "-" {
        (Box::new(io::stdin()), None)
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        url(spec)?
    } else {
        let f = File::open(spec).map_err(|e| format!("cannot open: {e}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    Ok(Opened {
        reader: Box::new(BufReader::with_capacity(1 << 20, Counting { inner, read })),
        len,
    })
}

/// A URL's body and its length when known.
#[cfg(feature = "fetch")]
fn url(spec: &str) -> Result<(Box<dyn Read>, Option<u64>), String> {
    let d = crate::fetch::get(spec, HTTP_TIMEOUT)?;
    Ok((d.body, d.len))
}

#[cfg(not(feature = "fetch"))]
fn url(_: &str) -> Result<(Box<dyn Read>, Option<u64>), String> {
    Err("reading URLs needs the crate's `fetch` feature".to_owned())
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
