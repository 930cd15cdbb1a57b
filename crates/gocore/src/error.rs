//! Errors of the runtime model.

use gotypes::MemError;

/// Why a core could not be analysed. Each message is one line that names the
/// problem; callers print it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Load(#[from] crate::loader::LoadError),
    #[error(transparent)]
    Memory(#[from] MemError),
    #[error(transparent)]
    Dwarf(#[from] gotypes::dwarf::DwarfError),
    #[error(
        "{exe}: the binary has no DWARF debug info (stripped?); pass the unstripped binary, or its debug file with --debug-file"
    )]
    NoDwarf { exe: String },
    #[error("binary without DWARF: {0}")]
    Stripped(String),
    #[error("runtime layout: {0} (is this a supported Go release?)")]
    Layout(String),
    #[error("corrupt core: {0}")]
    Corrupt(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}
