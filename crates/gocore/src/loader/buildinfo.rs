//! Go build information from the `.go.buildinfo` section: the toolchain
//! version, the experiments the binary was built with, and the build settings.
//!
//! Layout (`debug/buildinfo/buildinfo.go`, Go 1.18+): a 32-byte header
//! `"\xff Go buildinf:"` | ptrSize u8 @14 | flags u8 @15, then the version and
//! the module info as uvarint-length-prefixed strings ("inline strings", flag
//! bit 1). Older binaries stored pointers instead; gorefs does not support them.

use std::fmt;
use std::path::Path;

use super::LoadError;

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const FLAG_BIG_ENDIAN: u8 = 1 << 0;
const FLAG_INLINE_STRINGS: u8 = 1 << 1;
/// Length of the sentinels `cmd/go` puts around the module info.
const MODINFO_SENTINEL: usize = 16;

/// The oldest and newest Go releases gorefs models (minor versions of Go 1).
pub const OLDEST_SUPPORTED_MINOR: u32 = 21;
pub const NEWEST_SUPPORTED_MINOR: u32 = 27;

/// A Go release number, ordered: `go1.24.11` is `{1, 24, 11}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl GoVersion {
    /// Parse `go1.21.13`, `go1.22` or `go1.23rc1` (a release candidate counts
    /// as patch 0). `None` for anything else, such as `devel +abc`.
    pub fn parse(s: &str) -> Option<GoVersion> {
        let rest = s.strip_prefix("go")?;
        let mut parts = rest.splitn(3, '.');
        let major = leading_number(parts.next()?)?;
        let minor = leading_number(parts.next()?)?;
        let patch = match parts.next() {
            Some(p) => leading_number(p)?,
            None => 0,
        };
        Some(GoVersion {
            major,
            minor,
            patch,
        })
    }

    /// Whether gorefs knows this release's runtime (Go 1.21 to 1.27).
    pub fn is_supported(self) -> bool {
        self.major == 1 && (OLDEST_SUPPORTED_MINOR..=NEWEST_SUPPORTED_MINOR).contains(&self.minor)
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "go{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The digits at the start of `s` (at least one).
fn leading_number(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// What `go version -m` prints, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release without the experiment suffix, e.g. `go1.24.11`.
    pub go_version: String,
    pub version: GoVersion,
    /// Experiments that differ from the release's baseline, from the
    /// `GOEXPERIMENT` build setting and the version's `X:` suffix
    /// (e.g. `noswissmap`, `greenteagc`, `nogreenteagc`), without duplicates.
    pub experiments: Vec<String>,
    /// `build` lines of the module info: `("GOARCH", "amd64")`, ...
    pub settings: Vec<(String, String)>,
    /// The main package path (`path` line), empty if the module info is absent.
    pub main_path: String,
}

impl BuildInfo {
    /// The value of a build setting such as `GOEXPERIMENT` or `-buildmode`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_experiment(&self, name: &str) -> bool {
        self.experiments.iter().any(|e| e == name)
    }

    /// Fail with [`LoadError::UnsupportedGoVersion`] unless this is Go 1.21–1.27.
    pub fn check_supported(&self) -> Result<(), LoadError> {
        if self.version.is_supported() {
            Ok(())
        } else {
            Err(LoadError::UnsupportedGoVersion {
                version: self.go_version.clone(),
            })
        }
    }

    /// Parse the contents of a `.go.buildinfo` section of the binary at `path`.
    pub fn parse(path: &Path, data: &[u8]) -> Result<BuildInfo, LoadError> {
        let bad = |detail: &str| LoadError::BadBuildInfo {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        if data.len() < HEADER_LEN || !data.starts_with(MAGIC) {
            return Err(bad("no \"\\xff Go buildinf:\" header"));
        }
        let ptr_size = data[14];
        let flags = data[15];
        if ptr_size != 8 || flags & FLAG_BIG_ENDIAN != 0 {
            return Err(bad("not a 64-bit little-endian Go binary"));
        }
        if flags & FLAG_INLINE_STRINGS == 0 {
            // Go 1.17 and older stored pointers to the strings instead.
            return Err(LoadError::UnsupportedGoVersion {
                version: "older than go1.18".into(),
            });
        }
        let mut rest = &data[HEADER_LEN..];
        let raw_version = read_string(&mut rest).ok_or_else(|| bad("truncated version string"))?;
        let modinfo = read_string(&mut rest).unwrap_or_default();
        let raw_version =
            std::str::from_utf8(raw_version).map_err(|_| bad("version string is not UTF-8"))?;
        let modinfo = strip_sentinels(modinfo);
        let modinfo = String::from_utf8_lossy(modinfo);

        let (go_version, suffix_experiments) = split_experiments(raw_version);
        let version =
            GoVersion::parse(go_version).ok_or_else(|| LoadError::UnsupportedGoVersion {
                version: raw_version.to_string(),
            })?;

        let mut settings = Vec::new();
        let mut main_path = String::new();
        for line in modinfo.lines() {
            if let Some(p) = line.strip_prefix("path\t") {
                main_path = p.to_string();
            } else if let Some(kv) = line.strip_prefix("build\t") {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                settings.push((unquote(k), unquote(v)));
            }
        }

        let mut experiments: Vec<String> = Vec::new();
        let from_setting = settings
            .iter()
            .filter(|(k, _)| k == "GOEXPERIMENT")
            .flat_map(|(_, v)| v.split(','));
        for e in suffix_experiments.split(',').chain(from_setting) {
            let e = e.trim();
            if !e.is_empty() && !experiments.iter().any(|x| x == e) {
                experiments.push(e.to_string());
            }
        }

        Ok(BuildInfo {
            go_version: go_version.to_string(),
            version,
            experiments,
            settings,
            main_path,
        })
    }
}

/// Split `go1.24.11 X:noswissmap` (≤1.25) or `go1.26.6-X:nogreenteagc` (1.26+)
/// into the release and the experiment list (`cmd/link/internal/ld/main.go`).
fn split_experiments(v: &str) -> (&str, &str) {
    for sep in [" X:", "-X:"] {
        if let Some((release, exps)) = v.split_once(sep) {
            return (release, exps);
        }
    }
    (v, "")
}

/// Read a uvarint-length-prefixed string, advancing `data`.
fn read_string<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    let mut i = 0;
    loop {
        let b = *data.get(i)?;
        i += 1;
        if shift > 63 {
            return None;
        }
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let len = usize::try_from(len).ok()?;
    let s = data.get(i..i.checked_add(len)?)?;
    *data = &data[i + len..];
    Some(s)
}

/// `debug/buildinfo.readRawBuildInfo`: drop the 16-byte sentinels around the
/// module info when they are present.
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() > 2 * MODINFO_SENTINEL && m[m.len() - MODINFO_SENTINEL - 1] == b'\n' {
        &m[MODINFO_SENTINEL..m.len() - MODINFO_SENTINEL]
    } else {
        m
    }
}

