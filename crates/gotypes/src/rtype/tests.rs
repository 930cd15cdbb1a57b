//! Hand-built descriptors in a `FlatMemory`, laid out as the Go linker does.

use super::*;
use crate::mem::FlatMemory;

const BASE: u64 = 0x10_0000;

/// A growing image of a type section starting at `BASE` (= `moduledata.types`).
#[derive(Default)]
struct Img {
    data: Vec<u8>,
}

struct Ty<'a> {
    size: u64,
    ptr_bytes: u64,
    tflag: u8,
    kind: u8,
    gcdata: Addr,
    name: Addr,
    ext: &'a [u8],
}

fn words(ws: &[u64]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

impl Img {
    fn new() -> Img {
        // Offset 0 is never a valid NameOff: start with padding.
        Img { data: vec![0; 8] }
    }

    fn put(&mut self, b: &[u8], align: usize) -> Addr {
        while !self.data.len().is_multiple_of(align) {
            self.data.push(0);
        }
        let at = Addr(BASE + self.data.len() as u64);
        self.data.extend_from_slice(b);
        at
    }

    fn name(&mut self, s: &str, flags: u8) -> Addr {
        assert!(s.len() < 128);
        let mut b = vec![flags, s.len() as u8];
        b.extend_from_slice(s.as_bytes());
        self.put(&b, 1)
    }

    fn ty(&mut self, t: Ty) -> Addr {
        let mut b = words(&[t.size, t.ptr_bytes]);
        b.extend_from_slice(&0u32.to_le_bytes()); // hash
        b.extend_from_slice(&[t.tflag, 8, 8, t.kind]);
        b.extend_from_slice(&words(&[0, t.gcdata.0]));
        b.extend_from_slice(&((t.name.0 - BASE) as i32).to_le_bytes());
        b.extend_from_slice(&0i32.to_le_bytes());
        b.extend_from_slice(t.ext);
        self.put(&b, 8)
    }

    fn mem(&self) -> FlatMemory<'_> {
        FlatMemory {
            base: Addr(BASE),
            data: &self.data,
        }
    }

    fn end(&self) -> Addr {
        Addr(BASE + self.data.len() as u64)
    }
}

const V121: u32 = 21;
const V127: u32 = 27;
// Kind_ values.
const K_INT: u8 = 2;
const K_UINT8: u8 = 8;
const K_ARRAY: u8 = 17;
const K_FUNC: u8 = 19;
const K_IFACE: u8 = 20;
const K_MAP: u8 = 21;
const K_PTR: u8 = 22;
const K_SLICE: u8 = 23;
const K_STRING: u8 = 24;
const K_STRUCT: u8 = 25;
const DIRECT: u8 = 0x20;
const GCPROG: u8 = 0x40;
const TF_UNCOMMON: u8 = 1;
const TF_EXTRA_STAR: u8 = 2;
const TF_NAMED: u8 = 4;
const TF_ONDEMAND: u8 = 0x10;

fn flavor(minor: u32) -> AbiFlavor {
    AbiFlavor::for_version(minor, &[])
}

/// Built-in types every test needs: `int`, `uint8`, `string`.
struct Basics {
    int: Addr,
    uint8: Addr,
    string: Addr,
    mask1: Addr,
}

fn basics(img: &mut Img) -> Basics {
    let mask1 = img.put(&[1], 1);
    let n_int = img.name("*int", 0);
    let n_u8 = img.name("*uint8", 0);
    let n_str = img.name("*string", 0);
    let uncommon = [0u8; 16];
    let int = img.ty(Ty {
        size: 8,
        ptr_bytes: 0,
        tflag: TF_UNCOMMON | TF_EXTRA_STAR | TF_NAMED,
        kind: K_INT,
        gcdata: Addr::NULL,
        name: n_int,
        ext: &uncommon,
    });
    let uint8 = img.ty(Ty {
        size: 1,
        ptr_bytes: 0,
        tflag: TF_UNCOMMON | TF_EXTRA_STAR | TF_NAMED,
        kind: K_UINT8,
        gcdata: Addr::NULL,
        name: n_u8,
        ext: &uncommon,
    });
    let string = img.ty(Ty {
        size: 16,
        ptr_bytes: 8,
        tflag: TF_UNCOMMON | TF_EXTRA_STAR | TF_NAMED,
        kind: K_STRING,
        gcdata: mask1,
        name: n_str,
        ext: &uncommon,
    });
    Basics {
        int,
        uint8,
        string,
        mask1,
    }
}

