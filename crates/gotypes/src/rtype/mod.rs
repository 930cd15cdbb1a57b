//! Decoding the runtime's type descriptors (`internal/abi.Type` and its
//! kind-specific extensions) straight from the target's memory.
//!
//! This module owns:
//! * [`AbiFlavor`]: the per-release differences in the descriptor encoding
//!   (where the direct-interface bit lives, GC programs, on-demand GC masks,
//!   the map type layout), chosen once from the Go version;
//! * [`TypeReader`]: decodes and caches [`RType`]s by address, rejecting
//!   implausible descriptors so that a random word is never trusted as a type;
//! * pointer bitmaps of a type ([`PtrMask`], in `gcmask`) in every encoding
//!   the runtime uses (bitmap, GC program, on-demand mask).
//!
//! Layouts are for 64-bit little-endian targets and are identical in Go
//! 1.21–1.27 except where [`AbiFlavor`] says otherwise (see
//! `go-runtime-types-roots.md` §3 and the `internal/abi` sources).

mod decode;
mod gcmask;
#[cfg(test)]
mod tests;

use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::{Addr, MemError, Memory};

pub use gcmask::PtrMask;

/// How maps are laid out in a given build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapLayout {
    /// `hmap` + buckets: Go ≤1.23, and 1.24–1.25 built with `noswissmap`
    /// (88-byte map type).
    Old,
    /// Swiss tables with interleaved slots: Go 1.24–1.26 (112-byte map type).
    Swiss,
    /// Swiss tables whose map type carries `KeysOff/KeyStride/ElemsOff/ElemStride`:
    /// Go 1.27 (136-byte map type), with or without `mapsplitgroup`.
    Swiss127,
}

/// The per-release differences in the type descriptor encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiFlavor {
    /// 1.26+: `TFlagDirectIface = 0x20` in `TFlag`; ≤1.25: `KindDirectIface = 0x20` in `Kind_`.
    pub direct_iface_in_tflag: bool,
    /// ≤1.23: `Kind_ & 0x40` means `GCData` is a GC program (4-byte length + program).
    pub gcprog_kind_bit: bool,
    /// 1.24+: `TFlag & 0x10` means `GCData` is a `**byte` (a `.noptrbss` slot
    /// holding the built mask, or nil until the runtime builds it).
    pub gcmask_on_demand: bool,
    pub map_layout: MapLayout,
}

impl AbiFlavor {
    /// The flavor of Go `1.<minor>` built with the given `GOEXPERIMENT`s
    /// (as recorded in the build info, e.g. `["noswissmap"]`).
    pub fn for_version(minor: u32, experiments: &[String]) -> AbiFlavor {
        let noswiss = experiments.iter().any(|e| e == "noswissmap");
        let map_layout = match minor {
            ..=23 => MapLayout::Old,
            24 | 25 if noswiss => MapLayout::Old,
            24..=26 => MapLayout::Swiss,
            _ => MapLayout::Swiss127,
        };
        AbiFlavor {
            direct_iface_in_tflag: minor >= 26,
            gcprog_kind_bit: minor <= 23,
            gcmask_on_demand: minor >= 24,
            map_layout,
        }
    }
}

/// `abi.Kind` (the low 5 bits of `Kind_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Bool = 1,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Uintptr,
    Float32,
    Float64,
    Complex64,
    Complex128,
    Array,
    Chan,
    Func,
    Interface,
    Map,
    Pointer,
    Slice,
    String,
    Struct,
    UnsafePointer,
}

impl Kind {
    const ALL: [Kind; 26] = [
        Kind::Bool,
        Kind::Int,
        Kind::Int8,
        Kind::Int16,
        Kind::Int32,
        Kind::Int64,
        Kind::Uint,
        Kind::Uint8,
        Kind::Uint16,
        Kind::Uint32,
        Kind::Uint64,
        Kind::Uintptr,
        Kind::Float32,
        Kind::Float64,
        Kind::Complex64,
        Kind::Complex128,
        Kind::Array,
        Kind::Chan,
        Kind::Func,
        Kind::Interface,
        Kind::Map,
        Kind::Pointer,
        Kind::Slice,
        Kind::String,
        Kind::Struct,
        Kind::UnsafePointer,
    ];

