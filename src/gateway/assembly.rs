//! Trace assembly (DESIGN §7): spans grouped by trace id until the trace is complete enough.
//!
//! ```text
//! span --add--> [trace id -> Pending{spans, first seen, root seen}] --poll/limits/drain--> Release
//! ```
//!
//! A trace is released when its root has arrived plus `root_grace` (complete), `trace_timeout`
//! after its first span, when it reaches `max_spans_per_trace` or a quarter of `max_bytes`,
//! when the buffer is over
//! `max_traces` or `max_bytes` (the oldest trace goes first), or at shutdown. Nothing is ever
//! discarded. Spans of a trace released early (size limit, eviction, timeout) that arrive later
//! gather into a next part of it (released the same way, never complete); a span whose trace
//! was released complete (root + grace) is released alone as `Late`. Time comes from a
//! [`Clock`], so tests drive it by hand.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::AssemblyConfig;
use super::proto_span::{memory_estimate, GatewaySpan};

/// The per-request count of spans per trace: foldhash, seeded per map, instead of SipHash.
/// The buffer's own maps, which live as long as the process and are keyed by ids senders
/// choose, keep std's SipHash (foldhash makes no claim against adaptive hash flooding).
type RequestMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Memory a buffered trace takes besides its spans: its entry in the trace map, its two index
/// entries and the spans vector's own header (an estimate of the B-tree and hash-map nodes).
pub(crate) const TRACE_OVERHEAD_BYTES: usize = 192;

/// A trace holding more than `max_bytes / this` is released at once (as `span_limit`).
const MAX_TRACE_SHARE_OF_BUDGET: usize = 4;

/// One remembered released trace id per this many bytes of `max_bytes`.
const RELEASED_ID_BUDGET_DIVISOR: usize = 512;

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock moved by hand (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(Mutex::new(Instant::now()))
    }
}

impl ManualClock {
    /// Moves time forward.
    pub fn advance(&self, d: Duration) {
        // A poisoned lock is taken as it is: an `Instant` is written whole.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.lock().map_or_else(|p| *p.into_inner(), |t| *t)
    }
}

/// Why a trace (or a span) left the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ReleaseReason {
    /// Root arrived and `root_grace` passed.
    Root,
    /// `trace_timeout` after the first span.
    Timeout,
    /// `max_spans_per_trace` reached, or the trace holds over a quarter of `max_bytes`.
    SpanLimit,
    /// The buffer was full (`max_traces` or `max_bytes`); the oldest trace went early.
    Evicted,
    /// Shutdown.
    Shutdown,
    /// A span of a trace already released, on its own.
    Late,
}

impl ReleaseReason {
    pub(crate) const ALL: [ReleaseReason; 6] = [
        ReleaseReason::Root,
        ReleaseReason::Timeout,
        ReleaseReason::SpanLimit,
        ReleaseReason::Evicted,
        ReleaseReason::Shutdown,
        ReleaseReason::Late,
    ];

    /// Metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::Root => "root",
            ReleaseReason::Timeout => "timeout",
            ReleaseReason::SpanLimit => "span_limit",
            ReleaseReason::Evicted => "evicted",
            ReleaseReason::Shutdown => "shutdown",
            ReleaseReason::Late => "late",
        }
    }
}

/// A released trace (or late span): price it with `complete`, then export.
#[derive(Debug)]
pub(crate) struct Release {
    pub reason: ReleaseReason,
    pub complete: bool,
    pub spans: Vec<GatewaySpan>,
}

#[derive(Debug)]
struct Pending {
    spans: Vec<GatewaySpan>,
    bytes: usize,
    /// A later part of a trace released early: never complete.
    continued: bool,
    seq: u64,
    root_seen: bool,
    deadline: Instant,
    timeout_at: Instant,
}

/// The assembly buffer. Not thread-safe by itself; the pipeline holds it in a mutex.
#[derive(Debug)]
pub(crate) struct Assembler {
    limits: AssemblyConfig,
    clock: Arc<dyn Clock>,
    traces: HashMap<[u8; 16], Pending>,
    /// First-seen order: seq -> trace.
    by_age: BTreeMap<u64, [u8; 16]>,
    /// Release order: (deadline, seq) -> trace.
    by_deadline: BTreeMap<(Instant, u64), [u8; 16]>,
    /// Recently released traces (to recognise late spans), bounded FIFO.
    released: HashSet<[u8; 16]>,
    released_order: VecDeque<[u8; 16]>,
    released_cap: usize,
    /// Traces released early (`SpanLimit`, `Evicted`, `Timeout`): later spans gather into a new
    /// part instead of going alone; bounded FIFO like `released`.
    /// Trace id -> the sequence number of its latest early release; the order queue may hold
    /// stale (id, older sequence) entries, skipped when they reach the front, so a trace released
    /// early again moves to the back.
    parted: HashMap<[u8; 16], u64>,
    parted_order: VecDeque<([u8; 16], u64)>,
    parted_seq: u64,
    bytes: usize,
    spans: usize,
    next_seq: u64,
}

