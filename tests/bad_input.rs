//! Bad input gives one clear line and exit code 2, or a partial analysis
//! with `gorefs: warning:` lines saying what was skipped; never a panic, a
//! hang or an allocation bomb. Every run has a timeout.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use gocore::process::Core;
use gotypes::Addr;

use crate::util::{gorefs, testdata, unzstd};

/// Longest a run may take: every case here finishes in a few seconds.
const TIMEOUT: Duration = Duration::from_secs(60);

fn run(args: &[&Path]) -> Output {
    gorefs()
        .arg("histogram")
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .expect("run gorefs")
}

/// Exit code 2 and exactly one line on stderr, containing `expect`.
fn assert_clean_error(args: &[&Path], expect: &str) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprint!("{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "status {}: {stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(
        lines[0].to_lowercase().contains(&expect.to_lowercase()),
        "expected {expect:?} in {:?}",
        lines[0]
    );
    stderr
}

/// A partial analysis (exit 0) whose stderr is only warnings, one of which
/// contains `expect`.
fn assert_partial(args: &[&Path], expect: &str) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprint!("{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "status {}: {stderr}",
        out.status
    );
    assert!(
        stderr.lines().all(|l| l.starts_with("gorefs: warning: ")),
        "only warnings expected: {stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.contains(expect)),
        "expected a warning containing {expect:?}: {stderr}"
    );
    assert!(!out.stdout.is_empty(), "a partial analysis still prints");
    stderr
}

fn variant(v: &str) -> PathBuf {
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
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = dir.path().join("core");
    std::fs::copy(variant("go1.24.11").join("core.zst"), &p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let exe = variant("go1.24.11").join("heapzoo.zst");
    if std::fs::File::open(&p).is_err() {
        assert_clean_error(&[&p, &exe], "permission denied");
        return;
    }
    // Root (or CAP_DAC_OVERRIDE) reads it anyway: run gorefs as nobody
    // when setpriv is there, else there is nothing to test.
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        eprintln!("skipped: this user can read a mode-000 file and setpriv is missing");
        return;
    }
    let out = assert_cmd::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("gorefs"))
        .arg("histogram")
        .arg(&p)
        .arg(&exe)
        .timeout(TIMEOUT)
        .output()
        .expect("run gorefs as nobody");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

#[test]
fn truncated_core_still_analyses_or_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let core = unzstd(&variant("go1.24.11").join("core.zst"), dir.path(), "core");
    let bytes = std::fs::read(&core).unwrap();
    // With DWARF, and stripped (the runtime's globals found by scanning).
    for exe in ["heapzoo.zst", "heapzoo-stripped.zst"] {
        let exe = variant("go1.24.11").join(exe);
        for pct in [10, 50, 90] {
            let cut = dir.path().join(format!("core.{pct}"));
            std::fs::write(&cut, &bytes[..bytes.len() * pct / 100]).unwrap();
            let out = run(&[&cut, &exe]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{pct}%: {stderr}");
            assert!(
                out.status.code() == Some(0) || out.status.code() == Some(2),
                "{pct}%: {stderr}"
            );
            assert!(stderr.contains("truncated"), "{pct}%: {stderr}");
        }
    }
}

#[test]
fn mismatched_binary() {
    let core = variant("go1.21.13").join("core.zst");
    let exe = variant("go1.27.3").join("heapzoo.zst");
    assert_clean_error(&[&core, &exe], "is not the executable");
}

#[test]
fn unsupported_go_versions() {
    // A go1.21 binary relabelled as go1.20, and as go1.28, in its build info.
    let dir = tempfile::tempdir().unwrap();
    let exe = unzstd(&variant("go1.21.13").join("heapzoo.zst"), dir.path(), "exe");
    let orig = std::fs::read(&exe).unwrap();
    let core = variant("go1.21.13").join("core.zst");
    for (label, expect) in [
        (b"go1.20.13", "Go version go1.20.13 is not supported"),
        (b"go1.28.13", "Go version go1.28.13 is not supported"),
    ] {
        let mut bytes = orig.clone();
        let needle = b"go1.21.13";
        let mut replaced = 0;
        for i in 0..bytes.len() - needle.len() {
            if &bytes[i..i + needle.len()] == needle {
                bytes[i..i + needle.len()].copy_from_slice(label);
                replaced += 1;
            }
        }
        assert!(replaced > 0);
        let relabelled = dir.path().join(String::from_utf8_lossy(label).as_ref());
        std::fs::write(&relabelled, bytes).unwrap();
        assert_clean_error(&[&core, &relabelled], expect);
    }
}

/// The test cores record where heapzoo was built (a temporary directory
/// that no longer exists): without an EXE argument there is no binary.
#[test]
fn binary_named_by_the_core_is_missing() {
    let core = variant("go1.24.11").join("core.zst");
    assert_clean_error(&[&core], "does not exist; pass the binary explicitly");
}

/// A kernel core of `sleep` (see testdata/README.md): not a Go process.
#[test]
fn core_of_a_non_go_program() {
    let core = testdata().join("bad").join("sleep-core.zst");
    // Without EXE the core names /usr/bin/sleep, which is no Go binary (or,
    // on a machine without it, does not exist).
    let out = run(&[&core]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not a Go binary (it has no .go.buildinfo section)")
            || stderr.contains("does not exist; pass the binary explicitly"),
        "{stderr}"
    );
    // With a Go binary, the mismatch is named.
    let exe = variant("go1.24.11").join("heapzoo.zst");
    assert_clean_error(&[&core, &exe], "is not the executable that produced");
}

// ---- corrupted runtime structures --------------------------------------

