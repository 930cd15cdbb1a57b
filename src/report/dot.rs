//! `gorefs graph`: an object's neighbourhood in the reference graph as
//! Graphviz DOT: its retainers (referrers, up to `depth` levels back) and
//! its referents (what it points to, `depth` levels on). Objects are boxes
//! labelled with address, type, size and what they retain; roots are
//! ellipses labelled like `gorefs roots` names them; every edge between two
//! shown nodes is drawn, labelled with the referrer's field (`.Leaves`,
//! `[3]`, `map[7] value`). The super-root is left out.
//!
//! Nodes are added breadth-first, a level of retainers then a level of
//! referents, until `max_nodes`; when that cuts the search a comment says
//! so, and nodes whose neighbours were not all shown are drawn dashed.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use gocore::heap::ObjId;
use gocore::query::{Node, StepNamer};

use super::human_bytes;
use super::view::View;

/// A DOT string literal's contents: quotes and backslashes escaped, lines
/// broken with `\n`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The nodes around `target` and whether the cap cut the search.
struct Neighbourhood {
    /// In the order they were added; `target` first.
    nodes: Vec<u32>,
    capped: bool,
    /// Nodes some of whose neighbours in the searched direction were left
    /// out.
    partial: HashSet<u32>,
}

fn neighbourhood(v: &View<'_>, target: ObjId, depth: usize, max_nodes: usize) -> Neighbourhood {
    let g = &v.model.graph;
    let is_shown = |n: u32| !matches!(v.model.node(n), Node::All);
    let mut seen: HashSet<u32> = HashSet::from([target.0]);
    let mut nodes = vec![target.0];
    let mut partial = HashSet::new();
    let mut capped = false;
    // Frontiers of the backward and forward searches.
    let mut back = vec![target.0];
    let mut fwd = vec![target.0];
    for _ in 0..depth {
        for (frontier, backwards) in [(&mut back, true), (&mut fwd, false)] {
            let mut next = Vec::new();
            for &n in frontier.iter() {
                let row = if backwards {
                    g.pred().successors(n)
                } else {
                    g.succ.successors(n)
                };
                for &m in row {
                    if !is_shown(m) || seen.contains(&m) {
                        continue;
                    }
                    if nodes.len() >= max_nodes {
                        capped = true;
                        partial.insert(n);
                        continue;
                    }
                    seen.insert(m);
                    nodes.push(m);
                    next.push(m);
                }
            }
            *frontier = next;
        }
    }
    Neighbourhood {
        nodes,
        capped,
        partial,
    }
}

/// Write the DOT graph of `target`'s neighbourhood.
pub fn write(
    v: &View<'_>,
    target: ObjId,
    depth: usize,
    max_nodes: usize,
    out: &mut dyn Write,
) -> Result<()> {
    let m = v.model;
    let hood = neighbourhood(v, target, depth, max_nodes.max(1));
    let shown: HashSet<u32> = hood.nodes.iter().copied().collect();
    let mut s = String::new();
    let _ = writeln!(s, "digraph gorefs {{");
    let _ = writeln!(
        s,
        "  // {} of {}: retainers and referents up to {depth} levels, {} nodes",
        v.object(target).r#type,
        m.user_addr(target),
        hood.nodes.len()
    );
    if hood.capped {
        let _ = writeln!(
            s,
            "  // capped at {max_nodes} nodes (--max-nodes): dashed nodes have neighbours not shown"
        );
    }
    let _ = writeln!(
        s,
        "  graph [rankdir=LR, fontname=\"monospace\"];\n  node [fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];"
    );
    for &n in &hood.nodes {
        let (label, shape) = match m.node(n) {
            Node::Object(id) => {
                let o = v.object(id);
                (
                    format!(
                        "{}\n{}\n{}, retains {}",
                        o.address,
                        o.r#type,
                        human_bytes(o.size),
                        human_bytes(m.retained_bytes(n))
                    ),
                    "box",
                )
            }
            Node::Root(r) => {
                let r = v.root(r);
                (format!("{} {}", r.kind, r.label()), "ellipse")
            }
            Node::All => continue,
        };
        let mut style = vec!["filled"];
        if hood.partial.contains(&n) {
            style.push("dashed");
        }
        let fill = if n == target.0 {
            style.push("bold");
            "#ffd27f"
        } else if shape == "ellipse" {
            "#cfe0f0"
        } else {
            "#f4f4f4"
        };
        let _ = writeln!(
            s,
            "  n{n} [label=\"{}\", shape={shape}, style=\"{}\", fillcolor=\"{fill}\"];",
            quote(&label),
            style.join(",")
        );
    }
    v.with_namer(|namer| {
        for &from in &hood.nodes {
            let targets: Vec<u32> = m
                .graph
                .succ
                .successors(from)
                .iter()
                .copied()
                .filter(|t| shown.contains(t))
                .collect();
            if targets.is_empty() {
                continue;
            }
            for (to, field) in edge_names(namer, from, &targets) {
                let _ = writeln!(s, "  n{from} -> n{to} [label=\"{}\"];", quote(&field));
            }
        }
    });
    s.push_str("}\n");
    out.write_all(s.as_bytes())?;
    Ok(())
}

/// The field of `from` naming each edge to `targets` (the first pointer to
/// each), scanning an object once.
fn edge_names(namer: &StepNamer<'_>, from: u32, targets: &[u32]) -> Vec<(u32, String)> {
    match namer.model.node(from) {
        Node::Object(src) => {
            let mut first: HashMap<u32, u64> = HashMap::new();
            for (off, t) in namer.pointer_offsets(src) {
                first.entry(t.0).or_insert(off);
            }
            targets
                .iter()
                .map(|&t| {
                    let field = first
                        .get(&t)
                        .map(|&off| namer.field_at(src, off))
                        .unwrap_or_default();
                    (t, field)
                })
                .collect()
        }
        _ => targets
            .iter()
            .map(|&t| {
                let field = match namer.model.node(t) {
                    Node::Object(id) => namer.field(from, id),
                    _ => String::new(),
                };
                (t, field)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn dot_strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
