//! Pointer bitmaps of a type, in every encoding the runtime uses:
//! a plain `GCData` bitmap, a GC program (≤1.23, `runtime/mbitmap.go:runGCProg`)
//! and an on-demand mask (1.24+), which is built from the type structure as
//! `runtime/type.go:buildGCMask` does when the runtime never built it.

use std::sync::Arc;

use super::decode::{read_header, TFLAG_GCMASK_BIT4};
use super::{cached, GcData, KindDetail, RType, TypeError, TypeReader, MAX_DEPTH};
use crate::Addr;

/// Largest mask we materialise: 2^30 words = 8 GiB of pointerful data
/// (a 128 MiB bitmap).
const MAX_MASK_WORDS: u64 = 1 << 30;
/// Bound on the words of all masks one reader builds (a 512 MiB of
/// bitmaps): corrupt descriptors, each claiming a huge mask, must not
/// allocate without limit.
const MAX_TOTAL_MASK_WORDS: u64 = 1 << 32;
/// Largest GC program we read. The compiler only emits programs for types
/// over 128 KiB of pointers and they compress well, so this is generous.
const MAX_PROGRAM_BYTES: u64 = 1 << 24;

/// Which of the first `words` words of a value hold pointers the GC traces.
/// The type/itab word of an interface is not one (only its data word is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtrMask {
    /// `PtrBytes / 8`: words past this never hold pointers.
    pub words: u64,
    /// Bit `w % 64` of `bits[w / 64]` is set if word `w` is a pointer. Bits
    /// at or past `words` are always clear.
    pub bits: Vec<u64>,
}

impl PtrMask {
    fn zeroed(words: u64) -> PtrMask {
        PtrMask {
            words,
            bits: vec![0; words.div_ceil(64) as usize],
        }
    }

    pub fn is_ptr(&self, word: u64) -> bool {
        usize::try_from(word / 64)
            .ok()
            .and_then(|i| self.bits.get(i))
            .is_some_and(|b| b >> (word % 64) & 1 != 0)
    }

    /// Indices of the pointer words, ascending.
    pub fn iter_ptr_words(&self) -> impl Iterator<Item = u64> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &b)| {
            let mut rest = b;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = u64::from(rest.trailing_zeros());
                rest &= rest - 1;
                Some(i as u64 * 64 + bit)
            })
        })
    }

    /// Set word `w`; callers keep `w < self.words`.
    fn set(&mut self, w: u64) {
        if let Some(b) = self.bits.get_mut((w / 64) as usize) {
            *b |= 1 << (w % 64);
        }
    }

    /// OR `src` into this mask starting at word `at`; `false` if it does not fit.
    fn or_at(&mut self, at: u64, src: &PtrMask) -> bool {
        if at.checked_add(src.words).is_none_or(|end| end > self.words) {
            return false;
        }
        let (first, shift) = ((at / 64) as usize, at % 64);
        for (i, &b) in src.bits.iter().enumerate() {
            if b == 0 {
                continue;
            }
            if let Some(d) = self.bits.get_mut(first + i) {
                *d |= b << shift;
            }
            if shift != 0 {
                if let Some(d) = self.bits.get_mut(first + i + 1) {
                    *d |= b >> (64 - shift);
                }
            }
        }
        true
    }

    /// A mask from a runtime bitmap (bit `w%8` of byte `w/8` = word `w`).
    fn from_bytes(bytes: &[u8], words: u64) -> PtrMask {
        let mut m = PtrMask::zeroed(words);
        for (d, chunk) in m.bits.iter_mut().zip(bytes.chunks(8)) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            *d = u64::from_le_bytes(w);
        }
        if !words.is_multiple_of(64) {
            if let Some(last) = m.bits.last_mut() {
                *last &= (1u64 << (words % 64)) - 1;
            }
        }
        m
    }
}

