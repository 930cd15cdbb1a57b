//! Binaries without DWARF: stripped ones (`-s -w`, `strip`) are analysed
//! with gorefs's runtime layout tables, on every release; a binary that kept
//! its symbols names its globals; a debug file (`--debug-file`) restores the
//! full analysis.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{addr, gorefs, json, name, truth, variants};

/// `gorefs <cmd> --json --no-index CORE EXE <extra>`: stdout parsed, stderr.
fn run(cmd: &str, v: &Path, exe: &str, extra: &[&str]) -> (Value, String) {
    let out = gorefs()
        .args([cmd, "--json"])
        .arg(v.join("core.zst"))
        .arg(v.join(exe))
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{} {cmd}: {err}", name(v));
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

/// Address → type name of every object (`objects --all`).
fn types(objects: &Value) -> HashMap<String, String> {
    objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let t = o["type"].as_str().unwrap();
            // `[36]string` and `[39]string` are one element type: a slice's
            // capacity is known only from a DWARF-typed root.
            let t = t
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map_or(t, |x| x.1);
            (o["address"].as_str().unwrap().to_string(), t.to_string())
        })
        .collect()
}

fn minor(v: &Path) -> u32 {
    name(v).split('.').nth(1).unwrap().parse().unwrap()
}

#[test]
fn stripped_binaries_are_analysed_on_every_release() {
    let all = variants();
    for v in &all {
        let n = name(v);
        let stripped = "heapzoo-stripped.zst";
        assert!(v.join(stripped).exists(), "{n}: no stripped binary");

        // The same live heap and goroutines as with DWARF, and one warning
        // that says what is missing.
        let (o, err) = run("overview", v, stripped, &[]);
        let full = json("overview", v, &[]);
        for key in [
            "live_objects",
            "live_bytes",
            "goroutines",
            "garbage_objects",
        ] {
            assert_eq!(o[key], full[key], "{n}: {key}");
        }
        let version = full["go_version"].as_str().unwrap();
        let warning = format!("has no DWARF: runtime layouts from gorefs's {version}");
        assert!(err.contains(&warning), "{n}: {err}");
        assert!(
            o["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains(&warning)),
            "{n}: {o}"
        );

        // Types come from descriptors only, and agree with DWARF's.
        let (objects, _) = run("objects", v, stripped, &["--all"]);
        let with = types(&json("objects", v, &["--all"]));
        let without = types(&objects);
        let (mut typed, mut differ) = (0, Vec::new());
        for (a, t) in &without {
            if t.starts_with("unknown") {
                continue;
            }
            typed += 1;
            if !with[a].starts_with("unknown") && &with[a] != t {
                differ.push(format!("{a}: {} vs {t}", with[a]));
            }
        }
        assert!(differ.len() * 200 <= typed, "{n}: {differ:?}");

        // Interface-held objects: `any` (pointer-shaped and boxed) and an itab.
        let t = truth(v);
        for (object, ty) in [
            ("boxedAny", "main.Boxed"),
            ("valueAny", "main.Value"),
            ("stringer", "main.Named"),
        ] {
            assert_eq!(without[&addr(&t, object)], ty, "{n}: {object}");
        }
        // Header-allocated objects (1.22+): malloc headers and largeType.
        if minor(v) >= 22 {
            for (object, ty) in [("heavies[0]", "main.PtrHeavy"), ("bigs[0]", "main.Big")] {
                assert_eq!(without[&addr(&t, object)], ty, "{n}: {object}");
            }
            let share = o["typed_live_bytes_share"].as_f64().unwrap();
            assert!(share > 0.85, "{n}: {share}");
        }

        // Graph queries work, with globals named by section offset.
        let target = addr(&t, "holder.Leaves[3]");
        let (p, _) = run("path-to-root", v, stripped, &["--no-index", &target]);
        let root = p["paths"][0]["root"]["name"].as_str().unwrap();
        assert!(root.starts_with(".bss+0x"), "{n}: {p}");
        assert_eq!(p["paths"][0]["root"]["kind"], "global", "{n}");
        let (r, _) = run("retained", v, stripped, &["--no-index"]);
        assert_eq!(r["live_objects"], o["live_objects"], "{n}");
    }
}

/// The first test variant that has `file`.
fn first_variant_with(file: &str) -> PathBuf {
    variants()
        .into_iter()
        .find(|v| v.join(file).exists())
        .unwrap_or_else(|| panic!("no test variant has {file}"))
}

#[test]
fn a_binary_without_dwarf_names_globals_by_symbol() {
    let v = first_variant_with("heapzoo-nodwarf.zst");
    let t = truth(&v);
    let (p, err) = run(
        "path-to-root",
        &v,
        "heapzoo-nodwarf.zst",
        &["--no-index", &addr(&t, "holder.Leaves[3]")],
    );
    assert!(err.contains("globals are named by symbol"), "{err}");
    // With symbols, queued finalizers are found again.
    assert!(!err.contains("finalizers"), "{err}");
    assert_eq!(p["paths"][0]["root"]["name"], "main.holder", "{p}");
}

#[test]
fn debug_file_stands_in_for_a_stripped_binary() {
    let with: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.join("heapzoo.debug.zst").exists())
        .collect();
    assert!(with.len() >= 2, "debug files are missing");
    for v in &with {
        let n = name(v);
        let (core, stripped, debug) = (
            v.join("core.zst"),
            v.join("heapzoo-stripped.zst"),
            v.join("heapzoo.debug.zst"),
        );
        let out = gorefs()
            .args(["histogram", "--json", "--all"])
            .arg(&core)
            .arg(&stripped)
            .arg("--debug-file")
            .arg(&debug)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{n}: {err}");
        assert!(!err.contains("no DWARF"), "{n}: {err}");
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, json("histogram", v, &["--all"]), "{n}");

        // Another build's debug file is refused.
        let other = with
            .iter()
            .find(|o| o != &v)
            .unwrap()
            .join("heapzoo.debug.zst");
        let out = gorefs()
            .arg("overview")
            .arg(&core)
            .arg(&stripped)
            .arg("--debug-file")
            .arg(&other)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{n}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a debug file of"), "{n}: {err}");
    }
}

