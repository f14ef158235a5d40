//! The trace walk: a set of spans (a whole trace in the gateway) as a forest built from their
//! parent links, visited children first so that every span is finished after all of its
//! descendants ([`Engine::price_trace`](super::Engine::price_trace)).
//!
//! ```text
//! spans -> index by span id -> parent within the set (or none: a root; orphan when the parent
//! named is absent) -> cycles and self-parents cut -> post-order
//! ```

use std::collections::HashMap;

use crate::span_view::SpanView;

/// A set of spans as a forest, by position in the set.
#[derive(Debug)]
pub(super) struct Forest {
    /// The parent's position, when the parent is in the set; `None` for a root.
    pub(super) parent: Vec<Option<usize>>,
    /// The span names a parent that is not in the set (a root of its own, incomplete).
    pub(super) orphan: Vec<bool>,
    /// Every position once, each after all of its descendants.
    pub(super) order: Vec<usize>,
}

impl Forest {
    /// The forest of `spans`. A span whose parent is absent is a root (and an orphan); a
    /// self-parent is a root; a parent cycle is cut at the span where a walk up from some span
    /// first comes back to its own path. Of spans sharing an id, the first is the parent.
    // Inline: see `Writer::status` (engine/write.rs).
    #[inline]
    pub(super) fn of<V: SpanView>(spans: &[V]) -> Forest {
        let n = spans.len();
        // foldhash, seeded per map (span ids come from senders; the map lives for one trace's
        // pricing): SipHash cost more than the rest of this walk.
        let mut index: HashMap<[u8; 8], usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        for (i, s) in spans.iter().enumerate() {
            index.entry(s.span_id()).or_insert(i);
        }
        // parent[i]: index of the parent within the set; orphan[i]: names a parent not present.
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut orphan = vec![false; n];
        for (i, s) in spans.iter().enumerate() {
            if let Some(p) = s.parent_span_id() {
                match index.get(&p) {
                    Some(&j) if j != i => parent[i] = Some(j),
                    Some(_) => {}
                    None => orphan[i] = true,
                }
            }
        }
        // Cut cycles: follow parents; a walk that returns to a node on its own path is a cycle.
        let mut state = vec![0u8; n]; // 0 new, 1 on path, 2 done
        for start in 0..n {
            let mut path = Vec::new();
            let mut cur = start;
            loop {
                if state[cur] == 2 {
                    break;
                }
                if state[cur] == 1 {
                    // `cur` closes a cycle: make it a root.
                    parent[cur] = None;
                    break;
                }
                state[cur] = 1;
                path.push(cur);
                match parent[cur] {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        // Post-order, iteratively (traces can be deep).
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<(usize, bool)> = (0..n)
            .filter(|&i| parent[i].is_none())
            .map(|i| (i, false))
            .collect();
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
            } else {
                stack.push((i, true));
                stack.extend(children[i].iter().map(|&c| (c, false)));
            }
        }
        Forest {
            parent,
            orphan,
            order,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span_view::{AttrValue, OwnedValue};

    /// A span with an id and a parent, nothing else.
    struct Link(u8, Option<u8>);

    impl SpanView for Link {
        fn trace_id(&self) -> [u8; 16] {
            [1; 16]
        }
        fn span_id(&self) -> [u8; 8] {
            [self.0; 8]
        }
        fn parent_span_id(&self) -> Option<[u8; 8]> {
            self.1.map(|p| [p; 8])
        }
        fn start_unix_nanos(&self) -> u64 {
            0
        }
        fn scope_name(&self) -> &str {
            ""
        }
        fn for_each_attr(&self, _: &mut dyn FnMut(&str, AttrValue<'_>)) {}
        fn attr(&self, _: &str) -> Option<AttrValue<'_>> {
            None
        }
        fn set_attr(&mut self, _: &str, _: OwnedValue) {}
        fn name(&self) -> &str {
            ""
        }
        fn add_event(&mut self, _: &str, _: Vec<(crate::span_view::AttrKey, OwnedValue)>) {}
    }

    #[test]
    fn children_come_before_parents_and_cycles_become_roots() {
        // 1 <- 2 <- 3; 4 names an absent parent 9; 5 is its own parent; 6 <-> 7 a cycle.
        let spans = [
            Link(3, Some(2)),
            Link(1, None),
            Link(2, Some(1)),
            Link(4, Some(9)),
            Link(5, Some(5)),
            Link(6, Some(7)),
            Link(7, Some(6)),
        ];
        let f = Forest::of(&spans);
        assert_eq!(f.parent[0], Some(2));
        assert_eq!(f.parent[2], Some(1));
        assert_eq!((f.parent[1], f.orphan[1]), (None, false));
        assert_eq!(
            (f.parent[3], f.orphan[3]),
            (None, true),
            "absent parent: an orphan root"
        );
        assert_eq!(
            (f.parent[4], f.orphan[4]),
            (None, false),
            "self-parent: a root"
        );
        let cycle_roots = [5, 6].iter().filter(|&&i| f.parent[i].is_none()).count();
        assert_eq!(cycle_roots, 1, "a cycle is cut once: {:?}", f.parent);
        let mut sorted = f.order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..spans.len()).collect::<Vec<_>>(),
            "every span once"
        );
        let at = |i: usize| f.order.iter().position(|&x| x == i);
        for (i, p) in f.parent.iter().enumerate() {
            if let Some(p) = p {
                assert!(at(i) < at(*p), "{i} after its parent {p}: {:?}", f.order);
            }
        }
    }
}
