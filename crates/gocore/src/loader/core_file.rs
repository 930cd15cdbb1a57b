//! The ELF core file: its memory segments and the notes the kernel (or gdb's
//! `gcore`) wrote: thread registers, the auxiliary vector, mapped files and
//! the process name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::elf;
use object::read::elf::ProgramHeader;

use super::bytes::Bytes;
use super::elf::{check_header, load_segments, program_headers, Segment, LE};
use super::LoadError;
use gotypes::Addr;

/// `elf_prstatus` on linux/amd64: `pr_pid` offset, `pr_reg` offset, and the
/// register count of `user_regs_struct`.
const PRSTATUS_PID: usize = 32;
const PRSTATUS_REGS: usize = 112;
pub const NUM_REGS: usize = 27;
/// `elf_prpsinfo` on linux/amd64: `pr_fname[16]` and `pr_psargs[80]`.
const PRPSINFO_FNAME: usize = 40;
const PRPSINFO_PSARGS: usize = 56;
/// Auxiliary vector keys (`<elf.h>`).
pub const AT_PHDR: u64 = 3;
pub const AT_ENTRY: u64 = 9;
pub const AT_EXECFN: u64 = 31;

/// One thread of the dumped process (an `NT_PRSTATUS` note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub pid: u32,
    /// `user_regs_struct`: r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8,
    /// rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss, fs_base,
    /// gs_base, ds, es, fs, gs.
    pub regs: [u64; NUM_REGS],
}

impl Thread {
    pub fn rip(&self) -> u64 {
        self.regs[16]
    }
    pub fn rsp(&self) -> u64 {
        self.regs[19]
    }
    pub fn rbp(&self) -> u64 {
        self.regs[4]
    }
    /// The thread pointer; Go keeps the current `g` at `fs_base - 8` on amd64.
    pub fn fs_base(&self) -> u64 {
        self.regs[21]
    }
}

/// A file mapping from `NT_FILE`: `[start, end)` maps `path` from `file_offset`
/// (in bytes; the note stores pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    pub start: Addr,
    pub end: Addr,
    pub file_offset: u64,
    pub path: String,
}

/// A parsed core file. The bytes stay mapped (or decompressed) for the life
/// of the value and are shared with the [`super::Image`].
pub struct CoreFile {
    pub path: PathBuf,
    pub threads: Vec<Thread>,
    /// `(key, value)` pairs of `NT_AUXV`, without the terminating `AT_NULL`.
    pub auxv: Vec<(u64, u64)>,
    /// `NT_FILE` entries, sorted by start address.
    pub files: Vec<FileMapping>,
    /// PT_LOAD segments, sorted by address, overlaps removed.
    pub segments: Vec<Segment>,
    /// `pr_fname` of `NT_PRPSINFO` (the command name, at most 15 bytes).
    pub command: String,
    /// `pr_psargs` of `NT_PRPSINFO` (the start of the command line).
    pub args: String,
    pub(crate) bytes: Arc<Bytes>,
}

