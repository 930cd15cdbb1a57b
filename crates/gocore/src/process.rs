//! The whole pipeline from bytes to a typed, marked heap.
//!
//! [`Core::open`] loads the files and everything static about the binary
//! (DWARF, module data, pclntab, struct layouts, the version's behaviour);
//! [`Core::analyze`] reads the dynamic state (spans, goroutines, roots),
//! marks live objects and types them. Reports are built on [`Analysis`].

use std::path::Path;

use gotypes::dwarf::DwarfInfo;
use gotypes::rtype::{AbiFlavor, TypeReader};
use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::goroutines::Goroutine;
use crate::heap::{Heap, HeapLayout, ObjId, PtrMetadata};
use crate::layout::{self, Lookup};
use crate::loader::{GoVersion, Loaded};
use crate::mark::{self, MarkBits};
use crate::moduledata::ModuleData;
use crate::pclntab::Pclntab;
use crate::progress::{NoProgress, Progress};
use crate::roots::{self, GlobalNamer, RootKind, Roots, SpecialLayout};
use crate::stacks;
use crate::typing::{FuncResolver, HeapTypes, TypedRoot, Typer, TypingLayout};

/// A loaded core and binary: everything that does not need the heap walk.
pub struct Core {
    pub loaded: Loaded,
    pub dwarf: DwarfInfo,
    pub version: GoVersion,
    pub experiments: Vec<String>,
    pub md: ModuleData,
    pub pcln: Pclntab,
    pub heap_layout: HeapLayout,
    pub meta: PtrMetadata,
    pub flavor: AbiFlavor,
    pub warnings: Vec<String>,
}

/// The analysed heap.
pub struct Analysis<'a> {
    pub core: &'a Core,
    pub rtypes: TypeReader<'a>,
    pub heap: Heap,
    pub goroutines: Vec<Goroutine>,
    pub roots: Roots,
    pub marks: MarkBits,
    pub types: HeapTypes,
    pub warnings: Vec<String>,
}

impl Core {
    pub fn open(core_path: &Path, exe_path: Option<&Path>) -> Result<Core, Error> {
        Core::open_with_debug(core_path, exe_path, None)
    }

    /// [`Core::open`] with DWARF and symbols from a separate debug file.
    pub fn open_with_debug(
        core_path: &Path,
        exe_path: Option<&Path>,
        debug_file: Option<&Path>,
    ) -> Result<Core, Error> {
        let loaded = Loaded::open_with_debug(core_path, exe_path, debug_file)?;
        let info = &loaded.exe.build_info;
        info.check_supported()?;
        let version = info.version;
        let experiments = info.experiments.clone();
        let dwarf =
            DwarfInfo::parse(&|id| loaded.debug_info().dwarf_section(id)).map_err(|e| match e {
                gotypes::dwarf::DwarfError::NoDebugInfo => Error::NoDwarf {
                    exe: loaded.exe.path.display().to_string(),
                },
                e => Error::Dwarf(e),
            })?;
        let l = Lookup {
            dwarf: &dwarf,
            bias: loaded.bias,
        };
        let md = ModuleData::read(&loaded.image, &l)?;
        let pcln = Pclntab::new(&loaded.image, md.tables)
            .map_err(|e| Error::Corrupt(format!("pclntab: {e}")))?;
        let green_tea = dwarf.struct_layout("runtime.spanInlineMarkBits").is_some();
        let heap_layout = layout::heap_layout(&l)?;
        let meta = match heap_layout.arena_bitmap {
            Some(bitmap_offset) => PtrMetadata::ArenaBitmap { bitmap_offset },
            None => PtrMetadata::AllocHeaders { green_tea },
        };
        let flavor = AbiFlavor::for_version(version.minor, &experiments);
        let warnings = loaded.warnings.clone();
        Ok(Core {
            loaded,
            dwarf,
            version,
            experiments,
            md,
            pcln,
            heap_layout,
            meta,
            flavor,
            warnings,
        })
    }

    pub fn mem(&self) -> &dyn Memory {
        &self.loaded.image
    }

