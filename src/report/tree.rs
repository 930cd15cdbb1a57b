//! The retention tree that `gorefs pprof`, `gorefs flamegraph` and the HTML
//! report draw: every live object placed below the root that keeps it alive,
//! with objects that play the same part merged into one frame.
//!
//! Each graph node hangs below a parent node of a spanning tree of the
//! reference graph ([`TreeMode`]):
//!
//! * `dominators`: the dominator tree. A frame is a root (`main.registry`;
//!   a goroutine `goroutine 17`, then its variable `main.worker local`) or
//!   an object's type (`main.Session`; backing arrays as `[…]T`, like
//!   `retained --by type`). Objects no single root dominates hang below one
//!   `(several roots)` frame. An object's stack is its dominator chain, so
//!   what sits below a frame is exactly what its objects retain.
//! * `paths`: the breadth-first (shortest-path) tree from the roots, like
//!   goref but without a depth cut. A frame is a root, or the field that
//!   first reaches an object followed by its type (`.byID
//!   map[int]*main.Session`, `map value main.Session`, `[…] main.Leaf`).
//!   Field names come from [`StepNamer`] with indices and map keys dropped
//!   (`[42]` → `[…]`, `map["k"] value` → `map value`, `+0x18` → `+…`) so
//!   siblings merge; each referring object is scanned once and names are
//!   cached by (referrer type, offset), so the cost is linear in the heap.
//!
//! Children of a frame with the same label are one frame. Recursive data
//! (lists, trees, cycles of types) would give stacks as deep as the data: an
//! object whose label already appears on its frame's stack is merged into
//! that ancestor frame instead. So no stack repeats a label, stacks are at
//! most as deep as the number of distinct labels, and the frames between
//! the two occurrences leave out what was folded up (the ancestor's total
//! still counts it).
//!
//! Per frame: the objects placed there (`objects`, `bytes`), their totals
//! with everything below (`total_*`; in dominator mode, without recursion,
//! `total_bytes` is the frame's retained size), and `retained`: what the
//! frame's objects retain together, from the dominator tree with nested
//! objects of the same frame counted once, in both modes.

use std::collections::HashMap;

use gocore::heap::ObjId;
use gocore::model::{HeapModel, FLAG_NOSCAN};
use gocore::query::{package_of, Node, StepNamer};
use gocore::typing::ObjType;
use gograph::{bfs_tree, NONE};

use super::view::View;
use crate::cli::TreeMode;

/// The top frame (the whole live heap); it has no label.
pub const ALL: u32 = 0;

/// What a frame stands for, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// A GC root: a global, a goroutine, a stack variable, a finalizer, ...
    Root,
    /// Objects of a type (reached through a field in paths mode).
    Object,
    /// `(several roots)`: objects no single root keeps alive.
    Shared,
}

/// A frame's text and what it is.
#[derive(Debug, Clone)]
pub struct Label {
    pub text: String,
    pub kind: LabelKind,
    /// The package of an object frame's type (`main`, `(builtin)`), else
    /// empty.
    pub package: String,
}

/// A node of the retention tree.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// The parent frame; [`NONE`] for [`ALL`]. Always a lower index.
    pub parent: u32,
    /// Index into [`RetentionTree::labels`]; [`NONE`] for [`ALL`].
    pub label: u32,
    /// Objects placed at this frame and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// With everything below.
    pub total_objects: u64,
    pub total_bytes: u64,
    /// Bytes the frame's objects retain together (dominator tree, nested
    /// ones counted once).
    pub retained: u64,
}

/// Live objects aggregated by what keeps them alive; see the module doc.
pub struct RetentionTree {
    pub mode: TreeMode,
    pub labels: Vec<Label>,
    /// [`ALL`] first; a frame's parent comes before it.
    pub frames: Vec<Frame>,
}

/// What an object's type name depends on: (type index, 1 for a backing
/// array, 0, 0) when typed; (0, pointer words, size, noscan flag) when not.
type TypeKey = (u32, u32, u64, u8);

/// The frames and how labels map below each: [`Frames::child`].
struct Frames {
    frames: Vec<Frame>,
    /// (parent frame, label) → the frame a node with that label goes to.
    children: HashMap<(u32, u32), u32>,
}

