//! Loader tests on hand-built ELF cores and executables (no Go needed), plus
//! the official test cores in `testdata/cores` when they are present.

use std::path::{Path, PathBuf};

use super::buildinfo::tests::{section as buildinfo_section, with_sentinels};
use super::*;
use gotypes::Memory;

// ---- tiny ELF writer -------------------------------------------------------

const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

fn put(buf: &mut Vec<u8>, off: usize, bytes: &[u8]) {
    if buf.len() < off + bytes.len() {
        buf.resize(off + bytes.len(), 0);
    }
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

#[allow(clippy::too_many_arguments)]
fn ehdr(e_type: u16, entry: u64, phnum: usize, shoff: u64, shnum: u16, shstrndx: u16) -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    h.resize(16, 0);
    h.extend(e_type.to_le_bytes());
    h.extend(62u16.to_le_bytes()); // EM_X86_64
    h.extend(1u32.to_le_bytes());
    h.extend(entry.to_le_bytes());
    h.extend(64u64.to_le_bytes()); // e_phoff
    h.extend(shoff.to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(64u16.to_le_bytes());
    h.extend(56u16.to_le_bytes());
    h.extend((phnum.min(0xffff) as u16).to_le_bytes());
    h.extend(64u16.to_le_bytes());
    h.extend(shnum.to_le_bytes());
    h.extend(shstrndx.to_le_bytes());
    h
}

fn phdr(p_type: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(56);
    p.extend(p_type.to_le_bytes());
    p.extend(flags.to_le_bytes());
    let align = if p_type == PT_NOTE { 4 } else { 0x1000 };
    for v in [offset, vaddr, vaddr, filesz, memsz, align] {
        p.extend(v.to_le_bytes());
    }
    p
}

#[allow(clippy::too_many_arguments)]
fn shdr(
    name: u32,
    sh_type: u32,
    flags: u64,
    addr: u64,
    off: u64,
    size: u64,
    link: u32,
    info: u32,
    entsize: u64,
) -> Vec<u8> {
    let mut s = Vec::with_capacity(64);
    s.extend(name.to_le_bytes());
    s.extend(sh_type.to_le_bytes());
    for v in [flags, addr, off, size] {
        s.extend(v.to_le_bytes());
    }
    s.extend(link.to_le_bytes());
    s.extend(info.to_le_bytes());
    s.extend(8u64.to_le_bytes());
    s.extend(entsize.to_le_bytes());
    s
}

fn note(name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    n.extend((name.len() as u32 + 1).to_le_bytes());
    n.extend((desc.len() as u32).to_le_bytes());
    n.extend(n_type.to_le_bytes());
    n.extend(name);
    n.push(0);
    while !n.len().is_multiple_of(4) {
        n.push(0);
    }
    n.extend(desc);
    while !n.len().is_multiple_of(4) {
        n.push(0);
    }
    n
}

/// Byte `i` of the fake executable's file, so reads can be checked.
fn pattern(i: usize) -> u8 {
    (i as u8) ^ ((i >> 8) as u8) ^ 0x5a
}

const TEXT: u64 = 0x40_0000;
const DATA: u64 = 0x40_2000;
const ENTRY: u64 = 0x40_1000;
const MHEAP: u64 = DATA + 0x800;

/// A fake Go executable: text segment [0x400000, 0x402000) from file offset
/// 0 (headers, build-id note at 0x400f00, .text), data segment
/// [0x402000, 0x405000) with 0x1000 file bytes (.go.buildinfo, then data)
/// and .bss; symbols `main.main` and `runtime.mheap_`.
fn fake_exe(e_type: u16, go_build_id: &str, version: &str, with_buildinfo: bool) -> Vec<u8> {
    let mut f: Vec<u8> = (0..0x3000).map(pattern).collect();
    let shstr = b"\0.note.go.buildid\0.text\0.go.buildinfo\0.symtab\0.strtab\0.shstrtab\0.bss\0";
    let name = |s: &str| {
        let pat = format!("\0{s}\0");
        shstr
            .windows(pat.len())
            .position(|w| w == pat.as_bytes())
            .unwrap() as u32
            + 1
    };
    let strtab = b"\0main.main\0runtime.mheap_\0";
    let mut symtab = vec![0u8; 24];
    for (nm, info, shndx, value, size) in [
        (1u32, 0x12u8, 2u16, ENTRY, 0x40u64),
        (11, 0x11, 3, MHEAP, 0x100),
    ] {
        symtab.extend(nm.to_le_bytes());
        symtab.push(info);
        symtab.push(0);
        symtab.extend(shndx.to_le_bytes());
        symtab.extend(value.to_le_bytes());
        symtab.extend(size.to_le_bytes());
    }
    let idnote = note(b"Go", 4, go_build_id.as_bytes());
    let bi = buildinfo_section(
        version,
        &with_sentinels("path\texample.com/fake\nbuild\tGOARCH=amd64"),
    );
    put(&mut f, 0xf00, &idnote);
    put(&mut f, 0x2000, &bi);
    put(&mut f, 0x3000, &symtab);
    put(&mut f, 0x3100, strtab);
    put(&mut f, 0x3200, shstr);
    let mut sh = shdr(0, 0, 0, 0, 0, 0, 0, 0, 0);
    sh.extend(shdr(
        name(".note.go.buildid"),
        7,
        2,
        TEXT + 0xf00,
        0xf00,
        idnote.len() as u64,
        0,
        0,
        0,
    ));
    sh.extend(shdr(name(".text"), 1, 6, ENTRY, 0x1000, 0x1000, 0, 0, 0));
    let bi_name = if with_buildinfo {
        name(".go.buildinfo")
    } else {
        name(".bss")
    };
    sh.extend(shdr(bi_name, 1, 3, DATA, 0x2000, bi.len() as u64, 0, 0, 0));
    sh.extend(shdr(
        name(".symtab"),
        2,
        0,
        0,
        0x3000,
        symtab.len() as u64,
        5,
        1,
        24,
    ));
    sh.extend(shdr(
        name(".strtab"),
        3,
        0,
        0,
        0x3100,
        strtab.len() as u64,
        0,
        0,
        0,
    ));
    sh.extend(shdr(
        name(".shstrtab"),
        3,
        0,
        0,
        0x3200,
        shstr.len() as u64,
        0,
        0,
        0,
    ));
    put(&mut f, 0x3300, &sh);
    put(&mut f, 0, &ehdr(e_type, ENTRY, 2, 0x3300, 7, 6));
    put(&mut f, 64, &phdr(PT_LOAD, R | X, 0, TEXT, 0x2000, 0x2000));
    put(
        &mut f,
        120,
        &phdr(PT_LOAD, R | W, 0x2000, DATA, 0x1000, 0x3000),
    );
    f
}

/// A core segment: memory at `vaddr`, `memsz` long, whose first
/// `data.len()` bytes are stored in the file.
struct Seg {
    vaddr: u64,
    memsz: u64,
    data: Vec<u8>,
    flags: u32,
}

fn seg(vaddr: u64, memsz: u64, data: Vec<u8>, flags: u32) -> Seg {
    Seg {
        vaddr,
        memsz,
        data,
        flags,
    }
}

/// A core with one thread (pid 42, rip = 0x401234), the given auxv and
/// NT_FILE entries, and the segments.
fn fake_core(segs: &[Seg], auxv: &[(u64, u64)], files: &[(u64, u64, &str)]) -> Vec<u8> {
    let mut prstatus = vec![0u8; 336];
    put(&mut prstatus, 32, &42u32.to_le_bytes());
    put(&mut prstatus, 112 + 16 * 8, &0x401234u64.to_le_bytes());
    put(
        &mut prstatus,
        112 + 19 * 8,
        &0xc0_0000_00f0u64.to_le_bytes(),
    );
    let mut av = Vec::new();
    for &(k, v) in auxv.iter().chain([(0, 0)].iter()) {
        av.extend(k.to_le_bytes());
        av.extend(v.to_le_bytes());
    }
    let mut nt_file = Vec::new();
    nt_file.extend((files.len() as u64).to_le_bytes());
    nt_file.extend(4096u64.to_le_bytes());
    for &(s, e, _) in files {
        for v in [s, e, 0] {
            nt_file.extend(v.to_le_bytes());
        }
    }
    for &(_, _, p) in files {
        nt_file.extend(p.as_bytes());
        nt_file.push(0);
    }
    let mut psinfo = vec![0u8; 136];
    put(&mut psinfo, 40, b"fakeprog");
    put(&mut psinfo, 56, b"./fakeprog -x");
    let mut notes = note(b"CORE", 1, &prstatus);
    notes.extend(note(b"CORE", 3, &psinfo));
    notes.extend(note(b"CORE", 6, &av));
    notes.extend(note(b"CORE", 0x4649_4c45, &nt_file));

    let phnum = segs.len() + 1;
    let xnum = phnum >= 0xffff;
    let shoff = 64 + 56 * phnum as u64;
    let mut off = shoff + if xnum { 64 } else { 0 };
    let mut f = ehdr(
        ET_CORE,
        0,
        phnum,
        if xnum { shoff } else { 0 },
        u16::from(xnum),
        0,
    );
    f.extend(phdr(PT_NOTE, 0, off, 0, notes.len() as u64, 0));
    let notes_off = off;
    off += notes.len() as u64;
    let mut body: Vec<u8> = Vec::new();
    for s in segs {
        f.extend(phdr(
            PT_LOAD,
            s.flags,
            off,
            s.vaddr,
            s.data.len() as u64,
            s.memsz,
        ));
        body.extend(&s.data);
        off += s.data.len() as u64;
    }
    if xnum {
        f.extend(shdr(0, 0, 0, 0, 0, 0, 0, phnum as u32, 0));
    }
    assert_eq!(f.len() as u64, notes_off);
    f.extend(notes);
    f.extend(body);
    f
}

/// A scratch directory removed when dropped.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// The standard scenario: exe at its link address; the core dumps the first
/// text page, the whole data segment (with `.bss` values written), and a
/// heap segment of which only the first page is stored.
fn standard_core(exe: &[u8], first_page: &[u8]) -> Vec<u8> {
    let mut data = exe[0x2000..0x3000].to_vec();
    data.extend(vec![0xdd; 0x2000]);
    put(
        &mut data,
        (MHEAP - DATA) as usize,
        &0xc0_0000_0000u64.to_le_bytes(),
    );
    fake_core(
        &[
            seg(TEXT, 0x2000, first_page.to_vec(), R | X),
            seg(DATA, 0x3000, data, R | W),
            seg(0xc0_0000_0000, 0x2000, vec![0xab; 0x1000], R | W),
        ],
        &[(AT_ENTRY, ENTRY)],
        &[(TEXT, DATA, "/nonexistent/fakeprog")],
    )
}

// ---- tests -----------------------------------------------------------------

#[test]
fn splices_core_over_executable() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let core = standard_core(&exe, &exe[..0x1000]);
    let l = Loaded::open(&dir.file("core", &core), Some(&dir.file("exe", &exe))).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.bias, 0);
    assert_eq!(l.exe.build_info.go_version, "go1.24.11");
    assert_eq!(l.exe.go_build_id.as_deref(), Some("abc/def"));
    assert_eq!(l.core.threads.len(), 1);
    let t = &l.core.threads[0];
    assert_eq!((t.pid, t.rip(), t.rsp()), (42, 0x401234, 0xc0_0000_00f0));
    assert_eq!(l.core.command, "fakeprog");
    assert_eq!(l.core.args, "./fakeprog -x");

    let img = &l.image;
    // Text beyond the dumped first page comes from the executable.
    let mut buf = [0u8; 16];
    img.read(Addr(ENTRY + 0x10), &mut buf).unwrap();
    assert_eq!(buf[..], exe[0x1010..0x1020]);
    assert_eq!(img.source_at(Addr(ENTRY)), Some(Source::Exe));
    assert_eq!(img.source_at(Addr(TEXT)), Some(Source::Core));
    // A read spanning text (exe) and data (core).
    img.read(Addr(DATA - 8), &mut buf).unwrap();
    assert_eq!(buf[..8], exe[0x1ff8..0x2000]);
    assert_eq!(buf[8..], exe[0x2000..0x2008]);
    // .bss values come from the core.
    assert_eq!(
        img.read_u64(l.symbol_addr("runtime.mheap_").unwrap())
            .unwrap(),
        0xc0_0000_0000
    );
    assert_eq!(img.read_u8(Addr(DATA + 0x2fff)).unwrap(), 0xdd);
    // Heap: stored page, then zero fill.
    assert_eq!(img.slice(Addr(0xc0_0000_0ff8), 8), Some(&[0xab; 8][..]));
    let mut tail = [1u8; 16];
    img.read(Addr(0xc0_0000_0ff8), &mut tail).unwrap();
    assert_eq!(
        tail,
        [0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(img.slice(Addr(0xc0_0000_1000), 64), Some(&[0u8; 64][..]));
    // Unmapped memory, and a read running off the end of a mapping.
    assert!(img.read_u64(Addr(0x1000)).is_err());
    assert!(img.read(Addr(0xc0_0000_1ff8), &mut buf).is_err());
    assert_eq!(img.slice(Addr(0xc0_0000_0ff8), 16), None);

    let maps = img.mappings();
    let summary: Vec<(u64, u64, Source)> = maps
        .iter()
        .map(|m| (m.start.0, m.end.0, m.source))
        .collect();
    assert_eq!(
        summary,
        [
            (TEXT, TEXT + 0x1000, Source::Core),
            (TEXT + 0x1000, DATA, Source::Exe),
            (DATA, DATA + 0x3000, Source::Core),
            (0xc0_0000_0000, 0xc0_0000_1000, Source::Core),
            (0xc0_0000_1000, 0xc0_0000_2000, Source::Zero),
        ]
    );
    assert_eq!(maps[0].perms.to_string(), "r-x");
    assert_eq!(maps[0].file.as_deref(), Some("/nonexistent/fakeprog"));
    assert_eq!(maps[3].file, None);

    let sym = l.exe.symbol_containing(Addr(ENTRY + 0x3f)).unwrap();
    assert_eq!((sym.name, sym.is_func()), ("main.main", true));
    assert!(l.exe.symbol_containing(Addr(ENTRY + 0x40)).is_none());
    assert!(l.exe.symbol("runtime.mheap_").unwrap().is_data());
    assert!(l.exe.symbol("runtime.nothing").is_none());
    assert_eq!(l.exe.symbols().count(), 2);
}

#[test]
fn executable_only_regions_and_pie_bias() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_DYN, "abc/def", "go1.27.3", true);
    let bias = 0x5555_0000_0000u64;
    // The core has only the data segment (like gcore leaving out rodata).
    let core = fake_core(
        &[seg(
            DATA + bias,
            0x3000,
            exe[0x2000..0x3000].to_vec(),
            R | W,
        )],
        &[(AT_ENTRY, ENTRY + bias)],
        &[],
    );
    let l = Loaded::open(&dir.file("core", &core), Some(&dir.file("exe", &exe))).unwrap();
    assert_eq!(l.bias, bias);
    assert!(l.exe.is_pie);
    // Verified through .go.buildinfo: the build-id page is not in this core.
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.symbol_addr("main.main"), Some(Addr(ENTRY + bias)));
    assert_eq!(l.image.source_at(Addr(TEXT + bias)), Some(Source::Exe));
    assert_eq!(
        l.image.read_u8(Addr(ENTRY + bias + 5)).unwrap(),
        exe[0x1005]
    );
    assert_eq!(l.image.slice(Addr(TEXT + bias), 4), Some(&exe[..4]));
    assert!(
        l.image.read_u8(Addr(ENTRY)).is_err(),
        "unrelocated address must not be mapped"
    );
}

