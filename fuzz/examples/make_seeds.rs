//! Write seed corpora for every fuzz target from `testdata/cores`, into
//! `fuzz/corpus/<target>/` (or the directory given as the first argument).
//!
//! Seeds are small pieces of real inputs: the header and notes of real cores,
//! single DWARF units, the memory a `TypeReader` reads for a real type
//! (recorded), prefixes of a real pclntab with a synthetic stack, and
//! patches that corrupt runtime structures of the pipeline's core.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gocore::loader::{Bytes, Exe};
use gocore::process::Core;
use gorefs_fuzz::{
    push_chunk, push_patch, tables_to_words, testdata, unzstd, DWARF_SECTIONS, PCLNTAB_HEADER,
    RTYPE_HEADER,
};
use gotypes::rtype::TypeReader;
use gotypes::{Addr, MemError, Memory};
use object::read::elf::{FileHeader, ProgramHeader};

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let cores = testdata().join("cores");
    let mut n = 0;
    for v in ["go1.24.11", "go1.21.13-pie", "go1.27.3"] {
        n += core_seeds(&out.join("core_file"), &cores.join(v), v);
    }
    for v in ["go1.21.13", "go1.27.3"] {
        n += dwarf_seeds(&out.join("dwarf"), &cores.join(v), v);
    }
    for v in ["go1.21.13", "go1.23.9", "go1.24.11", "go1.26.6", "go1.27.3"] {
        let dir = cores.join(v);
        let core = Core::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst")))
            .expect("test core opens");
        n += rtype_seeds(&out.join("rtype"), &core, v);
        n += pclntab_seeds(&out.join("pclntab"), &core, v);
    }
    n += pipeline_seeds(&out.join("pipeline"));
    eprintln!("wrote {n} seeds under {}", out.display());
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> usize {
    std::fs::create_dir_all(dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
    1
}

type Elf = object::elf::FileHeader64<object::LittleEndian>;
const LE: object::LittleEndian = object::LittleEndian;

/// File offset of the byte at `vaddr` in a core (when the core stores it).
pub fn core_offset(core: &[u8], vaddr: u64) -> Option<usize> {
    let h = Elf::parse(core).ok()?;
    h.program_headers(LE, core).ok()?.iter().find_map(|p| {
        let (va, fsz) = (p.p_vaddr(LE), p.p_filesz(LE));
        (p.p_type(LE) == object::elf::PT_LOAD && va <= vaddr && vaddr < va + fsz)
            .then(|| (p.p_offset(LE) + (vaddr - va)) as usize)
    })
}

/// The core up to the end of its program headers and notes (plus a page).
fn core_seeds(dir: &Path, v: &Path, name: &str) -> usize {
    let core = unzstd(&v.join("core.zst"));
    let h = Elf::parse(&core[..]).unwrap();
    let mut end = 64 + 56 * h.e_phnum(LE) as usize;
    for p in h.program_headers(LE, &core[..]).unwrap() {
        if p.p_type(LE) == object::elf::PT_NOTE {
            end = end.max((p.p_offset(LE) + p.p_filesz(LE)) as usize);
        }
    }
    if end > 256 << 10 {
        return 0; // gdb writes its notes after the memory
    }
    let mut n = write(dir, &format!("{name}-notes"), &core[..end.min(core.len())]);
    n += write(
        dir,
        &format!("{name}-notes-page"),
        &core[..(end + 4096).min(core.len())],
    );
    n
}

/// One seed per small DWARF unit (with the abbreviations and prefixes of
/// the other sections).
fn dwarf_seeds(dir: &Path, v: &Path, name: &str) -> usize {
    let p = v.join("heapzoo.zst");
    let exe = Exe::parse(&p, Bytes::Owned(unzstd(&p))).unwrap();
    let sec = |id| {
        exe.dwarf_section(id)
            .map(|s| s.to_vec())
            .unwrap_or_default()
    };
    let info = sec(gimli::SectionId::DebugInfo);
    // Unit boundaries: 4-byte unit_length (DWARF 32) + the length.
    let mut units = Vec::new();
    let mut off = 0usize;
    while off + 4 <= info.len() {
        let len = u32::from_le_bytes(info[off..off + 4].try_into().unwrap()) as usize;
        units.push(off..(off + 4 + len).min(info.len()));
        off += 4 + len;
    }
    let mut n = 0;
    for (i, u) in units
        .iter()
        .filter(|u| u.len() <= 24 << 10)
        .take(12)
        .enumerate()
    {
        let mut seed = Vec::new();
        for id in DWARF_SECTIONS {
            let bytes = match id {
                gimli::SectionId::DebugInfo => info[u.clone()].to_vec(),
                gimli::SectionId::DebugAbbrev => sec(id),
                _ => {
                    let s = sec(id);
                    s[..s.len().min(16 << 10)].to_vec()
                }
            };
            seed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            seed.extend_from_slice(&bytes);
        }
        n += write(dir, &format!("{name}-unit{i}"), &seed);
    }
    n
}

/// Records every range read through it.
struct Recorder<'a> {
    inner: &'a dyn Memory,
    log: Mutex<Vec<(u64, u64)>>,
}