fn struct_ext(img: &mut Img, fields: &[(&str, Addr, u64, bool)], pkg: Addr) -> Vec<u8> {
    let mut raw = Vec::new();
    for &(name, typ, off, embedded) in fields {
        let n = img.name(name, if embedded { 8 } else { 1 });
        raw.extend_from_slice(&words(&[n.0, typ.0, off]));
    }
    let arr = img.put(&raw, 8);
    let n = fields.len() as u64;
    words(&[pkg.0, arr.0, n, n])
}

#[test]
fn struct_pointer_slice_and_extra_star() {
    let mut img = Img::new();
    let b = basics(&mut img);
    // `main.Node {Val int; Next, Prev *Node}` and `*main.Node` share the name
    // "*main.Node": the named type strips it with ExtraStar.
    let n_node = img.name("*main.Node", 0);
    let pkg_main = img.name("main", 0);
    let mask_node = img.put(&[0b110], 1);
    let node_ptr_at = Addr(img.end().align_up(8).0);
    // Reserve the *Node descriptor first so Node's fields can refer to it.
    let ptr_node = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: 0,
        kind: K_PTR | DIRECT,
        gcdata: b.mask1,
        name: n_node,
        ext: &words(&[0]),
    });
    assert_eq!(ptr_node, node_ptr_at);
    let ext = struct_ext(
        &mut img,
        &[
            ("Val", b.int, 0, false),
            ("Next", ptr_node, 8, false),
            ("Prev", ptr_node, 16, false),
        ],
        pkg_main,
    );
    let mut ext = ext;
    // UncommonType{PkgPath: "main"}.
    ext.extend_from_slice(&((pkg_main.0 - BASE) as i32).to_le_bytes());
    ext.extend_from_slice(&[0; 12]);
    let node = img.ty(Ty {
        size: 24,
        ptr_bytes: 24,
        tflag: TF_UNCOMMON | TF_EXTRA_STAR | TF_NAMED,
        kind: K_STRUCT,
        gcdata: mask_node,
        name: n_node,
        ext: &ext,
    });
    // Patch *Node.Elem = Node.
    let off = (ptr_node.0 - BASE + 48) as usize;
    img.data[off..off + 8].copy_from_slice(&node.0.to_le_bytes());
    // []uint8.
    let n_slice = img.name("*[]uint8", 0);
    let slice = img.ty(Ty {
        size: 24,
        ptr_bytes: 8,
        tflag: TF_EXTRA_STAR,
        kind: K_SLICE,
        gcdata: b.mask1,
        name: n_slice,
        ext: &words(&[b.uint8.0]),
    });

    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V121));
    let t = r.get(node).unwrap();
    assert_eq!(t.name, "main.Node");
    assert_eq!((t.kind, t.size, t.ptr_bytes), (Kind::Struct, 24, 24));
    assert_eq!(t.pkg_path.as_deref(), Some("main"));
    assert!(!t.direct_iface);
    let KindDetail::Struct { fields } = &t.detail else {
        panic!("{:?}", t.detail)
    };
    let names: Vec<_> = fields.iter().map(|f| (f.name.as_str(), f.offset)).collect();
    assert_eq!(names, [("Val", 0), ("Next", 8), ("Prev", 16)]);

    let p = r.get(ptr_node).unwrap();
    assert_eq!(p.name, "*main.Node");
    assert!(p.direct_iface);
    assert_eq!(p.detail, KindDetail::Ptr { elem: node });
    assert_eq!(r.get(slice).unwrap().name, "[]uint8");
    assert_eq!(r.get(b.string).unwrap().name, "string");

    let m = r.gc_mask(node).unwrap();
    assert_eq!(m.iter_ptr_words().collect::<Vec<_>>(), [1, 2]);
    // The same Arc is handed out from the cache.
    assert!(Arc::ptr_eq(&r.get(node).unwrap(), &t));
}