#[test]
fn detects_a_different_binary() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let other = fake_exe(ET_EXEC, "xyz/uvw", "go1.21.13", true);
    let core = standard_core(&exe, &exe[..0x1000]);
    let core_path = dir.file("core.1", &core);
    let err = Loaded::open(&core_path, Some(&dir.file("other", &other)))
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(matches!(err, LoadError::BinaryMismatch { .. }), "{msg}");
    assert!(msg.contains("other") && msg.contains("core.1"), "{msg}");
    assert!(
        msg.contains("\"abc/def\"") && msg.contains("\"xyz/uvw\""),
        "{msg}"
    );

    // Without the first page, the build info in the data segment decides.
    let core = fake_core(
        &[seg(DATA, 0x3000, exe[0x2000..0x3000].to_vec(), R | W)],
        &[(AT_ENTRY, ENTRY)],
        &[],
    );
    let core_path = dir.file("core.2", &core);
    let msg = Loaded::open(&core_path, Some(&dir.file("other", &other)))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("go1.24.11") && msg.contains("go1.21.13"),
        "{msg}"
    );

    // Nothing to compare: load, with a warning.
    let core = fake_core(
        &[seg(0xc0_0000_0000, 0x1000, vec![1; 16], R | W)],
        &[(AT_ENTRY, ENTRY)],
        &[],
    );
    let l = Loaded::open(&dir.file("core.3", &core), Some(&dir.file("exe", &exe))).unwrap();
    assert!(
        l.warnings[0].contains("could not check"),
        "{:?}",
        l.warnings
    );

    // A fixed-address binary must have the core's entry point.
    let core = fake_core(&[], &[(AT_ENTRY, ENTRY + 0x10)], &[]);
    let err = Loaded::open(&dir.file("core.4", &core), Some(&dir.file("exe", &exe)))
        .err()
        .unwrap();
    assert!(err.to_string().contains("entry point"), "{err}");
}

