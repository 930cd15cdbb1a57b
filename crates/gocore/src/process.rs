//! The whole pipeline from bytes to a typed, marked heap.
//!
//! [`Core::open`] loads the files and everything static about the binary
//! (DWARF, module data, pclntab, struct layouts, the version's behaviour);
//! [`Core::analyze`] reads the dynamic state (spans, goroutines, roots),
//! types the objects, reads their references and marks live objects on
//! them. Reports are built on [`Analysis`].

use std::path::Path;

use gotypes::dwarf::DwarfInfo;
use gotypes::rtype::{AbiFlavor, KindDetail, TypeReader};
use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::goroutines::Goroutine;
use crate::graph::{MarkBits, References};
use crate::heap::{Heap, HeapLayout, ObjId, PtrMetadata};
use crate::layout::{self, Lookup};
use crate::loader::{GoVersion, Loaded};
use crate::locate;
use crate::moduledata::ModuleData;
use crate::pclntab::Pclntab;
use crate::progress::{NoProgress, Progress};
use crate::roots::{self, GlobalNamer, RootKind, Roots, SpecialLayout};
use crate::runtime_table::RuntimeTable;
use crate::stacks;
use crate::typing::{FuncResolver, HeapTypes, TypedRoot, Typer, TypingLayout};

/// Most wait reasons any release has (`runtime.waitReasonStrings`).
const MAX_WAIT_REASONS: u64 = 256;

