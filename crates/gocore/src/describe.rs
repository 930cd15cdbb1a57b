//! Naming places inside typed heap objects the way a Go programmer would, and
//! showing an object's fields with their values.
//!
//! This module owns:
//! * [`Describer::field_path`]: the Go-syntax name of a pointer slot of an
//!   object (`.byID`, `.order[42].next`, `[3]`, `map[0] value`, `chan buf`,
//!   `closure var captured`, ...), used by path-to-root output where each
//!   step names the field of one object that points to the next;
//! * [`Describer::inspect`]: the object's leaf fields with their `%T` type
//!   names and `%v`-style values ([`FieldValue`]);
//! * the formatting of Go values read from the core (integers, floats,
//!   complex numbers, `%q`-quoted strings, pointers, slices, interfaces).
//!
//! It takes its types from [`crate::typing`] ([`TypeRef`], and through
//! [`Typer`] the DWARF → descriptor mapping, display names and the closure
//! layouts), and runtime struct layouts (`runtime.hmap`,
//! `internal/runtime/maps.Map`/`table`, `runtime.hchan`) from DWARF by field
//! name. Map buckets and groups are recognised by their descriptor's name
//! (`map.bucket[K]V`, `map.group[K]V`) and read through the descriptor's own
//! struct fields (`keys`/`elems`/`overflow`; `ctrl` + `slots[i].key/elem`, or
//! 1.27 split groups `ctrl` + `keys`/`elems`), so every map layout of Go
//! 1.21–1.27 is named the same way.
//!
//! Nothing read from the core is trusted: reads that fail give `?` values,
//! sizes and counts are clamped to the object, and recursion is bounded.

use std::fmt::Write as _;

use gotypes::dwarf::{DwarfInfo, DwarfTypeId, TypeShape};
use gotypes::rtype::{Kind, KindDetail, MapLayout, TypeReader};
use gotypes::{Addr, Memory};

use crate::process::{typing_layout, Analysis, Core};
use crate::typing::{FuncResolver, TypeRef, Typer, TypingLayout};

/// Array elements [`Describer::inspect`] shows before a `… N more` row.
pub const INSPECT_ARRAY_ELEMS: u64 = 16;
/// Rows [`Describer::inspect`] returns at most (a final `…` row says more
/// were left out).
pub const INSPECT_MAX_ROWS: usize = 4096;
/// String bytes shown by [`Describer::inspect`].
const INSPECT_STRING_BYTES: u64 = 64;
/// String bytes of a map key shown in `map["key"] value`.
const KEY_STRING_BYTES: u64 = 32;
/// Values one `inspect` call visits at most (bounds the work on types whose
/// fields are mostly zero-sized or unreadable).
const MAX_VISITS: u64 = 1 << 16;
/// Nesting limit of the type walks (a deeper type means a cycle in corrupt
/// descriptors or DWARF).
const MAX_DEPTH: u32 = 64;

/// One leaf field of an object, as [`Describer::inspect`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldValue {
    /// Go-syntax path from the object (`.Name`, `.a.b`, `[3].Next`,
    /// `closure var x`); empty for an object that is a single scalar value.
    /// A `… N more` row (elements left out of a long array) has the path of
    /// the remaining elements, `.Ptrs[16:]`.
    pub path: String,
    /// Byte offset from the start of the object.
    pub offset: u64,
    /// The field's type as Go's `%T` prints it.
    pub type_name: String,
    /// The value, formatted like `%v` (see [`Describer::inspect`]).
    pub value: String,
    /// The address the value points to (pointer, `unsafe.Pointer`, map,
    /// channel, func value, slice or string data, interface data word), for
    /// the caller to annotate with the target object's type; `None` for nil
    /// and for values that are not pointers.
    pub pointer: Option<Addr>,
}

/// Names fields of typed heap objects and formats their values.
pub struct Describer<'a> {
    mem: &'a dyn Memory,
    rtypes: &'a TypeReader<'a>,
    dwarf: &'a DwarfInfo,
    types_base: Addr,
    bias: u64,
    layout: TypingLayout,
    funcs: &'a (dyn FuncResolver + Sync),
}

/// The structure of a type, whatever its source (descriptor or DWARF).
#[derive(Debug, Clone)]
struct TyInfo {
    /// `%T` name.
    name: String,
    size: u64,
    shape: Shape,
}

/// What a value of a type is, as far as naming and formatting need.
#[derive(Debug, Clone)]
enum Shape {
    Bool,
    Int {
        signed: bool,
    },
    Float,
    Complex,
    String,
    Slice,
    Ptr,
    UnsafePtr,
    Map,
    Chan,
    Func,
    Iface {
        empty: bool,
    },
    Array {
        elem: TypeRef,
        len: u64,
        stride: u64,
    },
    Struct {
        fields: Vec<Member>,
    },
    /// Known size, unknown contents.
    Opaque,
}

/// A struct field.
#[derive(Debug, Clone)]
struct Member {
    /// The name Go code uses: an embedded field by its type's name without
    /// package or type arguments (`Mutex`, `Box`).
    name: String,
    offset: u64,
    ty: TypeRef,
}

/// A variable stored in a closure context.
struct ClosureVar {
    offset: u64,
    /// `closure var x`, `method value receiver`.
    label: String,
    ty: Option<TypeRef>,
}

