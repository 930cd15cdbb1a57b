//! Snapshots and diffs for CI: a deterministic, versioned JSON summary of an
//! analysed heap (schema in `docs/snapshot.md`), the difference between two
//! snapshots or cores, and growth limits that fail a build.
//!
//! A snapshot holds sizes, counts and type and root names, never memory
//! contents: field paths (which may spell map keys) only with
//! `--include-values`. Stack roots are keyed without their goroutine id
//! (`main.worker local`), so two processes compare.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{bail, Context, Result};
use gocore::graph::RootNode;
use gocore::heap::ObjId;
use gocore::model::HeapModel;
use gocore::process::{Analysis, Core};
use gocore::query::Node;
use gograph::NONE;
use serde::{Deserialize, Serialize};

use crate::report::view::View;

pub const SCHEMA: &str = "gorefs-snapshot";
pub const VERSION: u32 = 1;

/// Dominator-tree levels shown below each top root.
const PATH_DEPTH: usize = 8;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Snapshot {
    pub schema: String,
    pub version: u32,
    pub core: CoreInfo,
    pub totals: Totals,
    /// Every live type, largest first.
    pub types: Vec<TypeEntry>,
    /// The roots retaining most, largest first.
    pub roots: Vec<RootEntry>,
    pub packages: Vec<PackageEntry>,
    /// Goroutines by status and wait reason.
    pub goroutines: Vec<GoroutineGroup>,
    /// The objects retaining most, largest first.
    pub dominators: Vec<DominatorEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CoreInfo {
    pub go_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    pub binary: String,
    pub core: String,
    pub pid: u32,
    pub experiments: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Totals {
    pub live_objects: u64,
    pub live_bytes: u64,
    pub goroutines: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TypeEntry {
    pub r#type: String,
    pub count: u64,
    pub bytes: u64,
    pub retained_bytes: u64,
    pub retained_objects: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RootEntry {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Root nodes merged under this key (stack variables of several goroutines).
    pub instances: u64,
    pub retained_bytes: u64,
    pub retained_objects: u64,
    /// Where the retained memory sits: the largest dominated object, then its
    /// largest dominated object, ...
    pub path: Vec<PathStep>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PathStep {
    pub r#type: String,
    pub retained_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PackageEntry {
    pub package: String,
    pub count: u64,
    pub bytes: u64,
    pub retained_bytes: u64,
    pub retained_objects: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct GoroutineGroup {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
    pub count: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct DominatorEntry {
    pub address: String,
    pub r#type: String,
    pub retained_bytes: u64,
    pub retained_objects: u64,
}

/// The key two snapshots' roots are matched by.
pub fn root_key(kind: &str, name: &str, function: Option<&str>) -> String {
    match function {
        Some(f) => format!("{kind} {f} {name}"),
        None => format!("{kind} {name}"),
    }
}

impl RootEntry {
    pub fn key(&self) -> String {
        root_key(&self.kind, &self.name, self.function.as_deref())
    }
}

/// Build the snapshot of an analysed core; `top` limits roots and
/// dominators; `include_values` adds field paths.
pub fn build(
    core: &Core,
    a: &Analysis<'_>,
    m: &HeapModel,
    top: usize,
    include_values: bool,
) -> Result<Snapshot> {
    let view = View::new(core, m)?;
    let loaded = &core.loaded;
    let info = CoreInfo {
        go_version: loaded.exe.build_info.go_version.clone(),
        build_id: loaded.exe.go_build_id.clone(),
        binary: loaded.exe.path.display().to_string(),
        core: loaded.core.path.display().to_string(),
        pid: loaded.core.threads.iter().map(|t| t.pid).min().unwrap_or(0),
        experiments: core.experiments.clone(),
    };
    let super_root = (m.graph.idom.len() - 1) as u32;
    let totals = Totals {
        live_objects: m.retained_objects(super_root),
        live_bytes: m.live_bytes(),
        goroutines: a.goroutines.len() as u64,
    };

    let mut types: Vec<TypeEntry> = m
        .retained_by_type()
        .into_iter()
        .map(|g| TypeEntry {
            r#type: g.name,
            count: g.count,
            bytes: g.bytes,
            retained_bytes: g.retained.bytes,
            retained_objects: g.retained.objects,
        })
        .collect();
    types.sort_by(|x, y| y.bytes.cmp(&x.bytes).then_with(|| x.r#type.cmp(&y.r#type)));
    let packages = m
        .retained_by_package()
        .into_iter()
        .map(|g| PackageEntry {
            package: g.name,
            count: g.count,
            bytes: g.bytes,
            retained_bytes: g.retained.bytes,
            retained_objects: g.retained.objects,
        })
        .collect();

    let roots = top_roots(&view, top, include_values);

    let mut by_state: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    for g in &a.goroutines {
        *by_state
            .entry((g.status.name().to_string(), g.wait_reason.clone()))
            .or_default() += 1;
    }
    let mut goroutines: Vec<GoroutineGroup> = by_state
        .into_iter()
        .map(|((status, wait_reason), count)| GoroutineGroup {
            status,
            wait_reason,
            count,
        })
        .collect();
    goroutines.sort_by_key(|g| std::cmp::Reverse(g.count));

    let mut objects: Vec<u32> = (0..m.graph.n_objects)
        .filter(|&i| m.is_live(ObjId(i)))
        .collect();
    objects.sort_by(|&x, &y| {
        m.retained_bytes(y)
            .cmp(&m.retained_bytes(x))
            .then(x.cmp(&y))
    });
    let dominators = objects
        .into_iter()
        .take(top)
        .map(|i| DominatorEntry {
            address: m.user_addr(ObjId(i)).to_string(),
            r#type: m.display_name(ObjId(i)),
            retained_bytes: m.retained_bytes(i),
            retained_objects: m.retained_objects(i),
        })
        .collect();

    Ok(Snapshot {
        schema: SCHEMA.into(),
        version: VERSION,
        core: info,
        totals,
        types,
        roots,
        packages,
        goroutines,
        dominators,
    })
}

/// Root nodes merged by key, largest first, each with the path down its
/// largest dominated objects.
fn top_roots(view: &View<'_>, top: usize, include_values: bool) -> Vec<RootEntry> {
    let m = view.model;
    let tree = m.graph.tree();
    let mut merged: HashMap<String, (RootEntry, u32)> = HashMap::new();
    for e in m.retained_by_root(false) {
        let Node::Root(r) = m.node(e.node) else {
            continue;
        };
        let entry = root_entry(view, r);
        let slot = merged.entry(entry.key()).or_insert((entry, e.node));
        slot.0.instances += 1;
        slot.0.retained_bytes += e.bytes;
        slot.0.retained_objects += e.objects;
        if m.retained_bytes(e.node) > m.retained_bytes(slot.1) {
            slot.1 = e.node;
        }
    }
    let mut roots: Vec<(RootEntry, u32)> = merged.into_values().collect();
    roots.sort_by(|(x, _), (y, _)| {
        y.retained_bytes
            .cmp(&x.retained_bytes)
            .then_with(|| x.key().cmp(&y.key()))
    });
    roots.truncate(top);
    let position = tree.positions();
    view.with_namer(|namer| {
        roots
            .into_iter()
            .map(|(mut entry, node)| {
                // Follow the largest dominated child down.
                let (mut v, mut at) = (node, position[node as usize]);
                for _ in 0..PATH_DEPTH {
                    if at == NONE {
                        break; // not in the tree
                    }
                    let largest = tree.children(at as usize).max_by(|&x, &y| {
                        let (x, y) = (tree.preorder()[x], tree.preorder()[y]);
                        m.retained_bytes(x)
                            .cmp(&m.retained_bytes(y))
                            .then(y.cmp(&x))
                    });
                    let Some(c) = largest else {
                        break;
                    };
                    let child = tree.preorder()[c];
                    let Node::Object(id) = m.node(child) else {
                        break;
                    };
                    let direct = m.graph.succ.successors(v).contains(&child);
                    entry.path.push(PathStep {
                        r#type: m.display_name(id),
                        retained_bytes: m.retained_bytes(child),
                        field: (include_values && direct).then(|| namer.field(v, id)),
                    });
                    (v, at) = (child, c as u32);
                }
                entry
            })
            .collect()
    })
}

fn root_entry(view: &View<'_>, r: &RootNode) -> RootEntry {
    let j = view.root(r);
    RootEntry {
        kind: j.kind.to_string(),
        name: j.name,
        function: j.function,
        instances: 0,
        retained_bytes: 0,
        retained_objects: 0,
        path: Vec::new(),
    }
}

/// Read a snapshot file written by `gorefs snapshot`.
pub fn parse(text: &str, origin: &str) -> Result<Snapshot> {
    let s: Snapshot =
        serde_json::from_str(text).with_context(|| format!("{origin} is not a gorefs snapshot"))?;
    if s.schema != SCHEMA {
        bail!("{origin} is not a gorefs snapshot (schema {:?})", s.schema);
    }
    if s.version != VERSION {
        bail!(
            "{origin} is a version {} snapshot; this gorefs reads version {VERSION}",
            s.version
        );
    }
    Ok(s)
}

/// Change of one type, root or package between A and B.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Delta {
    pub name: String,
    pub count_a: u64,
    pub count_b: u64,
    pub count_delta: i64,
    pub bytes_a: u64,
    pub bytes_b: u64,
    pub bytes_delta: i64,
    /// Growth in percent of A's bytes; `None` when A had none.
    pub growth_pct: Option<f64>,
}

impl Delta {
    fn new(name: String, (count_a, bytes_a): (u64, u64), (count_b, bytes_b): (u64, u64)) -> Delta {
        let bytes_delta = bytes_b as i64 - bytes_a as i64;
        Delta {
            name,
            count_a,
            count_b,
            count_delta: count_b as i64 - count_a as i64,
            bytes_a,
            bytes_b,
            bytes_delta,
            growth_pct: (bytes_a > 0).then(|| round2(bytes_delta as f64 * 100.0 / bytes_a as f64)),
        }
    }

    pub fn changed(&self) -> bool {
        self.count_delta != 0 || self.bytes_delta != 0
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `(count, bytes)` of one name in A and in B.
type Pair = ((u64, u64), (u64, u64));

/// Match two lists by name and sort by growth (largest byte growth first).
fn deltas(a: &[(String, u64, u64)], b: &[(String, u64, u64)]) -> Vec<Delta> {
    let mut both: BTreeMap<&str, Pair> = BTreeMap::new();
    for (n, c, by) in a {
        both.entry(n).or_default().0 = (*c, *by);
    }
    for (n, c, by) in b {
        both.entry(n).or_default().1 = (*c, *by);
    }
    let mut v: Vec<Delta> = both
        .into_iter()
        .map(|(n, (x, y))| Delta::new(n.to_string(), x, y))
        .filter(Delta::changed)
        .collect();
    v.sort_by(|x, y| {
        y.bytes_delta
            .cmp(&x.bytes_delta)
            .then(y.count_delta.cmp(&x.count_delta))
            .then_with(|| x.name.cmp(&y.name))
    });
    v
}

/// Objects of two cores of one process, compared by address and type.
#[derive(Serialize, Debug, Clone, Default)]
pub struct ObjectDiff {
    pub survived: u64,
    pub survived_bytes: u64,
    pub new: u64,
    pub new_bytes: u64,
    pub freed: u64,
    pub freed_bytes: u64,
    /// What holds the new objects: the root that dominates them (or
    /// `several roots`), largest first.
    pub new_held_by: Vec<Holder>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Holder {
    pub root: String,
    pub objects: u64,
    pub bytes: u64,
}

/// Everything `gorefs diff` reports.
#[derive(Serialize, Debug, Clone)]
pub struct Diff {
    pub a: CoreInfo,
    pub b: CoreInfo,
    pub live: Delta,
    pub types: Vec<Delta>,
    pub roots: Vec<Delta>,
    pub packages: Vec<Delta>,
    pub new_roots: Vec<String>,
    pub vanished_roots: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectDiff>,
}

pub fn diff(a: &Snapshot, b: &Snapshot) -> Diff {
    let types = |s: &Snapshot| -> Vec<(String, u64, u64)> {
        s.types
            .iter()
            .map(|t| (t.r#type.clone(), t.count, t.bytes))
            .collect()
    };
    // A snapshot lists only its top roots: a root missing from one side is
    // compared only when it is larger than the smallest that side lists
    // (otherwise it may just be below the cut-off).
    let floor = |s: &Snapshot| s.roots.last().map_or(0, |r| r.retained_bytes);
    let roots = |s: &Snapshot, other: &Snapshot| -> Vec<(String, u64, u64)> {
        let listed: HashSet<String> = other.roots.iter().map(RootEntry::key).collect();
        s.roots
            .iter()
            .filter(|r| r.retained_bytes > floor(other) || listed.contains(&r.key()))
            .map(|r| (r.key(), r.retained_objects, r.retained_bytes))
            .collect()
    };
    let packages = |s: &Snapshot| -> Vec<(String, u64, u64)> {
        s.packages
            .iter()
            .map(|p| (p.package.clone(), p.count, p.bytes))
            .collect()
    };
    let keys = |s: &Snapshot| -> HashSet<String> { s.roots.iter().map(RootEntry::key).collect() };
    let (ka, kb) = (keys(a), keys(b));
    Diff {
        a: a.core.clone(),
        b: b.core.clone(),
        live: Delta::new(
            "live heap".into(),
            (a.totals.live_objects, a.totals.live_bytes),
            (b.totals.live_objects, b.totals.live_bytes),
        ),
        types: deltas(&types(a), &types(b)),
        roots: deltas(&roots(a, b), &roots(b, a)),
        packages: deltas(&packages(a), &packages(b)),
        new_roots: b
            .roots
            .iter()
            .filter(|r| !ka.contains(&r.key()) && r.retained_bytes > floor(a))
            .map(RootEntry::key)
            .collect(),
        vanished_roots: a
            .roots
            .iter()
            .filter(|r| !kb.contains(&r.key()) && r.retained_bytes > floor(b))
            .map(RootEntry::key)
            .collect(),
        objects: None,
    }
}

/// Compare the objects of two cores of the same process (same binary and
/// pid): survivors have the same address and type in both.
pub fn object_diff(va: &View<'_>, vb: &View<'_>) -> ObjectDiff {
    let (ma, mb) = (va.model, vb.model);
    let mut d = ObjectDiff::default();
    let live = |m: &HeapModel| -> Vec<ObjId> {
        (0..m.graph.n_objects)
            .map(ObjId)
            .filter(|&id| m.is_live(id))
            .collect()
    };
    let in_a: HashMap<u64, ObjId> = live(ma)
        .into_iter()
        .map(|id| (ma.user_addr(id).0, id))
        .collect();
    let mut seen_in_b = 0u64;
    let mut held: HashMap<u32, (u64, u64)> = HashMap::new();
    for id in live(mb) {
        let size = mb.size(id);
        match in_a.get(&mb.user_addr(id).0) {
            Some(&old) if ma.display_name(old) == mb.display_name(id) => {
                d.survived += 1;
                d.survived_bytes += size;
                seen_in_b += 1;
            }
            _ => {
                d.new += 1;
                d.new_bytes += size;
                let h = held.entry(holding_root(mb, id)).or_default();
                h.0 += 1;
                h.1 += size;
            }
        }
    }
    let live_a: u64 = in_a.len() as u64;
    d.freed = live_a - seen_in_b;
    d.freed_bytes = ma.live_bytes() - d.survived_bytes.min(ma.live_bytes());
    let mut holders: Vec<Holder> = held
        .into_iter()
        .map(|(node, (objects, bytes))| Holder {
            root: match mb.node(node) {
                Node::Root(r) => {
                    let j = vb.root(r);
                    root_key(j.kind, &j.name, j.function.as_deref())
                }
                _ => "several roots".into(),
            },
            objects,
            bytes,
        })
        .collect();
    holders.sort_by(|x, y| y.bytes.cmp(&x.bytes).then_with(|| x.root.cmp(&y.root)));
    d.new_held_by = holders;
    d
}

/// The root node that alone keeps `id` alive, or the super-root.
fn holding_root(m: &HeapModel, id: ObjId) -> u32 {
    let idom = &m.graph.idom;
    let mut v = id.0;
    loop {
        let d = idom[v as usize];
        if d == NONE || d == v || d >= m.graph.n_objects {
            // A goroutine's variable: report the variable, not the goroutine.
            return if d == NONE || d == v { v } else { d };
        }
        v = d;
    }
}

/// A growth limit was exceeded: `gorefs diff` exits 1 with this reason.
#[derive(Debug)]
pub struct LimitExceeded(pub String);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitExceeded {}

/// A growth limit from `--max-growth` / `--max-growth-bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// A type, root key or package; `None` for the whole live heap.
    pub target: Option<String>,
    pub max: Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Max {
    Percent(f64),
    Bytes(u64),
}

/// `10%`, `main.Session=5%` (percent) or `1MiB`, `main.Session=64KiB`
/// (bytes).
pub fn parse_limit(s: &str, bytes: bool) -> Result<Limit> {
    let (target, value) = match s.rsplit_once('=') {
        Some((t, v)) => (Some(t.trim().to_string()), v.trim()),
        None => (None, s.trim()),
    };
    let max = if bytes {
        let b: bytesize::ByteSize = value
            .parse()
            .map_err(|e| anyhow::anyhow!("bad byte size {value:?} in {s:?}: {e}"))?;
        Max::Bytes(b.as_u64())
    } else {
        let p = value
            .strip_suffix('%')
            .unwrap_or(value)
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .with_context(|| {
                format!("bad percentage {value:?} in {s:?} (e.g. 10% or main.Session=5%)")
            })?;
        Max::Percent(p)
    };
    Ok(Limit { target, max })
}

/// The first limit `d` exceeds, as a one-line reason.
pub fn check(d: &Diff, limits: &[Limit]) -> Option<String> {
    for l in limits {
        let delta = match &l.target {
            None => Some(d.live.clone()),
            Some(t) => d
                .types
                .iter()
                .chain(&d.roots)
                .chain(&d.packages)
                .find(|x| &x.name == t)
                .cloned(),
        };
        let Some(delta) = delta else { continue };
        let over = match l.max {
            Max::Percent(p) => match delta.growth_pct {
                Some(g) => g > p,
                None => delta.bytes_delta > 0,
            },
            Max::Bytes(b) => delta.bytes_delta > b as i64,
        };
        if over {
            let limit = match l.max {
                Max::Percent(p) => format!("{p}%"),
                Max::Bytes(b) => crate::report::human_bytes(b),
            };
            let growth = match delta.growth_pct {
                Some(g) => format!("{g:+}%"),
                None => "new".into(),
            };
            return Some(format!(
                "{} grew by {} ({growth}, {} → {}), over the {limit} limit",
                delta.name,
                crate::report::human_bytes(delta.bytes_delta.unsigned_abs()),
                crate::report::human_bytes(delta.bytes_a),
                crate::report::human_bytes(delta.bytes_b),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(
            parse_limit("10%", false).unwrap(),
            Limit {
                target: None,
                max: Max::Percent(10.0)
            }
        );
        assert_eq!(
            parse_limit("main.Session=5%", false)
                .unwrap()
                .target
                .as_deref(),
            Some("main.Session")
        );
        assert_eq!(parse_limit("1MiB", true).unwrap().max, Max::Bytes(1 << 20));
        assert!(parse_limit("lots", false).is_err());
        assert!(parse_limit("x=-3%", false).is_err());
    }

    #[test]
    fn deltas_sort_by_growth() {
        let a = vec![("T".to_string(), 1, 100), ("U".to_string(), 2, 50)];
        let b = vec![("T".to_string(), 3, 300), ("V".to_string(), 1, 10)];
        let d = deltas(&a, &b);
        let names: Vec<&str> = d.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["T", "V", "U"]);
        assert_eq!(d[0].growth_pct, Some(200.0));
        assert_eq!(d[1].growth_pct, None);
        assert_eq!(d[2].bytes_delta, -50);
    }
}
