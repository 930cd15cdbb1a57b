//! How gorefs talks to the person at the terminal: warnings and errors on
//! stderr (coloured only on a terminal and when `NO_COLOR` is unset),
//! progress bars for long phases (only on a terminal), and `--quiet`.

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gocore::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: OnceLock<bool> = OnceLock::new();

/// Set once, from `--quiet`, before anything is printed.
pub fn set_quiet(quiet: bool) {
    let _ = QUIET.set(quiet);
}

fn quiet() -> bool {
    QUIET.get().copied().unwrap_or(false)
}

/// Whether `GOREFS_TIMINGS` asks for phase times and memory figures.
fn timings() -> bool {
    static TIMINGS: OnceLock<bool> = OnceLock::new();
    *TIMINGS.get_or_init(|| std::env::var_os("GOREFS_TIMINGS").is_some())
}

/// When the process started, for the `at … s` of timing lines; set by
/// [`start_clock`] first thing in `main`.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Starts the clock that timing lines measure from.
pub fn start_clock() {
    let _ = STARTED.get_or_init(Instant::now);
}

/// With `GOREFS_TIMINGS`, one line of figures for benchmarks.
pub fn timing_note(note: impl std::fmt::Display) {
    if timings() {
        eprintln!("gorefs: timing: {note}; {}", memory_figures());
    }
}

/// Colour on stderr: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(code: &str, text: &str) -> String {
    if colour() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// `gorefs: warning: …`, unless `--quiet`.
pub fn warn(msg: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("gorefs: {} {msg}", paint("33", "warning:"));
    }
}

/// A note about what gorefs did (`using the last core`), unless `--quiet`.
pub fn note(msg: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("gorefs: {msg}");
    }
}

/// The one line an error prints.
pub fn error_line(msg: &str) -> String {
    format!("gorefs: {} {msg}", paint("31", "error:"))
}

/// Progress of an analysis drawn as one bar on stderr; hidden when stderr is
/// not a terminal or with `--quiet`. With `GOREFS_TIMINGS` set, each phase's
/// wall time is printed when it ends (for benchmarks).
pub struct Bar(ProgressBar, Option<Mutex<Option<(&'static str, Instant)>>>);

impl Bar {
    pub fn new() -> Bar {
        let target = if quiet() || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar, timings().then(|| Mutex::new(None)))
    }

    /// Print the phase that just ended, when timing.
    fn lap(&self, next: Option<&'static str>) {
        let Some(t) = &self.1 else { return };
        let Ok(mut cur) = t.lock() else { return };
        if let Some((name, start)) = cur.take() {
            eprintln!(
                "gorefs: timing: {name}: {:.3} s, {}",
                start.elapsed().as_secs_f64(),
                memory_figures()
            );
        }
        *cur = next.map(|n| (n, Instant::now()));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.lap(None);
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn phase(&self, name: &'static str, total: Option<u64>) {
        self.lap(Some(name));
        let style = match total {
            Some(n) => {
                self.0.set_length(n);
                ProgressStyle::with_template(
                    "{spinner} {msg:<28} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {elapsed})",
                )
            }
            None => ProgressStyle::with_template("{spinner} {msg:<28} {elapsed}"),
        };
        if let Ok(style) = style {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_position(0);
        self.0.set_message(name);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// The CPU time (user and system) of all of gorefs's threads so far: with
/// the wall time, how well a phase keeps both CPUs busy.
#[cfg(unix)]
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(not(unix))]
fn cpu_seconds() -> f64 {
    0.0
}

/// The heap peak so far (what gorefs allocated, the mapped core and binary
/// excluded), `VmHWM` (Linux), and the resident anonymous memory and file
/// pages (the core's) now, with the wall and CPU time so far, for
/// `GOREFS_TIMINGS`.
fn memory_figures() -> String {
    let at = STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64());
    let heap = format!(
        "at {at:.3} s, cpu {:.3} s, heap {} kB, peak so far {} kB",
        cpu_seconds(),
        crate::alloc::held_bytes() / 1024,
        crate::alloc::peak_bytes() / 1024
    );
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return heap;
    };
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.trim_start_matches(name).trim().to_string())
    };
    match (field("VmHWM:"), field("RssAnon:"), field("RssFile:")) {
        (Some(hwm), Some(anon), Some(file)) => {
            format!("{heap}, peak RSS so far {hwm} (now: {anon} anonymous, {file} file)")
        }
        _ => heap,
    }
}