/// What a map bucket/group struct field holds.
enum MapPart {
    /// `keys` (old buckets, 1.27 split groups).
    Keys,
    /// `elems`.
    Elems,
    /// `slots` of interleaved swiss groups (`slots[i].key`, `slots[i].elem`).
    Slots,
    /// `overflow` of old buckets.
    Overflow,
    /// `topbits`, `ctrl`.
    Other,
}

impl<'a> Describer<'a> {
    /// A describer over `core`'s memory and DWARF, the descriptors of
    /// `rtypes`.
    pub fn new(core: &'a Core, rtypes: &'a TypeReader<'a>) -> Describer<'a> {
        Describer {
            mem: core.mem(),
            rtypes,
            dwarf: &core.dwarf,
            types_base: core.md.types,
            bias: core.loaded.bias,
            layout: typing_layout(&core.lookup()),
            funcs: core,
        }
    }

    /// A describer for an analysed heap.
    pub fn for_analysis(a: &'a Analysis<'a>) -> Describer<'a> {
        Describer::new(a.core, &a.rtypes)
    }

    fn typer(&self) -> Typer<'_> {
        Typer {
            mem: self.mem,
            rtypes: self.rtypes,
            dwarf: self.dwarf,
            types_base: self.types_base,
            bias: self.bias,
            layout: &self.layout,
            funcs: self.funcs,
        }
    }

    /// The `%T` name of a type (`map.table[K]V`, `closure main.f.func1` for
    /// runtime structures), as the typing pass names it.
    pub fn type_name(&self, ty: TypeRef) -> String {
        self.typer().name(Some(ty))
    }

    // ------------------------------------------------------------------
    // field_path

    /// Go-syntax name of the pointer slot at byte `offset` from the start of
    /// an object of type `ty` (`count` > 0: a backing array `[count]ty`),
    /// stored at `addr` (the address Go code sees, after any malloc header).
    ///
    /// * struct fields `.byID`, nested `.a.b`, embedded fields by their type
    ///   name (`.Mutex.sema`), array elements `.order[42]`; a backing array's
    ///   elements `[42]`, `[42].next`;
    /// * the data word of a slice, string or interface is named by the field
    ///   itself (`.order`, `.name`, `.handler`); the value of an object that
    ///   is itself a pointer (a `*T`, `string`, `[]T` object) is the empty
    ///   path; other words of such values get a `+0x8` suffix (`.name+0x8`);
    /// * map headers: their runtime field (`.buckets`, `.oldbuckets`,
    ///   `.extra`, `.dirPtr`); swiss directories `map table[3]`, tables
    ///   `.groups`; buckets and groups `map key`, `map[<key>] value` (the key
    ///   when it is an integer, bool or string, else `map[…] value`), with the
    ///   path inside the key or value appended (`map["a"] value.Name`), and
    ///   `map overflow`;
    /// * channels: `chan buf`, other `runtime.hchan` pointers by field
    ///   (`.recvq.first`);
    /// * closures: `closure var x` (`closure var &x` for a variable captured
    ///   by reference), `method value receiver`, `fn` for the code pointer;
    /// * anything else: the offset, `+0x18`.
    pub fn field_path(&self, ty: TypeRef, count: u32, addr: Addr, offset: u64) -> String {
        self.path_of(ty, count, addr, offset)
            .unwrap_or_else(|| format!("+{offset:#x}"))
    }

    fn path_of(&self, ty: TypeRef, count: u32, addr: Addr, offset: u64) -> Option<String> {
        match ty {
            TypeRef::Rt(_) | TypeRef::Dw(_) => {
                let info = self.info(ty)?;
                let (index, rest, base) = if count > 0 {
                    let i = offset.checked_div(info.size).unwrap_or(0);
                    if i >= u64::from(count) {
                        return None;
                    }
                    let rest = offset - i * info.size;
                    (Some(i), rest, addr + i * info.size)
                } else {
                    (None, offset, addr)
                };
                if let Some(parts) = map_parts(&info) {
                    // One bucket/group is like any other: no index.
                    return self.map_slot_path(&parts, base, rest);
                }
                let inner = self.value_path(&info, rest, 0)?;
                Some(match index {
                    Some(i) => format!("[{i}]{inner}"),
                    None => inner,
                })
            }
            TypeRef::MapHeader(m) => {
                let t = self.map_header_type(m)?;
                self.value_path(&self.info(t)?, offset, 0)
            }
            TypeRef::MapDirectory(_) => offset
                .is_multiple_of(8)
                .then(|| format!("map table[{}]", offset / 8)),
            TypeRef::MapTable(_) => {
                if self.layout.swiss_table.map(|(data, _)| data) == Some(offset) {
                    return Some(".groups".into());
                }
                let t = self.dwarf.type_by_name("internal/runtime/maps.table")?;
                self.value_path(&self.info(TypeRef::Dw(t))?, offset, 0)
            }
            TypeRef::ChanHeader(_) => {
                if self.layout.hchan.map(|(buf, _)| buf) == Some(offset) {
                    return Some("chan buf".into());
                }
                let t = self.dwarf.type_by_name("runtime.hchan")?;
                self.value_path(&self.info(TypeRef::Dw(t))?, offset, 0)
            }
            TypeRef::Closure(entry) => {
                if offset < 8 {
                    return (offset == 0).then(|| "fn".into());
                }
                self.closure_vars(entry).into_iter().find_map(|v| {
                    let rel = offset.checked_sub(v.offset)?;
                    let info = self.info(v.ty?)?;
                    if rel >= info.size.max(1) {
                        return None;
                    }
                    Some(format!("{}{}", v.label, self.value_path(&info, rel, 0)?))
                })
            }
            TypeRef::StringData => None,
        }
    }

    /// The path of byte `off` inside a value of type `info`: empty for the
    /// value's own data word.
    fn value_path(&self, info: &TyInfo, off: u64, depth: u32) -> Option<String> {
        if depth > MAX_DEPTH || off >= info.size.max(1) {
            return None;
        }
        match &info.shape {
            Shape::Struct { fields } => {
                let (m, mi) = self.member_at(fields, off)?;
                let inner = self.value_path(&mi, off - m.offset, depth + 1)?;
                Some(format!(".{}{inner}", m.name))
            }
            Shape::Array { elem, len, stride } => {
                let i = off.checked_div(*stride).unwrap_or(0);
                if i >= *len {
                    return None;
                }
                let ei = self.info(*elem)?;
                let inner = self.value_path(&ei, off - i * stride, depth + 1)?;
                Some(format!("[{i}]{inner}"))
            }
            shape => {
                let data = match shape {
                    Shape::Iface { .. } => 8,
                    _ => 0,
                };
                Some(if off == data {
                    String::new()
                } else {
                    format!("+{off:#x}")
                })
            }
        }
    }

    /// The struct member whose bytes contain `off` (zero-sized members
    /// never do), with its type.
    fn member_at<'m>(&self, fields: &'m [Member], off: u64) -> Option<(&'m Member, TyInfo)> {
        fields.iter().find_map(|m| {
            let rel = off.checked_sub(m.offset)?;
            let mi = self.info(m.ty)?;
            (rel < mi.size).then_some((m, mi))
        })
    }

    /// The name of byte `off` of the map bucket/group at `g`.
    fn map_slot_path(&self, fields: &[Member], g: Addr, off: u64) -> Option<String> {
        let (m, mi) = self.member_at(fields, off)?;
        let rel = off - m.offset;
        let (elem, stride, len) = match &mi.shape {
            Shape::Array { elem, stride, len } => (*elem, *stride, *len),
            _ => (m.ty, mi.size, 1),
        };
        let i = rel
            .checked_div(stride)
            .unwrap_or(0)
            .min(len.saturating_sub(1));
        let in_slot = rel - i * stride;
        match map_part(&m.name) {
            MapPart::Keys => {
                let inner = self.value_path(&self.info(elem)?, in_slot, 0)?;
                Some(format!("map key{inner}"))
            }
            MapPart::Elems => {
                let key = self.map_key(fields, g, i);
                let inner = self.value_path(&self.info(elem)?, in_slot, 0)?;
                Some(format!("map[{key}] value{inner}"))
            }
            MapPart::Slots => {
                let si = self.info(elem)?;
                let Shape::Struct { fields: sf } = &si.shape else {
                    return None;
                };
                let (f, fi) = self.member_at(sf, in_slot)?;
                let inner = self.value_path(&fi, in_slot - f.offset, 0)?;
                match f.name.as_str() {
                    "key" => Some(format!("map key{inner}")),
                    "elem" => {
                        let key = self.map_key(fields, g, i);
                        Some(format!("map[{key}] value{inner}"))
                    }
                    _ => Some(format!(".{}[{i}].{}{inner}", m.name, f.name)),
                }
            }
            MapPart::Overflow => Some("map overflow".into()),
            MapPart::Other => {
                let inner = self.value_path(&mi, rel, 0)?;
                Some(format!(".{}{inner}", m.name))
            }
        }
    }

    /// Key `i` of the bucket/group at `g`, Go-formatted when it is an
    /// integer, bool or string; `…` otherwise.
    fn map_key(&self, fields: &[Member], g: Addr, i: u64) -> String {
        let key = fields.iter().find_map(|m| {
            let mi = self.info(m.ty)?;
            let Shape::Array { elem, stride, .. } = mi.shape else {
                return None;
            };
            match map_part(&m.name) {
                MapPart::Keys => Some((elem, g + m.offset + i.wrapping_mul(stride))),
                MapPart::Slots => {
                    let si = self.info(elem)?;
                    let Shape::Struct { fields: sf } = si.shape else {
                        return None;
                    };
                    let k = sf.into_iter().find(|f| f.name == "key")?;
                    Some((k.ty, g + m.offset + i.wrapping_mul(stride) + k.offset))
                }
                _ => None,
            }
        });
        key.and_then(|(t, at)| self.key_value(t, at, false))
            .unwrap_or_else(|| "…".into())
    }

    /// A map key of type `t` at `at`: integers, bools and strings, also
    /// inside an interface (`map[any]V`).
    fn key_value(&self, t: TypeRef, at: Addr, in_iface: bool) -> Option<String> {
        let info = self.info(t)?;
        match info.shape {
            Shape::Int { .. } | Shape::Bool => Some(self.scalar(&info, at)?),
            Shape::String => {
                let (data, len) = (self.mem.read_ptr(at).ok()?, self.mem.read_u64(at + 8).ok()?);
                Some(self.quoted(data, len, KEY_STRING_BYTES)?.0)
            }
            Shape::Iface { empty } if !in_iface => {
                let tw = self.mem.read_ptr(at).ok()?;
                let dynamic = if empty {
                    tw
                } else {
                    self.rtypes.itab_type(tw).ok()?
                };
                let rt = self.rtypes.get(dynamic).ok()?;
                if rt.direct_iface {
                    return None; // a pointer-shaped value
                }
                let data = self.mem.read_ptr(at + 8).ok()?;
                self.key_value(TypeRef::Rt(dynamic), data, true)
            }
            _ => None,
        }
    }

    /// The DWARF struct of a map header: `runtime.hmap` or
    /// `internal/runtime/maps.Map`, by the map type's layout.
    fn map_header_type(&self, map_type: Addr) -> Option<TypeRef> {
        let layout = match self.rtypes.get(map_type).ok().map(|r| r.detail.clone()) {
            Some(KindDetail::Map(info)) => info.layout,
            _ => self.rtypes.flavor().map_layout,
        };
        let name = match layout {
            MapLayout::Old => "runtime.hmap",
            MapLayout::Swiss | MapLayout::Swiss127 => "internal/runtime/maps.Map",
        };
        self.dwarf.type_by_name(name).map(TypeRef::Dw)
    }

    /// The variables of the closure context of the function at `entry`.
    fn closure_vars(&self, entry: Addr) -> Vec<ClosureVar> {
        let typer = self.typer();
        let fname = self.funcs.func_for_pc(entry).map(|(_, n)| n);
        // A method value `x.M`: struct { F uintptr; R <receiver> } with the
        // wrapper `T.M-fm` (typing.rs `method_value_layout`).
        if let Some(method) = fname.as_deref().and_then(|n| n.strip_suffix("-fm")) {
            let recv = typer.method_value_receiver(method);
            return vec![ClosureVar {
                offset: 8,
                label: "method value receiver".into(),
                ty: recv.map(|t| typer.canonical(t)),
            }];
        }
        let Some(f) = self.dwarf.function_at(entry.0.wrapping_sub(self.bias)) else {
            return Vec::new();
        };
        let mut vars: Vec<ClosureVar> = f
            .vars
            .iter()
            .filter_map(|v| {
                Some(ClosureVar {
                    offset: v.closure_offset?,
                    label: format!("closure var {}", v.name),
                    ty: v.ty.map(|t| typer.canonical(t)),
                })
            })
            .collect();
        if vars.is_empty() {
            vars = self.closure_vars_by_order(&typer, &f.name);
        }
        vars.sort_by_key(|v| v.offset);
        vars
    }

    /// Go 1.21–1.22: the by-order layout typing uses.
    fn closure_vars_by_order(&self, typer: &Typer<'_>, name: &str) -> Vec<ClosureVar> {
        typer
            .closure_vars_by_order(name)
            .into_iter()
            .map(|(offset, ty, var)| ClosureVar {
                offset,
                label: format!("closure var {var}"),
                ty: Some(typer.canonical(ty)),
            })
            .collect()
    }

    // ------------------------------------------------------------------
    // inspect

    /// The fields of the object at `addr` of type `ty` (`count` > 0: a
    /// backing array `[count]ty`) whose `size` bytes are readable, one row
    /// per leaf field.
    ///
    /// Structs are flattened (`.a.b`); arrays and backing arrays show their
    /// first 16 elements and then one `… N more` row. Values are formatted
    /// like Go's `%v`: integers, floats (`0.5`, `1e+06`), complex numbers
    /// (`(1+2i)`) and bools as Go prints them; strings quoted (`%q`) and
    /// truncated to 64 bytes with their length when truncated
    /// (`"abc…" (len 1200)`); pointers, `unsafe.Pointer`, maps, channels and
    /// func values as hex addresses (func values with their function's name);
    /// slices as `len=3 cap=4`; interfaces as `(<dynamic type>) 0x…`; nil as
    /// `nil`. Map headers and tables and channels show their runtime struct
    /// fields (`runtime.hmap`, `internal/runtime/maps.Map`/`table`,
    /// `runtime.hchan`), swiss directories their `map table[i]` pointers,
    /// closures their code pointer (`fn`) and captured variables
    /// (`closure var x`, `method value receiver`).
    pub fn inspect(&self, ty: TypeRef, count: u32, addr: Addr, size: u64) -> Vec<FieldValue> {
        let mut out = Rows {
            rows: Vec::new(),
            size,
            visits: 0,
        };
        match ty {
            TypeRef::Rt(_) | TypeRef::Dw(_) => {
                let Some(info) = self.info(ty) else {
                    return out.rows;
                };
                if count > 0 {
                    let n = u64::from(count).min(size.checked_div(info.size).unwrap_or(0));
                    self.elements(&mut out, &info, n, addr, 0, "", 0);
                } else {
                    self.leaves(&mut out, &info, addr, 0, String::new(), 0);
                }
            }
            TypeRef::MapHeader(m) => self.runtime_struct(&mut out, self.map_header_type(m), addr),
            TypeRef::MapTable(_) => {
                let t = self.dwarf.type_by_name("internal/runtime/maps.table");
                self.runtime_struct(&mut out, t.map(TypeRef::Dw), addr)
            }
            TypeRef::ChanHeader(_) => {
                let t = self.dwarf.type_by_name("runtime.hchan");
                self.runtime_struct(&mut out, t.map(TypeRef::Dw), addr)
            }
            TypeRef::MapDirectory(m) => {
                let n = u64::from(count).max(1).min(size / 8);
                let table_name = format!("*{}", self.type_name(TypeRef::MapTable(m)));
                for k in 0..n.min(INSPECT_ARRAY_ELEMS) {
                    let (value, pointer) = self.pointer_value(addr + 8 * k);
                    out.push(FieldValue {
                        path: format!("map table[{k}]"),
                        offset: 8 * k,
                        type_name: table_name.clone(),
                        value,
                        pointer,
                    });
                }
                if n > INSPECT_ARRAY_ELEMS {
                    out.push(more_row(
                        format!("map table[{INSPECT_ARRAY_ELEMS}:]"),
                        8 * INSPECT_ARRAY_ELEMS,
                        format!("[{}]{table_name}", n - INSPECT_ARRAY_ELEMS),
                        n - INSPECT_ARRAY_ELEMS,
                    ));
                }
            }
            TypeRef::Closure(entry) => self.closure_rows(&mut out, entry, addr),
            TypeRef::StringData => {
                let n = size;
                let value = match self.quoted(addr, n, INSPECT_STRING_BYTES) {
                    Some((q, true)) => format!("{q} (len {n})"),
                    Some((q, false)) => q,
                    None => "?".into(),
                };
                out.push(FieldValue {
                    path: String::new(),
                    offset: 0,
                    type_name: format!("[{n}]uint8"),
                    value,
                    pointer: None,
                });
            }
        }
        out.rows
    }

    fn runtime_struct(&self, out: &mut Rows, t: Option<TypeRef>, addr: Addr) {
        if let Some(info) = t.and_then(|t| self.info(t)) {
            self.leaves(out, &info, addr, 0, String::new(), 0);
        }
    }

    fn closure_rows(&self, out: &mut Rows, entry: Addr, addr: Addr) {
        let pc = self.mem.read_ptr(addr);
        let value = match pc {
            Ok(pc) => match self.funcs.func_for_pc(pc) {
                Some((_, name)) => format!("{pc} ({name})"),
                None => pc.to_string(),
            },
            Err(_) => "?".into(),
        };
        out.push(FieldValue {
            path: "fn".into(),
            offset: 0,
            type_name: "uintptr".into(),
            value,
            pointer: None,
        });
        for v in self.closure_vars(entry) {
            match v.ty.and_then(|t| self.info(t)) {
                Some(info) => {
                    self.leaves(out, &info, addr + v.offset, v.offset, v.label, 0);
                }
                None => out.push(FieldValue {
                    path: v.label,
                    offset: v.offset,
                    type_name: "?".into(),
                    value: "?".into(),
                    pointer: None,
                }),
            }
        }
    }

    /// Rows of the first elements of `[n]ty` at `at` (object offset `off`),
    /// then a `… N more` row.
    #[allow(clippy::too_many_arguments)]
    fn elements(
        &self,
        out: &mut Rows,
        info: &TyInfo,
        n: u64,
        at: Addr,
        off: u64,
        path: &str,
        depth: u32,
    ) {
        let stride = info.size;
        for i in 0..n.min(INSPECT_ARRAY_ELEMS) {
            if out.full() {
                return;
            }
            let rel = i.saturating_mul(stride);
            let p = format!("{path}[{i}]");
            self.leaves(out, info, at + rel, off.saturating_add(rel), p, depth + 1);
        }
        if n > INSPECT_ARRAY_ELEMS {
            let rest = n - INSPECT_ARRAY_ELEMS;
            out.push(more_row(
                format!("{path}[{INSPECT_ARRAY_ELEMS}:]"),
                off.saturating_add(INSPECT_ARRAY_ELEMS.saturating_mul(stride)),
                format!("[{rest}]{}", info.name),
                rest,
            ));
        }
    }

    /// Rows of the value of type `info` at `at` (object offset `off`).
    /// Zero-sized values have no row.
    fn leaves(&self, out: &mut Rows, info: &TyInfo, at: Addr, off: u64, path: String, depth: u32) {
        if out.full() || info.size == 0 {
            return;
        }
        out.visits += 1;
        if depth > MAX_DEPTH || off >= out.size || out.visits > MAX_VISITS {
            out.push(FieldValue {
                path,
                offset: off,
                type_name: info.name.clone(),
                value: "…".into(),
                pointer: None,
            });
            return;
        }
        match &info.shape {
            Shape::Struct { fields } if !fields.is_empty() => {
                for m in fields {
                    if out.full() {
                        return;
                    }
                    let p = format!("{path}.{}", m.name);
                    let moff = off.saturating_add(m.offset);
                    match self.info(m.ty) {
                        Some(mi) => self.leaves(out, &mi, at + m.offset, moff, p, depth + 1),
                        None => out.push(FieldValue {
                            path: p,
                            offset: moff,
                            type_name: "?".into(),
                            value: "?".into(),
                            pointer: None,
                        }),
                    }
                }
            }
            Shape::Array { elem, len, .. } => {
                if let Some(ei) = self.info(*elem).filter(|e| e.size > 0) {
                    self.elements(out, &ei, *len, at, off, &path, depth);
                }
            }
            _ => {
                let (value, pointer) = self.format_value(info, at);
                out.push(FieldValue {
                    path,
                    offset: off,
                    type_name: info.name.clone(),
                    value,
                    pointer,
                });
            }
        }
    }

    /// `%v` of a leaf value of type `info` at `at`, and the address it
    /// points to.
    fn format_value(&self, info: &TyInfo, at: Addr) -> (String, Option<Addr>) {
        let mem = self.mem;
        let unreadable = || ("?".to_string(), None);
        match &info.shape {
            Shape::Bool | Shape::Int { .. } | Shape::Float | Shape::Complex => {
                (self.scalar(info, at).unwrap_or_else(|| "?".into()), None)
            }
            Shape::String => {
                let (Ok(data), Ok(len)) = (mem.read_ptr(at), mem.read_u64(at + 8)) else {
                    return unreadable();
                };
                let value = match self.quoted(data, len, INSPECT_STRING_BYTES) {
                    Some((q, true)) => format!("{q} (len {len})"),
                    Some((q, false)) => q,
                    None => format!("? (len {len}, data {data})"),
                };
                (value, (!data.is_null() && len > 0).then_some(data))
            }
            Shape::Slice => {
                let (Ok(data), Ok(len), Ok(cap)) = (
                    mem.read_ptr(at),
                    mem.read_u64(at + 8),
                    mem.read_u64(at + 16),
                ) else {
                    return unreadable();
                };
                if data.is_null() && len == 0 && cap == 0 {
                    ("nil".into(), None)
                } else {
                    (
                        format!("len={len} cap={cap}"),
                        (!data.is_null()).then_some(data),
                    )
                }
            }
            Shape::Ptr | Shape::UnsafePtr | Shape::Map | Shape::Chan => self.pointer_value(at),
            Shape::Func => {
                let (value, pointer) = self.pointer_value(at);
                let name = pointer
                    .and_then(|fv| mem.read_ptr(fv).ok())
                    .and_then(|pc| self.funcs.func_for_pc(pc));
                match name {
                    Some((_, n)) => (format!("{value} ({n})"), pointer),
                    None => (value, pointer),
                }
            }
            Shape::Iface { empty } => {
                let (Ok(tw), Ok(data)) = (mem.read_ptr(at), mem.read_ptr(at + 8)) else {
                    return unreadable();
                };
                if tw.is_null() {
                    return ("nil".into(), None);
                }
                let dynamic = if *empty {
                    Ok(tw)
                } else {
                    self.rtypes.itab_type(tw)
                };
                let name = dynamic
                    .and_then(|t| self.rtypes.get(t))
                    .map_or_else(|_| "?".to_string(), |r| r.name.clone());
                (
                    format!("({name}) {data}"),
                    (!data.is_null()).then_some(data),
                )
            }
            Shape::Struct { .. } => ("{}".into(), None),
            Shape::Array { .. } => ("[]".into(), None),
            Shape::Opaque => {
                let n = info.size.min(16);
                match mem.read_vec(at, n, 16) {
                    Ok(b) => {
                        let mut s = String::from("bytes");
                        for x in b {
                            let _ = write!(s, " {x:02x}");
                        }
                        if info.size > n {
                            s.push_str(" …");
                        }
                        (s, None)
                    }
                    Err(_) => unreadable(),
                }
            }
        }
    }

    /// A pointer-shaped word: `nil` or its hex address.
    fn pointer_value(&self, at: Addr) -> (String, Option<Addr>) {
        match self.mem.read_ptr(at) {
            Ok(p) if p.is_null() => ("nil".into(), None),
            Ok(p) => (p.to_string(), Some(p)),
            Err(_) => ("?".into(), None),
        }
    }

    /// `%v` of a bool, integer, float or complex value.
    fn scalar(&self, info: &TyInfo, at: Addr) -> Option<String> {
        let size = info.size;
        let mem = self.mem;
        Some(match info.shape {
            Shape::Bool => (mem.read_u8(at).ok()? != 0).to_string(),
            Shape::Int { signed } => {
                if !matches!(size, 1 | 2 | 4 | 8) {
                    return None;
                }
                let v = mem.read_uint(at, size).ok()?;
                if signed {
                    let shift = 64 - 8 * size;
                    (((v << shift) as i64) >> shift).to_string()
                } else {
                    v.to_string()
                }
            }
            Shape::Float => match size {
                4 => go_float32(f32::from_bits(mem.read_u32(at).ok()?), false),
                8 => go_float64(f64::from_bits(mem.read_u64(at).ok()?), false),
                _ => return None,
            },
            Shape::Complex => match size {
                8 => {
                    let re = f32::from_bits(mem.read_u32(at).ok()?);
                    let im = f32::from_bits(mem.read_u32(at + 4).ok()?);
                    format!("({}{}i)", go_float32(re, false), go_float32(im, true))
                }
                16 => {
                    let re = f64::from_bits(mem.read_u64(at).ok()?);
                    let im = f64::from_bits(mem.read_u64(at + 8).ok()?);
                    format!("({}{}i)", go_float64(re, false), go_float64(im, true))
                }
                _ => return None,
            },
            _ => return None,
        })
    }

    /// The string of `len` bytes at `data`, `%q`-quoted, cut to `max` bytes
    /// (with `…` inside the quotes); whether it was cut.
    fn quoted(&self, data: Addr, len: u64, max: u64) -> Option<(String, bool)> {
        if len == 0 {
            return Some(("\"\"".into(), false));
        }
        let n = len.min(max);
        let bytes = self.mem.read_vec(data, n, max).ok()?;
        let cut = len > n;
        Some((go_quote(&bytes, cut), cut))
    }

    // ------------------------------------------------------------------
    // Types

    /// The structure of `ty` (descriptor or DWARF type); `None` for runtime
    /// structures without a Go type and for unreadable descriptors.
    fn info(&self, ty: TypeRef) -> Option<TyInfo> {
        match ty {
            TypeRef::Rt(a) => self.rt_info(a),
            TypeRef::Dw(d) => self.dw_info(d),
            _ => None,
        }
    }

    fn rt_info(&self, a: Addr) -> Option<TyInfo> {
        let rt = self.rtypes.get(a).ok()?;
        let shape = match &rt.detail {
            KindDetail::Ptr { .. } => Shape::Ptr,
            KindDetail::Slice { .. } => Shape::Slice,
            KindDetail::Array { elem, len } => Shape::Array {
                elem: TypeRef::Rt(*elem),
                len: *len,
                stride: self.rtypes.get(*elem).ok()?.size,
            },
            KindDetail::Chan { .. } => Shape::Chan,
            KindDetail::Map(_) => Shape::Map,
            KindDetail::Struct { fields } => Shape::Struct {
                fields: fields
                    .iter()
                    .map(|f| Member {
                        name: field_name(&f.name, f.embedded),
                        offset: f.offset,
                        ty: TypeRef::Rt(f.typ),
                    })
                    .collect(),
            },
            KindDetail::Interface { methods } => Shape::Iface {
                empty: *methods == 0,
            },
            KindDetail::Func { .. } => Shape::Func,
            KindDetail::None => kind_shape(rt.kind),
        };
        Some(TyInfo {
            name: rt.name.clone(),
            size: rt.size,
            shape,
        })
    }

    fn dw_info(&self, d: DwarfTypeId) -> Option<TyInfo> {
        let typer = self.typer();
        let canon = typer.canonical(d);
        let d = match canon {
            TypeRef::Rt(a) => return self.rt_info(a),
            TypeRef::Dw(d) => self.dwarf.resolve_typedefs(d),
            _ => return None,
        };
        let ty = self.dwarf.ty(d);
        let name = typer.name(Some(TypeRef::Dw(d)));
        let size = ty.size.unwrap_or(0);
        let struct_fields = |fields: &[gotypes::dwarf::FieldLayout]| Shape::Struct {
            fields: fields
                .iter()
                .map(|f| Member {
                    name: field_name(&f.name, f.embedded),
                    offset: f.offset,
                    ty: typer.canonical(f.ty),
                })
                .collect(),
        };
        let array = |elem: DwarfTypeId, count: Option<u64>| {
            let elem = typer.canonical(elem);
            let stride = self.info(elem).map_or(0, |e| e.size);
            let len = count.unwrap_or_else(|| size.checked_div(stride).unwrap_or(0));
            Shape::Array { elem, len, stride }
        };
        let shape = match (ty.go_kind.and_then(Kind::from_u8), &ty.shape) {
            (Some(Kind::Struct) | None, TypeShape::Struct { fields }) => struct_fields(fields),
            (Some(Kind::Array) | None, TypeShape::Array { elem, count }) => array(*elem, *count),
            (Some(Kind::Interface), TypeShape::Struct { fields }) => Shape::Iface {
                empty: !fields.iter().any(|f| f.name == "tab"),
            },
            (Some(Kind::Pointer) | None, TypeShape::Pointer { target: Some(_) }) => Shape::Ptr,
            (Some(k), _) => kind_shape(k),
            (None, TypeShape::Pointer { target: None }) => Shape::UnsafePtr,
            (None, TypeShape::Subroutine) => Shape::Func,
            (None, TypeShape::Base { encoding }) => base_shape(*encoding),
            (None, _) => Shape::Opaque,
        };
        Some(TyInfo { name, size, shape })
    }
}

