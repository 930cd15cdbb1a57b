//! [`CompactU64s`]: `u64` values kept in 4 bytes each where they fit.
//!
//! Object sizes and retained sizes are `u64` (a heap may hold objects of
//! 4 GiB or more, and a root may retain 100 GB), yet almost every value fits
//! in 32 bits. Each value's low word lives in a flat `u32` array; the high
//! words live in pages of [`PAGE`] entries that exist only where some value
//! in the page needs one. Typical heaps have no page, or a few for the nodes
//! that retain ≥ 4 GiB; even a heap where every value is wide (a chain whose
//! nodes each retain the rest) costs 8 bytes per value plus 1/32 of a byte
//! of page directory — never more than a plain `Vec<u64>`.

use rayon::prelude::*;

/// Values per page of high words: small enough that a few scattered wide
/// values cost little (1 KiB each at worst), large enough that the page
/// directory (8 bytes per page) stays in cache.
pub const PAGE: usize = 256;

type HighPage = Box<[u32; PAGE]>;

/// A sequence of `u64` values in 4 bytes per value plus pages of high words
/// where needed. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct CompactU64s {
    low: Vec<u32>,
    /// One entry per [`PAGE`] values: their high words, or `None` if all of
    /// them are zero.
    high: Vec<Option<HighPage>>,
}

impl CompactU64s {
    /// The values `value(i)` for `i` in `0..n`, computed in parallel (one
    /// call per value).
    pub fn from_fn(n: usize, value: impl Fn(usize) -> u64 + Sync) -> CompactU64s {
        let mut low = vec![0u32; n];
        let high = (low.par_chunks_mut(PAGE).enumerate())
            .map(|(p, chunk)| {
                let mut page: Option<HighPage> = None;
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let v = value(p * PAGE + k);
                    *slot = v as u32;
                    if v >> 32 != 0 {
                        page.get_or_insert_with(|| Box::new([0; PAGE]))[k] = (v >> 32) as u32;
                    }
                }
                page
            })
            .collect();
        CompactU64s { low, high }
    }

    /// From the arrays [`CompactU64s::parts`] returns: the low words and the
    /// `(index, high word)` of every value with a non-zero high word, by
    /// index. `None` if the pairs are out of order, out of range or zero.
    pub fn from_parts(low: Vec<u32>, wide: &[(u32, u32)]) -> Option<CompactU64s> {
        let in_order = wide.windows(2).all(|w| w[0].0 < w[1].0);
        let valid = wide
            .iter()
            .all(|&(i, h)| (i as usize) < low.len() && h != 0);
        if !in_order || !valid {
            return None;
        }
        let mut c = CompactU64s {
            high: vec![None; low.len().div_ceil(PAGE)],
            low,
        };
        for &(i, h) in wide {
            c.set_high(i as usize, h);
        }
        Some(c)
    }

    /// The low words, and `(index, high word)` for every value that has a
    /// non-zero one, by index: what [`CompactU64s::from_parts`] takes back.
    pub fn parts(&self) -> (&[u32], Vec<(u32, u32)>) {
        let wide = (self.high.iter().enumerate())
            .filter_map(|(p, page)| page.as_ref().map(|page| (p, page)))
            .flat_map(|(p, page)| {
                (page.iter().enumerate())
                    .filter(|&(_, &h)| h != 0)
                    .map(move |(k, &h)| ((p * PAGE + k) as u32, h))
            })
            .collect();
        (&self.low, wide)
    }

    pub fn len(&self) -> usize {
        self.low.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    /// The value at `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        let high = self.high[i / PAGE].as_ref().map_or(0, |p| p[i % PAGE]);
        u64::from(self.low[i]) | u64::from(high) << 32
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The last value, if any.
    pub fn last(&self) -> Option<u64> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Adds `x` to the value at `i` (wrapping at 2^64, which no sum of
    /// sizes within an address space reaches).
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn add(&mut self, i: usize, x: u64) {
        let v = self.get(i).wrapping_add(x);
        self.low[i] = v as u32;
        let h = (v >> 32) as u32;
        if h != 0 || self.high[i / PAGE].is_some() {
            self.set_high(i, h);
        }
    }

    fn set_high(&mut self, i: usize, h: u32) {
        let page = &mut self.high[i / PAGE];
        page.get_or_insert_with(|| Box::new([0; PAGE]))[i % PAGE] = h;
    }

    /// Asks the CPU to fetch the low word of `i` (a no-op elsewhere and out
    /// of range): the high pages are few and stay in cache.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        crate::prefetch(&self.low, i);
    }
}

/// Equal values, however their high words are paged.
impl PartialEq for CompactU64s {
    fn eq(&self, other: &CompactU64s) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for CompactU64s {}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<u64> {
        let mut v: Vec<u64> = (0..3 * PAGE as u64 + 7).map(|i| i * 40).collect();
        v[3] = 1 << 32;
        v[5] = u64::MAX;
        v[2 * PAGE + 1] = (7 << 40) | 9;
        v
    }

    #[test]
    fn from_fn_keeps_every_value_and_pages_only_where_needed() {
        let want = values();
        let c = CompactU64s::from_fn(want.len(), |i| want[i]);
        assert_eq!(c.iter().collect::<Vec<_>>(), want);
        assert_eq!(c.high.iter().filter(|p| p.is_some()).count(), 2);
        assert_eq!(c.last(), want.last().copied());
        assert!(CompactU64s::from_fn(0, |_| 1).last().is_none());
    }

    #[test]
    fn parts_round_trip_and_bad_parts_are_refused() {
        let want = values();
        let c = CompactU64s::from_fn(want.len(), |i| want[i]);
        let (low, wide) = c.parts();
        assert_eq!(
            wide,
            vec![(3, 1), (5, u32::MAX), (2 * PAGE as u32 + 1, 7 << 8)]
        );
        assert_eq!(
            CompactU64s::from_parts(low.to_vec(), &wide),
            Some(c.clone())
        );
        let n = low.len() as u32;
        assert!(CompactU64s::from_parts(low.to_vec(), &[(5, 1), (3, 1)]).is_none());
        assert!(CompactU64s::from_parts(low.to_vec(), &[(n, 1)]).is_none());
        assert!(CompactU64s::from_parts(low.to_vec(), &[(1, 0)]).is_none());
    }

    #[test]
    fn add_carries_into_the_high_word_and_back() {
        let mut c = CompactU64s::from_fn(PAGE + 2, |_| 0);
        c.add(PAGE + 1, u64::from(u32::MAX));
        assert!(c.high[1].is_none());
        c.add(PAGE + 1, 2);
        assert_eq!(c.get(PAGE + 1), (1 << 32) + 1);
        c.add(PAGE + 1, u64::MAX); // wraps to 2^32
        assert_eq!(c.get(PAGE + 1), 1 << 32);
        c.add(0, 5);
        assert_eq!((c.get(0), c.get(1)), (5, 0));
    }
}
