//! `gorefs goroutines`: every goroutine with its state and frames.

use std::io::Write;

use anyhow::Result;
use gocore::model::HeapModel;
use gocore::process::Analysis;
use serde::Serialize;

use super::write_json;

#[derive(Serialize)]
pub struct GoroutineRow {
    pub id: u64,
    pub status: &'static str,
    pub wait_reason: Option<String>,
    pub system: bool,
    pub frames: Vec<FrameRow>,
    pub created_by: Option<String>,
    pub unwind_error: Option<String>,
    /// Heap kept alive by this goroutine's stack alone (`--retained`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_objects: Option<u64>,
}

#[derive(Serialize)]
pub struct FrameRow {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub pc: String,
    pub inlined: bool,
}

pub fn rows(a: &Analysis<'_>, model: Option<&HeapModel>) -> Vec<GoroutineRow> {
    let pcln = &a.core.pcln;
    // Goroutine id → its node in the reference graph.
    let nodes: std::collections::HashMap<u64, u32> = model
        .map(|m| {
            m.retained_by_root(true)
                .into_iter()
                .filter_map(|e| match m.node(e.node) {
                    gocore::query::Node::Root(r) => Some((r.goroutine?, e.node)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut logical = Vec::new();
    a.goroutines
        .iter()
        .map(|g| {
            let mut frames = Vec::new();
            for f in &g.frames {
                logical.clear();
                pcln.logical_frames(a.core.mem(), &f.func, f.sym_pc(), &mut logical);
                for lf in &logical {
                    frames.push(FrameRow {
                        function: lf.name.to_string(),
                        file: lf.file.to_string(),
                        line: lf.line,
                        pc: f.pc.to_string(),
                        inlined: lf.inlined,
                    });
                }
            }
            GoroutineRow {
                id: g.id,
                status: g.status.name(),
                wait_reason: g.wait_reason.clone(),
                system: g.is_system,
                frames,
                created_by: g.created_by.as_ref().map(|c| {
                    format!(
                        "{} in goroutine {} at {}:{}",
                        c.func, c.parent_goid, c.file, c.line
                    )
                }),
                unwind_error: g.unwind_error.clone(),
                retained_bytes: model.map(|m| nodes.get(&g.id).map_or(0, |&v| m.retained_bytes(v))),
                retained_objects: model
                    .map(|m| nodes.get(&g.id).map_or(0, |&v| m.retained_objects(v))),
            }
        })
        .collect()
}

pub fn print(
    a: &Analysis<'_>,
    model: Option<&HeapModel>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut rows = rows(a, model);
    if model.is_some() {
        rows.sort_by(|x, y| {
            y.retained_bytes
                .cmp(&x.retained_bytes)
                .then(x.id.cmp(&y.id))
        });
    }
    if json {
        return write_json(out, &serde_json::json!({ "goroutines": rows }));
    }
    for g in &rows {
        let state = match &g.wait_reason {
            Some(w) => format!("{}, {w}", g.status),
            None => g.status.to_string(),
        };
        match (g.retained_bytes, g.retained_objects) {
            (Some(b), Some(n)) => writeln!(
                out,
                "goroutine {} [{state}]: retains {} in {n} objects",
                g.id,
                super::human_bytes(b)
            )?,
            _ => writeln!(out, "goroutine {} [{state}]:", g.id)?,
        }
        for f in &g.frames {
            writeln!(out, "  {}\n      {}:{}", f.function, f.file, f.line)?;
        }
        if let Some(c) = &g.created_by {
            writeln!(out, "  created by {c}")?;
        }
        if let Some(e) = &g.unwind_error {
            writeln!(out, "  (unwinding stopped: {e})")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
