//! The Go executable: sections (with bounded decompression of compressed
//! DWARF), the symbol table, PT_LOAD segments, build ids and Go build info.
//!
//! Everything here is in link-time addresses; add the PIE bias
//! ([`super::Loaded::bias`]) to compare with addresses in the core.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::elf;
use object::read::elf::{ElfFile64, FileHeader};
use object::{
    LittleEndian, Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind as ObjKind,
};

use super::buildinfo::BuildInfo;
use super::bytes::Bytes;
use super::elf::{check_header, load_segments, program_headers, Segment, LE};
use super::LoadError;
use gotypes::Addr;

/// Compressed sections may expand at most this much (zlib's best case is
/// about 1000:1), and to at most [`MAX_SECTION`] bytes: object's
/// `uncompressed_data()` trusts the header's size, which lets a crafted file
/// allocate without bound.
const MAX_RATIO: u64 = 1100;
const MAX_SECTION: u64 = 1 << 30;

/// Note type of the Go build id (`cmd/link/internal/ld/elf.go: ELF_NOTE_GOBUILDID_TAG`).
const NT_GO_BUILD_ID: u32 = 4;

/// A section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Link-time address (0 for non-allocated sections such as DWARF).
    pub addr: Addr,
    pub size: u64,
    /// `(offset, size)` in the file; `None` for `SHT_NOBITS` (`.bss`).
    pub file_range: Option<(u64, u64)>,
    /// `SHF_COMPRESSED`: the file holds a compression header and compressed bytes.
    pub compressed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Func,
    Data,
    Other,
}

/// A `.symtab` symbol; the name borrows from the executable's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub addr: Addr,
    pub size: u64,
    pub kind: SymbolKind,
}

impl Symbol<'_> {
    pub fn is_func(&self) -> bool {
        self.kind == SymbolKind::Func
    }
    pub fn is_data(&self) -> bool {
        self.kind == SymbolKind::Data
    }
}

/// A symbol with its name stored as a range of the file (no allocation per symbol).
#[derive(Debug, Clone, Copy)]
struct SymEntry {
    name_off: usize,
    name_len: usize,
    addr: u64,
    size: u64,
    kind: SymbolKind,
}

/// An opened Go executable (cloning shares the file's bytes).
#[derive(Clone)]
pub struct Exe {
    pub path: PathBuf,
    /// `e_entry`, link-time.
    pub entry: u64,
    /// `ET_DYN`: a position-independent executable, loaded at a bias.
    pub is_pie: bool,
    /// PT_LOAD segments, link-time addresses, sorted.
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    pub build_info: BuildInfo,
    /// Contents of `.note.go.buildid` (`actionID/.../contentID`).
    pub go_build_id: Option<String>,
    /// Description of the `NT_GNU_BUILD_ID` note.
    pub gnu_build_id: Option<Vec<u8>>,
    /// Sorted by address.
    symbols: Vec<SymEntry>,
    /// Indexes into `symbols`, sorted by name.
    by_name: Vec<u32>,
    pub(crate) bytes: Arc<Bytes>,
}

impl Exe {
    /// Open (mapping or decompressing) and parse the executable at `path`.
    pub fn open(path: &Path) -> Result<Exe, LoadError> {
        Exe::parse(path, Bytes::open(path)?)
    }

    /// Open a separate debug file of `exe` (`objcopy --only-keep-debug`, or
    /// the unstripped binary of a stripped build): its DWARF and symbols
    /// stand in for the ones `exe` lacks. It must carry the same build id.
    pub fn open_debug_file(path: &Path, exe: &Exe) -> Result<Exe, LoadError> {
        let debug = Exe::parse_with(path, Bytes::open(path)?, Some(&exe.build_info))?;
        let same = match (&exe.go_build_id, &debug.go_build_id) {
            (Some(a), Some(b)) => a == b,
            _ => matches!((&exe.gnu_build_id, &debug.gnu_build_id), (Some(a), Some(b)) if a == b),
        };
        if !same {
            return Err(LoadError::DebugFileMismatch {
                debug: path.to_path_buf(),
                exe: exe.path.clone(),
            });
        }
        Ok(debug)
    }

