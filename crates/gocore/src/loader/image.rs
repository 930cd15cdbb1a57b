//! The dumped process's address space: core segments spliced over the
//! executable's segments, as one [`Memory`].
//!
//! Kernel cores leave out memory that can be re-read from a file: text and
//! rodata segments appear with `filesz` 0 (or just the first page, which
//! holds the ELF header and build-id notes). The image therefore resolves
//! every address to exactly one source:
//! * the core's file bytes (`[vaddr, vaddr+filesz)` of a core segment);
//! * unavailable, where a truncated core lost those bytes (reads fail);
//! * the executable's file bytes, for the rest of a core segment or for
//!   executable segments the core lacks entirely, relocated by the PIE bias;
//! * zeros elsewhere inside a segment (untouched anonymous memory, `.bss`).
//!
//! Lookups binary-search a sorted list of non-overlapping extents, so cores
//! with 10^5 segments cost O(log n) per read, after trying the extent the
//! thread found last (the heap walks read millions of objects from a few
//! extents).

use std::cell::Cell;
use std::sync::Arc;

use super::bytes::Bytes;
use super::core_file::CoreFile;
use super::elf::{Perms, Segment};
use super::exe::Exe;
use gotypes::{Addr, MemError, Memory};

/// Zero bytes that [`Memory::slice`] can lend for zero-filled ranges.
static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

/// Where the bytes of a range come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Stored in the core file.
    Core,
    /// Read from the executable (not dumped because it is file-backed).
    Exe,
    /// Not stored anywhere; reads as zeros.
    Zero,
    /// Should be in the core, but the core file is truncated; reads fail.
    Unavailable,
}

/// One contiguous range of the address space with a single source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: Addr,
    pub end: Addr,
    pub perms: Perms,
    pub source: Source,
    /// The mapped file, from the core's `NT_FILE` note.
    pub file: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Src {
    /// File offset of the extent's first byte in the core.
    Core(u64),
    /// File offset of the extent's first byte in the executable.
    Exe(u64),
    Zero,
    Missing,
}

#[derive(Debug, Clone, Copy)]
struct Extent {
    start: u64,
    end: u64,
    src: Src,
    perms: Perms,
}

/// The address space of the dumped process.
pub struct Image {
    extents: Vec<Extent>,
    core: Arc<Bytes>,
    exe: Arc<Bytes>,
    files: Vec<super::core_file::FileMapping>,
}

impl Image {
    /// Splice `core`'s segments over `exe`'s segments shifted by `bias`.
    pub fn build(core: &CoreFile, exe: &Exe, bias: u64) -> Image {
        // Executable segments at their run-time addresses; drop any that wrap.
        let exe_segs: Vec<Segment> = exe
            .segments
            .iter()
            .filter_map(|s| {
                let vaddr = s.vaddr.0.checked_add(bias)?;
                vaddr.checked_add(s.memsz)?;
                Some(Segment {
                    vaddr: Addr(vaddr),
                    ..*s
                })
            })
            .collect();
        let mut extents = Vec::with_capacity(core.segments.len() * 2 + exe_segs.len());
        for s in &core.segments {
            let (start, end) = (s.vaddr.0, s.end().0);
            let avail_end = start + s.avail;
            let file_end = start + s.filesz;
            push(&mut extents, start, avail_end, Src::Core(s.offset), s.perms);
            push(&mut extents, avail_end, file_end, Src::Missing, s.perms);
            fill_from_exe(&mut extents, file_end, end, s.perms, &exe_segs);
        }
        // Executable memory the core does not mention at all.
        for e in &exe_segs {
            let (mut cur, end) = (e.vaddr.0, e.end().0);
            let first = core.segments.partition_point(|s| s.end().0 <= cur);
            for s in &core.segments[first..] {
                if s.vaddr.0 >= end {
                    break;
                }
                fill_from_exe(
                    &mut extents,
                    cur,
                    s.vaddr.0.min(end),
                    e.perms,
                    std::slice::from_ref(e),
                );
                cur = cur.max(s.end().0);
            }
            fill_from_exe(&mut extents, cur, end, e.perms, std::slice::from_ref(e));
        }
        extents.sort_by_key(|e| e.start);
        Image {
            extents,
            core: Arc::clone(&core.bytes),
            exe: Arc::clone(&exe.bytes),
            files: core.files.clone(),
        }
    }

