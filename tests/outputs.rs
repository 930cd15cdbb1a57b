//! The files people open, on every release: the pprof profile (decoded here
//! with a minimal protobuf reader), the SVG flame graph, the DOT
//! neighbourhood graph and the HTML report, checked against `retained
//! --json` and heapzoo's ground truth.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::util::{addr, gorefs, json, name, output, truth, variants};

/// Run `gorefs <args…> CORE EXE <extra…>` on a variant; its stdout.
fn text(cmd: &str, variant: &Path, extra: &[&str]) -> String {
    String::from_utf8(output(cmd, variant, extra)).expect("UTF-8 output")
}

fn holder_retained(t: &Value) -> u64 {
    t["retained"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["root"] == "main.holder")
        .expect("truth retained main.holder")["bytes"]
        .as_u64()
        .unwrap()
}

// ---------------------------------------------------------------------
// A minimal protobuf reader, enough for profile.proto.

enum Val<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first().expect("truncated varint");
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long");
}

/// The fields of a message, in order.
fn fields(mut b: &[u8]) -> Vec<(u64, Val<'_>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let val = match key & 7 {
            0 => Val::Int(varint(&mut b)),
            2 => {
                let len = varint(&mut b) as usize;
                let (v, rest) = b.split_at(len);
                b = rest;
                Val::Bytes(v)
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, val));
    }
    out
}

/// A repeated integer field's values (packed or not).
fn ints(v: &Val<'_>) -> Vec<u64> {
    match v {
        Val::Int(x) => vec![*x],
        Val::Bytes(mut b) => {
            let mut out = Vec::new();
            while !b.is_empty() {
                out.push(varint(&mut b));
            }
            out
        }
    }
}

fn int(v: &Val<'_>) -> u64 {
    match v {
        Val::Int(x) => *x,
        Val::Bytes(_) => panic!("expected an integer"),
    }
}

fn bytes<'a>(v: &Val<'a>) -> &'a [u8] {
    match v {
        Val::Bytes(b) => b,
        Val::Int(_) => panic!("expected bytes"),
    }
}

/// The parts of a profile the tests look at.
struct Profile {
    /// (type, unit).
    sample_types: Vec<(String, String)>,
    /// Stack (leaf first) and values.
    samples: Vec<(Vec<String>, Vec<u64>)>,
    default_sample_type: String,
}

impl Profile {
    fn decode(gz: &[u8]) -> Profile {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut raw)
            .expect("gzip");
        let top = fields(&raw);
        let strings: Vec<String> = top
            .iter()
            .filter(|(f, _)| *f == 6)
            .map(|(_, v)| String::from_utf8(bytes(v).to_vec()).expect("UTF-8 string"))
            .collect();
        assert_eq!(strings.first().map(String::as_str), Some(""));
        let s = |i: u64| strings[i as usize].clone();
        let field = |m: &[(u64, Val<'_>)], n: u64| {
            m.iter().find(|(f, _)| *f == n).map_or(0, |(_, v)| int(v))
        };
        let mut functions = HashMap::new();
        let mut locations = HashMap::new();
        let mut sample_types = Vec::new();
        let mut raw_samples = Vec::new();
        let mut default_sample_type = String::new();
        for (f, v) in &top {
            match f {
                1 => {
                    let m = fields(bytes(v));
                    sample_types.push((s(field(&m, 1)), s(field(&m, 2))));
                }
                2 => {
                    let m = fields(bytes(v));
                    let mut locs = Vec::new();
                    let mut values = Vec::new();
                    for (f, v) in &m {
                        match f {
                            1 => locs.extend(ints(v)),
                            2 => values.extend(ints(v)),
                            _ => {}
                        }
                    }
                    raw_samples.push((locs, values));
                }
                4 => {
                    let m = fields(bytes(v));
                    let line = m
                        .iter()
                        .find(|(f, _)| *f == 4)
                        .map(|(_, l)| fields(bytes(l)))
                        .expect("location has a line");
                    locations.insert(field(&m, 1), field(&line, 1));
                }
                5 => {
                    let m = fields(bytes(v));
                    functions.insert(field(&m, 1), s(field(&m, 2)));
                }
                14 => default_sample_type = s(int(v)),
                _ => {}
            }
        }
        let samples = raw_samples
            .into_iter()
            .map(|(locs, values)| {
                let stack = locs
                    .iter()
                    .map(|l| functions[&locations[l]].clone())
                    .collect();
                (stack, values)
            })
            .collect();
        Profile {
            sample_types,
            samples,
            default_sample_type,
        }
    }

    /// Sum of value `i` over samples whose stack passes through `frame`
    /// (pprof's cumulative value).
    fn cum(&self, frame: &str, i: usize) -> u64 {
        self.samples
            .iter()
            .filter(|(stack, _)| stack.iter().any(|f| f == frame))
            .map(|(_, v)| v[i])
            .sum()
    }

