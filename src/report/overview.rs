//! `gorefs overview`: the process at a glance and where its memory goes.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use gocore::heap::{ObjId, SpanState, PAGE_SIZE};
use gocore::loader::Source;
use gocore::process::Analysis;
use serde::Serialize;

use super::{human_bytes, write_json};

#[derive(Serialize)]
pub struct Overview {
    pub go_version: String,
    pub arch: &'static str,
    pub experiments: Vec<String>,
    pub executable: String,
    pub threads: usize,
    pub goroutines: usize,
    pub goroutines_by_status: BTreeMap<String, usize>,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub garbage_objects: u64,
    pub garbage_bytes: u64,
    pub typed_live_bytes_share: f64,
    pub memory: Memory,
    pub roots_by_kind: BTreeMap<&'static str, usize>,
    pub warnings: Vec<String>,
}

/// Where the process's memory is; every byte is counted once.
#[derive(Serialize)]
pub struct Memory {
    /// Pages of in-use heap spans.
    pub heap_spans: u64,
    /// ... of which allocated object slots.
    pub heap_objects: u64,
    /// ... of which free slots and span tails.
    pub heap_span_free: u64,
    /// Free heap pages still backed by memory.
    pub heap_free: u64,
    /// Free heap pages returned to the OS (not resident).
    pub heap_released: u64,
    /// Goroutine stacks and other manual spans in the heap arenas.
    pub stacks: u64,
    /// Writable data and bss of the executable.
    pub globals: u64,
    /// Writable memory outside the heap arenas and the globals (runtime
    /// metadata, OS thread stacks, C memory, ...).
    pub other: u64,
    /// The sum of the above: heap arenas reserved, globals and other.
    pub total: u64,
}

pub fn build(a: &Analysis<'_>) -> Overview {
    let heap = &a.heap;
    let (mut live_objects, mut live_bytes, mut garbage_objects, mut garbage_bytes, mut typed) =
        (0, 0, 0, 0, 0);
    for i in 0..heap.object_count() {
        let id = ObjId(i as u32);
        let size = heap.size(id);
        if a.is_live(id) {
            live_objects += 1;
            live_bytes += size;
            if a.types.is_typed(id) {
                typed += size;
            }
        } else {
            garbage_objects += 1;
            garbage_bytes += size;
        }
    }
    let heap_spans: u64 = heap.spans.iter().map(|s| s.npages * PAGE_SIZE).sum();
    let heap_objects = live_bytes + garbage_bytes;
    let stacks: u64 = heap
        .manual_spans
        .iter()
        .filter(|s| s.state == SpanState::Manual)
        .map(|s| s.npages * PAGE_SIZE)
        .sum();
    let md = &a.core.md;
    let globals =
        md.edata.0.saturating_sub(md.noptrdata.0) + md.enoptrbss.0.saturating_sub(md.bss.0);
    let arenas = heap.arena_bases(a.core.mem()).unwrap_or_default();
    let arena_bytes = heap.layout.heap_arena_bytes;
    let in_arena = |p: u64| {
        arenas
            .iter()
            .any(|b| b.0 <= p && p < b.0.saturating_add(arena_bytes))
    };
    // Writable memory of the core outside the arenas and the globals,
    // measured page by page at arena granularity.
    let mut other = 0u64;
    for m in a.core.loaded.image.mappings() {
        if !m.perms.w || !matches!(m.source, Source::Core | Source::Zero) {
            continue;
        }
        let mut p = m.start.0;
        while p < m.end.0 {
            let next = ((p / arena_bytes) + 1)
                .saturating_mul(arena_bytes)
                .min(m.end.0);
            let globals_range = md.noptrdata.0..md.enoptrbss.0;
            if !in_arena(p) && !globals_range.contains(&p) {
                other += next - p;
            }
            p = next;
        }
    }
    let pages = heap.page_usage(a.core.mem()).unwrap_or_default();
    let heap_free = pages.free_pages * PAGE_SIZE;
    let heap_released = pages.released_pages * PAGE_SIZE;
    let mut by_status = BTreeMap::new();
    for g in &a.goroutines {
        *by_status.entry(g.status.name().to_string()).or_insert(0) += 1;
    }
    let mut roots_by_kind = BTreeMap::new();
    for (k, n) in a.root_kind_counts() {
        roots_by_kind.insert(k.as_str(), n);
    }
    let info = &a.core.loaded.exe.build_info;
    Overview {
        go_version: info.go_version.clone(),
        arch: "amd64",
        experiments: a.core.experiments.clone(),
        executable: a.core.loaded.exe.path.display().to_string(),
        threads: a.core.loaded.core.threads.len(),
        goroutines: a.goroutines.len(),
        goroutines_by_status: by_status,
        live_objects,
        live_bytes,
        garbage_objects,
        garbage_bytes,
        typed_live_bytes_share: if live_bytes == 0 {
            1.0
        } else {
            typed as f64 / live_bytes as f64
        },
        memory: Memory {
            heap_spans,
            heap_objects,
            heap_span_free: heap_spans.saturating_sub(heap_objects),
            heap_free,
            heap_released,
            stacks,
            globals,
            other,
            total: heap_spans + stacks + heap_free + heap_released + globals + other,
        },
        roots_by_kind,
        warnings: (a.core.warnings.iter().chain(&a.warnings))
            .cloned()
            .collect(),
    }
}

pub fn print(a: &Analysis<'_>, json: bool, out: &mut dyn Write) -> Result<()> {
    let o = build(a);
    if json {
        return write_json(out, &o);
    }
    writeln!(out, "Go version      {}", o.go_version)?;
    writeln!(out, "arch            {}", o.arch)?;
    if !o.experiments.is_empty() {
        writeln!(out, "experiments     {}", o.experiments.join(","))?;
    }
    writeln!(out, "executable      {}", o.executable)?;
    writeln!(out, "threads         {}", o.threads)?;
    let states: Vec<String> = o
        .goroutines_by_status
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    writeln!(
        out,
        "goroutines      {} ({})",
        o.goroutines,
        states.join(", ")
    )?;
    writeln!(
        out,
        "live objects    {} ({}), {:.1}% of bytes typed",
        o.live_objects,
        human_bytes(o.live_bytes),
        o.typed_live_bytes_share * 100.0
    )?;
    writeln!(
        out,
        "garbage         {} objects ({}) allocated but unreachable",
        o.garbage_objects,
        human_bytes(o.garbage_bytes)
    )?;
    let m = &o.memory;
    writeln!(out, "\nmemory")?;
    for (name, v) in [
        ("heap spans in use", m.heap_spans),
        ("  objects", m.heap_objects),
        ("  free slots", m.heap_span_free),
        ("heap free", m.heap_free),
        ("heap released", m.heap_released),
        ("goroutine stacks", m.stacks),
        ("globals", m.globals),
        ("other", m.other),
        ("total", m.total),
    ] {
        writeln!(out, "  {name:<20} {:>12}", human_bytes(v))?;
    }
    Ok(())
}