    /// Parse an executable whose bytes are already loaded.
    pub fn parse(path: &Path, bytes: Bytes) -> Result<Exe, LoadError> {
        Exe::parse_with(path, bytes, None)
    }

    /// [`Exe::parse`]; a debug file, whose `.go.buildinfo` holds no data,
    /// takes `build_info` from its executable.
    fn parse_with(
        path: &Path,
        bytes: Bytes,
        build_info: Option<&BuildInfo>,
    ) -> Result<Exe, LoadError> {
        let bytes = Arc::new(bytes);
        let data: &[u8] = &bytes;
        let header = check_header(
            path,
            data,
            &[elf::ET_EXEC, elf::ET_DYN],
            "an ELF executable",
        )?;
        let segments = load_segments(program_headers(path, header, data)?, data.len() as u64);
        let file = ElfFile64::<LittleEndian>::parse(data).map_err(|e| LoadError::Malformed {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let sections = file
            .sections()
            .map(|s| Section {
                name: s.name().unwrap_or_default().to_string(),
                addr: Addr(s.address()),
                size: s.size(),
                file_range: s.file_range(),
                compressed: matches!(s.flags(), SectionFlags::Elf { sh_flags, .. }
                    if sh_flags.0 & elf::SHF_COMPRESSED.0 != 0),
            })
            .collect();
        let build_info = match (build_info, file.section_by_name(".go.buildinfo")) {
            (Some(b), _) => b.clone(),
            (None, Some(s)) => {
                let d = s.data().map_err(|e| LoadError::BadBuildInfo {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                })?;
                BuildInfo::parse(path, d)?
            }
            (None, None) => {
                return Err(LoadError::NotAGoBinary {
                    path: path.to_path_buf(),
                })
            }
        };
        let go_build_id = file
            .section_by_name(".note.go.buildid")
            .and_then(|s| s.data().ok())
            .and_then(|d| note_desc(d, b"Go", NT_GO_BUILD_ID))
            .map(|d| String::from_utf8_lossy(d).into_owned());
        let gnu_build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
        let symbols = read_symbols(&file, data);
        let mut by_name: Vec<u32> = (0..symbols.len() as u32).collect();
        let name_of = |i: u32| {
            let s = &symbols[i as usize];
            &data[s.name_off..s.name_off + s.name_len]
        };
        by_name.sort_by(|&a, &b| name_of(a).cmp(name_of(b)));
        Ok(Exe {
            path: path.to_path_buf(),
            entry: file.entry(),
            is_pie: header.e_type(LE) == elf::ET_DYN,
            segments,
            sections,
            build_info,
            go_build_id,
            gnu_build_id,
            symbols,
            by_name,
            bytes: Arc::clone(&bytes),
        })
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The contents of section `name`, decompressed if it is `SHF_COMPRESSED`
    /// (with the expansion bounded, see [`MAX_RATIO`]). `Ok(None)` if absent.
    pub fn section_data(&self, name: &str) -> Result<Option<Cow<'_, [u8]>>, LoadError> {
        let bad = |detail: String| LoadError::Malformed {
            path: self.path.clone(),
            detail: format!("section {name}: {detail}"),
        };
        let file =
            ElfFile64::<LittleEndian>::parse(&**self.bytes).map_err(|e| bad(e.to_string()))?;
        let Some(section) = file.section_by_name(name) else {
            return Ok(None);
        };
        let compressed = section.compressed_data().map_err(|e| bad(e.to_string()))?;
        let limit = (compressed.data.len() as u64)
            .saturating_mul(MAX_RATIO)
            .min(MAX_SECTION);
        if compressed.uncompressed_size > limit {
            return Err(bad(format!(
                "claims to decompress to {} bytes from {}; refusing",
                compressed.uncompressed_size,
                compressed.data.len()
            )));
        }
        compressed
            .decompress()
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// A DWARF section for gimli (`.debug_info` for `SectionId::DebugInfo`),
    /// decompressed. Absent, corrupt or over-large sections read as `None`;
    /// [`Exe::section_data`] says why.
    pub fn dwarf_section(&self, id: gimli::SectionId) -> Option<Arc<[u8]>> {
        match self.section_data(id.name()).ok()?? {
            Cow::Borrowed(b) => Some(Arc::from(b)),
            Cow::Owned(v) => Some(Arc::from(v)),
        }
    }

    /// The raw file bytes of the whole executable.
    pub fn data(&self) -> &[u8] {
        &self.bytes
    }

    fn sym(&self, e: &SymEntry) -> Symbol<'_> {
        Symbol {
            // Names were validated as UTF-8 when the table was read.
            name: std::str::from_utf8(&self.bytes[e.name_off..e.name_off + e.name_len])
                .unwrap_or_default(),
            addr: Addr(e.addr),
            size: e.size,
            kind: e.kind,
        }
    }

    /// All symbols, sorted by address.
    pub fn symbols(&self) -> impl Iterator<Item = Symbol<'_>> + '_ {
        self.symbols.iter().map(|e| self.sym(e))
    }

    /// The symbol called `name` (e.g. `runtime.mheap_`), link-time address.
    pub fn symbol(&self, name: &str) -> Option<Symbol<'_>> {
        let i = self
            .by_name
            .binary_search_by(|&i| self.sym(&self.symbols[i as usize]).name.cmp(name))
            .ok()?;
        Some(self.sym(&self.symbols[self.by_name[i] as usize]))
    }

    /// The symbol whose `[addr, addr+size)` contains the link-time `addr`.
    pub fn symbol_containing(&self, addr: Addr) -> Option<Symbol<'_>> {
        let end = self.symbols.partition_point(|s| s.addr <= addr.0);
        let last = self.symbols.get(end.checked_sub(1)?)?;
        // Several symbols can share a start address; take one that covers `addr`.
        self.symbols[..end]
            .iter()
            .rev()
            .take_while(|s| s.addr == last.addr)
            .find(|s| addr.0 - s.addr < s.size.max(1))
            .map(|s| self.sym(s))
    }
}

