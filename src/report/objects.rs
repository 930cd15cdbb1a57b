//! `gorefs objects`: one line per object.

use std::io::Write;

use anyhow::Result;
use gocore::heap::ObjId;
use gocore::process::Analysis;
use regex::Regex;
use serde::Serialize;

use super::write_json;

#[derive(Serialize)]
struct ObjectRow {
    address: String,
    #[serde(rename = "type")]
    type_name: String,
    size: u64,
    live: bool,
}

pub fn print(
    a: &Analysis<'_>,
    all: bool,
    filter: Option<&Regex>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut rows = Vec::new();
    if !json {
        // Rows stream out (a heap has millions): a fixed-width header, not a table.
        writeln!(out, "{:<18} {:>10} TYPE", "ADDRESS", "SIZE")?;
    }
    for i in 0..a.heap.object_count() {
        let id = ObjId(i as u32);
        let live = a.is_live(id);
        if !all && !live {
            continue;
        }
        let name = a.types.display_name(id, &a.heap);
        if filter.is_some_and(|f| !f.is_match(&name)) {
            continue;
        }
        let row = ObjectRow {
            address: a.heap.user_addr(id).to_string(),
            type_name: name,
            size: a.heap.size(id),
            live,
        };
        if json {
            rows.push(row);
        } else {
            let garbage = if row.live { "" } else { "  (unreachable)" };
            writeln!(
                out,
                "{:<18} {:>10} {}{garbage}",
                row.address, row.size, row.type_name
            )?;
        }
    }
    if json {
        write_json(out, &serde_json::json!({ "objects": rows }))?;
    }
    Ok(())
}
