//! `gotypes::rtype` against the real test binaries
//! `testdata/cores/<variant>/heapzoo.zst` (skipped with a note when absent).
//!
//! Type descriptors live in the binary's read-only data, so the binary's
//! sections are enough: find `moduledata.types/etypes` through the symbol
//! `runtime.firstmoduledata`, then
//! * scan every 8-aligned word of `[types, etypes)` with `TypeReader::get`
//!   (a stress test of the plausibility checks) and require every typelink
//!   (≤1.26) to be among the accepted descriptors,
//! * require, for every accepted descriptor, that the GC mask (bitmap, GC
//!   program or on-demand) ends exactly at its `PtrBytes`,
//! * check the heapzoo types by name: sizes, kinds, fields, masks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gotypes::rtype::{AbiFlavor, GcData, Kind, KindDetail, MapLayout, TypeReader};
use gotypes::{Addr, MemError, Memory};
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags};

/// The allocated sections of an executable at their link addresses, with
/// NOBITS sections zero-filled and PIE `R_X86_64_RELATIVE` relocations applied.
struct Image {
    sections: Vec<(u64, Vec<u8>)>,
}

impl Image {
    fn load(elf: &[u8]) -> (Image, object::File<'_>) {
        let file = object::File::parse(elf).expect("ELF");
        let mut sections = Vec::new();
        for s in file.sections() {
            // Only allocated sections have an address.
            if s.address() == 0 || s.size() == 0 {
                continue;
            }
            let data = match s.data() {
                Ok(d) if !d.is_empty() => d.to_vec(),
                _ => vec![0; s.size() as usize],
            };
            sections.push((s.address(), data));
        }
        let mut img = Image { sections };
        if let Some(relocs) = file.dynamic_relocations() {
            for (off, r) in relocs {
                let relative = RelocationFlags::Elf {
                    r_type: object::elf::R_X86_64_RELATIVE,
                };
                if r.flags() == relative {
                    img.write_u64(off, r.addend() as u64);
                }
            }
        }
        (img, file)
    }

    fn write_u64(&mut self, addr: u64, v: u64) {
        for (start, data) in &mut self.sections {
            if let Some(off) = addr.checked_sub(*start).map(|o| o as usize) {
                if off + 8 <= data.len() {
                    data[off..off + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
}

impl Memory for Image {
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError> {
        let src = self.slice(addr, buf.len() as u64).ok_or(MemError {
            addr,
            len: buf.len() as u64,
        })?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        self.sections.iter().find_map(|(start, data)| {
            let off = addr.0.checked_sub(*start)? as usize;
            data.get(off..off.checked_add(len as usize)?)
        })
    }
}

/// (label, ELF bytes, is heapzoo): `testdata/cores/*/heapzoo.zst`, plus
/// plain ELF files listed in `GOTYPES_TEST_BINARIES` (colon-separated; the
/// generic checks only), e.g. programs with GC-program or on-demand types.
fn binaries() -> Vec<(String, Vec<u8>, bool)> {
    let cores = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cores)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(file) = std::fs::File::open(dir.join("heapzoo.zst")) else {
            continue;
        };
        let mut dec = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
            .expect("zstd header");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut dec, &mut bytes).expect("zstd data");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, bytes, true));
    }
    if out.is_empty() {
        eprintln!(
            "note: no heapzoo binaries under {}; skipping",
            cores.display()
        );
    }
    if let Ok(list) = std::env::var("GOTYPES_TEST_BINARIES") {
        for p in list.split(':').filter(|p| !p.is_empty()) {
            out.push((p.to_string(), std::fs::read(p).expect("read binary"), false));
        }
    }
    out
}

