//! gorefs' integration tests: the CLI on the committed test cores.
//!
//! Every core under `testdata/cores/<variant>/` comes with the ground truth
//! its program wrote (`truth.json`) and the runtime's own crash traceback;
//! the tests assert gorefs reproduces them exactly, on every Go release.

mod bad_input;
mod graph;
mod heapzoo;
mod outputs;
mod snapshot;
mod stripped;
mod util;
mod ux;
