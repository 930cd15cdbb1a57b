//! Physical stack unwinding with the pclntab (amd64) and stack liveness: which
//! words of each frame the garbage collector treats as roots.
//!
//! Unwinding follows runtime/traceback.go (`unwinder.resolveInternal`,
//! `unwinder.next`); liveness follows runtime/stkframe.go (`getStackMap`) and
//! runtime/mgcmark.go (`scanframeworker`). Where a frame is stopped at an
//! arbitrary instruction (the innermost frame of a thread, the function
//! interrupted by `runtime.asyncPreempt`), its words are reported as
//! conservative roots, as the GC does for asynchronously preempted frames.
//!
//! This module knows frames and stacks; which goroutine starts where is
//! decided in [`crate::goroutines`].

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use gotypes::{Addr, MemError, Memory};

use crate::pclntab::{
    Func, Pclntab, ARGS_SIZE_UNKNOWN, FUNCDATA_ARGS_POINTER_MAPS, FUNCDATA_LOCALS_POINTER_MAPS,
    FUNCDATA_STACK_OBJECTS, PCDATA_STACK_MAP_INDEX,
};

const PTR: u64 = 8;

/// Frames per stack before the walk is declared runaway (Go's default maximum
/// stack is 1 GB; a minimal frame is 8 bytes, but real recursion this deep
/// means corrupt data).
pub const MAX_FRAMES: usize = 100_000;

/// Largest goroutine stack accepted: the runtime's `maxstacksize` on 64-bit
/// systems is 1e9 bytes (a bigger stack is a fatal "stack overflow"), so
/// wider bounds are corrupt and would make the walk and its conservative
/// scans unbounded.
pub const MAX_STACK_BYTES: u64 = 1 << 30;

/// Bound on the bitmap size (in words) of one frame's stack map.
const MAX_MAP_BITS: i32 = 1 << 24;
/// Bound on the number of stack object records of one function.
const MAX_STACK_OBJECTS: u64 = 1 << 16;

/// Registers of one thread (an `NT_PRSTATUS` note, or a signal context).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadRegs {
    /// Kernel thread id (`pr_pid`), matched against `m.procid`.
    pub pid: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub fs_base: u64,
    /// General registers in DWARF x86-64 numbering (0 rax, 1 rdx, 2 rcx, 3 rbx,
    /// 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8–15 r8–r15), so that `DW_OP_regN` indexes it.
    pub gp: [u64; 16],
}

/// DWARF register number → position in `user_regs_struct` (`NT_PRSTATUS`
/// `pr_reg`: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
/// orig_rax rip cs eflags rsp ss fs_base ...).
const USER_REGS_INDEX: [usize; 16] = [10, 12, 11, 5, 13, 14, 4, 19, 9, 8, 7, 6, 3, 2, 1, 0];
/// DWARF register number → position in the `mcontext` gregs array
/// (r8..r15 rdi rsi rbp rbx rdx rax rcx rsp rip; runtime/defs_linux_amd64.go).
const MCONTEXT_INDEX: [usize; 16] = [13, 12, 14, 11, 9, 8, 10, 15, 0, 1, 2, 3, 4, 5, 6, 7];
/// Offset of `uc_mcontext` in the amd64 kernel `ucontext`.
const UCONTEXT_MCONTEXT: u64 = 40;

impl ThreadRegs {
    /// From the 27-word amd64 `user_regs_struct` of an `NT_PRSTATUS` note.
    pub fn from_user_regs(pid: u64, regs: &[u64; 27]) -> ThreadRegs {
        let gp = USER_REGS_INDEX.map(|i| regs[i]);
        ThreadRegs {
            pid,
            rip: regs[16],
            rsp: regs[19],
            rbp: regs[4],
            fs_base: regs[21],
            gp,
        }
    }

    /// The interrupted context saved by the kernel in the signal frame whose
    /// `ucontext` starts at `uc`.
    pub fn from_ucontext(mem: &dyn Memory, pid: u64, uc: Addr) -> Result<ThreadRegs, MemError> {
        let mut raw = [0u8; 17 * 8];
        mem.read(uc + UCONTEXT_MCONTEXT, &mut raw)?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let gp = MCONTEXT_INDEX.map(word);
        Ok(ThreadRegs {
            pid,
            rip: word(16),
            rsp: word(15),
            rbp: word(10),
            fs_base: 0,
            gp,
        })
    }
}

