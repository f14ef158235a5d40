//! Accepted means durable (`exporter.queue.directory`): a write-ahead log of accepted requests,
//! checkpoints of what left the gateway, and the replay of the rest after a restart.
//!
//! ```text
//! receiver -> Pipeline::ingest -> log_request: bytes, Wal::append --channel--> writer thread
//!          writer: gather every waiting append (group commit) -> one write (+ fsync per policy)
//!          -> reply -> spans tagged with their Origin -> acknowledged -> assembly -> export
//! consumer: batch delivered or counted for good -> Wal::done(origins) -> writer: checkpoint
//!          -> a segment whose every span is checkpointed is deleted
//! start:   Wal::open -> Backlog::replay: every span not checkpointed -> assembly (received again)
//! ```
//!
//! # Files
//!
//! The directory holds a `LOCK` file (an OS lock: one gateway per directory, released by the
//! kernel however the process ends) and segments, each a pair:
//!
//! - `NNNNNNNNNNNNNNNNNNNN.wal`: records, appended only. A record is
//!   `len: u32 LE | crc32(payload): u32 LE | payload`, the payload one accepted
//!   `ExportTraceServiceRequest` in protobuf: the (decompressed) protobuf bytes the receiver
//!   decoded it from, or, for OTLP/JSON, the request encoded again. A record's number is its
//!   position in the segment (0, 1, ...); its spans are numbered in the order [`split`] yields
//!   the valid ones (invalid ones were refused on receipt and are refused again, uncounted, on
//!   replay).
//!   A segment is written by one run only: a restart appends to new segments.
//! - `NNNNNNNNNNNNNNNNNNNN.done`: checkpoints, appended only, framed the same way. A checkpoint
//!   payload is a list of runs `record: u32 LE | first span: u32 LE | spans: u32 LE`: those
//!   spans were delivered, or counted as not delivered for good (rejected, retries exhausted).
//!
//! A segment is sealed at `max_bytes / 16` (64 KiB..16 MiB) and deleted (`.wal` first, then
//! `.done`) once every span of every record in it is checkpointed. Each record keeps its whole
//! request on disk until its last span is checkpointed, so the log holds about the ingest rate
//! times the longest a span waits (assembly plus export); `max_bytes` bounds it: above it,
//! appends fail as full and receivers refuse with the retryable status.
//!
//! # Replay
//!
//! At start every segment is read in order: records up to the first torn or corrupt frame (a
//! crash mid-append: length past the end, or a checksum mismatch) are kept, the rest is logged
//! and ignored, never sent; checkpoints likewise. Every span of a record not covered by a
//! checkpoint is replayed into the assembly with its origin, counted as received by this run
//! (the counters balance per run), priced again and exported: a span that was buffered or
//! queued at the crash is delivered once, a span that was in a batch being exported (or
//! delivered but not yet checkpointed) may be delivered twice. Each consumer waits for its
//! batch's checkpoint before taking the next, so at most `exporter.queue.consumers` batches can
//! be sent again. Spans abandoned at a shutdown deadline are not checkpointed and are replayed
//! the same way.
//!
//! # Durability and group commit
//!
//! One writer thread does all file I/O (no blocking call on a tokio worker, no lock held over
//! I/O). It takes every append waiting in its channel (up to [`GROUP_MAX_BYTES`]), writes them
//! with one `write` per segment, flushes per `exporter.queue.fsync`, then replies to all:
//!
//! - `never`: the gateway never calls fsync. Every acknowledged request is in the kernel's page
//!   cache: it survives a crash or `kill -9` of the process, not a power loss or kernel crash
//!   (the kernel writes dirty pages back within ~30 s by default).
//! - `interval`: as `never`, and the written data is synced at most `fsync_interval` later: a
//!   power loss loses at most that interval of acknowledged requests.
//! - `group`: each group is synced (`fdatasync`, and the directory when a segment is created)
//!   before any request in it is acknowledged: survives power loss on a disk that honours
//!   flushes. Concurrent requests share the flush.
//!
//! Checkpoints are written but never synced by themselves: losing one (power loss) only means
//! more spans sent twice, never a span lost.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::sync::oneshot;

use super::config::{Fsync, QueueConfig};
use super::proto_span::{split, GatewaySpan, Origin, Split};

const HEADER: usize = 8;
const EXT: &str = "wal";
const DONE_EXT: &str = "done";
/// The directory lock (one gateway per directory).
const LOCK_FILE: &str = "LOCK";
/// Largest single record accepted when reading back (a sanity bound, not a policy).
const MAX_RECORD: usize = 1 << 30;
/// Bits of a record's number in an [`Origin`]; a segment is sealed before it holds more.
const RECORD_BITS: u32 = 24;
const MAX_RECORDS: u32 = (1 << RECORD_BITS) - 1;
/// Bytes of one checkpoint run.
const RUN: usize = 12;
/// Appends gathered into one group commit, at most (the first one always goes).
pub(crate) const GROUP_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The segment of a record (see [`Logged::new`] for the packing).
fn segment_of(o: Origin) -> u64 {
    (o.record.get() >> RECORD_BITS) - 1
}

/// A record's number in its segment.
fn number_of(o: Origin) -> u32 {
    (o.record.get() & u64::from(MAX_RECORDS)) as u32
}

