//! The global allocator: the system's for small blocks; on Linux, large
//! blocks straight from `mmap`, backed by transparent huge pages and reused
//! once freed.
//!
//! The analysis keeps per-object arrays of hundreds of megabytes on large
//! cores (types, the graph's rows, the dominator search's state) and walks
//! them at random; with 4 KiB pages nearly every such access also misses
//! the TLB. Huge pages made `retained` on a 20M-object core about 10%
//! faster (measured with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which does
//! the same for every mapping glibc makes). Where THP is disabled, nothing
//! changes.
//!
//! Fresh pages are dear: each costs a fault and the kernel's zeroing, and on
//! a virtual machine often a fault in the hypervisor too (on the 2-core
//! benchmark machine, zeroing fresh huge pages ran at under 1 GB/s and took
//! a sixth of the CPU time of `retained` on a 20M-object core). The phases
//! free arrays of the same sizes they allocate next, so a freed large
//! block is kept as a spare, and the next large allocation takes a spare
//! and resizes it with `mremap`, which moves page tables, not bytes: only
//! growth beyond the spare's size needs fresh pages. Every large allocation
//! takes a spare when there is one, so spares last only until the next
//! large allocation; at most eight are kept.
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

/// The heap memory held now, in bytes.
pub fn held_bytes() -> usize {
    HELD.load(Relaxed)
}

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

/// A block for `layout`: large blocks from [`large`], the rest from
/// `System`. Null when out of memory.
///
/// # Safety
/// As [`GlobalAlloc::alloc`].
unsafe fn allocate(layout: Layout, zeroed: bool) -> *mut u8 {
    if large::fits(layout.size(), layout.align()) {
        large::alloc(layout.size(), zeroed)
    } else if zeroed {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    } else {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
}

/// Frees a block [`allocate`] made for `layout`.
///
/// # Safety
/// As [`GlobalAlloc::dealloc`].
unsafe fn release(p: *mut u8, layout: Layout) {
    if large::fits(layout.size(), layout.align()) {
        // SAFETY: a block of this layout came from `large::alloc`.
        unsafe { large::free(p, layout.size()) }
    } else {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(p, layout) }
    }
}

