//! Runtime layout tables: what gorefs reads from DWARF, saved per Go release
//! so that a binary without DWARF (`-ldflags='-s -w'`, `strip`) can still be
//! analysed.
//!
//! A table holds the runtime structs gorefs reads by field name
//! ([`RUNTIME_TYPES`], with every struct and array they embed by value;
//! pointer targets are cut), the runtime constants it reads, and the wait
//! reason strings. `scripts/make-layouts.sh` writes one table per release and
//! GOEXPERIMENT variant from the unstripped test binaries in `testdata/`
//! (`examples/layout_table.rs`); they are compiled in from `layouts/`, and a
//! test checks each still equals what its binary's DWARF says.
//!
//! The text format is one record a line, the name last (names may hold
//! spaces): `type ID KIND SIZE NAME` with `KIND` one of `struct`, `ptr`,
//! `array`, `typedef`, `base`, `other`, followed by its `field NAME OFFSET
//! TYPE EMBEDDED` lines, `elem TYPE COUNT`, `target TYPE` or `encoding N`;
//! `const NAME VALUE`; `wait INDEX TEXT`; and a header of `go VERSION` and
//! `experiments LIST`. `-` stands for an absent number.

use std::collections::HashMap;

use gotypes::dwarf::{DwarfInfo, DwarfType, DwarfTypeId, FieldLayout, GlobalVar, TypeShape};

use crate::error::Error;
use crate::loader::GoVersion;

/// The runtime structs gorefs reads by field name, in any release.
pub const RUNTIME_TYPES: &[&str] = &[
    "runtime.mheap",
    "runtime.mspan",
    "runtime.heapArena",
    "runtime.spanInlineMarkBits",
    "runtime.pallocData",
    "runtime.moduledata",
    "runtime.g",
    "runtime.m",
    "runtime._defer",
    "runtime.special",
    "runtime.specialfinalizer",
    "runtime.specialWeakHandle",
    "runtime.specialCleanup",
    "runtime.finBlock",
    "runtime.finblock",
    "runtime.finalizer",
    "runtime.cleanupQueue",
    "runtime.cleanupBlock",
    "runtime.hmap",
    "runtime.hchan",
    "internal/runtime/maps.Map",
    "internal/runtime/maps.table",
];

/// Prefixes of the runtime constants gorefs reads.
const RUNTIME_CONSTANTS: &[&str] = &[
    "runtime._KindSpecial",
    "runtime.mSpan",
    "runtime.heapArenaBytes",
    "runtime.arenaBaseOffsetUintptr",
];

/// The tables compiled into gorefs.
const BUILTIN: &[(&str, &str)] = &[
    ("go1.21", include_str!("../layouts/go1.21.txt")),
    ("go1.22", include_str!("../layouts/go1.22.txt")),
    ("go1.23", include_str!("../layouts/go1.23.txt")),
    ("go1.24", include_str!("../layouts/go1.24.txt")),
    (
        "go1.24-noswissmap",
        include_str!("../layouts/go1.24-noswissmap.txt"),
    ),
    ("go1.25", include_str!("../layouts/go1.25.txt")),
    (
        "go1.25-greenteagc",
        include_str!("../layouts/go1.25-greenteagc.txt"),
    ),
    ("go1.26", include_str!("../layouts/go1.26.txt")),
    (
        "go1.26-nogreenteagc",
        include_str!("../layouts/go1.26-nogreenteagc.txt"),
    ),
    ("go1.27", include_str!("../layouts/go1.27.txt")),
];

/// A parsed table.
pub struct RuntimeTable {
    /// The release it was taken from (`go1.24.11`).
    pub version: String,
    pub experiments: Vec<String>,
    types: Vec<DwarfType>,
    constants: Vec<(Box<str>, i64)>,
    pub wait_reasons: Vec<String>,
}

impl RuntimeTable {
    /// The built-in table for a release: the one taken with the same
    /// GOEXPERIMENT settings, else the release's default one. The flag says
    /// whether the experiments matched.
    pub fn builtin(version: GoVersion, experiments: &[String]) -> Option<(RuntimeTable, bool)> {
        let minor = format!("go{}.{}", version.major, version.minor);
        let mut wanted: Vec<&str> = experiments.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        let key = if wanted.is_empty() {
            minor.clone()
        } else {
            format!("{minor}-{}", wanted.join(","))
        };
        let pick = |k: &str| BUILTIN.iter().find(|(name, _)| *name == k);
        let (found, exact) = match pick(&key) {
            Some(t) => (t, true),
            None => (pick(&minor)?, false),
        };
        // Built-in tables are checked by tests; a parse error is a bug.
        RuntimeTable::parse(found.1).ok().map(|t| (t, exact))
    }

