//! gocore: a Go process rebuilt from an ELF core dump and its binary.
//!
//! Data flows `loader` (files → address space) → `layout` + `moduledata`
//! (DWARF → struct offsets, module tables) → `heap` (spans, objects, pointer
//! bits) + `goroutines`/`unwind`/`stacks` (goroutines, frames, stack roots) +
//! `roots` (globals, specials) → `mark` (liveness) → `typing` (a Go type for
//! every object). `process` runs the pipeline; per-version behaviour is
//! chosen once there (see `heap::PtrMetadata`, `gotypes::rtype::AbiFlavor`).

pub mod describe;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod goroutines;
pub mod graph;
pub mod heap;
pub mod index;
pub mod layout;
pub mod loader;
pub mod locate;
pub mod model;
pub mod moduledata;
pub mod pclntab;
pub mod process;
pub mod progress;
pub mod query;
pub mod roots;
pub mod runtime_table;
pub mod sizes;
pub mod stacks;
pub mod typing;
pub mod unwind;

pub use error::Error;
pub use gotypes::Addr;
