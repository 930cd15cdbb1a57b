//! `gorefs report`: one self-contained HTML page about a core: overview,
//! memory breakdown, top retainers by root, type and package, the type
//! histogram, goroutines grouped by state and top function, and the
//! dominator-tree flame graph ([`super::flamegraph`]).
//!
//! Everything is inline (CSS, a few lines of JavaScript that sort tables
//! when a header is clicked, the SVG); the page loads nothing and names no
//! URL, so it can be mailed or attached to a ticket. Every string from the
//! core is escaped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use gocore::process::Analysis;
use gocore::query::Node;

use super::retained::{referent_type, share};
use super::tree::RetentionTree;
use super::view::View;
use super::{flamegraph, goroutines, histogram, human_bytes, overview, xml_escape as esc};

/// Rows shown in the long tables.
const TOP: usize = 100;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243447;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .sub{color:#c9d4e0;font-size:13px}
nav{background:#fff;border-bottom:1px solid #ddd;padding:6px 24px;position:sticky;top:0;z-index:1}
nav a{margin-right:16px;color:#245;text-decoration:none}
main{padding:8px 24px 40px;max-width:1400px}
section{margin-top:22px}
h2{font-size:17px;border-bottom:2px solid #243447;padding-bottom:3px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.card .k{color:#666;font-size:12px}.card .v{font-size:18px;font-weight:600}
table{border-collapse:collapse;background:#fff;border:1px solid #ddd;margin:6px 0;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#eef2f6;cursor:pointer;user-select:none;white-space:nowrap}
th.asc::after{content:" \25B2"}th.desc::after{content:" \25BC"}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.mono{font-family:monospace;word-break:break-all}
tr:hover td{background:#f6f9fc}
.bar{display:flex;height:22px;border:1px solid #ccc;border-radius:4px;overflow:hidden;margin:8px 0;max-width:1000px}
.bar div{height:100%}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border:1px solid #999}
.note{color:#666;font-size:12px}
.flame{overflow-x:auto;background:#fff;border:1px solid #ddd}
.flame svg{width:100%;height:auto;display:block}
.warn{background:#fff4e0;border:1px solid #e0b060;padding:6px 10px;border-radius:4px}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var tbody = th.closest("table").tBodies[0];
    var i = Array.prototype.indexOf.call(th.parentNode.children, th);
    var num = th.dataset.type === "num";
    var asc = th.classList.contains("desc") || (!num && !th.classList.contains("asc"));
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.cells[i], y = b.cells[i];
      var c = num ? parseFloat(x.dataset.v) - parseFloat(y.dataset.v)
                  : x.textContent.localeCompare(y.textContent);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
  });
});
"#;

/// A table cell: a number (sorted by value) or text.
enum Cell {
    Num(f64, String),
    Text(String),
    Mono(String),
}

fn bytes(b: u64) -> Cell {
    Cell::Num(b as f64, human_bytes(b))
}

fn count(n: u64) -> Cell {
    Cell::Num(n as f64, n.to_string())
}

fn percent(p: f64) -> Cell {
    Cell::Num(p, format!("{p:.1}%"))
}

/// A sortable table; `header` names the columns, numeric ones marked.
fn table(s: &mut String, header: &[(&str, bool)], rows: &[Vec<Cell>]) {
    s.push_str("<table class=\"sortable\"><thead><tr>");
    for (h, num) in header {
        let ty = if *num { " data-type=\"num\"" } else { "" };
        let _ = write!(s, "<th{ty}>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>\n");
    for row in rows {
        s.push_str("<tr>");
        for c in row {
            let _ = match c {
                Cell::Num(v, text) => {
                    write!(s, "<td class=\"n\" data-v=\"{v}\">{}</td>", esc(text))
                }
                Cell::Text(t) => write!(s, "<td>{}</td>", esc(t)),
                Cell::Mono(t) => write!(s, "<td class=\"mono\">{}</td>", esc(t)),
            };
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
}

fn shown_of(s: &mut String, shown: usize, total: usize, what: &str) {
    if shown < total {
        let _ = writeln!(
            s,
            "<p class=\"note\">The {shown} largest of {total} {what}.</p>"
        );
    }
}

/// Write the report on `a` (and its model, in `v`) for the core at
/// `core_path`.
pub fn write(a: &Analysis<'_>, v: &View<'_>, core_path: &str, out: &mut dyn Write) -> Result<()> {
    let m = v.model;
    let o = overview::build(a);
    let live = m.live_bytes();
    let mut s = String::new();
    let exe = std::path::Path::new(&o.executable)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| o.executable.clone());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>gorefs report: {}</title><style>{STYLE}</style></head><body>\n\
         <header><h1>gorefs report: {}</h1><div class=\"sub\">core {} · executable {} · {}</div></header>\n\
         <nav><a href=\"#overview\">Overview</a><a href=\"#memory\">Memory</a>\
         <a href=\"#roots\">Retained by root</a><a href=\"#types\">by type</a>\
         <a href=\"#packages\">by package</a><a href=\"#histogram\">Histogram</a>\
         <a href=\"#goroutines\">Goroutines</a><a href=\"#flame\">Flame graph</a></nav>\n<main>\n",
        esc(&exe),
        esc(&exe),
        esc(core_path),
        esc(&o.executable),
        esc(&o.go_version),
    );

    // Overview.
    s.push_str("<section id=\"overview\"><h2>Overview</h2><div class=\"cards\">\n");
    let states: Vec<String> = o
        .goroutines_by_status
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let experiments = if o.experiments.is_empty() {
        "none".to_string()
    } else {
        o.experiments.join(", ")
    };
    for (k, val) in [
        ("Go version", o.go_version.clone()),
        ("architecture", o.arch.to_string()),
        ("experiments", experiments),
        ("threads", o.threads.to_string()),
        (
            "goroutines",
            format!("{} ({})", o.goroutines, states.join(", ")),
        ),
        (
            "live heap",
            format!(
                "{} in {} objects",
                human_bytes(o.live_bytes),
                o.live_objects
            ),
        ),
        (
            "garbage not yet swept",
            format!(
                "{} in {} objects",
                human_bytes(o.garbage_bytes),
                o.garbage_objects
            ),
        ),
        (
            "typed live bytes",
            format!("{:.1}%", o.typed_live_bytes_share * 100.0),
        ),
        ("process memory", human_bytes(o.memory.total)),
    ] {
        let _ = writeln!(
            s,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
            esc(k),
            esc(&val)
        );
    }
    s.push_str("</div>\n");
    if !o.warnings.is_empty() {
        s.push_str("<div class=\"warn\"><b>Warnings</b><ul>");
        for w in &o.warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul></div>\n");
    }
    s.push_str("</section>\n");

    // Memory breakdown.
    let mem = &o.memory;
    let parts = [
        ("heap objects", mem.heap_objects, "#4e79a7"),
        ("free slots in heap spans", mem.heap_span_free, "#a0cbe8"),
        ("heap free", mem.heap_free, "#f28e2b"),
        ("heap released", mem.heap_released, "#ffbe7d"),
        ("goroutine stacks", mem.stacks, "#59a14f"),
        ("globals", mem.globals, "#b07aa1"),
        ("other", mem.other, "#bab0ac"),
    ];
    s.push_str("<section id=\"memory\"><h2>Memory breakdown</h2><div class=\"bar\">");
    for (name, b, colour) in parts {
        let w = share(b, mem.total);
        if w > 0.0 {
            let _ = write!(
                s,
                "<div style=\"width:{w}%;background:{colour}\" title=\"{}: {}\"></div>",
                esc(name),
                esc(&human_bytes(b))
            );
        }
    }
    s.push_str("</div><div class=\"legend\">");
    for (name, _, colour) in parts {
        let _ = write!(
            s,
            "<span><i style=\"background:{colour}\"></i>{}</span>",
            esc(name)
        );
    }
    s.push_str("</div>\n");
    let rows: Vec<Vec<Cell>> = parts
        .iter()
        .map(|(name, b, _)| (*name, *b))
        .chain([
            ("heap spans in use (objects + free slots)", mem.heap_spans),
            ("total", mem.total),
        ])
        .map(|(name, b)| {
            vec![
                Cell::Text(name.into()),
                bytes(b),
                percent(share(b, mem.total)),
            ]
        })
        .collect();
    table(
        &mut s,
        &[("memory", false), ("bytes", true), ("share", true)],
        &rows,
    );
    s.push_str("</section>\n");

    // Retained by root.
    let roots = m.retained_by_root(false);
    let rows: Vec<Vec<Cell>> = roots
        .iter()
        .take(TOP)
        .filter_map(|e| {
            let Node::Root(r) = m.node(e.node) else {
                return None;
            };
            let r_json = v.root(r);
            Some(vec![
                bytes(e.bytes),
                count(e.objects),
                percent(share(e.bytes, live)),
                Cell::Text(r_json.kind.to_string()),
                Cell::Mono(r_json.label()),
                Cell::Mono(referent_type(m, e.node)),
            ])
        })
        .collect();
    let _ = writeln!(
        s,
        "<section id=\"roots\"><h2>Top retainers by root</h2>\
         <p class=\"note\">What each GC root alone keeps alive (dominator tree), as a share of the {} live heap.</p>",
        esc(&human_bytes(live))
    );
    table(
        &mut s,
        &[
            ("retained", true),
            ("objects", true),
            ("share", true),
            ("kind", false),
            ("root", false),
            ("type", false),
        ],
        &rows,
    );
    shown_of(&mut s, rows.len(), roots.len(), "roots");
    s.push_str("</section>\n");

    // Retained by type and package.
    let (types, packages) = m.retained_by_type_and_package();
    for (id, title, groups, what) in [
        ("types", "Top retainers by type", types, "type"),
        ("packages", "Top retainers by package", packages, "package"),
    ] {
        let rows: Vec<Vec<Cell>> = groups
            .iter()
            .take(TOP)
            .map(|g| {
                vec![
                    bytes(g.retained.bytes),
                    count(g.retained.objects),
                    percent(share(g.retained.bytes, live)),
                    count(g.count),
                    bytes(g.bytes),
                    Cell::Mono(g.name.clone()),
                ]
            })
            .collect();
        let _ = writeln!(
            s,
            "<section id=\"{id}\"><h2>{title}</h2>\
             <p class=\"note\">What all live objects of a {what} retain together, nested ones counted once.</p>"
        );
        table(
            &mut s,
            &[
                ("retained", true),
                ("objects", true),
                ("share", true),
                ("count", true),
                ("self", true),
                (what, false),
            ],
            &rows,
        );
        shown_of(&mut s, rows.len(), groups.len(), &format!("{what}s"));
        s.push_str("</section>\n");
    }

    // Histogram.
    let h = histogram::build(a, false);
    let rows: Vec<Vec<Cell>> = h
        .types
        .iter()
        .take(TOP)
        .map(|t| {
            vec![
                count(t.count),
                bytes(t.bytes),
                percent(share(t.bytes, h.bytes)),
                Cell::Mono(t.type_name.clone()),
            ]
        })
        .collect();
    let _ = writeln!(
        s,
        "<section id=\"histogram\"><h2>Histogram of live objects</h2>\
         <p class=\"note\">{} live objects, {}; {:.1}% of bytes typed.</p>",
        h.objects,
        esc(&human_bytes(h.bytes)),
        h.typed_bytes_share * 100.0
    );
    table(
        &mut s,
        &[
            ("count", true),
            ("bytes", true),
            ("share", true),
            ("type", false),
        ],
        &rows,
    );
    shown_of(&mut s, rows.len(), h.types.len(), "types");
    s.push_str("</section>\n");

    // Goroutines by state and top function.
    let groups = goroutine_groups(a, m);
    let rows: Vec<Vec<Cell>> = groups
        .iter()
        .map(|g| {
            vec![
                count(g.ids.len() as u64),
                Cell::Text(g.state.clone()),
                Cell::Mono(g.function.clone()),
                bytes(g.retained),
                Cell::Text(ids(&g.ids)),
            ]
        })
        .collect();
    let _ = writeln!(
        s,
        "<section id=\"goroutines\"><h2>Goroutines</h2>\
         <p class=\"note\">{} goroutines grouped by state and top function (the innermost frame outside the runtime, or the runtime function the goroutine runs); retained: what their stacks alone keep alive.</p>",
        a.goroutines.len()
    );
    table(
        &mut s,
        &[
            ("goroutines", true),
            ("state", false),
            ("top function", false),
            ("retained", true),
            ("ids", false),
        ],
        &rows,
    );
    s.push_str("</section>\n");

    // Flame graph.
    let tree = RetentionTree::build(v, crate::cli::TreeMode::Dominators);
    s.push_str(
        "<section id=\"flame\"><h2>Flame graph</h2>\
         <p class=\"note\">The dominator tree from the roots down, objects of a type merged per parent: a box's width is what it retains. Hover for details.</p>\
         <div class=\"flame\">",
    );
    s.push_str(&flamegraph::svg(&tree, false));
    s.push_str("</div></section>\n</main>\n<script>");
    s.push_str(SCRIPT);
    s.push_str("</script>\n</body></html>\n");
    out.write_all(s.as_bytes())?;
    Ok(())
}

/// Goroutines sharing a state and top function.
struct GoroutineGroup {
    state: String,
    function: String,
    ids: Vec<u64>,
    retained: u64,
}

/// Groups, most goroutines first.
fn goroutine_groups(a: &Analysis<'_>, m: &gocore::model::HeapModel) -> Vec<GoroutineGroup> {
    let mut groups: Vec<GoroutineGroup> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for g in goroutines::rows(a, Some(m)) {
        let state = match &g.wait_reason {
            Some(w) if !w.is_empty() => format!("{}, {w}", g.status),
            _ => g.status.to_string(),
        };
        // The innermost frame outside the runtime, else the goroutine's
        // start function (a runtime worker).
        let function = g
            .frames
            .iter()
            .find(|f| !is_runtime(&f.function))
            .or(g.frames.last())
            .map_or_else(|| "(no frames)".to_string(), |f| f.function.clone());
        let i = *index
            .entry((state.clone(), function.clone()))
            .or_insert_with(|| {
                groups.push(GoroutineGroup {
                    state,
                    function,
                    ids: Vec::new(),
                    retained: 0,
                });
                groups.len() - 1
            });
        groups[i].ids.push(g.id);
        groups[i].retained += g.retained_bytes.unwrap_or(0);
    }
    groups.sort_by(|x, y| {
        y.ids
            .len()
            .cmp(&x.ids.len())
            .then(y.retained.cmp(&x.retained))
            .then_with(|| x.function.cmp(&y.function))
    });
    groups
}

fn is_runtime(function: &str) -> bool {
    function.starts_with("runtime.") || function.starts_with("internal/runtime")
}

/// `1, 17, 25` or `1, 2, 3, … (40)`.
fn ids(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(8).map(u64::to_string).collect();
    if ids.len() > 8 {
        format!("{}, … ({})", shown.join(", "), ids.len())
    } else {
        shown.join(", ")
    }
}
