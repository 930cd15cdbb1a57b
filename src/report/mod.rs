//! Reports: each module turns an analysis into a table or JSON.
//!
//! Tables use comfy-table; JSON types are plain serde structs defined next
//! to the report that prints them. The files people open (`pprof`,
//! `flamegraph`, `graph`, `report`) share the retention tree of `tree.rs`.

pub mod diff;
pub mod dot;
pub mod flamegraph;
pub mod goroutines;
pub mod histogram;
pub mod html;
pub mod inspect;
pub mod mappings;
pub mod objects;
pub mod overview;
pub mod paths;
pub mod pprof;
pub mod retained;
pub mod roots;
pub mod tree;
pub mod view;

use std::io::Write;

use anyhow::Result;
use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;

/// A root as every report shows it.
#[derive(Serialize)]
pub struct RootJson {
    pub kind: &'static str,
    /// The variable, or a description (`finalizer of 0x… (f)`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goroutine: Option<u64>,
}

impl RootJson {
    /// `main.registry`, `goroutine 17 main.worker local`, `goroutine 17`.
    pub fn label(&self) -> String {
        match (&self.function, self.goroutine) {
            (Some(f), Some(g)) => format!("goroutine {g} {f} {}", self.name),
            (None, Some(g)) if !self.name.starts_with("goroutine ") => {
                format!("goroutine {g} {}", self.name)
            }
            _ => self.name.clone(),
        }
    }
}

/// A table with gorefs' common style.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    t
}

/// Right-align the given columns (numbers).
pub fn align_right(t: &mut Table, columns: &[usize]) {
    for &c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

pub fn write_json<T: Serialize>(out: &mut dyn Write, v: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn write_table(out: &mut dyn Write, t: &Table) -> Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Escape text for XML and HTML, in content and in attribute values;
/// control characters other than newline and tab become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml_escape;

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_escape(r#"map["<a>"]&'x'"#),
            "map[&quot;&lt;a&gt;&quot;]&amp;&#39;x&#39;"
        );
        assert_eq!(xml_escape("a\u{1}b\n"), "a\u{fffd}b\n");
    }
}
