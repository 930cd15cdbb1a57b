//! `gorefs pprof`: the retention tree ([`super::tree`]) as a gzipped pprof
//! profile (`profile.proto`) for `go tool pprof -top` / `-http`.
//!
//! One sample per frame of the tree: its stack is the frame's chain with
//! the root at the base (`main.registry` → `map[int]*main.Session` → … in
//! dominator mode, `main.registry` → `.byID map[…]` → `map value
//! main.Session` in paths mode). Sample types and what pprof's columns
//! then mean:
//!
//! * `inuse_objects`/count and `inuse_space`/bytes: the objects placed at
//!   the frame itself. pprof's *flat* is the frame's own objects; its *cum*
//!   adds everything below it, so in dominator mode cum `inuse_space` is the
//!   frame's retained size (MAT's retained heap), and `-top -cum` by a type
//!   counts nested objects of the type once (retained by type). In paths mode
//!   cum is what the shortest paths reach first through the frame. The
//!   values of all samples add up to the live heap.
//! * `retained_space`/bytes: what the frame's objects retain together
//!   (dominator tree, nested ones counted once), in both modes. Read its
//!   *flat* column: cum would add up the retained sizes of nested frames,
//!   which overlap.
//!
//! The protobuf is written by hand: a handful of message types (Profile,
//! ValueType, Sample, Location, Line, Function) with varint, length-delimited
//! and packed fields.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::tree::{RetentionTree, ALL};

/// A protobuf message being written.
#[derive(Default)]
struct Pb {
    buf: Vec<u8>,
}

const VARINT: u64 = 0;
const LEN: u64 = 2;

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    /// An integer field; zero (the default) is left out.
    fn uint(&mut self, field: u64, v: u64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v);
        }
    }

    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    fn message(&mut self, field: u64, f: impl FnOnce(&mut Pb)) {
        let mut m = Pb::default();
        f(&mut m);
        self.bytes(field, &m.buf);
    }

    fn packed(&mut self, field: u64, values: impl IntoIterator<Item = u64>) {
        let mut m = Pb::default();
        for v in values {
            m.varint(v);
        }
        if !m.buf.is_empty() {
            self.bytes(field, &m.buf);
        }
    }
}

/// The string table: index 0 is the empty string.
struct Strings {
    index: HashMap<String, u64>,
    table: Vec<String>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            index: HashMap::from([(String::new(), 0)]),
            table: vec![String::new()],
        }
    }

    fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as u64;
        self.index.insert(s.to_string(), i);
        self.table.push(s.to_string());
        i
    }
}

// profile.proto field numbers.
const PROFILE_SAMPLE_TYPE: u64 = 1;
const PROFILE_SAMPLE: u64 = 2;
const PROFILE_MAPPING: u64 = 3;
const PROFILE_LOCATION: u64 = 4;
const PROFILE_FUNCTION: u64 = 5;
const PROFILE_STRING_TABLE: u64 = 6;
const PROFILE_COMMENT: u64 = 13;
const PROFILE_DEFAULT_SAMPLE_TYPE: u64 = 14;
const VALUE_TYPE_TYPE: u64 = 1;
const VALUE_TYPE_UNIT: u64 = 2;
const SAMPLE_LOCATION_ID: u64 = 1;
const SAMPLE_VALUE: u64 = 2;
const MAPPING_ID: u64 = 1;
const MAPPING_MEMORY_LIMIT: u64 = 3;
const MAPPING_FILENAME: u64 = 5;
const MAPPING_HAS_FUNCTIONS: u64 = 7;
const LOCATION_ID: u64 = 1;
const LOCATION_MAPPING_ID: u64 = 2;
const LOCATION_ADDRESS: u64 = 3;
const LOCATION_LINE: u64 = 4;
const LINE_FUNCTION_ID: u64 = 1;
const FUNCTION_ID: u64 = 1;
const FUNCTION_NAME: u64 = 2;
const FUNCTION_SYSTEM_NAME: u64 = 3;

