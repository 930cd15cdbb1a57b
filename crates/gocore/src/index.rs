//! The on-disk index of an analysed core: a [`HeapModel`] saved once so later
//! queries on the same core load it instead of re-analysing.
//!
//! Format (little-endian): the magic `GOREFSIX`, a format version, the
//! [`Identity`] of the core and binary it was built from, then the model's
//! arrays, each as a `u64` length followed by raw elements. Loading checks
//! every length against the bytes left, so a truncated or foreign file is an
//! error ([`IndexError`]), never a panic or a huge allocation. Predecessor
//! lists are stored too: reading them is cheaper than a transpose. The
//! dominator tree's preorder comes last and stays in the file until a query
//! needs the tree ([`StoredTreeOrder`]). Arrays are written and read in
//! place as little-endian words (gorefs targets amd64), streamed, so neither
//! side holds a second copy of the model.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use gograph::{Ascending, CompactU64s, Csr, Retained, SparseRows};
use gotypes::dwarf::DwarfInfo;

use crate::graph::{HeapGraph, RootNode, RootSlot};
use crate::heap::ObjId;
use crate::model::{HeapModel, Objects};
use crate::roots::RootKind;
use crate::sizes::ObjectSizes;
use crate::typing::{ObjType, TypeRef, TypeRef2};
use crate::Addr;

const MAGIC: &[u8; 8] = b"GOREFSIX";
/// Bump when the layout below changes; older indexes are then rebuilt.
const FORMAT: u32 = 11;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read or write the index {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a gorefs index of this version")]
    Foreign(PathBuf),
    #[error("the index {0} is truncated or corrupt")]
    Corrupt(PathBuf),
}

/// Which core, binary and debug file an index describes: paths, sizes and
/// modification times, so a rewritten core is never answered from a stale
/// index, nor a binary analysed with its debug file from an index built
/// without it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub core: PathBuf,
    pub core_size: u64,
    pub core_mtime_ns: u64,
    pub exe: PathBuf,
    pub exe_size: u64,
    pub exe_mtime_ns: u64,
    /// Empty, 0 and 0 without a debug file.
    pub debug: PathBuf,
    pub debug_size: u64,
    pub debug_mtime_ns: u64,
}

impl Identity {
    pub fn of(core: &Path, exe: &Path, debug: Option<&Path>) -> std::io::Result<Identity> {
        let stat = |p: &Path| -> std::io::Result<(PathBuf, u64, u64)> {
            let p = fs::canonicalize(p)?;
            let m = fs::metadata(&p)?;
            let mtime = m
                .modified()?
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            Ok((p, m.len(), mtime))
        };
        let (core, core_size, core_mtime_ns) = stat(core)?;
        let (exe, exe_size, exe_mtime_ns) = stat(exe)?;
        let (debug, debug_size, debug_mtime_ns) = match debug {
            Some(d) => stat(d)?,
            None => (PathBuf::new(), 0, 0),
        };
        Ok(Identity {
            core,
            core_size,
            core_mtime_ns,
            exe,
            exe_size,
            exe_mtime_ns,
            debug,
            debug_size,
            debug_mtime_ns,
        })
    }

    /// A file name for this identity's index (a hash of all its fields).
    pub fn file_name(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        FORMAT.hash(&mut h);
        format!("{:016x}.gorefs-index", h.finish())
    }
}