/// Output rows of one `inspect` call.
struct Rows {
    rows: Vec<FieldValue>,
    /// Readable bytes of the object.
    size: u64,
    /// Values visited, bounded by [`MAX_VISITS`].
    visits: u64,
}

impl Rows {
    fn full(&self) -> bool {
        self.rows.len() >= INSPECT_MAX_ROWS
    }

    fn push(&mut self, row: FieldValue) {
        if self.rows.len() < INSPECT_MAX_ROWS {
            self.rows.push(row);
        } else if self.rows.len() == INSPECT_MAX_ROWS {
            self.rows.push(FieldValue {
                path: "…".into(),
                offset: row.offset,
                type_name: String::new(),
                value: format!("more than {INSPECT_MAX_ROWS} fields"),
                pointer: None,
            });
        }
    }
}

fn more_row(path: String, offset: u64, type_name: String, n: u64) -> FieldValue {
    FieldValue {
        path,
        offset,
        type_name,
        value: format!("… {n} more"),
        pointer: None,
    }
}

/// The shape of a scalar kind (or of a kind whose details are missing).
fn kind_shape(k: Kind) -> Shape {
    use Kind::*;
    match k {
        Bool => Shape::Bool,
        Int | Int8 | Int16 | Int32 | Int64 => Shape::Int { signed: true },
        Uint | Uint8 | Uint16 | Uint32 | Uint64 | Uintptr => Shape::Int { signed: false },
        Float32 | Float64 => Shape::Float,
        Complex64 | Complex128 => Shape::Complex,
        String => Shape::String,
        Slice => Shape::Slice,
        Pointer => Shape::Ptr,
        UnsafePointer => Shape::UnsafePtr,
        Map => Shape::Map,
        Chan => Shape::Chan,
        Func => Shape::Func,
        Interface => Shape::Iface { empty: true },
        Array | Struct => Shape::Opaque,
    }
}

