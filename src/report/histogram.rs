//! `gorefs histogram`: objects per type.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use comfy_table::Cell;
use gocore::heap::ObjId;
use gocore::process::Analysis;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{align_right, human_bytes, table, write_json, write_table};

#[derive(Serialize)]
pub struct Histogram {
    pub types: Vec<TypeRow>,
    pub objects: u64,
    pub bytes: u64,
    /// Share of the counted bytes whose objects have a known type.
    pub typed_bytes_share: f64,
    pub live_only: bool,
}

#[derive(Serialize, Clone)]
pub struct TypeRow {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
}

pub fn build(a: &Analysis<'_>, all: bool) -> Histogram {
    // Aggregate by (type index, array length) first: names are built once
    // per distinct type, not once per object. A fast hash, as every object
    // is looked up; span by span, as objects are numbered.
    let mut by_key: FxHashMap<(u32, u32, u64), (u64, u64, ObjId)> = FxHashMap::default();
    let (mut objects, mut bytes, mut typed) = (0u64, 0u64, 0u64);
    for s in &a.heap.spans {
        let size = s.elemsize;
        let first = s.first_object as usize;
        for i in first..first + s.object_count as usize {
            let id = ObjId(i as u32);
            if !all && !a.is_live(id) {
                continue;
            }
            let t = a.types.objs[i].ty;
            // Untyped objects are grouped by slot size.
            let key = (t, a.types.objs[i].count, if t == 0 { size } else { 0 });
            let e = by_key.entry(key).or_insert((0, 0, id));
            e.0 += 1;
            e.1 += size;
            objects += 1;
            bytes += size;
            if t != 0 {
                typed += size;
            }
        }
    }
    let mut by_name: HashMap<String, TypeRow> = HashMap::new();
    for (count, b, sample) in by_key.into_values() {
        let name = a.types.display_name(sample, &a.heap);
        let row = by_name.entry(name.clone()).or_insert(TypeRow {
            type_name: name,
            count: 0,
            bytes: 0,
        });
        row.count += count;
        row.bytes += b;
    }
    let mut types: Vec<TypeRow> = by_name.into_values().collect();
    types.sort_by(|x, y| {
        y.bytes
            .cmp(&x.bytes)
            .then(y.count.cmp(&x.count))
            .then(x.type_name.cmp(&y.type_name))
    });
    Histogram {
        types,
        objects,
        bytes,
        typed_bytes_share: if bytes == 0 {
            1.0
        } else {
            typed as f64 / bytes as f64
        },
        live_only: !all,
    }
}

pub fn print(
    a: &Analysis<'_>,
    all: bool,
    top: Option<usize>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut h = build(a, all);
    if let Some(n) = top {
        h.types.truncate(n);
    }
    if json {
        return write_json(out, &h);
    }
    let mut t = table(&["COUNT", "BYTES", "TYPE"]);
    for r in &h.types {
        t.add_row(vec![
            Cell::new(r.count),
            Cell::new(human_bytes(r.bytes)),
            Cell::new(&r.type_name),
        ]);
    }
    align_right(&mut t, &[0, 1]);
    write_table(out, &t)?;
    writeln!(
        out,
        "\n{} {} objects, {}; {:.1}% of bytes typed",
        h.objects,
        if all { "allocated" } else { "live" },
        human_bytes(h.bytes),
        h.typed_bytes_share * 100.0
    )?;
    Ok(())
}
