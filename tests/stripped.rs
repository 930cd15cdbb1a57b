//! Stripped executables: with their debug file (`--debug-file`) the analysis
//! is the unstripped one's; without it, one clear line.

use crate::util::{gorefs, json, name, variants};

#[test]
fn debug_file_stands_in_for_a_stripped_binary() {
    let with: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.join("heapzoo-stripped.zst").exists())
        .collect();
    assert!(with.len() >= 2, "stripped test binaries are missing");
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
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, json("histogram", v, &["--all"]), "{n}");

        let out = gorefs()
            .arg("overview")
            .arg(&core)
            .arg(&stripped)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{n}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no DWARF") && err.contains("--debug-file"),
            "{n}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{n}: {err}");

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
