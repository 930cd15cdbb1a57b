//! The reference graph's object edges are exactly the pointers the GC
//! follows: for every live object of every test core, its successors are the
//! other objects its pointer words point into (checked against a plain walk
//! of `Heap::for_each_pointer`; an edge may repeat), and its predecessors
//! mirror them. Liveness, marked on that graph, is what a scan from the
//! roots through the same pointers reaches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gocore::graph::HeapGraph;
use gocore::heap::ObjId;
use gocore::process::Core;
use gocore::progress::NoProgress;

/// Every test core with its binary, opened.
fn test_cores() -> impl Iterator<Item = (PathBuf, Core)> {
    let cores = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
    let mut dirs: Vec<_> = std::fs::read_dir(&cores)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("heapzoo.zst").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 7);
    dirs.into_iter().map(|dir| {
        let core = Core::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst"))).unwrap();
        (dir, core)
    })
}

#[test]
fn object_edges_are_the_gc_pointers() {
    for (dir, core) in test_cores() {
        let mut a = core.analyze().unwrap();
        let g = HeapGraph::build(&mut a, &NoProgress).unwrap();
        // Built again, from the references extracted anew: the same graph.
        let again = HeapGraph::build(&mut a, &NoProgress).unwrap();
        assert!(
            again.succ == g.succ && again.idom == g.idom,
            "{}",
            dir.display()
        );
        let mut edges = 0;
        for i in 0..a.heap.object_count() {
            let id = ObjId(i as u32);
            let mut want = BTreeSet::new();
            if a.is_live(id) {
                a.heap.for_each_pointer(core.mem(), &a.rtypes, id, |_, p| {
                    if let Some(t) = a.heap.find_object(p).filter(|&t| t != id) {
                        want.insert(t.0);
                    }
                });
            }
            let got: BTreeSet<u32> = g.succ.successors(id.0).iter().copied().collect();
            assert_eq!(got, want, "{}: object {i}", dir.display());
            for &t in &got {
                assert!(g.pred().successors(t).contains(&id.0), "pred of {t}");
            }
            edges += got.len();
        }
        assert!(edges > 1000, "{}: {edges} edges", dir.display());
    }
}

/// Liveness (marked on the graph) is what a scan from the roots through the
/// GC's pointers reaches, on every test core.
#[test]
fn marks_are_what_the_roots_reach() {
    for (dir, core) in test_cores() {
        let a = core.analyze().unwrap();
        let heap = &a.heap;
        let mut seen = vec![false; heap.object_count()];
        let mut stack: Vec<ObjId> = Vec::new();
        for r in &a.roots.roots {
            if let Some(id) = heap.find_object(r.target) {
                stack.push(id);
            }
        }
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            heap.for_each_pointer(core.mem(), &a.rtypes, id, |_, p| {
                stack.extend(heap.find_object(p));
            });
        }
        let live = (0..heap.object_count())
            .filter(|&i| {
                let id = ObjId(i as u32);
                assert_eq!(a.is_live(id), seen[i], "{}: object {i}", dir.display());
                seen[i]
            })
            .count();
        assert_eq!(a.marks.count(), live as u64, "{}", dir.display());
        assert!(live > 1000, "{}: {live} live objects", dir.display());
    }
}

/// Finding an object by address (the page table's shaped entries for spans
/// of small objects, the span records for the others) agrees with the
/// object list: every byte of an allocated slot finds its object with the
/// slot's bounds, a free slot, a span's tail and the pages between spans
/// find nothing.
#[test]
fn locate_agrees_with_the_object_list() {
    for (dir, core) in test_cores() {
        let a = core.analyze().unwrap();
        let heap = &a.heap;
        let (mut small, mut large, mut free) = (0, 0, 0);
        for s in &heap.spans {
            if s.nelems > 1 {
                small += 1;
            } else {
                large += 1;
            }
            for k in 0..s.nelems {
                let slot = s.base + k * s.elemsize;
                let i = heap.objects.partition_point(|a| a < slot.0);
                let id = (heap.objects.try_get(i) == Some(slot.0)).then_some(i);
                for at in [slot, slot + s.elemsize / 2, slot + (s.elemsize - 1)] {
                    let found = heap.locate(at);
                    assert_eq!(found.map(|f| f.id.index()), id, "{}: {at:?}", dir.display());
                    if let Some(f) = found {
                        assert_eq!((f.slot, f.end), (slot, slot + s.elemsize));
                        assert!(f.start >= f.slot && f.start < f.end);
                    }
                }
                free += u32::from(id.is_none());
            }
            let tail = s.base + s.nelems * s.elemsize;
            if tail < s.end() {
                assert_eq!(heap.locate(tail), None, "{}: tail {tail:?}", dir.display());
            }
        }
        for w in heap.spans.windows(2) {
            if w[0].end() < w[1].base {
                assert_eq!(heap.locate(w[0].end()), None);
            }
        }
        assert!(
            small > 10 && large > 0 && free > 0,
            "{}: {small} {large} {free}",
            dir.display()
        );
    }
}
