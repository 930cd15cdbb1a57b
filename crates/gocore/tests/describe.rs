//! `gocore::describe` on the bundled heapzoo cores
//! (`testdata/cores/<variant>/{core.zst,heapzoo.zst,truth.json}`): the
//! objects pointing to known objects of the ground truth must name their
//! pointer slots exactly (`map[0] value`, `[0]`, `.Next`, `chan buf`,
//! `closure var captured`, ...), and `inspect` must show a `main.Session`'s
//! fields with their Go types and values (see
//! `testdata/programs/heapzoo/{main,types}.go`).
//!
//! Set `GOREFS_DESCRIBE_DUMP=1` to print every name the test looks at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gocore::describe::{Describer, FieldValue};
use gocore::heap::ObjId;
use gocore::process::{Analysis, Core};
use gocore::typing::TypeRef;
use gocore::Addr;
use gotypes::rtype::MapLayout;

fn cores_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores")
}

/// `(name, address, type)` of every object in `truth.json`'s `objects`.
fn truth_objects(dir: &Path) -> Vec<(String, Addr, String)> {
    let s = std::fs::read_to_string(dir.join("truth.json")).expect("truth.json");
    let start = s.find("\"objects\": [").expect("objects in truth.json");
    let body = &s[start..];
    let body = &body[..body.find("\n  ]").expect("end of objects")];
    body.split('{')
        .skip(1)
        .map(|entry| {
            let name = json_string(entry, "name");
            let addr = json_string(entry, "address");
            let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).expect("hex address");
            (name, Addr(addr), json_string(entry, "type"))
        })
        .collect()
}

/// The string value of `"key": "..."` in `entry` (JSON escapes decoded).
fn json_string(entry: &str, key: &str) -> String {
    let pat = format!("\"{key}\": \"");
    let i = entry
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} in {entry}"))
        + pat.len();
    let mut out = String::new();
    let mut chars = entry[i..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let cp = u32::from_str_radix(&hex, 16).expect("\\u escape");
                    out.push(char::from_u32(cp).expect("BMP char"));
                }
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("unterminated string for {key}");
}

/// A pointer slot of a live object: the object, the slot's offset from the
/// object's start (`user_addr`) and the object the slot points to.
#[derive(Clone, Copy)]
struct Edge {
    from: ObjId,
    offset: u64,
    to: ObjId,
}

struct Fixture<'a> {
    variant: String,
    a: &'a Analysis<'a>,
    d: Describer<'a>,
    /// Every pointer slot of every live object, by target object.
    incoming: HashMap<ObjId, Vec<Edge>>,
    /// ... and by source object.
    outgoing: HashMap<ObjId, Vec<Edge>>,
    truth: Vec<(String, Addr, String)>,
    dump: bool,
}