impl Assembler {
    pub(crate) fn new(limits: AssemblyConfig, clock: Arc<dyn Clock>) -> Assembler {
        // Ids of released traces (to recognise late spans): ~50 bytes each with the set's and
        // the queue's slots, so at most max_bytes / 512 of them (a tenth of the budget). A late
        // span beyond that memory starts a new trace, released at its timeout: priced, not lost.
        let released_cap = (limits.max_bytes / RELEASED_ID_BUDGET_DIVISOR)
            .min(limits.max_traces)
            .clamp(1024, 1_000_000);
        Assembler {
            limits,
            clock,
            traces: HashMap::new(),
            by_age: BTreeMap::new(),
            by_deadline: BTreeMap::new(),
            released: HashSet::new(),
            released_order: VecDeque::new(),
            released_cap,
            parted: HashMap::new(),
            parted_order: VecDeque::new(),
            parted_seq: 0,
            bytes: 0,
            spans: 0,
            next_seq: 0,
        }
    }

    /// Spans buffered.
    pub(crate) fn buffered_spans(&self) -> usize {
        self.spans
    }

    /// Traces buffered.
    pub(crate) fn buffered_traces(&self) -> usize {
        self.traces.len()
    }

    /// Memory buffered (estimated resident bytes of the buffered spans and their bookkeeping).
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// The earliest instant a trace is due, if any.
    #[cfg(test)]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(t, _)| *t)
    }

    /// Adds one span (tests; the pipeline adds a request's spans with `add_all`).
    #[cfg(test)]
    pub(crate) fn add(&mut self, span: GatewaySpan, out: &mut Vec<Release>) {
        let now = self.clock.now();
        self.add_at(span, now, 1, out);
    }

    /// Adds the spans of one request, with one clock reading for all of them (they arrived
    /// together); releases that become due because of them (late span, span limit, eviction)
    /// are appended to `out`.
    pub(crate) fn add_all(&mut self, spans: Vec<GatewaySpan>, out: &mut Vec<Release>) {
        let now = self.clock.now();
        // Spans per trace in this request: a trace first seen here gets exactly that capacity
        // (no doubling slack held for seconds; the buffer's memory is mostly these vectors).
        let mut per_trace: RequestMap<[u8; 16], usize> =
            RequestMap::with_capacity_and_hasher(spans.len() / 4, Default::default());
        for s in &spans {
            *per_trace.entry(s.trace_key()).or_default() += 1;
        }
        for span in spans {
            let hint = per_trace.get(&span.trace_key()).copied().unwrap_or(1);
            self.add_at(span, now, hint, out);
        }
    }

    /// `hint`: spans of this trace arriving together (capacity of a new trace's buffer).
    fn add_at(&mut self, span: GatewaySpan, now: Instant, hint: usize, out: &mut Vec<Release>) {
        let key = span.trace_key();
        if self.released.contains(&key) {
            out.push(Release {
                reason: ReleaseReason::Late,
                complete: false,
                spans: vec![span],
            });
            return;
        }
        let size = memory_estimate(&span);
        let is_root = span.is_root();
        let limits = &self.limits;
        let pending = match self.traces.get_mut(&key) {
            Some(p) => p,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let timeout_at = now + limits.trace_timeout;
                self.by_age.insert(seq, key);
                self.by_deadline.insert((timeout_at, seq), key);
                let spans = Vec::with_capacity(hint.min(limits.max_spans_per_trace));
                let bytes = TRACE_OVERHEAD_BYTES;
                self.bytes += bytes;
                let continued = self.parted.contains_key(&key);
                self.traces.entry(key).or_insert(Pending {
                    spans,
                    bytes,
                    continued,
                    seq,
                    root_seen: false,
                    deadline: timeout_at,
                    timeout_at,
                })
            }
        };
        pending.spans.push(span);
        pending.bytes += size;
        self.bytes += size;
        self.spans += 1;
        if is_root && !pending.root_seen {
            pending.root_seen = true;
            let due = (now + limits.root_grace).min(pending.timeout_at);
            if due < pending.deadline {
                self.by_deadline.remove(&(pending.deadline, pending.seq));
                pending.deadline = due;
                self.by_deadline.insert((due, pending.seq), key);
            }
        }
        // A trace over a quarter of the memory budget goes too: pricing a trace needs working
        // memory of a few times its size, and one trace must not take the whole budget.
        if pending.spans.len() >= limits.max_spans_per_trace
            || pending.bytes > limits.max_bytes / MAX_TRACE_SHARE_OF_BUDGET
        {
            self.release(key, ReleaseReason::SpanLimit, out);
        }
        while self.traces.len() > self.limits.max_traces || self.bytes > self.limits.max_bytes {
            let Some((_, oldest)) = self.by_age.iter().next().map(|(s, k)| (*s, *k)) else {
                break;
            };
            self.release(oldest, ReleaseReason::Evicted, out);
        }
    }

    /// Releases every trace that is due.
    pub(crate) fn poll(&mut self, out: &mut Vec<Release>) {
        let now = self.clock.now();
        while let Some((&(due, _), &key)) = self.by_deadline.iter().next() {
            if due > now {
                break;
            }
            let reason = match self.traces.get(&key) {
                Some(p) if p.root_seen && due < p.timeout_at => ReleaseReason::Root,
                _ => ReleaseReason::Timeout,
            };
            self.release(key, reason, out);
        }
    }

    /// Releases everything (shutdown). A trace whose root arrived counts as complete: nothing
    /// more could be received for it.
    pub(crate) fn drain(&mut self, out: &mut Vec<Release>) {
        let keys: Vec<[u8; 16]> = self.by_age.values().copied().collect();
        for k in keys {
            self.release(k, ReleaseReason::Shutdown, out);
        }
    }

    fn release(&mut self, key: [u8; 16], reason: ReleaseReason, out: &mut Vec<Release>) {
        let Some(p) = self.traces.remove(&key) else {
            return;
        };
        self.by_age.remove(&p.seq);
        self.by_deadline.remove(&(p.deadline, p.seq));
        self.bytes -= p.bytes;
        self.spans -= p.spans.len();
        if matches!(
            reason,
            ReleaseReason::SpanLimit | ReleaseReason::Evicted | ReleaseReason::Timeout
        ) {
            // Released early: more of this trace may come, and gathers into a next part.
            self.remember_part(key);
        } else {
            self.forget_parts(&key);
            self.remember(key);
        }
        let complete = !p.continued
            && match reason {
                ReleaseReason::Root => true,
                ReleaseReason::Shutdown => p.root_seen,
                _ => false,
            };
        out.push(Release {
            reason,
            complete,
            spans: p.spans,
        });
    }

    fn remember_part(&mut self, key: [u8; 16]) {
        self.parted_seq += 1;
        self.parted.insert(key, self.parted_seq);
        self.parted_order.push_back((key, self.parted_seq));
        while self.parted.len() > self.released_cap
            || self.parted_order.len() > 2 * self.released_cap
        {
            let Some((old, seq)) = self.parted_order.pop_front() else {
                break;
            };
            if self.parted.get(&old) == Some(&seq) {
                self.parted.remove(&old);
            }
        }
    }

    /// Forgets a trace's early releases once it was released for good (its id is now in
    /// `released`).
    fn forget_parts(&mut self, key: &[u8; 16]) {
        self.parted.remove(key);
    }

    fn remember(&mut self, key: [u8; 16]) {
        if self.released.insert(key) {
            self.released_order.push_back(key);
            while self.released_order.len() > self.released_cap {
                if let Some(old) = self.released_order.pop_front() {
                    self.released.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::proto_span::tests::span;

    fn limits() -> AssemblyConfig {
        AssemblyConfig {
            root_grace: Duration::from_millis(100),
            trace_timeout: Duration::from_secs(5),
            max_spans_per_trace: 100,
            max_traces: 100,
            max_bytes: 1 << 30,
        }
    }

    fn setup(l: AssemblyConfig) -> (Assembler, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (Assembler::new(l, clock.clone()), clock)
    }

    fn reasons(out: &[Release]) -> Vec<(ReleaseReason, bool, usize)> {
        out.iter()
            .map(|r| (r.reason, r.complete, r.spans.len()))
            .collect()
    }

    #[test]
    fn root_releases_after_grace_as_complete() {
        let (mut a, clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 2, 1, &[]), &mut out);
        a.add(span(1, 1, 0, &[]), &mut out);
        clock.advance(Duration::from_millis(99));
        a.poll(&mut out);
        assert!(out.is_empty());
        // A straggler within the grace joins the trace.
        a.add(span(1, 3, 2, &[]), &mut out);
        clock.advance(Duration::from_millis(1));
        a.poll(&mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Root, true, 3)]);
        assert_eq!(
            (a.buffered_spans(), a.buffered_traces(), a.buffered_bytes()),
            (0, 0, 0)
        );
    }

    #[test]
    fn children_before_root_wait_for_it() {
        let (mut a, clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 2, 1, &[]), &mut out);
        clock.advance(Duration::from_secs(3));
        a.poll(&mut out);
        assert!(out.is_empty());
        a.add(span(1, 1, 0, &[]), &mut out);
        clock.advance(Duration::from_millis(100));
        a.poll(&mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Root, true, 2)]);
    }

    #[test]
    fn rootless_trace_times_out_incomplete() {
        let (mut a, clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 2, 1, &[]), &mut out);
        clock.advance(Duration::from_millis(4999));
        a.poll(&mut out);
        assert!(out.is_empty());
        clock.advance(Duration::from_millis(1));
        a.poll(&mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Timeout, false, 1)]);
    }

    #[test]
    fn root_near_the_timeout_is_released_by_the_timeout() {
        let (mut a, clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 2, 1, &[]), &mut out);
        clock.advance(Duration::from_millis(4950));
        a.add(span(1, 1, 0, &[]), &mut out);
        clock.advance(Duration::from_millis(50));
        a.poll(&mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Timeout, false, 2)]);
    }

    #[test]
    fn span_limit_releases_at_once_and_later_spans_form_the_next_part() {
        let (mut a, clock) = setup(AssemblyConfig {
            max_spans_per_trace: 3,
            ..limits()
        });
        let mut out = Vec::new();
        for s in 2..5 {
            a.add(span(1, s, 1, &[]), &mut out);
        }
        assert_eq!(reasons(&out), vec![(ReleaseReason::SpanLimit, false, 3)]);
        // The next spans of that trace gather into a new part, not one release each...
        a.add(span(1, 9, 1, &[]), &mut out);
        a.add(span(1, 1, 0, &[]), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(a.buffered_spans(), 2);
        // ...released like any trace (here at its root plus the grace), but never complete.
        clock.advance(Duration::from_millis(100));
        a.poll(&mut out);
        assert_eq!(reasons(&out)[1], (ReleaseReason::Root, false, 2));
        // After a final release, a straggler goes alone as late.
        a.add(span(1, 12, 1, &[]), &mut out);
        assert_eq!(reasons(&out)[2], (ReleaseReason::Late, false, 1));
    }

    #[test]
    fn a_trace_over_a_quarter_of_the_budget_is_released_at_once() {
        let one = memory_estimate(&span(1, 1, 0, &[]));
        // Room for ~40 spans in all: a trace may hold ~10 before it goes.
        let (mut a, _clock) = setup(AssemblyConfig {
            max_bytes: 40 * one + TRACE_OVERHEAD_BYTES,
            ..limits()
        });
        let mut out = Vec::new();
        let mut s = 1;
        while out.is_empty() {
            s += 1;
            a.add(span(1, s, 1, &[]), &mut out);
            assert!(s < 40, "never released");
        }
        assert_eq!(out[0].reason, ReleaseReason::SpanLimit);
        let n = out[0].spans.len();
        assert!((9..=11).contains(&n), "{n} spans");
        assert_eq!(a.buffered_bytes(), 0);
    }

    #[test]
    fn a_trace_released_early_again_is_remembered_afresh() {
        // The memory of early releases is bounded (1,024 ids here); a trace released early again
        // moves to the back, so its last part (with the root) is still not called complete
        // after 2,000 other early releases.
        let (mut a, clock) = setup(AssemblyConfig {
            max_spans_per_trace: 2,
            max_traces: 1,
            ..limits()
        });
        let mut out = Vec::new();
        let trace_a = 250u8;
        a.add(span(trace_a, 2, 1, &[]), &mut out);
        a.add(span(trace_a, 3, 1, &[]), &mut out);
        let others = |a: &mut Assembler, out: &mut Vec<Release>, base: u32| {
            for t in 0..1000u32 {
                let mut s = span(1, 1, 0, &[]);
                s.span.trace_id[..4].copy_from_slice(&(base + t).to_be_bytes());
                s.span.parent_span_id = vec![9; 8]; // not a root: stays until evicted
                a.add(s, out);
            }
        };
        others(&mut a, &mut out, 0);
        a.add(span(trace_a, 4, 1, &[]), &mut out);
        a.add(span(trace_a, 5, 1, &[]), &mut out);
        others(&mut a, &mut out, 10_000);
        a.add(span(trace_a, 1, 0, &[]), &mut out);
        clock.advance(Duration::from_secs(1));
        a.poll(&mut out);
        let last = out
            .iter()
            .rev()
            .find(|r| r.spans.iter().any(|s| s.trace_key() == [trace_a; 16]))
            .expect("trace A's last part");
        assert_eq!(last.spans.len(), 1);
        assert!(
            !last.complete,
            "a later part of an early-released trace is never complete"
        );
    }

    #[test]
    fn full_buffer_evicts_the_oldest_trace_never_drops() {
        let (mut a, _clock) = setup(AssemblyConfig {
            max_traces: 2,
            ..limits()
        });
        let mut out = Vec::new();
        a.add(span(1, 1, 0, &[]), &mut out);
        a.add(span(2, 1, 0, &[]), &mut out);
        a.add(span(2, 2, 1, &[]), &mut out);
        assert!(out.is_empty());
        a.add(span(3, 1, 0, &[]), &mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Evicted, false, 1)]);
        assert_eq!(out[0].spans[0].trace_key(), [1; 16]);
        assert_eq!(a.buffered_traces(), 2);
    }

    #[test]
    fn byte_budget_evicts_oldest_first() {
        let one = memory_estimate(&span(1, 1, 0, &[])) + TRACE_OVERHEAD_BYTES;
        let (mut a, _clock) = setup(AssemblyConfig {
            max_bytes: one * 4,
            ..limits()
        });
        let mut out = Vec::new();
        for t in 1..=4 {
            a.add(span(t, 1, 0, &[]), &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(a.buffered_bytes(), one * 4);
        a.add(span(5, 1, 0, &[]), &mut out);
        assert_eq!(reasons(&out), vec![(ReleaseReason::Evicted, false, 1)]);
        assert_eq!(out[0].spans[0].trace_key(), [1; 16]);
        assert_eq!(a.buffered_bytes(), one * 4);
    }

    #[test]
    fn memory_counts_decoded_size_not_encoded_size() {
        use crate::span_view::AttrValue;
        let keys = [
            "a.key", "b.key", "c.key", "d.key", "e.key", "f.key", "g.key", "h.key",
        ];
        let attrs: Vec<(&str, AttrValue<'_>)> = keys
            .iter()
            .map(|k| (*k, AttrValue::Str("a-value")))
            .collect();
        let s = span(1, 1, 0, &attrs);
        let m = memory_estimate(&s);
        // The decoded span holds far more than its protobuf bytes: the struct itself, one heap
        // block per id, key and string value.
        let encoded = prost::Message::encoded_len(&s.span);
        assert!(m > 3 * encoded, "estimate {m} vs encoded {encoded}");
        assert!(
            m >= std::mem::size_of::<GatewaySpan>()
                + 8 * std::mem::size_of::<opentelemetry_proto::tonic::common::v1::KeyValue>()
        );
    }

    #[test]
    fn late_span_after_release_goes_alone() {
        let (mut a, clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 1, 0, &[]), &mut out);
        clock.advance(Duration::from_millis(100));
        a.poll(&mut out);
        a.add(span(1, 2, 1, &[]), &mut out);
        assert_eq!(
            reasons(&out),
            vec![
                (ReleaseReason::Root, true, 1),
                (ReleaseReason::Late, false, 1)
            ]
        );
        assert_eq!(a.buffered_spans(), 0);
    }

    #[test]
    fn drain_releases_everything_complete_only_with_a_root() {
        let (mut a, _clock) = setup(limits());
        let mut out = Vec::new();
        a.add(span(1, 1, 0, &[]), &mut out);
        a.add(span(2, 2, 1, &[]), &mut out);
        a.drain(&mut out);
        assert_eq!(
            reasons(&out),
            vec![
                (ReleaseReason::Shutdown, true, 1),
                (ReleaseReason::Shutdown, false, 1)
            ]
        );
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn next_deadline_tracks_the_earliest_trace() {
        let (mut a, clock) = setup(limits());
        let start = clock.now();
        let mut out = Vec::new();
        a.add(span(1, 2, 1, &[]), &mut out);
        assert_eq!(a.next_deadline(), Some(start + Duration::from_secs(5)));
        a.add(span(2, 1, 0, &[]), &mut out);
        assert_eq!(a.next_deadline(), Some(start + Duration::from_millis(100)));
    }
}
