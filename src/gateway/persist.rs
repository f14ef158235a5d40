//! The persistent export queue's storage (`exporter.queue.directory`): a write-ahead log of
//! export batches in segment files, deleted once every batch in them was acknowledged.
//!
//! ```text
//! ExportQueue::push(spans) -> encode (prost) -> append record to the active segment -> queue in memory
//! consumer delivered / counted -> ack(record, spans) -> segment fully acked? -> delete the file
//! start -> read every segment, check each record -> recovered batches -> queue (sent again)
//! ```
//!
//! Record: `len: u32 LE | crc32(payload): u32 LE | payload` (an `ExportTraceServiceRequest`).
//! A segment is sealed when it reaches its size; a torn or corrupt tail (a crash mid-append) ends
//! the reading of that segment, is logged, and is never sent.
//!
//! Durability: every append is written to the file before `push` returns (it is in the kernel:
//! a crash or `kill -9` of the process loses nothing); with `fsync: true` it is also flushed to
//! the disk (survives power loss). Without it, a segment is flushed when sealed. Delivery is at
//! least once: a record half-delivered before a crash is sent whole after restart.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

const HEADER: usize = 8;
const EXT: &str = "wal";
/// The directory lock (one gateway per directory).
const LOCK_FILE: &str = "LOCK";
/// Largest single record accepted when reading back (a sanity bound, not a policy).
const MAX_RECORD: usize = 1 << 30;

/// A record's id, unique within one process.
pub(crate) type RecordId = u64;

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    size: usize,
    /// Records not yet fully acknowledged.
    outstanding: usize,
    sealed: bool,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: File,
}

#[derive(Debug, Default)]
struct Inner {
    active: Option<Active>,
    segments: BTreeMap<u64, Segment>,
    /// record -> (segment, spans not yet acknowledged)
    records: HashMap<RecordId, (u64, usize)>,
    next_record: RecordId,
    next_segment: u64,
}

/// The log. All methods take `&self`; file work happens under one lock (appends are short
/// writes to the page cache unless `fsync` is on).
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    max_bytes: usize,
    segment_bytes: usize,
    fsync: bool,
    bytes: AtomicUsize,
    inner: Mutex<Inner>,
    /// Holds the directory's lock for the log's lifetime.
    _lock: File,
}