    /// Drop the core's and the executable's mapped pages from resident
    /// memory (see [`Bytes::release_resident`]); reads still work, from the
    /// page cache.
    pub fn release_resident(&self) {
        self.core.release_resident();
        self.exe.release_resident();
    }

    /// Where the byte at `addr` comes from, or `None` if it is not mapped.
    pub fn source_at(&self, addr: Addr) -> Option<Source> {
        self.extent_at(addr.0).map(|e| source(e.src))
    }

    /// Every range of the address space, in address order.
    pub fn mappings(&self) -> Vec<Mapping> {
        self.extents
            .iter()
            .map(|e| {
                let i = self.files.partition_point(|f| f.start.0 <= e.start);
                let file = i
                    .checked_sub(1)
                    .and_then(|i| self.files.get(i))
                    .filter(|f| e.start < f.end.0)
                    .map(|f| f.path.clone());
                Mapping {
                    start: Addr(e.start),
                    end: Addr(e.end),
                    perms: e.perms,
                    source: source(e.src),
                    file,
                }
            })
            .collect()
    }

    fn extent_at(&self, addr: u64) -> Option<&Extent> {
        thread_local! {
            /// Index of the extent this thread found last, in whichever
            /// image: only a hint, checked before use.
            static LAST: Cell<usize> = const { Cell::new(0) };
        }
        let hint = LAST.get();
        if let Some(e) = self
            .extents
            .get(hint)
            .filter(|e| e.start <= addr && addr < e.end)
        {
            return Some(e);
        }
        let i = self.extents.partition_point(|e| e.end <= addr);
        let e = self.extents.get(i).filter(|e| e.start <= addr)?;
        LAST.set(i);
        Some(e)
    }

    /// `len` bytes of `extent` starting at `addr`, which the caller keeps inside it.
    fn bytes_of(&self, e: &Extent, addr: u64, len: u64) -> Option<&[u8]> {
        let (file, off): (&[u8], u64) = match e.src {
            Src::Core(off) => (&self.core, off),
            Src::Exe(off) => (&self.exe, off),
            Src::Zero => return ZEROS.get(..usize::try_from(len).ok()?),
            Src::Missing => return None,
        };
        let start = usize::try_from(off.checked_add(addr - e.start)?).ok()?;
        file.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    }
}

fn source(src: Src) -> Source {
    match src {
        Src::Core(_) => Source::Core,
        Src::Exe(_) => Source::Exe,
        Src::Zero => Source::Zero,
        Src::Missing => Source::Unavailable,
    }
}

fn push(out: &mut Vec<Extent>, start: u64, end: u64, src: Src, perms: Perms) {
    if start < end {
        out.push(Extent {
            start,
            end,
            src,
            perms,
        });
    }
}

/// Cover `[lo, hi)` with the file-backed bytes of the (sorted, relocated)
/// executable segments that overlap it, and zeros in between.
fn fill_from_exe(out: &mut Vec<Extent>, lo: u64, hi: u64, perms: Perms, exe_segs: &[Segment]) {
    let mut cur = lo;
    for e in exe_segs {
        let file_lo = e.vaddr.0.max(cur);
        let file_hi = (e.vaddr.0 + e.avail).min(hi);
        if file_lo >= file_hi {
            continue;
        }
        push(out, cur, file_lo, Src::Zero, perms);
        let off = e.offset + (file_lo - e.vaddr.0);
        push(out, file_lo, file_hi, Src::Exe(off), perms);
        cur = file_hi;
    }
    push(out, cur, hi, Src::Zero, perms);
}

impl Memory for Image {
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len() as u64,
        };
        let mut cur = addr.0;
        let mut i = self.extents.partition_point(|e| e.end <= cur);
        let mut done = 0;
        while done < buf.len() {
            let e = self
                .extents
                .get(i)
                .filter(|e| e.start <= cur && cur < e.end)
                .ok_or(err)?;
            let n = (e.end - cur).min((buf.len() - done) as u64);
            let dst = &mut buf[done..done + n as usize];
            match e.src {
                Src::Zero => dst.fill(0),
                _ => dst.copy_from_slice(self.bytes_of(e, cur, n).ok_or(err)?),
            }
            done += n as usize;
            cur += n;
            i += 1;
        }
        Ok(())
    }

    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        let e = self.extent_at(addr.0)?;
        if addr.0.checked_add(len)? > e.end {
            return None;
        }
        self.bytes_of(e, addr.0, len)
    }
}
