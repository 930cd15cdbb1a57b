//! Goroutines and their stack roots, named through DWARF.
//!
//! `goroutines.rs` and `unwind.rs` find goroutines, frames and live slots;
//! this module feeds them layouts from DWARF, reads every goroutine once, and turns live slots into named
//! [`Root`]s (`goroutine 17 main.worker local`) and typed roots for typing.

use gotypes::dwarf::{Function, PieceLoc};
use gotypes::Addr;

use crate::error::Error;
use crate::goroutines::{self, GLayout, Goroutine};
use crate::heap;
use crate::layout::Lookup;
use crate::process::Core;
use crate::roots::{Root, RootKind, Roots};
use crate::typing::TypedRoot;
use crate::unwind::{SlotKind, StackRoots, ThreadRegs, Unwinder};

/// Bound on the roots of all stacks: each is ~48 bytes, and a corrupt core
/// whose goroutines share one stack could otherwise multiply them.
const MAX_STACK_ROOTS: usize = 1 << 27;

pub(crate) fn g_layout(l: &Lookup<'_>) -> Result<GLayout, Error> {
    let g = l.strukt("runtime.g")?;
    let m = l.strukt("runtime.m")?;
    let d = l.strukt("runtime._defer")?;
    Ok(GLayout {
        stack_lo: l.off(g, "stack.lo")?,
        stack_hi: l.off(g, "stack.hi")?,
        sched_sp: l.off(g, "sched.sp")?,
        sched_pc: l.off(g, "sched.pc")?,
        sched_ctxt: l.off(g, "sched.ctxt")?,
        syscallsp: l.off(g, "syscallsp")?,
        syscallpc: l.off(g, "syscallpc")?,
        atomicstatus: l.off(g, "atomicstatus")?,
        goid: l.off(g, "goid")?,
        waitreason: l.off(g, "waitreason")?,
        m: l.off(g, "m")?,
        parent_goid: l.off(g, "parentGoid")?,
        gopc: l.off(g, "gopc")?,
        startpc: l.off(g, "startpc")?,
        defer_: l.off(g, "_defer")?,
        panic_: l.off(g, "_panic")?,
        m_procid: l.off(m, "procid")?,
        m_g0: l.off(m, "g0")?,
        m_gsignal: l.off(m, "gsignal")?,
        defer_heap: l.off(d, "heap")?,
        defer_fn: l.off(d, "fn")?,
        defer_link: l.off(d, "link")?,
    })
}

/// All goroutines of the process, unwound, with their stack roots added to
/// `roots` (named by DWARF variables where possible) and the variables DWARF
/// describes added to `typed`.
pub fn read_all(
    core: &Core,
    l: &Lookup<'_>,
    roots: &mut Roots,
    typed: &mut Vec<TypedRoot>,
) -> Result<Vec<Goroutine>, Error> {
    let mem = core.mem();
    let layout = g_layout(l)?;
    let allgs = l.global("runtime.allgs")?;
    // Its length is bounded by `read_goroutines`, which says so itself.
    let (allgs_ptr, allglen) = heap::runtime_slice(mem, allgs, "runtime.allgs", u64::MAX)?;
    let wait_reasons = core.wait_reasons();
    let threads: Vec<ThreadRegs> = core
        .loaded
        .core
        .threads
        .iter()
        .map(|t| ThreadRegs::from_user_regs(u64::from(t.pid), &t.regs))
        .collect();
    let unwinder = Unwinder::new(&core.pcln);
    let (gs, skipped) = goroutines::read_goroutines(
        mem,
        allgs_ptr,
        allglen,
        &layout,
        &wait_reasons,
        &unwinder,
        &threads,
    )
    .map_err(|e| Error::Corrupt(format!("goroutines: {e}")))?;
    if skipped > 0 {
        roots.warnings.push(format!(
            "{skipped} of the {allglen} entries of runtime.allgs could not be read or were duplicates; those goroutines are missing"
        ));
    }
    let mut failed = 0;
    let mut dropped = 0;
    for g in &gs {
        if roots.roots.len() > MAX_STACK_ROOTS {
            dropped += 1;
            continue;
        }
        let sr = goroutines::goroutine_roots(mem, &unwinder, g, &layout);
        if !sr.errors.is_empty() {
            failed += 1;
        }
        add_goroutine_roots(core, g, &sr, roots, typed);
    }
    if dropped > 0 {
        roots.warnings.push(format!(
            "more than {MAX_STACK_ROOTS} roots: the stacks of {dropped} goroutines were not scanned"
        ));
    }
    if failed > 0 {
        roots.warnings.push(format!(
            "{failed} goroutines had frames whose stack maps could not be read; those frames were scanned conservatively"
        ));
    }
    Ok(gs)
}

