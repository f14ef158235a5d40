//! A global allocator that counts the bytes each thread has allocated, and their peak: the
//! measure of the decode-bound checks (`tests/decode_memory.rs` and the `grpc_gzip_frames`
//! fuzz target, which both include this file as a module; including it installs it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// `System`, counting.
pub struct Counting;

thread_local! {
    static NOW: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let _ = NOW.try_with(|n| {
                n.set(n.get() + l.size());
                let _ = PEAK.try_with(|p| p.set(p.get().max(n.get())));
            });
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        let _ = NOW.try_with(|n| n.set(n.get().saturating_sub(l.size())));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // As alloc + copy + dealloc: the old block is alive while the new one is made.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            let _ = NOW.try_with(|n| {
                let during = n.get() + new;
                let _ = PEAK.try_with(|p| p.set(p.get().max(during)));
                n.set(during - l.size());
            });
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak bytes allocated on this thread while `f` runs (above what was allocated before), with
/// `f`'s result.
pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = NOW.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}
