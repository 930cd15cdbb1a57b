//! Compressed-sparse-row graphs: [`Csr`] owns the adjacency arrays, their
//! validated construction (from parallel [`Chunk`]s, all at once or a
//! batch at a time with [`CsrBuilder`]; from raw parts or an edge list)
//! and the transpose (predecessor graph).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::ascending::Ascending;
use crate::MAX_NODES;

/// A directed graph in compressed-sparse-row form.
///
/// The successors of node `v` are `targets[offsets[v]..offsets[v + 1]]`.
/// Memory is `4 * (n + 1) + 4 * e` bytes (offsets are [`Ascending`]); rows
/// may contain duplicates and self loops, which every algorithm in this
/// crate tolerates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    offsets: Ascending,
    targets: Vec<u32>,
}

/// The successors of a contiguous run of source nodes, produced independently
/// (typically by one parallel worker) and concatenated by [`Csr::from_chunks`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The first source node this chunk describes.
    pub first_node: u32,
    /// Out-degree of nodes `first_node..first_node + counts.len()`.
    pub counts: Vec<u32>,
    /// Successors of those nodes, row after row (`sum(counts)` entries).
    pub targets: Vec<u32>,
}

/// Why a [`Csr`] could not be built from the caller's data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrError {
    /// The graph would have more nodes than ids below [`crate::NONE`].
    #[error("{0} nodes is more than the {max} a graph can hold", max = MAX_NODES)]
    TooManyNodes(usize),
    /// Chunk `chunk` starts before the previous one ends, or runs past `n`.
    #[error("chunk {chunk} (nodes {first}..{end}) overlaps its predecessor or exceeds {n} nodes")]
    ChunkOutOfOrder {
        chunk: usize,
        first: usize,
        end: usize,
        n: usize,
    },
    /// Chunk `chunk`'s counts do not add up to its number of targets.
    #[error("chunk {chunk}: counts sum to {counts} but it holds {targets} targets")]
    CountMismatch {
        chunk: usize,
        counts: u64,
        targets: u64,
    },
    /// An edge points at a node id `>= n`.
    #[error("edge target {target} is out of range for {n} nodes")]
    TargetOutOfRange { target: u32, n: usize },
    /// Raw offsets are not `n + 1` non-decreasing values from 0 to the edge
    /// count.
    #[error("offsets are not a non-decreasing sequence from 0 to the edge count")]
    BadOffsets,
}

/// Builds a [`Csr`] from chunks given in node order a batch at a time:
/// each batch is checked and copied into the final arrays, in parallel,
/// when it is appended. A caller that makes its chunks in waves holds one
/// wave of them at a time, so their memory is reused by the next wave
/// rather than being fresh pages the size of the whole graph again.
#[derive(Debug, Default)]
pub struct CsrBuilder {
    n: usize,
    /// Low 32 bits of the row starts of the nodes covered so far.
    low: Vec<u32>,
    /// `(row, high 32 bits)` from that row on, by row (see
    /// [`Ascending::from_runs`]).
    high: Vec<(usize, u64)>,
    targets: Vec<u32>,
    /// Chunks appended so far (errors name a chunk by its place).
    chunks: usize,
}

impl CsrBuilder {
    /// A builder of a graph of `n` nodes.
    pub fn new(n: usize) -> Result<CsrBuilder, CsrError> {
        check_node_count(n)?;
        Ok(CsrBuilder {
            n,
            ..CsrBuilder::default()
        })
    }