/// Write `model` to `path` (atomically: a temporary file renamed over it).
pub fn save(path: &Path, id: &Identity, model: &HeapModel) -> Result<(), IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io)?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, tmp),
        err: None,
    };
    w.raw(MAGIC);
    w.u32(FORMAT);
    w.str(&id.core.to_string_lossy());
    w.u64(id.core_size);
    w.u64(id.core_mtime_ns);
    w.str(&id.exe.to_string_lossy());
    w.u64(id.exe_size);
    w.u64(id.exe_mtime_ns);
    w.str(&id.debug.to_string_lossy());
    w.u64(id.debug_size);
    w.u64(id.debug_mtime_ns);

    let o = &model.objects;
    w.ascending(&o.slot);
    w.sizes(&o.size);
    w.bytes(&o.flags);
    w.u32s(&o.types.iter().map(|t| t.ty).collect::<Vec<_>>());
    w.u32s(&o.types.iter().map(|t| t.count).collect::<Vec<_>>());
    w.u64(model.types.len() as u64);
    for t in &model.types {
        let (tag, payload) = encode_type(*t);
        w.raw(&[tag]);
        w.u64(payload);
    }
    w.strs(&model.type_names);
    w.strs(&model.warnings);

    let g = &model.graph;
    w.u32(g.n_objects);
    w.u64(g.root_nodes.len() as u64);
    for r in &g.root_nodes {
        w.raw(&[r.kind as u8]);
        w.u32(r.name);
        w.u64(r.goroutine.unwrap_or(u64::MAX));
        w.u32(r.function.unwrap_or(u32::MAX));
        w.raw(&[u8::from(r.is_goroutine)]);
    }
    w.strs(&g.names);
    w.u64(g.root_slots.len() as u64);
    for s in &g.root_slots {
        w.u32(s.node);
        w.u64(s.slot.0);
        w.u32(s.object.0);
    }
    w.ascending(g.succ.offsets());
    w.u32s(g.succ.targets());
    w.ascending(g.pred().offsets());
    w.u32s(g.pred().targets());
    let (weak_nodes, weak_offsets, weak_targets) = g.weak_pred.parts();
    w.u32s(weak_nodes);
    w.u64s(weak_offsets);
    w.u32s(weak_targets);
    w.u32s(&g.idom);
    w.compact(&g.retained.bytes);
    w.u32s(&g.retained.objects);
    // Last, so that loading can leave it in the file (see StoredTreeOrder).
    w.u32s(g.tree().preorder());

    if let Some(e) = w.err {
        return Err(io(e));
    }
    let tmp = w.out.into_inner().map_err(|e| io(e.into_error()))?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Read the index at `path` if it was built from exactly `id`; `Ok(None)`
/// when it describes another core or binary, or another format version.
pub fn load(
    path: &Path,
    id: &Identity,
    dwarf: &DwarfInfo,
) -> Result<Option<HeapModel>, IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let corrupt = || IndexError::Corrupt(path.to_path_buf());
    let mut r = Reader {
        input: BufReader::with_capacity(1 << 20, file),
        left: len,
    };
    if &r.take::<8>().ok_or_else(corrupt)? != MAGIC {
        return Err(IndexError::Foreign(path.to_path_buf()));
    }
    if r.u32().ok_or_else(corrupt)? != FORMAT {
        return Ok(None);
    }
    let stored = (|| {
        Some(Identity {
            core: PathBuf::from(r.str()?),
            core_size: r.u64()?,
            core_mtime_ns: r.u64()?,
            exe: PathBuf::from(r.str()?),
            exe_size: r.u64()?,
            exe_mtime_ns: r.u64()?,
            debug: PathBuf::from(r.str()?),
            debug_size: r.u64()?,
            debug_mtime_ns: r.u64()?,
        })
    })()
    .ok_or_else(corrupt)?;
    if &stored != id {
        return Ok(None);
    }
    let mut model = read_model(&mut r, dwarf).ok_or_else(corrupt)?;
    // What is left is the tree's preorder: its length, then its nodes.
    let nodes = model.graph.idom.len();
    let tree_len = r.len(4).filter(|&l| l <= nodes && r.left == 4 * l as u64);
    let tree_len = tree_len.ok_or_else(corrupt)?;
    model.graph.stored_tree = Some(StoredTreeOrder {
        offset: len - r.left,
        len: tree_len,
        file: r.input.into_inner(),
    });
    Ok(Some(model))
}

/// The dominator tree's preorder as a loaded index holds it: left in the
/// file (whose handle is kept, so a rewrite of the index cannot change it)
/// and read when the tree is first asked for ([`HeapGraph::tree`]), so
/// queries that need no tree neither read nor keep it.
#[derive(Debug)]
pub struct StoredTreeOrder {
    file: fs::File,
    offset: u64,
    len: usize,
}

impl StoredTreeOrder {
    /// The nodes as stored, unchecked (`None` if they cannot be read).
    pub(crate) fn read(&self) -> Option<Vec<u32>> {
        use std::io::{Seek, SeekFrom};
        let mut order = vec![0u32; self.len];
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.offset)).ok()?;
        f.read_exact(bytemuck::cast_slice_mut(&mut order)).ok()?;
        Some(order)
    }
}

