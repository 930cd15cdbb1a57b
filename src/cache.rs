//! Where indexes live and which core was analysed last.
//!
//! Indexes go to `$GOREFS_CACHE_DIR`, else `$XDG_CACHE_HOME/gorefs`, else
//! `~/.cache/gorefs`, under `index/`, one file per core and binary identity
//! (see `gocore::index`). `last` names the last core analysed, so
//! `gorefs path-to-root 0xc000123` needs no core argument.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gocore::index::{self, Identity};
use gocore::model::HeapModel;
use gocore::process::{Analysis, Core};

pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("GOREFS_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("gorefs"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("gorefs"))
}

/// The heap model of `core`: loaded from its index when one matches,
/// otherwise built (from `analysis` when the caller has one) and indexed.
/// `no_index` neither reads nor writes an index.
pub fn model(
    core: &Core,
    core_path: &Path,
    analysis: Option<&mut Analysis<'_>>,
    no_index: bool,
) -> Result<HeapModel> {
    let exe = core.loaded.exe.path.clone();
    let debug = core.loaded.debug.as_ref().map(|d| d.path.as_path());
    let identity = Identity::of(core_path, &exe, debug).ok();
    let path = cache_dir()
        .zip(identity.as_ref())
        .map(|(d, id)| d.join("index").join(id.file_name()));
    if let (false, Some(path), Some(id)) = (no_index, &path, &identity) {
        if path.exists() {
            match index::load(path, id, &core.dwarf) {
                Ok(Some(m)) => {
                    // A given analysis has said them already.
                    if analysis.is_none() {
                        for w in &m.warnings {
                            crate::ui::warn(w);
                        }
                    }
                    remember_last(core_path, &exe, debug);
                    return Ok(m);
                }
                Ok(None) => {}
                Err(e) => crate::ui::warn(format!("{e}; rebuilding it")),
            }
        }
    }
    let model = match analysis {
        Some(a) => HeapModel::build(a, &crate::ui::Bar::new()),
        None => {
            let a = crate::cli::analyze(core)?;
            HeapModel::from_analysis(a, &crate::ui::Bar::new())
        }
    }
    .context("cannot build the reference graph")?;
    crate::ui::timing_note(format_args!(
        "graph: {} objects, {} references",
        model.graph.n_objects,
        model.graph.succ.edge_count()
    ));
    if let (false, Some(path), Some(id)) = (no_index, &path, &identity) {
        if let Err(e) = index::save(path, id, &model) {
            crate::ui::warn(format!("{e}; continuing without an index"));
        }
    }
    remember_last(core_path, &exe, debug);
    Ok(model)
}

fn last_file() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("last"))
}

/// Record the core (its binary, its debug file) for commands given no core.
fn remember_last(core: &Path, exe: &Path, debug: Option<&Path>) {
    let (Some(file), Ok(core), Ok(exe)) = (
        last_file(),
        std::fs::canonicalize(core),
        std::fs::canonicalize(exe),
    ) else {
        return;
    };
    let debug = debug.and_then(|d| std::fs::canonicalize(d).ok());
    let mut text = format!("{}\n{}\n", core.display(), exe.display());
    if let Some(d) = debug {
        text += &format!("{}\n", d.display());
    }
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(file, text);
}

/// The core analysed last, with the files it was analysed with.
pub struct LastCore {
    pub core: PathBuf,
    pub exe: PathBuf,
    pub debug_file: Option<PathBuf>,
}

pub fn last_core() -> Result<LastCore> {
    let file = last_file().context("no cache directory (set GOREFS_CACHE_DIR or HOME)")?;
    let text = std::fs::read_to_string(&file).ok().unwrap_or_default();
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(core), Some(exe)) if !core.is_empty() => Ok(LastCore {
            core: core.into(),
            exe: exe.into(),
            debug_file: lines.next().filter(|d| !d.is_empty()).map(PathBuf::from),
        }),
        _ => bail!("no core given and none analysed before: pass CORE [EXE] first"),
    }
}