/// An appended record: the origin of each of its spans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Logged(NonZeroU64);

impl Logged {
    /// Packs `(segment + 1) << RECORD_BITS | number`: never zero.
    fn new(segment: u64, number: u32) -> Logged {
        let packed = ((segment + 1) << RECORD_BITS) | u64::from(number);
        Logged(NonZeroU64::new(packed).unwrap_or(NonZeroU64::MIN))
    }

    pub(crate) fn span(self, index: u32) -> Origin {
        Origin {
            record: self.0,
            span: index,
        }
    }
}

/// Why an append was not made durable: the request must be refused (retryable).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AppendError {
    /// The disk budget (`max_bytes`) is used.
    Full,
    /// A write or flush failed, or the log is closed.
    Failed(String),
}

/// Counters shared by the writer and the handles.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes of the log on disk (records and checkpoints).
    bytes: AtomicUsize,
    append_failures: AtomicUsize,
    /// Group commits (one write per segment touched, one flush with `group`).
    groups: AtomicU64,
    syncs: AtomicU64,
}

struct Append {
    payload: Bytes,
    spans: u32,
    reply: oneshot::Sender<Result<Logged, AppendError>>,
}

enum Cmd {
    Append(Append),
    Done(Vec<Origin>, oneshot::Sender<()>),
    /// An appended record whose request was dropped before it was answered (the client went
    /// away): its spans never enter the pipeline, so they are not waited for.
    Forget(Logged, u32),
    /// A recovered segment was replayed: `spans` of it are in the pipeline.
    Recovered {
        segment: u64,
        spans: u64,
    },
    Close(oneshot::Sender<()>),
    /// Blocks the writer until the sender side is dropped (tests: a group forms behind it).
    #[cfg(test)]
    Hold(mpsc::Receiver<()>),
}

/// The log's handle: appends and checkpoints go to the writer thread over a channel (sending
/// never blocks).
#[derive(Debug)]
pub(crate) struct Wal {
    tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

/// What an earlier run left: read by [`Backlog::replay`].
#[derive(Debug)]
pub(crate) struct Backlog {
    dir: PathBuf,
    segments: Vec<u64>,
    tx: mpsc::Sender<Cmd>,
}

/// What a replay found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replayed {
    pub records: usize,
    pub spans: usize,
}

/// A checkpoint on its way to the disk: [`Checkpoint::written`] resolves once it is written.
#[derive(Debug)]
pub(crate) struct Checkpoint(Option<oneshot::Receiver<()>>);

impl Checkpoint {
    /// No checkpoint (no log, or nothing to mark).
    pub(crate) fn none() -> Checkpoint {
        Checkpoint(None)
    }

    pub(crate) async fn written(self) {
        if let Some(rx) = self.0 {
            let _ = rx.await;
        }
    }
}

