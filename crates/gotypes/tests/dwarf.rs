//! `gotypes::dwarf` against real Go binaries: the official test binaries
//! `testdata/cores/<variant>/heapzoo.zst` when present, plus any plain ELF
//! files listed in `GOTYPES_TEST_BINARIES` (colon-separated), e.g. small
//! programs built with several toolchains while developing.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gotypes::dwarf::{DwarfInfo, PieceLoc, TypeShape, VarLocation};
use object::{Object, ObjectSection};

/// Refuse to inflate a section beyond this (the files are test inputs, but
/// a corrupt header must not allocate gigabytes).
const MAX_SECTION: u64 = 512 << 20;

fn binaries() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let cores = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
    let mut variants: Vec<PathBuf> = std::fs::read_dir(&cores)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    variants.sort();
    for dir in variants {
        let path = dir.join("heapzoo.zst");
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
            .expect("zstd header");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut decoder, &mut bytes).expect("zstd data");
        out.push((path.display().to_string(), bytes));
    }
    if let Ok(list) = std::env::var("GOTYPES_TEST_BINARIES") {
        for p in list.split(':').filter(|p| !p.is_empty()) {
            out.push((p.to_string(), std::fs::read(p).expect("read binary")));
        }
    }
    if out.is_empty() {
        eprintln!(
            "note: no test binaries ({} is empty and GOTYPES_TEST_BINARIES is unset); skipping",
            cores.display()
        );
    }
    out
}

fn parse(elf: &[u8]) -> (DwarfInfo, String) {
    let file = object::File::parse(elf).expect("ELF");
    let load = |id: gimli::SectionId| -> Option<Arc<[u8]>> {
        let section = file.section_by_name(id.name())?;
        let compressed = section.compressed_data().ok()?;
        assert!(compressed.uncompressed_size <= MAX_SECTION);
        let data: Cow<[u8]> = compressed.decompress().ok()?;
        Some(Arc::from(&*data))
    };
    let info = load(gimli::SectionId::DebugInfo).expect(".debug_info");
    let version = go_version(&info);
    (DwarfInfo::parse(&load).expect("DWARF parses"), version)
}

/// "1.27.3" from the compile unit's producer, `Go cmd/compile go1.27.3; ...`
/// (an inline string: Go does not use `.debug_str`).
fn go_version(info: &[u8]) -> String {
    let tag = b"Go cmd/compile go";
    let at = info
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("producer string")
        + tag.len();
    info[at..]
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b'.')
        .map(|&b| b as char)
        .collect()
}

fn minor(version: &str) -> u32 {
    version.split('.').nth(1).unwrap().parse().unwrap()
}

#[test]
fn shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<DwarfInfo>();
}

