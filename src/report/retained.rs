//! `gorefs retained`: what each root, type or package keeps alive.

use std::io::Write;

use anyhow::Result;
use gocore::heap::ObjId;
use gocore::model::HeapModel;
use gocore::query::{GroupTotals, Node, RetainedEntry};
use serde::Serialize;

use super::{align_right, human_bytes, table, write_json, write_table, RootJson};
use crate::cli::RetainedBy;

#[derive(Serialize)]
struct Json {
    live_bytes: u64,
    live_objects: u64,
    roots: Vec<RetainerJson>,
    types: Vec<GroupJson>,
    packages: Vec<GroupJson>,
}

#[derive(Serialize)]
struct RetainerJson {
    #[serde(flatten)]
    root: RootJson,
    retained_bytes: u64,
    retained_objects: u64,
    share: f64,
    /// Type of the object(s) the root refers to.
    r#type: String,
}

/// A type (`type`) or a package (`package`) and what it retains.
#[derive(Serialize)]
struct GroupJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<String>,
    count: u64,
    bytes: u64,
    retained_bytes: u64,
    retained_objects: u64,
    share: f64,
}

pub(super) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 10000.0).round() / 100.0
    }
}

/// The type of what a root refers to: `main.Session`, or
/// `main.Session (+2 more)` when it refers to several objects.
pub(super) fn referent_type(m: &HeapModel, node: u32) -> String {
    let targets = m.graph.succ.successors(node);
    let objects: Vec<ObjId> = targets
        .iter()
        .filter_map(|&t| match m.node(t) {
            Node::Object(id) => Some(id),
            _ => None,
        })
        .collect();
    match objects.as_slice() {
        [] => String::new(),
        [one] => m.display_name(*one),
        [first, rest @ ..] => format!("{} (+{} more)", m.display_name(*first), rest.len()),
    }
}

fn root_json(m: &HeapModel, e: &RetainedEntry) -> Option<RetainerJson> {
    let Node::Root(r) = m.node(e.node) else {
        return None;
    };
    Some(RetainerJson {
        root: RootJson {
            kind: r.kind.as_str(),
            name: m.root_name(r).to_string(),
            function: m.root_function(r).map(str::to_string),
            goroutine: r.goroutine,
        },
        retained_bytes: e.bytes,
        retained_objects: e.objects,
        share: share(e.bytes, m.live_bytes()),
        r#type: referent_type(m, e.node),
    })
}

fn group_json(m: &HeapModel, g: &GroupTotals, by: RetainedBy) -> GroupJson {
    let name = Some(g.name.clone());
    let (r#type, package) = if by == RetainedBy::Package {
        (None, name)
    } else {
        (name, None)
    };
    GroupJson {
        r#type,
        package,
        count: g.count,
        bytes: g.bytes,
        retained_bytes: g.retained.bytes,
        retained_objects: g.retained.objects,
        share: share(g.retained.bytes, m.live_bytes()),
    }
}

pub fn print(
    m: &HeapModel,
    by: RetainedBy,
    top: usize,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let live_objects = m.retained_objects(m.graph.idom.len() as u32 - 1);
    if json {
        let roots = m
            .retained_by_root(false)
            .iter()
            .take(top)
            .filter_map(|e| root_json(m, e))
            .collect();
        let (types, packages) = m.retained_by_type_and_package();
        let types = types
            .iter()
            .take(top)
            .map(|g| group_json(m, g, RetainedBy::Type))
            .collect();
        let packages = packages
            .iter()
            .take(top)
            .map(|g| group_json(m, g, RetainedBy::Package))
            .collect();
        return write_json(
            out,
            &Json {
                live_bytes: m.live_bytes(),
                live_objects,
                roots,
                types,
                packages,
            },
        );
    }
    writeln!(
        out,
        "live heap: {} in {} objects",
        human_bytes(m.live_bytes()),
        live_objects
    )?;
    match by {
        RetainedBy::Root => {
            let mut t = table(&["RETAINED", "OBJECTS", "SHARE", "KIND", "ROOT", "TYPE"]);
            for e in m.retained_by_root(false).iter().take(top) {
                let Some(r) = root_json(m, e) else { continue };
                t.add_row(vec![
                    human_bytes(r.retained_bytes),
                    r.retained_objects.to_string(),
                    format!("{:.1}%", r.share),
                    r.root.kind.to_string(),
                    r.root.label(),
                    r.r#type,
                ]);
            }
            align_right(&mut t, &[0, 1, 2]);
            write_table(out, &t)
        }
        RetainedBy::Type | RetainedBy::Package => {
            let (groups, what) = if by == RetainedBy::Type {
                (m.retained_by_type(), "TYPE")
            } else {
                (m.retained_by_package(), "PACKAGE")
            };
            let mut t = table(&["RETAINED", "OBJECTS", "SHARE", "COUNT", "SELF", what]);
            for g in groups.iter().take(top) {
                let j = group_json(m, g, by);
                t.add_row(vec![
                    human_bytes(j.retained_bytes),
                    j.retained_objects.to_string(),
                    format!("{:.1}%", j.share),
                    j.count.to_string(),
                    human_bytes(j.bytes),
                    g.name.clone(),
                ]);
            }
            align_right(&mut t, &[0, 1, 2, 3, 4]);
            write_table(out, &t)
        }
    }
}