impl Memory for Recorder<'_> {
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError> {
        self.log.lock().unwrap().push((addr.0, buf.len() as u64));
        self.inner.read(addr, buf)
    }
    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        self.log.lock().unwrap().push((addr.0, len));
        self.inner.slice(addr, len)
    }
}

impl Recorder<'_> {
    /// The recorded ranges, merged, as chunks.
    fn chunks(&self) -> Vec<u8> {
        let log = self.log.lock().unwrap().clone();
        merged_chunks(self.inner, log)
    }
}

/// `(addr, len)` ranges of `mem`, overlapping or adjacent ones merged (a
/// read must fall inside one chunk), as chunks; unreadable ones left out.
fn merged_chunks(mem: &dyn Memory, mut ranges: Vec<(u64, u64)>) -> Vec<u8> {
    ranges.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, l) in ranges {
        let end = a.saturating_add(l.min(1 << 20));
        match merged.last_mut() {
            Some((_, e)) if a <= *e + 16 => *e = (*e).max(end),
            _ => merged.push((a, end)),
        }
    }
    let mut out = Vec::new();
    for (s, e) in merged {
        let mut buf = vec![0u8; (e - s) as usize];
        if mem.read(Addr(s), &mut buf).is_ok() {
            push_chunk(&mut out, s, &buf);
        }
    }
    out
}

