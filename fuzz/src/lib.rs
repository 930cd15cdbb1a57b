//! gorefs' fuzz targets: thin wrappers over `gotypes::fuzzing` and
//! `gocore::fuzzing` (where the target bodies live, so that the crates'
//! tests can replay crashing inputs), plus the fixed files they need.
//! Input formats are described there.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use gocore::loader::{Bytes, Exe};

pub use gocore::fuzzing::{
    parse_patches, push_patch, run_pipeline, tables_to_words, PCLNTAB_HEADER,
};
pub use gotypes::fuzzing::{push_chunk, Chunks, DWARF_SECTIONS, RTYPE_HEADER};
/// The repository's `testdata/`.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The variant whose binary (and, for [`pipeline`], core) the targets use;
/// `GOREFS_FUZZ_VARIANT` overrides it.
pub fn variant() -> String {
    std::env::var("GOREFS_FUZZ_VARIANT").unwrap_or_else(|_| "go1.24.11".into())
}

/// The executable the pipeline target analyses: `heapzoo.zst`, or another
/// file of the variant, such as `heapzoo-stripped.zst` (`GOREFS_FUZZ_EXE`).
pub fn exe_file() -> String {
    std::env::var("GOREFS_FUZZ_EXE").unwrap_or_else(|_| "heapzoo.zst".into())
}

/// Decompress a zstd file.
pub fn unzstd(path: &Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut dec = ruzstd::decoding::StreamingDecoder::new(f).expect("zstd header");
    let mut out = Vec::new();
    dec.read_to_end(&mut out).expect("zstd data");
    out
}

fn exe() -> &'static Exe {
    static EXE: OnceLock<Exe> = OnceLock::new();
    EXE.get_or_init(|| {
        let p = testdata().join("cores").join(variant()).join("heapzoo.zst");
        Exe::parse(&p, Bytes::Owned(unzstd(&p))).expect("test binary parses")
    })
}

/// See `gocore::fuzzing::core_file` (against the binary of [`variant`]).
pub fn core_file(data: &[u8]) {
    gocore::fuzzing::core_file(data, exe());
}

/// See `gotypes::fuzzing::dwarf`.
pub fn dwarf(data: &[u8]) {
    gotypes::fuzzing::dwarf(data);
}

/// See `gotypes::fuzzing::rtype`.
pub fn rtype(data: &[u8]) {
    gotypes::fuzzing::rtype(data);
}

/// See `gocore::fuzzing::pclntab`.
pub fn pclntab(data: &[u8]) {
    gocore::fuzzing::pclntab(data);
}

/// The decompressed core and binary of [`variant`], written once per process
/// to unlinked files under `$GOREFS_FUZZ_DIR` (default `/dev/shm`, else the
/// temp dir) and opened by their `/proc/self/fd/N` paths, so that nothing is
/// left behind when libFuzzer exits.
struct Fixture {
    core_file: std::fs::File,
    core_path: PathBuf,
    exe_path: PathBuf,
    core: Vec<u8>,
    _exe_file: std::fs::File,
}

fn unlinked(dir: &Path, name: &str, bytes: &[u8]) -> (std::fs::File, PathBuf) {
    use std::os::fd::AsRawFd;
    let p = dir.join(format!("gorefs-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).expect("write fixture");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .expect("open fixture");
    std::fs::remove_file(&p).expect("unlink fixture");
    let path = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    (f, path)
}

fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::var_os("GOREFS_FUZZ_DIR")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        let v = testdata().join("cores").join(variant());
        let core = unzstd(&v.join("core.zst"));
        let (core_file, core_path) = unlinked(&dir, "core", &core);
        let (exe_file, exe_path) = unlinked(&dir, "exe", &unzstd(&v.join(exe_file())));
        Mutex::new(Fixture {
            core_file,
            core_path,
            exe_path,
            core,
            _exe_file: exe_file,
        })
    })
}

/// Patch the fixed core, run the whole analysis, restore the core.
pub fn pipeline(data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let fx = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let patches = parse_patches(data, &fx.core);
    for (off, bytes) in &patches {
        fx.core_file
            .write_all_at(bytes, *off as u64)
            .expect("patch");
    }
    run_pipeline(&fx.core_path, &fx.exe_path);
    for (off, bytes) in &patches {
        fx.core_file
            .write_all_at(&fx.core[*off..*off + bytes.len()], *off as u64)
            .expect("restore");
    }
}
