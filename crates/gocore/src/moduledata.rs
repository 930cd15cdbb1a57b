//! `runtime.firstmoduledata`: where the binary's tables and globals are.

use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::layout::Lookup;
use crate::pclntab::ModuleTables;

/// A `bitvector{n int32; bytedata *uint8}`: one bit per word.
#[derive(Debug, Clone, Copy)]
pub struct Bitvector {
    pub nbits: u64,
    pub data: Addr,
}

/// The fields of `runtime.moduledata` gorefs uses.
#[derive(Debug, Clone)]
pub struct ModuleData {
    pub addr: Addr,
    /// The pclntab and text ranges, for `pclntab::Pclntab`.
    pub tables: ModuleTables,
    pub noptrdata: Addr,
    pub enoptrdata: Addr,
    pub data: Addr,
    pub edata: Addr,
    pub bss: Addr,
    pub ebss: Addr,
    pub noptrbss: Addr,
    pub enoptrbss: Addr,
    pub types: Addr,
    pub etypes: Addr,
    pub gcdatamask: Bitvector,
    pub gcbssmask: Bitvector,
}

impl ModuleData {
    pub fn read(mem: &dyn Memory, l: &Lookup<'_>) -> Result<ModuleData, Error> {
        let addr = l.global("runtime.firstmoduledata")?;
        let md = l.strukt("runtime.moduledata")?;
        let ptr =
            |field: &str| -> Result<Addr, Error> { Ok(mem.read_ptr(addr + l.off(md, field)?)?) };
        let len =
            |field: &str| -> Result<u64, Error> { Ok(mem.read_u64(addr + l.off(md, field)? + 8)?) };
        let bitvector = |field: &str| -> Result<Bitvector, Error> {
            let o = addr + l.off(md, field)?;
            let n = mem.read_i32(o)?;
            Ok(Bitvector {
                nbits: u64::try_from(n)
                    .map_err(|_| Error::Corrupt(format!("moduledata.{field} has {n} bits")))?,
                data: mem.read_ptr(o + 8)?,
            })
        };
        let tables = ModuleTables {
            pc_header: ptr("pcHeader")?,
            funcnametab: ptr("funcnametab")?,
            funcnametab_len: len("funcnametab")?,
            cutab: ptr("cutab")?,
            cutab_len: len("cutab")?,
            filetab: ptr("filetab")?,
            filetab_len: len("filetab")?,
            pctab: ptr("pctab")?,
            pctab_len: len("pctab")?,
            pclntable: ptr("pclntable")?,
            pclntable_len: len("pclntable")?,
            ftab: ptr("ftab")?,
            ftab_len: len("ftab")?,
            text: ptr("text")?,
            etext: ptr("etext")?,
            minpc: ptr("minpc")?,
            maxpc: ptr("maxpc")?,
            gofunc: ptr("gofunc")?,
            rodata: ptr("rodata")?,
        };
        Ok(ModuleData {
            addr,
            tables,
            noptrdata: ptr("noptrdata")?,
            enoptrdata: ptr("enoptrdata")?,
            data: ptr("data")?,
            edata: ptr("edata")?,
            bss: ptr("bss")?,
            ebss: ptr("ebss")?,
            noptrbss: ptr("noptrbss")?,
            enoptrbss: ptr("enoptrbss")?,
            types: ptr("types")?,
            etypes: ptr("etypes")?,
            gcdatamask: bitvector("gcdatamask")?,
            gcbssmask: bitvector("gcbssmask")?,
        })
    }
}