/// A batch read back at start.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub record: RecordId,
    pub payload: Vec<u8>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{EXT}"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Wal {
    /// Opens (creating) the directory and reads back every record left by an earlier run.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: usize,
        fsync: bool,
    ) -> Result<(Wal, Vec<Recovered>), String> {
        let ctx = |e: io::Error| format!("exporter.queue.directory '{}': {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(ctx)?;
        // One gateway per directory: an OS lock on a lock file, released by the kernel when the
        // process exits however it exits (so a kill -9 leaves no stale lock).
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(ctx)?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "exporter.queue.directory '{}' is in use by another gateway (each needs its own directory)",
                    dir.display()
                ))
            }
            Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                // Some network file systems have no locks: run, but say so.
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "persistent queue: the file system cannot lock the directory; make sure no other gateway uses it"
                );
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(ctx(e)),
        }
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name
                .strip_suffix(&format!(".{EXT}"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut inner = Inner::default();
        let mut recovered = Vec::new();
        let mut total = 0usize;
        for id in ids {
            let path = segment_path(dir, id);
            let data = std::fs::read(&path).map_err(ctx)?;
            let (records, torn_at) = parse(&data);
            if let Some(at) = torn_at {
                tracing::warn!(
                    segment = %path.display(), offset = at, bytes = data.len() - at,
                    "persistent queue: torn or corrupt tail ignored (a crash during an append)"
                );
            }
            inner.next_segment = id + 1;
            if records.is_empty() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let mut seg = Segment {
                path,
                size: data.len(),
                outstanding: 0,
                sealed: true,
            };
            for payload in records {
                let record = inner.next_record;
                inner.next_record += 1;
                // The span count is set by the caller (`set_spans`) once it has decoded the
                // payload; until then the record counts as one outstanding unit.
                inner.records.insert(record, (id, 1));
                seg.outstanding += 1;
                recovered.push(Recovered {
                    record,
                    payload: payload.to_vec(),
                });
            }
            total += seg.size;
            inner.segments.insert(id, seg);
        }
        let wal = Wal {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(64 * 1024, 16 * 1024 * 1024),
            fsync,
            bytes: AtomicUsize::new(total),
            inner: Mutex::new(inner),
            _lock: lock_file,
        };
        Ok((wal, recovered))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Bytes on disk.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// `true` when receivers must refuse.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes() >= self.max_bytes
    }

    /// Sets how many spans a recovered record holds (0: acknowledged at once).
    pub(crate) fn set_spans(&self, record: RecordId, spans: usize) {
        let mut g = self.lock();
        if let Some(r) = g.records.get_mut(&record) {
            r.1 = spans;
        }
        if spans == 0 {
            drop(g);
            self.finish(record);
        }
    }

    /// Appends a record of `spans` spans; on error nothing is recorded (the caller keeps the
    /// spans in memory).
    pub(crate) fn append(&self, payload: &[u8], spans: usize) -> io::Result<RecordId> {
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        frame.extend_from_slice(payload);

        let mut g = self.lock();
        let inner = &mut *g;
        let rotate = match &inner.active {
            Some(a) => inner
                .segments
                .get(&a.id)
                .is_none_or(|s| s.size >= self.segment_bytes),
            None => true,
        };
        if rotate {
            self.seal_active(inner);
            let id = inner.next_segment;
            let path = segment_path(&self.dir, id);
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            if self.fsync {
                sync_dir(&self.dir);
            }
            inner.next_segment += 1;
            inner.segments.insert(
                id,
                Segment {
                    path,
                    size: 0,
                    outstanding: 0,
                    sealed: false,
                },
            );
            inner.active = Some(Active { id, file });
        }
        let Some(active) = inner.active.as_mut() else {
            return Err(io::Error::other("no active segment"));
        };
        let id = active.id;
        if let Err(e) = active.file.write_all(&frame).and_then(|()| {
            if self.fsync {
                active.file.sync_data()
            } else {
                Ok(())
            }
        }) {
            // A partial frame may be on disk: seal the segment there (reading stops at the
            // torn frame) and start a new one next time.
            if let Some(s) = inner.segments.get_mut(&id) {
                s.size += frame.len();
            }
            self.bytes.fetch_add(frame.len(), Ordering::AcqRel);
            self.seal_active(inner);
            return Err(e);
        }
        let record = inner.next_record;
        inner.next_record += 1;
        inner.records.insert(record, (id, spans.max(1)));
        if let Some(s) = inner.segments.get_mut(&id) {
            s.size += frame.len();
            s.outstanding += 1;
        }
        self.bytes.fetch_add(frame.len(), Ordering::AcqRel);
        Ok(record)
    }

    /// Seals the active segment (flushing it), deleting it if nothing in it is outstanding.
    fn seal_active(&self, inner: &mut Inner) {
        let Some(a) = inner.active.take() else { return };
        let _ = a.file.sync_data();
        let done = inner.segments.get_mut(&a.id).map(|s| {
            s.sealed = true;
            s.outstanding == 0
        });
        if done == Some(true) {
            self.delete(inner, a.id);
        }
    }

    fn delete(&self, inner: &mut Inner, id: u64) {
        if let Some(s) = inner.segments.remove(&id) {
            if let Err(e) = std::fs::remove_file(&s.path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(segment = %s.path.display(), error = %e, "persistent queue: cannot delete a delivered segment");
                }
            }
            if self.fsync {
                sync_dir(&self.dir);
            }
            self.bytes.fetch_sub(s.size, Ordering::AcqRel);
        }
    }

    /// `spans` spans of `record` were delivered or counted as not delivered.
    pub(crate) fn ack(&self, record: RecordId, spans: usize) {
        let finished = {
            let mut g = self.lock();
            match g.records.get_mut(&record) {
                Some(r) => {
                    r.1 = r.1.saturating_sub(spans);
                    r.1 == 0
                }
                None => false,
            }
        };
        if finished {
            self.finish(record);
        }
    }

    fn finish(&self, record: RecordId) {
        let mut g = self.lock();
        let inner = &mut *g;
        let Some((seg, _)) = inner.records.remove(&record) else {
            return;
        };
        let Some(s) = inner.segments.get_mut(&seg) else {
            return;
        };
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.outstanding > 0 {
            return;
        }
        if s.sealed {
            self.delete(inner, seg);
        } else if inner.active.as_ref().is_some_and(|a| a.id == seg) {
            // Everything appended so far is delivered: free the disk now.
            self.seal_active(inner);
        }
    }
}