    /// Save what `dwarf` says of the runtime: [`RUNTIME_TYPES`] and what
    /// they embed, the runtime constants gorefs reads, and `wait_reasons`.
    pub fn extract(
        dwarf: &DwarfInfo,
        version: &str,
        experiments: &[String],
        wait_reasons: &[String],
    ) -> String {
        let mut ids: HashMap<DwarfTypeId, u32> = HashMap::new();
        let mut order: Vec<DwarfTypeId> = Vec::new();
        let mut queue: Vec<DwarfTypeId> = RUNTIME_TYPES
            .iter()
            .filter_map(|n| dwarf.type_by_name(n))
            .collect();
        while let Some(id) = queue.pop() {
            if ids.contains_key(&id) {
                continue;
            }
            ids.insert(id, order.len() as u32);
            order.push(id);
            match &dwarf.ty(id).shape {
                TypeShape::Struct { fields } => queue.extend(fields.iter().map(|f| f.ty)),
                TypeShape::Array { elem, .. } => queue.push(*elem),
                TypeShape::Typedef { target } => queue.push(*target),
                _ => {}
            }
        }
        let num = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let mut out = String::from(
            "# gorefs runtime layout table: written by scripts/make-layouts.sh, do not edit\n",
        );
        out += &format!("go {version}\n");
        out += format!("experiments {}", experiments.join(",")).trim_end();
        out += "\n";
        for (i, &id) in order.iter().enumerate() {
            let t = dwarf.ty(id);
            let (kind, detail) = match &t.shape {
                TypeShape::Struct { fields } => (
                    "struct",
                    fields
                        .iter()
                        .map(|f| {
                            format!(
                                "field {} {} {} {}\n",
                                f.name,
                                f.offset,
                                ids[&f.ty],
                                u8::from(f.embedded)
                            )
                        })
                        .collect(),
                ),
                TypeShape::Pointer { .. } => ("ptr", String::new()),
                TypeShape::Array { elem, count } => {
                    ("array", format!("elem {} {}\n", ids[elem], num(*count)))
                }
                TypeShape::Typedef { target } => ("typedef", format!("target {}\n", ids[target])),
                TypeShape::Base { encoding } => ("base", format!("encoding {encoding}\n")),
                TypeShape::Subroutine | TypeShape::Unknown => ("other", String::new()),
            };
            out += &format!("type {i} {kind} {} {}\n{detail}", num(t.size), t.name);
        }
        for (name, value) in dwarf.constants() {
            if RUNTIME_CONSTANTS.iter().any(|p| name.starts_with(p)) {
                out += &format!("const {name} {value}\n");
            }
        }
        for (i, w) in wait_reasons.iter().enumerate() {
            out += &format!("wait {i} {w}\n");
        }
        out
    }

