//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every variant directory under `testdata/cores`, sorted.
pub fn variants() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata().join("cores"))
        .expect("testdata/cores exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("core.zst").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 7, "expected cores of all seven releases");
    v
}

/// gorefs with its index cache in the build directory, shared by the tests
/// (indexes are written atomically, so parallel tests may share it).
pub fn gorefs() -> Command {
    let mut c = Command::cargo_bin("gorefs").expect("gorefs binary");
    c.env("GOREFS_CACHE_DIR", env!("CARGO_TARGET_TMPDIR"));
    c
}

/// Run `gorefs <cmd> core exe <extra>` on a variant; its stdout.
pub fn output(cmd: &str, variant: &Path, extra: &[&str]) -> Vec<u8> {
    let out = gorefs()
        .arg(cmd)
        .arg(variant.join("core.zst"))
        .arg(variant.join("heapzoo.zst"))
        .args(extra)
        .output()
        .expect("run gorefs");
    assert!(
        out.status.success(),
        "gorefs {cmd} failed on {}: {}",
        variant.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run `gorefs <cmd> --json core exe <extra>` on a variant and parse it.
pub fn json(cmd: &str, variant: &Path, extra: &[&str]) -> Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(extra.iter().copied())
        .collect();
    serde_json::from_slice(&output(cmd, variant, &args)).expect("valid JSON")
}

pub fn truth(variant: &Path) -> Value {
    let s = std::fs::read_to_string(variant.join("truth.json")).expect("truth.json");
    serde_json::from_str(&s).expect("truth.json parses")
}

/// The address heapzoo printed for one of its named objects.
pub fn addr(truth: &Value, object: &str) -> String {
    truth["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == object)
        .unwrap_or_else(|| panic!("truth has no object {object}"))["address"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn name(variant: &Path) -> String {
    variant
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Decompress a zstd file into `dir`, returning the path.
pub fn unzstd(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let mut dec = ruzstd::decoding::StreamingDecoder::new(std::fs::File::open(src).expect("open"))
        .expect("zstd");
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut dec, &mut out).expect("decompress");
    let p = dir.join(name);
    std::fs::write(&p, out).expect("write");
    p
}