/// One physical frame (amd64 layout: `fp` is the caller's SP, the return
/// address is at `fp - 8`; `fp` equals the DWARF CFA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub pc: Addr,
    pub sp: Addr,
    pub fp: Addr,
    /// Top of the locals (below the saved frame pointer).
    pub varp: Addr,
    /// Start of the incoming argument spill area.
    pub argp: Addr,
    /// PC at which execution continues (0: the frame is dead after a
    /// `sigpanic`); liveness is looked up at `continpc - 1`.
    pub continpc: Addr,
    pub func: Func,
    /// `pc` is where execution stopped, not a return address: the innermost
    /// frame of a trap and the caller of an injected call (`sigpanic`,
    /// `asyncPreempt`). Symbolize `pc` itself rather than `pc - 1`.
    pub trap: bool,
    /// Stack maps do not describe this frame; scan it conservatively.
    pub conservative: bool,
    /// Top of the stack the frame is on: arguments and stack objects lie
    /// below it.
    pub stack_hi: Addr,
}

impl Frame {
    /// The PC to use for names, files and lines (runtime `unwinder.symPC`).
    pub fn sym_pc(&self) -> Addr {
        if !self.trap && self.pc > self.func.entry {
            self.pc - 1
        } else {
            self.pc
        }
    }
}

/// Where an unwind starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwindStart {
    pub pc: Addr,
    pub sp: Addr,
    /// The PC/SP come from a trap (thread registers or a signal context) rather
    /// than from a saved `gobuf`: the innermost frame is at an arbitrary
    /// instruction, so it is symbolized at `pc` and scanned conservatively.
    pub trap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UnwindError {
    #[error(transparent)]
    Mem(#[from] MemError),
    #[error("pc {pc} is not in any Go function")]
    UnknownPc { pc: Addr },
    #[error("unexpected return pc {pc} called from {caller}")]
    BadReturnPc { pc: Addr, caller: String },
    #[error("sp {sp} is outside the stack [{lo}, {hi})")]
    OutsideStack { sp: Addr, lo: Addr, hi: Addr },
    #[error("no frame size for {func} at pc {pc}")]
    NoSpDelta { func: String, pc: Addr },
    #[error("unexpected SPWRITE function {func} (not innermost)")]
    SpWrite { func: String },
    #[error("more than {MAX_FRAMES} frames")]
    TooDeep,
    #[error("implausible stack bounds [{lo}, {hi})")]
    BadStack { lo: Addr, hi: Addr },
    #[error("more than {MAX_TOTAL_FRAMES} frames in all stacks")]
    TooManyFrames,
}

#[derive(Debug, thiserror::Error)]
pub enum LivenessError {
    #[error(transparent)]
    Mem(#[from] MemError),
    #[error("{func}: stack map index {index} out of range (n = {n}) at pc {pc}")]
    BadStackMapIndex {
        func: String,
        index: i32,
        n: i32,
        pc: Addr,
    },
    #[error("{func}: corrupt {what}")]
    Corrupt { func: String, what: &'static str },
}

/// Why a stack word is a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A live pointer local (locals bitmap).
    Local,
    /// A live pointer argument or result (args bitmap).
    Arg,
    /// A pointer word of a stack object (an address-taken local); the object
    /// is live only if a live pointer points into it. Index into
    /// [`StackRoots::objects`].
    StackObject { object: u32 },
    /// A word of a conservatively scanned frame: a root only if it happens to
    /// hold a heap pointer.
    Conservative,
    /// `g.sched.ctxt` (the closure context register of a parked goroutine).
    SchedCtxt,
    /// `_defer.fn` of a pending defer.
    DeferFn,
    /// `_defer.link` of a pending defer.
    DeferLink,
    /// The word pointing to a heap-allocated `_defer` record (`g._defer` or the
    /// previous record's `link`).
    DeferRecord,
    /// `g._panic` (a stack-allocated panic record).
    Panic,
}

/// A word holding a (possible) pointer; the caller reads its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackSlot {
    pub addr: Addr,
    pub kind: SlotKind,
    /// Index of the frame in the goroutine's frame list; `None` for words in
    /// the `g` or in defer records.
    pub frame: Option<u32>,
    /// `addr - frame.fp` (the DWARF CFA-relative offset), 0 without a frame.
    pub frame_offset: i64,
}

/// A stack object: an address-taken local with its own pointer mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackObject {
    pub base: Addr,
    pub size: u64,
    pub frame: u32,
    /// `base - frame.fp`.
    pub frame_offset: i64,
    /// Its pointer words: a range of [`StackRoots::slots`].
    pub slots: Range<u32>,
    /// False when the record's mask was a GC program (Go ≤1.23, huge objects):
    /// every word is then listed.
    pub precise: bool,
}