    /// Appends `chunks`, which start at or after the end of those appended
    /// before and are sorted by `first_node`; nodes between chunks have no
    /// successors.
    pub fn append(&mut self, chunks: Vec<Chunk>) -> Result<(), CsrError> {
        // Places are checked in O(chunks): each chunk owns the empty rows
        // before it and its own, and its edges start at the edges before
        // it. `row_bounds` and `edge_bounds` are relative to what the
        // builder holds already.
        let (n, first_chunk) = (self.n, self.chunks);
        let (rows, edges) = (self.low.len(), self.targets.len());
        let (mut row_bounds, mut edge_bounds) = (vec![0], vec![0]);
        for (k, c) in chunks.iter().enumerate() {
            let end = check_chunk_place(first_chunk + k, c, rows + row_bounds[k], n)?;
            row_bounds.push(end - rows);
            edge_bounds.push(edge_bounds[k] + c.targets.len());
        }
        (chunks.par_iter().enumerate())
            .try_for_each(|(k, c)| check_chunk_rows(first_chunk + k, c, n))?;
        self.chunks += chunks.len();

        let (row_end, edge_end) = (
            rows + row_bounds[chunks.len()],
            edges + edge_bounds[chunks.len()],
        );
        let jobs: Vec<_> = (split_spare(&mut self.low, &row_bounds).into_iter())
            .zip(split_spare(&mut self.targets, &edge_bounds))
            .zip(chunks)
            .collect();
        // Consuming the chunks frees each one right after its copy.
        let high: Vec<Vec<(usize, u64)>> = (jobs.into_par_iter().enumerate())
            .map(|(k, ((row_starts, targets), c))| {
                for (slot, &t) in targets.iter_mut().zip(&c.targets) {
                    slot.write(t);
                }
                let base = (edges + edge_bounds[k]) as u64;
                write_row_starts(row_starts, rows + row_bounds[k], base, &c.counts)
            })
            .collect();
        // SAFETY: the pieces written above cover the room up to these ends.
        unsafe {
            self.low.set_len(row_end);
            self.targets.set_len(edge_end);
        }
        self.high.extend(high.into_iter().flatten());
        Ok(())
    }

    /// The graph: the nodes after the last chunk have no successors.
    pub fn finish(mut self) -> Csr {
        let (total, rows) = (self.targets.len() as u64, self.low.len());
        let mut rest = vec![0; self.n + 1 - rows];
        let high = write_row_starts(as_uninit(&mut rest), rows, total, &[]);
        self.low.extend(rest);
        self.low.shrink_to_fit();
        self.high.extend(high);
        self.targets.shrink_to_fit();
        Csr {
            offsets: Ascending::from_runs(self.low, self.high),
            targets: self.targets,
        }
    }
}

/// Writes the row starts of `rows`: empty rows starting at `base`, then the
/// rows of `counts` (the last `counts.len()` of `rows`); `first_row` is the
/// first row's number. Gives where the high 32 bits of the starts change,
/// as [`Ascending::from_runs`] takes them (from `first_row` on).
fn write_row_starts(
    rows: &mut [MaybeUninit<u32>],
    first_row: usize,
    base: u64,
    counts: &[u32],
) -> Vec<(usize, u64)> {
    let mut high = vec![(first_row, base >> 32)];
    let gap = rows.len() - counts.len();
    let mut at = base;
    for (i, slot) in rows.iter_mut().enumerate() {
        if at >> 32 != high[high.len() - 1].1 {
            high.push((first_row + i, at >> 32));
        }
        slot.write(at as u32);
        if let Some(&d) = i.checked_sub(gap).map(|k| &counts[k]) {
            at += u64::from(d);
        }
    }
    high
}

/// `s` as uninitialised memory to write into.
fn as_uninit(s: &mut [u32]) -> &mut [MaybeUninit<u32>] {
    // SAFETY: `MaybeUninit<u32>` has `u32`'s layout, and only initialised
    // values are written through the result.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

/// Reserves room after `v`'s elements for the pieces `bounds` delimit (as
/// [`split_by_bounds`], from 0) and gives the pieces, to be written before
/// `set_len`. Exactly that room: a large vector grows by moving its pages,
/// not its bytes (see the gorefs allocator), and room reserved ahead would
/// count as memory held.
fn split_spare<'a>(v: &'a mut Vec<u32>, bounds: &[usize]) -> Vec<&'a mut [MaybeUninit<u32>]> {
    let room = bounds.last().copied().unwrap_or(0);
    v.reserve_exact(room);
    split_by_bounds(&mut v.spare_capacity_mut()[..room], bounds)
}

