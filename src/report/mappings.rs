//! `gorefs mappings`: the address space and where each range is read from.

use std::io::Write;

use anyhow::Result;
use comfy_table::Cell;
use gocore::loader::Source;
use gocore::process::Core;
use serde::Serialize;

use super::{align_right, human_bytes, table, write_json, write_table};

#[derive(Serialize)]
struct MappingRow {
    start: String,
    end: String,
    size: u64,
    perms: String,
    source: &'static str,
    file: Option<String>,
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Core => "core",
        Source::Exe => "executable",
        Source::Zero => "zero",
        Source::Unavailable => "missing (core truncated)",
    }
}

pub fn print(core: &Core, json: bool, out: &mut dyn Write) -> Result<()> {
    let rows: Vec<MappingRow> = core
        .loaded
        .image
        .mappings()
        .into_iter()
        .map(|m| MappingRow {
            start: m.start.to_string(),
            end: m.end.to_string(),
            size: m.end.0.saturating_sub(m.start.0),
            perms: m.perms.to_string(),
            source: source_name(m.source),
            file: m.file,
        })
        .collect();
    if json {
        return write_json(out, &serde_json::json!({ "mappings": rows }));
    }
    let mut t = table(&["START", "END", "SIZE", "PERM", "FROM", "FILE"]);
    for r in &rows {
        t.add_row(vec![
            Cell::new(&r.start),
            Cell::new(&r.end),
            Cell::new(human_bytes(r.size)),
            Cell::new(&r.perms),
            Cell::new(r.source),
            Cell::new(r.file.as_deref().unwrap_or("")),
        ]);
    }
    align_right(&mut t, &[2]);
    write_table(out, &t)
}