#[test]
fn truncated_core_loads_with_a_warning() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let mut core = standard_core(&exe, &exe[..0x1000]);
    core.truncate(core.len() - 0x800); // half of the heap page
    let l = Loaded::open(&dir.file("core", &core), Some(&dir.file("exe", &exe))).unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].starts_with("core is truncated: 1 of 3 segments (2 KiB) missing"),
        "{}",
        l.warnings[0]
    );
    let heap = 0xc0_0000_0000u64;
    assert_eq!(l.image.read_u8(Addr(heap + 0x7ff)).unwrap(), 0xab);
    assert!(l.image.read_u8(Addr(heap + 0x800)).is_err());
    assert!(l.image.read_u64(Addr(heap + 0x7fc)).is_err());
    assert_eq!(
        l.image.source_at(Addr(heap + 0x900)),
        Some(Source::Unavailable)
    );
    // Past the lost file bytes, the rest of the segment is still zero fill.
    assert_eq!(l.image.read_u8(Addr(heap + 0x1000)).unwrap(), 0);
}

#[test]
fn finds_the_executable_from_the_core() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let exe_path = dir.file("prog", &exe);
    let core = fake_core(
        &[seg(TEXT, 0x2000, exe[..0x1000].to_vec(), R | X)],
        &[(AT_ENTRY, ENTRY)],
        &[(TEXT, DATA, exe_path.to_str().unwrap())],
    );
    let l = Loaded::open(&dir.file("core", &core), None).unwrap();
    assert_eq!(l.exe.path, exe_path);

    let core = standard_core(&exe, &exe[..0x1000]);
    let msg = Loaded::open(&dir.file("core2", &core), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("no executable given and /nonexistent/fakeprog"),
        "{msg}"
    );
}

