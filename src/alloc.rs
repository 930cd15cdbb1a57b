//! The global allocator: the system's, asking Linux to back large blocks
//! with transparent huge pages.
//!
//! The analysis keeps per-object arrays of hundreds of megabytes on large
//! cores (types, the graph's rows, the dominator search's state) and walks
//! them at random; with 4 KiB pages nearly every such access also misses
//! the TLB. Huge pages made `retained` on a 20M-object core about 10%
//! faster (measured with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which does
//! the same for every mapping glibc makes). Where THP is disabled or the
//! system is not Linux, nothing changes.
//!
//! It also counts the bytes held and their peak, which `GOREFS_TIMINGS`
//! prints: the memory gorefs needs beyond the core and binary it maps (the
//! benchmarks' memory budget). One relaxed atomic add per call; gorefs
//! makes no allocation per object, so calls are few.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct HugePageAlloc;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most heap memory held at once so far, in bytes.
pub fn peak_bytes() -> usize {
    PEAK.load(Relaxed)
}

fn held_more(n: usize) {
    let now = HELD.fetch_add(n, Relaxed) + n;
    if now > PEAK.load(Relaxed) {
        PEAK.fetch_max(now, Relaxed);
    }
}

fn held_less(n: usize) {
    HELD.fetch_sub(n, Relaxed);
}

/// Blocks smaller than this are left alone: the system allocator carves
/// them out of shared heap pages.
#[cfg(target_os = "linux")]
const MIN_BLOCK: usize = 8 << 20;
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

// SAFETY: every call forwards to `System` with the same arguments; the
// advice only changes how the kernel backs the block's pages, not their
// contents or validity.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            held_more(layout.size());
        }
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            held_more(layout.size());
        }
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        held_less(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            held_less(layout.size());
            held_more(new_size);
        }
        advise(q, new_size);
        q
    }
}

/// `MADV_HUGEPAGE` for the whole huge pages inside a large block.
#[cfg(target_os = "linux")]
fn advise(p: *mut u8, size: usize) {
    if p.is_null() || size < MIN_BLOCK {
        return;
    }
    let start = (p as usize).next_multiple_of(HUGE_PAGE);
    let end = (p as usize + size) / HUGE_PAGE * HUGE_PAGE;
    if start < end {
        // SAFETY: the range lies inside the block just allocated; the
        // advice does not change its contents. A failure (THP disabled)
        // leaves the pages as they were.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_: *mut u8, _: usize) {}
