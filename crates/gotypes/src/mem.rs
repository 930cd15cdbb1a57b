//! Reading the target's memory.

use crate::Addr;

/// A read failed: the range is not mapped in the core nor backed by the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory at {addr} ({len} bytes) is not in the core or the binary")]
pub struct MemError {
    pub addr: Addr,
    pub len: u64,
}

/// Little-endian, 64-bit view of the target's address space.
///
/// Implementations must never panic on any address or length.
pub trait Memory: Sync {
    /// Fill `buf` with the bytes at `addr`. Reads may span several mappings.
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError>;

    /// Borrow `len` contiguous bytes at `addr` when they lie in one mapping
    /// (the fast path for bitmaps and object scans). `None` if not contiguous
    /// or not mapped; callers then fall back to [`Memory::read`].
    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]>;

    fn read_u8(&self, addr: Addr) -> Result<u8, MemError> {
        if let Some(&[b]) = self.slice(addr, 1) {
            return Ok(b);
        }
        let mut b = [0u8; 1];
        self.read(addr, &mut b)?;
        Ok(b[0])
    }
    fn read_u16(&self, addr: Addr) -> Result<u16, MemError> {
        let mut b = [0u8; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, addr: Addr) -> Result<u32, MemError> {
        if let Some(&[a, b, c, d]) = self.slice(addr, 4) {
            return Ok(u32::from_le_bytes([a, b, c, d]));
        }
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u64(&self, addr: Addr) -> Result<u64, MemError> {
        // The common case, one mapping, without a copy loop.
        if let Some(&[a, b, c, d, e, f, g, h]) = self.slice(addr, 8) {
            return Ok(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
        }
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn read_i32(&self, addr: Addr) -> Result<i32, MemError> {
        self.read_u32(addr).map(|v| v as i32)
    }
    fn read_ptr(&self, addr: Addr) -> Result<Addr, MemError> {
        self.read_u64(addr).map(Addr)
    }
    /// Read an unsigned integer of `size` bytes (1, 2, 4 or 8).
    fn read_uint(&self, addr: Addr, size: u64) -> Result<u64, MemError> {
        match size {
            1 => self.read_u8(addr).map(u64::from),
            2 => self.read_u16(addr).map(u64::from),
            4 => self.read_u32(addr).map(u64::from),
            _ => self.read_u64(addr),
        }
    }
    /// Read `len` bytes into a new vector, refusing absurd lengths.
    fn read_vec(&self, addr: Addr, len: u64, max: u64) -> Result<Vec<u8>, MemError> {
        if len > max {
            return Err(MemError { addr, len });
        }
        let mut v = vec![0u8; len as usize];
        self.read(addr, &mut v)?;
        Ok(v)
    }
}

/// A flat buffer mapped at a base address: handy for tests and for sections.
pub struct FlatMemory<'a> {
    pub base: Addr,
    pub data: &'a [u8],
}

impl Memory for FlatMemory<'_> {
    fn read(&self, addr: Addr, buf: &mut [u8]) -> Result<(), MemError> {
        let src = self.slice(addr, buf.len() as u64).ok_or(MemError {
            addr,
            len: buf.len() as u64,
        })?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn slice(&self, addr: Addr, len: u64) -> Option<&[u8]> {
        let off = addr.offset_from(self.base)?;
        let end = off.checked_add(len)?;
        self.data.get(off as usize..usize::try_from(end).ok()?)
    }
}
