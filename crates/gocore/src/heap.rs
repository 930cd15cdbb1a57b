//! The Go heap as the allocator left it: spans, allocated slots and the
//! pointer/scalar metadata of every object.
//!
//! This module owns the per-version *behaviour* of the heap (where pointer
//! bits live, whether objects carry a malloc header, Green Tea's inline mark
//! bits); struct *layouts* come from DWARF through [`HeapLayout`]. The choice
//! is made once, in [`PtrMetadata`], when the heap is loaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use gograph::Ascending;
use gotypes::rtype::{PtrMask, TypeReader};
use gotypes::{Addr, Memory};
use rayon::prelude::*;

use crate::error::Error;

/// Size of a heap page (`runtime.pageSize`), the same in Go 1.21–1.27.
pub const PAGE_SIZE: u64 = 8192;
/// Largest object kept in a header-less span with span-end heap bits
/// (`minSizeForMallocHeader`, 1.22+).
const MAX_HEAP_BITS_IN_SPAN: u64 = 512;
/// Size of the `*abi.Type` malloc header (1.22+).
pub const MALLOC_HEADER_SIZE: u64 = 8;
/// Refuse spans claiming more slots than any size class has (`maxObjsPerSpan`).
const MAX_OBJS_PER_SPAN: u64 = 1024;
/// Words of a span's slot bitmap, at most.
const SPAN_WORDS: usize = (MAX_OBJS_PER_SPAN / 64) as usize;
/// Spans per parallel unit when objects are numbered.
const SPAN_GROUP: usize = 256;
/// Refuse absurd `allspans` lengths (2^28 spans of at least a page each
/// would be a 2 TiB heap).
const MAX_SPANS: u64 = 1 << 28;
/// Bound on the pages of all in-use spans: 1 TiB of heap.
const MAX_HEAP_PAGES: u64 = (1 << 40) / PAGE_SIZE;
/// `runtime.mspan` is about 160 bytes; a DWARF size beyond this is corrupt.
const MAX_SPAN_STRUCT: u64 = 1 << 12;
/// Bound on the pointer-mask words cached for all types of one heap
/// (2^31 words describe 16 GiB of distinct pointerful types), so that
/// corrupt malloc headers cannot allocate without limit.
const MAX_CACHED_MASK_WORDS: u64 = 1 << 31;
/// Span pointers read from `allspans` at a time.
const SPAN_BATCH: u64 = 1 << 16;

/// Field offsets of `runtime.mheap`, `runtime.mspan` and `runtime.heapArena`,
/// read from DWARF (see `layout.rs`).
#[derive(Debug, Clone)]
pub struct HeapLayout {
    pub mheap_addr: Addr,
    pub mheap_allspans: u64,
    pub mheap_arenas: u64,
    pub span_size: u64,
    pub span_start_addr: u64,
    pub span_npages: u64,
    pub span_freeindex: (u64, u64),
    pub span_nelems: (u64, u64),
    pub span_alloc_bits: u64,
    pub span_spanclass: u64,
    pub span_state: u64,
    pub span_elemsize: u64,
    pub span_limit: u64,
    pub span_specials: u64,
    pub span_large_type: Option<u64>,
    pub span_is_user_arena_chunk: Option<u64>,
    /// `heapArena.bitmap` (Go 1.21, and 1.22 with `noallocheaders`).
    pub arena_bitmap: Option<u64>,
    pub arena_base_offset: u64,
    pub heap_arena_bytes: u64,
    pub state_in_use: u8,
    pub state_manual: u8,
    /// `mheap_.heapArenas` (1.25+) or `allArenas`: the heap arenas' indices.
    pub mheap_arena_list: Option<u64>,
    /// `mheap_.pages.chunks` and `sizeof(runtime.pallocData)`: the page
    /// allocator's per-chunk allocated and scavenged bitmaps.
    pub page_chunks: Option<(u64, u64)>,
}

/// Pages of the heap arenas by state, from the page allocator.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageUsage {
    pub arenas: u64,
    pub allocated_pages: u64,
    /// Free and still backed by memory.
    pub free_pages: u64,
    /// Free and returned to the OS (scavenged).
    pub released_pages: u64,
}

/// `pallocChunkBytes`: the page allocator tracks 512 pages per chunk.
const PALLOC_CHUNK_BYTES: u64 = 4 << 20;
/// `pallocChunksL2Bits` on 64-bit Linux (48-bit addresses).
const PALLOC_CHUNKS_L2_BITS: u64 = 13;
/// Pages per chunk; each bitmap is 512 bits.
const PALLOC_CHUNK_PAGES: u64 = PALLOC_CHUNK_BYTES / PAGE_SIZE;
/// Bound on the number of arenas read (4 TiB of heap).
const MAX_ARENAS: u64 = 1 << 16;

/// Where the pointer/scalar bits of heap objects live: chosen once per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtrMetadata {
    /// Go 1.21 (and 1.22 `noallocheaders`): one bit per heap word in
    /// `heapArena.bitmap`; no type information in the heap.
    ArenaBitmap { bitmap_offset: u64 },
    /// Go 1.22+: span-end heap bits for objects ≤ 512 B, an `*abi.Type`
    /// malloc header for larger small objects, `mspan.largeType` for large
    /// ones. With Green Tea (1.25 experiment, 1.26+ default) spans of 16–512 B
    /// objects keep 128 B of inline mark bits after the heap bits.
    AllocHeaders { green_tea: bool },
}