impl Frames {
    /// Just [`ALL`].
    fn new() -> Frames {
        Frames {
            frames: vec![Frame {
                parent: NONE,
                label: NONE,
                ..Frame::default()
            }],
            children: HashMap::new(),
        }
    }

    /// The frame below `parent` for `label`: a child, or the nearest
    /// ancestor with the same label (recursion folding). Each (parent,
    /// label) is resolved once; walking up costs at most the depth, which
    /// folding bounds by the number of distinct labels.
    fn child(&mut self, parent: u32, label: u32) -> u32 {
        if let Some(&f) = self.children.get(&(parent, label)) {
            return f;
        }
        let mut a = parent;
        while a != NONE && self.frames[a as usize].label != label {
            a = self.frames[a as usize].parent;
        }
        let f = if a != NONE {
            a
        } else {
            self.frames.push(Frame {
                parent,
                label,
                ..Frame::default()
            });
            (self.frames.len() - 1) as u32
        };
        self.children.insert((parent, label), f);
        f
    }
}

struct Builder<'a> {
    m: &'a HeapModel,
    mode: TreeMode,
    labels: Vec<Label>,
    label_ids: HashMap<String, u32>,
    frames: Frames,
    /// Type names, interned apart from labels.
    type_names: Vec<String>,
    type_ids: HashMap<TypeKey, u32>,
    /// Generic field names by (referrer type index, array length, offset).
    fields: HashMap<(u32, u32, u64), u32>,
    field_names: Vec<String>,
    field_ids: HashMap<String, u32>,
    /// (field, type) → label, in paths mode.
    step_labels: HashMap<(u32, u32), u32>,
    /// Labels of object frames in dominator mode, by type id.
    type_labels: HashMap<u32, u32>,
    root_fields: HashMap<(u32, ObjId), String>,
    shared: Option<u32>,
}

impl RetentionTree {
    /// Aggregate the live heap of `v`'s model; linear in the graph.
    pub fn build(v: &View<'_>, mode: TreeMode) -> RetentionTree {
        v.with_namer(|namer| build(v, namer, mode))
    }

    /// The whole live heap.
    /// The frames of `a` and `b` matched by their label stacks, for a
    /// differential flame graph: a tree with every frame of either (totals
    /// the larger of the two, so both growth and shrinkage have width) and,
    /// per frame, the total bytes in `a` and in `b`.
    pub fn merge(a: &RetentionTree, b: &RetentionTree) -> (RetentionTree, Vec<(u64, u64)>) {
        let mut labels: Vec<Label> = Vec::new();
        let mut label_ids: HashMap<String, u32> = HashMap::new();
        let mut frames = Frames::new();
        let mut totals = vec![(0u64, 0u64)];
        for (side, t) in [a, b].into_iter().enumerate() {
            // Frames come after their parents: map each to its merged frame.
            let mut merged = vec![ALL; t.frames.len()];
            for (i, fr) in t.frames.iter().enumerate().skip(1) {
                let l = &t.labels[fr.label as usize];
                let label = *label_ids.entry(l.text.clone()).or_insert_with(|| {
                    labels.push(l.clone());
                    (labels.len() - 1) as u32
                });
                let f = frames.child(merged[fr.parent as usize], label);
                merged[i] = f;
                totals.resize(frames.frames.len(), (0, 0));
                let slot = &mut totals[f as usize];
                if merged[fr.parent as usize] == f {
                    continue; // folded into an ancestor: already counted there
                }
                if side == 0 {
                    slot.0 += fr.total_bytes;
                } else {
                    slot.1 += fr.total_bytes;
                }
            }
            let all = &mut totals[ALL as usize];
            if side == 0 {
                all.0 = t.live_bytes();
            } else {
                all.1 = t.live_bytes();
            }
        }
        let mut out = frames.frames;
        for (f, &(x, y)) in out.iter_mut().zip(&totals) {
            f.total_bytes = x.max(y);
        }
        let tree = RetentionTree {
            mode: b.mode,
            labels,
            frames: out,
        };
        (tree, totals)
    }

    pub fn live_bytes(&self) -> u64 {
        self.frames[ALL as usize].total_bytes
    }

    pub fn live_objects(&self) -> u64 {
        self.frames[ALL as usize].total_objects
    }