/// The decompressed go1.24.11 core and its analysis, to find the virtual
/// addresses of runtime structures, and to write patched copies of it.
struct Patchable {
    dir: tempfile::TempDir,
    bytes: Vec<u8>,
    exe: PathBuf,
    core: Core,
}

fn patchable() -> &'static Patchable {
    static P: OnceLock<Patchable> = OnceLock::new();
    P.get_or_init(|| {
        let v = variant("go1.24.11");
        let dir = tempfile::tempdir().unwrap();
        let path = unzstd(&v.join("core.zst"), dir.path(), "core.orig");
        let bytes = std::fs::read(&path).unwrap();
        let exe = v.join("heapzoo.zst");
        let core = Core::open(&path, Some(&exe)).expect("the test core opens");
        Patchable {
            dir,
            bytes,
            exe,
            core,
        }
    })
}

impl Patchable {
    /// File offset of the byte at `vaddr` (which the core must store).
    fn offset(&self, vaddr: u64) -> usize {
        let seg = self
            .core
            .loaded
            .core
            .segments
            .iter()
            .find(|s| s.vaddr.0 <= vaddr && vaddr < s.vaddr.0 + s.filesz)
            .unwrap_or_else(|| panic!("{vaddr:#x} is not stored in the core"));
        (seg.offset + (vaddr - seg.vaddr.0)) as usize
    }

    fn read_u64(&self, vaddr: u64) -> u64 {
        self.core.mem().read_u64(Addr(vaddr)).unwrap()
    }

    /// A copy of the core with `patches` (virtual address, bytes) applied.
    fn write(&self, name: &str, patches: &[(u64, Vec<u8>)]) -> PathBuf {
        let mut bytes = self.bytes.clone();
        for (vaddr, b) in patches {
            let off = self.offset(*vaddr);
            bytes[off..off + b.len()].copy_from_slice(b);
        }
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `&mheap_.allspans` (a slice: data, len, cap).
    fn allspans(&self) -> u64 {
        let l = &self.core.heap_layout;
        l.mheap_addr.0 + l.mheap_allspans
    }

    /// `&runtime.allgs` (a slice: data, len, cap).
    fn allgs(&self) -> u64 {
        self.core
            .loaded
            .symbol_addr("runtime.allgs")
            .expect("runtime.allgs")
            .0
    }
}

fn word(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

#[test]
fn allspans_pointer_into_garbage() {
    let p = patchable();
    let core = p.write(
        "allspans-ptr",
        &[(p.allspans(), word(0x0000_dead_beef_0000))],
    );
    assert_clean_error(&[&core, &p.exe], "corrupt core: mheap_.allspans (");
}

#[test]
fn allspans_entries_into_garbage() {
    let p = patchable();
    let data = p.read_u64(p.allspans());
    // Entries 10..110 point into unmapped memory, 110..120 into the binary's
    // text (readable garbage).
    let text = p.core.md.tables.text.0;
    let mut patches: Vec<(u64, Vec<u8>)> = (10..110)
        .map(|i| (data + 8 * i, word(0x0000_dead_0000_0000 + i * 0x2000)))
        .collect();
    patches.extend((110..120).map(|i| (data + 8 * i, word(text + i * 8))));
    let core = p.write("allspans-entries", &patches);
    assert_partial(&[&core, &p.exe], "spans could not be read");
}

/// Zero the pages holding the span pointer array (heap metadata): the
/// spans they listed are missing, and said to be.
#[test]
fn zeroed_heap_metadata_pages() {
    let p = patchable();
    let data = p.read_u64(p.allspans());
    let page = data & !0xfff;
    let core = p.write("zeroed", &[(page, vec![0u8; 4096])]);
    assert_partial(&[&core, &p.exe], "spans could not be read");
}

#[test]
fn absurd_lengths() {
    let p = patchable();
    let huge = 1u64 << 40;
    let core = p.write(
        "allspans-len",
        &[
            (p.allspans() + 8, word(huge)),
            (p.allspans() + 16, word(huge)),
        ],
    );
    assert_clean_error(
        &[&core, &p.exe],
        "corrupt core: mheap_.allspans has an absurd length 1099511627776",
    );
    let core = p.write("allspans-len-cap", &[(p.allspans() + 8, word(1 << 20))]);
    assert_clean_error(&[&core, &p.exe], "above its capacity");
    let core = p.write(
        "allgs-len",
        &[(p.allgs() + 8, word(huge)), (p.allgs() + 16, word(huge))],
    );
    assert_clean_error(
        &[&core, &p.exe],
        "corrupt core: goroutines: allglen 1099511627776 is implausible",
    );
}

/// 2^20 goroutines claimed, the array running past the real ones into
/// whatever follows: read what can be read, say what was skipped.
#[test]
fn huge_goroutine_count() {
    let p = patchable();
    let n = 1u64 << 20;
    let core = p.write(
        "allgs-many",
        &[(p.allgs() + 8, word(n)), (p.allgs() + 16, word(n))],
    );
    assert_partial(
        &[&core, &p.exe],
        "entries of runtime.allgs could not be read",
    );
}

/// A span's special list that points back to itself.
#[test]
fn cyclic_special_list() {
    let p = patchable();
    let a = p.core.analyze().unwrap();
    let span = a
        .heap
        .spans
        .iter()
        .find(|s| !s.specials.is_null())
        .expect("a span with specials (finalizers)");
    let next = p
        .core
        .dwarf
        .struct_layout("runtime.special")
        .and_then(|s| s.offset("next"))
        .expect("runtime.special.next");
    let special = span.specials.0;
    let core = p.write("cyclic-specials", &[(special + next, word(special))]);
    assert_partial(&[&core, &p.exe], "span special lists are cyclic");
}