// SAFETY: small blocks (and every block off Linux) are forwarded to
// `System` with the same arguments; large blocks are mappings of their own,
// page-aligned (so aligned for any layout `large` accepts) and at least as
// long as asked, unmapped or kept as spares only when freed.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { allocate(layout, false) };
        if !p.is_null() {
            held_more(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { allocate(layout, true) };
        if !p.is_null() {
            held_more(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        held_less(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { release(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (was_large, is_large) = (
            large::fits(layout.size(), layout.align()),
            large::fits(new_size, layout.align()),
        );
        let q = match (was_large, is_large) {
            // SAFETY: forwarded unchanged.
            (false, false) => unsafe { System.realloc(p, layout, new_size) },
            // SAFETY: `p` came from `large::alloc` with this size.
            (true, true) => unsafe { large::resize(p, layout.size(), new_size) },
            _ => {
                // From one kind of block to the other: a new block, the
                // bytes both hold, the old block freed.
                // SAFETY: `new_size` is non-zero and the alignment valid
                // (the caller's contract for realloc).
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: as above.
                let q = unsafe { allocate(new_layout, false) };
                if !q.is_null() {
                    // SAFETY: both blocks hold at least this many bytes and
                    // are distinct; `p` is freed as the layout it has.
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        release(p, layout);
                    }
                }
                q
            }
        };
        if !q.is_null() {
            held_less(layout.size());
            held_more(new_size);
        }
        q
    }
}

/// Large blocks: mappings of their own, huge pages advised, spares reused.
#[cfg(target_os = "linux")]
mod large {
    use std::sync::Mutex;

    /// Blocks from this size up are large: the rest the system allocator
    /// carves out of shared heap pages.
    const MIN_BLOCK: usize = 8 << 20;
    const PAGE: usize = 4096;
    /// Most spares kept at once; a further one frees the oldest.
    const SPARE_SLOTS: usize = 8;

    /// Freed blocks kept for reuse, as (address, mapped length), oldest
    /// first; empty slots are (0, 0).
    static SPARES: Mutex<[(usize, usize); SPARE_SLOTS]> = Mutex::new([(0, 0); SPARE_SLOTS]);

    pub fn fits(size: usize, align: usize) -> bool {
        size >= MIN_BLOCK && align <= PAGE
    }

    fn mapped_len(size: usize) -> usize {
        size.next_multiple_of(PAGE)
    }

    /// A block of `size` bytes (zeroed if asked), null when out of memory.
    pub fn alloc(size: usize, zeroed: bool) -> *mut u8 {
        let len = mapped_len(size);
        if let Some((p, spare_len)) = take_spare(len) {
            // SAFETY: the spare is a mapping of `spare_len` bytes that
            // nothing else refers to.
            let q = unsafe { remap(p, spare_len, len) };
            if !q.is_null() {
                if zeroed {
                    // SAFETY: the first `spare_len` bytes (or all, when it
                    // shrank) are the spare's old contents; the rest are
                    // fresh zero pages.
                    unsafe { std::ptr::write_bytes(q, 0, spare_len.min(len)) };
                }
                return q;
            }
            // SAFETY: the remap failed, so the spare is as it was.
            unsafe { unmap(p as *mut u8, spare_len) };
        }
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return std::ptr::null_mut();
        }
        advise_huge(p as *mut u8, len);
        p as *mut u8
    }

    /// Resizes a large block, keeping its bytes.
    ///
    /// # Safety
    /// `p` came from [`alloc`] (or `resize`) with `size`.
    pub unsafe fn resize(p: *mut u8, size: usize, new_size: usize) -> *mut u8 {
        // SAFETY: by the caller's contract.
        unsafe { remap(p as usize, mapped_len(size), mapped_len(new_size)) }
    }

    /// Keeps a freed block as a spare, freeing the oldest spare if all
    /// slots are taken.
    ///
    /// # Safety
    /// `p` came from [`alloc`] (or `resize`) with `size` and is not used
    /// again.
    pub unsafe fn free(p: *mut u8, size: usize) {
        let block = (p as usize, mapped_len(size));
        let evicted = match SPARES.lock() {
            // Spares sit at the front, oldest first; empty slots after.
            Ok(mut spares) => match spares.iter().position(|s| s.1 == 0) {
                Some(empty) => {
                    spares[empty] = block;
                    (0, 0)
                }
                None => {
                    let oldest = spares[0];
                    spares.copy_within(1.., 0);
                    spares[SPARE_SLOTS - 1] = block;
                    oldest
                }
            },
            Err(_) => block,
        };
        if evicted.1 > 0 {
            // SAFETY: the evicted block is a mapping nobody uses.
            unsafe { unmap(evicted.0 as *mut u8, evicted.1) };
        }
    }

    /// The spare to reuse for `len` bytes: the smallest at least that long
    /// (shrunk in place), else the longest (grown).
    fn take_spare(len: usize) -> Option<(usize, usize)> {
        let mut spares = SPARES.lock().ok()?;
        let fitting = (0..spares.len())
            .filter(|&i| spares[i].1 >= len)
            .min_by_key(|&i| spares[i].1);
        let i = fitting.or_else(|| (0..spares.len()).max_by_key(|&i| spares[i].1))?;
        let spare = spares[i];
        if spare.1 == 0 {
            return None;
        }
        spares.copy_within(i + 1.., i);
        let last = spares.len() - 1;
        spares[last] = (0, 0);
        Some(spare)
    }

    /// # Safety
    /// `p` is a mapping of `len` bytes that nothing else refers to.
    unsafe fn remap(p: usize, len: usize, new_len: usize) -> *mut u8 {
        if len == new_len {
            return p as *mut u8;
        }
        // SAFETY: by the caller's contract; the kernel moves the page
        // tables (and the advice) with the mapping.
        let q = unsafe { libc::mremap(p as *mut libc::c_void, len, new_len, libc::MREMAP_MAYMOVE) };
        if q == libc::MAP_FAILED {
            return std::ptr::null_mut();
        }
        if new_len > len {
            advise_huge(q as *mut u8, new_len);
        }
        q as *mut u8
    }

    /// # Safety
    /// `p` is a mapping of `len` bytes that nothing uses any more.
    unsafe fn unmap(p: *mut u8, len: usize) {
        // SAFETY: by the caller's contract. A failure leaks the mapping.
        unsafe { libc::munmap(p as *mut libc::c_void, len) };
    }

    /// `MADV_HUGEPAGE` for a whole block. The kernel backs only its
    /// aligned 2 MiB ranges with huge pages; advising the whole mapping
    /// keeps it one VMA, which `mremap` needs.
    fn advise_huge(p: *mut u8, len: usize) {
        // SAFETY: the range is the block; the advice does not change its
        // contents. A failure (THP disabled) leaves the pages as they were.
        unsafe {
            libc::madvise(p as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}

/// Off Linux every block is the system allocator's.
#[cfg(not(target_os = "linux"))]
mod large {
    pub fn fits(_: usize, _: usize) -> bool {
        false
    }
    pub fn alloc(_: usize, _: bool) -> *mut u8 {
        unreachable!("no large blocks off Linux")
    }
    pub unsafe fn resize(_: *mut u8, _: usize, _: usize) -> *mut u8 {
        unreachable!("no large blocks off Linux")
    }
    pub unsafe fn free(_: *mut u8, _: usize) {
        unreachable!("no large blocks off Linux")
    }
}

#[cfg(test)]
mod tests {
    /// Large blocks keep their bytes through growth, shrinking and the
    /// crossing of the large-block threshold both ways, and a zeroed block
    /// made from a dirty spare is zero.
    #[test]
    fn large_blocks_keep_bytes_and_zero_reused_spares() {
        const MIB: usize = 1 << 20;
        let dirty = vec![0xAAu8; 24 * MIB];
        drop(dirty);
        for size in [9 * MIB, 24 * MIB, 40 * MIB] {
            let zeroed = vec![0u8; size];
            assert!(zeroed.iter().all(|&b| b == 0), "{size} bytes not zeroed");
            let mut dirty = zeroed;
            dirty.fill(0x55);
        }
        // Small -> large -> larger -> small, by realloc.
        let mut v: Vec<u32> = (0..(MIB as u32)).collect(); // 4 MiB
        v.extend(MIB as u32..(6 * MIB) as u32); // 24 MiB
        v.truncate(MIB / 2);
        v.shrink_to_fit(); // 2 MiB
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    }
}
