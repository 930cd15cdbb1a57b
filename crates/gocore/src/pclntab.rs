//! The Go function table (`pclntab`, Go 1.20+ format, used unchanged by Go
//! 1.21–1.27): PC → function lookup, function names, pc-value tables
//! (frame size, file, line, pcdata), funcdata addresses and the inline tree.
//!
//! This module owns the decoding of `runtime.pcHeader`, `runtime.functab`,
//! `runtime._func` and `runtime.inlinedCall` (runtime/symtab.go,
//! runtime/symtabinl.go). The tables are copied out of the binary once, so
//! lookups never touch the [`Memory`] again; only funcdata (stack maps, inline
//! trees), which lives at `moduledata.gofunc`, is read through memory by its
//! users.
//!
//! Only amd64 is handled (`PCQuantum` 1, 8-byte pointers), and only a single
//! text section (`len(moduledata.textsectmap) == 1`, which is always the case
//! on amd64: the linker splits text only on ppc64 and arm64).

use gotypes::{Addr, MemError, Memory};

/// `pcHeader.magic` of the Go 1.20+ table format (every release 1.21–1.27).
pub const PCLNTAB_MAGIC: u32 = 0xffff_fff1;

/// Size of the fixed part of `runtime._func` (stable 1.21–1.27).
const FUNC_HEADER_SIZE: usize = 44;

/// `abi.ArgsSizeUnknown`: `_func.args` of assembly functions without a Go prototype.
pub const ARGS_SIZE_UNKNOWN: i32 = i32::MIN;

/// `_func.flag` bits (internal/abi/symtab.go FuncFlag).
pub const FUNC_FLAG_TOP_FRAME: u8 = 1;
pub const FUNC_FLAG_SPWRITE: u8 = 2;
pub const FUNC_FLAG_ASM: u8 = 4;

/// PCDATA table indices (internal/abi/symtab.go, stable 1.21–1.27).
pub const PCDATA_STACK_MAP_INDEX: u32 = 1;
pub const PCDATA_INL_TREE_INDEX: u32 = 2;

/// FUNCDATA indices (internal/abi/symtab.go, stable 1.21–1.27).
pub const FUNCDATA_ARGS_POINTER_MAPS: u8 = 0;
pub const FUNCDATA_LOCALS_POINTER_MAPS: u8 = 1;
pub const FUNCDATA_STACK_OBJECTS: u8 = 2;
pub const FUNCDATA_INL_TREE: u8 = 3;

/// Upper bound for one copied table; the largest Go binaries have a few
/// hundred MB of pclntab, so anything above this is a corrupt length.
const MAX_TABLE_BYTES: u64 = 1 << 30;

/// Tables that are not one contiguous file-backed range (the normal case:
/// `.gopclntab` is in the executable's read-only segment) are copied with
/// reads only up to this size: reads of zero-filled memory always succeed,
/// so a corrupt length must not size the copy.
const MAX_UNBACKED_TABLE_BYTES: u64 = 1 << 26;

/// Bound on the inline depth followed for one PC (the compiler's budget keeps
/// real trees far shallower; this only stops cycles in corrupt data).
const MAX_INLINE_DEPTH: usize = 1000;

/// Addresses and lengths of the function tables, from `runtime.firstmoduledata`
/// (filled by the caller from DWARF or per-version offsets). Lengths are the
/// `len` of the corresponding moduledata slices (elements, not bytes, for
/// `cutab` and `ftab`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ModuleTables {
    pub pc_header: Addr,
    pub funcnametab: Addr,
    pub funcnametab_len: u64,
    /// `[]uint32`.
    pub cutab: Addr,
    pub cutab_len: u64,
    pub filetab: Addr,
    pub filetab_len: u64,
    pub pctab: Addr,
    pub pctab_len: u64,
    pub pclntable: Addr,
    pub pclntable_len: u64,
    /// `[]functab` (8-byte entries); `nfunc + 1` entries, the last one an `etext` sentinel.
    pub ftab: Addr,
    pub ftab_len: u64,
    /// `moduledata.text`: base of `functab.entryoff` (`pcHeader.textStart` is 0 from 1.26).
    pub text: Addr,
    pub etext: Addr,
    pub minpc: Addr,
    pub maxpc: Addr,
    /// Base of `_func.funcdata` offsets.
    pub gofunc: Addr,
    /// Base of `stackObjectRecord.gcdataoff`.
    pub rodata: Addr,
}