fn read_model(r: &mut Reader<impl Read>, dwarf: &DwarfInfo) -> Option<HeapModel> {
    let slot = r.ascending()?;
    let size = r.sizes()?;
    let flags = r.bytes()?;
    let (type_index, count) = (r.u32s()?, r.u32s()?);
    let n = slot.len();
    if [size.len(), flags.len(), type_index.len(), count.len()]
        .iter()
        .any(|&l| l != n)
    {
        return None;
    }
    let types = (type_index.into_iter().zip(count))
        .map(|(ty, count)| ObjType { ty, count })
        .collect();
    let objects = Objects {
        slot,
        size,
        flags,
        types,
    };
    let n_types = r.len(9)?;
    let mut types = Vec::with_capacity(n_types);
    for _ in 0..n_types {
        let tag = r.u8()?;
        let payload = r.u64()?;
        types.push(decode_type(tag, payload, dwarf)?);
    }
    let type_names = r.strs()?;
    let warnings = r.strs()?;
    if type_names.len() != types.len() || objects.types.iter().any(|t| t.ty as usize >= types.len())
    {
        return None;
    }

    let n_objects = r.u32()?;
    let n_roots = r.len(18)?;
    let mut root_nodes = Vec::with_capacity(n_roots);
    for _ in 0..n_roots {
        let kind = root_kind(r.u8()?)?;
        let name = r.u32()?;
        let goroutine = Some(r.u64()?).filter(|&g| g != u64::MAX);
        let function = Some(r.u32()?).filter(|&f| f != u32::MAX);
        let is_goroutine = r.u8()? != 0;
        root_nodes.push(RootNode {
            kind,
            name,
            goroutine,
            function,
            is_goroutine,
        });
    }
    let names = r.strs()?;
    let n_slots = r.len(16)?;
    let mut root_slots = Vec::with_capacity(n_slots);
    for _ in 0..n_slots {
        root_slots.push(RootSlot {
            node: r.u32()?,
            slot: Addr(r.u64()?),
            object: ObjId(r.u32()?),
        });
    }
    let succ = Csr::from_parts(r.ascending()?, r.u32s()?).ok()?;
    let pred = Csr::from_parts(r.ascending()?, r.u32s()?).ok()?;
    let (weak_nodes, weak_offsets, weak_targets) = (r.u32s()?, r.u64s()?, r.u32s()?);
    let idom = r.u32s()?;
    let retained = Retained {
        bytes: r.compact()?,
        objects: r.u32s()?,
    };
    let nodes = n_objects as usize + n_roots + 1;
    let weak_pred = SparseRows::from_parts(nodes, weak_nodes, weak_offsets, weak_targets).ok()?;
    let names_ok = root_nodes.iter().all(|rn| {
        (rn.name as usize) < names.len() && rn.function.is_none_or(|f| (f as usize) < names.len())
    });
    let slots_ok = root_slots
        .iter()
        .all(|s| (s.node as usize) < nodes && s.object.index() < n);
    if n_objects as usize != n
        || succ.node_count() != nodes
        || pred.node_count() != nodes
        || pred.edge_count() != succ.edge_count()
        || idom.len() != nodes
        || idom
            .iter()
            .any(|&d| d != gograph::NONE && d as usize >= nodes)
        || retained.bytes.len() != nodes
        || retained.objects.len() != nodes
        || !names_ok
        || !slots_ok
    {
        return None;
    }
    Some(HeapModel {
        objects,
        types,
        type_names,
        warnings,
        graph: HeapGraph {
            n_objects,
            root_nodes,
            names,
            root_slots,
            succ,
            pred: pred.into(),
            weak_pred,
            idom,
            tree: OnceLock::new(),
            stored_tree: None,
            retained,
        },
    })
}

fn encode_type(t: Option<TypeRef>) -> (u8, u64) {
    match t {
        None => (0, 0),
        Some(TypeRef::Rt(a)) => (1, a.0),
        Some(TypeRef::Dw(d)) => (2, u64::from(d.to_raw())),
        Some(TypeRef::MapHeader(a)) => (3, a.0),
        Some(TypeRef::MapDirectory(a)) => (4, a.0),
        Some(TypeRef::MapTable(a)) => (5, a.0),
        Some(TypeRef::ChanHeader(TypeRef2::Rt(a))) => (6, a.0),
        Some(TypeRef::ChanHeader(TypeRef2::Dw(d))) => (7, u64::from(d.to_raw())),
        Some(TypeRef::Closure(a)) => (8, a.0),
        Some(TypeRef::StringData) => (9, 0),
    }
}

/// `None` (outer) when the tag is unknown or a DWARF id is out of range.
fn decode_type(tag: u8, payload: u64, dwarf: &DwarfInfo) -> Option<Option<TypeRef>> {
    let dw = || dwarf.type_id(u32::try_from(payload).ok()?);
    Some(Some(match tag {
        0 => return Some(None),
        1 => TypeRef::Rt(Addr(payload)),
        2 => TypeRef::Dw(dw()?),
        3 => TypeRef::MapHeader(Addr(payload)),
        4 => TypeRef::MapDirectory(Addr(payload)),
        5 => TypeRef::MapTable(Addr(payload)),
        6 => TypeRef::ChanHeader(TypeRef2::Rt(Addr(payload))),
        7 => TypeRef::ChanHeader(TypeRef2::Dw(dw()?)),
        8 => TypeRef::Closure(Addr(payload)),
        9 => TypeRef::StringData,
        _ => return None,
    }))
}

