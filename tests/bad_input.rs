//! Bad input gives one clear line and exit code 2, never a panic.

use std::path::Path;

use crate::util::{gorefs, testdata, unzstd};

fn assert_clean_error(args: &[&Path], expect: &str) {
    let out = gorefs()
        .arg("histogram")
        .args(args)
        .output()
        .expect("run gorefs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(
        lines[0].to_lowercase().contains(expect),
        "expected {expect:?} in {:?}",
        lines[0]
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn variant(v: &str) -> std::path::PathBuf {
    testdata().join("cores").join(v)
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("random");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&p, bytes).unwrap();
    let exe = variant("go1.27.3").join("heapzoo.zst");
    assert_clean_error(&[&p, &exe], "not an elf");
}

#[test]
fn empty_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty");
    std::fs::write(&p, b"").unwrap();
    let exe = variant("go1.27.3").join("heapzoo.zst");
    assert_clean_error(&[&p, &exe], "empty");
    assert_clean_error(&[dir.path(), &exe], "directory");
}

#[test]
fn truncated_core_still_analyses_or_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let core = unzstd(&variant("go1.24.11").join("core.zst"), dir.path(), "core");
    let exe = variant("go1.24.11").join("heapzoo.zst");
    let bytes = std::fs::read(&core).unwrap();
    for pct in [10, 50, 90] {
        let cut = dir.path().join(format!("core.{pct}"));
        std::fs::write(&cut, &bytes[..bytes.len() * pct / 100]).unwrap();
        let out = gorefs()
            .arg("histogram")
            .arg(&cut)
            .arg(&exe)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{pct}%: {stderr}");
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(2),
            "{pct}%: {stderr}"
        );
        assert!(stderr.contains("truncated"), "{pct}%: {stderr}");
    }
}

#[test]
fn mismatched_binary() {
    let core = variant("go1.21.13").join("core.zst");
    let exe = variant("go1.27.3").join("heapzoo.zst");
    assert_clean_error(&[&core, &exe], "is not the executable");
}

#[test]
fn unsupported_go_version() {
    // A go1.21 binary relabelled as go1.20 in its build info.
    let dir = tempfile::tempdir().unwrap();
    let exe = unzstd(&variant("go1.21.13").join("heapzoo.zst"), dir.path(), "exe");
    let mut bytes = std::fs::read(&exe).unwrap();
    let needle = b"go1.21.13";
    let mut replaced = 0;
    for i in 0..bytes.len() - needle.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i..i + needle.len()].copy_from_slice(b"go1.20.13");
            replaced += 1;
        }
    }
    assert!(replaced > 0);
    std::fs::write(&exe, bytes).unwrap();
    let core = variant("go1.21.13").join("core.zst");
    assert_clean_error(&[&core, &exe], "go1.20");
}
