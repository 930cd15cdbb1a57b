//! The heapzoo program's ground truth, on every release and variant.

use std::collections::HashMap;

use serde_json::Value;

use crate::util::{json, name, truth, variants};

/// Every type the program guarantees the count of has exactly that many live
/// objects in the histogram.
#[test]
fn histogram_counts_match_ground_truth() {
    let mut failures = Vec::new();
    for v in variants() {
        let truth = truth(&v);
        let h = json("histogram", &v, &[]);
        let counts: HashMap<&str, u64> = h["types"]
            .as_array()
            .expect("types")
            .iter()
            .map(|t| {
                (
                    t["type"].as_str().unwrap_or(""),
                    t["count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        for t in truth["types"].as_array().expect("truth types") {
            let ty = t["type"].as_str().expect("type");
            let want = t["count"].as_u64().expect("count");
            let got = counts.get(ty).copied().unwrap_or(0);
            if got != want {
                failures.push(format!("{}: {ty}: want {want}, got {got}", name(&v)));
            }
        }
        // Beyond the program's own types, the libraries' objects (sync.Map
        // entries behind atomic.Pointer, sync.Pool locals, trie nodes) are
        // typed too: at most 3% of live objects stay unknown.
        let objects = h["objects"].as_u64().expect("objects");
        let unknown: u64 = counts
            .iter()
            .filter(|(t, _)| t.starts_with("unknown"))
            .map(|(_, n)| n)
            .sum();
        if unknown * 100 > objects * 3 {
            failures.push(format!(
                "{}: {unknown} of {objects} objects untyped",
                name(&v)
            ));
        }
        if h["typed_bytes_share"].as_f64().unwrap_or(0.0) < 0.99 {
            failures.push(format!(
                "{}: typed bytes {}",
                name(&v),
                h["typed_bytes_share"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each chosen object is found at the address Go printed with `%p`, with
/// the expected type.
#[test]
fn objects_at_printed_addresses() {
    let mut failures = Vec::new();
    for v in variants() {
        let truth = truth(&v);
        let objs = json("objects", &v, &[]);
        let by_addr: HashMap<&str, &str> = objs["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| {
                (
                    o["address"].as_str().unwrap_or(""),
                    o["type"].as_str().unwrap_or(""),
                )
            })
            .collect();
        for o in truth["objects"].as_array().expect("truth objects") {
            let addr = o["address"].as_str().expect("address");
            let want = o["type"].as_str().expect("type");
            match by_addr.get(addr) {
                None => failures.push(format!("{}: no live object at {addr} ({want})", name(&v))),
                Some(got) if !type_matches(want, got) => {
                    failures.push(format!("{}: {addr}: want {want}, got {got}", name(&v)))
                }
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `%T` of a func value is its signature; gorefs names the closure object by
/// its function.
fn type_matches(want: &str, got: &str) -> bool {
    want == got || (want.starts_with("func(") && got.starts_with("closure "))
}

/// The goroutines and their wait reasons match what the program saw.
#[test]
fn goroutines_match_ground_truth() {
    let mut failures = Vec::new();
    for v in variants() {
        let truth = truth(&v);
        let gs = json("goroutines", &v, &[]);
        let gs = gs["goroutines"].as_array().expect("goroutines");
        let ids = truth["goroutines"]["ids"].as_object().expect("ids");
        for (func, id) in ids {
            let id = id.as_u64().expect("id");
            let Some(g) = gs.iter().find(|g| g["id"].as_u64() == Some(id)) else {
                failures.push(format!("{}: goroutine {id} ({func}) missing", name(&v)));
                continue;
            };
            let frames: Vec<&str> = g["frames"]
                .as_array()
                .map(|f| f.iter().filter_map(|f| f["function"].as_str()).collect())
                .unwrap_or_default();
            if !frames.contains(&func.as_str()) {
                failures.push(format!(
                    "{}: goroutine {id}: {func} not in {frames:?}",
                    name(&v)
                ));
            }
            let state = truth["goroutines"]["states"][func].as_str().unwrap_or("");
            if state != "runnable" && g["wait_reason"].as_str() != Some(state) {
                failures.push(format!(
                    "{}: goroutine {id} ({func}): want wait reason {state}, got {}",
                    name(&v),
                    g["wait_reason"]
                ));
            }
        }
        let user = gs
            .iter()
            .filter(|g| g["system"] == Value::Bool(false))
            .count() as u64;
        let want = truth["goroutines"]["total"].as_u64().expect("total");
        if user != want {
            failures.push(format!("{}: {user} user goroutines, want {want}", name(&v)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The overview accounts for the heap once and reports the version.
#[test]
fn overview_reports_version_and_memory() {
    for v in variants() {
        let truth = truth(&v);
        let o = json("overview", &v, &[]);
        let want = truth["go_version"].as_str().expect("go_version");
        // runtime.Version() appends experiments after a space or a dash.
        let base = want.split([' ', '-']).next().unwrap_or(want);
        assert_eq!(o["go_version"].as_str(), Some(base), "{}", name(&v));
        let m = &o["memory"];
        let sum = m["heap_spans"].as_u64().unwrap()
            + m["heap_free"].as_u64().unwrap()
            + m["heap_released"].as_u64().unwrap()
            + m["stacks"].as_u64().unwrap()
            + m["globals"].as_u64().unwrap()
            + m["other"].as_u64().unwrap();
        assert_eq!(sum, m["total"].as_u64().unwrap(), "{}", name(&v));
        assert!(o["live_objects"].as_u64().unwrap() > 2000, "{}", name(&v));
    }
}

/// The program's globals are global roots under their Go names; the worker's
/// buffer is rooted by that goroutine's `local` variable in `main.worker`;
/// finalizers root their objects.
#[test]
fn roots_are_named() {
    let mut failures = Vec::new();
    for v in variants() {
        let truth = truth(&v);
        let roots = json("roots", &v, &[]);
        let roots = roots["roots"].as_array().expect("roots");
        for g in truth["globals"].as_array().expect("globals") {
            let g = g.as_str().expect("global");
            if !roots
                .iter()
                .any(|r| r["kind"] == "global" && r["name"].as_str() == Some(g))
            {
                failures.push(format!("{}: no global root {g}", name(&v)));
            }
        }
        let local = truth["objects"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["name"] == "worker.local"))
            .and_then(|o| o["address"].as_str())
            .expect("worker.local");
        let worker = truth["goroutines"]["ids"]["main.worker"].as_u64();
        if !roots.iter().any(|r| {
            r["kind"] == "stack"
                && r["target"].as_str() == Some(local)
                && r["function"] == "main.worker"
                && r["name"] == "local"
                && r["goroutine"].as_u64() == worker
        }) {
            failures.push(format!(
                "{}: worker.local not rooted by main.worker's local",
                name(&v)
            ));
        }
        let finalizers = roots
            .iter()
            .filter(|r| r["kind"] == "finalizer" && r["type"] == "main.Finalized")
            .count();
        if finalizers != 2 {
            failures.push(format!(
                "{}: {finalizers} finalizer roots of main.Finalized",
                name(&v)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
