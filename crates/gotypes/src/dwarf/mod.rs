//! The binary's DWARF, parsed once into an owned, compact index.
//!
//! This module owns everything gorefs takes from `.debug_info`: the type
//! arena (structs, pointers, arrays, typedefs and Go's own attributes such as
//! `DW_AT_go_runtime_type`), runtime struct layouts by field name, integer
//! constants, package-level variables, and functions with the locations of
//! their parameters and locals. Go 1.21–1.24 emit DWARF 4 and 1.25+ emit
//! DWARF 5 (`.debug_addr`, `.debug_loclists`, `.debug_rnglists`, no
//! `.debug_str`); gimli hides the difference.
//!
//! The caller hands over decompressed section bytes; nothing here borrows
//! from them after [`DwarfInfo::parse`] returns. All addresses are link-time
//! addresses: for a PIE the caller adds the load bias.
//!
//! Not indexed: `DW_TAG_inlined_subroutine` subtrees (variables of inlined
//! calls are skipped, so a frame only names the variables of the function
//! that owns the PC), and location expressions other than the forms Go
//! emits for frame slots, registers and addresses (such as `DW_OP_fbreg
//! off; DW_OP_deref` for heap-moved variables), which become
//! [`PieceLoc::Unsupported`].

mod build;
mod location;

use std::sync::OnceLock;

/// Why the DWARF could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum DwarfError {
    #[error("the binary has no .debug_info section (stripped, or built with -ldflags=-w)")]
    NoDebugInfo,
    /// `offset` is the `.debug_info` offset of the unit or DIE being read
    /// (the fault may lie in a section it refers to, such as `.debug_abbrev`).
    #[error("malformed DWARF at .debug_info offset {offset:#x}: {source}")]
    Malformed { offset: u64, source: gimli::Error },
    #[error(".debug_info is {0} bytes; DWARF offsets above 4 GiB are not supported")]
    TooLarge(usize),
}

/// Index of a type in [`DwarfInfo`]'s type arena.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DwarfTypeId(u32);

impl DwarfTypeId {
    fn index(self) -> usize {
        self.0 as usize
    }

    /// The id as a number, stable for one binary (indexes store it); turn it
    /// back into an id with [`DwarfInfo::type_id`].
    pub fn to_raw(self) -> u32 {
        self.0
    }

    /// An id for an arena being assembled with [`DwarfInfo::from_parts`];
    /// one past the arena's end names the placeholder type.
    pub fn from_raw(raw: u32) -> DwarfTypeId {
        DwarfTypeId(raw)
    }
}

/// A DWARF type DIE.
#[derive(Clone, Debug)]
pub struct DwarfType {
    /// Go's spelling, with full import paths (`main.Session`, `*internal/abi.Type`).
    pub name: String,
    /// `DW_AT_byte_size`; for a typedef, its target's size; for a pointer
    /// without one, the unit's address size.
    pub size: Option<u64>,
    /// `DW_AT_go_kind` (abi.Kind).
    pub go_kind: Option<u8>,
    /// `DW_AT_go_runtime_type`: offset of the type descriptor from
    /// `moduledata.types`. `None` when absent or 0 (descriptor dead-code eliminated).
    pub runtime_type: Option<u64>,
    pub shape: TypeShape,
    /// `DW_AT_go_elem`: element type of a slice, map or channel.
    pub go_elem: Option<DwarfTypeId>,
    /// `DW_AT_go_key`: key type of a map.
    pub go_key: Option<DwarfTypeId>,
}

#[derive(Clone, Debug)]
pub enum TypeShape {
    /// `DW_AT_encoding` (DW_ATE_*).
    Base {
        encoding: u8,
    },
    /// `target` is `None` for `unsafe.Pointer`.
    Pointer {
        target: Option<DwarfTypeId>,
    },
    Struct {
        fields: Vec<FieldLayout>,
    },
    Array {
        elem: DwarfTypeId,
        count: Option<u64>,
    },
    Typedef {
        target: DwarfTypeId,
    },
    Subroutine,
    /// `DW_TAG_unspecified_type`, or the placeholder that dangling type
    /// references point to.
    Unknown,
}