    pub(crate) fn lookup(&self) -> Lookup<'_> {
        Lookup {
            dwarf: &self.dwarf,
            bias: self.loaded.bias,
        }
    }

    /// Name of the function containing `pc`.
    pub fn func_name(&self, pc: Addr) -> Option<&str> {
        let f = self.pcln.find_func(pc)?;
        Some(self.pcln.func_name(&f))
    }

    /// A reader of the binary's runtime type descriptors.
    pub fn type_reader(&self) -> TypeReader<'_> {
        TypeReader::new(self.mem(), self.md.types, self.md.etypes, self.flavor)
    }

    pub fn analyze(&self) -> Result<Analysis<'_>, Error> {
        self.analyze_with(&NoProgress)
    }

    /// [`Core::analyze`], reporting its phases to `progress`.
    pub fn analyze_with(&self, progress: &dyn Progress) -> Result<Analysis<'_>, Error> {
        let mem = self.mem();
        let l = self.lookup();
        let rtypes = self.type_reader();
        progress.phase("reading spans", None);
        let heap = Heap::load(
            mem,
            self.heap_layout.clone(),
            self.meta,
            self.flavor.gcmask_on_demand,
        )?;
        let mut warnings = Vec::new();
        if heap.skipped_spans > 0 {
            warnings.push(format!(
                "{} spans could not be read; their objects are missing",
                heap.skipped_spans
            ));
        }

        progress.phase("reading roots and goroutines", None);
        let mut roots = Roots::default();
        roots::global_roots(mem, &self.md, self, &mut roots)?;
        let specials = SpecialLayout::read(&l)?;
        let func_name = |pc: Addr| self.func_name(pc).map(str::to_string);
        roots::special_roots(mem, &heap, &specials, &func_name, &mut roots);

        let mut typed_roots = self.global_typed_roots();
        let goroutines = stacks::read_all(self, &l, &mut roots, &mut typed_roots)?;
        warnings.append(&mut roots.warnings);
        let unwound = goroutines
            .iter()
            .filter(|g| g.unwind_error.is_some())
            .count();
        if unwound > 0 {
            warnings.push(format!(
                "{unwound} goroutines could not be fully unwound; their deeper frames are not roots"
            ));
        }

        progress.phase("marking", Some(heap.object_count() as u64));
        let marks = mark::mark(
            &heap,
            mem,
            &rtypes,
            roots.roots.iter().map(|r| r.target),
            progress,
        );
        progress.phase("typing", None);
        let typing_layout = typing_layout(&l);
        let typer = Typer {
            mem,
            rtypes: &rtypes,
            dwarf: &self.dwarf,
            types_base: self.md.types,
            bias: self.loaded.bias,
            layout: &typing_layout,
            funcs: self,
        };
        let types = typer.run(&heap, &typed_roots, &roots.typed_objects);
        Ok(Analysis {
            core: self,
            rtypes,
            heap,
            goroutines,
            roots,
            marks,
            types,
            warnings,
        })
    }

    /// Every global with a DWARF type, as a typed root for propagation.
    fn global_typed_roots(&self) -> Vec<TypedRoot> {
        self.dwarf
            .globals()
            .iter()
            .filter_map(|g| {
                Some(TypedRoot {
                    addr: Addr(g.addr.wrapping_add(self.loaded.bias)),
                    ty: g.ty?,
                })
            })
            .collect()
    }
}

impl GlobalNamer for Core {
    fn name_global(&self, addr: Addr) -> Option<(String, u64)> {
        let link = addr.0.wrapping_sub(self.loaded.bias);
        if let Some(g) = self.dwarf.global_containing(link) {
            return Some((g.name.clone(), link - g.addr));
        }
        let s = self.loaded.debug_info().symbol_containing(Addr(link))?;
        Some((s.name.to_string(), link - s.addr.0))
    }
}

impl FuncResolver for Core {
    fn func_for_pc(&self, pc: Addr) -> Option<(Addr, String)> {
        let f = self.pcln.find_func(pc)?;
        Some((f.entry, self.pcln.func_name(&f).to_string()))
    }
}

pub(crate) fn typing_layout(l: &Lookup<'_>) -> TypingLayout {
    let d = l.dwarf;
    TypingLayout {
        hmap: d
            .struct_layout("runtime.hmap")
            .and_then(|s| Some((s.offset("buckets")?, s.offset("oldbuckets")?))),
        swiss_map: d
            .struct_layout("internal/runtime/maps.Map")
            .and_then(|s| Some((s.offset("dirPtr")?, s.offset("dirLen")?))),
        swiss_table: d
            .struct_layout("internal/runtime/maps.table")
            .and_then(|s| Some((s.offset("groups.data")?, s.offset("groups.lengthMask")?))),
        hchan: d
            .struct_layout("runtime.hchan")
            .and_then(|s| Some((s.offset("buf")?, s.offset("dataqsiz")?))),
    }
}

impl Analysis<'_> {
    pub fn is_live(&self, id: ObjId) -> bool {
        self.marks.get(id)
    }

    pub fn root_kind_counts(&self) -> Vec<(RootKind, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for r in &self.roots.roots {
            *counts.entry(r.kind).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }
}
