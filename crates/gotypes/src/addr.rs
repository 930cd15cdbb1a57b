//! A virtual address in the dumped process.

use std::fmt;
use std::ops::{Add, Sub};

/// A virtual address in the target process (64-bit little-endian targets).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr(pub u64);

impl Addr {
    pub const NULL: Addr = Addr(0);

    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + n`, or `None` on overflow (addresses read from a core are untrusted).
    pub fn checked_add(self, n: u64) -> Option<Addr> {
        self.0.checked_add(n).map(Addr)
    }

    /// Distance from `base` to `self`, or `None` if `self < base`.
    pub fn offset_from(self, base: Addr) -> Option<u64> {
        self.0.checked_sub(base.0)
    }

    pub fn align_up(self, align: u64) -> Addr {
        debug_assert!(align.is_power_of_two());
        Addr((self.0.wrapping_add(align - 1)) & !(align - 1))
    }
}

impl Add<u64> for Addr {
    type Output = Addr;
    fn add(self, rhs: u64) -> Addr {
        Addr(self.0.wrapping_add(rhs))
    }
}

impl Sub<u64> for Addr {
    type Output = Addr;
    fn sub(self, rhs: u64) -> Addr {
        Addr(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({:#x})", self.0)
    }
}

impl fmt::LowerHex for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