fn file_path(dir: &Path, id: u64, ext: &str) -> PathBuf {
    dir.join(format!("{id:020}.{ext}"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Appends `len | crc | payload` to `buf`.
fn frame(buf: &mut Vec<u8>, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Splits a file into record payloads; the second value is where reading stopped early (a torn
/// or corrupt frame).
fn parse(data: &[u8]) -> (Vec<&[u8]>, Option<usize>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let Some(h) = data.get(at..at + HEADER) else {
            return (out, Some(at));
        };
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let Some(payload) = data.get(at + HEADER..at + HEADER + len) else {
            return (out, Some(at));
        };
        if len > MAX_RECORD || crc32fast::hash(payload) != crc {
            return (out, Some(at));
        }
        out.push(payload);
        at += HEADER + len;
    }
    (out, None)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checkpointed spans of one segment: record number -> `(first, count)` runs.
type DoneSet = HashMap<u32, Vec<(u32, u32)>>;

fn read_done(path: &Path) -> DoneSet {
    let mut done = DoneSet::new();
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(file = %path.display(), error = %e, "persistent queue: cannot read checkpoints; their spans are sent again");
            }
            return done;
        }
    };
    let (records, torn) = parse(&data);
    if let Some(at) = torn {
        tracing::warn!(file = %path.display(), offset = at, "persistent queue: torn checkpoint tail ignored (its spans are sent again)");
    }
    for p in records {
        for run in p.chunks_exact(RUN) {
            done.entry(u32_at(run, 0))
                .or_default()
                .push((u32_at(run, 4), u32_at(run, 8)));
        }
    }
    done
}

fn is_done(runs: Option<&Vec<(u32, u32)>>, span: u32) -> bool {
    runs.is_some_and(|r| {
        r.iter()
            .any(|&(first, n)| span >= first && span - first < n)
    })
}

/// Segment ids in the directory by extension.
fn list(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let (mut wal, mut done) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let Ok(id) = stem.parse::<u64>() else {
            continue;
        };
        match ext {
            EXT => wal.push(id),
            DONE_EXT => done.push(id),
            _ => {}
        }
    }
    wal.sort_unstable();
    Ok((wal, done))
}

fn lock(dir: &Path) -> Result<File, String> {
    let ctx = |e: io::Error| format!("exporter.queue.directory '{}': {e}", dir.display());
    // An OS lock on a lock file, released by the kernel when the process exits however it
    // exits (so a kill -9 leaves no stale lock).
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(ctx)?;
    match lock_file.try_lock() {
        Ok(()) => Ok(lock_file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "exporter.queue.directory '{}' is in use by another gateway (each needs its own directory)",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            // Some network file systems have no locks: run, but say so.
            tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "persistent queue: the file system cannot lock the directory; make sure no other gateway uses it"
            );
            Ok(lock_file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(ctx(e)),
    }
}

impl Wal {
    /// Opens (creating) the directory, locks it, starts the writer thread and returns the
    /// backlog an earlier run left. Blocking (directory I/O): call it off the async workers.
    pub(crate) fn open(dir: &Path, q: &QueueConfig) -> Result<(Wal, Backlog), String> {
        let ctx = |e: io::Error| format!("exporter.queue.directory '{}': {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(ctx)?;
        let lock_file = lock(dir)?;
        let (wal_ids, done_ids) = list(dir).map_err(ctx)?;
        // Checkpoints of a segment already deleted (a crash between the two deletions).
        for id in done_ids
            .iter()
            .filter(|id| wal_ids.binary_search(id).is_err())
        {
            let _ = std::fs::remove_file(file_path(dir, *id, DONE_EXT));
        }
        let shared = Arc::new(Shared::default());
        let mut segments = BTreeMap::new();
        let mut total = 0usize;
        for &id in &wal_ids {
            let size =
                |ext| std::fs::metadata(file_path(dir, id, ext)).map_or(0, |m| m.len() as usize);
            let (wal_bytes, done_bytes) = (size(EXT), size(DONE_EXT));
            total += wal_bytes + done_bytes;
            segments.insert(
                id,
                Segment {
                    wal_bytes,
                    done_bytes,
                    remaining: 0,
                    recovering: true,
                    done: None,
                },
            );
        }
        shared.bytes.store(total, Ordering::Release);
        let next_segment = wal_ids.iter().chain(&done_ids).max().map_or(0, |m| m + 1);
        let writer = Writer {
            dir: dir.to_owned(),
            fsync: q.fsync,
            interval: q.fsync_interval,
            segment_bytes: (q.max_bytes / 16).clamp(64 * 1024, 16 * 1024 * 1024),
            max_bytes: q.max_bytes,
            shared: shared.clone(),
            segments,
            active: None,
            next_segment,
            unsynced_since: None,
            checkpoint_failures: 0,
            _lock: lock_file,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("otel-llm-cost-wal".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| format!("persistent queue: cannot start the writer thread: {e}"))?;
        let backlog = Backlog {
            dir: dir.to_owned(),
            segments: wal_ids,
            tx: tx.clone(),
        };
        Ok((
            Wal {
                tx,
                shared,
                max_bytes: q.max_bytes,
            },
            backlog,
        ))
    }

    /// Bytes on disk.
    pub(crate) fn bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::Acquire)
    }

    /// `true` when receivers must refuse.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes() >= self.max_bytes
    }

    /// Appends that failed (each refused its request).
    pub(crate) fn append_failures(&self) -> usize {
        self.shared.append_failures.load(Ordering::Acquire)
    }

    fn send_append(
        &self,
        payload: Bytes,
        spans: u32,
    ) -> Option<oneshot::Receiver<Result<Logged, AppendError>>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Append(Append {
                payload,
                spans,
                reply,
            }))
            .ok()
            .map(|()| rx)
    }

    /// Appends one request of `spans` spans; resolves once it is durable per the fsync policy.
    /// Dropped before it resolves (the client went away), the record is forgotten: its spans
    /// are not waited for (a restart before its segment is deleted would replay them).
    pub(crate) async fn append(&self, payload: Bytes, spans: usize) -> Result<Logged, AppendError> {
        let answer = match u32::try_from(spans) {
            Ok(spans) => match self.send_append(payload, spans) {
                Some(rx) => {
                    let mut w = Waiting {
                        rx,
                        tx: &self.tx,
                        spans,
                        answered: false,
                    };
                    let r = (&mut w.rx).await.ok();
                    w.answered = true;
                    r
                }
                None => None,
            },
            Err(_) => Some(Err(AppendError::Failed(
                "over 2^32 spans in one request".into(),
            ))),
        };
        answer.unwrap_or_else(|| {
            self.shared.append_failures.fetch_add(1, Ordering::AcqRel);
            Err(AppendError::Failed("the log is closed".into()))
        })
    }

    /// Checkpoints spans delivered or counted for good.
    pub(crate) fn done(&self, origins: Vec<Origin>) -> Checkpoint {
        if origins.is_empty() {
            return Checkpoint::none();
        }
        let (reply, rx) = oneshot::channel();
        match self.tx.send(Cmd::Done(origins, reply)) {
            Ok(()) => Checkpoint(Some(rx)),
            Err(_) => Checkpoint::none(),
        }
    }

    /// Writes everything sent so far (synced unless `fsync: never`), releases the directory
    /// and stops the writer. Later appends fail.
    pub(crate) async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Close(reply)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// An append waiting for its answer.