#[derive(Debug, thiserror::Error)]
pub enum PclnError {
    #[error(transparent)]
    Mem(#[from] MemError),
    #[error("pclntab header at {addr} has magic {found:#x}; only the Go 1.20+ format ({PCLNTAB_MAGIC:#x}) is supported")]
    BadMagic { addr: Addr, found: u32 },
    #[error("pclntab header says pointer size {ptr_size} and PC quantum {quantum}; only amd64 (8, 1) is supported")]
    UnsupportedArch { ptr_size: u8, quantum: u8 },
    #[error("pclntab table {table} claims {len} entries, more than the {max} allowed")]
    TooLarge {
        table: &'static str,
        len: u64,
        max: u64,
    },
    #[error("pclntab function table entry {index} is invalid ({why})")]
    BadFunc { index: u64, why: &'static str },
}

/// One function: the decoded fixed part of `runtime._func`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Func {
    /// Position in [`Pclntab::funcs`] (sorted by entry).
    pub index: u32,
    pub entry: Addr,
    /// End of the function's code (the next function's entry, or `etext`).
    pub end: Addr,
    /// Offset of the `_func` in `pclntable`.
    off: u32,
    pub name_off: i32,
    /// Bytes of arguments and results, or [`ARGS_SIZE_UNKNOWN`].
    pub args: i32,
    /// Offset from `entry` of the deferreturn call, 0 if none.
    pub deferreturn: u32,
    pub pcsp: u32,
    pub pcfile: u32,
    pub pcln: u32,
    pub npcdata: u32,
    pub cu_offset: u32,
    pub start_line: i32,
    /// `abi.FuncID`; numbering shifts between releases, so match functions by name.
    pub funcid: u8,
    pub flag: u8,
    pub nfuncdata: u8,
}

impl Func {
    pub fn is_top_frame(&self) -> bool {
        self.flag & FUNC_FLAG_TOP_FRAME != 0
    }
    pub fn is_spwrite(&self) -> bool {
        self.flag & FUNC_FLAG_SPWRITE != 0
    }
    pub fn is_asm(&self) -> bool {
        self.flag & FUNC_FLAG_ASM != 0
    }
}

/// One logical (source-level) frame at a PC: the function itself or one it inlined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogicalFrame<'a> {
    pub name: &'a str,
    pub file: &'a str,
    pub line: u32,
    /// True for a function inlined into its caller (the next logical frame).
    pub inlined: bool,
}

/// The decoded function table of one module.
pub struct Pclntab {
    tables: ModuleTables,
    funcnametab: Vec<u8>,
    cutab: Vec<u8>,
    filetab: Vec<u8>,
    pctab: Vec<u8>,
    pclntable: Vec<u8>,
    funcs: Vec<Func>,
}

fn read_table(
    mem: &dyn Memory,
    table: &'static str,
    addr: Addr,
    len: u64,
) -> Result<Vec<u8>, PclnError> {
    if len > MAX_TABLE_BYTES {
        return Err(PclnError::TooLarge {
            table,
            len,
            max: MAX_TABLE_BYTES,
        });
    }
    if let Some(bytes) = mem.slice(addr, len) {
        return Ok(bytes.to_vec());
    }
    if len > MAX_UNBACKED_TABLE_BYTES {
        return Err(PclnError::TooLarge {
            table,
            len,
            max: MAX_UNBACKED_TABLE_BYTES,
        });
    }
    Ok(mem.read_vec(addr, len, MAX_UNBACKED_TABLE_BYTES)?)
}

fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// LEB128 unsigned varint as written by the Go linker (at most 5 bytes for a uint32).
fn read_uvarint(p: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    let mut shift = 0u32;
    for (i, &b) in p.iter().enumerate().take(5) {
        v |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
        shift += 7;
    }
    None
}

/// NUL-terminated string at `off` in `tab`; `None` if out of bounds or not UTF-8.
fn cstr(tab: &[u8], off: usize) -> Option<&str> {
    let rest = tab.get(off..)?;
    let n = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..n]).ok()
}

impl Pclntab {
    /// Check the header and copy the tables out of `mem` (normally the
    /// executable's `.gopclntab`), building the sorted function index.
    pub fn new(mem: &dyn Memory, tables: ModuleTables) -> Result<Self, PclnError> {
        let magic = mem.read_u32(tables.pc_header)?;
        if magic != PCLNTAB_MAGIC {
            return Err(PclnError::BadMagic {
                addr: tables.pc_header,
                found: magic,
            });
        }
        let quantum = mem.read_u8(tables.pc_header + 6)?;
        let ptr_size = mem.read_u8(tables.pc_header + 7)?;
        if quantum != 1 || ptr_size != 8 {
            return Err(PclnError::UnsupportedArch { ptr_size, quantum });
        }
        let max_entries = MAX_TABLE_BYTES / 8;
        if tables.ftab_len > max_entries || tables.cutab_len > max_entries {
            return Err(PclnError::TooLarge {
                table: "ftab/cutab",
                len: tables.ftab_len.max(tables.cutab_len),
                max: max_entries,
            });
        }
        let funcnametab = read_table(
            mem,
            "funcnametab",
            tables.funcnametab,
            tables.funcnametab_len,
        )?;
        let cutab = read_table(mem, "cutab", tables.cutab, tables.cutab_len * 4)?;
        let filetab = read_table(mem, "filetab", tables.filetab, tables.filetab_len)?;
        let pctab = read_table(mem, "pctab", tables.pctab, tables.pctab_len)?;
        let pclntable = read_table(mem, "pclntable", tables.pclntable, tables.pclntable_len)?;
        let ftab = read_table(mem, "ftab", tables.ftab, tables.ftab_len * 8)?;

        let nfunc = tables.ftab_len.saturating_sub(1) as usize;
        // Bounded by the table actually read, but grown rather than reserved.
        let mut funcs = Vec::with_capacity(nfunc.min(1 << 16));
        for i in 0..nfunc {
            let bad = |why| PclnError::BadFunc {
                index: i as u64,
                why,
            };
            let entryoff = le_u32(&ftab, i * 8).ok_or(bad("ftab truncated"))?;
            let funcoff = le_u32(&ftab, i * 8 + 4).ok_or(bad("ftab truncated"))?;
            let next_entry = le_u32(&ftab, (i + 1) * 8).ok_or(bad("ftab truncated"))?;
            if next_entry < entryoff {
                return Err(bad("ftab not sorted by entry"));
            }
            let h = pclntable
                .get(funcoff as usize..funcoff as usize + FUNC_HEADER_SIZE)
                .ok_or(bad("_func outside pclntable"))?;
            let u = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            funcs.push(Func {
                index: i as u32,
                entry: tables.text + u64::from(entryoff),
                end: tables.text + u64::from(next_entry),
                off: funcoff,
                name_off: u(4) as i32,
                args: u(8) as i32,
                deferreturn: u(12),
                pcsp: u(16),
                pcfile: u(20),
                pcln: u(24),
                npcdata: u(28),
                cu_offset: u(32),
                start_line: u(36) as i32,
                funcid: h[40],
                flag: h[41],
                nfuncdata: h[43],
            });
        }
        Ok(Pclntab {
            tables,
            funcnametab,
            cutab,
            filetab,
            pctab,
            pclntable,
            funcs,
        })
    }

