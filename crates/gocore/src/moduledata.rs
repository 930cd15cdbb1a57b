//! `runtime.firstmoduledata`: where the binary's tables and globals are.

use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::layout::Lookup;

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
    pub pc_header: Addr,
    pub funcnametab: Addr,
    pub funcnametab_len: u64,
    pub cutab: Addr,
    pub cutab_len: u64,
    pub filetab: Addr,
    pub filetab_len: u64,
    pub pctab: Addr,
    pub pctab_len: u64,
    pub pclntable: Addr,
    pub pclntable_len: u64,
    pub ftab: Addr,
    pub ftab_len: u64,
    pub minpc: Addr,
    pub maxpc: Addr,
    pub text: Addr,
    pub etext: Addr,
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
    pub rodata: Addr,
    pub gofunc: Addr,
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
        Ok(ModuleData {
            addr,
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
            minpc: ptr("minpc")?,
            maxpc: ptr("maxpc")?,
            text: ptr("text")?,
            etext: ptr("etext")?,
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
            rodata: ptr("rodata")?,
            gofunc: ptr("gofunc")?,
            gcdatamask: bitvector("gcdatamask")?,
            gcbssmask: bitvector("gcbssmask")?,
        })
    }
}
