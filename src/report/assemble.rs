//! Groups spans read in file order into traces, with bounded memory.
//!
//! ```text
//! span -> open[trace_id] -- root seen + `linger_spans` more spans read --> released (complete)
//!                        -- buffer over `max_buffer_bytes` --> oldest released early (incomplete)
//!                        -- end of input --> released (complete iff its root was seen)
//! ```
//!
//! Exporters write a trace's children before (or with) its root, since spans are exported when
//! they end; `linger_spans` leaves room for stragglers written a little later. A span whose
//! trace was already released starts a new fragment of that trace (counted as late; the
//! fragment is incomplete).

use std::collections::{HashMap, HashSet, VecDeque};

use super::span::ReportSpan;

/// Default budget of buffered spans, in (estimated) bytes.
pub const DEFAULT_BUFFER_BYTES: usize = 256 * 1024 * 1024;
/// Default number of spans read after a trace's root before the trace is released.
pub const DEFAULT_LINGER_SPANS: u64 = 10_000;
/// Released trace ids remembered to recognise late spans.
const RECENT_RELEASED: usize = 65_536;

/// A trace handed out of the assembler.
#[derive(Debug)]
pub(crate) struct Released {
    pub spans: Vec<ReportSpan>,
    /// Root seen, released by linger or end of input, no earlier fragment.
    pub complete: bool,
}

#[derive(Debug)]
struct Open {
    spans: Vec<ReportSpan>,
    ids: HashSet<[u8; 8]>,
    bytes: usize,
    seq: u64,
    root_at: Option<u64>,
    fragment: bool,
}

/// Counters of the assembly.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AssemblyStats {
    /// Traces released early because the buffer was full.
    pub evicted: u64,
    /// Spans that arrived after their trace was released.
    pub late_spans: u64,
    /// Spans dropped because their trace already had a span with the same id (an input read
    /// twice, overlapping files).
    pub duplicate_spans: u64,
    /// Largest buffered size seen, bytes (estimated).
    pub peak_bytes: usize,
}

/// Estimated bytes a buffered span holds (the span, plus its id in the trace's id set).
fn span_cost(s: &ReportSpan) -> usize {
    s.mem_size() + 16
}

pub(crate) struct Assembler {
    open: HashMap<[u8; 16], Open>,
    /// (trace, seq) in first-seen order; stale entries skipped.
    by_age: VecDeque<([u8; 16], u64)>,
    /// (trace, seq, spans read when its root arrived) in root order.
    rooted: VecDeque<([u8; 16], u64, u64)>,
    released: HashSet<[u8; 16]>,
    released_order: VecDeque<[u8; 16]>,
    bytes: usize,
    seq: u64,
    read: u64,
    max_bytes: usize,
    linger: u64,
    pub stats: AssemblyStats,
}

impl Assembler {
    pub(crate) fn new(max_bytes: usize, linger: u64) -> Assembler {
        Assembler {
            open: HashMap::new(),
            by_age: VecDeque::new(),
            rooted: VecDeque::new(),
            released: HashSet::new(),
            released_order: VecDeque::new(),
            bytes: 0,
            seq: 0,
            read: 0,
            max_bytes,
            linger,
            stats: AssemblyStats::default(),
        }
    }

