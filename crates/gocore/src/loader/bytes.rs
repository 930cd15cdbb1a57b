//! File contents as one byte slice: a read-only memory map of the file, or of
//! a sparse temporary file holding its decompressed contents when it was
//! zstd-compressed (systemd-coredump and the test data store cores as `.zst`).
//! Cores are mostly zero pages, so the temporary file costs little disk and
//! the decompressed core is paged like any mapped core rather than held in
//! the process's own memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::StreamingDecoder;

use super::LoadError;

/// The zstd frame magic number, as it appears on disk.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest decompressed size we accept (a zstd bomb must not exhaust memory
/// before we notice; real cores larger than this should be stored uncompressed).
const MAX_DECOMPRESSED: u64 = 64 << 30;

/// The bytes of a loaded file.
pub enum Bytes {
    /// The file itself, mapped read-only.
    Mapped(Mmap),
    /// A small in-memory image.
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl Bytes {
    /// Let the kernel drop the file's pages from this process's resident
    /// memory: they stay in the page cache, and a later read maps them
    /// again. For when a long phase no longer reads the file.
    pub fn release_resident(&self) {
        if let Bytes::Mapped(m) = self {
            // SAFETY: the map is read-only and never written, so
            // MADV_DONTNEED discards no data: the next access reads the
            // file's page again. A failure only leaves the pages resident.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Map `path`, decompressing it if it starts with the zstd magic.
    pub fn open(path: &Path) -> Result<Bytes, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(LoadError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        if meta.len() == 0 {
            return Err(LoadError::Empty {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: the map is read-only and owned by the returned value. If
        // another process truncates the file while we hold the map, reads may
        // fault (SIGBUS); that is the documented cost of mapping cores that
        // can be many gigabytes, and the same trade-off debuggers make.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        if !map.starts_with(&ZSTD_MAGIC) {
            return Ok(Bytes::Mapped(map));
        }
        let zstd = |detail| LoadError::Zstd {
            path: path.to_path_buf(),
            detail,
        };
        let mut out = SparseFile::new().map_err(io)?;
        decompress(&map, &mut out).map_err(zstd)?;
        let file = out.finish().map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: the file is an unlinked temporary only this map refers to.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(Bytes::Mapped(map))
    }
}

/// An unlinked temporary file that skips writing zero pages, leaving holes.
struct SparseFile {
    file: File,
    len: u64,
}

impl SparseFile {
    const PAGE: usize = 4096;

    fn new() -> std::io::Result<SparseFile> {
        Ok(SparseFile {
            file: tempfile::tempfile()?,
            len: 0,
        })
    }

    /// Append `buf`; whole zero pages become holes.
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        for page in buf.chunks(Self::PAGE) {
            if page.len() < Self::PAGE || page.iter().any(|&b| b != 0) {
                self.file.seek(SeekFrom::Start(self.len))?;
                self.file.write_all(page)?;
            }
            self.len += page.len() as u64;
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<File> {
        self.file.set_len(self.len)?;
        Ok(self.file)
    }
}

/// Decode every frame of a zstd stream into `out` (skippable frames are
/// skipped), refusing more than [`MAX_DECOMPRESSED`] bytes.
fn decompress(mut input: &[u8], out: &mut SparseFile) -> Result<(), String> {
    let mut buf = vec![0u8; 1 << 20];
    while !input.is_empty() {
        let mut decoder = match StreamingDecoder::new(&mut input) {
            Ok(d) => d,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let skip = usize::try_from(length).unwrap_or(usize::MAX);
                input = input.get(skip..).ok_or("truncated skippable frame")?;
                continue;
            }
            Err(e) => return Err(format!("bad zstd frame header: {e}")),
        };
        loop {
            let n = decoder
                .read(&mut buf)
                .map_err(|e| format!("corrupt or truncated zstd data: {e}"))?;
            if n == 0 {
                break;
            }
            if out.len + n as u64 > MAX_DECOMPRESSED {
                return Err(format!(
                    "decompresses to more than {} GiB",
                    MAX_DECOMPRESSED >> 30
                ));
            }
            out.append(&buf[..n]).map_err(|e| {
                format!("cannot write the decompressed data to a temporary file: {e}")
            })?;
        }
        if !decoder.decoder.is_finished() {
            return Err("truncated zstd data (the frame ends early)".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // `printf hello | zstd -19` (one frame with a checksum).
    const HELLO: [u8; 18] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x29, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa3,
        0x6d, 0x9f, 0x88,
    ];

    fn decompress_to_vec(input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = SparseFile::new().unwrap();
        decompress(input, &mut out)?;
        let mut file = out.finish().unwrap();
        let mut v = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut v).unwrap();
        Ok(v)
    }

    #[test]
    fn decompresses_and_rejects_truncation() {
        assert_eq!(decompress_to_vec(&HELLO).unwrap(), b"hello");
        for cut in 1..HELLO.len() {
            assert!(decompress_to_vec(&HELLO[..cut]).is_err(), "cut at {cut}");
        }
        let mut two = HELLO.to_vec();
        two.extend_from_slice(&HELLO);
        assert_eq!(decompress_to_vec(&two).unwrap(), b"hellohello");
    }

    #[test]
    fn zero_pages_become_holes_and_read_back_as_zeros() {
        let mut out = SparseFile::new().unwrap();
        let mut data = vec![0u8; 3 * SparseFile::PAGE + 10];
        data[SparseFile::PAGE + 5] = 7;
        data[3 * SparseFile::PAGE + 9] = 9;
        out.append(&data[..100]).unwrap();
        out.append(&data[100..]).unwrap();
        let mut file = out.finish().unwrap();
        let mut v = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut v).unwrap();
        assert_eq!(v, data);
    }
}