/// Defined, named function and data symbols from `.symtab`, sorted by address.
fn read_symbols(file: &ElfFile64<'_, LittleEndian>, data: &[u8]) -> Vec<SymEntry> {
    let base = data.as_ptr() as usize;
    let mut syms: Vec<SymEntry> = file
        .symbols()
        .filter(|s| {
            !s.is_undefined()
                && matches!(
                    s.kind(),
                    ObjKind::Text | ObjKind::Data | ObjKind::Tls | ObjKind::Unknown
                )
        })
        .filter_map(|s| {
            let name = s.name().ok().filter(|n| !n.is_empty())?;
            // The name lies inside `data` (the string table); keep its offset.
            let name_off = (name.as_ptr() as usize).checked_sub(base)?;
            data.get(name_off..name_off.checked_add(name.len())?)?;
            Some(SymEntry {
                name_off,
                name_len: name.len(),
                addr: s.address(),
                size: s.size(),
                kind: match s.kind() {
                    ObjKind::Text => SymbolKind::Func,
                    ObjKind::Data => SymbolKind::Data,
                    _ => SymbolKind::Other,
                },
            })
        })
        .collect();
    syms.sort_by_key(|s| (s.addr, std::cmp::Reverse(s.size)));
    syms
}

/// The description of the first note called `name` with type `n_type` in a
/// note section's bytes (4-byte aligned, as Go and GNU write them).
pub(crate) fn note_desc<'a>(mut d: &'a [u8], name: &[u8], n_type: u32) -> Option<&'a [u8]> {
    let align4 = |n: usize| n.checked_add(3).map(|v| v & !3);
    while d.len() >= 12 {
        let u32_at = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        let (namesz, descsz, ty) = (u32_at(0) as usize, u32_at(4) as usize, u32_at(8));
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = align4(name_end)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let n = d.get(12..name_end)?;
        let desc = d.get(desc_start..desc_end)?;
        let trimmed = n
            .iter()
            .rposition(|&b| b != 0)
            .map_or(&n[..0], |i| &n[..=i]);
        if ty == n_type && trimmed == name {
            return Some(desc);
        }
        d = d.get(align4(desc_end)?..).unwrap_or_default();
    }
    None
}
