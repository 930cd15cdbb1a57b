//! Bodies of the fuzz targets over this crate (`fuzz/` runs them with
//! cargo-fuzz; the crate's tests replay the inputs that once crashed them,
//! kept under `testdata/fuzz-regressions/<target>/`). Not a stable API.
//!
//! * [`dwarf`]: length-prefixed DWARF sections ([`DWARF_SECTIONS`] order)
//!   handed to `DwarfInfo::parse`, then queried;
//! * [`rtype`]: a header (Go minor, flags, types range, 4 query addresses)
//!   then memory chunks, decoded with `TypeReader` (types, GC masks, fields).
//!
//! Memory chunks are `[addr u64][len u32][len bytes]`, each a [`FlatMemory`].

use crate::mem::FlatMemory;
use crate::rtype::{AbiFlavor, TypeReader};
use crate::{Addr, MemError, Memory};

// ---- memory chunks ---------------------------------------------------------

/// Memory made of [`FlatMemory`] chunks; a read must fall inside one chunk.
pub struct Chunks<'a> {
    parts: Vec<FlatMemory<'a>>,
}

/// At most this many chunks are read from an input.
const MAX_CHUNKS: usize = 64;

impl<'a> Chunks<'a> {
    /// Parse `[addr u64][len u32][bytes]...` (a short last chunk keeps what is there).
    pub fn parse(mut data: &'a [u8]) -> Chunks<'a> {
        let mut parts = Vec::new();
        while data.len() >= 12 && parts.len() < MAX_CHUNKS {
            let base = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(data[8..12].try_into().unwrap_or_default()) as usize;
            let len = len.min(data.len() - 12);
            parts.push(FlatMemory {
                base: Addr(base),
                data: &data[12..12 + len],
            });
            data = &data[12 + len..];
        }
        parts.sort_by_key(|p| p.base);
        Chunks { parts }
    }

    fn part(&self, addr: Addr) -> Option<&FlatMemory<'a>> {
        let i = self.parts.partition_point(|p| p.base <= addr);
        self.parts.get(i.checked_sub(1)?)
    }
}

impl Memory for Chunks<'_> {
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError> {
        let err = MemError {
            addr,
            len: buf.len() as u64,
        };
        self.part(addr).ok_or(err)?.read(addr, buf)
    }
    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        self.part(addr)?.slice(addr, len)
    }
}

/// Append a chunk in the [`Chunks`] format.
pub fn push_chunk(out: &mut Vec<u8>, addr: u64, bytes: &[u8]) {
    out.extend_from_slice(&addr.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

pub fn u64_at(d: &[u8], i: usize) -> u64 {
    d.get(i * 8..i * 8 + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

// ---- dwarf -----------------------------------------------------------------

/// The sections a [`dwarf`] input holds, in order, each as `[len u32][bytes]`.
pub const DWARF_SECTIONS: [gimli::SectionId; 10] = [
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugLineStr,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugLoc,
    gimli::SectionId::DebugLocLists,
    gimli::SectionId::DebugRanges,
    gimli::SectionId::DebugRngLists,
    gimli::SectionId::DebugStrOffsets,
];

/// `DwarfInfo::parse` on the sections, then every query gorefs makes.
pub fn dwarf(mut data: &[u8]) {
    use crate::dwarf::{DwarfInfo, TypeShape};
    use std::sync::Arc;
    let mut sections: Vec<Option<Arc<[u8]>>> = Vec::new();
    for _ in DWARF_SECTIONS {
        if data.len() < 4 {
            sections.push(None);
            continue;
        }
        let len = (u32::from_le_bytes(data[..4].try_into().unwrap_or_default()) as usize)
            .min(data.len() - 4);
        sections.push(Some(Arc::from(&data[4..4 + len])));
        data = &data[4 + len..];
    }
    let lookup = |id: gimli::SectionId| {
        let i = DWARF_SECTIONS.iter().position(|&s| s == id)?;
        sections[i].clone()
    };
    let Ok(info) = DwarfInfo::parse(&lookup) else {
        return;
    };
    for raw in 0..4096 {
        let Some(id) = info.type_id(raw) else { break };
        let t = info.ty(id);
        let _ = info.resolve_typedefs(id);
        if let TypeShape::Struct { fields } = &t.shape {
            if let Some(l) = info.struct_layout(&t.name) {
                for f in fields.iter().take(16) {
                    let _ = l.offset(&f.name);
                    let _ = l.field(&format!("{}.x", f.name));
                }
            }
        }
        if let Some(off) = t.runtime_type {
            let _ = info.type_by_runtime_offset(off);
        }
        let _ = info.type_by_name(&t.name);
    }
    for name in [
        "runtime.g",
        "runtime.mspan",
        "runtime.mheap",
        "main.Session",
    ] {
        let _ = info.struct_layout(name);
    }
    let _ = info.constant("runtime.mSpanInUse");
    for g in info.globals().iter().take(256) {
        let _ = info.global(&g.name);
        let _ = info.global_containing(g.addr);
    }
    for f in info.functions().iter().take(256) {
        let _ = info.function_at(f.low_pc);
        let _ = info.function_by_name(&f.name);
        for v in &f.vars {
            let _ = v.location.at_pc(f.low_pc);
        }
    }
}

// ---- rtype -----------------------------------------------------------------

/// Size of the [`rtype`] header: minor, flags, 6 spare bytes, types,
/// etypes, 4 query addresses.
pub const RTYPE_HEADER: usize = 64;

/// `TypeReader` over chunks: decode, GC masks and pointer fields.
pub fn rtype(data: &[u8]) {
    if data.len() < RTYPE_HEADER {
        return;
    }
    let (h, rest) = data.split_at(RTYPE_HEADER);
    let minor = 21 + u32::from(h[0] % 7);
    let experiments: Vec<String> = if h[1] & 1 != 0 {
        vec!["noswissmap".into()]
    } else {
        Vec::new()
    };
    let mem = Chunks::parse(rest);
    let flavor = AbiFlavor::for_version(minor, &experiments);
    let r = TypeReader::new(&mem, Addr(u64_at(h, 1)), Addr(u64_at(h, 2)), flavor);
    for q in 3..7 {
        let addr = Addr(u64_at(h, q));
        if let Ok(t) = r.get(addr) {
            let _ = r.gc_mask(addr);
            if let crate::rtype::KindDetail::Struct { fields } = &t.detail {
                for f in fields.iter().take(8) {
                    let _ = r.get(f.typ);
                }
            }
        }
        let _ = r.itab_type(addr);
        let _ = r.gc_mask(addr);
    }
}

/// The inputs under `testdata/fuzz-regressions/<target>/` (inputs that once
/// crashed a fuzz target), sorted by name.
pub fn regressions(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz-regressions")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let data = std::fs::read(&p).ok()?;
            Some((p, data))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtype_regressions_do_not_panic() {
        for (_, data) in regressions("rtype") {
            rtype(&data);
        }
    }

    #[test]
    fn dwarf_regressions_do_not_panic() {
        for (_, data) in regressions("dwarf") {
            dwarf(&data);
        }
    }
}
