//! Goroutines: reading `runtime.allgs`, choosing where each goroutine's stack
//! walk starts (runtime/traceback.go `unwinder.initAt`, plus thread registers
//! and signal contexts for running goroutines), and gathering each stack's GC
//! roots (runtime/mgcmark.go `scanstack`).
//!
//! Unwinding failures are recorded per goroutine and never abort the whole
//! read.

use std::collections::HashSet;

use gotypes::{Addr, MemError, Memory};

use crate::unwind::{
    Frame, RegisterRoot, SlotKind, StackRoots, StackSlot, ThreadRegs, UnwindStart, Unwinder,
};

/// More goroutines than this is a corrupt `allglen`.
const MAX_GOROUTINES: u64 = 1 << 26;
/// Bounds for `runtime.waitReasonStrings`.
const MAX_STRINGS: u64 = 4096;
const MAX_STRING_LEN: u64 = 4096;
/// Bound on a goroutine's defer chain.
const MAX_DEFERS: usize = 1 << 20;
/// Nested signal contexts followed for one thread (a signal during a signal).
const MAX_SIGNAL_NESTING: usize = 4;

/// `_Gscan`: OR'ed into the status while the GC scans the stack.
pub const GSCAN: u32 = 0x1000;

/// Byte offsets of the fields read from `runtime.g`, `runtime.m` and
/// `runtime._defer` (from DWARF, or per-version tables for stripped binaries).
#[derive(Debug, Clone, Copy, Default)]
pub struct GLayout {
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub sched_sp: u64,
    pub sched_pc: u64,
    pub sched_ctxt: u64,
    pub syscallsp: u64,
    pub syscallpc: u64,
    /// `atomic.Uint32` (its `value` field is at offset 0).
    pub atomicstatus: u64,
    pub goid: u64,
    /// `uint8`.
    pub waitreason: u64,
    pub m: u64,
    pub parent_goid: u64,
    pub gopc: u64,
    pub startpc: u64,
    pub defer_: u64,
    pub panic_: u64,
    pub m_procid: u64,
    pub m_g0: u64,
    pub m_gsignal: u64,
    /// `_defer.heap` (bool).
    pub defer_heap: u64,
    pub defer_fn: u64,
    pub defer_link: u64,
}

/// `g.atomicstatus` without the scan bit (runtime/runtime2.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GStatus {
    Idle,
    Runnable,
    Running,
    Syscall,
    Waiting,
    Dead,
    Copystack,
    Preempted,
    /// 1.26+: found by the goroutine leak detector; scanned like waiting.
    Leaked,
    /// 1.26+: dead g attached to a cgo extra M.
    DeadExtra,
    Unknown(u32),
}

impl GStatus {
    pub fn from_raw(raw: u32) -> GStatus {
        match raw & !GSCAN {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            6 => GStatus::Dead,
            8 => GStatus::Copystack,
            9 => GStatus::Preempted,
            10 => GStatus::Leaked,
            11 => GStatus::DeadExtra,
            other => GStatus::Unknown(other),
        }
    }

    /// The runtime's name for the status (`gStatusStrings`).
    pub fn name(self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::Dead => "dead",
            GStatus::Copystack => "copystack",
            GStatus::Preempted => "preempted",
            GStatus::Leaked => "leaked",
            GStatus::DeadExtra => "waiting for cgo callback",
            GStatus::Unknown(_) => "???",
        }
    }

    /// Dead and idle goroutines have no stack the GC scans.
    pub fn has_stack(self) -> bool {
        !matches!(self, GStatus::Idle | GStatus::Dead | GStatus::DeadExtra)
    }
}

/// Where a goroutine was started (`g.gopc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedBy {
    pub func: String,
    pub file: String,
    pub line: u32,
    pub pc: Addr,
    pub parent_goid: u64,
}

