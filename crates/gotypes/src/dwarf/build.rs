//! Building a [`DwarfInfo`] from the DWARF sections.
//!
//! Two linear walks over every unit's DIEs with [`gimli::EntriesRaw`], which
//! skips the attributes of DIEs that are not indexed without decoding them:
//!
//! 1. collect the `.debug_info` offsets of type DIEs, whose order gives the
//!    type ids, and the names of abstract functions and their variables
//!    (named later through `DW_AT_abstract_origin`);
//! 2. build types, constants, globals and functions, resolving type
//!    references (`DW_FORM_ref_addr` into Go's separate types unit) to ids by
//!    binary search over the offsets from walk 1.
//!
//! Then derived sizes are filled in and the lookup indices sorted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use gimli::constants as dw;
use gimli::{
    AbbreviationsCacheStrategy, Attribute, AttributeValue, DebuggingInformationEntry, DwAt, DwTag,
    EndianSlice, LittleEndian, SectionId, Unit,
};

use super::location;
use super::{
    DwarfError, DwarfInfo, DwarfType, DwarfTypeId, FieldLayout, Function, GlobalVar, LocListEntry,
    LocalVar, Piece, PieceLoc, TypeShape, VarLocation, MAX_TYPE_DEPTH,
};

type R<'a> = EndianSlice<'a, LittleEndian>;
type Dwarf<'a> = gimli::Dwarf<R<'a>>;
type Entry<'a> = DebuggingInformationEntry<R<'a>>;

const DW_AT_GO_KIND: DwAt = DwAt(0x2900);
const DW_AT_GO_KEY: DwAt = DwAt(0x2901);
const DW_AT_GO_ELEM: DwAt = DwAt(0x2902);
const DW_AT_GO_EMBEDDED_FIELD: DwAt = DwAt(0x2903);
const DW_AT_GO_RUNTIME_TYPE: DwAt = DwAt(0x2904);
const DW_AT_GO_CLOSURE_OFFSET: DwAt = DwAt(0x2907);

fn is_type_tag(tag: DwTag) -> bool {
    matches!(
        tag,
        dw::DW_TAG_base_type
            | dw::DW_TAG_pointer_type
            | dw::DW_TAG_structure_type
            | dw::DW_TAG_array_type
            | dw::DW_TAG_typedef
            | dw::DW_TAG_subroutine_type
            | dw::DW_TAG_unspecified_type
    )
}

fn is_var_tag(tag: DwTag) -> bool {
    tag == dw::DW_TAG_variable || tag == dw::DW_TAG_formal_parameter
}

/// Name and type of a DIE inside an abstract (inlined) function, for the
/// concrete DIEs that refer to it through `DW_AT_abstract_origin`.
struct AbstractDie {
    name: String,
    ty: Option<u64>,
}

pub(super) fn build(
    section: &dyn Fn(SectionId) -> Option<Arc<[u8]>>,
) -> Result<DwarfInfo, DwarfError> {
    let info = section(SectionId::DebugInfo)
        .filter(|s| !s.is_empty())
        .ok_or(DwarfError::NoDebugInfo)?;
    if u32::try_from(info.len()).is_err() {
        return Err(DwarfError::TooLarge(info.len()));
    }
    let empty: Arc<[u8]> = Arc::from(&[][..]);
    let owned = gimli::DwarfSections::load(|id| {
        Ok::<_, Infallible>(match id {
            SectionId::DebugInfo => Arc::clone(&info),
            _ => section(id).unwrap_or_else(|| Arc::clone(&empty)),
        })
    })
    .unwrap_or_else(|never| match never {});
    let mut dwarf: Dwarf<'_> = owned.borrow(|s| EndianSlice::new(s, LittleEndian));
    dwarf.populate_abbreviations_cache(AbbreviationsCacheStrategy::All);

    let units = load_units(&dwarf)?;
    let (type_offsets, abstracts) = collect(&dwarf, &units)?;
    let mut b = Builder {
        dwarf: &dwarf,
        type_offsets: &type_offsets,
        abstracts: &abstracts,
        types: Vec::with_capacity(type_offsets.len() + 1),
        constants: Vec::new(),
        globals: Vec::new(),
        functions: Vec::new(),
    };
    for unit in &units {
        b.walk(unit)?;
    }
    Ok(b.finish())
}