impl Csr {
    /// Concatenates chunks of successor rows into one graph with `n` nodes.
    ///
    /// `chunks` must be sorted by `first_node` and must not overlap; nodes no
    /// chunk covers have no successors. Rows and targets are copied in
    /// parallel straight into the final arrays (no per-node allocation), and
    /// each chunk is freed as soon as it is copied, so the peak is the final
    /// graph plus the chunks. [`CsrBuilder`] takes the chunks a batch at a
    /// time.
    pub fn from_chunks(n: usize, chunks: Vec<Chunk>) -> Result<Csr, CsrError> {
        let mut b = CsrBuilder::new(n)?;
        b.append(chunks)?;
        Ok(b.finish())
    }

    /// Wraps raw CSR arrays after checking them: `offsets` must hold `n + 1`
    /// values from 0 to `targets.len()`, and every target must be below `n`.
    pub fn from_parts(offsets: Ascending, targets: Vec<u32>) -> Result<Csr, CsrError> {
        let n = offsets.len().checked_sub(1).ok_or(CsrError::BadOffsets)?;
        check_node_count(n)?;
        if offsets.get(0) != 0 || offsets.get(n) != targets.len() as u64 {
            return Err(CsrError::BadOffsets);
        }
        targets
            .par_chunks(1 << 20)
            .try_for_each(|part| check_targets(part, n))?;
        Ok(Csr { offsets, targets })
    }

