//! Where values of a type keep pointers, what each points to and how to name
//! it: the per-type layout used to type heap objects by propagation
//! (`x.byID` is a map → walk it as that map type; `x.order[42]` is a `*T` →
//! the target object is a `T`).
//!
//! Layouts are flattened through nested structs and arrays. Short arrays are
//! expanded (`.a[0]`, `.a[1]`, ...); long ones keep one entry per element
//! field with a [`Repeat`], so a `[1<<20]*T` costs one entry, not a million.

use std::fmt;
use std::sync::Arc;

use super::{cached, Kind, KindDetail, TypeError, TypeReader, MAX_DEPTH};
use crate::Addr;

/// Arrays up to this length are expanded element by element...
const EXPAND_MAX_LEN: u64 = 64;
/// ...unless that would produce more than this many entries.
const EXPAND_MAX_ENTRIES: u64 = 1024;
/// Layouts longer than this are rejected (it takes 2^16 distinct
/// pointer-holding fields, far beyond any real type).
const MAX_PTR_FIELDS: usize = 1 << 16;
/// Bound on the bytes of the paths of one type's layout (field names of up
/// to 64 KiB nest: the entry count alone does not bound the memory).
const MAX_PATH_BYTES: usize = 1 << 22;

/// What a pointer slot points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldTarget {
    /// `*T`: a value of type `elem` (descriptor address).
    Ptr(Addr),
    /// Slice data pointer: the backing array of `elem`s (`[cap]elem`).
    SliceData(Addr),
    /// String data pointer: `[len]byte`.
    StringData,
    /// Data word of an empty interface; its type word is at `offset - 8`.
    IfaceData,
    /// Data word of a non-empty interface; its itab word is at `offset - 8`.
    ItabData,
    /// A map value (pointer to `hmap` / `maps.Map`) of the map type at this address.
    Map(Addr),
    /// A channel (pointer to `hchan`) of the chan type at this address.
    Chan(Addr),
    /// A func value: pointer to a closure `funcval`.
    Func,
    /// `unsafe.Pointer`: the target type is not known from the type alone.
    Unknown,
}

/// A field inside an array that was not expanded: it occurs `count` times,
/// `stride` bytes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repeat {
    pub stride: u64,
    pub count: u64,
}

/// The Go-syntax path of a pointer slot within its value (`.byID`,
/// `.order[42]`, `.a.b`; empty for the value itself). Stored as literal parts
/// around the indices of the [`Repeat`]s of its [`PtrField`], outermost
/// first; `Display` shows those indices as `[*]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    parts: Box<[Box<str>]>,
}

impl FieldPath {
    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    fn root() -> FieldPath {
        FieldPath {
            parts: Box::new([Box::from("")]),
        }
    }

    /// This path inside a field or element named by `prefix`.
    fn prefixed(&self, prefix: &str) -> FieldPath {
        let mut parts = self.parts.to_vec();
        if let Some(first) = parts.first_mut() {
            *first = format!("{prefix}{first}").into_boxed_str();
        }
        FieldPath {
            parts: parts.into_boxed_slice(),
        }
    }

    /// This path inside a repeated array element (a new outermost index).
    fn indexed(&self) -> FieldPath {
        let mut parts = Vec::with_capacity(self.parts.len() + 1);
        parts.push(Box::from(""));
        parts.extend(self.parts.iter().cloned());
        FieldPath {
            parts: parts.into_boxed_slice(),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str("[*]")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}

/// One pointer slot (or a family of them, with `repeats`) of a type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PtrField {
    /// Byte offset of the first occurrence (all repeat indices 0).
    pub offset: u64,
    pub target: FieldTarget,
    /// Enclosing unexpanded arrays, outermost first; empty for a single slot.
    pub repeats: Box<[Repeat]>,
    pub path: FieldPath,
}

impl PtrField {
    fn leaf(offset: u64, target: FieldTarget) -> PtrField {
        PtrField {
            offset,
            target,
            repeats: Box::new([]),
            path: FieldPath::root(),
        }
    }

    /// How many slots this entry stands for.
    pub fn occurrences(&self) -> u64 {
        self.repeats
            .iter()
            .fold(1u64, |n, r| n.saturating_mul(r.count))
    }

    /// Byte offset of occurrence `k` (`k < occurrences()`; the last repeat
    /// index varies fastest, so offsets ascend with `k` within one entry).
    pub fn offset_of(&self, k: u64) -> u64 {
        let mut rest = k;
        let mut off = self.offset;
        for r in self.repeats.iter().rev() {
            off = off.wrapping_add((rest % r.count.max(1)).wrapping_mul(r.stride));
            rest /= r.count.max(1);
        }
        off
    }

    /// Byte offsets of all occurrences.
    pub fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.occurrences()).map(|k| self.offset_of(k))
    }

    /// The occurrence at byte offset `off`, if this entry has one there.
    pub fn occurrence_at(&self, off: u64) -> Option<u64> {
        let mut rest = off.checked_sub(self.offset)?;
        let mut k = 0u64;
        for r in self.repeats.iter() {
            let i = rest.checked_div(r.stride).unwrap_or(0);
            if i >= r.count {
                return None;
            }
            rest -= i * r.stride;
            k = k * r.count + i;
        }
        (rest == 0).then_some(k)
    }

    /// The path of occurrence `k`, e.g. `.order[42].next`.
    pub fn path_of(&self, k: u64) -> impl fmt::Display + '_ {
        PathOf { field: self, k }
    }
}

struct PathOf<'a> {
    field: &'a PtrField,
    k: u64,
}