/// The shape of a DWARF base type by `DW_AT_encoding`.
fn base_shape(encoding: u8) -> Shape {
    use gimli::constants as c;
    match gimli::DwAte(encoding) {
        c::DW_ATE_boolean => Shape::Bool,
        c::DW_ATE_float => Shape::Float,
        c::DW_ATE_complex_float => Shape::Complex,
        c::DW_ATE_signed | c::DW_ATE_signed_char => Shape::Int { signed: true },
        c::DW_ATE_unsigned | c::DW_ATE_unsigned_char => Shape::Int { signed: false },
        _ => Shape::Opaque,
    }
}

/// The fields of a map bucket or group descriptor (`map.bucket[K]V`,
/// `map.group[K]V`), or `None` for any other type.
fn map_parts(info: &TyInfo) -> Option<Vec<Member>> {
    if !(info.name.starts_with("map.bucket[") || info.name.starts_with("map.group[")) {
        return None;
    }
    match &info.shape {
        Shape::Struct { fields } => Some(fields.clone()),
        _ => None,
    }
}

/// The selector of a struct field: embedded fields are named by their type
/// (`sync.Mutex` → `Mutex`, `*file` → `file`, `Box[int]` → `Box`).
fn field_name(name: &str, embedded: bool) -> String {
    if !embedded {
        return name.to_string();
    }
    let base = name.split('[').next().unwrap_or(name);
    let base = base.trim_start_matches('*');
    base.rsplit('.').next().unwrap_or(base).to_string()
}

