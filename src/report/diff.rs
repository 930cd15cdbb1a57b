//! `gorefs diff`: growth between two snapshots or cores, as a table, JSON or
//! Markdown (for a pull-request comment).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::{align_right, human_bytes, table, write_json, write_table};
use crate::snapshot::{Delta, Diff};

/// Output format of `gorefs diff`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// JSON: the diff with each list's names under the key its kind has
/// (`type`, `root`, `package`).
#[derive(Serialize)]
struct Json<'a> {
    a: &'a crate::snapshot::CoreInfo,
    b: &'a crate::snapshot::CoreInfo,
    live: Row<'a>,
    types: Vec<Row<'a>>,
    roots: Vec<Row<'a>>,
    packages: Vec<Row<'a>>,
    new_roots: &'a [String],
    vanished_roots: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<&'a crate::snapshot::ObjectDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exceeded: Option<&'a str>,
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<&'a str>,
    count_a: u64,
    count_b: u64,
    count_delta: i64,
    bytes_a: u64,
    bytes_b: u64,
    bytes_delta: i64,
    growth_pct: Option<f64>,
}

fn rows<'a>(v: &'a [Delta], top: usize, key: &str) -> Vec<Row<'a>> {
    v.iter().take(top).map(|d| row(d, key)).collect()
}

fn row<'a>(d: &'a Delta, key: &str) -> Row<'a> {
    let name = Some(d.name.as_str());
    Row {
        r#type: name.filter(|_| key == "type"),
        root: name.filter(|_| key == "root"),
        package: name.filter(|_| key == "package"),
        count_a: d.count_a,
        count_b: d.count_b,
        count_delta: d.count_delta,
        bytes_a: d.bytes_a,
        bytes_b: d.bytes_b,
        bytes_delta: d.bytes_delta,
        growth_pct: d.growth_pct,
    }
}

fn signed_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(n.unsigned_abs()))
}

fn pct(d: &Delta) -> String {
    match d.growth_pct {
        Some(p) => format!("{p:+.1}%"),
        None => "new".into(),
    }
}

/// `107.4 KiB → 123.1 KiB (+15.8 KiB, +14.7%), +123 objects`.
fn live_change(live: &Delta) -> String {
    format!(
        "{} → {} ({}, {}), {:+} objects",
        human_bytes(live.bytes_a),
        human_bytes(live.bytes_b),
        signed_bytes(live.bytes_delta),
        pct(live),
        live.count_delta
    )
}

pub fn print(
    d: &Diff,
    format: Format,
    top: usize,
    exceeded: Option<&str>,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Json => write_json(
            out,
            &Json {
                a: &d.a,
                b: &d.b,
                live: row(&d.live, "live"),
                types: rows(&d.types, top, "type"),
                roots: rows(&d.roots, top, "root"),
                packages: rows(&d.packages, top, "package"),
                new_roots: &d.new_roots,
                vanished_roots: &d.vanished_roots,
                objects: d.objects.as_ref(),
                exceeded,
            },
        ),
        Format::Table => {
            writeln!(out, "live heap: {}", live_change(&d.live))?;
            for (title, list) in [
                ("TYPE", &d.types),
                ("ROOT", &d.roots),
                ("PACKAGE", &d.packages),
            ] {
                if list.is_empty() {
                    continue;
                }
                writeln!(out)?;
                let mut t = table(&["BYTES Δ", "GROWTH", "COUNT Δ", "BEFORE", "AFTER", title]);
                for x in list.iter().take(top) {
                    t.add_row(vec![
                        signed_bytes(x.bytes_delta),
                        pct(x),
                        format!("{:+}", x.count_delta),
                        human_bytes(x.bytes_a),
                        human_bytes(x.bytes_b),
                        x.name.clone(),
                    ]);
                }
                align_right(&mut t, &[0, 1, 2, 3, 4]);
                write_table(out, &t)?;
            }
            for (what, list) in [
                ("new roots", &d.new_roots),
                ("vanished roots", &d.vanished_roots),
            ] {
                if !list.is_empty() {
                    writeln!(out, "\n{what}: {}", list.join(", "))?;
                }
            }
            if let Some(o) = &d.objects {
                writeln!(
                    out,
                    "\nsame process: {} objects survived ({}), {} new ({}), {} freed ({})",
                    o.survived,
                    human_bytes(o.survived_bytes),
                    o.new,
                    human_bytes(o.new_bytes),
                    o.freed,
                    human_bytes(o.freed_bytes)
                )?;
                for h in o.new_held_by.iter().take(top) {
                    writeln!(
                        out,
                        "  new objects held by {}: {} ({})",
                        h.root,
                        h.objects,
                        human_bytes(h.bytes)
                    )?;
                }
            }
            Ok(())
        }
        Format::Markdown => {
            let status = match exceeded {
                Some(why) => format!("❌ {why}"),
                None => "✅ within limits".into(),
            };
            writeln!(out, "### gorefs heap diff\n\n{status}\n")?;
            writeln!(out, "Live heap: {}\n", live_change(&d.live))?;
            for (title, list) in [
                ("Type", &d.types),
                ("Root", &d.roots),
                ("Package", &d.packages),
            ] {
                if list.is_empty() {
                    continue;
                }
                writeln!(
                    out,
                    "| {title} | Bytes Δ | Growth | Count Δ | Before | After |"
                )?;
                writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
                for x in list.iter().take(top) {
                    writeln!(
                        out,
                        "| `{}` | {} | {} | {:+} | {} | {} |",
                        x.name.replace('|', "\\|").replace('`', "'"),
                        signed_bytes(x.bytes_delta),
                        pct(x),
                        x.count_delta,
                        human_bytes(x.bytes_a),
                        human_bytes(x.bytes_b)
                    )?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
    }
}