    /// The kind numbered `k` (1..=26), `None` for `Invalid` (0) or out of range.
    pub fn from_u8(k: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(k).checked_sub(1)?).copied()
    }

    /// `(size, ptr_bytes)` every type of this kind has, `None` for arrays and
    /// structs. Used to reject random memory posing as a descriptor.
    fn fixed_layout(self) -> Option<(u64, u64)> {
        use Kind::*;
        Some(match self {
            Bool | Int8 | Uint8 => (1, 0),
            Int16 | Uint16 => (2, 0),
            Int32 | Uint32 | Float32 => (4, 0),
            Int | Int64 | Uint | Uint64 | Uintptr | Float64 | Complex64 => (8, 0),
            Complex128 => (16, 0),
            Chan | Func | Map | Pointer | UnsafePointer => (8, 8),
            Slice => (24, 8),
            String => (16, 8),
            Interface => (16, 16),
            Array | Struct => return None,
        })
    }
}

/// Where a type's GC pointer bitmap comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcData {
    /// No pointers (`PtrBytes == 0`).
    None,
    /// `GCData` is a bitmap, one bit per word over `PtrBytes/8` words.
    Bitmap(Addr),
    /// ≤1.23 `KindGCProg`: `GCData` is a 4-byte length followed by a GC program.
    Program(Addr),
    /// 1.24+ `TFlagGCMaskOnDemand`: `GCData` is the address of a slot holding
    /// the built bitmap, or nil if the runtime never built it.
    OnDemand(Addr),
}

/// A decoded `abi.Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RType {
    pub addr: Addr,
    pub size: u64,
    pub ptr_bytes: u64,
    pub kind: Kind,
    pub tflag: u8,
    /// The value is stored in an interface's data word itself.
    pub direct_iface: bool,
    /// The type string exactly as `%T` prints it (`*main.Node`, `map[int]*main.Session`).
    pub name: String,
    /// Import path of a named type (`UncommonType.PkgPath`), or of the
    /// package that declared an unnamed struct's unexported fields.
    pub pkg_path: Option<String>,
    pub gc_data: GcData,
    pub detail: KindDetail,
}

/// Kind-specific part of a descriptor. Element types are addresses: decode
/// them with [`TypeReader::get`] when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindDetail {
    None,
    Ptr {
        elem: Addr,
    },
    Slice {
        elem: Addr,
    },
    Array {
        elem: Addr,
        len: u64,
    },
    /// `dir`: 1 receive-only, 2 send-only, 3 both.
    Chan {
        elem: Addr,
        dir: u8,
    },
    Map(MapInfo),
    Struct {
        fields: Vec<StructField>,
    },
    /// `methods == 0`: empty interface (eface, type word first); otherwise an
    /// iface (itab word first).
    Interface {
        methods: usize,
    },
    Func {
        ins: Vec<Addr>,
        outs: Vec<Addr>,
        variadic: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField {
    pub name: String,
    pub typ: Addr,
    pub offset: u64,
    pub embedded: bool,
}

/// A map type. Whatever the layout, key `i` of a bucket/group at `g` is at
/// `g + keys_off + i*key_stride` and its element at `g + elems_off +
/// i*elem_stride` (holding a pointer to the key/elem when `indirect_*`); the
/// layout-specific fields are kept for walkers that need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    pub key: Addr,
    pub elem: Addr,
    pub layout: MapLayout,
    /// Old: the bucket type, slot sizes and bucket size (0 otherwise).
    pub bucket: Addr,
    pub key_size: u8,
    pub value_size: u8,
    pub bucket_size: u16,
    /// Swiss: the group type and sizes (0 for Old). `slot_size` is 0 in 1.27,
    /// whose groups may be split (`mapsplitgroup`).
    pub group: Addr,
    pub group_size: u64,
    pub slot_size: u64,
    pub elem_off: u64,
    pub keys_off: u64,
    pub key_stride: u64,
    pub elems_off: u64,
    pub elem_stride: u64,
    pub indirect_key: bool,
    pub indirect_elem: bool,
}

