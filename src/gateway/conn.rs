//! The connections of the receivers and of the metrics server: one accept loop over hyper for
//! all three, with the bounds a hostile or unlucky client needs (issue 13).
//!
//! ```text
//! accept -- max_connections permits per listener; EMFILE/ENFILE: back off 5 ms .. 1 s (counted)
//!   -> TLS handshake (optional, within header_read_timeout)
//!   -> hyper: HTTP/1.1 and h2 (gRPC: h2 only)
//!   -> each request: its body within body_read_timeout (TimedBody) -> the service
//! watchdog: a connection with no request under way (idle, or still sending a request's
//!   headers) is closed after header_read_timeout if it never completed a request's headers,
//!   else after idle_timeout since its last request (counted either way)
//! stop: accepting ends at once; requests past their body finish and are answered; everything
//!   else (idle, a partial header, a body that never ends, an h2 stream without END_STREAM)
//!   is dropped at once
//! ```
//!
//! [`Requests`] counts the requests whose handler is running across every connection (h2 runs
//! each stream's handler in a task of its own): shutdown waits for it to reach zero before it
//! drains the assembly, so no request can add spans after the drain.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tonic::codegen::Service;

use super::metrics::{Listener, LogLimiter, Metrics};

/// First wait after a failed `accept()` (out of file descriptors, ...); doubles up to
/// [`ACCEPT_BACKOFF_MAX`], back to the start after a success.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest wait between two `accept()` attempts while they fail: how long the gateway may stay
/// unreachable after file descriptors are free again.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long a closing connection may take to write the answers already produced (a client that
/// does not read them is dropped after it).
const FLUSH_GRACE: Duration = Duration::from_millis(200);

/// A listener's bounds (`receivers.otlp.*`, `telemetry.metrics.*`).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// How one listener serves.
pub(crate) struct Options {
    pub listener: Listener,
    pub limits: Limits,
    /// h2 only (gRPC), else HTTP/1.1 and h2.
    pub http2_only: bool,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Requests whose handler is running, across every connection of every listener.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    running: AtomicUsize,
    idle: Notify,
}

impl Requests {
    /// Resolves once no handler runs.
    pub(crate) async fn idle(&self) {
        loop {
            let n = self.idle.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            n.await;
        }
    }
}

/// A running listener: stop it with [`Served::stop`], then await [`Served::task`].
#[derive(Debug)]
pub(crate) struct Served {
    stop: watch::Sender<bool>,
    pub task: JoinHandle<()>,
}

impl Served {
    /// Stops accepting and closes every connection (see the module docs); `task` ends once
    /// they are all closed.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The services served: an axum router or the gRPC service.
pub(crate) trait HttpService:
    Service<
        Request<TimedBody>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    type Body: Body<Data = Bytes, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<TimedBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static,
{
    type Body = B;
}

/// Serves `service` on `listener` until stopped.
pub(crate) fn serve<S: HttpService>(
    listener: TcpListener,
    service: S,
    opts: Options,
    metrics: Arc<Metrics>,
    requests: Arc<Requests>,
) -> Served {
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(
        listener,
        service,
        Arc::new(opts),
        metrics,
        requests,
        stop_rx,
    ));
    Served { stop, task }
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Errors of one connection that says nothing about the listener (the client went away).
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

async fn accept_loop<S: HttpService>(
    listener: TcpListener,
    service: S,
    opts: Arc<Options>,
    metrics: Arc<Metrics>,
    requests: Arc<Requests>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(opts.limits.max_connections));
    // hyper's own HTTP/1 header timeout is off: it also runs while a keep-alive connection
    // waits for its next request, so it would close idle connections after the header
    // timeout, uncounted. The watchdog below bounds both phases, for h2 too.
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    if opts.http2_only {
        builder = builder.http2_only();
    }
    let builder = Arc::new(builder);
    let tls = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let log = LogLimiter::new(Duration::from_secs(10));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        // Wait for a free slot before accepting: past the limit, connections wait in the
        // kernel's backlog and cost no descriptor.
        let permit = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            r = listener.accept() => r,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                tcp
            }
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors (EMFILE, ENFILE) or memory: the pending connection
                // stays in the backlog and the listener stays readable, so retrying at once
                // would spin. Wait, longer each time, and try again.
                metrics.accept_error(opts.listener);
                if let Some(suppressed) = log.allow() {
                    tracing::warn!(
                        listener = opts.listener.as_str(),
                        error = %e,
                        suppressed,
                        retry_in_ms = backoff.as_millis() as u64,
                        "cannot accept connections (out of file descriptors?); backing off"
                    );
                }
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        metrics.connection_opened(opts.listener);
        conns.spawn(connection(
            tcp,
            tls.clone(),
            builder.clone(),
            service.clone(),
            opts.clone(),
            metrics.clone(),
            requests.clone(),
            stop.clone(),
            permit,
        ));
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// One connection's state, shared with its requests.
#[derive(Debug)]
struct ConnState {
    /// Requests whose handler runs.
    active: AtomicUsize,
    /// Of those, requests still reading their body.
    reading: AtomicUsize,
    /// A request's headers were completed at least once.
    served: AtomicBool,
    /// When `active` last became 0.
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            active: AtomicUsize::new(0),
            reading: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    /// Requests past their body: being decoded, admitted, answered.
    fn processing(&self) -> usize {
        self.active
            .load(Ordering::Acquire)
            .saturating_sub(self.reading.load(Ordering::Acquire))
    }