    /// Builds a graph with `n` nodes from `(source, target)` pairs; each row
    /// keeps the pairs' order. Sequential: meant for tests and small graphs.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Result<Csr, CsrError> {
        check_node_count(n)?;
        let mut offsets = vec![0u64; n + 1];
        for &(s, t) in edges {
            for id in [s, t] {
                if id as usize >= n {
                    return Err(CsrError::TargetOutOfRange { target: id, n });
                }
            }
            offsets[s as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let mut cursor = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(s, t) in edges {
            let at = &mut cursor[s as usize];
            targets[to_usize(*at)] = t;
            *at += 1;
        }
        let offsets = Ascending::from_sorted_u64s(&offsets);
        Ok(Csr { offsets, targets })
    }

    /// Empties the rows of the nodes `keep` rejects, in place. When those
    /// rows are empty already (a heap with little garbage), nothing moves.
    /// Otherwise parallel parts of the nodes each pack their kept rows at
    /// the start of their own stretch of targets, and the packed stretches
    /// are then moved down one after another (a few large copies).
    pub fn retain_rows(&mut self, keep: impl Fn(u32) -> bool + Sync) {
        self.retain_rows_in_parts(keep, scan_parts(self.targets.len()));
    }

    /// [`Csr::retain_rows`] with the nodes cut into `parts` parts.
    fn retain_rows_in_parts(&mut self, keep: impl Fn(u32) -> bool + Sync, parts: usize) {
        let n = self.node_count();
        let parts = parts.clamp(1, n.max(1));
        let bounds: Vec<usize> = (0..=parts).map(|p| p * n / parts).collect();
        // Each part's stretch of targets, and the edges it drops.
        let stretch: Vec<u64> = bounds.iter().map(|&v| self.offsets.get(v)).collect();
        let offsets = &self.offsets;
        let dropped: Vec<u64> = (0..parts)
            .into_par_iter()
            .map(|p| {
                (bounds[p]..bounds[p + 1])
                    .filter(|&v| !keep(v as u32))
                    .map(|v| offsets.get(v + 1) - offsets.get(v))
                    .sum()
            })
            .collect();
        if dropped.iter().all(|&d| d == 0) {
            return;
        }
        let Some(low) = self.offsets.narrow_mut() else {
            return self.retain_rows_sequentially(keep);
        };
        let kept = self.targets.len() - to_usize(dropped.iter().sum());
        low[n] = kept as u32;
        let edge_bounds: Vec<usize> = stretch.iter().map(|&o| to_usize(o)).collect();
        // Edges dropped before each part.
        let before: Vec<u64> = dropped
            .iter()
            .scan(0, |sum, &d| {
                *sum += d;
                Some(*sum - d)
            })
            .collect();
        split_by_bounds(&mut self.targets, &edge_bounds)
            .into_par_iter()
            .zip(split_by_bounds(&mut low[..n], &bounds))
            .enumerate()
            .for_each(|(p, (targets, low))| {
                // Row k of the part spans low[k]..low[k + 1] (the last one
                // ends where the next part's stretch starts), relative to
                // `base`; `run` is the kept rows not moved yet, as where
                // they are and where they go.
                let base = stretch[p];
                let (mut run_from, mut run_to, mut written) = (0usize, 0usize, 0usize);
                for k in 0..low.len() {
                    let end = low.get(k + 1).map_or(stretch[p + 1], |&o| u64::from(o));
                    let (s, e) = (to_usize(u64::from(low[k]) - base), to_usize(end - base));
                    low[k] = (base - before[p] + written as u64) as u32;
                    if keep((bounds[p] + k) as u32) {
                        written += e - s;
                    } else if e > s {
                        targets.copy_within(run_from..s, run_to);
                        (run_from, run_to) = (e, written);
                    }
                }
                targets.copy_within(run_from.., run_to);
            });
        // The packed stretches, moved down in order.
        for p in 0..parts {
            let len = to_usize(stretch[p + 1] - stretch[p] - dropped[p]);
            let (from, to) = (edge_bounds[p], to_usize(stretch[p] - before[p]));
            self.targets.copy_within(from..from + len, to);
        }
        self.targets.truncate(kept);
        self.targets.shrink_to_fit();
    }

    /// [`Csr::retain_rows`] for offsets of more than 32 bits: one pass.
    fn retain_rows_sequentially(&mut self, keep: impl Fn(u32) -> bool) {
        let mut written = 0u64;
        let mut start = 0u64;
        let targets = &mut self.targets;
        self.offsets.update_in_order(|i, end| {
            // Offset i is the end of row i - 1.
            let Some(v) = i.checked_sub(1) else {
                return 0;
            };
            if keep(v as u32) {
                if written != start {
                    targets.copy_within(to_usize(start)..to_usize(end), to_usize(written));
                }
                written += end - start;
            }
            start = end;
            written
        });
        self.targets.truncate(to_usize(written));
        self.targets.shrink_to_fit();
    }

    /// Number of nodes `n`.
    pub fn node_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of edges (duplicates included).
    pub fn edge_count(&self) -> u64 {
        self.targets.len() as u64
    }

    /// Successors of `v`.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    #[inline]
    pub fn successors(&self, v: u32) -> &[u32] {
        let (start, end) = self.row(v);
        &self.targets[to_usize(start)..to_usize(end)]
    }

    /// Where the successors of `v` start and end in [`Csr::targets`].
    ///
    /// # Panics
    /// If `v >= node_count()`.
    #[inline]
    pub fn row(&self, v: u32) -> (u64, u64) {
        let v = v as usize;
        (self.offsets.get(v), self.offsets.get(v + 1))
    }

    /// Out-degree of `v`.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    #[inline]
    pub fn degree(&self, v: u32) -> u64 {
        let (start, end) = self.row(v);
        end - start
    }

    /// The row offsets (`n + 1` entries).
    pub fn offsets(&self) -> &Ascending {
        &self.offsets
    }

    /// All edge targets, row after row.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// Gives back the raw `(offsets, targets)` arrays.
    pub fn into_parts(self) -> (Ascending, Vec<u32>) {
        (self.offsets, self.targets)
    }

    /// The reverse graph: row `v` lists the sources of edges into `v`, in
    /// ascending order (with duplicates kept). See [`group_by_row`].
    pub fn transpose(&self) -> Csr {
        grouped(self.node_count(), &Reversed(self))
    }

    /// Rows of `n` nodes from `(row, value)` pairs: row `v` holds the
    /// values of the pairs whose row is `v`, in the pairs' order. Parallel
    /// (see [`group_by_row`]); the pairs must be in range.
    pub(crate) fn from_pairs(n: usize, pairs: &[(u32, u32)]) -> Csr {
        grouped(n, pairs)
    }
}

/// An integer type of row offsets while a graph is built: `u32` when its
/// edges are fewer than 2^32 (half the memory), else `u64`.
pub(crate) trait Offset: Copy + Default + Send + Sync {
    /// `x`, which the caller knows to fit.
    fn from_u64(x: u64) -> Self;
    fn to_u64(self) -> u64;
}

impl Offset for u32 {
    #[inline(always)]
    fn from_u64(x: u64) -> u32 {
        x as u32
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
}

impl Offset for u64 {
    #[inline(always)]
    fn from_u64(x: u64) -> u64 {
        x
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        self
    }
}

/// The graph of `n` rows that [`group_by_row`] makes of `pairs`.
fn grouped(n: usize, pairs: &(impl Pairs + ?Sized)) -> Csr {
    let (offsets, targets) = if pairs.count() <= u32::MAX as usize {
        let (offsets, targets) = group_by_row::<u32>(n, pairs);
        (Ascending::from_u32s(offsets), targets)
    } else {
        let (offsets, targets) = group_by_row::<u64>(n, pairs);
        let offsets = Ascending::from_sorted_u64s(&offsets);
        (offsets, targets)
    };
    Csr { offsets, targets }
}

/// `(row, value)` pairs, the input of [`group_by_row`].
pub(crate) trait Pairs: Sync {
    fn count(&self) -> usize;
    /// The row of every pair, in any order.
    fn for_each_row(&self, f: impl FnMut(u32));
    /// Every pair, last first.
    fn for_each_rev(&self, f: impl FnMut(u32, u32));
}

impl Pairs for [(u32, u32)] {
    fn count(&self) -> usize {
        self.len()
    }