fn malformed(offset: u64) -> impl Fn(gimli::Error) -> DwarfError {
    move |source| DwarfError::Malformed { offset, source }
}

fn load_units<'a>(dwarf: &Dwarf<'a>) -> Result<Vec<Unit<R<'a>>>, DwarfError> {
    let mut units = Vec::new();
    let mut headers = dwarf.units();
    let mut next = 0;
    while let Some(header) = headers.next().map_err(malformed(next))? {
        let start = unit_start(&header);
        next = start + header.length_including_self() as u64;
        units.push(dwarf.unit(header).map_err(malformed(start))?);
    }
    Ok(units)
}

fn unit_start(header: &gimli::UnitHeader<R<'_>>) -> u64 {
    header.offset().0 as u64
}

/// The `.debug_info` offset of a DIE at `offset` within `unit`.
fn global_offset(unit: &Unit<R<'_>>, offset: gimli::UnitOffset) -> u64 {
    unit_start(&unit.header) + offset.0 as u64
}

/// The `.debug_info` offset a reference attribute points to.
fn reference(unit: &Unit<R<'_>>, value: AttributeValue<R<'_>>) -> Option<u64> {
    match value {
        AttributeValue::UnitRef(o) => Some(global_offset(unit, o)),
        AttributeValue::DebugInfoRef(o) => Some(o.0 as u64),
        _ => None,
    }
}

fn attr<'a, 'e>(entry: &'e Entry<'a>, name: DwAt) -> Option<&'e Attribute<R<'a>>> {
    entry.attrs.iter().find(|a| a.name() == name)
}

fn attr_value<'a>(entry: &Entry<'a>, name: DwAt) -> Option<AttributeValue<R<'a>>> {
    attr(entry, name).map(|a| a.value())
}

fn attr_u64(entry: &Entry<'_>, name: DwAt) -> Option<u64> {
    attr_value(entry, name)?.udata_value()
}

fn attr_flag(entry: &Entry<'_>, name: DwAt) -> bool {
    matches!(attr_value(entry, name), Some(AttributeValue::Flag(true)))
}

fn name(dwarf: &Dwarf<'_>, unit: &Unit<R<'_>>, entry: &Entry<'_>) -> Option<String> {
    let value = attr_value(entry, dw::DW_AT_name)?;
    let s = dwarf.attr_string(unit, value).ok()?;
    Some(String::from_utf8_lossy(s.slice()).into_owned())
}

/// How much of a DIE a walk needs.
enum Want {
    Skip,
    /// Tag, offset and depth only: attributes are skipped undecoded.
    Header,
    All,
}

/// Walk one unit's DIEs in order, calling `visit` for those `want` does not
/// skip.
fn walk_unit<'a>(
    unit: &Unit<R<'a>>,
    want: impl Fn(DwTag) -> Want,
    mut visit: impl FnMut(&Entry<'a>),
) -> Result<(), DwarfError> {
    let start = unit_start(&unit.header);
    let mut raw = unit.entries_raw(None).map_err(malformed(start))?;
    let mut entry = Entry::null();
    while !raw.is_empty() {
        let depth = raw.next_depth();
        let offset = raw.next_offset();
        let fail = malformed(start + offset.0 as u64);
        let Some(abbrev) = raw.read_abbreviation().map_err(&fail)? else {
            continue;
        };
        match want(abbrev.tag()) {
            Want::Skip => {
                raw.skip_attributes(abbrev.attributes()).map_err(&fail)?;
                continue;
            }
            Want::Header => {
                raw.skip_attributes(abbrev.attributes()).map_err(&fail)?;
                entry.attrs.clear();
            }
            Want::All => raw
                .read_attributes(abbrev.attributes(), &mut entry.attrs)
                .map_err(&fail)?,
        }
        entry.tag = abbrev.tag();
        entry.has_children = abbrev.has_children();
        entry.offset = offset;
        entry.depth = depth;
        visit(&entry);
    }
    Ok(())
}