/// Splits a segment into record payloads; the second value is where reading stopped early.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "otel-llm-cost-wal-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Segment files (the lock file is not one).
    fn files(d: &Path) -> usize {
        std::fs::read_dir(d).map_or(0, |r| {
            r.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(EXT))
            })
            .count()
        })
    }

    #[test]
    fn one_gateway_per_directory() {
        let d = tmp("lock");
        let (w, _) = Wal::open(&d, 1 << 20, false).unwrap();
        let err = Wal::open(&d, 1 << 20, false).unwrap_err();
        assert!(err.contains("in use by another gateway"), "{err}");
        drop(w);
        assert!(
            Wal::open(&d, 1 << 20, false).is_ok(),
            "free again once closed"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn records_survive_a_reopen_until_acknowledged() {
        let d = tmp("reopen");
        let (w, rec) = Wal::open(&d, 1 << 20, false).unwrap();
        assert!(rec.is_empty());
        let a = w.append(b"first", 2).unwrap();
        let _b = w.append(b"second", 1).unwrap();
        w.ack(a, 2);
        drop(w); // a crash: nothing else is written
        let (w, rec) = Wal::open(&d, 1 << 20, false).unwrap();
        // Same segment: both records come back (at least once).
        let payloads: Vec<_> = rec.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(payloads, vec![b"first".to_vec(), b"second".to_vec()]);
        for r in &rec {
            w.set_spans(r.record, 1);
            w.ack(r.record, 1);
        }
        assert_eq!((w.bytes(), files(&d)), (0, 0), "all acknowledged: deleted");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn acknowledged_segments_are_deleted_and_the_budget_is_enforced() {
        let d = tmp("budget");
        let (w, _) = Wal::open(&d, 1 << 20, true).unwrap();
        let payload = vec![7u8; 100 * 1024];
        let mut ids = Vec::new();
        while !w.is_full() {
            ids.push(w.append(&payload, 1).unwrap());
        }
        assert!(w.bytes() >= 1 << 20 && files(&d) > 1);
        for id in ids {
            w.ack(id, 1);
        }
        assert_eq!((w.bytes(), files(&d)), (0, 0));
        assert!(!w.is_full());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_tail_is_ignored_and_earlier_records_are_kept() {
        // Regression guard for a crash mid-append: the half-written frame is never sent.
        let d = tmp("torn");
        let (w, _) = Wal::open(&d, 1 << 20, false).unwrap();
        w.append(b"whole", 1).unwrap();
        w.append(b"torn-record", 1).unwrap();
        drop(w);
        let seg = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == EXT))
            .unwrap();
        let data = std::fs::read(&seg).unwrap();
        std::fs::write(&seg, &data[..data.len() - 3]).unwrap();
        let (_, rec) = Wal::open(&d, 1 << 20, false).unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0].payload, b"whole");
        // A flipped bit fails the checksum the same way.
        let mut bad = data.clone();
        bad[HEADER + 1] ^= 1;
        std::fs::write(&seg, &bad).unwrap();
        let (_, rec) = Wal::open(&d, 1 << 20, false).unwrap();
        assert!(rec.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
}