impl PtrMetadata {
    /// Whether the objects of span `s` start with a malloc header (Go 1.22+:
    /// pointerful small objects above 512 B).
    fn has_headers(self, s: &Span) -> bool {
        matches!(self, PtrMetadata::AllocHeaders { .. })
            && !s.noscan()
            && !s.is_large()
            && s.elemsize > MAX_HEAP_BITS_IN_SPAN
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanState {
    InUse,
    Manual,
}

/// One in-use or manual span.
#[derive(Debug, Clone)]
pub struct Span {
    pub addr: Addr,
    pub base: Addr,
    pub npages: u64,
    pub elemsize: u64,
    pub nelems: u64,
    pub spanclass: u8,
    pub state: SpanState,
    pub limit: Addr,
    pub specials: Addr,
    pub large_type: Addr,
    pub is_user_arena_chunk: bool,
    pub alloc_bits: Addr,
    /// Slots below `freeindex` are allocated whatever `allocBits` says.
    pub freeindex: u64,
    /// Index of this span's first allocated object in [`Heap::objects`].
    pub first_object: u64,
    pub object_count: u32,
}

impl Span {
    pub fn size_class(&self) -> u8 {
        self.spanclass >> 1
    }
    pub fn noscan(&self) -> bool {
        self.spanclass & 1 == 1
    }
    pub fn end(&self) -> Addr {
        self.base + self.npages * PAGE_SIZE
    }
    pub fn is_large(&self) -> bool {
        self.size_class() == 0
    }
}

/// An object found by address: its id and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub id: ObjId,
    /// Slot address (the malloc header, if any).
    pub slot: Addr,
    /// Where the object's data starts (after the header): its `%p` address.
    pub start: Addr,
    /// End of the slot.
    pub end: Addr,
}

/// Heap arenas are 64 MiB on linux/amd64 (`heapArenaBytes`).
const ARENA_SHIFT: u32 = 26;
const PAGE_SHIFT: u32 = 13;
const PAGES_PER_ARENA: u64 = 1 << (ARENA_SHIFT - PAGE_SHIFT);

/// One page of the page table. For a page of a small-object span whose
/// shape is in [`Heap::shapes`] it holds all that [`Heap::locate`] needs
/// besides that shape (a table of at most 255 entries, always in cache):
/// finding an object then loads one entry of 8 bytes per page instead of
/// an index of 4 bytes and the span's [`SpanKey`], and on large cores
/// those two dependent misses were most of the time spent following
/// pointers. Other spans' pages name their span, whose key is loaded.
#[derive(Debug, Clone, Copy, Default)]
struct PageEntry {
    /// A shaped span's first object id, or its `slot_bits_at` when some of
    /// its slots are free; otherwise the span's index + 1 (0: no span).
    index: u32,
    /// Pages from the span's base to this page (shaped spans).
    back: u16,
    /// The span's shape index + 1 (0: not shaped).
    shape: u8,
    /// Whether some of a shaped span's slots are free.
    partial: bool,
}

/// What [`Heap::locate`] needs of a small-object span besides where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SpanShape {
    elemsize: u32,
    nelems: u16,
    has_headers: bool,
}

/// Heap arenas (by `addr >> ARENA_SHIFT`, sorted) with an entry per page.
type PageTable = Vec<(u64, Box<[PageEntry]>)>;

/// At most this many distinct shapes ([`PageEntry::shape`] is a `u8`).
const MAX_SHAPES: usize = 255;

/// The page table of [`Heap::locate`] and the span shapes its entries use:
/// for each heap arena (by `addr >> ARENA_SHIFT`, sorted), an entry per page.
fn page_table(spans: &[Span], keys: &[SpanKey]) -> (PageTable, Vec<SpanShape>) {
    let mut table: PageTable = Vec::new();
    let mut shapes: Vec<SpanShape> = Vec::new();
    let mut shape_index: HashMap<SpanShape, usize> = HashMap::new();
    for (si, (s, k)) in spans.iter().zip(keys).enumerate() {
        // Shaped: a page-aligned span of several slots whose slot offsets
        // fit u32 and whose pages can name their distance to its base.
        let shape = SpanShape {
            elemsize: u32::try_from(k.elemsize).unwrap_or(0),
            nelems: k.nelems,
            has_headers: k.has_headers,
        };
        let shaped = k.nelems > 1
            && shape.elemsize > 0
            && s.base.0 % PAGE_SIZE == 0
            && s.npages <= u64::from(u16::MAX)
            && u64::from(k.nelems) * k.elemsize <= u64::from(u32::MAX);
        let shape = if !shaped {
            None
        } else if let Some(&i) = shape_index.get(&shape) {
            Some(i)
        } else if shapes.len() < MAX_SHAPES {
            shapes.push(shape);
            shape_index.insert(shape, shapes.len() - 1);
            Some(shapes.len() - 1)
        } else {
            None
        };
        // Every page of the span has this entry, but for `back`.
        let entry = match shape {
            Some(shape) => {
                let partial = k.slot_bits_at != ALL_ALLOCATED;
                PageEntry {
                    index: if partial {
                        k.slot_bits_at
                    } else {
                        k.first_object
                    },
                    back: 0,
                    shape: shape as u8 + 1,
                    partial,
                }
            }
            None => PageEntry {
                index: si as u32 + 1,
                ..PageEntry::default()
            },
        };
        let first_page = s.base.0 >> PAGE_SHIFT;
        let end = s.end().0.div_ceil(1 << PAGE_SHIFT);
        for page in first_page..end {
            let arena = page >> (ARENA_SHIFT - PAGE_SHIFT);
            let i = match table.binary_search_by_key(&arena, |(a, _)| *a) {
                Ok(i) => i,
                Err(i) => {
                    let pages = vec![PageEntry::default(); PAGES_PER_ARENA as usize];
                    table.insert(i, (arena, pages.into_boxed_slice()));
                    i
                }
            };
            let back = if shape.is_some() {
                (page - first_page) as u16
            } else {
                0
            };
            table[i].1[(page & (PAGES_PER_ARENA - 1)) as usize] = PageEntry { back, ..entry };
        }
    }
    (table, shapes)
}