impl CoreFile {
    /// Parse the core at `path` (already read into `bytes`).
    pub fn parse(path: &Path, bytes: Bytes) -> Result<CoreFile, LoadError> {
        let bytes = Arc::new(bytes);
        let data: &[u8] = &bytes;
        let header = check_header(path, data, &[elf::ET_CORE], "an ELF core file")?;
        let phdrs = program_headers(path, header, data)?;
        let malformed = |detail: String| LoadError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let (mut threads, mut auxv, mut files) = (Vec::new(), Vec::new(), Vec::new());
        let (mut command, mut args) = (String::new(), String::new());
        for ph in phdrs {
            let notes = match ph.notes(LE, data) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) => return Err(malformed(format!("notes (is the core truncated?): {e}"))),
            };
            for note in notes {
                let note = note.map_err(|e| malformed(format!("notes: {e}")))?;
                // gdb and the kernel both name these notes "CORE".
                if note.name() != elf::ELF_NOTE_CORE {
                    continue;
                }
                let desc = note.desc();
                match note.n_type(LE) {
                    elf::NT_PRSTATUS => threads.extend(parse_prstatus(desc)),
                    elf::NT_AUXV => auxv = parse_auxv(desc),
                    elf::NT_FILE => files = parse_nt_file(desc),
                    elf::NT_PRPSINFO => {
                        command = c_string(desc, PRPSINFO_FNAME, 16);
                        args = c_string(desc, PRPSINFO_PSARGS, 80);
                    }
                    _ => {}
                }
            }
        }
        if threads.is_empty() {
            return Err(malformed(
                "the core has no NT_PRSTATUS note (no threads)".into(),
            ));
        }
        let segments = remove_overlaps(load_segments(phdrs, data.len() as u64));
        Ok(CoreFile {
            path: path.to_path_buf(),
            threads,
            auxv,
            files,
            segments,
            command,
            args,
            bytes,
        })
    }

    /// The value of an auxiliary-vector entry such as [`AT_ENTRY`].
    pub fn auxv_value(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The `NT_FILE` mapping containing `addr`.
    pub fn file_at(&self, addr: Addr) -> Option<&FileMapping> {
        let i = self.files.partition_point(|f| f.start <= addr);
        let f = self.files.get(i.checked_sub(1)?)?;
        (addr < f.end).then_some(f)
    }

    /// The bytes at `addr` that the core file itself stores (not zero-filled,
    /// not backed by the executable), when one segment holds all of them.
    pub fn dumped_bytes(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        let off = addr.offset_from(seg.vaddr)?;
        if off.checked_add(len)? > seg.avail {
            return None;
        }
        let start = usize::try_from(seg.offset.checked_add(off)?).ok()?;
        self.bytes
            .get(start..start.checked_add(usize::try_from(len).ok()?)?)
    }

    /// A NUL-terminated string the core stores at `addr` (e.g. `AT_EXECFN`).
    pub fn dumped_c_string(&self, addr: Addr, max: u64) -> Option<String> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        let off = addr.offset_from(seg.vaddr)?;
        let len = seg.avail.checked_sub(off)?.min(max);
        let bytes = self.dumped_bytes(addr, len)?;
        let end = bytes.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    /// Segments whose file range runs past the end of the core file, and the
    /// number of bytes missing from them.
    pub fn truncation(&self) -> (usize, u64) {
        self.segments
            .iter()
            .filter(|s| s.avail < s.filesz)
            .fold((0, 0), |(n, b), s| (n + 1, b + (s.filesz - s.avail)))
    }
}

/// Overlapping PT_LOAD segments are not produced by the kernel or gdb; if a
/// damaged core has them, later segments lose their overlapping front part so
/// every address has one source.
fn remove_overlaps(segs: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segs.len());
    for mut s in segs {
        if let Some(prev) = out.last() {
            let prev_end = prev.end();
            if s.vaddr < prev_end {
                let cut = prev_end.0 - s.vaddr.0;
                if cut >= s.memsz {
                    continue;
                }
                s.vaddr = prev_end;
                s.memsz -= cut;
                s.offset = s.offset.saturating_add(cut);
                s.filesz = s.filesz.saturating_sub(cut);
                s.avail = s.avail.saturating_sub(cut);
            }
        }
        out.push(s);
    }
    out
}

fn le_u64(d: &[u8], off: usize) -> Option<u64> {
    let b = d.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn parse_prstatus(desc: &[u8]) -> Option<Thread> {
    let pid = u32::from_le_bytes(desc.get(PRSTATUS_PID..PRSTATUS_PID + 4)?.try_into().ok()?);
    let mut regs = [0u64; NUM_REGS];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = le_u64(desc, PRSTATUS_REGS + 8 * i)?;
    }
    Some(Thread { pid, regs })
}

fn parse_auxv(desc: &[u8]) -> Vec<(u64, u64)> {
    desc.chunks_exact(16)
        .map(|c| (le_u64(c, 0).unwrap_or(0), le_u64(c, 8).unwrap_or(0)))
        .take_while(|&(k, _)| k != 0)
        .collect()
}

/// `NT_FILE`: count, page size, `count` × (start, end, page offset), then
/// `count` NUL-terminated paths (`fs/binfmt_elf.c:fill_files_note`).
fn parse_nt_file(desc: &[u8]) -> Vec<FileMapping> {
    let (Some(count), Some(page_size)) = (le_u64(desc, 0), le_u64(desc, 8)) else {
        return Vec::new();
    };
    // Bound the count by the note's size before it sizes anything.
    let max = (desc.len().saturating_sub(16) / 24) as u64;
    let count = count.min(max) as usize;
    let names_start = 16 + 24 * count;
    let mut names = desc
        .get(names_start..)
        .unwrap_or_default()
        .split(|&b| b == 0);
    let mut files: Vec<FileMapping> = (0..count)
        .filter_map(|i| {
            let t = 16 + 24 * i;
            let name = names.next().unwrap_or_default();
            Some(FileMapping {
                start: Addr(le_u64(desc, t)?),
                end: Addr(le_u64(desc, t + 8)?),
                file_offset: le_u64(desc, t + 16)?.saturating_mul(page_size),
                path: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .collect();
    files.sort_by_key(|f| f.start);
    files
}

fn c_string(desc: &[u8], off: usize, len: usize) -> String {
    let b = desc.get(off..off + len).unwrap_or_default();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}