/// A hostile core names files gorefs must not open: relative paths (which
/// would resolve against gorefs' own directory), devices, FIFOs,
/// directories. Only an absolute path to a regular file is opened.
#[test]
fn opens_only_an_absolute_regular_file_named_by_nt_file() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    dir.file("prog", &exe);
    let fifo = dir.0.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let fifo = fifo.to_str().unwrap().to_string();
    let dir_path = dir.0.path().to_str().unwrap().to_string();
    let mut cases = vec![
        ("prog", "names a relative path prog"),
        ("/dev/zero", "/dev/zero (named by"),
        (dir_path.as_str(), "is not a regular file"),
    ];
    if made {
        cases.push((fifo.as_str(), "is not a regular file"));
    }
    // gorefs' working directory holds `prog` too: it must still not be used.
    let cwd_prog = std::env::current_dir().unwrap().join("prog");
    assert!(!cwd_prog.exists());
    for (i, (named, expect)) in cases.into_iter().enumerate() {
        let core = fake_core(
            &[seg(TEXT, 0x2000, exe[..0x1000].to_vec(), R | X)],
            &[(AT_ENTRY, ENTRY)],
            &[(TEXT, DATA, named)],
        );
        let msg = Loaded::open(&dir.file(&format!("core{i}"), &core), None)
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains(expect), "{named}: {msg}");
        assert!(msg.contains("pass the binary explicitly"), "{named}: {msg}");
    }
}