/// One member of a struct. In a [`StructLayout`] nested members are also
/// listed under dotted names (`sched.pc`) with offsets from the outer struct.
#[derive(Clone, Debug)]
pub struct FieldLayout {
    pub name: String,
    pub offset: u64,
    pub ty: DwarfTypeId,
    /// Size of the field's type, typedefs resolved.
    pub size: Option<u64>,
    /// `DW_AT_go_embedded_field`.
    pub embedded: bool,
}

/// A struct type's layout, for reading runtime structures by field name.
#[derive(Clone, Debug)]
pub struct StructLayout {
    pub name: String,
    pub size: u64,
    /// The struct's own members, in DWARF order.
    pub fields: Vec<FieldLayout>,
    /// Members of members reached through struct-typed fields (not through
    /// pointers or arrays), named by dotted path.
    nested: Vec<FieldLayout>,
}

impl StructLayout {
    /// A member by name; `a.b.c` walks into nested struct members.
    pub fn field(&self, name: &str) -> Option<&FieldLayout> {
        let list = if name.contains('.') {
            &self.nested
        } else {
            &self.fields
        };
        list.iter().find(|f| f.name == name)
    }

    /// Byte offset of a member (or dotted path) from the start of the struct.
    pub fn offset(&self, name: &str) -> Option<u64> {
        self.field(name).map(|f| f.offset)
    }
}

/// A package-level variable.
#[derive(Clone, Debug)]
pub struct GlobalVar {
    pub name: String,
    /// Link-time address; the caller adds the PIE bias.
    pub addr: u64,
    pub ty: Option<DwarfTypeId>,
    /// Size of the type, typedefs resolved; 0 when unknown.
    pub size: u64,
}

/// A function with code (`DW_TAG_subprogram` with `DW_AT_low_pc`), including
/// out-of-line copies of functions that are also inlined elsewhere (named
/// through `DW_AT_abstract_origin`).
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub low_pc: u64,
    pub high_pc: u64,
    /// Parameters, results and locals, including those in lexical blocks.
    pub vars: Vec<LocalVar>,
}

#[derive(Clone, Debug)]
pub struct LocalVar {
    /// `&x` for a variable captured by reference in a closure.
    pub name: String,
    pub ty: Option<DwarfTypeId>,
    /// `DW_TAG_formal_parameter` (results included).
    pub is_param: bool,
    /// `DW_AT_go_closure_offset` (Go 1.23+): offset of a captured variable in
    /// the closure object.
    pub closure_offset: Option<u64>,
    pub location: VarLocation,
}

#[derive(Clone, Debug)]
pub enum VarLocation {
    /// No location attribute, or an empty expression.
    None,
    /// One expression valid over the whole function.
    Pieces(Box<[Piece]>),
    /// A location list.
    List(Box<[LocListEntry]>),
}

impl VarLocation {
    /// Where the variable is at `pc` (link-time). `Some(&[])` means the list
    /// covers `pc` but the variable is optimised out there.
    pub fn at_pc(&self, pc: u64) -> Option<&[Piece]> {
        match self {
            VarLocation::None => None,
            VarLocation::Pieces(p) => Some(p),
            VarLocation::List(entries) => entries
                .iter()
                .find(|e| e.begin <= pc && pc < e.end)
                .map(|e| &*e.pieces),
        }
    }
}