    /// The labels from `f` up to (not including) [`ALL`]: leaf first, the
    /// root last.
    pub fn stack(&self, f: u32) -> Vec<u32> {
        let mut labels = Vec::new();
        let mut f = f;
        while f != ALL && f != NONE {
            let frame = &self.frames[f as usize];
            labels.push(frame.label);
            f = frame.parent;
        }
        labels
    }

    /// Children of each frame, largest total first (then by label).
    pub fn children(&self) -> Vec<Vec<u32>> {
        let mut kids = vec![Vec::new(); self.frames.len()];
        for (i, f) in self.frames.iter().enumerate().skip(1) {
            kids[f.parent as usize].push(i as u32);
        }
        for k in &mut kids {
            k.sort_by(|&a, &b| {
                let (fa, fb) = (&self.frames[a as usize], &self.frames[b as usize]);
                fb.total_bytes
                    .cmp(&fa.total_bytes)
                    .then_with(|| self.label(a).cmp(self.label(b)))
            });
        }
        kids
    }

    /// The text of frame `f` (`all` for [`ALL`]).
    pub fn label(&self, f: u32) -> &str {
        match self.frames[f as usize].label {
            NONE => "all",
            l => &self.labels[l as usize].text,
        }
    }
}

fn build(v: &View<'_>, namer: &StepNamer<'_>, mode: TreeMode) -> RetentionTree {
    let m = v.model;
    let g = &m.graph;
    let n = g.idom.len();
    let super_root = (n - 1) as u32;
    let bfs;
    let tree = match mode {
        TreeMode::Dominators => g.tree(),
        TreeMode::Paths => {
            bfs = bfs_tree(&g.succ, super_root);
            &bfs
        }
    };
    let mut b = Builder {
        m,
        mode,
        labels: Vec::new(),
        label_ids: HashMap::new(),
        frames: Frames::new(),
        type_names: Vec::new(),
        type_ids: HashMap::new(),
        fields: HashMap::new(),
        field_names: Vec::new(),
        field_ids: HashMap::new(),
        step_labels: HashMap::new(),
        type_labels: HashMap::new(),
        root_fields: if mode == TreeMode::Paths {
            namer.root_field_names()
        } else {
            HashMap::new()
        },
        shared: None,
    };
    // frame_of[v]: the frame graph node v went to (NONE: not in the tree).
    let mut frame_of = vec![NONE; n];
    frame_of[super_root as usize] = ALL;
    let mut offsets = Vec::new();
    let mut kids = Vec::new();
    // Parents before children, each node's children ascending.
    for (at, &p) in tree.preorder().iter().enumerate() {
        kids.clear();
        kids.extend(tree.children(at).map(|c| tree.preorder()[c]));
        if kids.is_empty() {
            continue;
        }
        kids.sort_unstable();
        // In paths mode, the offset of the first pointer of p to each child.
        offsets.clear();
        if let (TreeMode::Paths, Node::Object(src)) = (mode, m.node(p)) {
            offsets.resize(kids.len(), u64::MAX);
            for (off, t) in namer.pointer_offsets(src) {
                if let Ok(i) = kids.binary_search(&t.0) {
                    if offsets[i] == u64::MAX {
                        offsets[i] = off;
                    }
                }
            }
        }
        let parent_frame = frame_of[p as usize];
        for (i, &c) in kids.iter().enumerate() {
            let (label, parent_frame) = match m.node(c) {
                Node::Root(r) => {
                    let text = match (r.is_goroutine, m.root_function(r)) {
                        (false, Some(f)) => format!("{f} {}", m.root_name(r)),
                        _ => v.root(r).label(),
                    };
                    (b.label(text, LabelKind::Root, String::new()), parent_frame)
                }
                Node::Object(id) => {
                    let label = match mode {
                        TreeMode::Dominators => b.type_label(id),
                        TreeMode::Paths => {
                            let field = match (m.node(p), offsets.get(i)) {
                                (Node::Object(src), Some(&off)) if off != u64::MAX => {
                                    b.field(namer, src, off)
                                }
                                (Node::Root(_), _) => {
                                    let name = b.root_fields.get(&(p, id)).cloned();
                                    b.intern_field(&generic_field(name.as_deref().unwrap_or("")))
                                }
                                _ => b.intern_field(""),
                            };
                            b.step_label(field, id)
                        }
                    };
                    let parent_frame = if p == super_root {
                        b.shared_frame()
                    } else {
                        parent_frame
                    };
                    (label, parent_frame)
                }
                Node::All => continue,
            };
            let f = b.frames.child(parent_frame, label);
            frame_of[c as usize] = f;
            if let Node::Object(id) = m.node(c) {
                let fr = &mut b.frames.frames[f as usize];
                fr.objects += 1;
                fr.bytes += m.size(id);
            }
        }
    }
    let mut frames = b.frames.frames;
    // What each frame's objects retain together.
    let totals = g
        .tree()
        .retained_by_key(&g.retained, &frame_of, frames.len());
    for (fr, t) in frames.iter_mut().zip(&totals) {
        fr.retained = t.bytes;
    }
    add_totals(&mut frames);
    // Objects below `(several roots)` are dominated by nothing else: their
    // dominator subtrees are disjoint and sit entirely below it.
    if let Some(s) = b.shared {
        let fr = &mut frames[s as usize];
        fr.retained = fr.total_bytes;
    }
    RetentionTree {
        mode: b.mode,
        labels: b.labels,
        frames,
    }
}