    /// Adds a span; traces that are due are pushed to `out`.
    pub(crate) fn add(&mut self, span: ReportSpan, out: &mut Vec<Released>) {
        self.read += 1;
        let t = span.trace_id;
        let size = span_cost(&span);
        let is_root = span.parent.is_none();
        if !self.open.contains_key(&t) {
            self.seq += 1;
            let fragment = self.released.contains(&t);
            self.by_age.push_back((t, self.seq));
            self.open.insert(
                t,
                Open {
                    spans: Vec::new(),
                    ids: HashSet::new(),
                    bytes: 0,
                    seq: self.seq,
                    root_at: None,
                    fragment,
                },
            );
        }
        let Some(entry) = self.open.get_mut(&t) else {
            return;
        };
        if !entry.ids.insert(span.span_id) {
            self.stats.duplicate_spans += 1;
            return;
        }
        if entry.fragment {
            self.stats.late_spans += 1;
        }
        if is_root && entry.root_at.is_none() {
            entry.root_at = Some(self.read);
            self.rooted.push_back((t, entry.seq, self.read));
        }
        entry.spans.push(span);
        entry.bytes += size;
        self.bytes += size;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.bytes);
        // Due by linger.
        while let Some(&(t, seq, at)) = self.rooted.front() {
            if at.saturating_add(self.linger) > self.read {
                break;
            }
            self.rooted.pop_front();
            if self.open.get(&t).is_some_and(|o| o.seq == seq) {
                self.release(t, true, out);
            }
        }
        // Over budget: rooted traces first (oldest root), then the oldest trace.
        while self.bytes > self.max_bytes && !self.open.is_empty() {
            let victim = loop {
                if let Some((t, seq, _)) = self.rooted.pop_front() {
                    if self.open.get(&t).is_some_and(|o| o.seq == seq) {
                        break Some(t);
                    }
                    continue;
                }
                match self.by_age.pop_front() {
                    Some((t, seq)) if self.open.get(&t).is_some_and(|o| o.seq == seq) => {
                        break Some(t)
                    }
                    Some(_) => continue,
                    None => break None,
                }
            };
            let Some(t) = victim else { break };
            self.stats.evicted += 1;
            self.release(t, false, out);
        }
        // Keep the age queue from growing with stale entries.
        if self.by_age.len() > 2 * self.open.len() + 1024 {
            let open = &self.open;
            self.by_age
                .retain(|(t, seq)| open.get(t).is_some_and(|o| o.seq == *seq));
        }
    }

    fn release(&mut self, t: [u8; 16], complete: bool, out: &mut Vec<Released>) {
        let Some(o) = self.open.remove(&t) else {
            return;
        };
        self.bytes -= o.bytes;
        if self.released.insert(t) {
            self.released_order.push_back(t);
            if self.released_order.len() > RECENT_RELEASED {
                if let Some(old) = self.released_order.pop_front() {
                    self.released.remove(&old);
                }
            }
        }
        out.push(Released {
            complete: complete && o.root_at.is_some() && !o.fragment,
            spans: o.spans,
        });
    }

    /// Releases everything, oldest first.
    pub(crate) fn finish(&mut self, out: &mut Vec<Released>) {
        let mut rest: Vec<([u8; 16], u64)> = self.open.iter().map(|(t, o)| (*t, o.seq)).collect();
        rest.sort_by_key(|r| r.1);
        for (t, _) in rest {
            self.release(t, true, out);
        }
        self.by_age.clear();
        self.rooted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn span(t: u8, s: u8, p: u8) -> ReportSpan {
        ReportSpan {
            trace_id: [t; 16],
            span_id: [s; 8],
            parent: (p != 0).then_some([p; 8]),
            name: "x".into(),
            start: 0,
            end: 0,
            attrs: Vec::new(),
            service: None,
            scope: Arc::from(""),
        }
    }

    #[test]
    fn a_trace_is_released_after_its_root_and_the_linger() {
        let mut a = Assembler::new(usize::MAX, 2);
        let mut out = Vec::new();
        a.add(span(1, 2, 1), &mut out);
        a.add(span(1, 1, 0), &mut out); // root
        a.add(span(2, 5, 0), &mut out);
        assert!(out.is_empty());
        a.add(span(1, 3, 1), &mut out); // straggler within the linger: released with it
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].spans.len(), 3);
        assert!(out[0].complete);
        // A late span of trace 1: a new, incomplete fragment.
        a.add(span(1, 4, 1), &mut out);
        a.finish(&mut out);
        assert_eq!(out.len(), 3);
        assert!(out[1].complete); // trace 2, root seen
        assert!(!out[2].complete);
        assert_eq!(a.stats.late_spans, 1);
    }

    #[test]
    fn the_buffer_is_bounded() {
        let one = span_cost(&span(0, 1, 1));
        let mut a = Assembler::new(one * 10, u64::MAX);
        let mut out = Vec::new();
        for t in 1..=100u8 {
            a.add(span(t, 1, 9), &mut out); // no roots: only eviction releases
            assert!(a.bytes <= one * 10);
        }
        assert_eq!(out.len(), 90);
        assert!(out.iter().all(|r| !r.complete));
        assert_eq!(out[0].spans[0].trace_id, [1; 16]); // oldest first
        assert_eq!(a.stats.evicted, 90);
        a.finish(&mut out);
        assert_eq!(out.len(), 100);
    }
}