struct Waiting<'a> {
    rx: oneshot::Receiver<Result<Logged, AppendError>>,
    tx: &'a mpsc::Sender<Cmd>,
    spans: u32,
    answered: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        // No answer can arrive after `close`: either it came before (forget the record here)
        // or the writer's reply fails (it forgets the record itself).
        self.rx.close();
        if let Ok(Ok(logged)) = self.rx.try_recv() {
            let _ = self.tx.send(Cmd::Forget(logged, self.spans));
        }
    }
}

/// Splits a request into its spans. With a log, the request is appended first and every span
/// is tagged with its origin: `Ok` means durable (per the fsync policy), and only then may the
/// receiver acknowledge it. `raw`: the protobuf bytes `req` was decoded from, if the receiver
/// has them, logged as they are (else `req` is encoded). A request without a valid span is not
/// logged.
pub(crate) async fn log_request(
    wal: Option<&Wal>,
    req: ExportTraceServiceRequest,
    raw: Option<Bytes>,
) -> Result<Split, AppendError> {
    let Some(wal) = wal else {
        return Ok(split(req));
    };
    let payload = raw.unwrap_or_else(|| Bytes::from(req.encode_to_vec()));
    let mut s = split(req);
    if s.spans.is_empty() {
        return Ok(s);
    }
    let logged = wal.append(payload, s.spans.len()).await?;
    for (i, span) in (0u32..).zip(s.spans.iter_mut()) {
        span.origin = Some(logged.span(i));
    }
    Ok(s)
}

impl Backlog {
    /// Reads every segment an earlier run left and hands each record's spans not yet
    /// checkpointed (tagged with their origin) to `f`. Blocking (file reads).
    pub(crate) fn replay(self, mut f: impl FnMut(Vec<GatewaySpan>)) -> Replayed {
        let mut out = Replayed::default();
        for id in self.segments {
            let path = file_path(&self.dir, id, EXT);
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => {
                    // Kept on disk (counted against the budget) for an operator to look at.
                    tracing::error!(segment = %path.display(), error = %e, "persistent queue: cannot read a segment; it is kept and not replayed");
                    continue;
                }
            };
            let (records, torn) = parse(&data);
            if let Some(at) = torn {
                tracing::warn!(
                    segment = %path.display(), offset = at, bytes = data.len() - at,
                    "persistent queue: torn or corrupt tail ignored (a crash during an append)"
                );
            }
            let done = read_done(&file_path(&self.dir, id, DONE_EXT));
            let mut spans = 0u64;
            for (number, payload) in (0u32..MAX_RECORDS).zip(records) {
                let req = match ExportTraceServiceRequest::decode(payload) {
                    Ok(r) => r,
                    Err(e) => {
                        // The checksum matched, so this is not a torn write; keep going.
                        tracing::warn!(segment = %path.display(), record = number, error = %e, "persistent queue: a record does not decode; skipped");
                        continue;
                    }
                };
                let logged = Logged::new(id, number);
                let runs = done.get(&number);
                let mut left = Vec::new();
                for (i, mut span) in (0u32..).zip(split(req).spans) {
                    if !is_done(runs, i) {
                        span.origin = Some(logged.span(i));
                        left.push(span);
                    }
                }
                if !left.is_empty() {
                    out.records += 1;
                    out.spans += left.len();
                    spans += left.len() as u64;
                    f(left);
                }
            }
            let _ = self.tx.send(Cmd::Recovered { segment: id, spans });
        }
        out
    }
}

#[derive(Debug)]
struct Segment {
    /// Bytes of its `.wal` file.
    wal_bytes: usize,
    /// Bytes of its `.done` file.
    done_bytes: usize,
    /// Spans in the pipeline not yet checkpointed (may dip below zero while a recovered
    /// segment is still being replayed).
    remaining: i64,
    /// Read back at start, replay not finished: not deleted yet.
    recovering: bool,
    /// Its checkpoint file, once opened.
    done: Option<File>,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: File,
    records: u32,
}

