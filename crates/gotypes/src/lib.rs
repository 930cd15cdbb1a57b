//! Go types, from two sources: the binary's DWARF (`dwarf`) and the runtime's
//! type descriptors (`abi.Type`, decoded by `rtype`) found in the binary's
//! read-only data or in the core.
//!
//! This crate knows nothing about ELF or cores: it reads memory through the
//! [`Memory`] trait and DWARF sections through a loader closure, so it can be
//! tested and fuzzed on its own.

pub mod addr;
pub mod dwarf;
#[doc(hidden)]
pub mod fuzzing;
pub mod mem;
pub mod rtype;

pub use addr::Addr;
pub use mem::{MemError, Memory};