#[test]
fn maps_of_every_layout() {
    for (minor, exps, layout) in [
        (21, vec![], MapLayout::Old),
        (24, vec!["noswissmap".to_string()], MapLayout::Old),
        (25, vec![], MapLayout::Swiss),
        (26, vec![], MapLayout::Swiss),
        (27, vec![], MapLayout::Swiss127),
    ] {
        let fl = AbiFlavor::for_version(minor, &exps);
        assert_eq!(fl.map_layout, layout);
        let mut img = Img::new();
        let b = basics(&mut img);
        let n_group = img.name("map.group[int]string", 0);
        let group = img.ty(Ty {
            size: 200,
            ptr_bytes: 200,
            tflag: 0,
            kind: K_STRUCT,
            gcdata: b.mask1,
            name: n_group,
            ext: &words(&[0, 0, 0, 0]),
        });
        let n_map = img.name("*map[int]string", 0);
        let ext = match layout {
            // Key, Elem, Bucket, Hasher, KeySize 8, ValueSize 16, BucketSize 208, Flags 0.
            MapLayout::Old => words(&[b.int.0, b.string.0, group.0, 0, 8 | 16 << 8 | 208 << 16]),
            // Key, Elem, Group, Hasher, GroupSize, SlotSize, ElemOff, Flags.
            MapLayout::Swiss => words(&[b.int.0, b.string.0, group.0, 0, 200, 24, 8, 0]),
            // ..., GroupSize, KeysOff, KeyStride, ElemsOff, ElemStride, ElemOff, Flags.
            MapLayout::Swiss127 => {
                words(&[b.int.0, b.string.0, group.0, 0, 200, 8, 24, 16, 24, 8, 0])
            }
        };
        let kind = if fl.direct_iface_in_tflag {
            K_MAP
        } else {
            K_MAP | DIRECT
        };
        let tflag = if fl.direct_iface_in_tflag {
            TF_EXTRA_STAR | 0x20
        } else {
            TF_EXTRA_STAR
        };
        let m = img.ty(Ty {
            size: 8,
            ptr_bytes: 8,
            tflag,
            kind,
            gcdata: b.mask1,
            name: n_map,
            ext: &ext,
        });
        let mem = img.mem();
        let r = TypeReader::new(&mem, Addr(BASE), img.end(), fl);
        let t = r.get(m).unwrap();
        assert_eq!(t.name, "map[int]string");
        assert!(t.direct_iface, "{minor}");
        let KindDetail::Map(mi) = &t.detail else {
            panic!()
        };
        assert_eq!((mi.key, mi.elem, mi.layout), (b.int, b.string, layout));
        // Keys at +8 every 24 bytes, elems 8 bytes after each key (slots
        // interleaved), except in old buckets (8 keys then 8 values).
        match layout {
            MapLayout::Old => {
                assert_eq!((mi.bucket, mi.bucket_size), (group, 208));
                assert_eq!(
                    (mi.keys_off, mi.key_stride, mi.elems_off, mi.elem_stride),
                    (8, 8, 72, 16)
                );
            }
            _ => {
                assert_eq!((mi.group, mi.group_size), (group, 200));
                assert_eq!(
                    (mi.keys_off, mi.key_stride, mi.elems_off, mi.elem_stride),
                    (8, 24, 16, 24)
                );
            }
        }
    }
}