/// One range of a location list, with absolute link-time PCs.
#[derive(Clone, Debug)]
pub struct LocListEntry {
    pub begin: u64,
    pub end: u64,
    pub pieces: Box<[Piece]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub loc: PieceLoc,
    /// `DW_OP_piece` size in bytes; `None` if the location holds the whole variable.
    pub size: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceLoc {
    /// Offset from the CFA (`DW_OP_call_frame_cfa [+ const]` or `DW_OP_fbreg`;
    /// Go's frame base is the CFA).
    FrameOffset(i64),
    /// DWARF register number.
    Register(u16),
    /// Link-time address.
    Addr(u64),
    /// A piece with no location: optimised out.
    Empty,
    /// An expression this reader does not interpret.
    Unsupported,
}

/// All of the binary's DWARF that gorefs uses, owned and indexed.
#[derive(Debug)]
pub struct DwarfInfo {
    types: Vec<DwarfType>,
    /// Type ids sorted by name; among equal names non-typedefs come first.
    types_by_name: Vec<DwarfTypeId>,
    /// (runtime type offset, id), sorted; non-typedefs first among equals.
    types_by_rtype: Vec<(u64, DwarfTypeId)>,
    /// Struct layouts, built on first request (one slot per type).
    layouts: Vec<OnceLock<Box<StructLayout>>>,
    /// (name, value) sorted by name.
    constants: Vec<(Box<str>, i64)>,
    /// Sorted by address.
    globals: Vec<GlobalVar>,
    /// Indices into `globals`, sorted by name.
    globals_by_name: Vec<u32>,
    /// Sorted by `low_pc`.
    functions: Vec<Function>,
    /// Indices into `functions`, sorted by name.
    functions_by_name: Vec<u32>,
}

/// Bounds the typedef chains and struct nesting walked for one query, so
/// that a cyclic (malformed) DWARF graph cannot loop.
const MAX_TYPE_DEPTH: usize = 64;
/// Bounds the dotted paths built for one struct layout.
const MAX_NESTED_FIELDS: usize = 1 << 16;

impl DwarfInfo {
    /// Parse `.debug_info` (with `.debug_abbrev`, `.debug_addr`,
    /// `.debug_loc`/`.debug_loclists`, `.debug_rnglists`, `.debug_str*`
    /// when present). `section` returns decompressed bytes or `None` if absent.
    pub fn parse(
        section: &dyn Fn(gimli::SectionId) -> Option<std::sync::Arc<[u8]>>,
    ) -> Result<DwarfInfo, DwarfError> {
        build::build(section)
    }

    /// A `DwarfInfo` assembled from parts rather than parsed: the runtime
    /// layouts of a stripped binary, from a table saved from another build
    /// of the same release. Ids are indices into `types`; a reference out of
    /// range resolves to a placeholder. There are no functions.
    pub fn from_parts(
        types: Vec<DwarfType>,
        constants: Vec<(Box<str>, i64)>,
        globals: Vec<GlobalVar>,
    ) -> DwarfInfo {
        build::assemble(types, constants, globals, Vec::new())
    }

    /// Every constant, sorted by name.
    pub fn constants(&self) -> impl Iterator<Item = (&str, i64)> {
        self.constants.iter().map(|(n, v)| (n.as_ref(), *v))
    }

    /// The layout of the struct named `name` (typedefs followed), e.g.
    /// `runtime.mspan`, `runtime.g`, `internal/abi.Type`.
    pub fn struct_layout(&self, name: &str) -> Option<&StructLayout> {
        let id = self.resolve_typedefs(self.type_by_name(name)?);
        let ty = self.types.get(id.index())?;
        let TypeShape::Struct { fields } = &ty.shape else {
            return None;
        };
        let slot = self.layouts.get(id.index())?;
        Some(slot.get_or_init(|| {
            let mut nested = Vec::new();
            for f in fields {
                self.flatten_into(f, &f.name, f.offset, 1, &mut nested);
            }
            Box::new(StructLayout {
                name: ty.name.clone(),
                size: ty.size.unwrap_or(0),
                fields: fields.clone(),
                nested,
            })
        }))
    }

    /// Add the members of `field` (if it is a struct) under `path.` to `out`.
    fn flatten_into(
        &self,
        field: &FieldLayout,
        path: &str,
        base: u64,
        depth: usize,
        out: &mut Vec<FieldLayout>,
    ) {
        if depth > MAX_TYPE_DEPTH {
            return;
        }
        let inner = self.resolve_typedefs(field.ty);
        let TypeShape::Struct { fields } = &self.ty(inner).shape else {
            return;
        };
        for f in fields {
            if out.len() >= MAX_NESTED_FIELDS {
                return;
            }
            let name = format!("{path}.{}", f.name);
            let offset = base.saturating_add(f.offset);
            out.push(FieldLayout {
                name: name.clone(),
                offset,
                ty: f.ty,
                size: f.size,
                embedded: f.embedded,
            });
            self.flatten_into(f, &name, offset, depth + 1, out);
        }
    }