/// Go minor version and `GOEXPERIMENT`s from `.go.buildinfo`: a 32-byte
/// header, then uvarint-prefixed version and modinfo strings.
fn version(file: &object::File<'_>) -> (u32, Vec<String>) {
    let data = file
        .section_by_name(".go.buildinfo")
        .expect(".go.buildinfo")
        .data()
        .unwrap();
    let mut rest = &data[32..];
    let mut string = || {
        let (mut len, mut shift) = (0usize, 0);
        while rest[0] & 0x80 != 0 {
            len |= usize::from(rest[0] & 0x7f) << shift;
            shift += 7;
            rest = &rest[1..];
        }
        len |= usize::from(rest[0]) << shift;
        let s = String::from_utf8_lossy(&rest[1..1 + len]).into_owned();
        rest = &rest[1 + len..];
        s
    };
    let version = string();
    let modinfo = string();
    let minor = version
        .trim_start_matches("go")
        .split(['.', ' ', '-'])
        .nth(1)
        .unwrap();
    let exps = modinfo
        .lines()
        .find_map(|l| l.strip_prefix("build\tGOEXPERIMENT="))
        .map(|e| e.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    (minor.parse().unwrap(), exps)
}

/// `abi.Type.DescriptorSize` (1.27): kind-specific base, UncommonType,
/// trailing params/methods/fields, then the uncommon methods.
fn descriptor_size(img: &Image, t: &gotypes::rtype::RType) -> u64 {
    let (base, add) = match &t.detail {
        KindDetail::Array { .. } => (72, 0),
        KindDetail::Chan { .. } => (64, 0),
        KindDetail::Func { ins, outs, .. } => (56, 8 * (ins.len() + outs.len()) as u64),
        KindDetail::Interface { methods } => (80, 8 * *methods as u64),
        KindDetail::Map(_) => (136, 0),
        KindDetail::Ptr { .. } | KindDetail::Slice { .. } => (56, 0),
        KindDetail::Struct { fields } => (80, 24 * fields.len() as u64),
        KindDetail::None => (48, 0),
    };
    let mut size = base + add;
    if t.tflag & 1 != 0 {
        let mcount = img.read_u16(t.addr + base + 4).unwrap();
        size += 16 + 16 * u64::from(mcount);
    }
    size
}

fn rd(img: &Image, a: u64) -> u64 {
    img.read_u64(Addr(a)).unwrap()
}

#[test]
fn heapzoo_type_descriptors() {
    for (variant, elf, heapzoo) in binaries() {
        let (img, file) = Image::load(&elf);
        let (minor, exps) = version(&file);
        let md = file
            .symbols()
            .find(|s| s.name() == Ok("runtime.firstmoduledata"))
            .expect("runtime.firstmoduledata")
            .address();
        let types = rd(&img, md + 296);
        let etypes = rd(&img, md + if minor >= 27 { 312 } else { 304 });
        let r = TypeReader::new(
            &img,
            Addr(types),
            Addr(etypes),
            AbiFlavor::for_version(minor, &exps),
        );

        // Every aligned word of the type section.
        let mut by_name: HashMap<String, Vec<Addr>> = HashMap::new();
        for a in (types..etypes).step_by(8) {
            if let Ok(t) = r.get(Addr(a)) {
                by_name.entry(t.name.clone()).or_default().push(Addr(a));
            }
        }
        let accepted: usize = by_name.values().map(Vec::len).sum();

        // Typelinks (≤1.26) are all found.
        if minor <= 26 {
            let tl = md + if minor == 26 { 360 } else { 352 };
            let (ptr, len) = (rd(&img, tl), rd(&img, tl + 8));
            assert!(len > 100, "{variant}: {len} typelinks");
            for i in 0..len {
                let off = img.read_u32(Addr(ptr + 4 * i)).unwrap();
                let a = Addr(types + u64::from(off));
                let t = r
                    .get(a)
                    .unwrap_or_else(|e| panic!("{variant}: typelink {a}: {e}"));
                assert!(by_name[&t.name].contains(&a));
            }
        }

        // 1.27: walk the typelink descriptors laid out from types+8 up to
        // types+typedesclen, and the itabs in [types+itaboffset, +itabsize).
        if minor >= 27 {
            let desclen = rd(&img, md + 304);
            let (mut td, end) = (types + 8, types + desclen);
            let mut n = 0;
            while td < end {
                td = (td + 7) & !7;
                let t = r
                    .get(Addr(td))
                    .unwrap_or_else(|e| panic!("{variant}: typelink walk at {td:#x}: {e}"));
                assert!(by_name[&t.name].contains(&Addr(td)));
                td += descriptor_size(&img, &t);
                n += 1;
            }
            assert_eq!(td, end, "{variant}: walk of {n} descriptors overran");
            let (itab_off, itab_size) = (rd(&img, md + 320), rd(&img, md + 328));
            let (mut it, end) = (types + itab_off, types + itab_off + itab_size);
            while it < end {
                let inter = r.get(Addr(rd(&img, it))).unwrap();
                let KindDetail::Interface { methods } = inter.detail else {
                    panic!()
                };
                r.get(r.itab_type(Addr(it)).unwrap()).unwrap();
                let fun0 = rd(&img, it + 24);
                it += if fun0 == 0 {
                    32
                } else {
                    24 + 8 * methods as u64
                };
            }
            assert_eq!(it, end, "{variant}: itab walk");
        }

        // Every descriptor has a mask that ends where its pointers end.
        let mut forms = [0usize; 4];
        for addrs in by_name.values() {
            for &a in addrs {
                let t = r.get(a).unwrap();
                forms[match t.gc_data {
                    GcData::None => 0,
                    GcData::Bitmap(_) => 1,
                    GcData::Program(_) => 2,
                    GcData::OnDemand(_) => 3,
                }] += 1;
                let mask = r
                    .gc_mask(a)
                    .unwrap_or_else(|e| panic!("{variant}: mask of {} at {a}: {e}", t.name));
                // PtrBytes is the prefix holding every pointer: the mask's
                // last pointer word is its last word.
                let last = mask.iter_ptr_words().last().map(|w| (w + 1) * 8);
                let want = (t.ptr_bytes > 0).then_some(t.ptr_bytes);
                assert_eq!(last, want, "{variant}: {} at {a}", t.name);
            }
        }
        eprintln!(
            "{variant}: {accepted} descriptors in [{types:#x}, {etypes:#x}); \
             masks: {} none, {} bitmap, {} program, {} on-demand",
            forms[0], forms[1], forms[2], forms[3]
        );
        if !heapzoo {
            continue;
        }

        let one = |name: &str| {
            let v = by_name
                .get(name)
                .unwrap_or_else(|| panic!("{variant}: no descriptor named {name}"));
            assert_eq!(v.len(), 1, "{variant}: {name} at {v:?}");
            r.get(v[0]).unwrap()
        };
        let field_names = |t: &gotypes::rtype::RType| match &t.detail {
            KindDetail::Struct { fields } => fields
                .iter()
                .map(|f| (f.name.clone(), f.offset))
                .collect::<Vec<_>>(),
            d => panic!("{variant}: {} is not a struct: {d:?}", t.name),
        };
        let ptr_words = |a: Addr| r.gc_mask(a).unwrap().iter_ptr_words().collect::<Vec<_>>();

        let session = one("main.Session");
        assert_eq!(
            (session.kind, session.size, session.ptr_bytes),
            (Kind::Struct, 40, 40)
        );
        assert_eq!(session.pkg_path.as_deref(), Some("main"));
        let f: Vec<(String, u64)> = field_names(&session);
        let want = [("ID", 0), ("Name", 8), ("Score", 24), ("Peer", 32)];
        assert_eq!(f, want.map(|(n, o)| (n.to_string(), o)));
        assert_eq!(ptr_words(session.addr), [1, 4]);

        let node = one("main.Node");
        let pnode = one("*main.Node");
        assert_eq!(pnode.detail, KindDetail::Ptr { elem: node.addr });
        assert!(pnode.direct_iface && !node.direct_iface, "{variant}");
        assert_eq!(field_names(&node).len(), 3);

        let heavy = one("main.PtrHeavy");
        assert_eq!((heavy.size, heavy.ptr_bytes), (3208, 3208));
        assert_eq!(
            matches!(heavy.gc_data, GcData::OnDemand(_)),
            minor >= 27,
            "{variant}"
        );
        assert_eq!(ptr_words(heavy.addr), (1..=400).collect::<Vec<_>>());

        let big = one("main.Big");
        assert_eq!(big.size, 33624);
        assert_eq!(ptr_words(big.addr), [1, 4202]);
        assert_eq!(
            matches!(big.gc_data, GcData::OnDemand(_)),
            minor >= 27,
            "{variant}"
        );

        let boxi = one("main.Box[int]");
        assert_eq!(field_names(&boxi).len(), 2);

        let reg = one("map[int]*main.Session");
        let KindDetail::Map(m) = &reg.detail else {
            panic!("{variant}: {:?}", reg.detail)
        };
        assert_eq!(r.get(m.key).unwrap().name, "int");
        assert_eq!(r.get(m.elem).unwrap().name, "*main.Session");
        let want_layout = match (minor, exps.iter().any(|e| e == "noswissmap")) {
            (..=23, _) | (24 | 25, true) => MapLayout::Old,
            (24..=26, _) => MapLayout::Swiss,
            _ => MapLayout::Swiss127,
        };
        assert_eq!(m.layout, want_layout, "{variant}");
        assert_eq!(
            (m.keys_off, m.key_stride, m.elems_off),
            (
                8,
                if m.layout == MapLayout::Old { 8 } else { 16 },
                if m.layout == MapLayout::Old { 72 } else { 16 }
            ),
            "{variant}"
        );
        if m.layout == MapLayout::Old {
            assert_eq!(m.bucket_size, 144);
            assert!(r.get(m.bucket).unwrap().name.starts_with("map.bucket[int]"));
        } else {
            assert!(
                r.get(m.group).unwrap().name.starts_with("map.group[int]"),
                "{variant}"
            );
        }

        let ch = one("chan *main.Payload");
        let pay = one("*main.Payload");
        assert_eq!(
            ch.detail,
            KindDetail::Chan {
                elem: pay.addr,
                dir: 3
            }
        );
        let st = one("fmt.Stringer");
        assert_eq!(st.detail, KindDetail::Interface { methods: 1 });
        let fi = one("func() int");
        let KindDetail::Func {
            ins,
            outs,
            variadic,
        } = &fi.detail
        else {
            panic!()
        };
        assert!(ins.is_empty() && !variadic);
        assert_eq!(
            outs.iter()
                .map(|&o| r.get(o).unwrap().name.clone())
                .collect::<Vec<_>>(),
            ["int"]
        );
    }
}