/// A register that may hold a pointer (conservative root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRoot {
    /// DWARF x86-64 register number.
    pub reg: u16,
    pub value: u64,
}

/// The roots of one goroutine's stack.
#[derive(Debug, Clone, Default)]
pub struct StackRoots {
    pub slots: Vec<StackSlot>,
    pub objects: Vec<StackObject>,
    pub registers: Vec<RegisterRoot>,
    /// Frames whose maps could not be read (the frame is then scanned conservatively).
    pub errors: Vec<String>,
}

/// Runtime functions the unwinder must recognise (by name: `abi.FuncID`
/// numbers shift between releases).
#[derive(Debug, Clone, Copy, Default)]
struct KnownFuncs {
    sigtramp: Option<u32>,
    sigpanic: Option<u32>,
    async_preempt: Option<u32>,
    debug_call: Option<u32>,
    make_func_stub: Option<u32>,
    method_value_call: Option<u32>,
}

/// Unwinds stacks and computes frame liveness for one module.
pub struct Unwinder<'p> {
    pcln: &'p Pclntab,
    known: KnownFuncs,
    /// Frames and conservatively scanned bytes left for all the walks of
    /// this unwinder (one process): goroutines of a corrupt core may share
    /// one huge stack, so per-stack bounds alone do not bound the work.
    frames_left: AtomicU64,
    scan_left: AtomicU64,
}

/// Frames walked over all goroutines (a real process has a few per
/// goroutine; 2^26 is a million goroutines 64 frames deep).
const MAX_TOTAL_FRAMES: u64 = 1 << 26;
/// Bytes scanned conservatively over all goroutines.
const MAX_TOTAL_SCAN_BYTES: u64 = 1 << 33;

/// Take `n` from `budget`; false if there is not that much left.
fn take(budget: &AtomicU64, n: u64) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(n)
        })
        .is_ok()
}

fn is(f: &Func, known: Option<u32>) -> bool {
    known == Some(f.index)
}

impl<'p> Unwinder<'p> {
    pub fn new(pcln: &'p Pclntab) -> Self {
        let idx = |n: &str| pcln.find_by_name(n).map(|f| f.index);
        let known = KnownFuncs {
            sigtramp: idx("runtime.sigtramp"),
            sigpanic: idx("runtime.sigpanic"),
            async_preempt: idx("runtime.asyncPreempt"),
            debug_call: idx("runtime.debugCallV2"),
            make_func_stub: idx("reflect.makeFuncStub"),
            method_value_call: idx("reflect.methodValueCall"),
        };
        Unwinder {
            pcln,
            known,
            frames_left: AtomicU64::new(MAX_TOTAL_FRAMES),
            scan_left: AtomicU64::new(MAX_TOTAL_SCAN_BYTES),
        }
    }