    /// The values of the sample with exactly this stack (root last).
    fn sample(&self, stack: &[&str]) -> Option<&[u64]> {
        self.samples
            .iter()
            .find(|(s, _)| s.iter().map(String::as_str).eq(stack.iter().copied()))
            .map(|(_, v)| v.as_slice())
    }
}

const OBJECTS: usize = 0;
const INUSE: usize = 1;
const RETAINED: usize = 2;

#[test]
fn pprof_profiles_add_up_to_the_live_heap() {
    for v in variants() {
        let n = name(&v);
        let t = truth(&v);
        let want_holder = holder_retained(&t);
        let r = json("retained", &v, &[]);
        let live_bytes = r["live_bytes"].as_u64().unwrap();
        let live_objects = r["live_objects"].as_u64().unwrap();
        for mode in ["dominators", "paths"] {
            let p = Profile::decode(&output("pprof", &v, &["--mode", mode]));
            assert_eq!(
                p.sample_types,
                [
                    ("inuse_objects".to_string(), "count".to_string()),
                    ("inuse_space".into(), "bytes".into()),
                    ("retained_space".into(), "bytes".into()),
                ],
                "{n} {mode}"
            );
            assert_eq!(p.default_sample_type, "inuse_space");
            let sum = |i: usize| p.samples.iter().map(|(_, v)| v[i]).sum::<u64>();
            assert_eq!(sum(INUSE), live_bytes, "{n} {mode}: inuse_space");
            assert_eq!(sum(OBJECTS), live_objects, "{n} {mode}: inuse_objects");
            for (stack, values) in &p.samples {
                assert_eq!(values.len(), 3, "{n} {mode}: {stack:?}");
                // Recursion is folded: no stack repeats a frame.
                let mut seen = stack.clone();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), stack.len(), "{n} {mode}: {stack:?}");
            }

            // The holder: its root, its object, what it keeps.
            assert_eq!(p.cum("main.holder", INUSE), want_holder, "{n} {mode}");
            let root = p.sample(&["main.holder"]).expect("a main.holder sample");
            assert_eq!(root[RETAINED], want_holder, "{n} {mode}");
            let holder = p
                .sample(&["main.Holder", "main.holder"])
                .unwrap_or_else(|| panic!("{n} {mode}: no main.Holder below main.holder"));
            assert_eq!(holder[RETAINED], want_holder, "{n} {mode}");
            let leaves = match mode {
                "dominators" => ["main.Leaf", "[…]*main.Leaf", "main.Holder", "main.holder"],
                _ => [
                    "[…] main.Leaf",
                    ".Leaves […]*main.Leaf",
                    "main.Holder",
                    "main.holder",
                ],
            };
            let leaf = p
                .sample(&leaves)
                .unwrap_or_else(|| panic!("{n} {mode}: no chain {leaves:?}"));
            assert_eq!(leaf[OBJECTS], 10, "{n} {mode}: the ten leaves");
            assert_eq!(leaf[INUSE], 640, "{n} {mode}: the ten leaves' bytes");
        }
        // Paths mode names map values by field, without the key.
        let p = Profile::decode(&output("pprof", &v, &["--mode", "paths"]));
        assert!(
            p.samples
                .iter()
                .any(|(s, _)| s[0] == "map value main.Session"
                    && s.last().map(String::as_str) == Some("main.registry")),
            "{n}: no 'map value main.Session' below main.registry"
        );
    }
}

// ---------------------------------------------------------------------

/// Tags open and close in order (`<x>` … `</x>`, `<x/>`); text holds no `<`.
fn assert_well_formed(doc: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(closing), "mismatched </{closing}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().expect("tag name");
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
}

/// `name="value"` in `s`.
fn attr<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = s.find(&key)? + key.len();
    Some(&s[start..start + s[start..].find('"')?])
}

#[test]
fn flamegraph_svg_totals_the_live_heap() {
    for v in variants() {
        let n = name(&v);
        let live = json("retained", &v, &[])["live_bytes"].as_u64().unwrap();
        for mode in ["dominators", "paths"] {
            let svg = text("flamegraph", &v, &["--mode", mode]);
            assert!(svg.starts_with("<svg"), "{n} {mode}");
            assert!(svg.trim_end().ends_with("</svg>"), "{n} {mode}");
            assert_well_formed(&svg);
            // A small root: named in the tooltip of its row's "other" box.
            assert!(svg.contains("main.holder"), "{n} {mode}");
            assert_eq!(
                attr(&svg, "data-total-bytes"),
                Some(live.to_string().as_str()),
                "{n} {mode}"
            );
            // Boxes by row: the top one is the whole heap, and the row below
            // it (roots and "other") adds up to it.
            let mut rows: HashMap<String, u64> = HashMap::new();
            for g in svg.split("<g class=\"f\"").skip(1) {
                let bytes: u64 = attr(g, "data-bytes").unwrap().parse().unwrap();
                let y = attr(g, "y").unwrap().to_string();
                *rows.entry(y).or_default() += bytes;
            }
            let mut ys: Vec<f64> = rows.keys().map(|y| y.parse().unwrap()).collect();
            ys.sort_by(f64::total_cmp);
            let row = |y: f64| rows[&y.to_string()];
            assert_eq!(row(ys[0]), live, "{n} {mode}: top box");
            assert_eq!(row(ys[1]), live, "{n} {mode}: roots");
        }
    }
}