fn root_kind(b: u8) -> Option<RootKind> {
    RootKind::ALL.into_iter().find(|&k| k as u8 == b)
}

/// Writes into a buffered stream, keeping the first error.
struct Writer<W: Write> {
    out: BufWriter<W>,
    err: Option<std::io::Error>,
}

impl<W: Write> Writer<W> {
    fn raw(&mut self, b: &[u8]) {
        if self.err.is_none() {
            if let Err(e) = self.out.write_all(b) {
                self.err = Some(e);
            }
        }
    }
    fn u32(&mut self, v: u32) {
        self.raw(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.raw(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn strs(&mut self, v: &[String]) {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.raw(bytemuck::cast_slice(v));
    }
    fn u64s(&mut self, v: &[u64]) {
        self.u64(v.len() as u64);
        self.raw(bytemuck::cast_slice(v));
    }
    fn ascending(&mut self, a: &Ascending) {
        let (low, high, steps) = a.parts();
        self.u32s(low);
        self.u64(high);
        self.u64s(&steps.iter().map(|&(at, _)| at as u64).collect::<Vec<_>>());
        self.u64s(&steps.iter().map(|&(_, h)| h).collect::<Vec<_>>());
    }
    fn sizes(&mut self, s: &ObjectSizes) {
        let (codes, table, apart) = s.parts();
        self.bytes(codes);
        self.u64s(table);
        self.u32s(&apart.iter().map(|&(id, _)| id).collect::<Vec<_>>());
        self.u64s(&apart.iter().map(|&(_, size)| size).collect::<Vec<_>>());
    }
    fn compact(&mut self, c: &CompactU64s) {
        let (low, wide) = c.parts();
        self.u32s(low);
        self.u32s(&wide.iter().map(|&(i, _)| i).collect::<Vec<_>>());
        self.u32s(&wide.iter().map(|&(_, h)| h).collect::<Vec<_>>());
    }
}

/// Reads from a stream of `left` bytes; every length is checked against
/// what is left before it sizes an allocation.
struct Reader<R: Read> {
    input: R,
    left: u64,
}

impl<R: Read> Reader<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Option<()> {
        self.left = self.left.checked_sub(buf.len() as u64)?;
        self.input.read_exact(buf).ok()
    }
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }
    /// A count of elements of at least `min_size` bytes each.
    fn len(&mut self, min_size: u64) -> Option<usize> {
        let n = self.u64()?;
        if n.checked_mul(min_size)? > self.left {
            return None;
        }
        usize::try_from(n).ok()
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let mut v = vec![0u8; self.len(1)?];
        self.fill(&mut v)?;
        Some(v)
    }
    fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn strs(&mut self) -> Option<Vec<String>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.str()).collect()
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let mut v = vec![0u32; self.len(4)?];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Some(v)
    }
    fn u64s(&mut self) -> Option<Vec<u64>> {
        let mut v = vec![0u64; self.len(8)?];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Some(v)
    }
    fn ascending(&mut self) -> Option<Ascending> {
        let (low, high, at, highs) = (self.u32s()?, self.u64()?, self.u64s()?, self.u64s()?);
        if at.len() != highs.len() {
            return None;
        }
        let steps = at
            .iter()
            .zip(highs)
            .map(|(&at, h)| Some((usize::try_from(at).ok()?, h)))
            .collect::<Option<Vec<_>>>()?;
        Ascending::from_parts(low, high, steps).ok()
    }
    fn sizes(&mut self) -> Option<ObjectSizes> {
        let (codes, table, ids, sizes) = (self.bytes()?, self.u64s()?, self.u32s()?, self.u64s()?);
        if ids.len() != sizes.len() {
            return None;
        }
        ObjectSizes::from_parts(codes, table, ids.into_iter().zip(sizes).collect()).ok()
    }
    fn compact(&mut self) -> Option<CompactU64s> {
        let (low, at, highs) = (self.u32s()?, self.u32s()?, self.u32s()?);
        if at.len() != highs.len() {
            return None;
        }
        let wide: Vec<(u32, u32)> = at.into_iter().zip(highs).collect();
        CompactU64s::from_parts(low, &wide)
    }
}
