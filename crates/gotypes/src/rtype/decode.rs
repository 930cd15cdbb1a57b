//! Decoding one descriptor: the 48-byte `abi.Type` header, the kind-specific
//! extension, the `UncommonType` and `abi.Name`s.

use super::{
    GcData, Kind, KindDetail, MapInfo, MapLayout, RType, StructField, TypeError, TypeReader,
};
use crate::{Addr, Memory};

const TFLAG_UNCOMMON: u8 = 0x1;
const TFLAG_EXTRA_STAR: u8 = 0x2;
const TFLAG_NAMED: u8 = 0x4;
const TFLAG_REGULAR_MEMORY: u8 = 0x8;
/// `TFlagGCMaskOnDemand` (1.24+); the same bit is `TFlagUnrolledBitmap` on
/// the runtime's synthetic large-object types in 1.22–1.23.
pub(super) const TFLAG_GCMASK_BIT4: u8 = 0x10;
const TFLAG_DIRECT_IFACE: u8 = 0x20;
const KIND_MASK: u8 = 0x1f;
const KIND_DIRECT_IFACE: u8 = 0x20;
const KIND_GC_PROG: u8 = 0x40;

/// Size of the `abi.Type` header.
const HEADER: usize = 48;
/// Largest kind-specific descriptor (the 1.27 map type).
const MAX_BASE: usize = 136;
/// No Go value is anywhere near this; rejects garbage sizes early.
const MAX_TYPE_SIZE: u64 = 1 << 48;
const MAX_NAME_LEN: u64 = 1 << 16;
const MAX_FIELDS: u64 = 1 << 16;
const MAX_METHODS: u64 = 1 << 16;
const STRUCT_FIELD_SIZE: u64 = 24;
/// Bound on the bytes of all field names of one struct (names may all
/// point at one long name: the count alone does not bound the memory).
const MAX_STRUCT_NAME_BYTES: usize = 1 << 20;
/// `abi.Name` flag bit of embedded struct fields.
const NAME_EMBEDDED: u8 = 1 << 3;

/// The fields of `abi.Type` every consumer needs, before any validation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub size: u64,
    pub ptr_bytes: u64,
    pub tflag: u8,
    align: u8,
    field_align: u8,
    pub kind_raw: u8,
    pub gc_data: Addr,
    str_off: i32,
}

