//! [`Ascending`]: a non-decreasing sequence of `u64` in 4 bytes per value,
//! for the per-node arrays whose values only grow: a graph's row offsets,
//! a heap's object addresses.

/// A non-decreasing sequence of `u64`: the low 32 bits of every value, and
/// where the high 32 bits change. They rarely do: a heap's objects lie in a
/// few 4 GiB regions, and row offsets pass 2^32 only in a graph of more
/// than 4G edges. Reading a value is one 4-byte load while the high bits
/// never change, and a search over the few changes otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ascending {
    low: Vec<u32>,
    /// The high bits of the values before the first step.
    high: u64,
    /// `(index, high bits)` where the high bits change, by index: from
    /// `index` on, values have these high bits (until the next step).
    steps: Vec<(usize, u64)>,
}

/// Values given to an [`Ascending`] decrease, or its parts disagree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the values are not a non-decreasing sequence")]
pub struct NotAscending;

impl Ascending {
    /// The values of `low`, all below 2^32. The caller keeps them in order
    /// (checked in debug builds only: this is for arrays built in order).
    pub fn from_u32s(low: Vec<u32>) -> Ascending {
        debug_assert!(low.windows(2).all(|w| w[0] <= w[1]));
        Ascending::from_u32s_unchecked(low)
    }

    /// The values whose low bits are `low`, given their high bits by
    /// `runs`: `(index, high bits)` from that index on, by index (a run may
    /// repeat the previous one's high bits). For arrays filled in parallel,
    /// each part noting where its high bits change; the caller keeps the
    /// values in order.
    pub fn from_runs(low: Vec<u32>, runs: impl IntoIterator<Item = (usize, u64)>) -> Ascending {
        let mut a = Ascending::from_u32s_unchecked(low);
        let mut last = None;
        for (at, high) in runs {
            a.note_high(at, high, last);
            last = Some(high);
        }
        a
    }

    /// Records that value `at` has the high bits `high`, after a value
    /// whose high bits were `last` (`None`: `at` is the first value).
    fn note_high(&mut self, at: usize, high: u64, last: Option<u64>) {
        match last {
            None => self.high = high,
            Some(last) if last != high => self.steps.push((at, high)),
            Some(_) => {}
        }
    }

    fn from_u32s_unchecked(low: Vec<u32>) -> Ascending {
        Ascending {
            low,
            high: 0,
            steps: Vec::new(),
        }
    }

    /// `values`, checked to be in order.
    pub fn from_u64s(values: &[u64]) -> Result<Ascending, NotAscending> {
        let mut a = Ascending::with_capacity(values.len());
        values.iter().try_for_each(|&v| a.push(v))?;
        Ok(a)
    }

    /// `values`, which the caller keeps in order (prefix sums; checked in
    /// debug builds only).
    pub(crate) fn from_sorted_u64s(values: &[u64]) -> Ascending {
        let mut a = Ascending::with_capacity(values.len());
        for &v in values {
            let pushed = a.push(v);
            debug_assert!(pushed.is_ok());
        }
        a
    }

    /// An empty sequence with room for `n` values.
    pub fn with_capacity(n: usize) -> Ascending {
        Ascending {
            low: Vec::with_capacity(n),
            ..Ascending::default()
        }
    }

    /// Appends `value`, which must not be below the last value.
    pub fn push(&mut self, value: u64) -> Result<(), NotAscending> {
        let last = self.last();
        if last.is_some_and(|last| value < last) {
            return Err(NotAscending);
        }
        self.note_high(self.low.len(), value >> 32, last.map(|last| last >> 32));
        self.low.push(value as u32);
        Ok(())
    }

    /// From the arrays [`Ascending::parts`] gives, checked.
    pub fn from_parts(
        low: Vec<u32>,
        high: u64,
        steps: Vec<(usize, u64)>,
    ) -> Result<Ascending, NotAscending> {
        // Steps are at increasing indices inside the sequence and raise the
        // high bits; between steps the low bits must not decrease.
        let mut previous = (0, high);
        for &(at, h) in &steps {
            if at <= previous.0 || at >= low.len() || h <= previous.1 {
                return Err(NotAscending);
            }
            previous = (at, h);
        }
        if previous.1 > u64::from(u32::MAX) || (high > 0 && low.is_empty()) {
            return Err(NotAscending);
        }
        let mut runs = steps.iter().map(|&(at, _)| at).peekable();
        for (i, w) in low.windows(2).enumerate() {
            let step = runs.next_if_eq(&(i + 1)).is_some();
            if w[0] > w[1] && !step {
                return Err(NotAscending);
            }
        }
        Ok(Ascending { low, high, steps })
    }

    /// The low bits of every value, the high bits of the first run and the
    /// steps (see [`Ascending::from_parts`]).
    pub fn parts(&self) -> (&[u32], u64, &[(usize, u64)]) {
        (&self.low, self.high, &self.steps)
    }

