//! Progress of a long analysis, for a user interface to show: which phase
//! runs and how much of it is done. The library only reports; the CLI draws
//! (or does not).

/// Receives progress reports; called from worker threads too.
pub trait Progress: Sync {
    /// A new phase begins, with `total` units of work when known.
    fn phase(&self, name: &'static str, total: Option<u64>);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
}

/// Reports nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}