    pub fn pclntab(&self) -> &'p Pclntab {
        self.pcln
    }

    fn name(&self, f: &Func) -> String {
        self.pcln.func_name(f).to_owned()
    }

    pub fn is_sigtramp(&self, f: &Func) -> bool {
        is(f, self.known.sigtramp)
    }

    /// `asyncPreempt` and `debugCallV2`: their frames hold the registers of the
    /// function they interrupted.
    fn is_register_saver(&self, f: &Func) -> bool {
        is(f, self.known.async_preempt) || is(f, self.known.debug_call)
    }

    /// Calls injected by a signal handler: the caller's PC is not a return address.
    fn is_injected(&self, f: &Func) -> bool {
        self.is_register_saver(f) || is(f, self.known.sigpanic)
    }

    /// Walk the stack `[lo, hi)` from `start`, appending frames to `out`.
    /// Frames found before an error stay in `out`. Stops after a top frame
    /// (`runtime.goexit`, `runtime.sigtramp`, `runtime.mstart`, ...).
    pub fn unwind(
        &self,
        mem: &dyn Memory,
        start: UnwindStart,
        lo: Addr,
        hi: Addr,
        out: &mut Vec<Frame>,
    ) -> Result<(), UnwindError> {
        let mut pc = start.pc;
        let mut sp = start.sp;
        let mut trap = start.trap;
        let mut conservative = start.trap;
        let mut callee: Option<Func> = None;
        if hi <= lo || hi.0 - lo.0 > MAX_STACK_BYTES {
            return Err(UnwindError::BadStack { lo, hi });
        }
        for depth in 0..MAX_FRAMES {
            if !take(&self.frames_left, 1) {
                return Err(UnwindError::TooManyFrames);
            }
            if sp < lo || sp >= hi {
                return Err(UnwindError::OutsideStack { sp, lo, hi });
            }
            let Some(f) = self.pcln.find_func(pc) else {
                return Err(match callee {
                    None => UnwindError::UnknownPc { pc },
                    Some(c) => UnwindError::BadReturnPc {
                        pc,
                        caller: self.name(&c),
                    },
                });
            };
            let delta = self
                .pcln
                .spdelta(&f, pc)
                .and_then(|d| u64::try_from(d).ok())
                .ok_or_else(|| UnwindError::NoSpDelta {
                    func: self.name(&f),
                    pc,
                })?;
            let fp = sp
                .checked_add(delta + PTR)
                .filter(|&fp| fp <= hi)
                .ok_or(UnwindError::OutsideStack { sp, lo, hi })?;
            let mut varp = fp - PTR;
            if varp > sp {
                varp = varp - PTR;
            }
            let continpc = match callee {
                Some(c) if is(&c, self.known.sigpanic) => {
                    if f.deferreturn != 0 {
                        f.entry + u64::from(f.deferreturn) + 1
                    } else {
                        Addr::NULL
                    }
                }
                _ => pc,
            };
            let saver = self.is_register_saver(&f);
            out.push(Frame {
                pc,
                sp,
                fp,
                varp,
                argp: fp,
                continpc,
                func: f,
                trap,
                conservative: conservative || saver,
                stack_hi: hi,
            });
            if f.is_top_frame() {
                return Ok(());
            }
            if f.is_spwrite() && depth > 0 {
                return Err(UnwindError::SpWrite {
                    func: self.name(&f),
                });
            }
            // fp > sp, so every step moves up the stack and the walk ends
            // within [lo, hi) even on corrupt data.
            let lr = Addr(mem.read_u64(fp - PTR)?);
            trap = self.is_injected(&f);
            conservative = saver;
            callee = Some(f);
            pc = lr;
            sp = fp;
        }
        Err(UnwindError::TooDeep)
    }

    /// Add the roots of `frames[index]` to `roots` (runtime `scanframeworker`).
    /// `buf` is scratch space reused across frames.
    pub fn frame_roots(
        &self,
        mem: &dyn Memory,
        frame: &Frame,
        index: u32,
        roots: &mut StackRoots,
        buf: &mut Vec<u8>,
    ) {
        let f = &frame.func;
        let reflect = is(f, self.known.make_func_stub) || is(f, self.known.method_value_call);
        if frame.conservative || reflect {
            // The GC scans [sp, varp) and the argument area; for reflect stubs
            // (whose argument maps come from a runtime reflectMethodValue) the
            // whole frame is scanned instead of reproducing that logic.
            let end = if reflect { frame.fp } else { frame.varp };
            self.scan_words(mem, roots, frame, index, frame.sp, end);
            if !reflect && f.args > 0 {
                let end = frame
                    .argp
                    .0
                    .saturating_add(f.args as u64)
                    .min(frame.stack_hi.0);
                self.scan_words(mem, roots, frame, index, frame.argp, Addr(end));
            }
            return;
        }
        let mark = roots.slots.len();
        if let Err(e) = self.precise_roots(mem, frame, index, roots, buf) {
            roots.slots.truncate(mark);
            roots.objects.retain(|o| o.frame != index);
            roots.errors.push(format!(
                "frame {index} ({} at {}): {e}; scanned conservatively",
                self.pcln.func_name(f),
                frame.pc
            ));
            self.scan_words(mem, roots, frame, index, frame.sp, frame.fp);
        }
    }

    fn precise_roots(
        &self,
        mem: &dyn Memory,
        frame: &Frame,
        index: u32,
        roots: &mut StackRoots,
        buf: &mut Vec<u8>,
    ) -> Result<(), LivenessError> {
        let f = &frame.func;
        if frame.continpc.is_null() {
            return Ok(()); // dead frame (after sigpanic, no deferreturn)
        }
        let mut map_index = -1;
        if frame.continpc != f.entry {
            map_index = self
                .pcln
                .pcdata(f, PCDATA_STACK_MAP_INDEX, frame.continpc - 1)
                .unwrap_or(-1);
        }
        if map_index == -1 {
            map_index = 0; // function prologue: the entry map
        }

        // Locals: bit i covers the word at varp - nbit*8 + 8*i.
        if frame.varp > frame.sp {
            if let Some(sm) = self.pcln.funcdata(f, FUNCDATA_LOCALS_POINTER_MAPS) {
                let nbit = self.stack_map(mem, f, sm, map_index, frame.continpc, buf)?;
                if (nbit as u64) * PTR > frame.varp.0 - frame.sp.0 {
                    return Err(self.corrupt(f, "locals stack map larger than the frame"));
                }
                let base = frame.varp - (nbit as u64) * PTR;
                push_bits(roots, frame, index, base, buf, nbit, SlotKind::Local);
            } else {
                return Err(self.corrupt(f, "missing locals stack map"));
            }
        }

        // Arguments: bit i covers argp + 8*i.
        if f.args != ARGS_SIZE_UNKNOWN && f.args >= PTR as i32 {
            if let Some(sm) = self.pcln.funcdata(f, FUNCDATA_ARGS_POINTER_MAPS) {
                let nbit = self.stack_map(mem, f, sm, map_index, frame.continpc, buf)?;
                // The arguments live in the caller's frame, inside the stack.
                let room = frame.stack_hi.0.saturating_sub(frame.argp.0) / PTR;
                let nbit = nbit.min((f.args as u64 / PTR).min(room) as i32);
                push_bits(roots, frame, index, frame.argp, buf, nbit, SlotKind::Arg);
            } else {
                return Err(self.corrupt(f, "missing args stack map"));
            }
        }

        // Stack objects: {off i32, size i32, ptrdata i32, gcdataoff u32}.
        if let Some(p) = self.pcln.funcdata(f, FUNCDATA_STACK_OBJECTS) {
            let n = mem.read_u64(p)?;
            if n > MAX_STACK_OBJECTS {
                return Err(self.corrupt(f, "stack object count"));
            }
            // Stack objects are disjoint and inside the stack: more bytes
            // of them than the stack holds is corrupt (and would make the
            // slot list unbounded).
            let mut total = 0u64;
            let room = frame.stack_hi.0.saturating_sub(frame.sp.0);
            for i in 0..n {
                let rec = p + PTR + 16 * i;
                let off = mem.read_i32(rec)?;
                let size = mem.read_i32(rec + 4)?;
                let ptrdata = mem.read_i32(rec + 8)?;
                let gcdataoff = mem.read_u32(rec + 12)?;
                if size < 0 {
                    return Err(self.corrupt(f, "stack object size"));
                }
                let base_reg = if off < 0 { frame.varp } else { frame.argp };
                let base = Addr(base_reg.0.wrapping_add(off as i64 as u64));
                if base < frame.sp {
                    continue; // not allocated in the frame yet
                }
                // Objects are locals or arguments: inside the stack.
                total += size as u64;
                if base
                    .0
                    .checked_add(size as u64)
                    .is_none_or(|e| e > frame.stack_hi.0)
                    || total > room
                {
                    return Err(self.corrupt(f, "stack object outside the stack"));
                }
                let object = roots.objects.len() as u32;
                let kind = SlotKind::StackObject { object };
                let first = roots.slots.len() as u32;
                let precise = ptrdata >= 0;
                if precise {
                    let words = (ptrdata as u64).div_ceil(PTR).min(size as u64 / PTR);
                    let mask = self.pcln.tables().rodata + u64::from(gcdataoff);
                    buf.clear();
                    buf.resize(words.div_ceil(8) as usize, 0);
                    mem.read(mask, buf)?;
                    push_bits(roots, frame, index, base, buf, words as i32, kind);
                } else {
                    // ≤1.23: -ptrdata with a GC program; list every word.
                    let words = (ptrdata.unsigned_abs() as u64).min(size as u64) / PTR;
                    push_words(roots, frame, index, base, base + words * PTR, kind);
                }
                roots.objects.push(StackObject {
                    base,
                    size: size as u64,
                    frame: index,
                    frame_offset: base.0.wrapping_sub(frame.fp.0) as i64,
                    slots: first..roots.slots.len() as u32,
                    precise,
                });
            }
        }
        Ok(())
    }

    /// [`push_nonzero_words`] within the process-wide scan budget.
    fn scan_words(
        &self,
        mem: &dyn Memory,
        roots: &mut StackRoots,
        frame: &Frame,
        index: u32,
        from: Addr,
        to: Addr,
    ) {
        if !take(&self.scan_left, to.0.saturating_sub(from.0)) {
            roots.errors.push(format!(
                "frame {index}: more than {MAX_TOTAL_SCAN_BYTES} bytes of stacks to scan conservatively; not scanned"
            ));
            return;
        }
        push_nonzero_words(mem, roots, frame, index, from, to);
    }

    fn corrupt(&self, f: &Func, what: &'static str) -> LivenessError {
        LivenessError::Corrupt {
            func: self.name(f),
            what,
        }
    }

    /// Load entry `index` of the `runtime.stackmap` at `sm` into `buf`;
    /// returns its bit count.
    fn stack_map(
        &self,
        mem: &dyn Memory,
        f: &Func,
        sm: Addr,
        index: i32,
        pc: Addr,
        buf: &mut Vec<u8>,
    ) -> Result<i32, LivenessError> {
        let n = mem.read_i32(sm)?;
        let nbit = mem.read_i32(sm + 4)?;
        if !(0..=MAX_MAP_BITS).contains(&nbit) {
            return Err(self.corrupt(f, "stack map bit count"));
        }
        buf.clear();
        if nbit == 0 {
            return Ok(0);
        }
        if index < 0 || index >= n {
            return Err(LivenessError::BadStackMapIndex {
                func: self.name(f),
                index,
                n,
                pc,
            });
        }
        let bytes = (nbit as u64).div_ceil(8);
        buf.resize(bytes as usize, 0);
        mem.read(sm + 8 + index as u64 * bytes, buf)?;
        Ok(nbit)
    }
}