impl Fixture<'_> {
    fn obj(&self, truth_name: &str) -> ObjId {
        let (_, addr, _) = self
            .truth
            .iter()
            .find(|(n, _, _)| n == truth_name)
            .unwrap_or_else(|| panic!("{}: {truth_name} not in truth.json", self.variant));
        self.a
            .heap
            .find_object(*addr)
            .unwrap_or_else(|| panic!("{}: no object at {addr} ({truth_name})", self.variant))
    }

    fn ty(&self, id: ObjId) -> (TypeRef, u32) {
        let t = self.a.types.type_of(id).unwrap_or_else(|| {
            panic!(
                "{}: object at {} has no type",
                self.variant,
                self.a.heap.user_addr(id)
            )
        });
        (t, self.a.types.count(id))
    }

    fn path(&self, e: Edge) -> String {
        let (t, n) = self.ty(e.from);
        self.d
            .field_path(t, n, self.a.heap.user_addr(e.from), e.offset)
    }

    fn type_name(&self, id: ObjId) -> String {
        self.a.types.display_name(id, &self.a.heap)
    }

    /// `(type of the referring object, name of its slot)` for every pointer
    /// to `id` from a typed live object.
    fn referrers(&self, id: ObjId) -> Vec<(String, String)> {
        let v: Vec<(String, String)> = self
            .incoming
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|e| self.a.types.is_typed(e.from))
            .map(|&e| (self.type_name(e.from), self.path(e)))
            .collect();
        if self.dump {
            eprintln!(
                "{}: referrers of {}: {v:?}",
                self.variant,
                self.type_name(id)
            );
        }
        v
    }

    /// `(name of the slot, type of the target)` of every pointer of `id`.
    fn pointers(&self, id: ObjId) -> Vec<(String, String)> {
        let v: Vec<(String, String)> = self
            .outgoing
            .get(&id)
            .into_iter()
            .flatten()
            .map(|&e| (self.path(e), self.type_name(e.to)))
            .collect();
        if self.dump {
            eprintln!(
                "{}: pointers of {}: {v:?}",
                self.variant,
                self.type_name(id)
            );
        }
        v
    }

    fn inspect(&self, id: ObjId) -> Vec<FieldValue> {
        let (t, n) = self.ty(id);
        let heap = &self.a.heap;
        let start = heap.user_addr(id);
        let size = heap.size(id) - (start.0 - heap.slot(id).0);
        let rows = self.d.inspect(t, n, start, size);
        if self.dump {
            eprintln!("{}: inspect {}:", self.variant, self.type_name(id));
            for r in &rows {
                eprintln!(
                    "    {:<24} +{:<5x} {:<24} {} {:?}",
                    r.path, r.offset, r.type_name, r.value, r.pointer
                );
            }
        }
        rows
    }

    fn assert_referrer(&self, target: &str, from_type: &str, path: &str) {
        let refs = self.referrers(self.obj(target));
        assert!(
            refs.iter().any(|(t, p)| t == from_type && p == path),
            "{}: no {from_type} names its pointer to {target} `{path}`; got {refs:?}",
            self.variant
        );
    }
}

fn edges(a: &Analysis<'_>) -> (HashMap<ObjId, Vec<Edge>>, HashMap<ObjId, Vec<Edge>>) {
    let mut incoming: HashMap<ObjId, Vec<Edge>> = HashMap::new();
    let mut outgoing: HashMap<ObjId, Vec<Edge>> = HashMap::new();
    let mem = a.core.mem();
    for i in 0..a.heap.object_count() {
        let from = ObjId(i as u32);
        if !a.is_live(from) {
            continue;
        }
        let start = a.heap.user_addr(from);
        a.heap.for_each_pointer(mem, &a.rtypes, from, |slot, p| {
            let (Some(offset), Some(to)) = (slot.offset_from(start), a.heap.find_object(p)) else {
                return;
            };
            let e = Edge { from, offset, to };
            incoming.entry(to).or_default().push(e);
            outgoing.entry(from).or_default().push(e);
        });
    }
    (incoming, outgoing)
}

