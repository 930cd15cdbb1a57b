//! `gorefs roots`: every GC root and the object it holds.

use std::io::Write;

use anyhow::Result;
use comfy_table::Cell;
use gocore::process::Analysis;
use serde::Serialize;

use super::{table, write_json, write_table, RootJson};

#[derive(Serialize)]
pub struct RootRow {
    #[serde(flatten)]
    pub root: RootJson,
    /// Address of the object the root points into.
    pub target: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Roots that point into a heap object (pointers elsewhere hold nothing).
pub fn rows(a: &Analysis<'_>) -> Vec<RootRow> {
    let names = &a.roots;
    a.roots
        .roots
        .iter()
        .filter_map(|r| {
            let id = a.heap.find_object(r.target)?;
            Some(RootRow {
                root: RootJson {
                    kind: r.kind.as_str(),
                    name: names.name(r.name).to_string(),
                    function: r.function.map(|f| names.name(f).to_string()),
                    goroutine: r.goroutine,
                },
                target: a.heap.user_addr(id).to_string(),
                type_name: a.types.display_name(id, &a.heap),
            })
        })
        .collect()
}

pub fn print(a: &Analysis<'_>, json: bool, out: &mut dyn Write) -> Result<()> {
    let rows = rows(a);
    if json {
        return write_json(out, &serde_json::json!({ "roots": rows }));
    }
    let mut t = table(&["KIND", "ROOT", "OBJECT", "TYPE"]);
    for r in &rows {
        t.add_row(vec![
            Cell::new(r.root.kind),
            Cell::new(r.root.label()),
            Cell::new(&r.target),
            Cell::new(&r.type_name),
        ]);
    }
    write_table(out, &t)
}