    fn for_each_row(&self, mut f: impl FnMut(u32)) {
        self.iter().for_each(|&(row, _)| f(row));
    }

    fn for_each_rev(&self, mut f: impl FnMut(u32, u32)) {
        self.iter().rev().for_each(|&(row, value)| f(row, value));
    }
}

/// A graph's edges as `(target, source)` pairs.
struct Reversed<'a>(&'a Csr);

impl Pairs for Reversed<'_> {
    fn count(&self) -> usize {
        self.0.targets.len()
    }

    fn for_each_row(&self, mut f: impl FnMut(u32)) {
        self.0.targets.iter().for_each(|&t| f(t));
    }

    fn for_each_rev(&self, mut f: impl FnMut(u32, u32)) {
        for v in (0..self.0.node_count()).rev() {
            for &t in self.0.successors(v as u32).iter().rev() {
                f(t, v as u32);
            }
        }
    }
}

/// Groups `pairs` by row into CSR offsets (`n + 1`) and values.
///
/// A counting sort, O(n + pairs), with no memory beyond the result. It is
/// parallel without atomics: each worker owns a range of rows (balanced by
/// pair count for the scatter) and scans all the pairs for those landing in
/// its range; the extra sequential reads are cheap next to the random
/// writes they split up.
pub(crate) fn group_by_row<O: Offset>(
    n: usize,
    pairs: &(impl Pairs + ?Sized),
) -> (Vec<O>, Vec<u32>) {
    let e = pairs.count();
    let parts = scan_parts(e);

    // 1. Counts: offsets[v] counts the pairs of row v.
    let mut offsets = vec![O::default(); n + 1];
    let bounds: Vec<usize> = (0..=parts).map(|p| p * n / parts).collect();
    split_by_bounds(&mut offsets[..n], &bounds)
        .into_par_iter()
        .zip(&bounds[..parts])
        .for_each(|(counts, &lo)| {
            pairs.for_each_row(|row| {
                // Wrapping keeps this one comparison per pair.
                if let Some(c) = counts.get_mut((row as usize).wrapping_sub(lo)) {
                    *c = O::from_u64(c.to_u64() + 1);
                }
            });
        });

    // 2. Inclusive prefix sums: offsets[v] = end of row v.
    let mut sum = 0u64;
    for o in &mut offsets[..n] {
        sum += o.to_u64();
        *o = O::from_u64(sum);
    }
    offsets[n] = O::from_u64(sum);

    // 3. Scatter from the last pair backwards, decrementing each row's
    // cursor: rows fill back to front, keep the pairs' order, and
    // offsets[v] ends at the start of row v.
    let mut bounds = vec![0usize; parts + 1];
    bounds[parts] = n;
    for (p, b) in bounds.iter_mut().enumerate().take(parts).skip(1) {
        let edge = (p * e / parts) as u64;
        *b = offsets[..n].partition_point(|&end| end.to_u64() <= edge);
    }
    let row_start = |v: usize, offsets: &[O]| if v == 0 { 0 } else { offsets[v - 1].to_u64() };
    let edge_bounds: Vec<usize> = bounds
        .iter()
        .map(|&b| to_usize(row_start(b, &offsets)))
        .collect();
    let mut values = vec![0u32; e];
    let out_parts = split_by_bounds(&mut values, &edge_bounds);
    let cursor_parts = split_by_bounds(&mut offsets[..n], &bounds);
    out_parts
        .into_par_iter()
        .zip(cursor_parts)
        .enumerate()
        .for_each(|(p, (out, cursors))| {
            let (lo, base) = (bounds[p], edge_bounds[p] as u64);
            pairs.for_each_rev(|row, value| {
                if let Some(c) = cursors.get_mut((row as usize).wrapping_sub(lo)) {
                    let at = c.to_u64() - 1;
                    *c = O::from_u64(at);
                    out[to_usize(at - base)] = value;
                }
            });
        });
    (offsets, values)
}

