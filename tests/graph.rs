//! The reference graph on every release: retained sizes, paths from roots,
//! dominators, referrers and inspect, checked against what heapzoo built.

use serde_json::Value;

use crate::util::{addr, gorefs, json, name, truth, variants};

fn fields(path: &Value) -> Vec<&str> {
    path["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["field"].as_str().unwrap())
        .collect()
}

#[test]
fn retained_sizes_match_truth() {
    for v in variants() {
        let t = truth(&v);
        let r = json("retained", &v, &["--top", "100000"]);
        let roots = r["roots"].as_array().unwrap();
        for want in t["retained"].as_array().unwrap() {
            let root = want["root"].as_str().unwrap();
            let got = roots
                .iter()
                .find(|x| x["kind"] == "global" && x["name"] == root)
                .unwrap_or_else(|| panic!("{}: no root {root}", name(&v)));
            assert_eq!(got["retained_bytes"], want["bytes"], "{}: {root}", name(&v));
            assert_eq!(
                got["retained_objects"],
                want["objects"],
                "{}: {root}",
                name(&v)
            );
        }
        // The worker's buffer is held by one stack variable only.
        let worker = t["goroutines"]["ids"]["main.worker"].as_u64().unwrap();
        let local = roots
            .iter()
            .find(|x| x["kind"] == "stack" && x["name"] == "local" && x["goroutine"] == worker)
            .unwrap_or_else(|| panic!("{}: no worker local root", name(&v)));
        assert_eq!(local["function"], "main.worker");
        assert_eq!(local["type"], "main.WorkerBuf");
        assert!(local["retained_bytes"].as_u64().unwrap() >= 1 << 20);
        // Every live byte is retained by the super-root: types sum to it.
        let types = r["types"].as_array().unwrap();
        assert!(
            types.iter().any(|x| x["type"] == "main.Holder"),
            "{}",
            name(&v)
        );
        let packages = r["packages"].as_array().unwrap();
        assert!(
            packages.iter().any(|x| x["package"] == "main"),
            "{}",
            name(&v)
        );
        assert!(r["live_bytes"].as_u64().unwrap() > 0);
    }
}

/// (object, root kind, root name, field path of every step).
const PATHS: &[(&str, &str, &str, &[&str])] = &[
    (
        "holder.Leaves[3]",
        "global",
        "main.holder",
        &["", ".Leaves", "[3]"],
    ),
    ("boxedAny", "global", "main.boxedAny", &[""]),
    (
        "captured",
        "global",
        "main.closure",
        &["", "closure var captured"],
    ),
];

#[test]
fn paths_to_root_name_roots_and_fields() {
    for v in variants() {
        let t = truth(&v);
        let n = name(&v);
        for (object, kind, root, want) in PATHS {
            let p = json("path-to-root", &v, &[&addr(&t, object)]);
            let first = &p["paths"][0];
            assert_eq!(first["root"]["kind"], *kind, "{n}: {object}");
            assert_eq!(first["root"]["name"], *root, "{n}: {object}");
            assert_eq!(fields(first), *want, "{n}: {object}");
            assert_eq!(p["target"]["address"], addr(&t, object));
        }

        // A map value, a channel buffer slot.
        let p = json("path-to-root", &v, &[&addr(&t, "registry[0]")]);
        let path = p["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["root"]["name"] == "main.registry");
        let path =
            path.unwrap_or_else(|| panic!("{n}: registry[0] not reached from main.registry"));
        assert_eq!(fields(path).last(), Some(&"map[0] value"), "{n}");
        let p = json("path-to-root", &v, &[&addr(&t, "payloadCh[0]")]);
        assert_eq!(p["paths"][0]["root"]["name"], "main.payloadCh");
        assert_eq!(fields(&p["paths"][0]), ["", "chan buf", "[0]"], "{n}");

        // A goroutine's local: goroutine id, function and variable.
        let p = json("path-to-root", &v, &[&addr(&t, "worker.local")]);
        let root = &p["paths"][0]["root"];
        assert_eq!(root["kind"], "stack", "{n}");
        assert_eq!(root["name"], "local", "{n}");
        assert_eq!(root["function"], "main.worker", "{n}");
        assert_eq!(
            root["goroutine"], t["goroutines"]["ids"]["main.worker"],
            "{n}"
        );

        // Held only through a finalized object's contents.
        let orphan = t["unreachable"][0]["address"].as_str().unwrap();
        let p = json("path-to-root", &v, &[&addr(&t, "orphan.Child")]);
        let first = &p["paths"][0];
        assert_eq!(first["root"]["kind"], "finalizer", "{n}");
        let root = first["root"]["name"].as_str().unwrap();
        assert!(
            root.starts_with(&format!("finalizer of {orphan}")),
            "{n}: {root}"
        );
        assert!(root.contains("main.makeOrphan"), "{n}: {root}");
        assert_eq!(fields(first), ["", ".Child"], "{n}");

        // Two distinct roots hold the shared object; --roots 1 shows one.
        let p = json("path-to-root", &v, &[&addr(&t, "shared")]);
        let mut roots: Vec<&str> = p["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["root"]["name"].as_str().unwrap())
            .collect();
        roots.sort();
        assert_eq!(roots, ["main.sharedA", "main.sharedB"], "{n}");
        let p = json("path-to-root", &v, &[&addr(&t, "shared"), "--roots", "1"]);
        assert_eq!(p["paths"].as_array().unwrap().len(), 1, "{n}");
    }
}

#[test]
fn dominators_refs_and_inspect() {
    for v in variants() {
        let t = truth(&v);
        let n = name(&v);
        let leaf = addr(&t, "holder.Leaves[3]");
        let d = json("dominators", &v, &[&leaf]);
        assert_eq!(d["retained_bytes"], 64, "{n}");
        let chain = d["dominators"].as_array().unwrap();
        assert_eq!(chain[0]["object"]["type"], "[10]*main.Leaf", "{n}");
        assert_eq!(chain[1]["object"]["address"], addr(&t, "holder"), "{n}");
        assert_eq!(chain[1]["retained_bytes"], 744, "{n}");
        assert_eq!(chain[2]["root"]["name"], "main.holder", "{n}");

        let r = json("refs", &v, &[&addr(&t, "shared")]);
        let mut names: Vec<&str> = r["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["root"]["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["main.sharedA", "main.sharedB"], "{n}");

        let i = json("inspect", &v, &[&leaf]);
        assert_eq!(i["object"]["type"], "main.Leaf", "{n}");
        let id = &i["fields"][0];
        assert_eq!(
            (id["name"].as_str(), id["value"].as_str()),
            (Some(".ID"), Some("3")),
            "{n}"
        );
        let i = json("inspect", &v, &[&addr(&t, "holder")]);
        let leaves = &i["fields"][0];
        assert_eq!(leaves["name"], ".Leaves", "{n}");
        assert_eq!(leaves["points_to"]["type"], "[10]*main.Leaf", "{n}");
    }
}

#[test]
fn goroutines_retained_names_the_worker() {
    for v in variants() {
        let t = truth(&v);
        let g = json("goroutines", &v, &["--retained"]);
        let worker = t["goroutines"]["ids"]["main.worker"].as_u64().unwrap();
        let row = g["goroutines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == worker)
            .unwrap();
        assert!(
            row["retained_bytes"].as_u64().unwrap() >= 1 << 20,
            "{}",
            name(&v)
        );
        // Sorted by retained bytes: the worker's 1 MiB buffer comes first.
        assert_eq!(g["goroutines"][0]["id"], worker, "{}", name(&v));
    }
}

#[test]
fn queries_reuse_the_index_and_the_last_core() {
    let v = &variants()[0];
    let t = truth(v);
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        gorefs()
            .env("GOREFS_CACHE_DIR", cache.path())
            .args(args)
            .output()
            .unwrap()
    };
    let core = v.join("core.zst");
    let exe = v.join("heapzoo.zst");
    let out = run(&["retained", core.to_str().unwrap(), exe.to_str().unwrap()]);
    assert!(out.status.success());
    let index: Vec<_> = std::fs::read_dir(cache.path().join("index"))
        .unwrap()
        .collect();
    assert_eq!(index.len(), 1, "one index written");

    let holder = addr(&t, "holder");
    let out = run(&["path-to-root", &holder, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the last core analysed"), "{stderr}");
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["paths"][0]["root"]["name"], "main.holder");

    // A corrupt index is rebuilt, not trusted.
    let file = index[0].as_ref().unwrap().path();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::write(&file, vec![0u8; len as usize / 2]).unwrap();
    let out = run(&["path-to-root", &holder, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["paths"][0]["root"]["name"], "main.holder");

    // An address outside the heap is a clear error.
    let out = run(&["inspect", "0x10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not inside any heap object"));
}

/// Retained by type and the dominator tree report need the tree: from an
/// index it is built from the stored preorder, or, when that is damaged,
/// from the dominators alone; both give the fresh analysis' answers.
#[test]
fn the_tree_from_an_index_gives_the_fresh_answers() {
    let v = &variants()[0];
    let cache = tempfile::tempdir().unwrap();
    let (core, exe) = (v.join("core.zst"), v.join("heapzoo.zst"));
    let run = |extra: &[&str]| {
        let out = gorefs()
            .env("GOREFS_CACHE_DIR", cache.path())
            .args(["retained", "--json", "--by", "type", "--top", "50"])
            .args([core.to_str().unwrap(), exe.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let fresh = run(&["--no-index"]);
    assert_eq!(run(&[]), fresh, "writing the index");
    assert_eq!(run(&[]), fresh, "from the index");
    // The preorder is the index's tail: a node out of range in it.
    let file = std::fs::read_dir(cache.path().join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&file, bytes).unwrap();
    assert_eq!(run(&[]), fresh, "from an index with a damaged tree");
}

#[test]
fn no_last_core_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let out = gorefs()
        .env("GOREFS_CACHE_DIR", cache.path())
        .args(["path-to-root", "0xc000123"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none analysed before"), "{stderr}");
}

#[test]
fn weak_references_are_not_retention() {
    for v in variants() {
        let t = truth(&v);
        if t["weak"] != 1 {
            continue; // weak pointers are Go 1.24+
        }
        let n = name(&v);
        let target = addr(&t, "weakTarget");
        let strong = json("path-to-root", &v, &[&target, "--all-roots"]);
        let weak_steps = |p: &Value| {
            p["paths"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["steps"].as_array().unwrap())
                .filter(|s| s["weak"] == true)
                .count()
        };
        assert_eq!(weak_steps(&strong), 0, "{n}");
        let all = json(
            "path-to-root",
            &v,
            &[&target, "--all-roots", "--include-weak"],
        );
        assert!(weak_steps(&all) > 0, "{n}: no weak path");
        let via_weak_ptr = all["paths"].as_array().unwrap().iter().any(|p| {
            p["root"]["name"] == "main.weakPtr" && fields(p).last() == Some(&"weak pointer")
        });
        assert!(via_weak_ptr, "{n}: no path from main.weakPtr");
        // Only the strong global retains it.
        let d = json("dominators", &v, &[&target]);
        assert_eq!(d["dominators"][0]["root"]["name"], "main.weakTarget", "{n}");
    }
}
