//! Snapshots and diffs on two cores of one process (`testdata/cores/growth`:
//! 100 Sessions, then 140).

use std::path::PathBuf;

use serde_json::Value;

use crate::util::{gorefs, testdata};

fn growth() -> PathBuf {
    testdata().join("cores/growth")
}

fn truth(phase: u32) -> Value {
    let s = std::fs::read_to_string(growth().join(format!("truth{phase}.json"))).unwrap();
    serde_json::from_str(&s).unwrap()
}

fn run(args: &[&str]) -> std::process::Output {
    gorefs().args(args).output().expect("run gorefs")
}

fn path(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

fn diff(extra: &[&str]) -> std::process::Output {
    let g = growth();
    let (a, b, exe) = (
        path(g.join("core1.zst")),
        path(g.join("core2.zst")),
        path(g.join("growth.zst")),
    );
    let mut args = vec!["diff", &a, &b, "--exe", &exe];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn snapshot_is_deterministic_and_holds_no_values() {
    let g = growth();
    let dir = tempfile::tempdir().unwrap();
    let (core, exe) = (path(g.join("core1.zst")), path(g.join("growth.zst")));
    let mut outputs = Vec::new();
    for i in 0..2 {
        let file = path(dir.path().join(format!("s{i}.json")));
        let out = run(&["snapshot", &core, &exe, "-o", &file]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(std::fs::read(&file).unwrap());
    }
    assert_eq!(outputs[0], outputs[1], "snapshots of one core differ");
    let s: Value = serde_json::from_slice(&outputs[0]).unwrap();
    assert_eq!(s["schema"], "gorefs-snapshot");
    assert_eq!(s["version"], 1);
    assert_eq!(s["core"]["go_version"], "go1.24.11");
    let sessions = s["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "main.Session")
        .unwrap();
    assert_eq!(sessions["count"], truth(1)["sessions"]);
    let registry = &s["roots"].as_array().unwrap()[0];
    assert_eq!(registry["name"], "main.registry");
    assert!(registry["path"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p.get("field").is_none()));
    let text = String::from_utf8_lossy(&outputs[0]);
    assert!(
        !text.contains("session-"),
        "string contents leaked into the snapshot"
    );

    let out = run(&["snapshot", &core, &exe, "--include-values"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &s["roots"][0]["path"][0];
    assert!(first.get("field").is_some(), "{first}");
}

#[test]
fn diff_reports_exact_growth_and_gates_on_limits() {
    let (t1, t2) = (truth(1), truth(2));
    let grown = t2["sessions"].as_i64().unwrap() - t1["sessions"].as_i64().unwrap();
    let out = diff(&["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let session = d["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "main.Session")
        .unwrap();
    assert_eq!(session["count_delta"], grown);
    // 56-byte Sessions live in the 64-byte size class.
    assert_eq!(session["bytes_delta"], grown * 64);
    assert_eq!(
        d["types"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == "main.Config")
            .count(),
        0
    );
    assert_eq!(d["roots"][0]["root"], "global main.registry");
    let objects = &d["objects"];
    assert!(objects["survived"].as_u64().unwrap() > 100);
    assert_eq!(objects["new_held_by"][0]["root"], "global main.registry");

    // Limits: exit 1 with the reason on one line, 0 under them.
    let out = diff(&["--max-growth", "main.Session=10%"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("main.Session grew") && stderr.contains("10% limit"),
        "{stderr}"
    );
    assert_eq!(
        diff(&["--max-growth", "main.Session=50%"]).status.code(),
        Some(0)
    );
    assert_eq!(diff(&["--max-growth", "5%"]).status.code(), Some(1));
    assert_eq!(diff(&["--max-growth-bytes", "1MiB"]).status.code(), Some(0));
    assert_eq!(
        diff(&["--max-growth-bytes", "main.Session=1KiB"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(diff(&["--max-growth", "lots"]).status.code(), Some(2));

    let out = diff(&["--format", "markdown", "--max-growth", "main.Session=10%"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| `main.Session` |") && md.contains("❌"),
        "{md}"
    );
}

#[test]
fn diff_of_snapshots_matches_diff_of_cores() {
    let g = growth();
    let dir = tempfile::tempdir().unwrap();
    let exe = path(g.join("growth.zst"));
    let mut files = Vec::new();
    for i in [1, 2] {
        let file = path(dir.path().join(format!("s{i}.json")));
        let core = path(g.join(format!("core{i}.zst")));
        assert!(run(&["snapshot", &core, &exe, "-o", &file])
            .status
            .success());
        files.push(file);
    }
    let out = run(&["diff", &files[0], &files[1], "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_snapshots: Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_cores: Value = serde_json::from_slice(&diff(&["--format", "json"]).stdout).unwrap();
    assert_eq!(from_snapshots["types"], from_cores["types"]);
    assert_eq!(from_snapshots["live"], from_cores["live"]);
    assert!(from_snapshots.get("objects").is_none());

    let bad = path(dir.path().join("bad.json"));
    std::fs::write(&bad, "{\"schema\":\"other\"}").unwrap();
    let out = run(&["diff", &bad, &files[1]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a gorefs snapshot"));
}

#[test]
fn diff_draws_a_differential_flame_graph() {
    let dir = tempfile::tempdir().unwrap();
    let svg = path(dir.path().join("diff.svg"));
    let out = diff(&["--flamegraph", &svg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..100.min(text.len())]);
    // The registry's box says how much it grew and is red.
    let at = text
        .find("<title>main.registry\n")
        .expect("a main.registry box");
    let g = &text[at..at + 300.min(text.len() - at)];
    assert!(g.contains(" → ") && g.contains("(+"), "{g}");
    assert!(g.contains("fill=\"hsl(0,"), "{g}");
}