/// More partitions than this only multiply the full scans of the edges
/// without adding memory bandwidth.
const MAX_SCAN_PARTS: usize = 8;

/// Into how many parts of the nodes a pass that reads all `edges` edges
/// once per part splits its counters ([`group_by_row`]): one per thread,
/// or one for small graphs.
pub(crate) fn scan_parts(edges: usize) -> usize {
    if edges < (1 << 18) {
        1
    } else {
        rayon::current_num_threads().clamp(1, MAX_SCAN_PARTS)
    }
}

fn check_node_count(n: usize) -> Result<(), CsrError> {
    if n > MAX_NODES {
        return Err(CsrError::TooManyNodes(n));
    }
    Ok(())
}

/// That chunk `i` starts at or after `covered` (the end of the one before)
/// and ends within `n` nodes; gives its end.
fn check_chunk_place(i: usize, c: &Chunk, covered: usize, n: usize) -> Result<usize, CsrError> {
    let first = c.first_node as usize;
    let end = first + c.counts.len();
    if first < covered || end > n {
        return Err(CsrError::ChunkOutOfOrder {
            chunk: i,
            first,
            end,
            n,
        });
    }
    Ok(end)
}

/// That chunk `i`'s counts add up to its targets, all below `n`.
fn check_chunk_rows(i: usize, c: &Chunk, n: usize) -> Result<(), CsrError> {
    let counts: u64 = c.counts.iter().map(|&d| u64::from(d)).sum();
    if counts != c.targets.len() as u64 {
        return Err(CsrError::CountMismatch {
            chunk: i,
            counts,
            targets: c.targets.len() as u64,
        });
    }
    check_targets(&c.targets, n)
}

fn check_targets(targets: &[u32], n: usize) -> Result<(), CsrError> {
    match targets.iter().find(|&&t| t as usize >= n) {
        Some(&target) => Err(CsrError::TargetOutOfRange { target, n }),
        None => Ok(()),
    }
}

/// Splits `s` into the disjoint pieces `s[bounds[i]..bounds[i + 1]]`;
/// `bounds` must be non-decreasing, starting at 0 and ending at `s.len()`.
pub(crate) fn split_by_bounds<'a, T>(mut s: &'a mut [T], bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(bounds.len().saturating_sub(1));
    for w in bounds.windows(2) {
        let (piece, tail) = s.split_at_mut(w[1] - w[0]);
        pieces.push(piece);
        s = tail;
    }
    pieces
}

/// Edge offsets always index an in-memory array, so they fit in `usize`.
#[inline]
pub(crate) fn to_usize(x: u64) -> usize {
    debug_assert!(usize::try_from(x).is_ok());
    x as usize
}