fn add_goroutine_roots(
    core: &Core,
    g: &Goroutine,
    sr: &StackRoots,
    roots: &mut Roots,
    typed: &mut Vec<TypedRoot>,
) {
    let mem = core.mem();
    let bias = core.loaded.bias;
    let value = |a: Addr| mem.read_ptr(a).unwrap_or(Addr::NULL);
    let on_stack = |p: Addr| g.stack_lo <= p && p < g.stack_hi;

    // Stack objects are live only if a live pointer points into them
    // (runtime scanstack): iterate to a fixpoint.
    let mut live_obj = vec![false; sr.objects.len()];
    // Stack objects are disjoint: find the one holding a pointer by
    // binary search over their bases.
    let mut by_base: Vec<usize> = (0..sr.objects.len()).collect();
    by_base.sort_by_key(|&i| sr.objects[i].base);
    let mut pending: Vec<Addr> = sr
        .slots
        .iter()
        .filter(|s| !matches!(s.kind, SlotKind::StackObject { .. }))
        .map(|s| value(s.addr))
        .chain(sr.registers.iter().map(|r| Addr(r.value)))
        .filter(|&p| on_stack(p))
        .collect();
    while let Some(p) = pending.pop() {
        let k = by_base.partition_point(|&i| sr.objects[i].base <= p);
        let Some(&i) = k.checked_sub(1).and_then(|k| by_base.get(k)) else {
            continue;
        };
        let o = &sr.objects[i];
        if live_obj[i] || p.0 - o.base.0 >= o.size {
            continue;
        }
        live_obj[i] = true;
        let slots = sr
            .slots
            .get(o.slots.start as usize..o.slots.end as usize)
            .unwrap_or_default();
        for s in slots {
            let v = value(s.addr);
            if on_stack(v) {
                pending.push(v);
            }
        }
    }

    let frame_func = |i: Option<u32>| -> Option<(&str, Option<&Function>, Addr)> {
        let f = g.frames.get(i? as usize)?;
        let name = core.pcln.func_name(&f.func);
        let pc = f.sym_pc();
        Some((name, core.dwarf.function_at(pc.0.wrapping_sub(bias)), pc))
    };
    let gname = format!("goroutine {}", g.id);
    for s in &sr.slots {
        if let SlotKind::StackObject { object } = s.kind {
            if !live_obj.get(object as usize).copied().unwrap_or(false) {
                continue;
            }
        }
        let target = value(s.addr);
        if target.is_null() || on_stack(target) {
            continue;
        }
        let (name, function) = match frame_func(s.frame) {
            Some((fname, dw, pc)) => {
                let var = dw.and_then(|f| {
                    variable_at(f, pc.0.wrapping_sub(bias), s.frame_offset).map(|(v, _)| v)
                });
                let var =
                    var.map_or_else(|| unnamed_slot(s.kind, s.frame_offset), |v| v.to_string());
                (var, Some(roots.intern(fname)))
            }
            None => (slot_kind_name(s.kind).to_string(), None),
        };
        let name = roots.intern(&name);
        roots.roots.push(Root {
            kind: RootKind::Stack,
            name,
            slot: s.addr,
            target,
            goroutine: Some(g.id),
            function,
        });
    }
    let regs_name = roots.intern(&format!("{gname} registers"));
    for r in &sr.registers {
        if r.value == 0 || on_stack(Addr(r.value)) {
            continue;
        }
        roots.roots.push(Root {
            kind: RootKind::Stack,
            name: regs_name,
            slot: Addr::NULL,
            target: Addr(r.value),
            goroutine: Some(g.id),
            function: None,
        });
    }

    // Typed roots: variables whose stack home holds a live pointer slot.
    let mut slot_addrs: Vec<u64> = sr.slots.iter().map(|s| s.addr.0).collect();
    slot_addrs.sort_unstable();
    for f in &g.frames {
        let Some(dw) = core.dwarf.function_at(f.sym_pc().0.wrapping_sub(bias)) else {
            continue;
        };
        let pc = f.sym_pc().0.wrapping_sub(bias);
        for v in &dw.vars {
            let (Some(ty), Some(pieces)) = (v.ty, v.location.at_pc(pc)) else {
                continue;
            };
            // Only whole variables in one stack home.
            if let [p] = pieces {
                if let PieceLoc::FrameOffset(off) = p.loc {
                    let addr = Addr(f.fp.0.wrapping_add(off as u64));
                    let size = core.dwarf.ty(ty).size.unwrap_or(8);
                    let first = slot_addrs.partition_point(|&a| a < addr.0);
                    let live = slot_addrs.get(first).is_some_and(|&a| a - addr.0 < size);
                    if live {
                        typed.push(TypedRoot { addr, ty });
                    }
                }
            }
        }
    }
}

/// The variable of `f` whose stack home at `pc` covers `frame_offset`, and
/// the offset inside it.
fn variable_at(f: &Function, pc: u64, frame_offset: i64) -> Option<(&str, u64)> {
    for v in &f.vars {
        let Some(pieces) = v.location.at_pc(pc) else {
            continue;
        };
        let mut inner = 0u64;
        for p in pieces {
            let size = p.size.unwrap_or(8);
            if let PieceLoc::FrameOffset(off) = p.loc {
                // `frame_offset - off` in [0, size): computed without overflow.
                let d = frame_offset
                    .checked_sub(off)
                    .and_then(|d| u64::try_from(d).ok());
                if let Some(d) = d.filter(|&d| d < size.max(8)) {
                    return Some((&v.name, inner.saturating_add(d)));
                }
            }
            inner = inner.saturating_add(size);
        }
    }
    None
}

fn unnamed_slot(kind: SlotKind, frame_offset: i64) -> String {
    let what = match kind {
        SlotKind::Arg => "arg",
        SlotKind::StackObject { .. } => "stack object",
        SlotKind::Conservative => "word",
        _ => "local",
    };
    if frame_offset < 0 {
        format!("{what} at fp-{:#x}", -frame_offset)
    } else {
        format!("{what} at fp+{frame_offset:#x}")
    }
}

fn slot_kind_name(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::SchedCtxt => "closure context (g.sched.ctxt)",
        SlotKind::DeferFn => "deferred function",
        SlotKind::DeferLink | SlotKind::DeferRecord => "defer record",
        SlotKind::Panic => "panic record",
        _ => "stack word",
    }
}