    /// When the watchdog closes the connection, if no request is under way.
    fn idle_deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(
            since
                + if self.served.load(Ordering::Acquire) {
                    limits.idle_timeout
                } else {
                    limits.header_read_timeout
                },
        )
    }
}

/// A running handler: counted on its connection and across all of them until dropped.
struct RequestGuard {
    conn: Arc<ConnState>,
    all: Arc<Requests>,
}

impl RequestGuard {
    fn new(conn: &Arc<ConnState>, all: &Arc<Requests>) -> RequestGuard {
        conn.active.fetch_add(1, Ordering::AcqRel);
        conn.served.store(true, Ordering::Release);
        all.running.fetch_add(1, Ordering::AcqRel);
        conn.changed.notify_waiters();
        RequestGuard {
            conn: conn.clone(),
            all: all.clone(),
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.conn.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .conn
                .idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        }
        self.conn.changed.notify_waiters();
        if self.all.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all.idle.notify_waiters();
        }
    }
}

/// A request still reading its body; dropped when the body ended (or was dropped).
struct Reading(Arc<ConnState>);

impl Reading {
    fn new(conn: &Arc<ConnState>) -> Reading {
        conn.reading.fetch_add(1, Ordering::AcqRel);
        Reading(conn.clone())
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.reading.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The body did not arrive within `body_read_timeout` of the request's headers.
    #[error("request body not received within {0:?} (body_read_timeout)")]
    TimedOut(Duration),
    /// The connection failed (the client went away, a protocol error).
    #[error("reading the request body: {0}")]
    Io(#[from] hyper::Error),
}

impl ReadError {
    /// Whether `e` (or an error it wraps) is a body read timeout.
    pub(crate) fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
        let mut cur = Some(e);
        while let Some(e) = cur {
            if matches!(e.downcast_ref::<ReadError>(), Some(ReadError::TimedOut(_))) {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

/// A request body that must end within `body_read_timeout` of the request's headers; counts
/// as "reading" on its connection until it ends.
pub(crate) struct TimedBody {
    inner: Incoming,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    limit: Duration,
    reading: Option<Reading>,
    /// Timed out or failed: nothing more is read (a reader that polls again, such as the
    /// drain of a refused body, must not wait without a deadline).
    failed: bool,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration, conn: &Arc<ConnState>) -> TimedBody {
        let done = inner.is_end_stream();
        TimedBody {
            inner,
            deadline: (!done).then(|| Box::pin(tokio::time::sleep(limit))),
            limit,
            reading: (!done).then(|| Reading::new(conn)),
            failed: false,
        }
    }

    fn ended(&mut self) {
        self.deadline = None;
        self.reading = None;
    }

    fn failed(&mut self) {
        self.ended();
        self.failed = true;
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = ReadError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ReadError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if let Some(d) = this.deadline.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                this.failed();
                return Poll::Ready(Some(Err(ReadError::TimedOut(this.limit))));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.failed();
                Poll::Ready(Some(Err(ReadError::Io(e))))
            }
            Poll::Ready(Some(Ok(f))) => {
                if this.inner.is_end_stream() {
                    this.ended();
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A plain or TLS connection.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Decrements the open-connections gauge however the task ends.
struct OpenConnection(Arc<Metrics>, Listener);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed(self.1);
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection<S: HttpService>(
    tcp: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builder: Arc<Builder<TokioExecutor>>,
    service: S,
    opts: Arc<Options>,
    metrics: Arc<Metrics>,
    requests: Arc<Requests>,
    mut stop: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _open = OpenConnection(metrics.clone(), opts.listener);
    let limits = &opts.limits;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp));
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => return,
                r = handshake => match r {
                    Ok(Ok(s)) => Box::new(s),
                    Ok(Err(e)) => {
                        tracing::debug!(listener = opts.listener.as_str(), error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        metrics.connection_timed_out(opts.listener);
                        tracing::debug!(listener = opts.listener.as_str(), "TLS handshake timed out");
                        return;
                    }
                },
            }
        }
    };
    let state = Arc::new(ConnState::new());
    let svc = {
        let state = state.clone();
        let body_limit = limits.body_read_timeout;
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let guard = RequestGuard::new(&state, &requests);
            let (parts, body) = req.into_parts();
            let req = Request::from_parts(parts, TimedBody::new(body, body_limit, &state));
            let mut inner = service.clone();
            async move {
                let _guard = guard;
                std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
                inner.call(req).await
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    // Serving: until the client closes, the watchdog fires, or the listener stops.
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let deadline = state.idle_deadline(limits);
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(listener = opts.listener.as_str(), error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped(&mut stop) => break,
            _ = changed => continue,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if state.active.load(Ordering::Acquire) == 0 {
                    metrics.connection_timed_out(opts.listener);
                    break;
                }
            }
        }
    }
    // Closing: no new requests; those past their body are answered, the rest dropped.
    conn.as_mut().graceful_shutdown();
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let processing = state.processing();
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            _ = changed => continue,
            _ = tokio::time::sleep(FLUSH_GRACE), if processing == 0 => return,
        }
    }
}
