//! `gorefs path-to-root`, `dominators` and `refs`: how an object is reached
//! and what keeps it alive.

use std::io::Write;

use anyhow::Result;
use gocore::heap::ObjId;
use gocore::query::Node;
use serde::Serialize;

use super::view::{ObjectJson, RootJson, View};
use super::{human_bytes, write_json};

#[derive(Serialize)]
struct PathsJson {
    target: ObjectJson,
    live: bool,
    paths: Vec<PathJson>,
}

#[derive(Serialize)]
struct PathJson {
    root: RootJson,
    steps: Vec<StepJson>,
}

#[derive(Serialize)]
struct StepJson {
    address: String,
    r#type: String,
    size: u64,
    field: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    weak: bool,
}

fn header(v: &View<'_>, id: ObjId, out: &mut dyn Write) -> Result<()> {
    let o = v.object(id);
    let live = if v.model.is_live(id) {
        ""
    } else {
        ", unreachable"
    };
    writeln!(
        out,
        "{} {} ({}{live})",
        o.address,
        o.r#type,
        human_bytes(o.size)
    )?;
    Ok(())
}

pub fn path_to_root(
    v: &View<'_>,
    id: ObjId,
    max: usize,
    include_weak: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let paths = v.with_namer(|n| n.paths_to_root(id, max, include_weak));
    let paths: Vec<PathJson> = paths
        .iter()
        .filter_map(|p| {
            let Node::Root(r) = v.model.node(p.root) else {
                return None;
            };
            Some(PathJson {
                root: v.root(r),
                steps: p
                    .steps
                    .iter()
                    .map(|s| {
                        let o = v.object(s.object);
                        StepJson {
                            address: o.address,
                            r#type: o.r#type,
                            size: o.size,
                            field: s.field.clone(),
                            weak: s.weak,
                        }
                    })
                    .collect(),
            })
        })
        .collect();
    if json {
        return write_json(
            out,
            &PathsJson {
                target: v.object(id),
                live: v.model.is_live(id),
                paths,
            },
        );
    }
    header(v, id, out)?;
    if paths.is_empty() {
        writeln!(
            out,
            "no root reaches this object: it is garbage the GC has not swept yet"
        )?;
    }
    for (i, p) in paths.iter().enumerate() {
        let root = p.root.label();
        writeln!(out)?;
        writeln!(
            out,
            "path {} from {} {root} ({} steps)",
            i + 1,
            p.root.kind,
            p.steps.len()
        )?;
        for s in &p.steps {
            let field = if s.field.is_empty() { "·" } else { &s.field };
            let weak = if s.weak { "  (weak)" } else { "" };
            writeln!(
                out,
                "  {field:<24} → {} {} ({}){weak}",
                s.address,
                s.r#type,
                human_bytes(s.size)
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct DominatorsJson {
    target: ObjectJson,
    retained_bytes: u64,
    retained_objects: u64,
    /// Nearest first.
    dominators: Vec<DominatorJson>,
}

#[derive(Serialize)]
struct DominatorJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<ObjectJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<RootJson>,
    retained_bytes: u64,
    retained_objects: u64,
}

pub fn dominators(v: &View<'_>, id: ObjId, json: bool, out: &mut dyn Write) -> Result<()> {
    let m = v.model;
    let chain: Vec<DominatorJson> = m
        .dominator_chain(id)
        .into_iter()
        .map(|d| {
            let (object, root) = match m.node(d) {
                Node::Object(o) => (Some(v.object(o)), None),
                Node::Root(r) => (None, Some(v.root(r))),
                Node::All => (None, None),
            };
            DominatorJson {
                object,
                root,
                retained_bytes: m.retained_bytes(d),
                retained_objects: m.retained_objects(d),
            }
        })
        .collect();
    if json {
        return write_json(
            out,
            &DominatorsJson {
                target: v.object(id),
                retained_bytes: m.retained_bytes(id.0),
                retained_objects: m.retained_objects(id.0),
                dominators: chain,
            },
        );
    }
    header(v, id, out)?;
    if !m.is_live(id) {
        writeln!(out, "unreachable: nothing keeps it alive")?;
        return Ok(());
    }
    writeln!(
        out,
        "retains {} in {} objects; kept alive exclusively by, nearest first:",
        human_bytes(m.retained_bytes(id.0)),
        m.retained_objects(id.0)
    )?;
    for d in m.dominator_chain(id) {
        writeln!(
            out,
            "  {:>10}  {}",
            human_bytes(m.retained_bytes(d)),
            v.node_label(d)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct RefsJson {
    target: ObjectJson,
    referrers: Vec<RefJson>,
}

#[derive(Serialize)]
struct RefJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<ObjectJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<RootJson>,
    field: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    weak: bool,
}

pub fn refs(v: &View<'_>, id: ObjId, json: bool, out: &mut dyn Write) -> Result<()> {
    let m = v.model;
    let refs: Vec<(u32, RefJson)> = v.with_namer(|n| {
        m.referrers(id)
            .into_iter()
            .map(|(from, weak)| {
                let (object, root) = match m.node(from) {
                    Node::Object(o) => (Some(v.object(o)), None),
                    Node::Root(r) => (None, Some(v.root(r))),
                    Node::All => (None, None),
                };
                let field = if weak {
                    "weak pointer".to_string()
                } else {
                    n.field(from, id)
                };
                (
                    from,
                    RefJson {
                        object,
                        root,
                        field,
                        weak,
                    },
                )
            })
            .collect()
    });
    if json {
        return write_json(
            out,
            &RefsJson {
                target: v.object(id),
                referrers: refs.into_iter().map(|(_, r)| r).collect(),
            },
        );
    }
    header(v, id, out)?;
    if refs.is_empty() {
        writeln!(out, "nothing refers to it")?;
    }
    for (from, r) in refs {
        let field = if r.field.is_empty() { "·" } else { &r.field };
        writeln!(out, "  {} via {field}", v.node_label(from))?;
    }
    Ok(())
}
