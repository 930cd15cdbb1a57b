//! File contents as one byte slice: a read-only memory map, or an owned buffer
//! when the file was zstd-compressed (the test data stores cores and binaries
//! as `.zst`).

use std::fs::File;
use std::io::Read;
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
    /// The decompressed contents of a `.zst` file (or a small in-memory image).
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
        if map.starts_with(&ZSTD_MAGIC) {
            return decompress(&map)
                .map(Bytes::Owned)
                .map_err(|detail| LoadError::Zstd {
                    path: path.to_path_buf(),
                    detail,
                });
        }
        Ok(Bytes::Mapped(map))
    }
}

/// Decode every frame of a zstd stream (skippable frames are skipped).
fn decompress(mut input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
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
        let declared = decoder.decoder.content_size();
        if declared > 0 && declared <= MAX_DECOMPRESSED - out.len() as u64 {
            out.reserve(declared as usize);
        }
        let limit = MAX_DECOMPRESSED + 1 - out.len() as u64;
        (&mut decoder)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| format!("corrupt or truncated zstd data: {e}"))?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(format!(
                "decompresses to more than {} GiB",
                MAX_DECOMPRESSED >> 30
            ));
        }
        if !decoder.decoder.is_finished() {
            return Err("truncated zstd data (the frame ends early)".into());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `printf hello | zstd -19` (one frame with a checksum).
    const HELLO: [u8; 18] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x29, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa3,
        0x6d, 0x9f, 0x88,
    ];

    #[test]
    fn decompresses_and_rejects_truncation() {
        assert_eq!(decompress(&HELLO).unwrap(), b"hello");
        for cut in 1..HELLO.len() {
            assert!(decompress(&HELLO[..cut]).is_err(), "cut at {cut}");
        }
        let mut two = HELLO.to_vec();
        two.extend_from_slice(&HELLO);
        assert_eq!(decompress(&two).unwrap(), b"hellohello");
    }
}