pub(super) fn read_header(mem: &dyn Memory, addr: Addr) -> Result<Header, TypeError> {
    let mut b = [0u8; HEADER];
    mem.read(addr, &mut b)?;
    Ok(Header {
        size: le64(&b, 0),
        ptr_bytes: le64(&b, 8),
        tflag: b[20],
        align: b[21],
        field_align: b[22],
        kind_raw: b[23],
        gc_data: Addr(le64(&b, 32)),
        str_off: le32(&b, 40) as i32,
    })
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

fn le32(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Whether `name` can be the string of a type of `kind`: a qualified name
/// (`main.Node`, `main.Box[int]`, `unsafe.Pointer`), a predeclared name, or
/// a type literal of that kind. Cheap, and it rejects most random words
/// that pass the numeric checks.
fn name_fits_kind(name: &str, kind: Kind) -> bool {
    use Kind::*;
    let literal = match kind {
        Array => name.starts_with('[') && !name.starts_with("[]"),
        Slice => name.starts_with("[]"),
        Chan => {
            name.starts_with("chan ") || name.starts_with("chan<- ") || name.starts_with("<-chan ")
        }
        Func => name.starts_with("func("),
        Interface => name.starts_with("interface {") || name == "error",
        Map => name.starts_with("map["),
        Pointer => name.starts_with('*'),
        Struct => name.starts_with("struct {"),
        Bool => name == "bool",
        Int => name == "int",
        Int8 => name == "int8",
        Int16 => name == "int16",
        Int32 => name == "int32",
        Int64 => name == "int64",
        Uint => name == "uint",
        Uint8 => name == "uint8",
        Uint16 => name == "uint16",
        Uint32 => name == "uint32",
        Uint64 => name == "uint64",
        Uintptr => name == "uintptr",
        Float32 => name == "float32",
        Float64 => name == "float64",
        Complex64 => name == "complex64",
        Complex128 => name == "complex128",
        String => name == "string",
        UnsafePointer => false,
    };
    literal || is_qualified(name)
}

/// A named type's string: a package name, a dot, then the rest before any
/// space or bracket (`main.Node`, `main.Box[int]`, `go.shape.interface {}`).
fn is_qualified(name: &str) -> bool {
    let starts_ident = name
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_alphabetic());
    let head = name.split([' ', '[', '(', '{']).next().unwrap_or("");
    // A dot after the first character and before the last one (by chars:
    // Go identifiers may be non-ASCII, `main.Café`).
    let mut inner = head.chars();
    inner.next();
    inner.next_back();
    starts_ident && inner.as_str().contains('.')
}

/// A decoded `abi.Name`.
struct Name {
    flags: u8,
    text: String,
}

impl TypeReader<'_> {
    /// Size of the kind-specific descriptor, i.e. where `UncommonType` starts.
    fn base_size(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Array => 72,
            Kind::Chan => 64,
            Kind::Func | Kind::Pointer | Kind::Slice => 56,
            Kind::Interface | Kind::Struct => 80,
            Kind::Map => match self.flavor.map_layout {
                MapLayout::Old => 88,
                MapLayout::Swiss => 112,
                MapLayout::Swiss127 => 136,
            },
            _ => HEADER as u64,
        }
    }

    pub(super) fn decode(&self, addr: Addr) -> Result<RType, TypeError> {
        let bad = |why| TypeError::implausible(addr, why);
        if addr.is_null() || !addr.0.is_multiple_of(8) {
            return Err(bad("address is nil or misaligned"));
        }
        let h = read_header(self.mem, addr)?;
        let kind = Kind::from_u8(h.kind_raw & KIND_MASK).ok_or(bad("invalid kind"))?;
        let mut kind_flags = 0;
        let mut tflags = TFLAG_UNCOMMON | TFLAG_EXTRA_STAR | TFLAG_NAMED | TFLAG_REGULAR_MEMORY;
        if self.flavor.direct_iface_in_tflag {
            tflags |= TFLAG_DIRECT_IFACE;
        } else {
            kind_flags |= KIND_DIRECT_IFACE;
        }
        if self.flavor.gcprog_kind_bit {
            kind_flags |= KIND_GC_PROG;
        }
        if self.flavor.gcmask_on_demand {
            tflags |= TFLAG_GCMASK_BIT4;
        }
        if h.kind_raw & !(KIND_MASK | kind_flags) != 0 {
            return Err(bad("unknown Kind_ flag bits"));
        }
        if h.tflag & !tflags != 0 {
            return Err(bad("unknown TFlag bits"));
        }
        if h.size > MAX_TYPE_SIZE || h.ptr_bytes > h.size || h.ptr_bytes % 8 != 0 {
            return Err(bad("size/ptrbytes out of range"));
        }
        if let Some((size, ptr_bytes)) = kind.fixed_layout() {
            // Pointers to not-in-heap types (runtime internals marked
            // sys.NotInHeap) are scalars to the GC: PtrBytes 0.
            let notinheap_ptr = kind == Kind::Pointer && h.ptr_bytes == 0;
            if h.size != size || (h.ptr_bytes != ptr_bytes && !notinheap_ptr) {
                return Err(bad("size/ptrbytes do not match the kind"));
            }
        }
        // amd64: Align_ == FieldAlign_ ∈ {1,2,4,8}, and pointers need 8.
        let align = u64::from(h.align);
        if h.align != h.field_align
            || !matches!(h.align, 1 | 2 | 4 | 8)
            || h.size % align != 0
            || (h.ptr_bytes > 0 && h.align != 8)
        {
            return Err(bad("implausible alignment"));
        }
        let direct_iface = if self.flavor.direct_iface_in_tflag {
            h.tflag & TFLAG_DIRECT_IFACE != 0
        } else {
            h.kind_raw & KIND_DIRECT_IFACE != 0
        };
        let gc_data = if h.ptr_bytes == 0 {
            GcData::None
        } else if h.gc_data.is_null() {
            return Err(bad("pointerful type without GCData"));
        } else if self.flavor.gcprog_kind_bit && h.kind_raw & KIND_GC_PROG != 0 {
            GcData::Program(h.gc_data)
        } else if self.flavor.gcmask_on_demand && h.tflag & TFLAG_GCMASK_BIT4 != 0 {
            GcData::OnDemand(h.gc_data)
        } else {
            GcData::Bitmap(h.gc_data)
        };

        let mut name = self.name_off(addr, h.str_off)?.text;
        if h.tflag & TFLAG_EXTRA_STAR != 0 {
            if !name.starts_with('*') {
                return Err(bad("ExtraStar name without '*'"));
            }
            name.remove(0);
        }
        if !name_fits_kind(&name, kind) {
            return Err(bad("type string does not fit the kind"));
        }

        let mut b = [0u8; MAX_BASE];
        let base = self.base_size(kind);
        let ext = &mut b[..base as usize];
        self.mem.read(addr, ext)?;
        let ext = &*ext;
        let ptr_at = |off: usize| Addr(le64(ext, off));
        let nonnull = |off: usize, why| {
            let p = ptr_at(off);
            if p.is_null() {
                Err(bad(why))
            } else {
                Ok(p)
            }
        };
        let uncommon = (h.tflag & TFLAG_UNCOMMON != 0).then_some(addr + base);

        let mut pkg_path = match uncommon {
            Some(u) => {
                let off = self.mem.read_i32(u)?;
                if off == 0 {
                    None
                } else {
                    Some(self.name_off(addr, off)?.text)
                }
            }
            None => None,
        };

        let detail = match kind {
            Kind::Pointer => KindDetail::Ptr {
                elem: nonnull(48, "pointer without Elem")?,
            },
            Kind::Slice => KindDetail::Slice {
                elem: nonnull(48, "slice without Elem")?,
            },
            Kind::Array => {
                let len = le64(ext, 64);
                if h.size > 0 && len > h.size {
                    return Err(bad("array longer than its size"));
                }
                KindDetail::Array {
                    elem: nonnull(48, "array without Elem")?,
                    len,
                }
            }
            Kind::Chan => {
                let dir = le64(ext, 56);
                if !(1..=3).contains(&dir) {
                    return Err(bad("bad channel direction"));
                }
                KindDetail::Chan {
                    elem: nonnull(48, "chan without Elem")?,
                    dir: dir as u8,
                }
            }
            Kind::Func => self.func_detail(addr, ext, uncommon.is_some())?,
            Kind::Interface => {
                let n = le64(ext, 64);
                if n > MAX_METHODS || n > le64(ext, 72) {
                    return Err(bad("implausible method count"));
                }
                KindDetail::Interface {
                    methods: n as usize,
                }
            }
            Kind::Map => KindDetail::Map(self.map_info(addr, ext)?),
            Kind::Struct => {
                let pkg = ptr_at(48);
                if pkg_path.is_none() && !pkg.is_null() {
                    pkg_path = Some(self.read_name(pkg, None)?.text).filter(|p| !p.is_empty());
                }
                self.struct_detail(addr, ext, h.size)?
            }
            _ => KindDetail::None,
        };

        Ok(RType {
            addr,
            size: h.size,
            ptr_bytes: h.ptr_bytes,
            kind,
            tflag: h.tflag,
            direct_iface,
            name,
            pkg_path,
            gc_data,
            detail,
        })
    }

    fn func_detail(&self, addr: Addr, ext: &[u8], uncommon: bool) -> Result<KindDetail, TypeError> {
        let ins = u64::from(le16(ext, 48));
        let out_raw = le16(ext, 50);
        let outs = u64::from(out_raw & 0x7fff);
        // Parameter types follow the FuncType (and the UncommonType if any).
        let params = addr + 56 + if uncommon { 16 } else { 0 };
        // At most 2^16+2^15 words: bounded by the u16 counts.
        let raw = if ins + outs == 0 {
            Vec::new()
        } else {
            self.mem
                .read_vec(params, (ins + outs) * 8, (ins + outs) * 8)?
        };
        let mut types = raw.chunks_exact(8).map(|c| Addr(le64(c, 0)));
        let ins_v: Vec<Addr> = types.by_ref().take(ins as usize).collect();
        let outs_v: Vec<Addr> = types.collect();
        if ins_v.iter().chain(&outs_v).any(|t| t.is_null()) {
            return Err(TypeError::implausible(addr, "nil parameter type"));
        }
        Ok(KindDetail::Func {
            ins: ins_v,
            outs: outs_v,
            variadic: out_raw & 0x8000 != 0,
        })
    }

    fn map_info(&self, addr: Addr, ext: &[u8]) -> Result<MapInfo, TypeError> {
        let bad = |why| TypeError::implausible(addr, why);
        let layout = self.flavor.map_layout;
        let mut m = MapInfo {
            key: Addr(le64(ext, 48)),
            elem: Addr(le64(ext, 56)),
            layout,
            bucket: Addr::NULL,
            key_size: 0,
            value_size: 0,
            bucket_size: 0,
            group: Addr::NULL,
            group_size: 0,
            slot_size: 0,
            elem_off: 0,
            keys_off: 0,
            key_stride: 0,
            elems_off: 0,
            elem_stride: 0,
            indirect_key: false,
            indirect_elem: false,
        };
        if m.key.is_null() || m.elem.is_null() {
            return Err(bad("map without key or elem type"));
        }
        // Groups/buckets start with 8 control bytes (tophash or ctrl word).
        const CTRL: u64 = 8;
        const SLOTS: u64 = 8;
        match layout {
            MapLayout::Old => {
                m.bucket = Addr(le64(ext, 64));
                m.key_size = ext[80];
                m.value_size = ext[81];
                m.bucket_size = le16(ext, 82);
                let flags = le32(ext, 84);
                m.indirect_key = flags & 1 != 0;
                m.indirect_elem = flags & 2 != 0;
                m.keys_off = CTRL;
                m.key_stride = u64::from(m.key_size);
                m.elems_off = CTRL + SLOTS * u64::from(m.key_size);
                m.elem_stride = u64::from(m.value_size);
                // tophash + 8 keys + 8 values + overflow pointer.
                let need = m.elems_off + SLOTS * m.elem_stride + 8;
                if m.bucket.is_null() || u64::from(m.bucket_size) < need {
                    return Err(bad("inconsistent map bucket layout"));
                }
            }
            MapLayout::Swiss => {
                m.group = Addr(le64(ext, 64));
                m.group_size = le64(ext, 80);
                m.slot_size = le64(ext, 88);
                m.elem_off = le64(ext, 96);
                let flags = le32(ext, 104);
                m.indirect_key = flags & 4 != 0;
                m.indirect_elem = flags & 8 != 0;
                let fits = m
                    .slot_size
                    .checked_mul(SLOTS)
                    .and_then(|s| s.checked_add(CTRL))
                    .is_some_and(|s| s <= m.group_size);
                if m.group.is_null() || !fits || m.elem_off > m.slot_size {
                    return Err(bad("inconsistent map group layout"));
                }
                m.keys_off = CTRL;
                m.key_stride = m.slot_size;
                // Cannot overflow: elem_off <= slot_size < group_size.
                m.elems_off = CTRL + m.elem_off;
                m.elem_stride = m.slot_size;
            }
            MapLayout::Swiss127 => {
                m.group = Addr(le64(ext, 64));
                m.group_size = le64(ext, 80);
                m.keys_off = le64(ext, 88);
                m.key_stride = le64(ext, 96);
                m.elems_off = le64(ext, 104);
                m.elem_stride = le64(ext, 112);
                m.elem_off = le64(ext, 120);
                let flags = le32(ext, 128);
                m.indirect_key = flags & 4 != 0;
                m.indirect_elem = flags & 8 != 0;
                let last = |off: u64, stride: u64| {
                    stride
                        .checked_mul(SLOTS - 1)
                        .and_then(|s| s.checked_add(off))
                        .is_some_and(|s| s <= m.group_size)
                };
                if m.group.is_null()
                    || !last(m.keys_off, m.key_stride)
                    || !last(m.elems_off, m.elem_stride)
                {
                    return Err(bad("inconsistent map group layout"));
                }
            }
        }
        Ok(m)
    }

    fn struct_detail(&self, addr: Addr, ext: &[u8], size: u64) -> Result<KindDetail, TypeError> {
        let bad = |why| TypeError::implausible(addr, why);
        let data = Addr(le64(ext, 56));
        let n = le64(ext, 64);
        if n > MAX_FIELDS || n > le64(ext, 72) || (n > 0 && data.is_null()) {
            return Err(bad("implausible struct field slice"));
        }
        if n == 0 {
            return Ok(KindDetail::Struct { fields: Vec::new() });
        }
        let raw = self
            .mem
            .read_vec(data, n * STRUCT_FIELD_SIZE, MAX_FIELDS * STRUCT_FIELD_SIZE)?;
        let mut fields = Vec::with_capacity(n as usize);
        let mut name_bytes = 0usize;
        for f in raw.chunks_exact(STRUCT_FIELD_SIZE as usize) {
            let (name_ptr, typ, offset) = (Addr(le64(f, 0)), Addr(le64(f, 8)), le64(f, 16));
            if typ.is_null() || offset > size {
                return Err(bad("struct field with nil type or offset past the end"));
            }
            let name = self.read_name(name_ptr, None)?;
            name_bytes += name.text.len();
            if name_bytes > MAX_STRUCT_NAME_BYTES {
                return Err(bad("struct field names too long"));
            }
            fields.push(StructField {
                name: name.text,
                typ,
                offset,
                embedded: name.flags & NAME_EMBEDDED != 0,
            });
        }
        Ok(KindDetail::Struct { fields })
    }

    /// Resolve a `NameOff` of the descriptor at `owner`: the name must start
    /// and end inside `[types, etypes)`.
    fn name_off(&self, owner: Addr, off: i32) -> Result<Name, TypeError> {
        // Offsets ≤ 0 are reflect-made names (runtime.reflectOffs) or none:
        // neither can belong to a descriptor in the module's type section.
        let at = u64::try_from(off)
            .ok()
            .filter(|&o| o > 0)
            .and_then(|o| self.types_base.checked_add(o))
            .filter(|&a| a < self.types_end)
            .ok_or(TypeError::implausible(
                owner,
                "name offset outside the type section",
            ))?;
        self.read_name(at, Some(self.types_end))
    }

    /// Decode the `abi.Name` at `addr`: flags byte, uvarint length, bytes
    /// (tag and pkgPath follow but are not needed). With `limit`, the name
    /// must end at or before it.
    fn read_name(&self, addr: Addr, limit: Option<Addr>) -> Result<Name, TypeError> {
        let bad = |why| TypeError::BadName { addr, why };
        if addr.is_null() {
            return Err(bad("nil name"));
        }
        let flags = self.mem.read_u8(addr)?;
        if flags & 0xf0 != 0 {
            return Err(bad("unknown flag bits"));
        }
        let (len, n) = self.uvarint(addr + 1)?;
        if len > MAX_NAME_LEN {
            return Err(bad("name too long"));
        }
        let start = addr + 1 + n;
        if let Some(limit) = limit {
            if start.checked_add(len).is_none_or(|end| end > limit) {
                return Err(bad("name runs past the type section"));
            }
        }
        let bytes = self.mem.read_vec(start, len, MAX_NAME_LEN)?;
        Ok(Name {
            flags,
            text: String::from_utf8(bytes).map_err(|_| bad("name is not UTF-8"))?,
        })
    }

    /// A uvarint at `addr` (as `abi.Name` writes its lengths): value and byte count.
    fn uvarint(&self, addr: Addr) -> Result<(u64, u64), TypeError> {
        let mut v = 0u64;
        for i in 0..4u64 {
            let b = self.mem.read_u8(addr + i)?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((v, i + 1));
            }
        }
        Err(TypeError::BadName {
            addr,
            why: "length varint too long",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: names are UTF-8 and Go identifiers may be non-ASCII,
    /// so the check must not slice inside a character.
    #[test]
    fn qualified_names_may_be_non_ascii() {
        assert!(is_qualified("main.Café"));
        assert!(is_qualified("é.x"));
        assert!(is_qualified("main.Box[int]"));
        assert!(!is_qualified("éé"));
        assert!(!is_qualified("ab"));
        assert!(!is_qualified(".ab"));
        assert!(name_fits_kind("main.Ünïcode", Kind::Struct));
    }
}