fn check_variant(variant: &str) {
    let dir = cores_dir().join(variant);
    let core = Core::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst")))
        .unwrap_or_else(|e| panic!("{variant}: open: {e}"));
    let a = core
        .analyze()
        .unwrap_or_else(|e| panic!("{variant}: analyze: {e}"));
    let (incoming, outgoing) = edges(&a);
    let f = Fixture {
        variant: variant.to_string(),
        a: &a,
        d: Describer::for_analysis(&a),
        incoming,
        outgoing,
        truth: truth_objects(&dir),
        dump: std::env::var_os("GOREFS_DESCRIBE_DUMP").is_some(),
    };
    let swiss = a.rtypes.flavor().map_layout != MapLayout::Old;
    let (group, bucket) = (
        "map.group[int]*main.Session",
        "map.bucket[int]*main.Session",
    );
    let registry_part = if swiss { group } else { bucket };
    let small_part = if swiss {
        "map.group[string]*main.Config"
    } else {
        "map.bucket[string]*main.Config"
    };

    // Map values: registry[0] is the value of key 0, small["alpha"] of "alpha".
    let refs = f.referrers(f.obj("registry[0]"));
    assert!(
        refs.iter()
            .any(|(t, p)| t.ends_with(registry_part) && p == "map[0] value"),
        "{variant}: registry[0] not named `map[0] value` by its {registry_part}: {refs:?}"
    );
    f.assert_referrer("registry[0]", "main.Session", ".Peer");
    f.assert_referrer("registry[0]", "main.Big", ".Owner");
    let refs = f.referrers(f.obj("small[\"alpha\"]"));
    assert!(
        refs.iter()
            .any(|(t, p)| t.ends_with(small_part) && p == "map[\"alpha\"] value"),
        "{variant}: small[\"alpha\"] not named `map[\"alpha\"] value`: {refs:?}"
    );

    // inspect shows a group's/bucket's runtime fields: the slot holding
    // small["alpha"] and its key.
    let alpha = f.obj("small[\"alpha\"]");
    let holder = f.incoming[&alpha]
        .iter()
        .find(|e| f.type_name(e.from).ends_with(small_part))
        .expect("small's group")
        .from;
    let rows = f.inspect(holder);
    let elem = rows
        .iter()
        .find(|r| r.pointer == Some(a.heap.user_addr(alpha)))
        .unwrap_or_else(|| panic!("{variant}: no row points to small[\"alpha\"]: {rows:?}"));
    let key_path = elem
        .path
        .replace(".elem", ".key")
        .replace(".elems[", ".keys[");
    let key = rows.iter().find(|r| r.path == key_path);
    assert_eq!(
        key.map(|r| (r.type_name.as_str(), r.value.as_str())),
        Some(("string", "\"alpha\"")),
        "{variant}: key row {key_path} of {}",
        elem.path
    );

    // The map headers' own pointers, and the swiss directory and tables.
    let reg = f.obj("registry");
    let names: Vec<String> = f.pointers(reg).into_iter().map(|(p, _)| p).collect();
    let want = if swiss { ".dirPtr" } else { ".buckets" };
    assert!(
        names.iter().any(|p| p == want),
        "{variant}: registry header has no {want}: {names:?}"
    );
    if swiss {
        let dir_id = f
            .outgoing
            .get(&reg)
            .into_iter()
            .flatten()
            .map(|e| e.to)
            .find(|&t| matches!(a.types.type_of(t), Some(TypeRef::MapDirectory(_))))
            .unwrap_or_else(|| panic!("{variant}: registry has no directory"));
        let ptrs = f.pointers(dir_id);
        assert!(
            ptrs.iter()
                .any(|(p, t)| p == "map table[0]" && t.starts_with("map.table[int]")),
            "{variant}: directory does not name `map table[0]`: {ptrs:?}"
        );
        let table = f.outgoing[&dir_id][0].to;
        let ptrs = f.pointers(table);
        assert!(
            ptrs.iter()
                .any(|(p, t)| p == ".groups" && t.contains(group)),
            "{variant}: table does not name `.groups`: {ptrs:?}"
        );
    }

    if !swiss {
        // registry grew: some of its buckets overflowed.
        let overflow = f.outgoing.iter().any(|(&from, es)| {
            f.type_name(from).ends_with(bucket) && es.iter().any(|&e| f.path(e) == "map overflow")
        });
        assert!(
            overflow,
            "{variant}: no registry bucket names `map overflow`"
        );
    }

    // Backing arrays, struct fields, slices.
    f.assert_referrer("items[0]", "[100]*main.Item", "[0]");
    f.assert_referrer("ring", "main.Node", ".Next");
    f.assert_referrer("ring", "main.Node", ".Prev");
    f.assert_referrer("ring", "main.Big", ".Tail");
    f.assert_referrer("cyc", "main.Cyc", ".Next");
    f.assert_referrer("mids[0]", "main.Mid", ".Ptrs[0]");
    f.assert_referrer("heavies[0]", "main.PtrHeavy", ".P[3]");
    f.assert_referrer("boxes[0]", "[5]*main.Box[int]", "[0]");
    f.assert_referrer("holder.Leaves[3]", "[10]*main.Leaf", "[3]");
    let ptrs = f.pointers(f.obj("holder"));
    assert!(
        ptrs.iter()
            .any(|(p, t)| p == ".Leaves" && t == "[10]*main.Leaf"),
        "{variant}: holder does not name `.Leaves`: {ptrs:?}"
    );
    let ptrs = f.pointers(f.obj("tinyStrings"));
    assert!(
        ptrs.iter().any(|(p, _)| p == "[3]"),
        "{variant}: [64]string does not name its string data `[3]`: {ptrs:?}"
    );

    // Channels.
    let ptrs = f.pointers(f.obj("payloadCh"));
    assert!(
        ptrs.iter()
            .any(|(p, t)| p == "chan buf" && t == "[16]*main.Payload"),
        "{variant}: payloadCh does not name `chan buf`: {ptrs:?}"
    );
    f.assert_referrer("payloadCh[0]", "[16]*main.Payload", "[0]");

    // Closures and method values.
    let ptrs = f.pointers(f.obj("closure"));
    assert!(
        ptrs.iter()
            .any(|(p, t)| p == "closure var captured" && t == "main.Captured"),
        "{variant}: closure does not name `closure var captured`: {ptrs:?}"
    );
    assert!(
        // n is a tiny-allocated int: its block may hold other values too.
        ptrs.iter().any(|(p, _)| p == "closure var &n"),
        "{variant}: closure does not name `closure var &n`: {ptrs:?}"
    );
    let ptrs = f.pointers(f.obj("methodVal"));
    assert!(
        ptrs.iter()
            .any(|(p, t)| p == "method value receiver" && t == "main.Receiver"),
        "{variant}: method value does not name its receiver: {ptrs:?}"
    );

    // inspect: registry[499] = Session{ID: 499, Name: "session-499",
    // Score: 4990, Peer: registry[498]}.
    let s499 = f.obj("registry[499]");
    let rows = f.inspect(s499);
    let row = |path: &str| {
        rows.iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("{variant}: no {path} in {rows:?}"))
    };
    let shape: Vec<(&str, u64, &str)> = rows
        .iter()
        .map(|r| (r.path.as_str(), r.offset, r.type_name.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            (".ID", 0, "int"),
            (".Name", 8, "string"),
            (".Score", 24, "int"),
            (".Peer", 32, "*main.Session"),
        ],
        "{variant}: Session fields"
    );
    assert_eq!(row(".ID").value, "499");
    assert_eq!(row(".Name").value, "\"session-499\"");
    assert_eq!(row(".Score").value, "4990");
    let peer = row(".Peer").pointer.expect("Peer is set");
    assert_eq!(row(".Peer").value, peer.to_string());
    let peer = a.heap.find_object(peer).expect("Peer is an object");
    assert_eq!(f.inspect(peer)[0].value, "498", "{variant}: Peer.ID");
    assert_eq!(f.inspect(f.obj("registry[0]"))[3].value, "nil");

    // Floats: items[1].Weight == 0.5; the backing array stops after 16 rows.
    let items = f.inspect(f.obj("items"));
    assert_eq!(items.len(), 17, "{variant}: [100]*main.Item rows");
    assert_eq!(items[16].path, "[16:]");
    assert_eq!(items[16].value, "… 84 more");
    let item1 = a
        .heap
        .find_object(items[1].pointer.expect("items[1]"))
        .expect("items[1] object");
    let weight = f.inspect(item1);
    assert_eq!(
        (
            weight[1].path.as_str(),
            weight[1].type_name.as_str(),
            weight[1].value.as_str()
        ),
        (".Weight", "float64", "0.5")
    );

    // Interfaces, runtime structures and closures.
    let ch = f.inspect(f.obj("payloadCh"));
    let qcount = ch.iter().find(|r| r.path == ".qcount").expect(".qcount");
    assert_eq!(qcount.value, "10", "{variant}: hchan.qcount");
    let cl = f.inspect(f.obj("closure"));
    assert!(cl[0].path == "fn" && cl[0].value.contains("(main.build.func"));
    let captured = cl
        .iter()
        .find(|r| r.path == "closure var captured")
        .expect("closure var captured row");
    assert_eq!(captured.type_name, "*main.Captured");
    assert_eq!(
        captured.pointer.and_then(|p| a.heap.find_object(p)),
        Some(f.obj("captured"))
    );
    let hdr = f.inspect(reg);
    let count = if swiss { ".used" } else { ".count" };
    assert_eq!(
        hdr.iter()
            .find(|r| r.path == count)
            .map(|r| r.value.as_str()),
        Some("500"),
        "{variant}: map header {count}: {hdr:?}"
    );
}