/// `[100]*main.Node` whose GCData is a GC program (≤1.23), compared with the
/// structural layout (a repeated entry).
#[test]
fn gc_program() {
    let mut img = Img::new();
    let b = basics(&mut img);
    let n_pint = img.name("*int", 0);
    let pint = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: 0,
        kind: K_PTR | DIRECT,
        gcdata: b.mask1,
        name: n_pint,
        ext: &words(&[b.int.0]),
    });
    // struct { a int; p [100]*int }: bit 0 clear, then 1 bit set repeated 99 times.
    let mut prog = 5u32.to_le_bytes().to_vec();
    prog.extend_from_slice(&[0x02, 0b10, 0x81, 99, 0x00]);
    let prog = img.put(&prog, 1);
    let n_arr = img.name("*[100]*int", 0);
    let arr = img.ty(Ty {
        size: 800,
        ptr_bytes: 800,
        tflag: TF_EXTRA_STAR,
        kind: K_ARRAY | GCPROG,
        gcdata: prog,
        name: n_arr,
        ext: &words(&[pint.0, 0, 100]),
    });
    let ext = struct_ext(
        &mut img,
        &[("a", b.int, 0, false), ("p", arr, 8, false)],
        Addr::NULL,
    );
    let n_s = img.name("*struct { a int; p [100]*int }", 0);
    let s = img.ty(Ty {
        size: 808,
        ptr_bytes: 808,
        tflag: TF_EXTRA_STAR,
        kind: K_STRUCT | GCPROG,
        gcdata: prog,
        name: n_s,
        ext: &ext,
    });
    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V121));
    let t = r.get(s).unwrap();
    assert_eq!(t.gc_data, GcData::Program(prog));
    let m = r.gc_mask(s).unwrap();
    assert_eq!(m.words, 101);
    assert_eq!(
        m.iter_ptr_words().collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
}

/// 1.24+ on-demand masks: a nil slot is rebuilt from the structure, a built
/// one is read.
#[test]
fn on_demand_masks() {
    let mut img = Img::new();
    let b = basics(&mut img);
    let n_pint = img.name("*int", 0);
    let pint = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: 0x20,
        kind: K_PTR,
        gcdata: b.mask1,
        name: n_pint,
        ext: &words(&[b.int.0]),
    });
    let nil_slot = img.put(&words(&[0]), 8);
    let n_arr = img.name("*[200]*int", 0);
    let arr = img.ty(Ty {
        size: 1600,
        ptr_bytes: 1600,
        tflag: TF_EXTRA_STAR | TF_ONDEMAND,
        kind: K_ARRAY,
        gcdata: nil_slot,
        name: n_arr,
        ext: &words(&[pint.0, 0, 200]),
    });
    // main.PtrHeavy { N int; P [200]*int; S string }.
    let pkg = img.name("main", 0);
    let ext = struct_ext(
        &mut img,
        &[
            ("N", b.int, 0, false),
            ("P", arr, 8, false),
            ("S", b.string, 1608, false),
        ],
        pkg,
    );
    let n_s = img.name("*main.PtrHeavy", 0);
    let heavy_slot = img.put(&words(&[0]), 8);
    let heavy = img.ty(Ty {
        size: 1624,
        ptr_bytes: 1616,
        tflag: TF_EXTRA_STAR | TF_ONDEMAND,
        kind: K_STRUCT,
        gcdata: heavy_slot,
        name: n_s,
        ext: &ext,
    });
    // A type whose slot holds a built mask (only word 3 set, to tell it apart).
    let built = img.put(&[0b1000, 0, 0], 8);
    let built_slot = img.put(&words(&[built.0]), 8);
    let n_b = img.name("*[3]*int", 0);
    let prebuilt = img.ty(Ty {
        size: 24 * 8,
        ptr_bytes: 24 * 8,
        tflag: TF_EXTRA_STAR | TF_ONDEMAND,
        kind: K_ARRAY,
        gcdata: built_slot,
        name: n_b,
        ext: &words(&[pint.0, 0, 24]),
    });

    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V127));
    let t = r.get(heavy).unwrap();
    assert_eq!(t.name, "main.PtrHeavy");
    assert_eq!(t.gc_data, GcData::OnDemand(heavy_slot));
    let m = r.gc_mask(heavy).unwrap();
    let mut want: Vec<u64> = (1..=200).collect();
    want.push(201);
    assert_eq!(m.words, 202);
    assert_eq!(m.iter_ptr_words().collect::<Vec<_>>(), want);

    assert_eq!(
        r.gc_mask(prebuilt)
            .unwrap()
            .iter_ptr_words()
            .collect::<Vec<_>>(),
        [3]
    );
}