    /// The value of a `DW_TAG_constant`, e.g. `runtime.mSpanInUse`. Values
    /// are returned as stored (`DW_FORM_sdata`); the caller reinterprets
    /// unsigned constants above `i64::MAX`.
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.constants
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .map(|i| self.constants[i].1)
    }

    /// A package-level variable by name, e.g. `runtime.mheap_`.
    pub fn global(&self, name: &str) -> Option<&GlobalVar> {
        let i = self
            .globals_by_name
            .partition_point(|&i| self.globals[i as usize].name.as_str() < name);
        let g = &self.globals[*self.globals_by_name.get(i)? as usize];
        (g.name == name).then_some(g)
    }

    /// All package-level variables, sorted by address.
    pub fn globals(&self) -> &[GlobalVar] {
        &self.globals
    }

    /// The variable whose `[addr, addr+size)` contains `addr` (link-time).
    pub fn global_containing(&self, addr: u64) -> Option<&GlobalVar> {
        let i = self.globals.partition_point(|g| g.addr <= addr);
        // Variables do not overlap, but zero-sized ones may share an address
        // with their neighbour: the candidate is the last sized one.
        self.globals[..i]
            .iter()
            .rev()
            .find(|g| g.size != 0)
            .filter(|g| addr - g.addr < g.size)
    }

    /// A type by id. Ids come from this `DwarfInfo`; a foreign id that is out
    /// of range yields the placeholder [`TypeShape::Unknown`] type.
    /// The id of a number from [`DwarfTypeId::to_raw`], if it names a type.
    pub fn type_id(&self, raw: u32) -> Option<DwarfTypeId> {
        ((raw as usize) < self.types.len()).then_some(DwarfTypeId(raw))
    }

    pub fn ty(&self, id: DwarfTypeId) -> &DwarfType {
        self.types
            .get(id.index())
            .unwrap_or_else(|| &self.types[self.types.len() - 1])
    }

    /// A type by Go name. When a struct or base type and a typedef share the
    /// name (every named Go type), the struct or base type is returned.
    pub fn type_by_name(&self, name: &str) -> Option<DwarfTypeId> {
        let i = self
            .types_by_name
            .partition_point(|&id| self.ty(id).name.as_str() < name);
        let id = *self.types_by_name.get(i)?;
        (self.ty(id).name == name).then_some(id)
    }

    /// The type whose `DW_AT_go_runtime_type` is `off` (= type descriptor
    /// address − `moduledata.types`).
    pub fn type_by_runtime_offset(&self, off: u64) -> Option<DwarfTypeId> {
        let i = self.types_by_rtype.partition_point(|&(o, _)| o < off);
        let &(o, id) = self.types_by_rtype.get(i)?;
        (o == off).then_some(id)
    }

    /// The function whose `[low_pc, high_pc)` contains `pc` (link-time).
    pub fn function_at(&self, pc: u64) -> Option<&Function> {
        let i = self.functions.partition_point(|f| f.low_pc <= pc);
        let f = self.functions[..i].last()?;
        (pc < f.high_pc).then_some(f)
    }

    /// All functions with code, sorted by `low_pc`.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    pub fn function_by_name(&self, name: &str) -> Option<&Function> {
        let i = self
            .functions_by_name
            .partition_point(|&i| self.functions[i as usize].name.as_str() < name);
        let f = &self.functions[*self.functions_by_name.get(i)? as usize];
        (f.name == name).then_some(f)
    }

    /// Follow typedefs to the underlying type (stops after a bounded number
    /// of hops on malformed, cyclic input).
    pub fn resolve_typedefs(&self, mut id: DwarfTypeId) -> DwarfTypeId {
        for _ in 0..MAX_TYPE_DEPTH {
            match self.ty(id).shape {
                TypeShape::Typedef { target } => id = target,
                _ => break,
            }
        }
        id
    }
}