fn map_part(field: &str) -> MapPart {
    match field {
        "keys" => MapPart::Keys,
        "elems" => MapPart::Elems,
        "slots" => MapPart::Slots,
        "overflow" => MapPart::Overflow,
        _ => MapPart::Other,
    }
}

/// Go's `strconv.Quote` of `bytes`, with `…` before the closing quote when
/// the string was `cut` (a rune split by the cut is dropped).
pub fn go_quote(bytes: &[u8], cut: bool) -> String {
    let mut bytes = bytes;
    if cut {
        // Do not show half a rune as \x escapes.
        if let Err(e) = std::str::from_utf8(bytes) {
            if e.error_len().is_none() {
                bytes = &bytes[..e.valid_up_to()];
            }
        }
    }
    let mut s = String::with_capacity(bytes.len() + 4);
    s.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\x07' => s.push_str("\\a"),
                '\x08' => s.push_str("\\b"),
                '\x0c' => s.push_str("\\f"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\x0b' => s.push_str("\\v"),
                ' ' => s.push(' '),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || c.is_whitespace() || is_format_char(c) => {
                    if (c as u32) < 0x10000 {
                        let _ = write!(s, "\\u{:04x}", c as u32);
                    } else {
                        let _ = write!(s, "\\U{:08x}", c as u32);
                    }
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    if cut {
        s.push('…');
    }
    s.push('"');
    s
}

/// Invisible format characters Go's `unicode.IsPrint` rejects (a subset of
/// category Cf: the common ones).
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`); `plus` forces
/// a sign (the imaginary part of a complex number).
pub fn go_float64(f: f64, plus: bool) -> String {
    go_float(&format!("{f:e}"), &format!("{f}"), plus)
}

/// `%v` of a float32 (shortest digits that round-trip as a float32).
pub fn go_float32(f: f32, plus: bool) -> String {
    go_float(&format!("{f:e}"), &format!("{f}"), plus)
}

/// Go's `%g` with the shortest precision: `%e` form (`1.5e+06`) when the
/// decimal exponent is < -4 or >= 6 (Go uses precision 6 for the choice),
/// else plain decimal. `sci` and `fixed` are Rust's shortest `{:e}` and `{}`.
fn go_float(sci: &str, fixed: &str, plus: bool) -> String {
    // Rust prints `NaN`, `inf`, `-inf`, and `-0` for negative zero.
    let (nan, inf, neg) = (
        fixed == "NaN",
        fixed.ends_with("inf"),
        fixed.starts_with('-'),
    );
    let sign = if plus && !neg { "+" } else { "" };
    if nan {
        return format!("{}NaN", if plus { "+" } else { "" });
    }
    if inf {
        return if neg { "-Inf".into() } else { "+Inf".into() };
    }
    let Some((mant, exp)) = sci.split_once('e') else {
        return format!("{sign}{fixed}");
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{sign}{fixed}")
    } else {
        let (esign, e) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        format!("{sign}{mant}e{esign}{e:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float64(0.0, false), "0");
        assert_eq!(go_float64(0.5, false), "0.5");
        assert_eq!(go_float64(-2.25, false), "-2.25");
        assert_eq!(go_float64(100000.0, false), "100000");
        assert_eq!(go_float64(1e6, false), "1e+06");
        assert_eq!(go_float64(123456789.0, false), "1.23456789e+08");
        assert_eq!(go_float64(0.0001, false), "0.0001");
        assert_eq!(go_float64(0.00001, false), "1e-05");
        assert_eq!(go_float64(1e100, false), "1e+100");
        assert_eq!(go_float64(f64::INFINITY, false), "+Inf");
        assert_eq!(go_float64(f64::NEG_INFINITY, false), "-Inf");
        assert_eq!(go_float64(f64::NAN, false), "NaN");
        assert_eq!(go_float64(2.0, true), "+2");
        assert_eq!(go_float32(0.1, false), "0.1");
        assert_eq!(go_float32(3.4e38, false), "3.4e+38");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"abc", false), "\"abc\"");
        assert_eq!(go_quote(b"a\"b\\c\n", false), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote(b"\x00\x7f", false), "\"\\x00\\x7f\"");
        assert_eq!(go_quote(b"\xff", false), "\"\\xff\"");
        assert_eq!(go_quote("héllo".as_bytes(), false), "\"héllo\"");
        assert_eq!(go_quote("\u{a0}".as_bytes(), false), "\"\\u00a0\"");
        // A cut through a rune drops its first bytes.
        assert_eq!(go_quote(&"aé".as_bytes()[..2], true), "\"a…\"");
        assert_eq!(go_quote(b"abc", true), "\"abc…\"");
    }
}