/// What a search needs of a graph: its node count and each node's row.
pub trait Adjacency {
    fn node_count(&self) -> usize;
    fn successors(&self, v: u32) -> &[u32];
}

impl Adjacency for Csr {
    fn node_count(&self) -> usize {
        Csr::node_count(self)
    }
    fn successors(&self, v: u32) -> &[u32] {
        Csr::successors(self, v)
    }
}

/// A graph of few edges over many nodes (weak references in a heap): only
/// the non-empty rows are stored, so memory is per edge, not per node.
/// Rows are found by binary search over their nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseRows {
    n: usize,
    /// The nodes with a row, ascending.
    nodes: Vec<u32>,
    /// Row `k` (of `nodes[k]`) is `targets[offsets[k]..offsets[k + 1]]`.
    offsets: Vec<u64>,
    targets: Vec<u32>,
}

impl SparseRows {
    /// Builds a graph with `n` nodes from `(source, target)` pairs; each row
    /// keeps the pairs' order.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Result<SparseRows, CsrError> {
        check_node_count(n)?;
        for &(s, t) in edges {
            for id in [s, t] {
                if id as usize >= n {
                    return Err(CsrError::TargetOutOfRange { target: id, n });
                }
            }
        }
        let mut sorted = edges.to_vec();
        sorted.sort_by_key(|&(s, _)| s); // stable: rows keep the pairs' order
        let mut rows = SparseRows {
            n,
            offsets: vec![0],
            ..SparseRows::default()
        };
        for (s, t) in sorted {
            if rows.nodes.last() != Some(&s) {
                rows.nodes.push(s);
                rows.offsets.push(rows.targets.len() as u64);
            }
            rows.targets.push(t);
            *rows.offsets.last_mut().expect("pushed above") = rows.targets.len() as u64;
        }
        Ok(rows)
    }

    /// Wraps raw arrays after checking them: `nodes` ascending and below
    /// `n`, `offsets` one longer, non-decreasing from 0 to `targets.len()`,
    /// every target below `n`.
    pub fn from_parts(
        n: usize,
        nodes: Vec<u32>,
        offsets: Vec<u64>,
        targets: Vec<u32>,
    ) -> Result<SparseRows, CsrError> {
        check_node_count(n)?;
        let ascending = nodes.windows(2).all(|w| w[0] < w[1]);
        let ordered = offsets.windows(2).all(|w| w[0] <= w[1]);
        if offsets.len() != nodes.len() + 1
            || offsets[0] != 0
            || offsets.last() != Some(&(targets.len() as u64))
            || !ascending
            || !ordered
            || nodes.last().is_some_and(|&v| v as usize >= n)
        {
            return Err(CsrError::BadOffsets);
        }
        check_targets(&targets, n)?;
        Ok(SparseRows {
            n,
            nodes,
            offsets,
            targets,
        })
    }

    pub fn node_count(&self) -> usize {
        self.n
    }

    pub fn edge_count(&self) -> u64 {
        self.targets.len() as u64
    }

    /// The successors of `v` (empty for most nodes).
    pub fn successors(&self, v: u32) -> &[u32] {
        match self.nodes.binary_search(&v) {
            Ok(k) => &self.targets[to_usize(self.offsets[k])..to_usize(self.offsets[k + 1])],
            Err(_) => &[],
        }
    }

    /// `(nodes, offsets, targets)`, for [`SparseRows::from_parts`].
    pub fn parts(&self) -> (&[u32], &[u64], &[u32]) {
        (&self.nodes, &self.offsets, &self.targets)
    }
}