#[test]
fn refuses_bad_inputs_clearly() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let exe_path = dir.file("exe", &exe);
    let core_path = dir.file("core", &standard_core(&exe, &exe[..0x1000]));
    let err = |core: &Path, exe: &Path| Loaded::open(core, Some(exe)).err().unwrap().to_string();

    let empty = dir.file("empty", b"");
    assert!(err(&empty, &exe_path).ends_with("empty: the file is empty"));
    assert!(err(dir.0.path(), &exe_path).contains("is a directory"));
    assert!(err(&dir.0.path().join("missing"), &exe_path).contains("missing: No such file"));
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let random = dir.file("core.123", &random);
    assert!(err(&random, &exe_path)
        .ends_with("core.123: not an ELF core file (it is not an ELF file at all)"));
    assert!(
        err(&exe_path, &exe_path).ends_with("exe: not an ELF core file (it is an ELF executable)")
    );
    assert!(err(&core_path, &core_path)
        .ends_with("core: not an ELF executable (it is an ELF core file)"));
    let not_go = dir.file("c-prog", &fake_exe(ET_EXEC, "abc/def", "go1.24.11", false));
    assert!(err(&core_path, &not_go)
        .ends_with("c-prog: not a Go binary (it has no .go.buildinfo section)"));
    let mut big_endian = exe.clone();
    big_endian[5] = 2;
    let big_endian = dir.file("be", &big_endian);
    assert!(err(&core_path, &big_endian).contains("not a 64-bit little-endian"));
    let mut arm = exe.clone();
    arm[18] = 183; // EM_AARCH64
    let arm = dir.file("arm", &arm);
    assert!(err(&core_path, &arm).contains("machine 183 is not x86-64"));
    // Every prefix of a valid core either loads or fails cleanly.
    let core = std::fs::read(&core_path).unwrap();
    for cut in (0..core.len()).step_by(97) {
        let p = dir.file("cut", &core[..cut]);
        let _ = Loaded::open(&p, Some(&exe_path));
    }
}