fn slot(addr: Addr, kind: SlotKind, frame: &Frame, index: u32) -> StackSlot {
    StackSlot {
        addr,
        kind,
        frame: Some(index),
        frame_offset: addr.0.wrapping_sub(frame.fp.0) as i64,
    }
}

/// Bytes read at a time by [`push_nonzero_words`].
const SCAN_CHUNK: u64 = 4096;

/// Every aligned word in `[from, to)` that holds a non-zero value (a
/// conservative root can only be a pointer); unreadable words hold nothing.
fn push_nonzero_words(
    mem: &dyn Memory,
    roots: &mut StackRoots,
    frame: &Frame,
    index: u32,
    from: Addr,
    to: Addr,
) {
    let mut buf = [0u8; SCAN_CHUNK as usize];
    let mut a = from.align_up(PTR);
    while a.0 < to.0 && to.0 - a.0 >= PTR {
        let n = ((to.0 - a.0) / PTR * PTR).min(SCAN_CHUNK - a.0 % SCAN_CHUNK);
        let chunk = &mut buf[..n as usize];
        if mem.read(a, chunk).is_ok() {
            for (i, w) in chunk.chunks_exact(8).enumerate() {
                if w.iter().any(|&b| b != 0) {
                    let at = a + 8 * i as u64;
                    roots
                        .slots
                        .push(slot(at, SlotKind::Conservative, frame, index));
                }
            }
        } else if mem.read_u64(a).is_ok() || mem.read_u64(a + (n - PTR)).is_ok() {
            // A mapping boundary inside the chunk (cores map whole pages,
            // so this is rare): word by word.
            for i in 0..n / PTR {
                let at = a + 8 * i;
                if mem.read_u64(at).is_ok_and(|v| v != 0) {
                    roots
                        .slots
                        .push(slot(at, SlotKind::Conservative, frame, index));
                }
            }
        }
        a = a + n;
    }
}

/// Every aligned word in `[from, to)`.
fn push_words(
    roots: &mut StackRoots,
    frame: &Frame,
    index: u32,
    from: Addr,
    to: Addr,
    kind: SlotKind,
) {
    let mut a = from.align_up(PTR);
    while a.0.saturating_add(PTR) <= to.0 {
        roots.slots.push(slot(a, kind, frame, index));
        a = a + PTR;
    }
}

/// The words at `base + 8*i` for each set bit i < nbit of `bits`.
fn push_bits(
    roots: &mut StackRoots,
    frame: &Frame,
    index: u32,
    base: Addr,
    bits: &[u8],
    nbit: i32,
    kind: SlotKind,
) {
    for i in 0..nbit.max(0) as u64 {
        let set = bits
            .get((i / 8) as usize)
            .is_some_and(|b| b >> (i % 8) & 1 != 0);
        if set {
            roots.slots.push(slot(base + i * PTR, kind, frame, index));
        }
    }
}