/// The 1.22–1.23 synthetic `largeType` of a GC-program type: kind 0,
/// TFlagUnrolledBitmap, no name, plain bitmap.
#[test]
fn unrolled_dummy_type() {
    let mut img = Img::new();
    let bits = img.put(&[0xff, 0x01], 8);
    let mut hdr = words(&[72, 72, 0]);
    hdr[20] = TF_ONDEMAND;
    hdr.extend_from_slice(&words(&[0, bits.0, 0]));
    let dummy = img.put(&hdr, 8);
    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(22));
    assert!(r.get(dummy).is_err());
    let m = r.gc_mask(dummy).unwrap();
    assert_eq!(m.iter_ptr_words().count(), 9);
    // 1.24+ has no such types.
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(24));
    assert!(r.gc_mask(dummy).is_err());
}

#[test]
fn interfaces_and_funcs() {
    let mut img = Img::new();
    let b = basics(&mut img);
    let n_any = img.name("*interface {}", 0);
    let m10 = img.put(&[0b10], 1);
    let any = img.ty(Ty {
        size: 16,
        ptr_bytes: 16,
        tflag: TF_EXTRA_STAR,
        kind: K_IFACE,
        gcdata: m10,
        name: n_any,
        ext: &words(&[0, 0, 0, 0]),
    });
    let n_str = img.name("*fmt.Stringer", 0);
    let imethods = img.put(&[0; 8], 8);
    let stringer = img.ty(Ty {
        size: 16,
        ptr_bytes: 16,
        tflag: TF_EXTRA_STAR | TF_NAMED,
        kind: K_IFACE,
        gcdata: m10,
        name: n_str,
        ext: &words(&[0, imethods.0, 1, 1]),
    });
    // func(int, ...string) string
    let n_f = img.name("*func(int, ...string) string", 0);
    let mut ext = vec![2, 0, 1, 0x80, 0, 0, 0, 0];
    ext.extend_from_slice(&words(&[b.int.0, b.string.0, b.string.0]));
    let f = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: TF_EXTRA_STAR,
        kind: K_FUNC | DIRECT,
        gcdata: b.mask1,
        name: n_f,
        ext: &ext,
    });
    // struct { a any; s fmt.Stringer; f func(...) }
    let ext = struct_ext(
        &mut img,
        &[
            ("a", any, 0, false),
            ("Stringer", stringer, 16, true),
            ("f", f, 32, false),
        ],
        Addr::NULL,
    );
    // Pointer words: 1 (a's data), 3 (Stringer's data), 4 (f).
    let mask = img.put(&[0b11010], 1);
    let n_s = img.name(
        "*struct { a interface {}; fmt.Stringer; f func(int, ...string) string }",
        0,
    );
    let s = img.ty(Ty {
        size: 40,
        ptr_bytes: 40,
        tflag: TF_EXTRA_STAR,
        kind: K_STRUCT,
        gcdata: mask,
        name: n_s,
        ext: &ext,
    });
    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V121));
    assert_eq!(
        r.get(any).unwrap().detail,
        KindDetail::Interface { methods: 0 }
    );
    assert_eq!(
        r.get(stringer).unwrap().detail,
        KindDetail::Interface { methods: 1 }
    );
    let ft = r.get(f).unwrap();
    assert_eq!(ft.name, "func(int, ...string) string");
    assert_eq!(
        ft.detail,
        KindDetail::Func {
            ins: vec![b.int, b.string],
            outs: vec![b.string],
            variadic: true
        }
    );
    let st = r.get(s).unwrap();
    let KindDetail::Struct { fields } = &st.detail else {
        panic!()
    };
    assert!(fields[1].embedded && !fields[0].embedded);
    let m = r.gc_mask(s).unwrap();
    assert_eq!(m.iter_ptr_words().collect::<Vec<_>>(), [1, 3, 4]);
}