#[test]
fn reads_zstd_files() {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let core = standard_core(&exe, &exe[..0x1000]);
    let zcore = compress_to_vec(&core[..], CompressionLevel::Fastest);
    let zexe = compress_to_vec(&exe[..], CompressionLevel::Fastest);
    let l = Loaded::open(
        &dir.file("core.zst", &zcore),
        Some(&dir.file("exe.zst", &zexe)),
    )
    .unwrap();
    assert_eq!(l.image.read_u8(Addr(ENTRY + 1)).unwrap(), exe[0x1001]);
    let cut = dir.file("cut.zst", &zcore[..zcore.len() / 2]);
    let msg = Loaded::open(&cut, Some(&dir.file("exe.zst", &zexe)))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("cut.zst: cannot decompress zstd data"),
        "{msg}"
    );
}

#[test]
fn many_segments() {
    let dir = Scratch::new();
    let exe = fake_exe(ET_EXEC, "abc/def", "go1.24.11", true);
    let n = 100_000u64;
    let base = 0x7f00_0000_0000u64;
    // Every other page, 16 stored bytes each: forces PN_XNUM program headers.
    let segs: Vec<Seg> = (0..n)
        .map(|i| {
            seg(
                base + i * 0x2000,
                0x1000,
                (i as u32).to_le_bytes().repeat(4),
                R | W,
            )
        })
        .collect();
    let core = fake_core(&segs, &[(AT_ENTRY, ENTRY)], &[]);
    let l = Loaded::open(&dir.file("core", &core), Some(&dir.file("exe", &exe))).unwrap();
    assert_eq!(l.core.segments.len(), n as usize);
    for i in [0, 1, 777, 54_321, n - 1] {
        let a = Addr(base + i * 0x2000);
        assert_eq!(l.image.read_u32(a + 12).unwrap(), i as u32);
        assert_eq!(l.image.read_u32(a + 16).unwrap(), 0);
        assert!(l.image.read_u8(a + 0x1000).is_err());
    }
}