/// An index built without the debug file is not reused with it, and the
/// last core is reopened with the debug file it was analysed with.
#[test]
fn the_index_knows_whether_a_debug_file_was_used() {
    let v = first_variant_with("heapzoo.debug.zst");
    let cache = tempfile::tempdir().unwrap();
    let target = addr(&truth(&v), "holder.Leaves[3]");
    let root = |args: &[&std::ffi::OsStr]| -> String {
        let out = gorefs()
            .env("GOREFS_CACHE_DIR", cache.path())
            .args(["path-to-root", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p: Value = serde_json::from_slice(&out.stdout).unwrap();
        p["paths"][0]["root"]["name"].as_str().unwrap().to_string()
    };
    let (core, exe, debug) = (
        v.join("core.zst"),
        v.join("heapzoo-stripped.zst"),
        v.join("heapzoo.debug.zst"),
    );
    let t = std::ffi::OsStr::new(&target);
    assert!(root(&[core.as_ref(), exe.as_ref(), t]).starts_with(".bss+"));
    let with_debug = [
        std::ffi::OsStr::new("--debug-file"),
        debug.as_ref(),
        core.as_ref(),
        exe.as_ref(),
        t,
    ];
    assert_eq!(root(&with_debug), "main.holder");
    assert_eq!(root(&[t]), "main.holder");
}

/// A query answered from the index repeats the analysis' warnings (on
/// newer releases, that a stripped binary's finalizer queue could not be
/// found), once.
#[test]
fn indexed_queries_repeat_the_analysis_warnings() {
    let warning = "no queue of finalizers or cleanups was found";
    let mut warned = 0;
    for v in variants() {
        if !v.join("heapzoo-stripped.zst").exists() {
            continue;
        }
        let cache = tempfile::tempdir().unwrap();
        let stderr = || {
            let out = gorefs()
                .env("GOREFS_CACHE_DIR", cache.path())
                .args(["retained", "--json"])
                .arg(v.join("core.zst"))
                .arg(v.join("heapzoo-stripped.zst"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{}: {err}", name(&v));
            err
        };
        let fresh = stderr();
        assert!(fresh.matches(warning).count() <= 1, "{fresh}");
        warned += fresh.matches(warning).count();
        assert!(cache
            .path()
            .join("index")
            .read_dir()
            .unwrap()
            .next()
            .is_some());
        assert_eq!(stderr(), fresh, "{}", name(&v));
    }
    assert!(warned > 0, "no release warned about its finalizer queue");
}