#[derive(Debug, Clone)]
pub struct Goroutine {
    /// Address of the `runtime.g`.
    pub addr: Addr,
    pub id: u64,
    pub status: GStatus,
    /// The `_Gscan` bit was set.
    pub scanning: bool,
    /// `runtime.waitReasonStrings[g.waitreason]` for waiting (and leaked) goroutines.
    pub wait_reason: Option<String>,
    pub stack_lo: Addr,
    pub stack_hi: Addr,
    /// Physical frames, innermost first.
    pub frames: Vec<Frame>,
    /// Registers of the thread or signal context the walk started from
    /// (running goroutines): conservative roots.
    pub regs: Option<ThreadRegs>,
    pub created_by: Option<CreatedBy>,
    /// Name of the goroutine's start function (`g.startpc`).
    pub start_func: Option<String>,
    /// `runtime.isSystemGoroutine`, by name (see [`is_system_start`]).
    pub is_system: bool,
    pub unwind_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GoroutineError {
    #[error(transparent)]
    Mem(#[from] MemError),
    #[error("allglen {0} is implausible")]
    TooMany(u64),
    #[error("string array of {0} elements is implausible")]
    TooManyStrings(u64),
}

/// Read a Go `[n]string` array (`{ptr, len}` pairs) such as
/// `runtime.waitReasonStrings`. Unreadable elements become `""`.
pub fn read_go_string_array(
    mem: &dyn Memory,
    addr: Addr,
    n: u64,
) -> Result<Vec<String>, GoroutineError> {
    if n > MAX_STRINGS {
        return Err(GoroutineError::TooManyStrings(n));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let ptr = mem.read_ptr(addr + 16 * i)?;
        let len = mem.read_u64(addr + 16 * i + 8)?;
        let s = mem
            .read_vec(ptr, len, MAX_STRING_LEN)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        out.push(s);
    }
    Ok(out)
}

/// `runtime.isSystemGoroutine` by start function name: `runtime.*` except
/// `runtime.main`, `runtime.handleAsyncEvent` and `runtime.corostart`. The
/// finalizer and cleanup goroutines count as system goroutines (the runtime
/// makes them user goroutines only while they run user code, which needs
/// `fingStatus` / `g.runningCleanups`).
pub fn is_system_start(name: &str) -> bool {
    name.starts_with("runtime.")
        && !matches!(
            name,
            "runtime.main" | "runtime.handleAsyncEvent" | "runtime.corostart"
        )
}

/// Stack bounds of the g at `g` (0 if `g` is null).
fn stack_of(mem: &dyn Memory, g: Addr, l: &GLayout) -> Result<(Addr, Addr), MemError> {
    if g.is_null() {
        return Ok((Addr::NULL, Addr::NULL));
    }
    Ok((mem.read_ptr(g + l.stack_lo)?, mem.read_ptr(g + l.stack_hi)?))
}

fn on(sp: u64, (lo, hi): (Addr, Addr)) -> bool {
    lo.0 <= sp && sp < hi.0
}

/// Read every goroutine in `allgs` (the data pointer of `runtime.allgs`, with
/// `allglen` entries) and unwind the live ones. Entries that cannot be read
/// and `g`s listed twice are skipped; the second value counts them.
pub fn read_goroutines(
    mem: &dyn Memory,
    allgs: Addr,
    allglen: u64,
    layout: &GLayout,
    wait_reasons: &[String],
    unwinder: &Unwinder<'_>,
    threads: &[ThreadRegs],
) -> Result<(Vec<Goroutine>, u64), GoroutineError> {
    let mut skipped = 0;
    if allglen > MAX_GOROUTINES {
        return Err(GoroutineError::TooMany(allglen));
    }
    // The count is untrusted: let the vector grow with what is really read.
    let mut out = Vec::with_capacity(allglen.min(1 << 12) as usize);
    let mut seen = HashSet::new();
    for i in 0..allglen {
        let Ok(g) = mem.read_ptr(allgs + 8 * i) else {
            // The rest of the array is past the readable memory.
            skipped += allglen - i;
            break;
        };
        if g.is_null() {
            continue;
        }
        if !seen.insert(g) {
            skipped += 1;
            continue;
        }
        match read_goroutine(mem, g, layout, wait_reasons, unwinder, threads) {
            Ok(gr) => out.push(gr),
            Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn read_goroutine(
    mem: &dyn Memory,
    g: Addr,
    l: &GLayout,
    wait_reasons: &[String],
    unwinder: &Unwinder<'_>,
    threads: &[ThreadRegs],
) -> Result<Goroutine, GoroutineError> {
    let pcln = unwinder.pclntab();
    let raw = mem.read_u32(g + l.atomicstatus)?;
    let status = GStatus::from_raw(raw);
    let (stack_lo, stack_hi) = stack_of(mem, g, l)?;
    let wait_reason = match status {
        GStatus::Waiting | GStatus::Leaked => {
            let wr = mem.read_u8(g + l.waitreason)?;
            (wr != 0)
                .then(|| wait_reasons.get(usize::from(wr)).cloned())
                .flatten()
        }
        _ => None,
    };
    let gopc = mem.read_ptr(g + l.gopc)?;
    let created_by = pcln.find_func(gopc).map(|f| {
        let tracepc = if gopc > f.entry { gopc - 1 } else { gopc };
        let (file, line) = pcln.file_line(&f, tracepc).unwrap_or(("?", 0));
        CreatedBy {
            func: pcln.func_name(&f).to_owned(),
            file: file.to_owned(),
            line,
            pc: gopc,
            parent_goid: mem.read_u64(g + l.parent_goid).unwrap_or(0),
        }
    });
    let start_func = pcln
        .find_func(mem.read_ptr(g + l.startpc)?)
        .map(|f| pcln.func_name(&f).to_owned());
    let is_system = start_func.as_deref().is_some_and(is_system_start);
    let mut gr = Goroutine {
        addr: g,
        id: mem.read_u64(g + l.goid)?,
        status,
        scanning: raw & GSCAN != 0,
        wait_reason,
        stack_lo,
        stack_hi,
        frames: Vec::new(),
        regs: None,
        created_by,
        start_func,
        is_system,
        unwind_error: None,
    };
    if status.has_stack() {
        let r = start_of(mem, g, l, unwinder, threads).and_then(|(start, regs)| {
            gr.regs = regs;
            unwinder
                .unwind(mem, start, stack_lo, stack_hi, &mut gr.frames)
                .map_err(|e| e.to_string())
        });
        gr.unwind_error = r.err();
    }
    Ok(gr)
}

/// Where the goroutine's own stack walk starts, and the registers it was
/// stopped with when they are known.
fn start_of(
    mem: &dyn Memory,
    g: Addr,
    l: &GLayout,
    unwinder: &Unwinder<'_>,
    threads: &[ThreadRegs],
) -> Result<(UnwindStart, Option<ThreadRegs>), String> {
    let rd = |off: u64| mem.read_u64(g + off).map_err(|e| e.to_string());
    let status = GStatus::from_raw(
        mem.read_u32(g + l.atomicstatus)
            .map_err(|e| e.to_string())?,
    );
    let sched = || -> Result<(UnwindStart, Option<ThreadRegs>), String> {
        let (pc, sp) = (rd(l.sched_pc)?, rd(l.sched_sp)?);
        if sp == 0 {
            return Err("no saved context (g.sched.sp is 0)".into());
        }
        let start = UnwindStart {
            pc: Addr(pc),
            sp: Addr(sp),
            trap: false,
        };
        Ok((start, None))
    };
    if status == GStatus::Running {
        return running_start(mem, g, l, unwinder, threads, sched);
    }
    let syscallsp = rd(l.syscallsp)?;
    if syscallsp != 0 {
        let start = UnwindStart {
            pc: Addr(rd(l.syscallpc)?),
            sp: Addr(syscallsp),
            trap: false,
        };
        return Ok((start, None));
    }
    sched()
}

/// A running goroutine starts at the registers of the thread whose id equals
/// `g.m.procid`. If that thread is in a signal handler (on `m.gsignal`'s
/// stack), the signal stack is unwound to `runtime.sigtramp`, whose frame
/// pointer is the kernel `ucontext` with the interrupted registers. If it is
/// on `m.g0`'s stack (systemstack, mcall), the goroutine's part starts at
/// `g.sched`, as the runtime's own unwinder does.
fn running_start(
    mem: &dyn Memory,
    g: Addr,
    l: &GLayout,
    unwinder: &Unwinder<'_>,
    threads: &[ThreadRegs],
    sched: impl Fn() -> Result<(UnwindStart, Option<ThreadRegs>), String>,
) -> Result<(UnwindStart, Option<ThreadRegs>), String> {
    let err = |e: MemError| e.to_string();
    let m = mem.read_ptr(g + l.m).map_err(err)?;
    if m.is_null() {
        return Err("running goroutine has no m".into());
    }
    let procid = mem.read_u64(m + l.m_procid).map_err(err)?;
    let thread = threads
        .iter()
        .find(|t| t.pid == procid)
        .ok_or_else(|| format!("no thread with id {procid} (m {m}) in the core"))?;
    let gstack = stack_of(mem, g, l).map_err(err)?;
    let g0 = stack_of(mem, mem.read_ptr(m + l.m_g0).map_err(err)?, l).map_err(err)?;
    let gsignal = stack_of(mem, mem.read_ptr(m + l.m_gsignal).map_err(err)?, l).map_err(err)?;
    let mut regs = *thread;
    for _ in 0..MAX_SIGNAL_NESTING {
        if on(regs.rsp, gstack) {
            let start = UnwindStart {
                pc: Addr(regs.rip),
                sp: Addr(regs.rsp),
                trap: true,
            };
            return Ok((start, Some(regs)));
        }
        if on(regs.rsp, g0) {
            return sched();
        }
        if !on(regs.rsp, gsignal) {
            return Err(format!(
                "thread {procid} sp {:#x} is on no stack of its m {m}",
                regs.rsp
            ));
        }
        let mut frames = Vec::new();
        let start = UnwindStart {
            pc: Addr(regs.rip),
            sp: Addr(regs.rsp),
            trap: true,
        };
        unwinder
            .unwind(mem, start, gsignal.0, gsignal.1, &mut frames)
            .map_err(|e| format!("signal stack of thread {procid}: {e}"))?;
        let tramp = frames
            .last()
            .filter(|f| unwinder.is_sigtramp(&f.func))
            .ok_or_else(|| format!("signal stack of thread {procid} does not end in sigtramp"))?;
        regs = ThreadRegs::from_ucontext(mem, procid, tramp.fp).map_err(err)?;
    }
    Err(format!(
        "thread {procid}: signal contexts nested too deeply"
    ))
}

/// The GC roots of a goroutine's stack: live slots of every frame, stack
/// objects, the registers it was stopped with, `g.sched.ctxt`, the defer
/// chain and `g._panic` (runtime/mgcmark.go `scanstack`). Dead goroutines
/// have none.
pub fn goroutine_roots(
    mem: &dyn Memory,
    unwinder: &Unwinder<'_>,
    g: &Goroutine,
    l: &GLayout,
) -> StackRoots {
    let mut roots = StackRoots::default();
    if !g.status.has_stack() {
        return roots;
    }
    let mut buf = Vec::new();
    for (i, frame) in g.frames.iter().enumerate() {
        unwinder.frame_roots(mem, frame, i as u32, &mut roots, &mut buf);
    }
    if let Some(regs) = &g.regs {
        roots.registers.extend(
            (0u16..)
                .zip(regs.gp)
                .map(|(reg, value)| RegisterRoot { reg, value }),
        );
    }
    let g_slot = |addr: Addr, kind: SlotKind| StackSlot {
        addr,
        kind,
        frame: None,
        frame_offset: 0,
    };
    let nonzero = |a: Addr| mem.read_u64(a).is_ok_and(|v| v != 0);
    if nonzero(g.addr + l.sched_ctxt) {
        roots
            .slots
            .push(g_slot(g.addr + l.sched_ctxt, SlotKind::SchedCtxt));
    }
    if nonzero(g.addr + l.panic_) {
        roots.slots.push(g_slot(g.addr + l.panic_, SlotKind::Panic));
    }
    let mut holder = g.addr + l.defer_;
    // A corrupt chain may loop: stop at the first record seen twice.
    let mut seen = HashSet::new();
    for _ in 0..MAX_DEFERS {
        let d = match mem.read_ptr(holder) {
            Ok(d) if !seen.insert(d) => {
                roots.errors.push(format!("defer chain: cycle at {d}"));
                return roots;
            }
            Ok(d) if !d.is_null() => d,
            Ok(_) => return roots,
            Err(e) => {
                roots.errors.push(format!("defer chain: {e}"));
                return roots;
            }
        };
        if nonzero(d + l.defer_fn) {
            roots.slots.push(g_slot(d + l.defer_fn, SlotKind::DeferFn));
        }
        if nonzero(d + l.defer_link) {
            roots
                .slots
                .push(g_slot(d + l.defer_link, SlotKind::DeferLink));
        }
        if mem.read_u8(d + l.defer_heap).is_ok_and(|h| h != 0) {
            roots.slots.push(g_slot(holder, SlotKind::DeferRecord));
        }
        holder = d + l.defer_link;
    }
    roots.errors.push("defer chain too long".into());
    roots
}

#[cfg(test)]
mod tests {
    //! Checks the goroutines of the test cores against the runtime's own crash
    //! traceback (`traceback.txt`). Struct offsets come from the per-version
    //! reference tables (offsets-by-version.txt, read from DWARF), so that the
    //! test does not depend on the DWARF reader.

    use super::*;
    use crate::loader::Loaded;
    use crate::pclntab::{LogicalFrame, ModuleTables, Pclntab};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// Run-time address and size of the symbol `name`.
    fn sym(l: &Loaded, name: &str) -> (Addr, u64) {
        let s = l.exe.symbol(name).unwrap();
        (s.addr + l.bias, s.size)
    }

    fn load(dir: &Path) -> Option<Loaded> {
        let pick = |name: &str| {
            [dir.join(format!("{name}.zst")), dir.join(name)]
                .into_iter()
                .find(|p| p.exists())
        };
        Some(Loaded::open(&pick("core")?, Some(&pick("heapzoo")?)).unwrap())
    }

    /// Go minor version (21..27) from `runtime.buildVersion`.
    fn minor(l: &Loaded) -> u32 {
        let (addr, _) = sym(l, "runtime.buildVersion");
        let v = read_go_string_array(&l.image, addr, 1).unwrap().remove(0);
        v.trim_start_matches("go1.")
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Offsets from the reference tables (offsets-by-version.txt, read from DWARF).
    fn layout(minor: u32) -> GLayout {
        let mut l = GLayout {
            stack_lo: 0,
            stack_hi: 8,
            sched_sp: 56,
            sched_pc: 64,
            sched_ctxt: 80,
            panic_: 32,
            defer_: 40,
            m: 48,
            m_g0: 0,
            defer_fn: 24,
            ..GLayout::default()
        };
        let (sys, status, goid, wr, parent) = match minor {
            21 | 22 => (112, 144, 152, 176, 272),
            23 | 24 => (112, 152, 160, 184, 280),
            25 => (104, 144, 152, 176, 272),
            _ => (104, 144, 152, 176, 280),
        };
        (
            l.syscallsp,
            l.syscallpc,
            l.atomicstatus,
            l.goid,
            l.waitreason,
        ) = (sys, sys + 8, status, goid, wr);
        (l.parent_goid, l.gopc, l.startpc) = (parent, parent + 8, parent + 24);
        (l.m_procid, l.m_gsignal) = if minor <= 24 { (72, 80) } else { (64, 72) };
        (l.defer_heap, l.defer_link) = if minor == 21 { (1, 40) } else { (0, 32) };
        l
    }

    fn tables(l: &Loaded, minor: u32) -> ModuleTables {
        let (md, _) = sym(l, "runtime.firstmoduledata");
        let r = |o: u64| l.image.read_u64(md + o).unwrap();
        let (rodata, gofunc) = if minor >= 27 { (336, 344) } else { (312, 320) };
        ModuleTables {
            pc_header: Addr(r(0)),
            funcnametab: Addr(r(8)),
            funcnametab_len: r(16),
            cutab: Addr(r(32)),
            cutab_len: r(40),
            filetab: Addr(r(56)),
            filetab_len: r(64),
            pctab: Addr(r(80)),
            pctab_len: r(88),
            pclntable: Addr(r(104)),
            pclntable_len: r(112),
            ftab: Addr(r(128)),
            ftab_len: r(136),
            minpc: Addr(r(160)),
            maxpc: Addr(r(168)),
            text: Addr(r(176)),
            etext: Addr(r(184)),
            rodata: Addr(r(rodata)),
            gofunc: Addr(r(gofunc)),
        }
    }

    /// A goroutine as printed by the runtime: id, bracketed state, function names.
    struct Printed {
        id: u64,
        state: String,
        funcs: Vec<String>,
    }

    fn parse_traceback(text: &str) -> Vec<Printed> {
        let mut out: Vec<Printed> = Vec::new();
        let mut cur: Option<Printed> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("goroutine ") {
                let id = rest.split(' ').next().unwrap().parse().unwrap();
                let state = &rest[rest.find('[').unwrap() + 1..rest.rfind("]:").unwrap()];
                let state = state.split(", ").next().unwrap().to_owned();
                out.extend(cur.take());
                cur = (id != 0).then(|| Printed {
                    id,
                    state,
                    funcs: Vec::new(),
                });
            } else if line.is_empty() || line.starts_with("created by ") {
                out.extend(cur.take());
            } else if let Some(p) = cur.as_mut() {
                if !line.starts_with('\t') && !line.starts_with("...") {
                    p.funcs.push(line[..line.rfind('(').unwrap()].to_owned());
                }
            }
        }
        out.extend(cur);
        out
    }

    /// The runtime's `funcNameForPrint`: shape-instantiated names print as `[...]`.
    fn print_name(name: &str) -> String {
        let mut out = String::new();
        let mut depth = 0;
        for c in name.chars() {
            match c {
                '[' => {
                    if depth == 0 {
                        out.push_str("[...]");
                    }
                    depth += 1;
                }
                ']' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn variant_dirs() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
        if let Ok(rd) = std::fs::read_dir(&root) {
            dirs.extend(rd.flatten().map(|e| e.path()));
        }
        // Extra core directories (same file names, plain or .zst) for development.
        if let Ok(extra) = std::env::var("GOCORE_TEST_CORES") {
            dirs.extend(
                extra
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from),
            );
        }
        dirs.sort();
        dirs
    }

    fn check_variant(dir: &Path) {
        let Some(l) = load(dir) else {
            eprintln!("{}: no core or binary, skipped", dir.display());
            return;
        };
        let minor = minor(&l);
        let lay = layout(minor);
        let pcln = Pclntab::new(&l.image, tables(&l, minor)).unwrap();
        let unwinder = Unwinder::new(&pcln);
        let (wr_addr, wr_size) = sym(&l, "runtime.waitReasonStrings");
        let reasons = read_go_string_array(&l.image, wr_addr, wr_size / 16).unwrap();
        let allgs = l.image.read_ptr(sym(&l, "runtime.allgs").0).unwrap();
        let allglen = l.image.read_u64(sym(&l, "runtime.allglen").0).unwrap();
        let threads: Vec<ThreadRegs> = (l.core.threads.iter())
            .map(|t| ThreadRegs::from_user_regs(u64::from(t.pid), &t.regs))
            .collect();
        let (gs, _) = read_goroutines(
            &l.image, allgs, allglen, &lay, &reasons, &unwinder, &threads,
        )
        .unwrap();

        let printed = parse_traceback(&std::fs::read_to_string(dir.join("traceback.txt")).unwrap());
        let live: BTreeMap<u64, &Goroutine> = gs
            .iter()
            .filter(|g| g.status.has_stack())
            .map(|g| (g.id, g))
            .collect();
        let ids: Vec<u64> = printed.iter().map(|p| p.id).collect();
        assert_eq!(live.keys().copied().collect::<Vec<_>>(), {
            let mut v = ids.clone();
            v.sort();
            v
        });
        let mut logical: Vec<LogicalFrame<'_>> = Vec::new();
        for p in &printed {
            let g = live[&p.id];
            assert_eq!(
                g.unwind_error,
                None,
                "{}: goroutine {}",
                dir.display(),
                g.id
            );
            let state = g
                .wait_reason
                .clone()
                .unwrap_or_else(|| g.status.name().to_owned());
            // gdb takes its core before the SIGQUIT traceback is printed: a
            // goroutine running then may be runnable by the time of the
            // traceback.
            let gcore = dir.to_string_lossy().ends_with("-gcore");
            let scheduled = |s: &str| s == "running" || s == "runnable";
            let moved = gcore && scheduled(&state) && scheduled(&p.state);
            if !moved {
                assert_eq!(state, p.state, "{}: goroutine {}", dir.display(), g.id);
            }
            // Frames stopped at an arbitrary instruction are scanned conservatively.
            if g.status == GStatus::Running {
                assert!(g.regs.is_some(), "goroutine {}: no registers", g.id);
                assert!(g.frames[0].trap && g.frames[0].conservative);
            }
            for w in g.frames.windows(2) {
                if pcln.func_name(&w[0].func) == "runtime.asyncPreempt" {
                    assert!(w[0].conservative && w[1].conservative && w[1].trap);
                }
            }
            logical.clear();
            for f in &g.frames {
                pcln.logical_frames(&l.image, &f.func, f.sym_pc(), &mut logical);
            }
            let ours: Vec<String> = logical.iter().map(|f| print_name(f.name)).collect();
            // A goroutine that ran on may since have been preempted.
            let theirs: Vec<String> = p
                .funcs
                .iter()
                .skip_while(|f| moved && f.starts_with("runtime.asyncPreempt"))
                .cloned()
                .collect();
            assert_eq!(ours, theirs, "{}: goroutine {}", dir.display(), g.id);
        }

        // The worker's 1 MiB buffer is referenced only from its stack frame.
        let truth: String = std::fs::read_to_string(dir.join("truth.json")).unwrap();
        let at = truth.find("\"worker.local\"").unwrap();
        let hex = &truth[at..];
        let hex = &hex[hex.find("0x").unwrap() + 2..];
        let hex = &hex[..hex.find('"').unwrap()];
        let local = u64::from_str_radix(hex, 16).unwrap();
        let worker = printed
            .iter()
            .find(|p| p.funcs.iter().any(|f| f == "main.worker"))
            .unwrap();
        let roots = goroutine_roots(&l.image, &unwinder, live[&worker.id], &lay);
        assert!(roots.errors.is_empty(), "{:?}", roots.errors);
        assert!(
            roots
                .slots
                .iter()
                .any(|s| l.image.read_u64(s.addr) == Ok(local)),
            "{}: worker.local {local:#x} not among the worker's stack roots",
            dir.display()
        );
        for g in live.values() {
            let roots = goroutine_roots(&l.image, &unwinder, g, &lay);
            assert!(
                roots.errors.is_empty(),
                "goroutine {}: {:?}",
                g.id,
                roots.errors
            );
        }
        eprintln!(
            "{}: {} goroutines match the traceback",
            dir.display(),
            printed.len()
        );
    }

    #[test]
    fn goroutines_match_runtime_traceback() {
        let dirs = variant_dirs();
        if dirs.is_empty() {
            eprintln!("no test cores in testdata/cores: skipped");
        }
        for d in dirs {
            check_variant(&d);
        }
    }

    #[test]
    fn status_decoding() {
        assert_eq!(GStatus::from_raw(0x1004), GStatus::Waiting);
        assert_eq!(GStatus::from_raw(11), GStatus::DeadExtra);
        assert!(!GStatus::from_raw(6).has_stack());
        assert!(is_system_start("runtime.bgsweep"));
        assert!(!is_system_start("runtime.main"));
        assert!(!is_system_start("main.worker"));
    }
}