// ---- official test cores ---------------------------------------------------

fn test_core_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.join("core.zst").is_file() && d.join("heapzoo.zst").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn official_test_cores() {
    for dir in test_core_dirs() {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let l = Loaded::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = name.split('-').next().unwrap();
        assert_eq!(l.exe.build_info.go_version, want, "{name}");
        l.exe.build_info.check_supported().unwrap();
        assert!(!l.core.threads.is_empty(), "{name}");
        assert!(l.warnings.is_empty(), "{name}: {:?}", l.warnings);
        assert_eq!(l.exe.is_pie, name.ends_with("-pie"), "{name}");
        assert_eq!(l.bias != 0, l.exe.is_pie, "{name}");
        let mheap = l
            .symbol_addr("runtime.mheap_")
            .expect("runtime.mheap_ symbol");
        let mut word = [0u8; 8];
        l.image
            .read(mheap, &mut word)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Text is not in kernel cores: it must come from the binary. gdb's
        // cores (`gcore`) hold it too, and the core's copy wins.
        let main = l.symbol_addr("main.main").unwrap();
        let gcore = name.ends_with("-gcore");
        let text = if gcore { Source::Core } else { Source::Exe };
        assert_eq!(l.image.source_at(main), Some(text), "{name}");
        assert!(
            l.exe.dwarf_section(gimli::SectionId::DebugInfo).is_some(),
            "{name}"
        );
        if let Some(exp) = name
            .split_once('-')
            .map(|(_, e)| e)
            .filter(|e| !["pie", "gcore"].contains(e))
        {
            assert!(
                l.exe.build_info.has_experiment(exp),
                "{name}: {:?}",
                l.exe.build_info.experiments
            );
        }
    }
}

#[test]
fn official_cores_reject_the_wrong_binary() {
    let dirs = test_core_dirs();
    let find = |n: &str| dirs.iter().find(|d| d.ends_with(n));
    let (Some(old), Some(new)) = (find("go1.21.13"), find("go1.27.3")) else {
        return;
    };
    let err = Loaded::open(&old.join("core.zst"), Some(&new.join("heapzoo.zst")))
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::BinaryMismatch { .. }), "{err}");
}