/// The writer thread's state: every file operation of the log happens here.
struct Writer {
    dir: PathBuf,
    fsync: Fsync,
    interval: Duration,
    segment_bytes: usize,
    max_bytes: usize,
    shared: Arc<Shared>,
    segments: BTreeMap<u64, Segment>,
    active: Option<Active>,
    next_segment: u64,
    /// The oldest write not yet synced (`fsync: interval`).
    unsynced_since: Option<Instant>,
    checkpoint_failures: usize,
    /// Holds the directory's lock until the writer stops.
    _lock: File,
}

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Cmd>) {
        let close = loop {
            let Some(first) = self.wait(rx) else {
                break None;
            };
            let mut appends = Vec::new();
            let mut dones = Vec::new();
            let mut bytes = 0usize;
            let mut close = None;
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                match cmd {
                    Cmd::Append(a) => {
                        bytes += a.payload.len();
                        appends.push(a);
                    }
                    Cmd::Done(origins, reply) => dones.push((origins, reply)),
                    Cmd::Forget(logged, spans) => self.forget(logged.span(0), spans),
                    Cmd::Recovered { segment, spans } => self.recovered(segment, spans),
                    Cmd::Close(reply) => {
                        close = Some(reply);
                        break;
                    }
                    #[cfg(test)]
                    Cmd::Hold(rx) => {
                        let _ = rx.recv();
                    }
                }
                if bytes < GROUP_MAX_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(appends);
            self.checkpoint(dones);
            if close.is_some() {
                break close;
            }
        };
        self.sync();
        drop(self);
        if let Some(reply) = close {
            let _ = reply.send(());
        }
    }

    /// The next command; with `fsync: interval`, syncs when the oldest unsynced write is due.
    fn wait(&mut self, rx: &mpsc::Receiver<Cmd>) -> Option<Cmd> {
        loop {
            let due = match (self.fsync, self.unsynced_since) {
                (Fsync::Interval, Some(t)) => t + self.interval,
                _ => return rx.recv().ok(),
            };
            match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(c) => return Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => self.sync(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Syncs the active segment if anything written to it is not yet synced.
    fn sync(&mut self) {
        if self.fsync == Fsync::Never || self.unsynced_since.take().is_none() {
            return;
        }
        if let Some(a) = &self.active {
            self.shared.syncs.fetch_add(1, Ordering::AcqRel);
            if let Err(e) = a.file.sync_data() {
                tracing::warn!(error = %e, "persistent queue: fsync failed");
            }
        }
    }

    /// One group commit: the appends written with one `write` per segment, flushed per the
    /// policy, then answered.
    fn commit(&mut self, appends: Vec<Append>) {
        if appends.is_empty() {
            return;
        }
        self.shared.groups.fetch_add(1, Ordering::AcqRel);
        let mut answers: Vec<(Append, Result<Logged, AppendError>)> = Vec::new();
        let mut buf = Vec::new();
        let mut pending: Vec<(Append, Logged)> = Vec::new();
        for a in appends {
            let len = HEADER + a.payload.len();
            if a.payload.len() > MAX_RECORD {
                answers.push((a, Err(AppendError::Failed("record over 1 GiB".into()))));
                continue;
            }
            if self.shared.bytes.load(Ordering::Acquire) + buf.len() + len > self.max_bytes {
                answers.push((a, Err(AppendError::Full)));
                continue;
            }
            let rotate = match &self.active {
                None => true,
                Some(act) => {
                    act.records >= MAX_RECORDS
                        || self.segments.get(&act.id).map_or(0, |s| s.wal_bytes) + buf.len()
                            >= self.segment_bytes
                }
            };
            if rotate {
                self.write(&mut buf, &mut pending, &mut answers);
                if let Err(e) = self.rotate() {
                    answers.push((a, Err(AppendError::Failed(format!("new segment: {e}")))));
                    continue;
                }
            }
            let Some(act) = self.active.as_mut() else {
                answers.push((a, Err(AppendError::Failed("no active segment".into()))));
                continue;
            };
            let logged = Logged::new(act.id, act.records);
            act.records += 1;
            frame(&mut buf, &a.payload);
            pending.push((a, logged));
        }
        self.write(&mut buf, &mut pending, &mut answers);
        if self.fsync == Fsync::Group && answers.iter().any(|(_, r)| r.is_ok()) {
            self.shared.syncs.fetch_add(1, Ordering::AcqRel);
            let synced = self.active.as_ref().map(|a| a.file.sync_data());
            self.unsynced_since = None;
            if let Some(Err(e)) = synced {
                // Written but not durable: refuse (the sender retries; the records may come
                // back at the next start as duplicates), and write no more to this file.
                let msg = format!("fsync: {e}");
                for (a, r) in &mut answers {
                    if let Ok(l) = r {
                        self.forget(l.span(0), a.spans);
                        *r = Err(AppendError::Failed(msg.clone()));
                    }
                }
                if let Some(a) = self.active.take() {
                    self.maybe_delete(a.id);
                }
            }
        }
        for (a, r) in answers {
            if matches!(r, Err(AppendError::Failed(_))) {
                let n = self.shared.append_failures.fetch_add(1, Ordering::AcqRel) + 1;
                if n.is_power_of_two() {
                    if let Err(AppendError::Failed(m)) = &r {
                        tracing::warn!(error = %m, failures = n, "persistent queue: append failed; the request was refused (retryable)");
                    }
                }
            }
            if let Err(Ok(logged)) = a.reply.send(r) {
                self.forget(logged.span(0), a.spans);
            }
        }
    }

    /// Writes `buf` to the active segment; its records are answered Ok, or all failed (the file
    /// is cut back to where it was and sealed).
    fn write(
        &mut self,
        buf: &mut Vec<u8>,
        pending: &mut Vec<(Append, Logged)>,
        answers: &mut Vec<(Append, Result<Logged, AppendError>)>,
    ) {
        if buf.is_empty() {
            return;
        }
        let Some(act) = self.active.as_mut() else {
            return;
        };
        let seg = self.segments.get_mut(&act.id);
        let before = seg.as_ref().map_or(0, |s| s.wal_bytes);
        match act.file.write_all(buf) {
            Ok(()) => {
                if let Some(s) = seg {
                    s.wal_bytes += buf.len();
                    for (a, _) in pending.iter() {
                        s.remaining += i64::from(a.spans);
                    }
                }
                self.shared.bytes.fetch_add(buf.len(), Ordering::AcqRel);
                self.unsynced_since.get_or_insert_with(Instant::now);
                answers.extend(pending.drain(..).map(|(a, l)| (a, Ok(l))));
            }
            Err(e) => {
                // A partial frame may be on disk: cut it off (else reading stops there), and
                // start a new segment next time.
                if let Err(t) = act.file.set_len(before as u64) {
                    tracing::warn!(error = %t, "persistent queue: cannot cut a failed append off; reading will stop at it");
                }
                self.active = None;
                let msg = e.to_string();
                answers.extend(
                    pending
                        .drain(..)
                        .map(|(a, _)| (a, Err(AppendError::Failed(msg.clone())))),
                );
            }
        }
        buf.clear();
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(a) = self.active.take() {
            if self.fsync != Fsync::Never && self.unsynced_since.take().is_some() {
                self.shared.syncs.fetch_add(1, Ordering::AcqRel);
                let _ = a.file.sync_data();
            }
            let id = a.id;
            drop(a);
            self.maybe_delete(id);
        }
        let id = self.next_segment;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(file_path(&self.dir, id, EXT))?;
        self.next_segment += 1;
        if self.fsync != Fsync::Never {
            sync_dir(&self.dir);
        }
        self.segments.insert(
            id,
            Segment {
                wal_bytes: 0,
                done_bytes: 0,
                remaining: 0,
                recovering: false,
                done: None,
            },
        );
        self.active = Some(Active {
            id,
            file,
            records: 0,
        });
        Ok(())
    }

    fn recovered(&mut self, segment: u64, spans: u64) {
        if let Some(s) = self.segments.get_mut(&segment) {
            s.recovering = false;
            s.remaining += i64::try_from(spans).unwrap_or(i64::MAX);
        }
        self.maybe_delete(segment);
    }

    /// `spans` spans of the record of `origin` will never be checkpointed in this run.
    fn forget(&mut self, origin: Origin, spans: u32) {
        let segment = segment_of(origin);
        if let Some(s) = self.segments.get_mut(&segment) {
            s.remaining -= i64::from(spans);
        }
        self.maybe_delete(segment);
    }

    /// Writes the checkpoints, then deletes the segments they complete.
    fn checkpoint(&mut self, dones: Vec<(Vec<Origin>, oneshot::Sender<()>)>) {
        if dones.is_empty() {
            return;
        }
        let mut all: Vec<Origin> = Vec::new();
        let mut replies = Vec::with_capacity(dones.len());
        for (o, r) in dones {
            all.extend(o);
            replies.push(r);
        }
        all.sort_unstable();
        all.dedup();
        let mut touched = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let segment = segment_of(all[i]);
            let mut payload = Vec::new();
            let mut n = 0i64;
            while i < all.len() && segment_of(all[i]) == segment {
                // One run: consecutive spans of one record.
                let (record, first) = (number_of(all[i]), all[i].span);
                let mut count = 1u32;
                while i + (count as usize) < all.len() {
                    let o = all[i + count as usize];
                    if o.record != all[i].record || o.span != first + count {
                        break;
                    }
                    count += 1;
                }
                payload.extend_from_slice(&record.to_le_bytes());
                payload.extend_from_slice(&first.to_le_bytes());
                payload.extend_from_slice(&count.to_le_bytes());
                n += i64::from(count);
                i += count as usize;
            }
            self.write_checkpoint(segment, &payload, n);
            touched.push(segment);
        }
        for s in touched {
            self.maybe_delete(s);
        }
        for r in replies {
            let _ = r.send(());
        }
    }

    fn write_checkpoint(&mut self, segment: u64, payload: &[u8], spans: i64) {
        let dir = self.dir.clone();
        let Some(seg) = self.segments.get_mut(&segment) else {
            return;
        };
        seg.remaining -= spans;
        let mut buf = Vec::with_capacity(HEADER + payload.len());
        frame(&mut buf, payload);
        let written = match &mut seg.done {
            Some(f) => f.write_all(&buf),
            None => OpenOptions::new()
                .create(true)
                .append(true)
                .open(file_path(&dir, segment, DONE_EXT))
                .and_then(|mut f| {
                    let r = f.write_all(&buf);
                    seg.done = Some(f);
                    r
                }),
        };
        match written {
            Ok(()) => {
                seg.done_bytes += buf.len();
                self.shared.bytes.fetch_add(buf.len(), Ordering::AcqRel);
            }
            Err(e) => {
                // In memory the spans are checkpointed (the segment can still be deleted); a
                // restart before that would send them again, never lose them.
                self.checkpoint_failures += 1;
                if self.checkpoint_failures.is_power_of_two() {
                    tracing::warn!(error = %e, failures = self.checkpoint_failures, "persistent queue: checkpoint write failed; after a restart these spans may be sent twice");
                }
            }
        }
    }

    /// Deletes a segment whose every span is checkpointed (sealing it first if active).
    fn maybe_delete(&mut self, id: u64) {
        match self.segments.get(&id) {
            Some(s) if !s.recovering && s.remaining <= 0 => {}
            _ => return,
        }
        if self.active.as_ref().is_some_and(|a| a.id == id) {
            // Everything appended so far is checkpointed: free the disk now.
            self.active = None;
            self.unsynced_since = None;
        }
        let Some(s) = self.segments.remove(&id) else {
            return;
        };
        drop(s.done);
        let wal = file_path(&self.dir, id, EXT);
        match std::fs::remove_file(&wal) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                // Its checkpoints stay with it, so a restart replays nothing of it twice.
                tracing::warn!(segment = %wal.display(), error = %e, "persistent queue: cannot delete a delivered segment");
                self.shared
                    .bytes
                    .fetch_sub(s.wal_bytes + s.done_bytes, Ordering::AcqRel);
                return;
            }
        }
        let _ = std::fs::remove_file(file_path(&self.dir, id, DONE_EXT));
        if self.fsync != Fsync::Never {
            sync_dir(&self.dir);
        }
        self.shared
            .bytes
            .fetch_sub(s.wal_bytes + s.done_bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::proto_span::regroup;
    use crate::gateway::proto_span::tests::span;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "otel-llm-cost-wal-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn config(max_bytes: usize, fsync: Fsync) -> QueueConfig {
        QueueConfig {
            max_bytes,
            fsync,
            fsync_interval: Duration::from_millis(10),
            ..QueueConfig::default()
        }
    }

    fn open(d: &Path) -> (Wal, Backlog) {
        Wal::open(d, &config(1 << 20, Fsync::Never)).expect("open")
    }

    /// Files with this extension.
    fn files(d: &Path, ext: &str) -> Vec<PathBuf> {
        std::fs::read_dir(d).map_or(Vec::new(), |r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
    }

    /// A request of `n` spans of trace `t` (span ids 1..=n).
    fn request(t: u8, n: u8) -> ExportTraceServiceRequest {
        regroup((1..=n).map(|s| span(t, s, 0, &[])).collect())
    }

    /// Replays a backlog: (trace byte, span id byte, origin) of every span handed over.
    fn replay(b: Backlog) -> Vec<(u8, u8, Origin)> {
        let mut out = Vec::new();
        b.replay(|spans| {
            for s in spans {
                let origin = s.origin.expect("replayed spans carry their origin");
                out.push((s.span.trace_id[0], s.span.span_id[0], origin));
            }
        });
        out
    }

    async fn log(w: &Wal, req: ExportTraceServiceRequest) -> Vec<Origin> {
        log_request(Some(w), req, None)
            .await
            .expect("logged")
            .spans
            .iter()
            .map(|s| s.origin.expect("tagged"))
            .collect()
    }

    #[tokio::test]
    async fn one_gateway_per_directory() {
        let d = tmp("lock");
        let (w, _) = open(&d);
        let err = Wal::open(&d, &config(1 << 20, Fsync::Never)).unwrap_err();
        assert!(err.contains("in use by another gateway"), "{err}");
        w.close().await;
        assert!(
            Wal::open(&d, &config(1 << 20, Fsync::Never)).is_ok(),
            "free again once closed"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn spans_are_replayed_until_checkpointed_then_the_segment_is_deleted() {
        let d = tmp("replay");
        let (w, b) = open(&d);
        assert!(replay(b).is_empty());
        // Record A: 3 valid spans and an invalid one (refused on receipt, not numbered).
        let mut a = request(1, 3);
        let mut bad = span(1, 9, 0, &[]).span;
        bad.span_id = vec![0; 8];
        a.resource_spans[0].scope_spans[0].spans.insert(1, bad);
        let a = log(&w, a).await;
        let b = log(&w, request(2, 2)).await;
        assert_eq!((a.len(), b.len()), (3, 2));
        // Delivered: A's first and last span, all of B.
        w.done(vec![a[0], a[2], b[0], b[1]]).written().await;
        w.close().await;

        let (w, backlog) = open(&d);
        let left = replay(backlog);
        assert_eq!(
            left,
            vec![(1, 2, a[1])],
            "only A's middle span, under its own origin"
        );
        assert_eq!(files(&d, EXT).len(), 1);
        // Checkpointed in this run: nothing of the segment is left, so it goes.
        w.done(vec![a[1]]).written().await;
        assert_eq!(
            (files(&d, EXT).len(), files(&d, DONE_EXT).len(), w.bytes()),
            (0, 0, 0)
        );
        w.close().await;
        let (_w, backlog) = open(&d);
        assert!(replay(backlog).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_torn_tail_is_ignored_and_earlier_records_are_kept() {
        // Regression guard for a crash mid-append: the half-written frame is never sent.
        let d = tmp("torn");
        let (w, _) = open(&d);
        log(&w, request(1, 2)).await;
        log(&w, request(2, 2)).await;
        w.close().await;
        let seg = files(&d, EXT).pop().expect("a segment");
        let data = std::fs::read(&seg).unwrap();
        std::fs::write(&seg, &data[..data.len() - 3]).unwrap();
        let (w, b) = open(&d);
        let got: Vec<(u8, u8)> = replay(b).into_iter().map(|(t, s, _)| (t, s)).collect();
        assert_eq!(got, vec![(1, 1), (1, 2)]);
        w.close().await;
        // A flipped bit fails the checksum the same way: reading stops there.
        let mut bad = data.clone();
        bad[HEADER + 1] ^= 1;
        std::fs::write(&seg, &bad).unwrap();
        let (_w, b) = open(&d);
        assert!(replay(b).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_torn_checkpoint_sends_its_spans_again_never_loses_them() {
        let d = tmp("torn-done");
        let (w, _) = open(&d);
        let o = log(&w, request(1, 4)).await;
        w.done(vec![o[0], o[1]]).written().await;
        w.done(vec![o[2]]).written().await;
        w.close().await;
        let done = files(&d, DONE_EXT).pop().expect("a checkpoint file");
        let data = std::fs::read(&done).unwrap();
        assert_eq!(data.len(), 2 * (HEADER + RUN), "one run per checkpoint");
        std::fs::write(&done, &data[..data.len() - 3]).unwrap();
        let (_w, b) = open(&d);
        let got: Vec<u8> = replay(b).into_iter().map(|(_, s, _)| s).collect();
        assert_eq!(got, vec![3, 4], "the torn checkpoint's span comes back");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn concurrent_appends_share_one_write_and_one_flush() {
        let d = tmp("group");
        let (w, _) = Wal::open(&d, &config(1 << 20, Fsync::Group)).expect("open");
        log(&w, request(1, 1)).await;
        let (groups, syncs) = (
            w.shared.groups.load(Ordering::Acquire),
            w.shared.syncs.load(Ordering::Acquire),
        );
        assert_eq!((groups, syncs), (1, 1), "one append: one group, one flush");
        // Sixteen requests arrive while the writer is busy (held): one group commit for all.
        let (release, held) = mpsc::channel();
        w.tx.send(Cmd::Hold(held)).unwrap();
        let waiting: Vec<_> = (0..16u8)
            .map(|t| {
                w.send_append(request(t + 2, 1).encode_to_vec().into(), 1)
                    .expect("sent")
            })
            .collect();
        drop(release);
        let mut numbers = Vec::new();
        for rx in waiting {
            let logged = rx.await.expect("answered").expect("durable");
            numbers.push(number_of(logged.span(0)));
        }
        assert_eq!(numbers, (1..=16).collect::<Vec<u32>>());
        assert_eq!(
            (
                w.shared.groups.load(Ordering::Acquire),
                w.shared.syncs.load(Ordering::Acquire)
            ),
            (2, 2),
            "sixteen appends: one more group, one more flush"
        );
        w.close().await;
        let (_w, b) = open(&d);
        assert_eq!(replay(b).len(), 17);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_request_dropped_while_its_append_waits_is_not_waited_for() {
        // A client that goes away while its request is being logged: the record is written,
        // but its spans never enter the pipeline; the segment must not wait for them forever.
        let d = tmp("dropped");
        let (w, _) = open(&d);
        let kept = log(&w, request(1, 1)).await;
        let (release, held) = mpsc::channel();
        w.tx.send(Cmd::Hold(held)).unwrap();
        let dropped = w.append(request(2, 3).encode_to_vec().into(), 3);
        tokio::select! {
            biased;
            _ = dropped => panic!("answered while the writer is held"),
            () = std::future::ready(()) => {}
        }
        drop(release);
        w.done(kept).written().await;
        assert_eq!(
            (files(&d, EXT).len(), w.bytes()),
            (0, 0),
            "every span the pipeline holds is checkpointed: the segment goes"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn interval_policy_syncs_within_the_interval_without_a_new_append() {
        let d = tmp("interval");
        let (w, _) = Wal::open(&d, &config(1 << 20, Fsync::Interval)).expect("open");
        log(&w, request(1, 1)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.shared.syncs.load(Ordering::Acquire) == 0 {
            assert!(
                Instant::now() < deadline,
                "no sync within 10 s of the append (interval 10 ms)"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        w.close().await;
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn the_disk_budget_refuses_appends_and_checkpoints_free_it() {
        let d = tmp("budget");
        let (w, _) = open(&d);
        let mut big = request(1, 1);
        big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(100 * 1024);
        let mut logged = Vec::new();
        let refused = loop {
            match log_request(Some(&w), big.clone(), None).await {
                Ok(s) => logged.extend(s.spans.iter().filter_map(|s| s.origin)),
                Err(e) => break e,
            }
            assert!(logged.len() < 20, "1 MiB holds about 10 of them");
        };
        assert_eq!(refused, AppendError::Full);
        assert!(
            w.bytes() + HEADER + 100 * 1024 > 1 << 20,
            "refused only when the next record would not fit: {} bytes",
            w.bytes()
        );
        assert!(files(&d, EXT).len() > 1, "sealed at max_bytes / 16");
        w.done(logged).written().await;
        assert_eq!((w.bytes(), files(&d, EXT).len()), (0, 0));
        assert!(log_request(Some(&w), big, None).await.is_ok(), "room again");
        assert_eq!(w.append_failures(), 0, "full is not a failure");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_failed_append_is_refused_and_counted() {
        let d = tmp("fail");
        let (w, _) = open(&d);
        std::fs::remove_dir_all(&d).unwrap();
        let e = log_request(Some(&w), request(1, 2), None)
            .await
            .unwrap_err();
        assert!(matches!(e, AppendError::Failed(_)), "{e:?}");
        assert_eq!(w.append_failures(), 1);
        w.close().await;
        let e = log_request(Some(&w), request(1, 2), None)
            .await
            .unwrap_err();
        assert_eq!(e, AppendError::Failed("the log is closed".into()));
        assert_eq!(w.append_failures(), 2);
    }
}
