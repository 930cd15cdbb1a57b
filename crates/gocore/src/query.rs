//! Questions about the analysed heap, answered from a [`HeapModel`] and the
//! core's memory: the shortest paths from roots to an object, the chain of
//! objects that dominate it, who refers to it, and retained totals by root,
//! type and package.
//!
//! Edges carry no field names; each step a query prints is named here by
//! reading the referring object and asking [`Describer`] what lives at the
//! offset of the pointer.

use std::collections::HashMap;

use gograph::{shortest_paths_to, Adjacency, KeyGroups, KeyTotals, NodeKey, NONE};
use gotypes::Memory;

use crate::describe::Describer;
use crate::graph::RootNode;
use crate::heap::ObjId;
use crate::model::HeapModel;
use crate::process::Core;
use crate::roots::RootKind;
use crate::typing::TypeRef;
use crate::Addr;

/// A node of the graph: a heap object or a named root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'m> {
    Object(ObjId),
    Root(&'m RootNode),
    /// The super-root above every root.
    All,
}

/// One step of a path: the object reached and the field of the previous
/// node (object or root) that points to it.
#[derive(Debug, Clone)]
pub struct Step {
    pub object: ObjId,
    pub field: String,
    /// The reference is weak (a weak handle): it does not keep the object.
    pub weak: bool,
}

/// A path from a root to an object.
#[derive(Debug, Clone)]
pub struct RootPath {
    /// The root's node id.
    pub root: u32,
    pub steps: Vec<Step>,
}

/// What one node retains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedEntry {
    pub node: u32,
    pub bytes: u64,
    pub objects: u64,
}

/// Retained totals of every type, or every package (see
/// [`HeapModel::retained_by_type`]).
#[derive(Debug, Clone)]
pub struct GroupTotals {
    pub name: String,
    /// Live objects in the group.
    pub count: u64,
    /// Their own bytes.
    pub bytes: u64,
    /// What they retain together, nested members counted once.
    pub retained: KeyTotals,
}