/// Why a descriptor could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    #[error(transparent)]
    Mem(#[from] MemError),
    #[error("no plausible type descriptor at {addr}: {why}")]
    Implausible { addr: Addr, why: &'static str },
    #[error("bad name at {addr}: {why}")]
    BadName { addr: Addr, why: &'static str },
    #[error("pointer mask of type {addr}: {why}")]
    BadMask { addr: Addr, why: &'static str },
    #[error("type {addr} nests deeper than {max} levels")]
    TooDeep { addr: Addr, max: u32 },
}

impl TypeError {
    fn implausible(addr: Addr, why: &'static str) -> TypeError {
        TypeError::Implausible { addr, why }
    }
}

/// Nesting limit for walks through element and field types. Go guarantees
/// far less (the runtime's own buildGCMask recursion is ≤64 deep), so hitting
/// it means a cycle in corrupted memory.
const MAX_DEPTH: u32 = 128;

/// Addresses hash with Fx: the cache is read for every interface and header
/// type the analysis meets.
type Cache<T> = RwLock<FxHashMap<Addr, Result<Arc<T>, TypeError>>>;

/// Decodes type descriptors of one module, caching every result (including
/// failures) by address. `Sync`: share it between marking threads.
pub struct TypeReader<'m> {
    mem: &'m dyn Memory,
    /// `moduledata.types`: base of `NameOff`s.
    types_base: Addr,
    /// `moduledata.etypes`: type names must lie below it.
    types_end: Addr,
    flavor: AbiFlavor,
    types: Cache<RType>,
    masks: Cache<PtrMask>,
    /// Words of the masks built so far (see `gcmask::MAX_TOTAL_MASK_WORDS`).
    mask_words: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for TypeReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeReader")
            .field("types_base", &self.types_base)
            .field("types_end", &self.types_end)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl<'m> TypeReader<'m> {
    pub fn new(mem: &'m dyn Memory, types_base: Addr, types_end: Addr, flavor: AbiFlavor) -> Self {
        TypeReader {
            mem,
            types_base,
            types_end,
            flavor,
            types: RwLock::default(),
            masks: RwLock::default(),
            mask_words: Default::default(),
        }
    }

    pub fn flavor(&self) -> AbiFlavor {
        self.flavor
    }

    /// Decode the descriptor at `addr` (cached). Fails for anything that does
    /// not look like a descriptor of this module: bad kind, sizes that do not
    /// fit the kind, or a name outside `[types, etypes)`.
    pub fn get(&self, addr: Addr) -> Result<Arc<RType>, TypeError> {
        cached(&self.types, addr, || self.decode(addr).map(Arc::new))
    }

    /// `itab.Type` (offset 8; `runtime.itab` ≤1.22 and `abi.ITab` 1.23+ share
    /// the layout).
    pub fn itab_type(&self, itab: Addr) -> Result<Addr, TypeError> {
        let t = self.mem.read_ptr(itab + 8)?;
        if t.is_null() {
            return Err(TypeError::implausible(itab, "itab with nil type"));
        }
        Ok(t)
    }

    /// The dynamic type named by `word`, the first word of what may be an
    /// interface value whose static type is unknown (a root of a binary
    /// without DWARF): a descriptor of this module (`any`), or an itab
    /// (a non-empty interface). `None` unless it plausibly is one: the
    /// descriptor must lie in `[types, etypes)`; an itab's `Inter` must be an
    /// interface type and its `Hash` equal to its `Type`'s.
    pub fn iface_dynamic_type(&self, word: Addr) -> Option<Addr> {
        // An itab first: static itabs may lie inside the type section, and
        // its check (hash) is the stronger one.
        self.itab_dynamic_type(word).or_else(|| {
            let in_types = self.types_base <= word && word < self.types_end;
            in_types
                .then(|| self.get(word).ok().map(|t| t.addr))
                .flatten()
        })
    }

    fn itab_dynamic_type(&self, itab: Addr) -> Option<Addr> {
        let in_types = |a: Addr| self.types_base <= a && a < self.types_end;
        let inter = self.mem.read_ptr(itab).ok()?;
        let t = self.itab_type(itab).ok()?;
        if !in_types(inter) || !in_types(t) {
            return None;
        }
        if self.get(inter).ok()?.kind != Kind::Interface {
            return None;
        }
        self.get(t).ok()?;
        // abi.Type.Hash and abi.ITab.Hash: both at offset 16, in 1.21–1.27.
        let hash = self.mem.read_u32(t + 16).ok()?;
        (self.mem.read_u32(itab + 16).ok()? == hash).then_some(t)
    }
}

/// Look `addr` up in `cache`, computing and storing it on a miss. The lock is
/// not held while computing, so computations may recurse into the cache;
/// two threads may race to compute the same entry, which is harmless.
fn cached<T: ?Sized>(
    cache: &Cache<T>,
    addr: Addr,
    compute: impl FnOnce() -> Result<Arc<T>, TypeError>,
) -> Result<Arc<T>, TypeError> {
    // A poisoned lock only means another thread panicked mid-insert; the map
    // itself is still consistent.
    if let Some(hit) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&addr) {
        return hit.clone();
    }
    let result = compute();
    // Depth failures depend on where the walk started, not on the entry.
    if matches!(result, Err(TypeError::TooDeep { .. })) {
        return result;
    }
    cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(addr)
        .or_insert(result)
        .clone()
}