/// What finding an object by address needs of a span without a shape (see
/// [`PageEntry`]), in 32 bytes (two to a cache line): a whole [`Span`]
/// spans two or three lines.
#[derive(Debug, Clone, Copy)]
struct SpanKey {
    base: u64,
    elemsize: u64,
    /// Where the span ends, in pages from `base`.
    pages: u32,
    first_object: u32,
    /// Index of the span's allocation bits in `Heap::slot_bits`, or
    /// [`ALL_ALLOCATED`].
    slot_bits_at: u32,
    /// At most [`MAX_OBJS_PER_SPAN`] (checked when spans are read).
    nelems: u16,
    has_headers: bool,
}

/// `SpanKey::slot_bits_at` of a span whose every slot is allocated.
const ALL_ALLOCATED: u32 = u32::MAX;

/// Dense object id: index into [`Heap::objects`], objects numbered by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjId(pub u32);

impl ObjId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How to find the pointers inside one object.
#[derive(Debug, Clone)]
pub enum ObjPtrs {
    None,
    /// One bit per word, starting at the slot: arena bitmap or span heap bits.
    Bitmap,
    /// Tile `mask` every `elem_size` bytes over `[start, end)`.
    Typed {
        mask: Arc<PtrMask>,
        elem_size: u64,
        start: Addr,
        end: Addr,
    },
}

/// All spans and allocated objects of the heap.
pub struct Heap {
    pub layout: HeapLayout,
    pub meta: PtrMetadata,
    /// In-use (heap) spans, sorted by base address.
    pub spans: Vec<Span>,
    /// Manual spans (goroutine stacks, GC work buffers), sorted by base.
    pub manual_spans: Vec<Span>,
    /// Slot address of every allocated object, ascending.
    pub objects: Ascending,
    /// Index into `spans` of each object's span.
    pub object_span: Vec<u32>,
    /// Which slots are allocated, one bit per slot, for the spans with free
    /// slots (`SpanKey::slot_bits_at`), so that finding an object by address
    /// is a rank query instead of a binary search over `objects`.
    slot_bits: Vec<u64>,
    /// For each word of `slot_bits`, the id of the first object it marks.
    slot_rank: Vec<u32>,
    /// Spans whose metadata could not be read; their objects are skipped.
    pub skipped_spans: u64,
    /// Page table: for each heap arena (by `addr >> ARENA_SHIFT`, sorted),
    /// an entry for each of its pages (see [`PageEntry`]).
    page_table: PageTable,
    /// The shapes of small-object spans that page entries refer to.
    shapes: Vec<SpanShape>,
    /// What [`Heap::locate`] needs of each span without a shape, by index
    /// into `spans`.
    keys: Vec<SpanKey>,
    /// `TFlagGCMaskOnDemand` is in force (Go 1.24+).
    pub on_demand_masks: bool,
    masks: MaskCache,
}

/// Pointer masks of the types found in malloc headers and `largeType`,
/// cached by type address: a heap has few distinct types.
/// A type's pointer mask and its size (the tiling stride).
type TypeMask = (Arc<PtrMask>, u64);

#[derive(Default)]
struct MaskCache {
    map: RwLock<HashMap<Addr, Option<TypeMask>>>,
    /// Mask words cached so far (see [`MAX_CACHED_MASK_WORDS`]).
    words: std::sync::atomic::AtomicU64,
}

/// `abi.TFlag` bit 4: `TFlagUnrolledBitmap` (1.22–1.23 synthetic types) or
/// `TFlagGCMaskOnDemand` (1.24+).
const TFLAG_BIT4: u8 = 1 << 4;
/// Largest plausible pointer mask (a 4 GiB object of pointers).
const MAX_MASK_WORDS: u64 = 1 << 29;

impl MaskCache {
    /// Mask and element size of the type at `typ`. Reads the `abi.Type`
    /// header directly (48 bytes, identical in 1.21–1.27) because the
    /// synthetic types of 1.22–1.23 large objects have no name to decode.
    /// `max_size` is the size of the object the type describes: a type
    /// larger than its object is a corrupt header (and is not cached, as
    /// it may fit another object).
    fn get(
        &self,
        mem: &dyn Memory,
        types: &TypeReader<'_>,
        typ: Addr,
        on_demand: bool,
        max_size: u64,
    ) -> Option<TypeMask> {
        if let Some(v) = self.map.read().ok()?.get(&typ) {
            return v.clone().filter(|(_, size)| *size <= max_size);
        }
        let size = mem.read_u64(typ).ok()?;
        if size > max_size {
            return None;
        }
        let ptr_words = mem.read_u64(typ + 8).ok()? / 8;
        use std::sync::atomic::Ordering::Relaxed;
        if self.words.fetch_add(ptr_words.min(MAX_MASK_WORDS), Relaxed) > MAX_CACHED_MASK_WORDS {
            return None;
        }
        let v = Self::compute(mem, types, typ, on_demand);
        self.map.write().ok()?.insert(typ, v.clone());
        v
    }