    pub fn len(&self) -> usize {
        self.low.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    /// Value `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        let low = u64::from(self.low[i]);
        let high = if self.steps.is_empty() {
            self.high
        } else {
            self.high_at(i)
        };
        high << 32 | low
    }

    #[cold]
    fn high_at(&self, i: usize) -> u64 {
        match self.steps.partition_point(|&(at, _)| at <= i) {
            0 => self.high,
            k => self.steps[k - 1].1,
        }
    }

    /// Value `i`, if `i < len()`.
    pub fn try_get(&self, i: usize) -> Option<u64> {
        (i < self.len()).then(|| self.get(i))
    }

    pub fn last(&self) -> Option<u64> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// The number of values `v` with `pred(v)` true, which must hold for a
    /// prefix of the sequence (as [`slice::partition_point`]).
    pub fn partition_point(&self, mut pred: impl FnMut(u64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Asks the processor for value `i` (see [`crate::prefetch`]).
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        crate::prefetch(&self.low, i);
    }

    /// Replaces every value `v` at index `i` by `f(i, v)`, in index order;
    /// the new values must be in order too. In place: each value is read
    /// before it is written.
    pub(crate) fn update_in_order(&mut self, mut f: impl FnMut(usize, u64) -> u64) {
        let old_steps = std::mem::take(&mut self.steps);
        let mut old_high = self.high;
        let mut next_step = old_steps.iter().peekable();
        let mut last_high = None;
        for i in 0..self.low.len() {
            if let Some(&(_, h)) = next_step.next_if(|&&(at, _)| at == i) {
                old_high = h;
            }
            let value = f(i, old_high << 32 | u64::from(self.low[i]));
            self.note_high(i, value >> 32, last_high);
            last_high = Some(value >> 32);
            self.low[i] = value as u32;
        }
    }

    /// The values as a plain `u32` array to update in place, when they all
    /// fit in 32 bits (no high bits anywhere); updates must keep them in
    /// order.
    pub(crate) fn narrow_mut(&mut self) -> Option<&mut [u32]> {
        (self.high == 0 && self.steps.is_empty()).then_some(&mut self.low)
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.low.capacity() * 4 + self.steps.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_across_4_gib_steps_read_back() {
        let values = [
            0,
            7,
            1 << 32,
            (1 << 32) + 5,
            3 << 32,
            3 << 32,
            u64::MAX >> 1,
        ];
        let a = Ascending::from_u64s(&values).unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), values);
        assert_eq!(a.parts().2.len(), 3);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(
                a.partition_point(|x| x < *v),
                values.partition_point(|x| x < v)
            );
            assert_eq!(a.get(i), *v);
        }
        let (low, high, steps) = a.parts();
        let b = Ascending::from_parts(low.to_vec(), high, steps.to_vec()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn runs_drop_repeated_high_bits() {
        let a = Ascending::from_runs(vec![1, 2, 0, 3], [(0, 5), (1, 5), (2, 6), (3, 6)]);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [5 << 32 | 1, 5 << 32 | 2, 6 << 32, 6 << 32 | 3]
        );
        assert_eq!(a.parts().2, [(2, 6)]);
    }

    #[test]
    fn a_heap_above_4_gib_has_no_steps() {
        let a = Ascending::from_u64s(&[0x00c0_0000_0000, 0x00c0_0010_0000]).unwrap();
        assert!(a.parts().2.is_empty());
        assert_eq!(a.get(1), 0x00c0_0010_0000);
    }

    #[test]
    fn decreasing_values_and_bad_parts_are_refused() {
        assert_eq!(Ascending::from_u64s(&[5, 4]), Err(NotAscending));
        assert_eq!(Ascending::from_u64s(&[1 << 32, 4]), Err(NotAscending));
        // The low bits fall without a step.
        assert_eq!(
            Ascending::from_parts(vec![5, 4], 0, vec![]),
            Err(NotAscending)
        );
        // A step that lowers the high bits, one outside, one at index 0.
        assert_eq!(
            Ascending::from_parts(vec![5, 4], 2, vec![(1, 1)]),
            Err(NotAscending)
        );
        assert_eq!(
            Ascending::from_parts(vec![5], 0, vec![(1, 1)]),
            Err(NotAscending)
        );
        assert_eq!(
            Ascending::from_parts(vec![5, 6], 0, vec![(0, 1)]),
            Err(NotAscending)
        );
        assert!(Ascending::from_parts(vec![5, 4], 0, vec![(1, 1)]).is_ok());
    }

    #[test]
    fn updates_in_order_may_cross_and_leave_steps() {
        let mut a = Ascending::from_u64s(&[0, 1, 2, 3]).unwrap();
        a.update_in_order(|i, v| v + (i as u64) * (3 << 31));
        let want = [0, 1 + (3 << 31), 2 + (3 << 32), 3 + 9 * (1 << 31)];
        assert_eq!(a.iter().collect::<Vec<_>>(), want);
        a.update_in_order(|_, v| v & 0xff);
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(a.parts().2.is_empty());
    }
}