impl HeapModel {
    pub fn node(&self, v: u32) -> Node<'_> {
        let g = &self.graph;
        if v < g.n_objects {
            Node::Object(ObjId(v))
        } else {
            match g.root_nodes.get((v - g.n_objects) as usize) {
                Some(r) => Node::Root(r),
                None => Node::All,
            }
        }
    }

    pub fn root_name(&self, r: &RootNode) -> &str {
        &self.graph.names[r.name as usize]
    }

    pub fn root_function(&self, r: &RootNode) -> Option<&str> {
        r.function.map(|f| self.graph.names[f as usize].as_str())
    }

    fn is_root_node(&self, v: u32) -> bool {
        v >= self.graph.n_objects && (v - self.graph.n_objects) < self.graph.root_nodes.len() as u32
    }

    pub fn retained_bytes(&self, v: u32) -> u64 {
        self.graph.retained.bytes.get(v as usize)
    }

    pub fn retained_objects(&self, v: u32) -> u64 {
        u64::from(self.graph.retained.objects[v as usize])
    }

    /// Live bytes in the heap (what the super-root retains).
    pub fn live_bytes(&self) -> u64 {
        self.graph.retained.bytes.last().unwrap_or(0)
    }

    /// Every root node with what it retains, largest first. Goroutine nodes
    /// are left out unless `goroutines`; stack variables are listed.
    pub fn retained_by_root(&self, goroutines: bool) -> Vec<RetainedEntry> {
        let n0 = self.graph.n_objects;
        let mut v: Vec<RetainedEntry> = self
            .graph
            .root_nodes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_goroutine == goroutines)
            .map(|(i, _)| {
                let node = n0 + i as u32;
                RetainedEntry {
                    node,
                    bytes: self.retained_bytes(node),
                    objects: self.retained_objects(node),
                }
            })
            .collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.node.cmp(&b.node)));
        v
    }

    /// Retained by all live objects of each type, nested ones counted once
    /// (as Eclipse MAT's "retained heap by class"). Backing arrays group as
    /// `[…]T`.
    pub fn retained_by_type(&self) -> Vec<GroupTotals> {
        self.retained_by(false).0
    }

    /// Retained by all live objects of each package's types, nested ones
    /// counted once. Untyped objects are left out.
    pub fn retained_by_package(&self) -> Vec<GroupTotals> {
        self.retained_by(true).1
    }

    /// [`HeapModel::retained_by_type`] and
    /// [`HeapModel::retained_by_package`] from one walk of the dominator
    /// tree.
    pub fn retained_by_type_and_package(&self) -> (Vec<GroupTotals>, Vec<GroupTotals>) {
        self.retained_by(true)
    }

    /// Live objects grouped by type name, with what each group retains,
    /// and (with `packages`) those groups grouped by package; each list
    /// largest first. One key per node (its type group) serves both.
    fn retained_by(&self, packages: bool) -> (Vec<GroupTotals>, Vec<GroupTotals>) {
        let g = &self.graph;
        let (keys, types, first_type) = self.type_group_keys();
        let mut groupings = vec![KeyGroups {
            of_key: None,
            n_groups: types.len(),
        }];
        // The package of each type group (none for untyped objects).
        let mut package_groups: Vec<GroupTotals> = Vec::new();
        let mut package_of_type: Vec<u32> = Vec::new();
        if packages {
            let mut index = HashMap::new();
            for (group, &t) in types.iter().zip(&first_type) {
                let p = match t {
                    0 => NONE,
                    t => *index
                        .entry(package_of(&self.type_names[t as usize]))
                        .or_insert_with_key(|&name| {
                            package_groups.push(new_group(name.to_string()));
                            package_groups.len() as u32 - 1
                        }),
                };
                if let Some(pg) = package_groups.get_mut(p as usize) {
                    pg.count += group.count;
                    pg.bytes += group.bytes;
                }
                package_of_type.push(p);
            }
            groupings.push(KeyGroups {
                of_key: Some(&package_of_type),
                n_groups: package_groups.len(),
            });
        }
        let mut totals = match keys {
            GroupKeys::Narrow(keys) => g.tree().retained_by_keys(&g.retained, &keys, &groupings),
            GroupKeys::Wide(keys) => g.tree().retained_by_keys(&g.retained, &keys, &groupings),
        };
        let package_totals = if packages { totals.pop() } else { None };
        (
            ranked(types, totals.pop()),
            ranked(package_groups, package_totals),
        )
    }

    /// Each live object's type group (index into the groups; the name of
    /// its type, `[…]T` for a backing array, or what is known of an
    /// untyped one), the groups with their counts and own bytes, and a
    /// type index of each group's objects (0 for untyped).
    fn type_group_keys(&self) -> (GroupKeys, Vec<GroupTotals>, Vec<u32>) {
        if let Some((keys, groups, first_type)) = self.type_group_keys_as::<u16>() {
            return (GroupKeys::Narrow(keys), groups, first_type);
        }
        match self.type_group_keys_as::<u32>() {
            Some((keys, groups, first_type)) => (GroupKeys::Wide(keys), groups, first_type),
            // Unreachable: there are fewer groups than nodes, and node ids
            // are below NONE.
            None => (GroupKeys::Wide(Vec::new()), Vec::new(), Vec::new()),
        }
    }

    /// [`HeapModel::type_group_keys`] with keys of type `K`, or `None` if
    /// there are more groups than `K` holds.
    fn type_group_keys_as<K: NodeKey>(&self) -> Option<(Vec<K>, Vec<GroupTotals>, Vec<u32>)> {
        let g = &self.graph;
        let nodes = g.idom.len();
        let mut keys = vec![K::NONE; nodes];
        let mut index = HashMap::new();
        let mut groups: Vec<GroupTotals> = Vec::new();
        let mut first_type: Vec<u32> = Vec::new();
        // Memoise per (type index, array?) so names are built once per type;
        // a flat table indexed by `2 * type + array`, as every live object
        // looks it up.
        let mut memo: Vec<Option<u32>> = vec![None; self.types.len() * 2];
        for i in 0..g.n_objects {
            let id = ObjId(i);
            if !self.is_live(id) || g.idom[i as usize] == NONE {
                continue;
            }
            let o = self.objects.types[i as usize];
            let memo_key = 2 * o.ty as usize + usize::from(o.count > 0);
            let memoised = if o.ty == 0 {
                None
            } else {
                memo.get(memo_key).copied().flatten()
            };
            let key = match memoised {
                Some(key) => key,
                None => {
                    let name = if o.ty == 0 {
                        // Unknown types are named by size: no memo.
                        self.display_name(id)
                    } else if o.count > 0 {
                        format!("[…]{}", self.type_names[o.ty as usize])
                    } else {
                        self.type_names[o.ty as usize].clone()
                    };
                    let key = *index.entry(name).or_insert_with_key(|name| {
                        groups.push(new_group(name.clone()));
                        first_type.push(o.ty);
                        groups.len() as u32 - 1
                    });
                    if o.ty != 0 {
                        if let Some(m) = memo.get_mut(memo_key) {
                            *m = Some(key);
                        }
                    }
                    key
                }
            };
            keys[i as usize] = K::from_index(key)?;
            let gr = &mut groups[key as usize];
            gr.count += 1;
            gr.bytes += self.size(id);
        }
        Some((keys, groups, first_type))
    }

    /// The objects that dominate `id`, nearest first, ending at the root node
    /// that dominates them all (or the super-root when no single root does).
    pub fn dominator_chain(&self, id: ObjId) -> Vec<u32> {
        let idom = &self.graph.idom;
        let mut chain = Vec::new();
        let mut v = id.0;
        while let Some(&d) = idom.get(v as usize) {
            if d == NONE || d == v {
                break;
            }
            chain.push(d);
            v = d;
        }
        chain
    }

    /// Nodes that refer to `id` (objects and roots), strong references first,
    /// then weak handles.
    pub fn referrers(&self, id: ObjId) -> Vec<(u32, bool)> {
        let g = &self.graph;
        let mut v: Vec<(u32, bool)> = g
            .pred()
            .successors(id.0)
            .iter()
            .map(|&p| (p, false))
            .collect();
        v.sort_unstable();
        v.dedup();
        v.extend(g.weak_pred.successors(id.0).iter().map(|&p| (p, true)));
        v
    }
}

