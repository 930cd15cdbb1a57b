//! `gorefs inspect`: an object's fields with names, Go types and values;
//! pointers annotated with the type of the object they point to.

use std::io::Write;

use anyhow::Result;
use gocore::heap::ObjId;
use gocore::Addr;
use serde::Serialize;

use super::view::{ObjectJson, View};
use super::{human_bytes, table, write_json, write_table};

#[derive(Serialize)]
struct Json {
    object: ObjectJson,
    retained_bytes: u64,
    fields: Vec<FieldJson>,
}

#[derive(Serialize)]
struct FieldJson {
    offset: u64,
    name: String,
    r#type: String,
    value: String,
    /// The object a pointer value points to.
    #[serde(skip_serializing_if = "Option::is_none")]
    points_to: Option<ObjectJson>,
}

/// Words of an untyped object shown at most.
const MAX_RAW_WORDS: u64 = 256;

pub fn print(v: &View<'_>, id: ObjId, json: bool, out: &mut dyn Write) -> Result<()> {
    let m = v.model;
    let start = m.user_addr(id);
    let size = m.end(id).0 - start.0;
    let target = |p: Addr| m.find_object(p).map(|o| v.object(o));
    let fields: Vec<FieldJson> = match m.type_of(id) {
        Some(t) => v
            .describer()
            .inspect(t, m.array_count(id), start, size)
            .into_iter()
            .map(|f| FieldJson {
                offset: f.offset,
                name: f.path,
                r#type: f.type_name,
                value: f.value,
                points_to: f.pointer.and_then(target),
            })
            .collect(),
        None => raw_words(v, start, size)
            .into_iter()
            .map(|(offset, w)| FieldJson {
                offset,
                name: format!("+{offset:#x}"),
                r#type: "uintptr".into(),
                value: format!("{w:#x}"),
                points_to: target(Addr(w)),
            })
            .collect(),
    };
    if json {
        return write_json(
            out,
            &Json {
                object: v.object(id),
                retained_bytes: m.retained_bytes(id.0),
                fields,
            },
        );
    }
    let o = v.object(id);
    writeln!(
        out,
        "{} {} ({}, retains {})",
        o.address,
        o.r#type,
        human_bytes(o.size),
        human_bytes(m.retained_bytes(id.0))
    )?;
    let mut t = table(&["OFFSET", "FIELD", "TYPE", "VALUE"]);
    for f in fields {
        let value = match &f.points_to {
            Some(p) => format!("{} → {}", f.value, p.r#type),
            None => f.value,
        };
        t.add_row(vec![format!("{:#x}", f.offset), f.name, f.r#type, value]);
    }
    write_table(out, &t)
}

fn raw_words(v: &View<'_>, start: Addr, size: u64) -> Vec<(u64, u64)> {
    let mem = v.core.mem();
    (0..(size / 8).min(MAX_RAW_WORDS))
        .filter_map(|k| Some((k * 8, mem.read_u64(start + k * 8).ok()?)))
        .collect()
}