    pub fn parse(text: &str) -> Result<RuntimeTable, Error> {
        let mut t = RuntimeTable {
            version: String::new(),
            experiments: Vec::new(),
            types: Vec::new(),
            constants: Vec::new(),
            wait_reasons: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let bad = || Error::Layout(format!("layout table line {}: {line:?}", n + 1));
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            let mut words = rest.splitn(4, ' ');
            let mut word = || words.next().ok_or_else(bad);
            let opt = |w: &str| -> Result<Option<u64>, Error> {
                if w == "-" {
                    Ok(None)
                } else {
                    w.parse().map(Some).map_err(|_| bad())
                }
            };
            let int = |w: &str| -> Result<u64, Error> { w.parse().map_err(|_| bad()) };
            let id = |w: &str| -> Result<DwarfTypeId, Error> {
                Ok(DwarfTypeId::from_raw(w.parse().map_err(|_| bad())?))
            };
            match tag {
                "go" => t.version = rest.to_string(),
                "experiments" => {
                    t.experiments = rest
                        .split(',')
                        .filter(|e| !e.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                "type" => {
                    let index = int(word()?)?;
                    if index != t.types.len() as u64 {
                        return Err(bad());
                    }
                    let kind = word()?;
                    let size = opt(word()?)?;
                    let name = words.next().unwrap_or("").to_string();
                    let shape = match kind {
                        "struct" => TypeShape::Struct { fields: Vec::new() },
                        "ptr" => TypeShape::Pointer { target: None },
                        // Completed by the detail line that follows.
                        "array" | "typedef" | "base" | "other" => TypeShape::Unknown,
                        _ => return Err(bad()),
                    };
                    t.types.push(DwarfType {
                        name,
                        size,
                        go_kind: None,
                        runtime_type: None,
                        shape,
                        go_elem: None,
                        go_key: None,
                    });
                }
                "field" | "elem" | "target" | "encoding" => {
                    let shape = &mut t.types.last_mut().ok_or_else(bad)?.shape;
                    match (tag, shape) {
                        ("field", TypeShape::Struct { fields }) => fields.push(FieldLayout {
                            name: word()?.to_string(),
                            offset: int(word()?)?,
                            ty: id(word()?)?,
                            size: None,
                            embedded: word()? == "1",
                        }),
                        ("elem", shape @ TypeShape::Unknown) => {
                            *shape = TypeShape::Array {
                                elem: id(word()?)?,
                                count: opt(word()?)?,
                            }
                        }
                        ("target", shape @ TypeShape::Unknown) => {
                            *shape = TypeShape::Typedef {
                                target: id(word()?)?,
                            }
                        }
                        ("encoding", shape @ TypeShape::Unknown) => {
                            *shape = TypeShape::Base {
                                encoding: u8::try_from(int(word()?)?).map_err(|_| bad())?,
                            }
                        }
                        _ => return Err(bad()),
                    }
                }
                "const" => {
                    let name = word()?;
                    let value: i64 = word()?.parse().map_err(|_| bad())?;
                    t.constants.push((name.into(), value));
                }
                "wait" => {
                    let (index, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    if int(index)? != t.wait_reasons.len() as u64 {
                        return Err(bad());
                    }
                    t.wait_reasons.push(text.to_string());
                }
                _ => return Err(bad()),
            }
        }
        if t.version.is_empty() {
            return Err(Error::Layout("layout table has no `go` line".into()));
        }
        Ok(t)
    }

    /// The table as a [`DwarfInfo`] with the given globals (link-time
    /// addresses), for [`crate::layout::Lookup`].
    pub fn dwarf(&self, globals: Vec<GlobalVar>) -> DwarfInfo {
        DwarfInfo::from_parts(self.types.clone(), self.constants.clone(), globals)
    }

    /// `go1.24.11`, or `go1.24.11 (GOEXPERIMENT=noswissmap)`.
    pub fn describe(&self) -> String {
        if self.experiments.is_empty() {
            self.version.clone()
        } else {
            format!(
                "{} (GOEXPERIMENT={})",
                self.version,
                self.experiments.join(",")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_table_parses() {
        for (name, text) in BUILTIN {
            let t = RuntimeTable::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let d = t.dwarf(Vec::new());
            for s in [
                "runtime.mheap",
                "runtime.mspan",
                "runtime.g",
                "runtime.moduledata",
            ] {
                assert!(d.struct_layout(s).is_some(), "{name}: {s}");
            }
            assert!(!t.wait_reasons.is_empty(), "{name}");
        }
    }

    /// Each table is what `scripts/make-layouts.sh` writes from the test
    /// binary of its release and variant: none was edited by hand or left
    /// behind when the test data changed.
    #[test]
    fn layout_tables_match_the_test_binaries() {
        let cores = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores");
        for (name, text) in BUILTIN {
            // go1.24-noswissmap is testdata/cores/go1.24.<patch>-noswissmap.
            let (minor, tags) = name.split_once('-').map_or((*name, ""), |(m, t)| (m, t));
            let dir = std::fs::read_dir(&cores)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    let n = p.file_name().unwrap().to_string_lossy().into_owned();
                    let (release, variant_tags) = n.split_once('-').unwrap_or((&n, ""));
                    release.rsplit_once('.').map(|r| r.0) == Some(minor) && variant_tags == tags
                })
                .unwrap_or_else(|| panic!("{name}: no test core"));
            let core =
                crate::process::Core::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst")))
                    .unwrap();
            let extracted = RuntimeTable::extract(
                &core.dwarf,
                &core.loaded.exe.build_info.go_version,
                &core.experiments,
                &core.wait_reasons(),
            );
            assert!(extracted == *text, "{name}: run scripts/make-layouts.sh");
        }
    }

    #[test]
    fn malformed_tables_are_errors() {
        for bad in [
            "",
            "go go1.24.11\ntype 1 struct 8 x\n",
            "go go1.24.11\ntype 0 wat 8 x\n",
            "go go1.24.11\nfield a 0 0 0\n",
            "go go1.24.11\ntype 0 ptr 8 *x\nelem 0 1\n",
            "go go1.24.11\ntype 0 struct 8 x\nfield a zero 0 0\n",
            "go go1.24.11\nwait 3 idle\n",
            "go go1.24.11\nsurprise\n",
        ] {
            assert!(RuntimeTable::parse(bad).is_err(), "{bad:?}");
        }
    }
}
