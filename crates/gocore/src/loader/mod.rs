//! The loader: opens a core dump and its Go executable (memory-mapped, or
//! decompressed when `.zst`), checks that they belong together, and exposes
//! the process's address space as a [`gotypes::Memory`].
//!
//! It owns everything about files and ELF: core notes (threads, auxv,
//! mapped files), executable sections, symbols, build ids and Go build info.
//! It knows nothing about the Go runtime beyond the build info.

mod buildinfo;
mod bytes;
mod core_file;
mod elf;
mod exe;
mod image;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use buildinfo::{BuildInfo, GoVersion, NEWEST_SUPPORTED_MINOR, OLDEST_SUPPORTED_MINOR};
pub use bytes::Bytes;
pub use core_file::{CoreFile, FileMapping, Thread, AT_ENTRY, AT_EXECFN, AT_PHDR, NUM_REGS};
pub use elf::{Perms, Segment};
pub use exe::{Exe, Section, Symbol, SymbolKind};
pub use image::{Image, Mapping, Source};

use gotypes::Addr;

/// Why a core or executable could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: is a directory, not a file", path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: cannot decompress zstd data: {detail}", path.display())]
    Zstd { path: PathBuf, detail: String },
    #[error("{}: not {expected} (it is {actual})", path.display())]
    WrongKind {
        path: PathBuf,
        expected: &'static str,
        actual: String,
    },
    #[error("{}: unsupported file: {detail}; gorefs reads linux/amd64 cores and binaries", path.display())]
    UnsupportedArch { path: PathBuf, detail: String },
    #[error("{}: malformed ELF file: {detail}", path.display())]
    Malformed { path: PathBuf, detail: String },
    #[error("{}: not a Go binary (it has no .go.buildinfo section)", path.display())]
    NotAGoBinary { path: PathBuf },
    #[error("{}: unreadable Go build info: {detail}", path.display())]
    BadBuildInfo { path: PathBuf, detail: String },
    #[error(
        "Go version {version} is not supported (gorefs supports go1.{OLDEST_SUPPORTED_MINOR} to go1.{NEWEST_SUPPORTED_MINOR})"
    )]
    UnsupportedGoVersion { version: String },
    #[error("{detail}")]
    NoExecutable { detail: String },
    #[error("{} is not a debug file of {}: their build ids differ", debug.display(), exe.display())]
    DebugFileMismatch { debug: PathBuf, exe: PathBuf },
    #[error("{} is not the executable that produced {}: {detail}", exe.display(), core.display())]
    BinaryMismatch {
        core: PathBuf,
        exe: PathBuf,
        detail: String,
    },
}

/// A core and its executable, checked against each other.
pub struct Loaded {
    pub core: CoreFile,
    pub exe: Exe,
    /// The address space: core memory over the relocated executable.
    pub image: Image,
    /// Run-time address minus link-time address (0 unless PIE).
    pub bias: u64,
    /// Problems that did not stop the load (truncated core, unverifiable binary).
    pub warnings: Vec<String>,
    /// A separate file with the DWARF and symbols the executable lacks
    /// (`--debug-file`).
    pub debug: Option<Exe>,
}

impl Loaded {
    /// Open `core_path` and its executable: `exe_path`, or the file the core
    /// says was executed. Does not check the Go version: callers that model
    /// the runtime call `exe.build_info.check_supported()`.
    pub fn open(core_path: &Path, exe_path: Option<&Path>) -> Result<Loaded, LoadError> {
        let core = CoreFile::parse(core_path, Bytes::open(core_path)?)?;
        let exe_path = match exe_path {
            Some(p) => p.to_path_buf(),
            None => executable_named_by(&core)?,
        };
        let exe = Exe::open(&exe_path)?;
        Loaded::from_parts(core, exe)
    }

    /// Check an already parsed core and executable against each other and
    /// build the address space (what [`Loaded::open`] does after reading
    /// the files; fuzzers and tests use it on in-memory bytes).
    pub fn from_parts(core: CoreFile, exe: Exe) -> Result<Loaded, LoadError> {
        let bias = pie_bias(&core, &exe)?;
        let mut warnings = Vec::new();
        warnings.extend(verify_match(&core, &exe, bias)?);
        let (n, bytes) = core.truncation();
        if n > 0 {
            warnings.push(format!(
                "core is truncated: {n} of {} segments ({}) missing; their memory reads as unavailable",
                core.segments.len(),
                human_bytes(bytes)
            ));
        }
        let image = Image::build(&core, &exe, bias);
        Ok(Loaded {
            core,
            exe,
            image,
            bias,
            warnings,
            debug: None,
        })
    }

    /// [`Loaded::open`], taking DWARF and symbols from `debug_file` when
    /// given (a stripped executable's separate debug file).
    pub fn open_with_debug(
        core_path: &Path,
        exe_path: Option<&Path>,
        debug_file: Option<&Path>,
    ) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::open(core_path, exe_path)?;
        if let Some(d) = debug_file {
            loaded.debug = Some(Exe::open_debug_file(d, &loaded.exe)?);
        }
        Ok(loaded)
    }

    /// Where DWARF and symbols come from: the debug file, else the executable.
    pub fn debug_info(&self) -> &Exe {
        self.debug.as_ref().unwrap_or(&self.exe)
    }

    /// The run-time address of the executable's symbol `name`.
    pub fn symbol_addr(&self, name: &str) -> Option<Addr> {
        self.debug_info().symbol(name).map(|s| s.addr + self.bias)
    }
}

