//! The receivers' memory budget: every byte a request makes the gateway hold while it is being
//! received counts against one bound (DESIGN §7 "One memory budget").
//!
//! ```text
//! request -> reserve(base) -> body chunks (grow) -> gunzip output (grow; compressed released)
//!         -> decode estimate (grow; otlp_scan.rs) -> Pipeline::ingest -> dropped: released
//! ```
//!
//! A reservation never waits: when the budget cannot take more the request is refused at once,
//! with the retryable status if it could fit once other requests are done ([`Exhausted::Now`]),
//! with a clear non-retryable error if it alone needs more than the whole budget
//! ([`Exhausted::Never`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes reserved for every request while it is handled, before its body is read: the request
/// head, the handler's state and buffers (so a flood of tiny requests counts too).
pub(crate) const REQUEST_BASE_BYTES: usize = 16 * 1024;

/// The bound and what is reserved against it.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    capacity: usize,
    used: AtomicUsize,
}

/// Why a reservation could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// Other requests hold the budget: retry later.
    Now { needed: usize, capacity: usize },
    /// This request alone needs more than the whole budget.
    Never { needed: usize, capacity: usize },
}

impl Exhausted {
    /// The message both receivers answer with.
    pub(crate) fn message(self) -> String {
        match self {
            Exhausted::Now { .. } => {
                "the gateway's receive memory budget is in use by other requests; retry later"
                    .into()
            }
            Exhausted::Never { needed, capacity } => format!(
                "this request needs about {needed} bytes of memory to be received and decoded, \
                 more than receivers.otlp.max_memory_bytes ({capacity}); send smaller requests"
            ),
        }
    }
}

impl MemoryBudget {
    pub(crate) fn new(capacity: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            capacity,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes reserved now (the `otel_llm_cost_receiver_bytes` gauge).
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// A reservation of `bytes`.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: usize) -> Result<Reservation, Exhausted> {
        let mut r = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        r.grow(bytes)?;
        Ok(r)
    }

    fn try_add(&self, held: usize, n: usize) -> Result<(), Exhausted> {
        let needed = held.saturating_add(n);
        if needed > self.capacity {
            return Err(Exhausted::Never {
                needed,
                capacity: self.capacity,
            });
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.capacity)
            })
            .map(|_| ())
            .map_err(|_| Exhausted::Now {
                needed,
                capacity: self.capacity,
            })
    }
}

/// Bytes held for one request; released when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Reservation {
    /// Holds `n` more bytes.
    pub(crate) fn grow(&mut self, n: usize) -> Result<(), Exhausted> {
        if n == 0 {
            return Ok(());
        }
        self.budget.try_add(self.bytes, n)?;
        self.bytes += n;
        Ok(())
    }

    /// Gives back `n` bytes (a buffer was dropped).
    pub(crate) fn release(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.budget.used.fetch_sub(n, Ordering::AcqRel);
        self.bytes -= n;
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_bound_and_give_back_on_drop() {
        let b = MemoryBudget::new(100);
        let mut a = b.reserve(40).unwrap();
        let mut c = b.reserve(50).unwrap();
        assert_eq!(b.used(), 90);
        // Would fit alone, not now: retryable.
        assert_eq!(
            a.grow(20),
            Err(Exhausted::Now {
                needed: 60,
                capacity: 100
            })
        );
        assert_eq!(a.bytes(), 40, "a failed grow holds nothing more");
        // Could never fit: not retryable.
        assert!(matches!(
            c.grow(51),
            Err(Exhausted::Never { needed: 101, .. })
        ));
        c.release(30);
        assert_eq!((c.bytes(), b.used()), (20, 60));
        a.grow(20).unwrap();
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
        assert!(Exhausted::Never {
            needed: 5,
            capacity: 4
        }
        .message()
        .contains("receivers.otlp.max_memory_bytes"));
    }
}