    fn compute(
        mem: &dyn Memory,
        types: &TypeReader<'_>,
        typ: Addr,
        on_demand: bool,
    ) -> Option<TypeMask> {
        let size = mem.read_u64(typ).ok()?;
        let ptr_bytes = mem.read_u64(typ + 8).ok()?;
        let tflag = mem.read_u8(typ + 20).ok()?;
        let gcdata = mem.read_ptr(typ + 32).ok()?;
        if size == 0 || ptr_bytes > size || ptr_bytes / 8 > MAX_MASK_WORDS {
            return None;
        }
        let words = ptr_bytes / 8;
        let bitmap = if on_demand && tflag & TFLAG_BIT4 != 0 {
            mem.read_ptr(gcdata).ok()?
        } else {
            gcdata
        };
        if bitmap.is_null() {
            // On-demand mask never built by the runtime: derive it from the
            // type's structure.
            let mask = types.gc_mask(typ).ok()?;
            return Some((mask, size));
        }
        let bytes = mem
            .read_vec(bitmap, words.div_ceil(8), MAX_MASK_WORDS)
            .ok()?;
        let mut bits = vec![0u64; words.div_ceil(64) as usize];
        for (i, b) in bytes.iter().enumerate() {
            bits[i / 8] |= u64::from(*b) << ((i % 8) * 8);
        }
        Some((Arc::new(PtrMask { words, bits }), size))
    }
}

/// The array and length of a slice the runtime keeps (`mheap_.allspans`,
/// `allgs`) at `at`, or why the core's copy is corrupt: unreadable, longer
/// than `max_len`, or longer than its capacity. A capacity that cannot be
/// read does not bound the length.
pub(crate) fn runtime_slice(
    mem: &dyn Memory,
    at: Addr,
    name: &str,
    max_len: u64,
) -> Result<(Addr, u64), Error> {
    let corrupt = |what: String| Error::Corrupt(format!("{name} {what}"));
    let ptr = mem
        .read_ptr(at)
        .map_err(|e| corrupt(format!("cannot be read: {e}")))?;
    let len = mem
        .read_u64(at + 8)
        .map_err(|e| corrupt(format!("cannot be read: {e}")))?;
    let cap = mem.read_u64(at + 16).unwrap_or(u64::MAX);
    if len > max_len {
        return Err(corrupt(format!("has an absurd length {len}")));
    }
    if len > cap {
        return Err(corrupt(format!(
            "has length {len} above its capacity {cap}"
        )));
    }
    Ok((ptr, len))
}