/// `groups` with their retained totals, largest first (by name among
/// equals).
fn ranked(mut groups: Vec<GroupTotals>, totals: Option<Vec<KeyTotals>>) -> Vec<GroupTotals> {
    for (gr, t) in groups.iter_mut().zip(totals.unwrap_or_default()) {
        gr.retained = t;
    }
    groups.sort_by(|a, b| {
        b.retained
            .bytes
            .cmp(&a.retained.bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    groups
}

/// Each node's type group: `u16` where the groups fit (half the memory of
/// `u32`, which a heap with 65,535 or more distinct type names needs).
enum GroupKeys {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

fn new_group(name: String) -> GroupTotals {
    GroupTotals {
        name,
        count: 0,
        bytes: 0,
        retained: KeyTotals::default(),
    }
}

/// The package of a type's name: that of the first qualified name in it
/// (`*main.Session` → `main`, `map[string]*http.Request` → `http`);
/// `(builtin)` for types made only of predeclared ones (`[]uint8`, `string`).
pub fn package_of(type_name: &str) -> &str {
    let bytes = type_name.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                // Keywords are never packages: `map.group[K]V`, `func()`.
                let word = &type_name[s..i];
                if b == b'.' && !matches!(word, "map" | "chan" | "func" | "struct" | "interface") {
                    return word;
                }
                start = None;
            }
            _ => {}
        }
    }
    "(builtin)"
}

/// Names path steps: which field of a referrer points to an object.
pub struct StepNamer<'a> {
    pub model: &'a HeapModel,
    pub core: &'a Core,
    pub describer: &'a Describer<'a>,
}

/// Largest object scanned word by word to find the pointer a step follows.
const MAX_SCAN: u64 = 64 << 20;