/// Walk 1: type DIE offsets (ascending) and the DIEs of abstract functions.
fn collect(
    dwarf: &Dwarf<'_>,
    units: &[Unit<R<'_>>],
) -> Result<(Vec<u64>, HashMap<u64, AbstractDie>), DwarfError> {
    let mut types = Vec::new();
    let mut abstracts = HashMap::new();
    for unit in units {
        // Depth of the abstract subprogram being read, if any.
        let mut in_abstract: Option<isize> = None;
        let want = |tag| {
            if is_type_tag(tag) {
                Want::Header
            } else if tag == dw::DW_TAG_subprogram || is_var_tag(tag) {
                Want::All
            } else {
                Want::Skip
            }
        };
        walk_unit(unit, want, |e| {
            let off = global_offset(unit, e.offset);
            if is_type_tag(e.tag) {
                types.push(off);
            } else if e.tag == dw::DW_TAG_subprogram {
                in_abstract = attr(e, dw::DW_AT_inline).map(|_| e.depth);
                if in_abstract.is_some() {
                    abstracts.insert(off, abstract_die(dwarf, unit, e));
                }
            } else if in_abstract.is_some_and(|d| e.depth > d) {
                abstracts.insert(off, abstract_die(dwarf, unit, e));
            }
        })?;
    }
    Ok((types, abstracts))
}

fn abstract_die(dwarf: &Dwarf<'_>, unit: &Unit<R<'_>>, e: &Entry<'_>) -> AbstractDie {
    AbstractDie {
        name: name(dwarf, unit, e).unwrap_or_default(),
        ty: attr_value(e, dw::DW_AT_type).and_then(|v| reference(unit, v)),
    }
}

/// Walk 2 state and output.
struct Builder<'a, 'd> {
    dwarf: &'d Dwarf<'a>,
    type_offsets: &'d [u64],
    abstracts: &'d HashMap<u64, AbstractDie>,
    types: Vec<DwarfType>,
    constants: Vec<(Box<str>, i64)>,
    globals: Vec<GlobalVar>,
    functions: Vec<Function>,
}

/// What the DIEs being read belong to.
#[derive(Default)]
struct Open {
    /// (type index, depth) of the struct whose members follow.
    strukt: Option<(usize, isize)>,
    /// (type index, depth) of the array whose subrange follows.
    array: Option<(usize, isize)>,
    /// (function index, depth) of the function whose variables follow.
    function: Option<(usize, isize)>,
    /// Depth of a subtree being skipped (inlined calls).
    skip: Option<isize>,
}

impl<'a> Builder<'a, '_> {
    fn walk(&mut self, unit: &Unit<R<'a>>) -> Result<(), DwarfError> {
        let want = |tag| {
            if is_type_tag(tag)
                || is_var_tag(tag)
                || matches!(
                    tag,
                    dw::DW_TAG_member
                        | dw::DW_TAG_subrange_type
                        | dw::DW_TAG_constant
                        | dw::DW_TAG_subprogram
                )
            {
                Want::All
            } else if tag == dw::DW_TAG_inlined_subroutine {
                Want::Header
            } else {
                Want::Skip
            }
        };
        let mut open = Open::default();
        walk_unit(unit, want, |e| self.visit(unit, e, &mut open))
    }

    fn visit(&mut self, unit: &Unit<R<'a>>, e: &Entry<'a>, open: &mut Open) {
        let depth = e.depth;
        let skipped = open.skip.is_some_and(|d| depth > d);
        if !skipped {
            open.skip = None;
        }
        for slot in [&mut open.strukt, &mut open.array, &mut open.function] {
            if slot.is_some_and(|(_, d)| depth <= d) {
                *slot = None;
            }
        }
        // Every type DIE is pushed, wherever it is, so that arena indices
        // stay equal to positions in `type_offsets`.
        if is_type_tag(e.tag) {
            let index = self.types.len();
            self.types.push(self.type_die(unit, e));
            if e.has_children {
                if e.tag == dw::DW_TAG_structure_type {
                    open.strukt = Some((index, depth));
                } else if e.tag == dw::DW_TAG_array_type {
                    open.array = Some((index, depth));
                }
            }
            return;
        }
        if skipped {
            return;
        }
        match e.tag {
            dw::DW_TAG_member => {
                if let Some((index, _)) = open.strukt {
                    let field = self.member(unit, e);
                    if let TypeShape::Struct { fields } = &mut self.types[index].shape {
                        fields.push(field);
                    }
                }
            }
            dw::DW_TAG_subrange_type => {
                if let Some((index, _)) = open.array {
                    let count = attr_u64(e, dw::DW_AT_count).or_else(|| {
                        attr_u64(e, dw::DW_AT_upper_bound).and_then(|u| u.checked_add(1))
                    });
                    if let TypeShape::Array { count: c, .. } = &mut self.types[index].shape {
                        *c = count;
                    }
                }
            }
            dw::DW_TAG_constant if depth == 1 => {
                if let (Some(name), Some(value)) = (self.name(unit, e), const_value(e)) {
                    self.constants.push((name.into_boxed_str(), value));
                }
            }
            dw::DW_TAG_subprogram => {
                if let Some(f) = self.function(unit, e) {
                    open.function = Some((self.functions.len(), depth));
                    self.functions.push(f);
                }
            }
            dw::DW_TAG_inlined_subroutine => open.skip = Some(depth),
            tag if is_var_tag(tag) => {
                if let Some((index, _)) = open.function {
                    let var = self.local(unit, e);
                    self.functions[index].vars.push(var);
                } else if depth == 1 && tag == dw::DW_TAG_variable {
                    if let Some(g) = self.global(unit, e) {
                        self.globals.push(g);
                    }
                }
            }
            _ => {}
        }
    }

    /// The id of the type DIE at `.debug_info` offset `off`.
    fn type_id(&self, off: u64) -> Option<DwarfTypeId> {
        let i = self.type_offsets.binary_search(&off).ok()?;
        // The offsets table is smaller than 4 GiB of .debug_info (checked).
        Some(DwarfTypeId(i as u32))
    }

    fn type_ref(&self, unit: &Unit<R<'a>>, e: &Entry<'a>, name: DwAt) -> Option<DwarfTypeId> {
        self.type_id(reference(unit, attr_value(e, name)?)?)
    }

    /// The placeholder type that dangling references resolve to.
    fn placeholder(&self) -> DwarfTypeId {
        DwarfTypeId(self.type_offsets.len() as u32)
    }

    fn type_die(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> DwarfType {
        let target = self.type_ref(unit, e, dw::DW_AT_type);
        let mut size = attr_u64(e, dw::DW_AT_byte_size);
        let shape = match e.tag {
            dw::DW_TAG_base_type => TypeShape::Base {
                encoding: match attr_value(e, dw::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(enc)) => enc.0,
                    _ => 0,
                },
            },
            dw::DW_TAG_pointer_type => {
                size = size.or(Some(u64::from(unit.header.address_size())));
                TypeShape::Pointer { target }
            }
            dw::DW_TAG_structure_type => TypeShape::Struct { fields: Vec::new() },
            dw::DW_TAG_array_type => TypeShape::Array {
                elem: target.unwrap_or_else(|| self.placeholder()),
                count: None,
            },
            dw::DW_TAG_typedef => TypeShape::Typedef {
                target: target.unwrap_or_else(|| self.placeholder()),
            },
            dw::DW_TAG_subroutine_type => TypeShape::Subroutine,
            _ => TypeShape::Unknown,
        };
        let runtime_type = match attr_value(e, DW_AT_GO_RUNTIME_TYPE) {
            Some(AttributeValue::Addr(v)) => Some(v),
            Some(v) => v.udata_value(),
            None => None,
        };
        DwarfType {
            name: self.name(unit, e).unwrap_or_default(),
            size,
            go_kind: attr_value(e, DW_AT_GO_KIND).and_then(|v| v.u8_value()),
            runtime_type: runtime_type.filter(|&v| v != 0),
            shape,
            go_elem: self.type_ref(unit, e, DW_AT_GO_ELEM),
            go_key: self.type_ref(unit, e, DW_AT_GO_KEY),
        }
    }

    fn member(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> FieldLayout {
        FieldLayout {
            name: self.name(unit, e).unwrap_or_default(),
            offset: attr_u64(e, dw::DW_AT_data_member_location).unwrap_or(0),
            ty: self
                .type_ref(unit, e, dw::DW_AT_type)
                .unwrap_or_else(|| self.placeholder()),
            size: None,
            embedded: attr_flag(e, DW_AT_GO_EMBEDDED_FIELD),
        }
    }

    fn name(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> Option<String> {
        name(self.dwarf, unit, e)
    }

    fn global(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> Option<GlobalVar> {
        let expr = attr_value(e, dw::DW_AT_location)?.exprloc_value()?;
        let pieces = self.decode(unit, expr);
        let [Piece {
            loc: PieceLoc::Addr(addr),
            size: None,
        }] = pieces[..]
        else {
            return None;
        };
        Some(GlobalVar {
            name: self.name(unit, e)?,
            addr,
            ty: self.type_ref(unit, e, dw::DW_AT_type),
            size: 0,
        })
    }

    fn function(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> Option<Function> {
        let low_pc = self
            .dwarf
            .attr_address(unit, attr_value(e, dw::DW_AT_low_pc)?)
            .ok()??;
        // DW_FORM_addr is absolute; the data forms Go uses are a length.
        let high = attr_value(e, dw::DW_AT_high_pc)?;
        let high_pc = match self.dwarf.attr_address(unit, high) {
            Ok(Some(a)) => a,
            _ => low_pc.checked_add(high.udata_value()?)?,
        };
        let name = match self.name(unit, e) {
            Some(n) => n,
            None => self.origin(unit, e)?.name.clone(),
        };
        Some(Function {
            name,
            low_pc,
            high_pc,
            vars: Vec::new(),
        })
    }

    /// The abstract DIE named by `DW_AT_abstract_origin`.
    fn origin(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> Option<&AbstractDie> {
        let off = reference(unit, attr_value(e, dw::DW_AT_abstract_origin)?)?;
        self.abstracts.get(&off)
    }

    fn local(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> LocalVar {
        let origin = self.origin(unit, e);
        let ty = self
            .type_ref(unit, e, dw::DW_AT_type)
            .or_else(|| self.type_id(origin?.ty?));
        LocalVar {
            name: self
                .name(unit, e)
                .or_else(|| origin.map(|o| o.name.clone()))
                .unwrap_or_default(),
            ty,
            is_param: e.tag == dw::DW_TAG_formal_parameter,
            closure_offset: attr_u64(e, DW_AT_GO_CLOSURE_OFFSET),
            location: self.location(unit, e),
        }
    }

    fn location(&self, unit: &Unit<R<'a>>, e: &Entry<'a>) -> VarLocation {
        let Some(value) = attr_value(e, dw::DW_AT_location) else {
            return VarLocation::None;
        };
        if let Some(expr) = value.exprloc_value() {
            let pieces = self.decode(unit, expr);
            return if pieces.is_empty() {
                VarLocation::None
            } else {
                VarLocation::Pieces(pieces.into_boxed_slice())
            };
        }
        let Ok(Some(mut iter)) = self.dwarf.attr_locations(unit, value) else {
            return VarLocation::None;
        };
        let mut entries = Vec::new();
        // A malformed list is cut at the error: the entries before it stand.
        while let Ok(Some(entry)) = iter.next() {
            entries.push(LocListEntry {
                begin: entry.range.begin,
                end: entry.range.end,
                pieces: self.decode(unit, entry.data).into_boxed_slice(),
            });
        }
        VarLocation::List(entries.into_boxed_slice())
    }

    fn decode(&self, unit: &Unit<R<'a>>, expr: gimli::Expression<R<'a>>) -> Vec<Piece> {
        location::decode(expr, unit.encoding(), &|i| self.dwarf.address(unit, i).ok())
    }

    fn finish(mut self) -> DwarfInfo {
        // Pushed one by one: most functions' lists end with spare room, and
        // all of them live as long as the model.
        for f in &mut self.functions {
            f.vars.shrink_to_fit();
        }
        assemble(self.types, self.constants, self.globals, self.functions)
    }
}

/// Fill in derived sizes and sort the lookup indices of a type arena.
pub(super) fn assemble(
    mut types: Vec<DwarfType>,
    mut constants: Vec<(Box<str>, i64)>,
    mut globals: Vec<GlobalVar>,
    mut functions: Vec<Function>,
) -> DwarfInfo {
    types.push(DwarfType {
        name: String::new(),
        size: None,
        go_kind: None,
        runtime_type: None,
        shape: TypeShape::Unknown,
        go_elem: None,
        go_key: None,
    });
    let resolved_size = |types: &[DwarfType], id: DwarfTypeId| {
        types.get(resolve(types, id).index()).and_then(|t| t.size)
    };
    let typedef_sizes: Vec<Option<u64>> = types
        .iter()
        .map(|t| match t.shape {
            TypeShape::Typedef { target } => t.size.or(resolved_size(&types, target)),
            _ => t.size,
        })
        .collect();
    for (t, size) in types.iter_mut().zip(typedef_sizes) {
        t.size = size;
    }
    for i in 0..types.len() {
        let sizes: Vec<Option<u64>> = match &types[i].shape {
            TypeShape::Struct { fields } => {
                fields.iter().map(|f| resolved_size(&types, f.ty)).collect()
            }
            _ => continue,
        };
        if let TypeShape::Struct { fields } = &mut types[i].shape {
            for (f, size) in fields.iter_mut().zip(sizes) {
                f.size = size;
            }
        }
    }
    for g in &mut globals {
        g.size = g.ty.and_then(|t| resolved_size(&types, t)).unwrap_or(0);
    }

    let ids = |n: usize| (0..n as u32).map(DwarfTypeId);
    let is_typedef = |id: DwarfTypeId| matches!(types[id.index()].shape, TypeShape::Typedef { .. });
    let mut types_by_name: Vec<DwarfTypeId> = ids(types.len() - 1)
        .filter(|id| !types[id.index()].name.is_empty())
        .collect();
    types_by_name.sort_unstable_by(|&a, &b| {
        (&types[a.index()].name, is_typedef(a), a.0).cmp(&(
            &types[b.index()].name,
            is_typedef(b),
            b.0,
        ))
    });
    let mut types_by_rtype: Vec<(u64, DwarfTypeId)> = ids(types.len() - 1)
        .filter_map(|id| Some((types[id.index()].runtime_type?, id)))
        .collect();
    types_by_rtype.sort_unstable_by_key(|&(off, id)| (off, is_typedef(id), id.0));

    constants.sort_by(|a, b| a.0.cmp(&b.0));
    constants.dedup_by(|a, b| a.0 == b.0);
    globals.sort_by_key(|g| g.addr);
    let mut globals_by_name: Vec<u32> = (0..globals.len() as u32).collect();
    globals_by_name.sort_by(|&a, &b| globals[a as usize].name.cmp(&globals[b as usize].name));
    functions.sort_by_key(|f| f.low_pc);
    let mut functions_by_name: Vec<u32> = (0..functions.len() as u32).collect();
    functions_by_name.sort_by(|&a, &b| functions[a as usize].name.cmp(&functions[b as usize].name));
    let layouts = (0..types.len()).map(|_| OnceLock::new()).collect();
    DwarfInfo {
        types,
        types_by_name,
        types_by_rtype,
        layouts,
        constants,
        globals,
        globals_by_name,
        functions,
        functions_by_name,
    }
}

/// Follow typedefs in an arena under construction.
fn resolve(types: &[DwarfType], mut id: DwarfTypeId) -> DwarfTypeId {
    for _ in 0..MAX_TYPE_DEPTH {
        match types.get(id.index()).map(|t| &t.shape) {
            Some(TypeShape::Typedef { target }) => id = *target,
            _ => break,
        }
    }
    id
}

/// `DW_AT_const_value` as stored: `sdata` sign-extended, other forms as raw bits.
fn const_value(e: &Entry<'_>) -> Option<i64> {
    Some(match attr_value(e, dw::DW_AT_const_value)? {
        AttributeValue::Sdata(v) => v,
        AttributeValue::Udata(v) | AttributeValue::Data8(v) => v as i64,
        AttributeValue::Data1(v) => i64::from(v),
        AttributeValue::Data2(v) => i64::from(v),
        AttributeValue::Data4(v) => i64::from(v),
        _ => return None,
    })
}