/// The sample types, in value order.
pub const SAMPLE_TYPES: [(&str, &str); 3] = [
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
    ("retained_space", "bytes"),
];

/// The uncompressed profile. Location and function `i + 1` stand for
/// label `i`, at address `i + 1` of one mapping named after the executable
/// (with functions, so pprof does not try to symbolize it); `comments` go
/// to the profile's comment list.
fn encode(tree: &RetentionTree, exe: &str, comments: &[String]) -> Vec<u8> {
    let mut strings = Strings::new();
    let mut p = Pb::default();
    for (ty, unit) in SAMPLE_TYPES {
        let (ty, unit) = (strings.id(ty), strings.id(unit));
        p.message(PROFILE_SAMPLE_TYPE, |m| {
            m.uint(VALUE_TYPE_TYPE, ty);
            m.uint(VALUE_TYPE_UNIT, unit);
        });
    }
    for (i, f) in tree.frames.iter().enumerate() {
        if i == ALL as usize || (f.objects == 0 && f.bytes == 0 && f.retained == 0) {
            continue;
        }
        let stack = tree.stack(i as u32);
        p.message(PROFILE_SAMPLE, |m| {
            m.packed(SAMPLE_LOCATION_ID, stack.iter().map(|&l| u64::from(l) + 1));
            // Packed fields must be written even when a value is zero, so
            // every sample has one value per sample type.
            let mut values = Pb::default();
            for v in [f.objects, f.bytes, f.retained] {
                values.varint(v);
            }
            m.bytes(SAMPLE_VALUE, &values.buf);
        });
    }
    let exe = strings.id(exe);
    p.message(PROFILE_MAPPING, |m| {
        m.uint(MAPPING_ID, 1);
        m.uint(MAPPING_MEMORY_LIMIT, tree.labels.len() as u64 + 1);
        m.uint(MAPPING_FILENAME, exe);
        m.uint(MAPPING_HAS_FUNCTIONS, 1);
    });
    for (i, label) in tree.labels.iter().enumerate() {
        let id = i as u64 + 1;
        let name = strings.id(&label.text);
        p.message(PROFILE_LOCATION, |m| {
            m.uint(LOCATION_ID, id);
            m.uint(LOCATION_MAPPING_ID, 1);
            m.uint(LOCATION_ADDRESS, id);
            m.message(LOCATION_LINE, |l| l.uint(LINE_FUNCTION_ID, id));
        });
        p.message(PROFILE_FUNCTION, |m| {
            m.uint(FUNCTION_ID, id);
            m.uint(FUNCTION_NAME, name);
            m.uint(FUNCTION_SYSTEM_NAME, name);
        });
    }
    let comments: Vec<u64> = comments.iter().map(|c| strings.id(c)).collect();
    let default_type = strings.id("inuse_space");
    for c in comments {
        p.uint(PROFILE_COMMENT, c);
    }
    p.uint(PROFILE_DEFAULT_SAMPLE_TYPE, default_type);
    for s in &strings.table {
        p.bytes(PROFILE_STRING_TABLE, s.as_bytes());
    }
    p.buf
}

/// Write the gzipped profile of `tree` to `out`; `exe` names the profile's
/// binary.
pub fn write(
    tree: &RetentionTree,
    exe: &str,
    comments: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&encode(tree, exe, comments))?;
    gz.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Pb;

    #[test]
    fn varints_and_fields() {
        let mut p = Pb::default();
        p.varint(1);
        p.varint(300);
        p.varint(u64::MAX);
        assert_eq!(&p.buf[..3], [0x01, 0xac, 0x02]);
        assert_eq!(p.buf.len(), 3 + 10);
        let mut p = Pb::default();
        p.uint(1, 0); // default: left out
        p.uint(2, 5);
        p.packed(3, [1, 2]);
        p.message(4, |m| m.uint(1, 7));
        assert_eq!(p.buf, [0x10, 5, 0x1a, 2, 1, 2, 0x22, 2, 0x08, 7]);
    }
}