#[test]
fn runtime_layouts_globals_functions_types() {
    for (name, elf) in binaries() {
        let (dw, version) = parse(&elf);
        let minor = minor(&version);
        eprintln!("{name}: go{version}");

        // runtime.mspan, from /work/shared/reference/offsets-by-version.txt
        // and readelf for allocBits (after the 8-byte allocCache).
        let mspan = dw.struct_layout("runtime.mspan").expect("runtime.mspan");
        let want: &[(&str, u64)] = if minor == 21 {
            &[
                ("startAddr", 24),
                ("npages", 32),
                ("freeindex", 48),
                ("nelems", 56),
                ("allocBits", 72),
                ("spanclass", 106),
                ("state", 107),
                ("elemsize", 112),
            ]
        } else {
            &[
                ("startAddr", 24),
                ("npages", 32),
                ("freeindex", 48),
                ("nelems", 50),
                ("allocBits", 64),
                ("spanclass", 98),
                ("state", 99),
                ("elemsize", 104),
            ]
        };
        for &(field, off) in want {
            assert_eq!(mspan.offset(field), Some(off), "{name}: mspan.{field}");
        }
        assert_eq!(mspan.size, if minor == 21 { 168 } else { 160 });
        // `state` is an mSpanStateBox: a 1-byte struct, reached through a typedef.
        assert_eq!(mspan.field("state").unwrap().size, Some(1));

        let g = dw.struct_layout("runtime.g").expect("runtime.g");
        assert_eq!(g.offset("sched.pc"), Some(64), "{name}: g.sched.pc");
        assert_eq!(g.offset("stack.hi"), Some(8));
        assert_eq!(g.field("sched.pc").unwrap().size, Some(8));
        assert_eq!(g.offset("sched.nope"), None);

        let abi = dw.struct_layout("internal/abi.Type").expect("abi.Type");
        assert_eq!((abi.size, abi.offset("Kind_")), (48, Some(23)));

        assert_eq!(dw.constant("runtime.mSpanInUse"), Some(1));
        assert!(dw.constant("runtime._KindSpecialFinalizer").is_some());

        let mheap = dw.global("runtime.mheap_").expect("runtime.mheap_");
        let mheap_ty = dw.ty(mheap.ty.expect("mheap_ type"));
        assert_eq!(mheap_ty.name, "runtime.mheap");
        assert_eq!(mheap.size, mheap_ty.size.unwrap());
        let inside = mheap.addr + mheap.size / 2;
        assert_eq!(dw.global_containing(inside).unwrap().name, "runtime.mheap_");
        assert!(dw.globals().windows(2).all(|w| w[0].addr <= w[1].addr));

        let main_global = dw
            .globals()
            .iter()
            .find(|g| g.name.starts_with("main.") && g.ty.is_some())
            .expect("a typed main.* global");
        eprintln!("  {} at {:#x}", main_global.name, main_global.addr);

        let main = dw.function_by_name("main.main").expect("main.main");
        assert!(!main.vars.is_empty(), "main.main has variables");
        assert!(main.low_pc < main.high_pc);
        let mid = main.low_pc + (main.high_pc - main.low_pc) / 2;
        assert_eq!(dw.function_at(mid).unwrap().name, "main.main");
        assert!(dw
            .function_at(main.high_pc)
            .is_none_or(|f| f.name != "main.main"));

        // Every location-list range starts inside its function (the lists
        // were made absolute), and frame slots decode. Ranges may end past
        // high_pc: go1.27.3 describes internal/abi.(*StructType).NumMethod,
        // [0x401b40, 0x401b47), with a list running to 0x401b4a.
        let mut frame_slots = 0;
        for f in dw.functions() {
            for v in &f.vars {
                let VarLocation::List(entries) = &v.location else {
                    continue;
                };
                for e in entries {
                    assert!(
                        f.low_pc <= e.begin && e.begin < e.end && e.begin < f.high_pc,
                        "{name}: {}.{} range {:#x}..{:#x}",
                        f.name,
                        v.name,
                        e.begin,
                        e.end
                    );
                    let pieces = v.location.at_pc(e.begin).unwrap();
                    frame_slots += pieces
                        .iter()
                        .filter(|p| matches!(p.loc, PieceLoc::FrameOffset(_)))
                        .count();
                }
            }
        }
        assert!(
            frame_slots > 0,
            "{name}: no variable ever lives in a frame slot"
        );
        assert!(dw
            .functions()
            .windows(2)
            .all(|w| w[0].low_pc <= w[1].low_pc));

        let closure_vars = dw
            .functions()
            .iter()
            .flat_map(|f| &f.vars)
            .filter(|v| v.closure_offset.is_some())
            .count();
        if minor >= 23 {
            assert!(closure_vars > 0, "{name}: closure offsets on go1.{minor}");
        } else {
            assert_eq!(closure_vars, 0);
        }

        let session = ["main.Session", "main.Node", "main.Config"]
            .iter()
            .find_map(|n| dw.type_by_name(n))
            .expect("a main.* struct type");
        let ty = dw.ty(session);
        assert!(matches!(ty.shape, TypeShape::Struct { .. }), "{}", ty.name);
        let rt = ty.runtime_type.expect("runtime type offset");
        assert_eq!(dw.type_by_runtime_offset(rt), Some(session));
        eprintln!("  {} runtime type offset {rt:#x}", ty.name);
    }
}