    /// The module addresses this table was built from.
    pub fn tables(&self) -> &ModuleTables {
        &self.tables
    }

    /// All functions, sorted by entry PC.
    pub fn funcs(&self) -> &[Func] {
        &self.funcs
    }

    /// The function containing `pc` (binary search over the function table).
    pub fn find_func(&self, pc: Addr) -> Option<Func> {
        if pc < self.tables.minpc || pc >= self.tables.maxpc {
            return None;
        }
        let i = self.funcs.partition_point(|f| f.entry <= pc);
        let f = *self.funcs.get(i.checked_sub(1)?)?;
        (pc < f.end).then_some(f)
    }

    /// The first function with this exact name (a linear scan: for the handful
    /// of runtime functions the unwinder recognises, looked up once).
    pub fn find_by_name(&self, name: &str) -> Option<Func> {
        self.funcs
            .iter()
            .copied()
            .find(|f| self.func_name(f) == name)
    }

    /// The function's name, or `"?"` when the name offset is corrupt.
    pub fn func_name(&self, f: &Func) -> &str {
        self.name_at(f.name_off)
    }

    fn name_at(&self, off: i32) -> &str {
        usize::try_from(off)
            .ok()
            .and_then(|o| cstr(&self.funcnametab, o))
            .unwrap_or("?")
    }

    /// Decode the pc-value table at `table_off` in `pctab` for a function
    /// starting at `entry`, returning the value that applies at `target`
    /// (runtime/symtab.go:pcvalue). `None` for table offset 0 (no table), a
    /// target outside the table, or a corrupt encoding.
    pub fn pcvalue(&self, table_off: u32, entry: Addr, target: Addr) -> Option<i32> {
        if table_off == 0 {
            return None;
        }
        let mut p = self.pctab.get(table_off as usize..)?;
        let mut pc = entry.0;
        let mut val: i32 = -1;
        loop {
            let first = pc == entry.0;
            let (uvdelta, n) = read_uvarint(p)?;
            if uvdelta == 0 && !first {
                return None;
            }
            p = p.get(n..)?;
            val = val.wrapping_add((0u32.wrapping_sub(uvdelta & 1) ^ (uvdelta >> 1)) as i32);
            let (pcdelta, n) = read_uvarint(p)?;
            p = p.get(n..)?;
            pc = pc.checked_add(u64::from(pcdelta))?;
            if target.0 < pc {
                return Some(val);
            }
        }
    }

    /// Stack pointer delta (frame size below the return address) at `pc`.
    pub fn spdelta(&self, f: &Func, pc: Addr) -> Option<i32> {
        self.pcvalue(f.pcsp, f.entry, pc)
    }

    /// `pcdata[idx]` value at `pc`, `None` if the function has no such table.
    pub fn pcdata(&self, f: &Func, idx: u32, pc: Addr) -> Option<i32> {
        if idx >= f.npcdata {
            return None;
        }
        let at = (f.off as usize).checked_add(FUNC_HEADER_SIZE + 4 * idx as usize)?;
        let table = le_u32(&self.pclntable, at)?;
        self.pcvalue(table, f.entry, pc)
    }

    /// Address of `funcdata[idx]`, `None` if absent.
    pub fn funcdata(&self, f: &Func, idx: u8) -> Option<Addr> {
        if idx >= f.nfuncdata {
            return None;
        }
        let at = (f.off as usize)
            .checked_add(FUNC_HEADER_SIZE)?
            .checked_add(4 * f.npcdata as usize)?
            .checked_add(4 * usize::from(idx))?;
        let off = le_u32(&self.pclntable, at)?;
        if off == u32::MAX {
            return None;
        }
        self.tables.gofunc.checked_add(u64::from(off))
    }

