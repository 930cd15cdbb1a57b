//! ELF pieces shared by the core and the executable: header checks with
//! readable refusals, and PT_LOAD segments.

use std::fmt;
use std::path::Path;

use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;

use super::LoadError;
use gotypes::Addr;

pub(crate) type Header = FileHeader64<LittleEndian>;
pub(crate) type Phdr = ProgramHeader64<LittleEndian>;
pub(crate) const LE: LittleEndian = LittleEndian;

/// Segment permissions (`PF_R`/`PF_W`/`PF_X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Perms {
    pub r: bool,
    pub w: bool,
    pub x: bool,
}

impl Perms {
    pub(crate) fn from_p_flags(flags: u32) -> Perms {
        Perms {
            r: flags & elf::PF_R.0 != 0,
            w: flags & elf::PF_W.0 != 0,
            x: flags & elf::PF_X.0 != 0,
        }
    }
}

impl fmt::Display for Perms {
    /// `r-x`, as in `/proc/PID/maps`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on, ch| if on { ch } else { '-' };
        write!(f, "{}{}{}", c(self.r, 'r'), c(self.w, 'w'), c(self.x, 'x'))
    }
}

/// A PT_LOAD segment: `memsz` bytes at `vaddr`, the first `filesz` of which
/// are stored at `offset` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: Addr,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    /// How many of the `filesz` bytes the file really holds: less than
    /// `filesz` when the file is truncated.
    pub avail: u64,
    pub perms: Perms,
}

impl Segment {
    pub fn end(&self) -> Addr {
        self.vaddr + self.memsz
    }
}

/// What an ELF file with this `e_type` is, for error messages.
fn describe_type(t: u16) -> &'static str {
    match elf::FileType(t) {
        elf::ET_CORE => "an ELF core file",
        elf::ET_EXEC => "an ELF executable",
        elf::ET_DYN => "an ELF shared object or PIE executable",
        elf::ET_REL => "an ELF relocatable object",
        _ => "an ELF file of unknown type",
    }
}

/// Check that `data` is a 64-bit little-endian x86-64 ELF file whose type is
/// one of `want`; `role` ("an ELF core file", "an ELF executable") names what
/// the caller expected.
pub(crate) fn check_header<'d>(
    path: &Path,
    data: &'d [u8],
    want: &[elf::FileType],
    role: &'static str,
) -> Result<&'d Header, LoadError> {
    let not = |what: String| LoadError::WrongKind {
        path: path.to_path_buf(),
        expected: role,
        actual: what,
    };
    if !data.starts_with(&elf::ELFMAG) {
        return Err(not(sniff_non_elf(data).to_string()));
    }
    let ident = data.get(4..6).unwrap_or_default();
    if ident != [elf::ELFCLASS64.0, elf::ELFDATA2LSB.0] {
        return Err(LoadError::UnsupportedArch {
            path: path.to_path_buf(),
            detail: "it is not a 64-bit little-endian ELF file".into(),
        });
    }
    let header = Header::parse(data).map_err(|e| LoadError::Malformed {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let e_type = header.e_type(LE);
    if !want.contains(&e_type) {
        return Err(not(describe_type(e_type.0).to_string()));
    }
    let machine = header.e_machine(LE);
    if machine != elf::EM_X86_64 {
        return Err(LoadError::UnsupportedArch {
            path: path.to_path_buf(),
            detail: format!("machine {} is not x86-64", machine.0),
        });
    }
    Ok(header)
}

/// A guess at what a non-ELF file is, so the refusal says something useful.
fn sniff_non_elf(data: &[u8]) -> &'static str {
    if data.starts_with(&[0x1f, 0x8b]) {
        "a gzip file; decompress it first"
    } else if data.starts_with(b"#!") {
        "a script"
    } else if data.starts_with(b"MZ") {
        "a Windows executable"
    } else if data.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
        "a Mach-O file"
    } else {
        "not an ELF file at all"
    }
}

/// The program headers, or a `Malformed` error naming the file.
pub(crate) fn program_headers<'d>(
    path: &Path,
    header: &Header,
    data: &'d [u8],
) -> Result<&'d [Phdr], LoadError> {
    header
        .program_headers(LE, data)
        .map_err(|e| LoadError::Malformed {
            path: path.to_path_buf(),
            detail: format!("program headers: {e}"),
        })
}

/// The PT_LOAD segments, sorted by address, with `avail` clipped to the file.
pub(crate) fn load_segments(phdrs: &[Phdr], file_len: u64) -> Vec<Segment> {
    let mut segs: Vec<Segment> = phdrs
        .iter()
        .filter(|p| p.p_type(LE) == elf::PT_LOAD && p.p_memsz(LE) > 0)
        .map(|p| {
            let vaddr = p.p_vaddr(LE);
            // Untrusted: keep `vaddr + memsz` from wrapping around.
            let memsz = p.p_memsz(LE).min(u64::MAX - vaddr);
            let offset = p.p_offset(LE);
            let filesz = p.p_filesz(LE).min(memsz);
            let avail = filesz.min(file_len.saturating_sub(offset));
            Segment {
                vaddr: Addr(vaddr),
                memsz,
                offset,
                filesz,
                avail,
                perms: Perms::from_p_flags(p.p_flags(LE).0),
            }
        })
        .collect();
    segs.sort_by_key(|s| s.vaddr);
    segs
}