impl fmt::Display for PathOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reps = &self.field.repeats;
        for (i, part) in self.field.path.parts.iter().enumerate() {
            if let Some(r) = i.checked_sub(1).and_then(|j| reps.get(j).map(|r| (j, r))) {
                let (j, r) = r;
                let inner: u64 = reps[j + 1..]
                    .iter()
                    .fold(1u64, |n, r| n.saturating_mul(r.count));
                write!(f, "[{}]", (self.k / inner) % r.count.max(1))?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// Total bytes of the paths of a layout.
fn paths_len(fields: &[PtrField]) -> usize {
    fields.iter().map(|f| f.path.len()).sum()
}

impl TypeReader<'_> {
    /// The pointer slots of a value of type `t`, ascending by first offset
    /// (cached). Their offsets are exactly the set bits of [`Self::gc_mask`].
    pub fn pointer_fields(&self, t: Addr) -> Result<Arc<[PtrField]>, TypeError> {
        self.fields_at(t, 0)
    }

    fn fields_at(&self, addr: Addr, depth: u32) -> Result<Arc<[PtrField]>, TypeError> {
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep {
                addr,
                max: MAX_DEPTH,
            });
        }
        cached(&self.fields, addr, || {
            let mut out = self.compute_fields(addr, depth)?;
            out.sort_by_key(|f| f.offset);
            Ok(Arc::from(out))
        })
    }

    fn compute_fields(&self, addr: Addr, depth: u32) -> Result<Vec<PtrField>, TypeError> {
        let t = self.get(addr)?;
        let bad = |why| TypeError::implausible(addr, why);
        if t.ptr_bytes == 0 {
            return Ok(Vec::new());
        }
        let leaf = |off, target| Ok(vec![PtrField::leaf(off, target)]);
        let mut out = Vec::new();
        // Bytes of the paths in `out`, checked before they are built.
        let mut path_bytes = 0usize;
        match &t.detail {
            KindDetail::Ptr { elem } => return leaf(0, FieldTarget::Ptr(*elem)),
            KindDetail::Slice { elem } => return leaf(0, FieldTarget::SliceData(*elem)),
            KindDetail::Map(_) => return leaf(0, FieldTarget::Map(addr)),
            KindDetail::Chan { .. } => return leaf(0, FieldTarget::Chan(addr)),
            KindDetail::Func { .. } => return leaf(0, FieldTarget::Func),
            KindDetail::Interface { methods: 0 } => return leaf(8, FieldTarget::IfaceData),
            KindDetail::Interface { .. } => return leaf(8, FieldTarget::ItabData),
            KindDetail::Struct { fields } => {
                for f in fields {
                    let ft = self.get(f.typ)?;
                    if ft.ptr_bytes == 0 {
                        continue;
                    }
                    if f.offset.checked_add(ft.size).is_none_or(|e| e > t.size) {
                        return Err(bad("struct field past the end"));
                    }
                    let prefix = format!(".{}", f.name);
                    let sub = self.fields_at(f.typ, depth + 1)?;
                    path_bytes += paths_len(&sub) + prefix.len() * sub.len();
                    if path_bytes > MAX_PATH_BYTES {
                        return Err(bad("pointer field paths too long"));
                    }
                    for sf in sub.iter() {
                        out.push(PtrField {
                            offset: sf.offset + f.offset,
                            target: sf.target,
                            repeats: sf.repeats.clone(),
                            path: sf.path.prefixed(&prefix),
                        });
                    }
                    if out.len() > MAX_PTR_FIELDS {
                        return Err(bad("too many pointer fields"));
                    }
                }
            }
            KindDetail::Array { elem, len } => {
                let e = self.get(*elem)?;
                if e.size.checked_mul(*len) != Some(t.size) {
                    return Err(bad("array size is not len × element size"));
                }
                let sub = self.fields_at(*elem, depth + 1)?;
                let n = sub.len() as u64;
                if *len <= EXPAND_MAX_LEN && len * n <= EXPAND_MAX_ENTRIES {
                    // Each copy adds at most "[63]" to every path.
                    path_bytes += (paths_len(&sub) + 4 * sub.len()) * *len as usize;
                    if path_bytes > MAX_PATH_BYTES {
                        return Err(bad("pointer field paths too long"));
                    }
                    for i in 0..*len {
                        let prefix = format!("[{i}]");
                        out.extend(sub.iter().map(|sf| PtrField {
                            offset: sf.offset + i * e.size,
                            target: sf.target,
                            repeats: sf.repeats.clone(),
                            path: sf.path.prefixed(&prefix),
                        }));
                    }
                } else {
                    out.extend(sub.iter().map(|sf| {
                        let mut repeats = Vec::with_capacity(sf.repeats.len() + 1);
                        repeats.push(Repeat {
                            stride: e.size,
                            count: *len,
                        });
                        repeats.extend_from_slice(&sf.repeats);
                        PtrField {
                            offset: sf.offset,
                            target: sf.target,
                            repeats: repeats.into_boxed_slice(),
                            path: sf.path.indexed(),
                        }
                    }));
                }
            }
            KindDetail::None if t.kind == Kind::String => return leaf(0, FieldTarget::StringData),
            KindDetail::None if t.kind == Kind::UnsafePointer => {
                return leaf(0, FieldTarget::Unknown)
            }
            KindDetail::None => return Err(bad("scalar kind with pointers")),
        }
        if out.len() > MAX_PTR_FIELDS {
            return Err(bad("too many pointer fields"));
        }
        Ok(out)
    }
}