    /// Source file and line of `pc` in `f` (for a return address, pass `pc - 1`).
    pub fn file_line(&self, f: &Func, pc: Addr) -> Option<(&str, u32)> {
        let fileno = self.pcvalue(f.pcfile, f.entry, pc)?;
        let line = self.pcvalue(f.pcln, f.entry, pc)?;
        let idx = f.cu_offset.checked_add(u32::try_from(fileno).ok()?)?;
        let fileoff = le_u32(&self.cutab, 4 * idx as usize)?;
        let file = if fileoff == u32::MAX {
            "?"
        } else {
            cstr(&self.filetab, fileoff as usize)?
        };
        Some((file, u32::try_from(line).ok()?))
    }

    /// The logical frames at `pc`, innermost first: the functions inlined at
    /// `pc` (from the inline tree, `FUNCDATA_InlTree` and
    /// `PCDATA_InlTreeIndex`), then `f` itself. `pc` is the symbolization PC
    /// (`pc - 1` for a return address). Appends to `out`.
    pub fn logical_frames<'s>(
        &'s self,
        mem: &dyn Memory,
        f: &Func,
        pc: Addr,
        out: &mut Vec<LogicalFrame<'s>>,
    ) {
        let mut pc = pc;
        let tree = self.funcdata(f, FUNCDATA_INL_TREE);
        for _ in 0..MAX_INLINE_DEPTH {
            let (file, line) = self.file_line(f, pc).unwrap_or(("?", 0));
            let ix = match (tree, self.pcdata(f, PCDATA_INL_TREE_INDEX, pc)) {
                (Some(t), Some(ix)) if ix >= 0 => Some(t + 16 * ix as u64),
                _ => None,
            };
            // inlinedCall{funcID u8; _ [3]byte; nameOff int32; parentPc int32; startLine int32}
            let call =
                ix.and_then(|a| Some((mem.read_i32(a + 4).ok()?, mem.read_i32(a + 8).ok()?)));
            match call {
                Some((name_off, parent_pc)) => {
                    out.push(LogicalFrame {
                        name: self.name_at(name_off),
                        file,
                        line,
                        inlined: true,
                    });
                    let Ok(parent) = u64::try_from(parent_pc) else {
                        return;
                    };
                    pc = f.entry + parent;
                }
                None => {
                    out.push(LogicalFrame {
                        name: self.func_name(f),
                        file,
                        line,
                        inlined: false,
                    });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint() {
        assert_eq!(read_uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(read_uvarint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(read_uvarint(&[0x80, 0x80]), None);
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Some((u32::MAX, 5))
        );
    }

    /// A hand-made pc-value table: value 0x10 for [entry, entry+4), 0x18 until
    /// entry+10 (encoded as in cmd/internal/obj/pcln.go: zigzag value deltas
    /// from -1 and PC deltas).
    #[test]
    fn pcvalue_decoding() {
        let mut t = Pclntab {
            tables: ModuleTables::default(),
            funcnametab: Vec::new(),
            cutab: Vec::new(),
            filetab: Vec::new(),
            pctab: vec![0],
            pclntable: Vec::new(),
            funcs: Vec::new(),
        };
        // -1 -> 16: delta 17, zigzag 34; then +8: zigzag 16.
        t.pctab.extend_from_slice(&[34, 4, 16, 6, 0]);
        let e = Addr(0x1000);
        assert_eq!(t.pcvalue(1, e, Addr(0x1000)), Some(16));
        assert_eq!(t.pcvalue(1, e, Addr(0x1003)), Some(16));
        assert_eq!(t.pcvalue(1, e, Addr(0x1004)), Some(24));
        assert_eq!(t.pcvalue(1, e, Addr(0x1009)), Some(24));
        assert_eq!(t.pcvalue(1, e, Addr(0x100a)), None);
        assert_eq!(t.pcvalue(0, e, Addr(0x1000)), None);
    }
}