impl Heap {
    /// Read `mheap_.allspans` and enumerate every allocated slot.
    pub fn load(
        mem: &dyn Memory,
        layout: HeapLayout,
        meta: PtrMetadata,
        on_demand_masks: bool,
    ) -> Result<Heap, Error> {
        let allspans = layout.mheap_addr + layout.mheap_allspans;
        let corrupt = |what: String| Error::Corrupt(format!("mheap_.allspans {what}"));
        let (spans_ptr, spans_len) = runtime_slice(mem, allspans, "mheap_.allspans", MAX_SPANS)?;
        if layout.span_size == 0 || layout.span_size > MAX_SPAN_STRUCT {
            return Err(Error::Layout(format!(
                "runtime.mspan is {} bytes",
                layout.span_size
            )));
        }
        let mut raw = vec![0u8; layout.span_size as usize];
        let mut spans = Vec::new();
        let mut manual_spans = Vec::new();
        let mut skipped = 0;
        // Read the span pointers in batches: the length comes from the core
        // and must not size one allocation.
        let mut ptrs = vec![0u8; (SPAN_BATCH * 8) as usize];
        let mut seen = std::collections::HashSet::new();
        for batch in 0..spans_len.div_ceil(SPAN_BATCH) {
            let n = (spans_len - batch * SPAN_BATCH).min(SPAN_BATCH);
            let ptrs = &mut ptrs[..(n * 8) as usize];
            if let Err(e) = mem.read(spans_ptr + batch * SPAN_BATCH * 8, ptrs) {
                if batch == 0 {
                    return Err(corrupt(format!(
                        "({spans_len} spans at {spans_ptr}) cannot be read: {e}"
                    )));
                }
                // The rest of the array is unreadable: keep what was read.
                skipped += spans_len - batch * SPAN_BATCH;
                break;
            }
            for chunk in ptrs.chunks_exact(8) {
                let sp = Addr(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
                // Each span is listed once: a repeated pointer is corrupt
                // (and would multiply the span).
                if sp.is_null() || !seen.insert(sp) || mem.read(sp, &mut raw).is_err() {
                    skipped += 1;
                    continue;
                }
                match decode_span(&layout, sp, &raw) {
                    Some(s) if s.state == SpanState::InUse => spans.push(s),
                    Some(s) => manual_spans.push(s),
                    None => {}
                }
            }
        }
        spans.sort_by_key(|s| s.base);
        manual_spans.sort_by_key(|s| s.base);
        // Drop spans that overlap their predecessor: a corrupt core must not
        // make one address belong to two objects.
        spans.dedup_by(|b, a| b.base < a.end());
        // Bound the heap the spans claim (the page table and every walk
        // over it grow with it): a span past the budget is corrupt.
        let mut pages = 0u64;
        let before = spans.len();
        spans.retain(|s| {
            pages += s.npages;
            pages <= MAX_HEAP_PAGES
        });
        skipped += (before - spans.len()) as u64;

        // Objects span by span, in parallel: each span's allocated slots
        // are counted, the counts give every span its place in the object
        // arrays, and the spans then fill their places.
        let counts: Vec<Option<u32>> = spans
            .par_iter()
            .with_min_len(64)
            .map(|s| {
                let mut words = [0u64; SPAN_WORDS];
                read_slot_bits(mem, s, &mut words)
                    .then(|| words.iter().map(|w| w.count_ones()).sum())
            })
            .collect();
        let mut keys = Vec::with_capacity(spans.len());
        let (mut n_objects, mut n_words) = (0u64, 0usize);
        for (s, count) in spans.iter_mut().zip(&counts) {
            if count.is_none() {
                skipped += 1;
            }
            let count = count.unwrap_or(0);
            s.first_object = n_objects;
            s.object_count = count;
            let mut slot_bits_at = ALL_ALLOCATED;
            if u64::from(count) != s.nelems {
                // At most one word per 64 slots of in-use spans, which are
                // bounded by MAX_HEAP_PAGES: the index fits u32. Ranks are
                // object ids, checked to fit u32 below.
                slot_bits_at = n_words as u32;
                n_words += s.nelems.div_ceil(64) as usize;
            }
            n_objects += u64::from(count);
            keys.push(SpanKey {
                base: s.base.0,
                elemsize: s.elemsize,
                pages: u32::try_from(s.npages).unwrap_or(u32::MAX),
                first_object: s.first_object as u32,
                slot_bits_at,
                nelems: s.nelems as u16,
                has_headers: meta.has_headers(s),
            });
        }
        if n_objects > u64::from(u32::MAX) {
            return Err(Error::Unsupported(format!(
                "{n_objects} objects: more than this build's 32-bit object ids"
            )));
        }
        let mut objects = vec![0u32; n_objects as usize];
        let mut object_span = vec![0u32; n_objects as usize];
        let mut slot_bits = vec![0u64; n_words];
        let mut slot_rank = vec![0u32; n_words];
        // Groups of spans, each with its own part of every array.
        let mut parts = Vec::new();
        let (mut objs, mut owner) = (objects.as_mut_slice(), object_span.as_mut_slice());
        let (mut bits, mut ranks) = (slot_bits.as_mut_slice(), slot_rank.as_mut_slice());
        for (g, group) in spans.chunks(SPAN_GROUP).enumerate() {
            let first = g * SPAN_GROUP;
            let group_keys = &keys[first..first + group.len()];
            let n: usize = group.iter().map(|s| s.object_count as usize).sum();
            let w: usize = (group.iter().zip(group_keys))
                .filter(|(_, k)| k.slot_bits_at != ALL_ALLOCATED)
                .map(|(s, _)| s.nelems.div_ceil(64) as usize)
                .sum();
            let (o, o_rest) = std::mem::take(&mut objs).split_at_mut(n);
            let (p, p_rest) = std::mem::take(&mut owner).split_at_mut(n);
            let (b, b_rest) = std::mem::take(&mut bits).split_at_mut(w);
            let (r, r_rest) = std::mem::take(&mut ranks).split_at_mut(w);
            (objs, owner, bits, ranks) = (o_rest, p_rest, b_rest, r_rest);
            parts.push((first, group, group_keys, o, p, b, r));
        }
        // Each group notes where the slots' high 32 bits change (see
        // `Ascending::from_runs`).
        let runs: Vec<Vec<(usize, u64)>> = parts
            .into_par_iter()
            .map(|(first, group, group_keys, objs, owner, bits, ranks)| {
                let (mut at_obj, mut at_word) = (0, 0);
                let mut runs = Vec::new();
                let first_object = group.first().map_or(0, |s| s.first_object as usize);
                for (i, (s, k)) in group.iter().zip(group_keys).enumerate() {
                    // Read again (the core does not change); unreadable,
                    // the words stay 0 and the span has no objects.
                    let mut words = [0u64; SPAN_WORDS];
                    read_slot_bits(mem, s, &mut words);
                    let nwords = s.nelems.div_ceil(64) as usize;
                    for (w, &word) in words[..nwords].iter().enumerate() {
                        let mut word = word;
                        while word != 0 {
                            let slot = (w * 64) as u64 + u64::from(word.trailing_zeros());
                            let addr = s.base.0 + slot * s.elemsize;
                            if runs.last().is_none_or(|&(_, high)| high != addr >> 32) {
                                runs.push((first_object + at_obj, addr >> 32));
                            }
                            objs[at_obj] = addr as u32;
                            owner[at_obj] = (first + i) as u32;
                            at_obj += 1;
                            word &= word - 1;
                        }
                    }
                    if k.slot_bits_at != ALL_ALLOCATED {
                        let mut rank = s.first_object;
                        for &w in &words[..nwords] {
                            bits[at_word] = w;
                            ranks[at_word] = rank as u32;
                            rank += u64::from(w.count_ones());
                            at_word += 1;
                        }
                    }
                }
                runs
            })
            .collect();
        let objects = Ascending::from_runs(objects, runs.into_iter().flatten());
        let (page_table, shapes) = page_table(&spans, &keys);
        Ok(Heap {
            layout,
            meta,
            spans,
            manual_spans,
            objects,
            object_span,
            slot_bits,
            slot_rank,
            skipped_spans: skipped,
            page_table,
            shapes,
            keys,
            on_demand_masks,
            masks: MaskCache::default(),
        })
    }

    /// Allocated, free and released pages of all heap arenas; `None` when
    /// the page allocator cannot be read.
    pub fn page_usage(&self, mem: &dyn Memory) -> Option<PageUsage> {
        let l = &self.layout;
        let (chunks_off, palloc_size) = l.page_chunks?;
        let arenas = self.arena_bases(mem)?;
        let mut u = PageUsage {
            arenas: arenas.len() as u64,
            ..PageUsage::default()
        };
        let mut bits = [0u8; 128];
        // heapArenaBytes is 64 MiB (16 chunks) on linux/amd64.
        let chunks = (l.heap_arena_bytes / PALLOC_CHUNK_BYTES).min(1 << 10);
        for base in arenas {
            for c in 0..chunks {
                let ci = base.0.wrapping_sub(l.arena_base_offset) / PALLOC_CHUNK_BYTES + c;
                let l2 = mem
                    .read_ptr(l.mheap_addr + chunks_off + (ci >> PALLOC_CHUNKS_L2_BITS) * 8)
                    .ok()?;
                let data = l2 + (ci & ((1 << PALLOC_CHUNKS_L2_BITS) - 1)) * palloc_size;
                if l2.is_null() || mem.read(data, &mut bits).is_err() {
                    u.free_pages += PALLOC_CHUNK_PAGES;
                    continue;
                }
                // pallocData = { pallocBits [8]uint64; scavenged [8]uint64 }.
                for b in 0..64 {
                    let (alloc, scav) = (bits[b], bits[64 + b]);
                    u.allocated_pages += u64::from(alloc.count_ones());
                    u.released_pages += u64::from((!alloc & scav).count_ones());
                    u.free_pages += u64::from((!alloc & !scav).count_ones());
                }
            }
        }
        Some(u)
    }

    /// Base addresses of the heap arenas (`mheap_.heapArenas` / `allArenas`).
    pub fn arena_bases(&self, mem: &dyn Memory) -> Option<Vec<Addr>> {
        let l = &self.layout;
        let list = l.mheap_addr + l.mheap_arena_list?;
        let (ptr, len) = (mem.read_ptr(list).ok()?, mem.read_u64(list + 8).ok()?);
        if len > MAX_ARENAS {
            return None;
        }
        (0..len)
            .map(|i| {
                let idx = mem.read_u64(ptr + i * 8).ok()?;
                Some(Addr(
                    idx.wrapping_mul(l.heap_arena_bytes)
                        .wrapping_add(l.arena_base_offset),
                ))
            })
            .collect()
    }

    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    pub fn span_of_object(&self, id: ObjId) -> &Span {
        &self.spans[self.object_span[id.index()] as usize]
    }

    /// Slot address of an object (where its malloc header is, if any).
    pub fn slot(&self, id: ObjId) -> Addr {
        Addr(self.objects.get(id.index()))
    }

    /// Bytes the object occupies in the heap (its slot size).
    pub fn size(&self, id: ObjId) -> u64 {
        self.span_of_object(id).elemsize
    }

    /// Whether the object starts with a malloc header (Go 1.22+, scan objects
    /// of small size classes above 512 B).
    pub fn has_header(&self, id: ObjId) -> bool {
        self.span_has_headers(self.span_of_object(id))
    }

    /// Whether the objects of span `s` start with a malloc header.
    pub fn span_has_headers(&self, s: &Span) -> bool {
        self.meta.has_headers(s)
    }

    /// The address Go code would print for the object with `%p`.
    pub fn user_addr(&self, id: ObjId) -> Addr {
        let slot = self.slot(id);
        if self.has_header(id) {
            slot + MALLOC_HEADER_SIZE
        } else {
            slot
        }
    }

    /// The page-table entry of `addr`, if it lies in a heap arena.
    #[inline]
    fn page_entry(&self, addr: Addr) -> Option<PageEntry> {
        let arena = addr.0 >> ARENA_SHIFT;
        let table = &self.page_table;
        // Arenas are usually contiguous (the runtime grows the heap upward
        // from one hint), so the first guess is the arena's distance from
        // the first one.
        let first = table.first()?.0;
        let i = match arena.checked_sub(first).map(|d| d as usize) {
            Some(d) if table.get(d).is_some_and(|(a, _)| *a == arena) => d,
            _ => table.binary_search_by_key(&arena, |(a, _)| *a).ok()?,
        };
        let page = ((addr.0 >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)) as usize;
        table[i].1.get(page).copied()
    }

    /// The allocated object containing `addr` (any interior address).
    pub fn find_object(&self, addr: Addr) -> Option<ObjId> {
        self.locate(addr).map(|f| f.id)
    }

    /// The allocated object containing `addr` with its bounds, from one
    /// page-table lookup, as the runtime's own `spanOf` (the hot path of
    /// typing and of extracting references).
    #[inline]
    pub fn locate(&self, addr: Addr) -> Option<Found> {
        let e = self.page_entry(addr)?;
        let k = match e.shape.checked_sub(1) {
            // A shaped span: its key, from the page and the shape.
            Some(shape) => {
                let sh = self.shapes.get(shape as usize)?;
                let page = addr.0 >> PAGE_SHIFT << PAGE_SHIFT;
                let (first_object, slot_bits_at) = if e.partial {
                    (0, e.index)
                } else {
                    (e.index, ALL_ALLOCATED)
                };
                SpanKey {
                    base: page - (u64::from(e.back) << PAGE_SHIFT),
                    elemsize: u64::from(sh.elemsize),
                    // The page is the span's by construction.
                    pages: u32::from(e.back) + 1,
                    first_object,
                    slot_bits_at,
                    nelems: sh.nelems,
                    has_headers: sh.has_headers,
                }
            }
            None => {
                let k = *self.keys.get(e.index.checked_sub(1)? as usize)?;
                if (addr.0.checked_sub(k.base)? >> PAGE_SHIFT) >= u64::from(k.pages) {
                    return None;
                }
                k
            }
        };
        let off = addr.0 - k.base;
        // Shaped spans' offsets fit u32, whose division is cheaper.
        let idx = match (u32::try_from(off), u32::try_from(k.elemsize)) {
            (Ok(off), Ok(size)) => u64::from(off / size.max(1)),
            _ => off / k.elemsize.max(1),
        };
        if idx >= u64::from(k.nelems) {
            return None;
        }
        let slot = k.base + idx * k.elemsize;
        let id = if k.slot_bits_at == ALL_ALLOCATED {
            // Every slot is allocated (the common case): no search.
            k.first_object as usize + idx as usize
        } else {
            // The slot's bit, and the allocated slots before it in its word.
            let w = k.slot_bits_at as usize + (idx / 64) as usize;
            let (bits, rank) = (*self.slot_bits.get(w)?, *self.slot_rank.get(w)?);
            let bit = idx % 64;
            if bits >> bit & 1 == 0 {
                return None;
            }
            rank as usize + (bits & ((1u64 << bit) - 1)).count_ones() as usize
        };
        let header = if k.has_headers { MALLOC_HEADER_SIZE } else { 0 };
        Some(Found {
            id: ObjId(id as u32),
            slot: Addr(slot),
            start: Addr(slot + header),
            end: Addr(slot + k.elemsize),
        })
    }

    /// How to find the pointers in an object.
    pub fn pointers_of(&self, mem: &dyn Memory, types: &TypeReader<'_>, id: ObjId) -> ObjPtrs {
        let s = self.span_of_object(id);
        if s.noscan() {
            return ObjPtrs::None;
        }
        let slot = self.slot(id);
        match self.meta {
            PtrMetadata::ArenaBitmap { .. } => ObjPtrs::Bitmap,
            PtrMetadata::AllocHeaders { .. } => {
                if s.elemsize <= MAX_HEAP_BITS_IN_SPAN && !s.is_large() {
                    return ObjPtrs::Bitmap;
                }
                let (typ, start, end) = if s.is_large() {
                    (s.large_type, s.base, s.base + s.elemsize)
                } else {
                    match mem.read_ptr(slot) {
                        Ok(t) => (t, slot + MALLOC_HEADER_SIZE, slot + s.elemsize),
                        Err(_) => return ObjPtrs::None,
                    }
                };
                if typ.is_null() {
                    // A large object whose type is not yet published
                    // (mallocgcLarge zeroes it first): no pointers yet.
                    return ObjPtrs::None;
                }
                let Some((mask, elem_size)) =
                    self.masks
                        .get(mem, types, typ, self.on_demand_masks, end.0 - start.0)
                else {
                    return ObjPtrs::None;
                };
                ObjPtrs::Typed {
                    mask,
                    elem_size,
                    start,
                    end,
                }
            }
        }
    }

    /// Call `f(slot_addr, value)` for every pointer word of the object.
    pub fn for_each_pointer(
        &self,
        mem: &dyn Memory,
        types: &TypeReader<'_>,
        id: ObjId,
        mut f: impl FnMut(Addr, Addr),
    ) {
        let s = self.span_of_object(id);
        let slot = self.slot(id);
        match self.pointers_of(mem, types, id) {
            ObjPtrs::None => {}
            ObjPtrs::Bitmap => {
                let words = s.elemsize / 8;
                // With span heap bits, the rest of the span holds both the
                // object and (at the span's end) its bits: one lookup in
                // the core's mappings when it lies in one, as it nearly
                // always does, instead of one per read.
                let rest = match self.meta {
                    PtrMetadata::AllocHeaders { .. } => {
                        mem.slice(slot, s.end().0.saturating_sub(slot.0))
                    }
                    PtrMetadata::ArenaBitmap { .. } => None,
                };
                let Some(data) = rest
                    .and_then(|r| r.get(..usize::try_from(s.elemsize).ok()?))
                    .or_else(|| mem.slice(slot, s.elemsize))
                else {
                    return;
                };
                match self.meta {
                    PtrMetadata::ArenaBitmap { bitmap_offset } => {
                        let Some(bits) = self.arena_bits(mem, bitmap_offset, slot, words) else {
                            return;
                        };
                        for w in 0..words {
                            if bits[(w / 64) as usize] >> (w % 64) & 1 == 1 {
                                emit(data, slot, w, &mut f);
                            }
                        }
                    }
                    PtrMetadata::AllocHeaders { green_tea } => {
                        // The object's bits lie in at most two bitmap words
                        // (objects with span heap bits are ≤ 512 B).
                        let hb = heap_bits_base(s, green_tea);
                        let first_word = (slot.0 - s.base.0) / 8;
                        let first_bits = first_word / 64;
                        let mut bits = [0u64; 2];
                        for (k, b) in bits.iter_mut().enumerate() {
                            if (first_bits + k as u64) * 64 < first_word + words {
                                let at = hb + (first_bits + k as u64) * 8;
                                let Some(word) =
                                    read_in(rest, slot, at).or_else(|| mem.read_u64(at).ok())
                                else {
                                    return;
                                };
                                *b = word;
                            }
                        }
                        for w in 0..words {
                            let sw = first_word + w - first_bits * 64;
                            if bits
                                .get((sw / 64) as usize)
                                .is_some_and(|b| b >> (sw % 64) & 1 == 1)
                            {
                                emit(data, slot, w, &mut f);
                            }
                        }
                    }
                }
            }
            ObjPtrs::Typed {
                mask,
                elem_size,
                start,
                end,
            } => {
                let len = end.0.saturating_sub(slot.0);
                let Some(data) = mem.slice(slot, len) else {
                    return;
                };
                let mut e = start.0;
                while e < end.0 {
                    for w in mask.iter_ptr_words() {
                        let a = e + 8 * w;
                        if a + 8 > end.0 {
                            break;
                        }
                        emit(data, slot, (a - slot.0) / 8, &mut f);
                    }
                    e += elem_size;
                }
            }
        }
    }

    /// Pointer bits of `words` words at `addr` from the Go 1.21 arena bitmap.
    fn arena_bits(
        &self,
        mem: &dyn Memory,
        bitmap_offset: u64,
        addr: Addr,
        words: u64,
    ) -> Option<Vec<u64>> {
        let l = &self.layout;
        let idx = addr.0.wrapping_sub(l.arena_base_offset) / l.heap_arena_bytes;
        let l2 = mem.read_ptr(l.mheap_addr + l.mheap_arenas).ok()?;
        let arena = mem.read_ptr(l2 + idx * 8).ok()?;
        if arena.is_null() {
            return None;
        }
        let arena_words = l.heap_arena_bytes / 8;
        let mut out = vec![0u64; words.div_ceil(64) as usize];
        let first = (addr.0 / 8) % arena_words;
        for w in 0..words {
            let aw = first + w;
            let bw = mem.read_u64(arena + bitmap_offset + (aw / 64) * 8).ok()?;
            if bw >> (aw % 64) & 1 == 1 {
                out[(w / 64) as usize] |= 1 << (w % 64);
            }
        }
        Some(out)
    }
}

/// Start of the span-end heap bits of a small scan span (Go 1.22+).
fn heap_bits_base(s: &Span, green_tea: bool) -> Addr {
    let span_size = s.npages * PAGE_SIZE;
    let mut base = s.base + span_size - span_size / 64;
    if green_tea && s.elemsize >= 16 {
        // spanInlineMarkBits (128 B) sit after the heap bits.
        base = base - 128;
    }
    base
}

/// The word at `at` from `bytes`, which start at `base`, if it lies there.
pub(crate) fn read_in(bytes: Option<&[u8]>, base: Addr, at: Addr) -> Option<u64> {
    let off = usize::try_from(at.0.checked_sub(base.0)?).ok()?;
    let b = bytes?.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn emit(data: &[u8], slot: Addr, word: u64, f: &mut impl FnMut(Addr, Addr)) {
    let off = (word * 8) as usize;
    if let Some(b) = data.get(off..off + 8) {
        let v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        if v != 0 {
            f(slot + word * 8, Addr(v));
        }
    }
}

fn read_field(raw: &[u8], off: u64, size: u64) -> u64 {
    let off = off as usize;
    let mut b = [0u8; 8];
    let n = (size as usize).min(8);
    if let Some(src) = off.checked_add(n).and_then(|end| raw.get(off..end)) {
        b[..n].copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn decode_span(l: &HeapLayout, addr: Addr, raw: &[u8]) -> Option<Span> {
    let state = read_field(raw, l.span_state, 1) as u8;
    let state = if state == l.state_in_use {
        SpanState::InUse
    } else if state == l.state_manual {
        SpanState::Manual
    } else {
        return None;
    };
    let base = Addr(read_field(raw, l.span_start_addr, 8));
    let npages = read_field(raw, l.span_npages, 8);
    let elemsize = read_field(raw, l.span_elemsize, 8);
    let nelems = read_field(raw, l.span_nelems.0, l.span_nelems.1);
    let spanclass = read_field(raw, l.span_spanclass, 1) as u8;
    if base.is_null() || npages == 0 || npages > (1 << 40) / PAGE_SIZE {
        return None;
    }
    // The span must not wrap around the address space.
    base.0.checked_add(npages * PAGE_SIZE)?;
    if state == SpanState::InUse && (elemsize == 0 || nelems > MAX_OBJS_PER_SPAN || nelems == 0) {
        return None;
    }
    if state == SpanState::InUse && nelems.checked_mul(elemsize)? > npages * PAGE_SIZE {
        return None;
    }
    Some(Span {
        addr,
        base,
        npages,
        elemsize,
        nelems,
        spanclass,
        state,
        limit: Addr(read_field(raw, l.span_limit, 8)),
        specials: Addr(read_field(raw, l.span_specials, 8)),
        large_type: l
            .span_large_type
            // Only scan large spans publish largeType (1.22 leaves stale
            // values in noscan ones).
            .filter(|_| spanclass == 0)
            .map_or(Addr::NULL, |o| Addr(read_field(raw, o, 8))),
        is_user_arena_chunk: l
            .span_is_user_arena_chunk
            .is_some_and(|o| read_field(raw, o, 1) != 0),
        alloc_bits: Addr(read_field(raw, l.span_alloc_bits, 8)),
        freeindex: read_field(raw, l.span_freeindex.0, l.span_freeindex.1),
        first_object: 0,
        object_count: 0,
    })
}

/// The allocated slots of `s` as bits (`i < freeindex || allocBits[i]`)
/// into `words`; false when its `allocBits` cannot be read.
fn read_slot_bits(mem: &dyn Memory, s: &Span, words: &mut [u64; SPAN_WORDS]) -> bool {
    let mut alloc = [0u8; (MAX_OBJS_PER_SPAN / 8) as usize];
    let n = s.nelems.min(MAX_OBJS_PER_SPAN);
    if mem
        .read(s.alloc_bits, &mut alloc[..n.div_ceil(8) as usize])
        .is_err()
    {
        return false;
    }
    for i in 0..n {
        if i < s.freeindex || alloc[(i / 8) as usize] >> (i % 8) & 1 == 1 {
            words[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    true
}