/// Fill in `total_*` bottom-up: children always come after their parent.
fn add_totals(frames: &mut [Frame]) {
    for i in (0..frames.len()).rev() {
        let fr = &mut frames[i];
        fr.total_bytes += fr.bytes;
        fr.total_objects += fr.objects;
        let (parent, bytes, objects) = (fr.parent, fr.total_bytes, fr.total_objects);
        if parent != NONE {
            let p = &mut frames[parent as usize];
            p.total_bytes += bytes;
            p.total_objects += objects;
        }
    }
}

impl Builder<'_> {
    fn label(&mut self, text: String, kind: LabelKind, package: String) -> u32 {
        if let Some(&id) = self.label_ids.get(&text) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.label_ids.insert(text.clone(), id);
        self.labels.push(Label {
            text,
            kind,
            package,
        });
        id
    }

    fn shared_frame(&mut self) -> u32 {
        if let Some(s) = self.shared {
            return s;
        }
        let l = self.label("(several roots)".into(), LabelKind::Shared, String::new());
        let s = self.frames.child(ALL, l);
        self.shared = Some(s);
        s
    }

    /// The interned type name of an object: `main.Session`, `[…]*main.Item`
    /// for backing arrays, `unknown 96 B, 3 ptrs`.
    fn type_id(&mut self, id: ObjId) -> u32 {
        let m = self.m;
        let i = id.index();
        let ObjType { ty: t, count } = m.objects.types[i];
        let key: TypeKey = if t == 0 {
            // Unknown types are named by size, pointer words and noscan.
            (0, count, m.size(id), m.objects.flags[i] & FLAG_NOSCAN)
        } else {
            (t, u32::from(count > 0), 0, 0)
        };
        if let Some(&n) = self.type_ids.get(&key) {
            return n;
        }
        let name = if t == 0 {
            m.display_name(id)
        } else if count > 0 {
            format!("[…]{}", m.type_names[t as usize])
        } else {
            m.type_names[t as usize].clone()
        };
        let n = self.type_names.len() as u32;
        self.type_names.push(name);
        self.type_ids.insert(key, n);
        n
    }

    fn type_label(&mut self, id: ObjId) -> u32 {
        let t = self.type_id(id);
        if let Some(&l) = self.type_labels.get(&t) {
            return l;
        }
        let name = self.type_names[t as usize].clone();
        let package = package_of(&name).to_string();
        let l = self.label(name, LabelKind::Object, package);
        self.type_labels.insert(t, l);
        l
    }

    fn intern_field(&mut self, name: &str) -> u32 {
        if let Some(&f) = self.field_ids.get(name) {
            return f;
        }
        let f = self.field_names.len() as u32;
        self.field_names.push(name.to_string());
        self.field_ids.insert(name.to_string(), f);
        f
    }

    /// The generic name of the pointer at `offset` of `src`, named once per
    /// (type, array length, offset).
    fn field(&mut self, namer: &StepNamer<'_>, src: ObjId, offset: u64) -> u32 {
        let i = src.index();
        let key = (
            self.m.objects.types[i].ty,
            self.m.objects.types[i].count,
            offset,
        );
        if let Some(&f) = self.fields.get(&key) {
            return f;
        }
        let f = self.intern_field(&generic_field(&namer.field_at(src, offset)));
        self.fields.insert(key, f);
        f
    }

    /// `field type`, or the type alone for an unnamed step.
    fn step_label(&mut self, field: u32, id: ObjId) -> u32 {
        let t = self.type_id(id);
        if let Some(&l) = self.step_labels.get(&(field, t)) {
            return l;
        }
        let ty = &self.type_names[t as usize];
        let package = package_of(ty).to_string();
        let f = &self.field_names[field as usize];
        let text = if f.is_empty() {
            ty.clone()
        } else {
            format!("{f} {ty}")
        };
        let l = self.label(text, LabelKind::Object, package);
        self.step_labels.insert((field, t), l);
        l
    }
}