// ---------------------------------------------------------------------

/// Node ids of the DOT lines whose label contains `needle`.
fn dot_nodes(dot: &str, needle: &str) -> Vec<String> {
    dot.lines()
        .filter(|l| !l.contains("->") && l.contains("[label=") && l.contains(needle))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn dot_graph_shows_retainers_and_referents() {
    for v in variants() {
        let n = name(&v);
        let t = truth(&v);
        let holder = addr(&t, "holder");
        let dot = text("graph", &v, &[&holder, "--depth", "1"]);
        assert!(dot.starts_with("digraph"), "{n}");
        assert!(!dot.contains("capped"), "{n}");
        let h = dot_nodes(&dot, &format!("{holder}\\nmain.Holder"));
        let arr = dot_nodes(&dot, "\\n[10]*main.Leaf\\n");
        let root = dot_nodes(&dot, "\"global main.holder\"");
        assert_eq!((h.len(), arr.len(), root.len()), (1, 1, 1), "{n}:\n{dot}");
        assert!(
            dot.contains(&format!("{} -> {} [label=\".Leaves\"]", h[0], arr[0])),
            "{n}:\n{dot}"
        );
        assert!(dot.contains(&format!("{} -> {} ", root[0], h[0])), "{n}");
        // Depth 2 reaches the leaves, through the array's elements.
        let dot = text("graph", &v, &[&holder, "--depth", "2"]);
        let leaf = dot_nodes(
            &dot,
            &format!("{}\\nmain.Leaf", addr(&t, "holder.Leaves[3]")),
        );
        assert_eq!(leaf.len(), 1, "{n}");
        let arr = dot_nodes(&dot, "\\n[10]*main.Leaf\\n");
        assert!(
            dot.contains(&format!("{} -> {} [label=\"[3]\"]", arr[0], leaf[0])),
            "{n}"
        );
        // A cap says so.
        let dot = text("graph", &v, &[&holder, "--depth", "2", "--max-nodes", "2"]);
        assert!(dot.contains("// capped at 2 nodes"), "{n}");
        assert_eq!(dot.matches("[label=\"0x").count(), 1, "{n}: {dot}");
    }
}

#[test]
fn dot_graph_uses_the_last_core_and_writes_a_file() {
    let v = &variants()[0];
    let t = truth(v);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub.dot");
    let run = |args: &[&str]| {
        gorefs()
            .env("GOREFS_CACHE_DIR", dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let (core, exe) = (v.join("core.zst"), v.join("heapzoo.zst"));
    let out = run(&["retained", core.to_str().unwrap(), exe.to_str().unwrap()]);
    assert!(out.status.success());
    let holder = addr(&t, "holder");
    let out = run(&["graph", &holder, "-o", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let dot = std::fs::read_to_string(&file).unwrap();
    assert!(dot.contains("main.Holder") && dot.contains(".Leaves"));
}

// ---------------------------------------------------------------------

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn html_report_is_self_contained_and_names_the_top_retainers() {
    for v in variants() {
        let n = name(&v);
        let html = text("report", &v, &[]);
        assert!(html.starts_with("<!DOCTYPE html>"), "{n}");
        assert!(html.trim_end().ends_with("</html>"), "{n}");
        // Nothing to fetch: no URL, no src, only in-page links.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{n}"
        );
        assert!(!html.contains(" src="), "{n}");
        for link in html.split(" href=\"").skip(1) {
            assert!(link.starts_with('#'), "{n}: link {}", &link[..20]);
        }
        let r = json("retained", &v, &["--top", "10", "--by", "type"]);
        for root in r["roots"].as_array().unwrap() {
            let name = html_escape(root["name"].as_str().unwrap());
            assert!(html.contains(&name), "{n}: root {name}");
        }
        for ty in r["types"].as_array().unwrap() {
            let name = html_escape(ty["type"].as_str().unwrap());
            assert!(html.contains(&name), "{n}: type {name}");
        }
        for want in [
            "main.holder",
            "main.WorkerBuf",
            "main.worker",
            "class=\"flamegraph\"",
            "<table class=\"sortable\">",
            // `go1.24.11` of `go1.24.11 X:noswissmap`, `go1.26.6-X:nogreenteagc`.
            truth(&v)["go_version"]
                .as_str()
                .and_then(|g| g.split([' ', '-']).next())
                .unwrap(),
        ] {
            assert!(html.contains(want), "{n}: {want}");
        }
    }
}