/// A loaded core and binary: everything that does not need the heap walk.
pub struct Core {
    pub loaded: Loaded,
    /// The binary's DWARF; for a binary without DWARF, the runtime layouts
    /// of [`Core::runtime_table`] with the runtime globals found by scanning.
    pub dwarf: DwarfInfo,
    /// Set when the binary has no DWARF: gorefs's table for its release.
    pub runtime_table: Option<RuntimeTable>,
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
    /// The reference graph the marks were computed on, until
    /// [`crate::graph::HeapGraph::build`] takes it.
    pub references: Option<References>,
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
        let mut warnings = loaded.warnings.clone();
        let (dwarf, runtime_table) =
            match DwarfInfo::parse(&|id| loaded.debug_info().dwarf_section(id)) {
                Ok(dwarf) => (dwarf, None),
                Err(gotypes::dwarf::DwarfError::NoDebugInfo) => {
                    let (dwarf, table, note) = without_dwarf(&loaded, version, &experiments)?;
                    warnings.push(note);
                    (dwarf, Some(table))
                }
                Err(e) => return Err(e.into()),
            };
        let l = Lookup {
            dwarf: &dwarf,
            bias: loaded.bias,
        };
        let md = ModuleData::read(&loaded.image, &l)?;
        let pcln = Pclntab::new(&loaded.image, md.tables)
            .map_err(|e| Error::Corrupt(format!("pclntab: {e}")))?;
        let green_tea = dwarf.struct_layout("runtime.spanInlineMarkBits").is_some();
        let heap_layout = layout::heap_layout(&l, l.global("runtime.mheap_")?)?;
        let meta = match heap_layout.arena_bitmap {
            Some(bitmap_offset) => PtrMetadata::ArenaBitmap { bitmap_offset },
            None => PtrMetadata::AllocHeaders { green_tea },
        };
        let flavor = AbiFlavor::for_version(version.minor, &experiments);
        Ok(Core {
            loaded,
            dwarf,
            runtime_table,
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

    /// `runtime.waitReasonStrings`, from the binary, or from the runtime
    /// table when it has no DWARF.
    pub fn wait_reasons(&self) -> Vec<String> {
        match (
            self.dwarf.global("runtime.waitReasonStrings"),
            &self.runtime_table,
        ) {
            (Some(g), _) => {
                let n = (g.size / 16).min(MAX_WAIT_REASONS);
                let addr = Addr(g.addr.wrapping_add(self.loaded.bias));
                crate::goroutines::read_go_string_array(self.mem(), addr, n).unwrap_or_default()
            }
            (None, Some(t)) => t.wait_reasons.clone(),
            (None, None) => Vec::new(),
        }
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
        let mut specials = SpecialLayout::read(&l)?;
        if self.runtime_table.is_some() {
            self.find_queues(&heap, &rtypes, &mut specials, &mut warnings);
        }
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

        // The bar counts the objects read for references.
        progress.phase(
            "typing and extracting references",
            Some(heap.object_count() as u64),
        );
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
        // Without DWARF no root has a static type: look for interfaces.
        let untyped_slots: Option<Vec<Addr>> = self.runtime_table.is_some().then(|| {
            (roots.roots.iter())
                .map(|r| r.slot)
                .filter(|s| !s.is_null())
                .collect()
        });
        // Typing and extracting references (with marking) both read the
        // heap from the core, and neither needs the other: side by side,
        // each fills the CPUs the other leaves idle (typing applies each
        // round's proposals on one thread). Doing so keeps the core's pages
        // resident until both are done; the heap's peak comes later (the
        // dominators, the report). One phase for both, as they run at once.
        let (types, extracted) = rayon::join(
            || {
                typer.run(
                    &heap,
                    &typed_roots,
                    &roots.typed_objects,
                    untyped_slots.as_deref(),
                )
            },
            || References::extract(&heap, &self.loaded.image, &rtypes, &roots, progress),
        );
        // Nothing reads the core's heap again in bulk.
        self.loaded.image.release_resident();
        let (references, marks) = extracted?;
        Ok(Analysis {
            core: self,
            rtypes,
            heap,
            goroutines,
            roots,
            marks,
            types,
            references: Some(references),
            warnings,
        })
    }

    /// The finalizer queue of a binary without symbols, by scanning; a
    /// warning for the queues that stay unknown.
    fn find_queues(
        &self,
        heap: &Heap,
        rtypes: &TypeReader<'_>,
        specials: &mut SpecialLayout,
        warnings: &mut Vec<String>,
    ) {
        if !specials.has_finalizer_queue() {
            // A queued finalizer: a function's entry, an object's start,
            // and that object's `*T`.
            let valid = |pc: Addr, arg: Addr, ot: Addr| {
                self.pcln.find_func(pc).is_some_and(|f| f.entry == pc)
                    && heap.locate(arg).is_some_and(|o| o.start == arg)
                    && rtypes
                        .get(ot)
                        .is_ok_and(|t| matches!(t.detail, KindDetail::Ptr { .. }))
            };
            let words = locate::data_words(&self.loaded).filter(|&(_, w)| w != 0);
            specials.find_finalizer_queue(self.mem(), words.map(|(at, _)| at), &valid);
        }
        let missing = match (specials.has_finalizer_queue(), specials.has_cleanup_queue()) {
            (true, true) => return,
            (false, true) => "finalizers",
            (true, false) => "cleanups",
            (false, false) => "finalizers or cleanups",
        };
        warnings.push(format!(
            "no queue of {missing} was found without symbols: queued ones, if any, are not roots"
        ));
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

/// The runtime model of a binary without DWARF: layouts from gorefs's table
/// for its release, runtime globals from symbols or found by scanning, and
/// the warning that says what is missing.
fn without_dwarf(
    loaded: &Loaded,
    version: GoVersion,
    experiments: &[String],
) -> Result<(DwarfInfo, RuntimeTable, String), Error> {
    let exe = loaded.exe.path.display().to_string();
    let (table, exact) = RuntimeTable::builtin(version, experiments)
        .ok_or_else(|| Error::NoDwarf { exe: exe.clone() })?;
    let bare = table.dwarf(Vec::new());
    let globals = locate::runtime_globals(
        loaded,
        &Lookup {
            dwarf: &bare,
            bias: loaded.bias,
        },
    )
    .map_err(|e| match (e, loaded.warnings.first()) {
        // The likely cause, which would otherwise be printed only after.
        (Error::Stripped(what), Some(w)) => Error::Stripped(format!("{what}; {w}")),
        (e, _) => e,
    })?;
    let mut note = format!(
        "{exe} has no DWARF: runtime layouts from gorefs's {} table",
        table.describe()
    );
    if !exact {
        note += &format!(
            " (the binary was built with GOEXPERIMENT={}; layouts may differ)",
            experiments.join(",")
        );
    }
    note += if loaded.debug_info().symbols().next().is_some() {
        "; globals are named by symbol"
    } else {
        "; globals are named by section offset"
    };
    note += ", stack slots by function, and objects typed only from runtime type descriptors (malloc headers, interfaces, and what typed objects point to)";
    note += " (pass --debug-file for full names and types)";
    Ok((table.dwarf(globals), table, note))
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

    fn unnamed_are_user_globals(&self) -> bool {
        self.runtime_table.is_some()
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
        self.marks.contains(id.0)
    }

    /// The analysis' [`References`], taken from it; extracted anew when
    /// they were taken before.
    pub fn take_references(&mut self, progress: &dyn Progress) -> Result<References, Error> {
        match self.references.take() {
            Some(refs) => Ok(refs),
            None => {
                let n_objects = self.heap.object_count() as u64;
                progress.phase("extracting references", Some(n_objects));
                let extracted = References::extract(
                    &self.heap,
                    &self.core.loaded.image,
                    &self.rtypes,
                    &self.roots,
                    progress,
                );
                self.core.loaded.image.release_resident();
                extracted.map(|(refs, _)| refs)
            }
        }
    }

    /// Weak handles as `(object, handle)` node pairs.
    pub fn weak_edges(&self) -> Vec<(u32, u32)> {
        let heap = &self.heap;
        (self.roots.weak_refs.iter())
            .filter_map(|&(h, o)| Some((heap.find_object(o)?.0, heap.find_object(h)?.0)))
            .collect()
    }

    pub fn root_kind_counts(&self) -> Vec<(RootKind, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for r in &self.roots.roots {
            *counts.entry(r.kind).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }
}