impl Adjacency for SparseRows {
    fn node_count(&self) -> usize {
        self.n
    }
    fn successors(&self, v: u32) -> &[u32] {
        SparseRows::successors(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Graphs of 2^32 edges or more take `u64` offsets while they are
    /// built: the same code as `u32`'s, checked here on a small graph; and
    /// chunks' row starts carry their high bits.
    #[test]
    fn wide_offsets_build_the_same_rows() {
        let pairs: Vec<(u32, u32)> = (0..5000u32).map(|i| (i * 7 % 300, i)).collect();
        let (narrow, narrow_values) = group_by_row::<u32>(300, &pairs[..]);
        let (wide, wide_values) = group_by_row::<u64>(300, &pairs[..]);
        assert_eq!(narrow_values, wide_values);
        assert!(narrow.iter().zip(&wide).all(|(&a, &b)| u64::from(a) == b));
        // Row starts past 2^32 edges: their high bits change mid-piece.
        let base = (1u64 << 32) - 3;
        let mut rows = [0u32; 4];
        let high = write_row_starts(as_uninit(&mut rows), 10, base, &[4, 0, 3]);
        assert_eq!(high, [(10, 0), (12, 1)]);
        let mut low = vec![0u32; 10];
        low.extend(rows);
        let starts = Ascending::from_runs(low, high);
        let want = [base, base, base + 4, base + 4];
        assert!((0..4).all(|i| starts.get(10 + i) == want[i]));
    }

    /// Chunks appended batch by batch give the graph `from_chunks` makes of
    /// them all, gaps between chunks included, and the same errors.
    #[test]
    fn built_graphs_match_graphs_from_chunks() {
        let chunk = |first_node, counts: Vec<u32>, targets: Vec<u32>| Chunk {
            first_node,
            counts,
            targets,
        };
        let chunks = vec![
            chunk(1, vec![2, 0, 3], vec![0, 9, 4, 4, 1]),
            chunk(4, vec![], vec![]),
            chunk(6, vec![1, 1], vec![7, 2]),
        ];
        let whole = Csr::from_chunks(10, chunks.clone()).unwrap();
        let rows: Vec<Vec<u32>> = (0..10).map(|v| whole.successors(v).to_vec()).collect();
        assert_eq!(rows[1], [0, 9]);
        assert_eq!(rows[3], [4, 4, 1]);
        assert_eq!(rows[7], [2]);
        assert_eq!(whole.edge_count(), 7);
        for split in 0..=chunks.len() {
            let mut b = CsrBuilder::new(10).unwrap();
            b.append(chunks[..split].to_vec()).unwrap();
            b.append(chunks[split..].to_vec()).unwrap();
            assert_eq!(b.finish(), whole, "split at {split}");
        }
        let wrong = [
            (
                vec![chunk(3, vec![1], vec![0]), chunk(2, vec![], vec![])],
                1,
            ),
            (vec![chunk(9, vec![1, 1], vec![0, 0])], 0),
            (vec![chunk(0, vec![2], vec![0])], 0),
            (vec![chunk(0, vec![1], vec![10])], 0),
        ];
        for (chunks, bad) in wrong {
            let mut b = CsrBuilder::new(10).unwrap();
            b.append(chunks[..bad].to_vec()).unwrap();
            let e = b.append(chunks[bad..].to_vec()).unwrap_err();
            assert_eq!(e, Csr::from_chunks(10, chunks).unwrap_err());
        }
    }

    /// Rows emptied part by part give the graph a single pass gives,
    /// whatever the parts (some of them empty).
    #[test]
    fn retained_rows_do_not_depend_on_the_parts() {
        let edges: Vec<(u32, u32)> = (0..3000u32).map(|i| (i * 13 % 257, i % 251)).collect();
        let g = Csr::from_edges(260, &edges).unwrap();
        let keep = |v: u32| v % 3 != 1 && !(100..140).contains(&v);
        let mut one = g.clone();
        one.retain_rows_in_parts(keep, 1);
        for v in 0..260u32 {
            let expected: &[u32] = if keep(v) { g.successors(v) } else { &[] };
            assert_eq!(one.successors(v), expected, "row {v}");
        }
        for parts in [2, 3, 7, 300] {
            let mut split = g.clone();
            split.retain_rows_in_parts(keep, parts);
            assert_eq!(split, one, "{parts} parts");
        }
        let mut sequential = g.clone();
        sequential.retain_rows_sequentially(keep);
        assert_eq!(sequential, one, "one pass");
        let mut unchanged = g.clone();
        unchanged.retain_rows_in_parts(|v| v != 259, 4);
        assert_eq!(unchanged, g, "row 259 is empty already");
    }
}