/// A field path with what differs between siblings dropped: array indices
/// (`[42]` → `[…]`), map keys (`map["k"] value` → `map value`) and offsets
/// (`+0x18` → `+…`).
pub fn generic_field(name: &str) -> String {
    let mut rest = name;
    let mut out = String::with_capacity(name.len());
    if let Some(after) = rest.strip_prefix("map[") {
        if let Some(end) = map_key_end(after) {
            out.push_str("map");
            rest = &after[end + 1..];
        }
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'[' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 && bytes.get(i + 1 + digits) == Some(&b']') {
                out.push_str("[…]");
                i += digits + 2;
                continue;
            }
        } else if c == b'+' && rest[i..].starts_with("+0x") {
            let hex = bytes[i + 3..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if hex > 0 {
                out.push_str("+…");
                i += hex + 3;
                continue;
            }
        }
        // Copy one UTF-8 character.
        let len = rest[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[i..i + len]);
        i += len;
    }
    out
}

/// The index of the `]` closing a map key printed by `describe.rs`: a Go
/// quoted string (which may hold `]`) or a plain word.
fn map_key_end(s: &str) -> Option<usize> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    let end = 1 + i + 1;
                    return (s.as_bytes().get(end) == Some(&b']')).then_some(end);
                }
                _ => {}
            }
        }
        None
    } else {
        s.find(']')
    }
}

#[cfg(test)]
mod tests {
    use super::{add_totals, generic_field, Frames, ALL};

    #[test]
    fn recursion_folds_into_the_ancestor() {
        let mut f = Frames::new();
        // A list: A -> B -> B -> B stays A -> B.
        let a = f.child(ALL, 1);
        let b = f.child(a, 2);
        assert_eq!(f.child(b, 2), b);
        // A tree of types: A -> B -> C -> A folds back to A, and what hangs
        // below the folded A goes below the first one.
        let c = f.child(b, 3);
        assert_eq!(f.child(c, 1), a);
        let d = f.child(a, 4);
        assert_eq!(f.frames[d as usize].parent, a);
        // Siblings with one label are one frame; other parents get their own.
        assert_eq!(f.child(ALL, 1), a);
        let other = f.child(ALL, 5);
        assert_ne!(f.child(other, 2), b);
        // Totals add up bottom-up.
        for (i, fr) in f.frames.iter_mut().enumerate() {
            fr.bytes = i as u64 * 10;
            fr.objects = 1;
        }
        add_totals(&mut f.frames);
        let total: u64 = (0..f.frames.len() as u64).map(|i| i * 10).sum();
        assert_eq!(f.frames[ALL as usize].total_bytes, total);
        assert_eq!(f.frames[ALL as usize].total_objects, f.frames.len() as u64);
        assert_eq!(f.frames[c as usize].total_bytes, c as u64 * 10);
    }

    #[test]
    fn generic_fields_drop_indices_keys_and_offsets() {
        for (name, want) in [
            ("", ""),
            (".byID", ".byID"),
            ("[42]", "[…]"),
            ("[3].next", "[…].next"),
            (".order[7][2]", ".order[…][…]"),
            ("map[7] value", "map value"),
            ("map[-7] value.Name", "map value.Name"),
            ("map[\"a]b\\\"\"] value", "map value"),
            ("map[…] value", "map value"),
            ("map[true] value[3]", "map value[…]"),
            ("map key", "map key"),
            ("map table[3]", "map table[…]"),
            ("+0x18", "+…"),
            (".name+0x8", ".name+…"),
            ("closure var &x", "closure var &x"),
            ("chan buf", "chan buf"),
            ("[x]", "[x]"),
        ] {
            assert_eq!(generic_field(name), want, "{name}");
        }
    }
}