/// `cmd/go` quotes setting keys and values that contain spaces, quotes or
/// `=` (e.g. `-ldflags="-s -w"`), with Go's `strconv.Quote`. Undo the simple
/// escapes that can appear there.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.go.buildinfo` section as the linker writes it.
    pub(crate) fn section(version: &str, modinfo: &str) -> Vec<u8> {
        let mut d = MAGIC.to_vec();
        d.push(8);
        d.push(FLAG_INLINE_STRINGS);
        d.resize(HEADER_LEN, 0);
        for s in [version.as_bytes(), modinfo.as_bytes()] {
            let mut n = s.len();
            while n >= 0x80 {
                d.push((n as u8) | 0x80);
                n >>= 7;
            }
            d.push(n as u8);
            d.extend_from_slice(s);
        }
        d
    }

    /// Module info wrapped in 16-byte sentinels, as `cmd/go` embeds it.
    pub(crate) fn with_sentinels(body: &str) -> String {
        format!("{}{body}\n{}", "S".repeat(16), "T".repeat(16))
    }

    #[test]
    fn parses_version_settings_and_experiments() {
        let mi = with_sentinels(
            "path\texample.com/heapzoo\nmod\texample.com/heapzoo\t(devel)\t\nbuild\t-buildmode=exe\nbuild\t-ldflags=\"-s -w\"\nbuild\tGOEXPERIMENT=noswissmap,greenteagc\nbuild\tGOARCH=amd64",
        );
        let bi = BuildInfo::parse(Path::new("x"), &section("go1.24.11 X:noswissmap", &mi)).unwrap();
        assert_eq!(bi.go_version, "go1.24.11");
        let v = GoVersion {
            major: 1,
            minor: 24,
            patch: 11,
        };
        assert_eq!(bi.version, v);
        assert_eq!(v.to_string(), "go1.24.11");
        assert_eq!(bi.experiments, ["noswissmap", "greenteagc"]);
        assert_eq!(bi.main_path, "example.com/heapzoo");
        assert_eq!(bi.setting("-ldflags"), Some("-s -w"));
        assert_eq!(bi.setting("GOARCH"), Some("amd64"));
        assert!(bi.check_supported().is_ok());

        let bare =
            BuildInfo::parse(Path::new("x"), &section("go1.26.6-X:nogreenteagc", "")).unwrap();
        assert_eq!(bare.go_version, "go1.26.6");
        assert_eq!(bare.experiments, ["nogreenteagc"]);
        assert!(bare.settings.is_empty());
    }

    #[test]
    fn versions_order_and_support() {
        let p = |s| GoVersion::parse(s).unwrap();
        assert!(p("go1.21.13") < p("go1.22"));
        assert!(p("go1.22rc1") < p("go1.22.1"));
        assert_eq!(GoVersion::parse("devel +abc"), None);
        assert!(!p("go1.20.14").is_supported());
        assert!(p("go1.27.3").is_supported());
        assert!(!p("go1.28").is_supported());
        let old = BuildInfo::parse(Path::new("x"), &section("go1.20.14", "")).unwrap();
        let err = old.check_supported().unwrap_err();
        assert!(
            matches!(&err, LoadError::UnsupportedGoVersion { version } if version == "go1.20.14")
        );
        assert!(matches!(
            BuildInfo::parse(Path::new("x"), &section("devel +abc", "")),
            Err(LoadError::UnsupportedGoVersion { .. })
        ));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let good = section("go1.24.11", &with_sentinels("path\tx"));
        for cut in 0..good.len() {
            let _ = BuildInfo::parse(Path::new("x"), &good[..cut]);
        }
        let mut huge = section("go1.24.11", "");
        huge[HEADER_LEN] = 0xff; // uvarint length running past the end
        huge[HEADER_LEN + 1] = 0xff;
        assert!(BuildInfo::parse(Path::new("x"), &huge).is_err());
        let mut data = vec![0xffu8; 64];
        data[..14].copy_from_slice(MAGIC);
        assert!(BuildInfo::parse(Path::new("x"), &data).is_err());
    }
}