/// Wrong types, wrong addresses and every offset: answers, never panics.
#[test]
fn garbage_does_not_panic() {
    for variant in ["go1.21.13", "go1.27.3"] {
        let dir = cores_dir().join(variant);
        let core = Core::open(&dir.join("core.zst"), Some(&dir.join("heapzoo.zst"))).expect("open");
        let a = core.analyze().expect("analyze");
        let d = Describer::for_analysis(&a);
        let n = a.heap.object_count();
        let mut typed: Vec<(ObjId, TypeRef, u32)> = (0..n)
            .map(|i| ObjId(i as u32))
            .filter_map(|id| Some((id, a.types.type_of(id)?, a.types.count(id))))
            .collect();
        typed.dedup_by_key(|(_, t, _)| *t);
        for (k, &(id, t, count)) in typed.iter().enumerate() {
            // Every word of the object, at its own address.
            let start = a.heap.user_addr(id);
            let size = a.heap.size(id) - (start.0 - a.heap.slot(id).0);
            for off in (0..size.min(4096)).step_by(8) {
                d.field_path(t, count, start, off);
            }
            // The type of another object, on this one; unmapped memory;
            // a huge count.
            let other = typed[(k + 1) % typed.len()].0;
            let other_start = a.heap.user_addr(other);
            d.inspect(t, count, other_start, a.heap.size(other));
            d.inspect(t, u32::MAX, Addr(8), u64::MAX);
            d.field_path(t, u32::MAX, Addr(8), u64::MAX - 7);
            d.inspect(t, 0, Addr(u64::MAX - 8), 1 << 20);
        }
        // Descriptor addresses that are not descriptors.
        for bogus in [0, 8, 0xc000000000, u64::MAX - 7] {
            for t in [
                TypeRef::Rt(Addr(bogus)),
                TypeRef::MapHeader(Addr(bogus)),
                TypeRef::MapTable(Addr(bogus)),
                TypeRef::MapDirectory(Addr(bogus)),
                TypeRef::Closure(Addr(bogus)),
            ] {
                assert!(d
                    .field_path(t, 3, Addr(bogus), 16)
                    .starts_with(['+', 'm', '.']));
                d.inspect(t, 3, Addr(bogus), 4096);
            }
        }
    }
}

macro_rules! variants {
    ($($test:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_variant($dir);
            }
        )*

        #[test]
        fn every_variant_is_tested() {
            let mut have: Vec<String> = std::fs::read_dir(cores_dir())
                .expect("testdata/cores")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("core.zst").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            have.sort();
            let mut tested = vec![$($dir.to_string()),*];
            tested.sort();
            assert_eq!(have, tested, "add new variants to tests/describe.rs");
        }
    };
}

variants! {
    go1_21_13 => "go1.21.13",
    go1_21_13_pie => "go1.21.13-pie",
    go1_22_10 => "go1.22.10",
    go1_23_9 => "go1.23.9",
    go1_23_9_gcore => "go1.23.9-gcore",
    go1_24_11 => "go1.24.11",
    go1_24_11_noswissmap => "go1.24.11-noswissmap",
    go1_25_5 => "go1.25.5",
    go1_25_5_greenteagc => "go1.25.5-greenteagc",
    go1_26_6 => "go1.26.6",
    go1_26_6_nogreenteagc => "go1.26.6-nogreenteagc",
    go1_27_3 => "go1.27.3",
    go1_27_3_pie => "go1.27.3-pie",
}