impl TypeReader<'_> {
    /// The pointer bitmap of the type at `addr` over its `PtrBytes/8` words
    /// (cached).
    ///
    /// Besides real descriptors this accepts the runtime's synthetic
    /// large-object types of 1.22–1.23 (`mspan.largeType` of a GC-program type:
    /// kind 0, `TFlagUnrolledBitmap`, no name), whose `GCData` is a plain bitmap.
    pub fn gc_mask(&self, addr: Addr) -> Result<Arc<PtrMask>, TypeError> {
        self.gc_mask_at(addr, 0)
    }

    fn gc_mask_at(&self, addr: Addr, depth: u32) -> Result<Arc<PtrMask>, TypeError> {
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep {
                addr,
                max: MAX_DEPTH,
            });
        }
        cached(&self.masks, addr, || {
            let t = match self.get(addr) {
                Ok(t) => t,
                Err(e) => return self.unrolled_dummy_mask(addr)?.ok_or(e).map(Arc::new),
            };
            let words = mask_words(&t)?;
            let total = self
                .mask_words
                .fetch_add(words, std::sync::atomic::Ordering::Relaxed);
            if total.saturating_add(words) > MAX_TOTAL_MASK_WORDS {
                return Err(TypeError::BadMask {
                    addr,
                    why: "pointer masks of all types too large",
                });
            }
            let mask = match t.gc_data {
                GcData::None => PtrMask::zeroed(0),
                GcData::Bitmap(p) => self.read_bitmap(p, words)?,
                GcData::Program(p) => self.run_program(addr, p, words)?,
                GcData::OnDemand(slot) => {
                    // The slot holds the runtime's own mask once built; an
                    // unreadable slot (not in the dump) is as good as nil.
                    let built = self.mem.read_ptr(slot).ok().filter(|p| !p.is_null());
                    match built.map(|p| self.read_bitmap(p, words)) {
                        Some(Ok(m)) => m,
                        _ => self.build_mask(&t, words, depth)?,
                    }
                }
            };
            Ok(Arc::new(mask))
        })
    }

    /// The mask of a 1.22–1.23 synthetic large-object type, or `None` if
    /// `addr` is not one.
    fn unrolled_dummy_mask(&self, addr: Addr) -> Result<Option<PtrMask>, TypeError> {
        if self.flavor.gcmask_on_demand {
            return Ok(None);
        }
        let h = read_header(self.mem, addr)?;
        let plausible = h.kind_raw == 0
            && h.tflag == TFLAG_GCMASK_BIT4
            && h.ptr_bytes <= h.size
            && h.ptr_bytes % 8 == 0
            && h.ptr_bytes / 8 <= MAX_MASK_WORDS
            && !h.gc_data.is_null();
        if !plausible {
            return Ok(None);
        }
        self.read_bitmap(h.gc_data, h.ptr_bytes / 8).map(Some)
    }

    fn read_bitmap(&self, at: Addr, words: u64) -> Result<PtrMask, TypeError> {
        let len = words.div_ceil(8);
        Ok(match self.mem.slice(at, len) {
            Some(bytes) => PtrMask::from_bytes(bytes, words),
            None => PtrMask::from_bytes(&self.mem.read_vec(at, len, MAX_MASK_WORDS / 8)?, words),
        })
    }

    /// Build the mask of an on-demand array or struct from its element or
    /// field masks, as `runtime/type.go:buildGCMask` does.
    fn build_mask(&self, t: &RType, words: u64, depth: u32) -> Result<PtrMask, TypeError> {
        let bad = |why| TypeError::BadMask { addr: t.addr, why };
        // The mask is allocated once the type's claims are checked.
        let mut mask;
        match &t.detail {
            KindDetail::Array { elem, len } => {
                let e = self.get(*elem)?;
                if e.ptr_bytes == 0 || e.size % 8 != 0 {
                    return Err(bad("array element without pointers or unaligned"));
                }
                if e.size.checked_mul(*len) != Some(t.size) {
                    return Err(bad("array size is not len × element size"));
                }
                let em = self.gc_mask_at(*elem, depth + 1)?;
                let stride = e.size / 8;
                // Checked up front so the loop below is bounded by `words`.
                let last = len.saturating_sub(1) * stride;
                if last.checked_add(em.words).is_none_or(|end| end > words) {
                    return Err(bad("array elements overrun PtrBytes"));
                }
                mask = PtrMask::zeroed(words);
                for i in 0..*len {
                    mask.or_at(i * stride, &em);
                }
            }
            KindDetail::Struct { fields } => {
                // Pointerful fields must lie inside PtrBytes.
                for f in fields {
                    let ft = self.get(f.typ)?;
                    if ft.ptr_bytes > 0
                        && (f.offset % 8 != 0
                            || f.offset
                                .checked_add(ft.ptr_bytes)
                                .is_none_or(|e| e > words * 8))
                    {
                        return Err(bad("pointerful field misaligned or past PtrBytes"));
                    }
                }
                mask = PtrMask::zeroed(words);
                for f in fields {
                    let ft = self.get(f.typ)?;
                    if ft.ptr_bytes == 0 {
                        continue;
                    }
                    if f.offset % 8 != 0 || f.offset.checked_add(ft.size).is_none_or(|e| e > t.size)
                    {
                        return Err(bad("pointerful field misaligned or past the end"));
                    }
                    let fm = self.gc_mask_at(f.typ, depth + 1)?;
                    if !mask.or_at(f.offset / 8, &fm) {
                        return Err(bad("field pointers overrun PtrBytes"));
                    }
                }
            }
            _ => {
                return Err(bad(
                    "on-demand mask on a type that is not an array or struct",
                ))
            }
        }
        Ok(mask)
    }

    /// Run the GC program (`uint32` length + program) at `prog` into a mask
    /// of `words` words. Instructions: `0x00` end; `0x01..=0x7f` n literal
    /// bits in ⌈n/8⌉ bytes; `0x80|n` (n = 0: varint follows) then a varint
    /// count c: repeat the previous n bits c times.
    fn run_program(&self, owner: Addr, prog: Addr, words: u64) -> Result<PtrMask, TypeError> {
        let bad = |why| TypeError::BadMask { addr: owner, why };
        let len = u64::from(self.mem.read_u32(prog)?);
        let code = self.mem.read_vec(prog + 4, len, MAX_PROGRAM_BYTES)?;
        let mut mask = PtrMask::zeroed(words);
        let mut bytes = code.iter().copied();
        let mut next = || bytes.next().ok_or(bad("GC program runs past its length"));
        // Bits emitted so far; bits past `words` are dropped (they would
        // describe scalars past PtrBytes).
        let mut n = 0u64;
        while n < words {
            let inst = next()?;
            let cnt = u64::from(inst & 0x7f);
            if inst & 0x80 == 0 {
                if cnt == 0 {
                    return Ok(mask);
                }
                let mut byte = 0;
                for i in 0..cnt {
                    if i % 8 == 0 {
                        byte = next()?;
                    }
                    if byte >> (i % 8) & 1 != 0 && n < words {
                        mask.set(n);
                    }
                    n += 1;
                }
                continue;
            }
            let rep = if cnt == 0 {
                varint(owner, &mut next)?
            } else {
                cnt
            };
            let times = varint(owner, &mut next)?;
            if rep == 0 || rep > n {
                return Err(bad("GC program repeats more bits than it wrote"));
            }
            let total = rep
                .checked_mul(times)
                .ok_or(bad("GC program repeat overflows"))?;
            let end = n.saturating_add(total).min(words);
            for p in n..end {
                if mask.is_ptr(p - rep) {
                    mask.set(p);
                }
            }
            n = n.saturating_add(total);
        }
        Ok(mask)
    }
}

fn mask_words(t: &RType) -> Result<u64, TypeError> {
    let words = t.ptr_bytes / 8;
    if words > MAX_MASK_WORDS {
        return Err(TypeError::BadMask {
            addr: t.addr,
            why: "pointer mask too large",
        });
    }
    Ok(words)
}

fn varint(owner: Addr, next: &mut impl FnMut() -> Result<u8, TypeError>) -> Result<u64, TypeError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = next()?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(TypeError::BadMask {
        addr: owner,
        why: "GC program varint too long",
    })
}