fn rtype_seeds(dir: &Path, core: &Core, name: &str) -> usize {
    let names = [
        "main.Session",
        "main.Node",
        "main.Big",
        "main.PtrHeavy",
        "map[int]*main.Session",
        "map[string]*main.Config",
        "[]*main.Item",
        "chan *main.Payload",
        "func() int",
        "fmt.Stringer",
        "main.Box[int]",
        "sync.Mutex",
        "runtime.g",
        "internal/abi.Type",
    ];
    let mut n = 0;
    for tn in names {
        let Some(off) = core
            .dwarf
            .type_by_name(tn)
            .and_then(|id| core.dwarf.ty(id).runtime_type)
        else {
            continue;
        };
        let addr = core.md.types + off;
        let rec = Recorder {
            inner: core.mem(),
            log: Mutex::new(Vec::new()),
        };
        let r = TypeReader::new(&rec, core.md.types, core.md.etypes, core.flavor);
        if r.get(addr).is_err() {
            continue;
        }
        let _ = r.gc_mask(addr);
        let mut seed = vec![0u8; RTYPE_HEADER];
        seed[0] = (core.version.minor - 21) as u8;
        seed[1] = u8::from(core.experiments.iter().any(|e| e == "noswissmap"));
        for (i, w) in [
            core.md.types.0,
            core.md.etypes.0,
            addr.0,
            addr.0,
            addr.0,
            addr.0,
        ]
        .iter()
        .enumerate()
        {
            seed[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        seed.extend(rec.chunks());
        n += write(
            dir,
            &format!("{name}-{}", tn.replace(['/', '*', ' '], "_")),
            &seed,
        );
    }
    n
}

/// Prefixes of the real tables (the first functions), the start of gofunc,
/// and a synthetic stack of three frames.
fn pclntab_seeds(dir: &Path, core: &Core, name: &str) -> usize {
    let mem = core.mem();
    let mut t = core.md.tables;
    let pcln = &core.pcln;
    let funcs = pcln.funcs();
    // The first functions (their _func records and tables come first).
    let k = funcs.len().min(64);
    t.funcnametab_len = t.funcnametab_len.min(16 << 10);
    t.cutab_len = t.cutab_len.min(2048);
    t.filetab_len = t.filetab_len.min(8 << 10);
    t.pctab_len = t.pctab_len.min(48 << 10);
    t.pclntable_len = t.pclntable_len.min(48 << 10);
    t.ftab_len = (k as u64 + 1).min(t.ftab_len);
    // pclntable starts with ftab; the first functions' _func records
    // follow it: keep up to the last of them.
    let mut need = (k as u64 + 1) * 8;
    for i in 0..k as u64 {
        let funcoff = mem.read_u32(t.ftab + i * 8 + 4).unwrap_or(0);
        need = need.max(u64::from(funcoff) + 256);
    }
    t.pclntable_len = need.min(t.pclntable_len);
    let ranges = [
        (t.pc_header, 64),
        (t.funcnametab, t.funcnametab_len),
        (t.cutab, t.cutab_len * 4),
        (t.filetab, t.filetab_len),
        (t.pctab, t.pctab_len),
        (t.pclntable, t.pclntable_len),
        (t.ftab, t.ftab_len * 8),
        (t.gofunc, 16 << 10),
    ];
    let mut chunks = merged_chunks(mem, ranges.iter().map(|&(a, l)| (a.0, l)).collect());
    // A stack: frames of funcs[k-1], funcs[k-2], funcs[k-3], each returning
    // into the next one's body.
    let (lo, hi) = (0x7f00_0000_0000u64, 0x7f00_0000_4000u64);
    let mut stack = vec![0u8; (hi - lo) as usize];
    let mut sp = lo + 0x100;
    let start_pc = funcs.get(k.saturating_sub(1)).map_or(0, |f| f.entry.0 + 1);
    let mut pc = start_pc;
    for f in funcs[..k].iter().rev().skip(1).take(3) {
        let Some(cur) = pcln.find_func(Addr(pc)) else {
            break;
        };
        let Some(delta) = pcln.spdelta(&cur, Addr(pc)) else {
            break;
        };
        let fp = sp + delta.max(0) as u64 + 8;
        if fp >= hi {
            break;
        }
        let ret = f.entry.0 + 1;
        let at = (fp - 8 - lo) as usize;
        stack[at..at + 8].copy_from_slice(&ret.to_le_bytes());
        sp = fp;
        pc = ret;
    }
    push_chunk(&mut chunks, lo, &stack);
    let mut seed = Vec::with_capacity(PCLNTAB_HEADER + chunks.len());
    for w in tables_to_words(&t) {
        seed.extend_from_slice(&w.to_le_bytes());
    }
    for w in [start_pc, lo + 0x100, lo, hi] {
        seed.extend_from_slice(&w.to_le_bytes());
    }
    if let Err(e) = gocore::pclntab::Pclntab::new(&gorefs_fuzz::Chunks::parse(&chunks), t) {
        eprintln!("{name}: pclntab seed does not parse: {e}");
    }
    seed.extend(chunks);
    write(dir, &format!("{name}-prefix"), &seed)
}

/// Patches that corrupt the pipeline core's runtime structures.
fn pipeline_seeds(dir: &Path) -> usize {
    let v = testdata().join("cores").join(gorefs_fuzz::variant());
    let core_bytes = unzstd(&v.join("core.zst"));
    let p = v.join("heapzoo.zst");
    let exe = Exe::parse(&p, Bytes::Owned(unzstd(&p))).unwrap();
    let c = Core::open(&v.join("core.zst"), Some(&p)).unwrap();
    let off = |vaddr: u64| core_offset(&core_bytes, vaddr).map(|o| o as u32);
    let sym = |n: &str| exe.symbol(n).map(|s| s.addr.0).unwrap_or(0);
    let mut n = write(dir, "none", &[]);
    // Zeros and 0xff over the small segments (runtime structures), spread.
    for (i, k) in [0x1000u32, 0x40000, 0x100000, 0x200000, 0x300000].iter().enumerate() {
        let mut s = Vec::new();
        push_patch(&mut s, (1 << 31) | k, &[0u8; 255]);
        n += write(dir, &format!("hot-zero-{i}"), &s);
        let mut s = Vec::new();
        push_patch(&mut s, (1 << 31) | (k + 0x808), &[0xffu8; 64]);
        n += write(dir, &format!("hot-ff-{i}"), &s);
    }
    let mut seed = |name: &str, vaddr: u64, bytes: &[u8]| {
        if let Some(o) = off(vaddr) {
            let mut s = Vec::new();
            push_patch(&mut s, o, bytes);
            n += write(dir, name, &s);
        }
    };
    let allspans = c.heap_layout.mheap_addr.0 + c.heap_layout.mheap_allspans;
    seed("allspans-ptr", allspans, &0xdead_beef_0000u64.to_le_bytes());
    seed("allspans-len", allspans + 8, &(1u64 << 40).to_le_bytes());
    seed(
        "allspans-len-32",
        allspans + 8,
        &(u32::MAX as u64).to_le_bytes(),
    );
    seed(
        "allglen",
        sym("runtime.allglen"),
        &(1u64 << 25).to_le_bytes(),
    );
    seed(
        "allgs-len",
        sym("runtime.allgs") + 8,
        &(1u64 << 40).to_le_bytes(),
    );
    seed("mheap-zero", c.heap_layout.mheap_addr.0, &[0u8; 255]);
    let md = c.md.addr.0;
    seed("moduledata", md, &[0xffu8; 64]);
    seed("moduledata-zero", md + 64, &[0u8; 128]);
    n
}