impl StepNamer<'_> {
    fn mem(&self) -> &dyn Memory {
        self.core.mem()
    }

    /// The field of node `from` that refers to object `to`.
    pub fn field(&self, from: u32, to: ObjId) -> String {
        let m = self.model;
        match m.node(from) {
            Node::Object(src) => self.object_field(src, to),
            Node::Root(r) => self.root_field(from, r, to),
            Node::All => String::new(),
        }
    }

    /// Find the first word of `src` pointing into `to` and name its field.
    fn object_field(&self, src: ObjId, to: ObjId) -> String {
        let m = self.model;
        let start = m.user_addr(src);
        let end = m.end(src).0.min(start.0.saturating_add(MAX_SCAN));
        let (lo, hi) = (m.slot(to).0, m.end(to).0);
        let Some(bytes) = self.mem().slice(start, end.saturating_sub(start.0)) else {
            return String::new();
        };
        let Some(offset) = bytes
            .chunks_exact(8)
            .position(|w| {
                let p = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
                p >= lo && p < hi
            })
            .map(|k| k as u64 * 8)
        else {
            return String::new();
        };
        self.field_at(src, offset)
    }

    /// Where in a global variable the reference is (`.byID`), when the root
    /// is a global with a DWARF type; empty otherwise.
    fn root_field(&self, node: u32, r: &RootNode, to: ObjId) -> String {
        if !matches!(r.kind, RootKind::Global | RootKind::Runtime) {
            return String::new();
        }
        let Some(slot) = self
            .model
            .graph
            .root_slots
            .iter()
            .find(|s| s.node == node && s.object == to && !s.slot.is_null())
        else {
            return String::new();
        };
        self.global_slot_field(slot.slot).unwrap_or_default()
    }

    /// Every word of object `src` that points into another object, in
    /// address order: (byte offset from [`HeapModel::user_addr`], the
    /// object it points into). One pass over the object (the first
    /// [`MAX_SCAN`] bytes), so naming many edges of one referrer costs one
    /// scan; [`StepNamer::field_at`] names an offset.
    pub fn pointer_offsets(&self, src: ObjId) -> Vec<(u64, ObjId)> {
        let m = self.model;
        let Some((lo, hi)) = m.objects.slot.try_get(0).zip(m.objects.slot.last()) else {
            return Vec::new();
        };
        let hi = hi.saturating_add(m.size(ObjId(m.object_count() as u32 - 1)));
        let start = m.user_addr(src);
        let end = m.end(src).0.min(start.0.saturating_add(MAX_SCAN));
        let Some(bytes) = self.mem().slice(start, end.saturating_sub(start.0)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, w) in bytes.chunks_exact(8).enumerate() {
            let p = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            if p < lo || p >= hi {
                continue;
            }
            if let Some(t) = m.find_object(Addr(p)) {
                if t != src {
                    out.push((k as u64 * 8, t));
                }
            }
        }
        out
    }

    /// The name of the word at byte `offset` of object `src` (from
    /// [`HeapModel::user_addr`]), as [`StepNamer::field`] names it: `.byID`,
    /// `[3]`, `map[7] value`, or `+0x18` in an untyped object.
    pub fn field_at(&self, src: ObjId, offset: u64) -> String {
        let m = self.model;
        match m.type_of(src) {
            Some(t) => self
                .describer
                .field_path(t, m.array_count(src), m.user_addr(src), offset),
            None => format!("+{offset:#x}"),
        }
    }

    /// The names of the references from global (and runtime) root nodes,
    /// by (root node, object), as [`StepNamer::field`] gives them, for every
    /// such reference at once (one pass over the roots' slots). References
    /// without a name (stack variables, a variable that is itself the
    /// pointer) are absent.
    pub fn root_field_names(&self) -> std::collections::HashMap<(u32, ObjId), String> {
        let g = &self.model.graph;
        let mut names = std::collections::HashMap::new();
        for s in &g.root_slots {
            let Node::Root(r) = self.model.node(s.node) else {
                continue;
            };
            if !matches!(r.kind, RootKind::Global | RootKind::Runtime)
                || s.slot.is_null()
                || names.contains_key(&(s.node, s.object))
            {
                continue;
            }
            // The first non-null slot of a (node, object) pair, as
            // `root_field` picks it.
            if let Some(name) = self.global_slot_field(s.slot) {
                names.insert((s.node, s.object), name);
            }
        }
        names
    }

    /// The field path of the pointer stored at `slot` inside the DWARF-typed
    /// global variable containing it.
    fn global_slot_field(&self, slot: Addr) -> Option<String> {
        let bias = self.core.loaded.bias;
        let g = self
            .core
            .dwarf
            .global_containing(slot.0.wrapping_sub(bias))?;
        let ty = g.ty?;
        let var = Addr(g.addr.wrapping_add(bias));
        let path = self
            .describer
            .field_path(TypeRef::Dw(ty), 0, var, slot.0 - var.0);
        (!path.is_empty()).then_some(path)
    }

    /// The shortest paths to `target` from the `max` nearest distinct roots,
    /// optionally through weak references.
    pub fn paths_to_root(&self, target: ObjId, max: usize, include_weak: bool) -> Vec<RootPath> {
        let m = self.model;
        let g = &m.graph;
        let extra = include_weak.then_some(&g.weak_pred as &dyn Adjacency);
        let paths = shortest_paths_to(g.pred(), target.0, |v| m.is_root_node(v), max, extra);
        paths
            .into_iter()
            .filter_map(|p| {
                let (&root, rest) = p.nodes.split_first()?;
                let mut prev = root;
                let steps = rest
                    .iter()
                    .zip(&p.via_extra)
                    .map(|(&v, &weak)| {
                        let object = ObjId(v);
                        let field = if weak {
                            "weak pointer".to_string()
                        } else {
                            self.field(prev, object)
                        };
                        prev = v;
                        Step {
                            object,
                            field,
                            weak,
                        }
                    })
                    .collect();
                Some(RootPath { root, steps })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::package_of;

    #[test]
    fn packages_of_type_names() {
        assert_eq!(package_of("main.Session"), "main");
        assert_eq!(package_of("*main.Session"), "main");
        assert_eq!(package_of("map[string]*http.Request"), "http");
        assert_eq!(package_of("map.group[int]*main.Session"), "main");
        assert_eq!(package_of("[]uint8"), "(builtin)");
        assert_eq!(package_of("func() int"), "(builtin)");
        assert_eq!(package_of("closure main.build.func1"), "main");
    }
}