/// The executable path recorded in the core: the `NT_FILE` mapping holding
/// the entry point. This is the only file gorefs opens on the core's word,
/// so it must be an absolute path to a regular file (not a device, FIFO or
/// directory, nor a path relative to gorefs' own working directory); it is
/// then only parsed as an ELF executable and checked against the core.
fn executable_named_by(core: &CoreFile) -> Result<PathBuf, LoadError> {
    let named = core
        .auxv_value(AT_ENTRY)
        .and_then(|entry| core.file_at(Addr(entry)))
        .map(|f| f.path.clone());
    let Some(named) = named else {
        return Err(LoadError::NoExecutable {
            detail: format!(
                "no executable given and {} does not name one; pass the binary explicitly",
                core.path.display()
            ),
        });
    };
    // The kernel marks files deleted after they were mapped.
    let path = PathBuf::from(named.strip_suffix(" (deleted)").unwrap_or(&named));
    if !path.is_absolute() {
        return Err(LoadError::NoExecutable {
            detail: format!(
                "no executable given and {} names a relative path {}; pass the binary explicitly",
                core.path.display(),
                path.display()
            ),
        });
    }
    if path.is_file() {
        Ok(path)
    } else if path.exists() {
        Err(LoadError::NoExecutable {
            detail: format!(
                "no executable given and {} (named by {}) is not a regular file; pass the binary explicitly",
                path.display(),
                core.path.display()
            ),
        })
    } else {
        Err(LoadError::NoExecutable {
            detail: format!(
                "no executable given and {} (named by {}) does not exist; pass the binary explicitly",
                path.display(),
                core.path.display()
            ),
        })
    }
}

/// `AT_ENTRY − e_entry` for a PIE; for a fixed-address executable the entry
/// points must agree, which is already a cheap mismatch check.
fn pie_bias(core: &CoreFile, exe: &Exe) -> Result<u64, LoadError> {
    let mismatch = |detail: String| LoadError::BinaryMismatch {
        core: core.path.clone(),
        exe: exe.path.clone(),
        detail,
    };
    let at_entry = core.auxv_value(AT_ENTRY);
    if !exe.is_pie {
        return match at_entry {
            Some(e) if e != exe.entry => Err(mismatch(format!(
                "the core's entry point is {e:#x}, the executable's is {:#x}",
                exe.entry
            ))),
            _ => Ok(0),
        };
    }
    let Some(at_entry) = at_entry else {
        return Err(LoadError::Malformed {
            path: core.path.clone(),
            detail: "no AT_ENTRY in NT_AUXV, so the PIE load address is unknown".into(),
        });
    };
    let bias = at_entry.wrapping_sub(exe.entry);
    if !bias.is_multiple_of(4096) {
        return Err(mismatch(format!(
            "the core's entry point {at_entry:#x} is not a page-aligned relocation of the executable's {:#x}",
            exe.entry
        )));
    }
    Ok(bias)
}

/// Compare identifying bytes the core holds with the executable's: the Go
/// build id and GNU build id notes (in the first page of the text segment,
/// which kernel cores dump), else `.go.buildinfo` (in the dumped data
/// segment). A difference is an error; having nothing to compare is a warning.
fn verify_match(core: &CoreFile, exe: &Exe, bias: u64) -> Result<Option<String>, LoadError> {
    const CHECKS: [(&str, &str); 3] = [
        (".note.go.buildid", "Go build ID"),
        (".note.gnu.build-id", "GNU build ID"),
        (".go.buildinfo", "Go build info"),
    ];
    for (name, what) in CHECKS {
        let Some(sec) = exe.section(name) else {
            continue;
        };
        let Some((off, size)) = sec.file_range.filter(|_| !sec.compressed) else {
            continue;
        };
        let exe_bytes = usize::try_from(off)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, n)| exe.data().get(o..o.checked_add(n)?));
        let (Some(exe_bytes), Some(core_bytes)) =
            (exe_bytes, core.dumped_bytes(sec.addr + bias, size))
        else {
            continue;
        };
        if exe_bytes == core_bytes {
            return Ok(None);
        }
        return Err(LoadError::BinaryMismatch {
            core: core.path.clone(),
            exe: exe.path.clone(),
            detail: format!(
                "{what} differs: the core has {}, the executable has {}",
                describe_id(name, core_bytes, &core.path),
                describe_id(name, exe_bytes, &exe.path)
            ),
        });
    }
    Ok(Some(format!(
        "could not check that {} is the executable of {}: the core holds none of its build IDs or build info",
        exe.path.display(),
        core.path.display()
    )))
}

/// A short human form of a build-id note or build-info blob.
fn describe_id(section: &str, bytes: &[u8], path: &Path) -> String {
    let quoted = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
    match section {
        ".note.go.buildid" => exe::note_desc(bytes, b"Go", 4).map_or_else(|| quoted(bytes), quoted),
        ".note.gnu.build-id" => exe::note_desc(bytes, b"GNU", 3)
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_else(|| "an unreadable note".into()),
        _ => match BuildInfo::parse(path, bytes) {
            Ok(bi) if bi.main_path.is_empty() => bi.go_version,
            Ok(bi) => format!("{} ({})", bi.go_version, bi.main_path),
            Err(_) => "unreadable build info".into(),
        },
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}