#[test]
fn rejects_garbage_and_cycles() {
    let mut img = Img::new();
    let b = basics(&mut img);
    let zeros = img.put(&[0; 128], 8);
    let junk = img.put(&[0xAB; 128], 8);
    // A plausible header whose name offset points outside the section.
    let mut bad_name = words(&[8, 0, 0, 0, 0, 0]);
    bad_name[23] = K_INT;
    bad_name[40..44].copy_from_slice(&0x7fff_0000i32.to_le_bytes());
    let bad_name = img.put(&bad_name, 8);
    // An on-demand struct whose only field is itself.
    let n_c = img.name("*main.Cyc", 0);
    let slot = img.put(&words(&[0]), 8);
    let cyc_at = img.end().align_up(8);
    let ext_fields = img.put(&words(&[0, 0, 0]), 8);
    let cyc = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: TF_EXTRA_STAR | TF_ONDEMAND,
        kind: K_STRUCT,
        gcdata: slot,
        name: n_c,
        ext: &words(&[0, ext_fields.0, 1, 1]),
    });
    let f_name = img.name("c", 1);
    let off = (ext_fields.0 - BASE) as usize;
    img.data[off..off + 16].copy_from_slice(&words(&[f_name.0, cyc.0]));
    assert_ne!(cyc_at, Addr::NULL);

    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V127));
    for a in [
        zeros,
        junk,
        bad_name,
        Addr(zeros.0 + 4),
        Addr(0),
        Addr(0xdead_0000),
    ] {
        assert!(r.get(a).is_err(), "{a}");
        assert!(r.gc_mask(a).is_err(), "{a}");
    }
    assert!(r.get(cyc).is_ok());
    assert!(matches!(r.gc_mask(cyc), Err(TypeError::TooDeep { .. })));
    // String types are fine, and itab_type reads +8.
    assert!(r.get(b.string).is_ok());
    let itab = img_itab(b.string);
    let im = FlatMemory {
        base: Addr(0x1000),
        data: &itab,
    };
    let r2 = TypeReader::new(&im, Addr(BASE), img.end(), flavor(V127));
    assert_eq!(r2.itab_type(Addr(0x1000)).unwrap(), b.string);
}

fn img_itab(t: Addr) -> Vec<u8> {
    words(&[0x5000, t.0, 0, 0])
}

#[test]
fn masks_of_long_arrays_of_structs() {
    let mut img = Img::new();
    let b = basics(&mut img);
    // [1000]struct { k string; v *int } inside a struct.
    let n_pint = img.name("*int", 0);
    let pint = img.ty(Ty {
        size: 8,
        ptr_bytes: 8,
        tflag: 0x20,
        kind: K_PTR,
        gcdata: b.mask1,
        name: n_pint,
        ext: &words(&[b.int.0]),
    });
    let ext = struct_ext(
        &mut img,
        &[("k", b.string, 0, false), ("v", pint, 16, false)],
        Addr::NULL,
    );
    let m_kv = img.put(&[0b101], 1);
    let n_kv = img.name("*struct { k string; v *int }", 0);
    let kv = img.ty(Ty {
        size: 24,
        ptr_bytes: 24,
        tflag: TF_EXTRA_STAR,
        kind: K_STRUCT,
        gcdata: m_kv,
        name: n_kv,
        ext: &ext,
    });
    let n_arr = img.name("*[1000]struct { k string; v *int }", 0);
    let slot = img.put(&words(&[0]), 8);
    let arr = img.ty(Ty {
        size: 24_000,
        ptr_bytes: 24_000,
        tflag: TF_EXTRA_STAR | TF_ONDEMAND,
        kind: K_ARRAY,
        gcdata: slot,
        name: n_arr,
        ext: &words(&[kv.0, 0, 1000]),
    });
    let n_small = img.name("*[2]struct { k string; v *int }", 0);
    let m_small = img.put(&[0b101101], 1);
    let small = img.ty(Ty {
        size: 48,
        ptr_bytes: 48,
        tflag: TF_EXTRA_STAR,
        kind: K_ARRAY,
        gcdata: m_small,
        name: n_small,
        ext: &words(&[kv.0, 0, 2]),
    });
    let mem = img.mem();
    let r = TypeReader::new(&mem, Addr(BASE), img.end(), flavor(V127));
    let mask = r.gc_mask(arr).unwrap();
    let words: Vec<u64> = mask.iter_ptr_words().collect();
    assert_eq!(words.len(), 2000);
    assert_eq!(words[1998..], [999 * 3, 999 * 3 + 2]);
    let small = r.gc_mask(small).unwrap();
    assert_eq!(small.iter_ptr_words().collect::<Vec<_>>(), [0, 2, 3, 5]);
}

#[test]
fn reader_is_shareable_between_marking_threads() {
    fn sync<T: Sync + Send>() {}
    sync::<TypeReader<'static>>();
}
