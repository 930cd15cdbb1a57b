#!/usr/bin/env bash
# Checks the generated test data without gorefs itself:
#   - heapzoo.zst and core.zst decompress (zstd -t),
#   - every address in truth.json lies in a PT_LOAD segment of the core and
#     the memory there holds what heapzoo put there (IDs, strings, self and
#     cross pointers, channel queue lengths, the 1000-node ring, ...),
#   - the runtime's traceback shows every heapzoo goroutine in its state.
#
#   bash scripts/testdata-verify.sh              # every variant present
#   bash scripts/testdata-verify.sh go1.27.3     # only these
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORES="$ROOT/testdata/cores"

variants=("$@")
if [[ ${#variants[@]} -eq 0 ]]; then
	for d in "$CORES"/*/; do variants+=("$(basename "$d")"); done
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-verify.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

fail=0
for v in "${variants[@]}"; do
	d="$CORES/$v"
	zstd -q -t "$d/heapzoo.zst" "$d/core.zst"
	zstd -q -d -f "$d/core.zst" -o "$tmp/core"
	zstd -q -d -f "$d/heapzoo.zst" -o "$tmp/heapzoo"
	if python3 - "$tmp/core" "$tmp/heapzoo" "$d/truth.json" "$d/traceback.txt" "$v" <<'PY'; then :; else fail=1; fi
import json, re, struct, sys

core_path, exe_path, truth_path, tb_path, variant = sys.argv[1:]

def elf(path, want_type):
    d = open(path, "rb").read()
    assert d[:4] == b"\x7fELF" and d[4] == 2 and d[5] == 1, f"{path}: not a little-endian ELF64"
    e_type, = struct.unpack_from("<H", d, 16)
    assert e_type in want_type, f"{path}: e_type {e_type}"
    entry, phoff = struct.unpack_from("<QQ", d, 24)
    phentsize, phnum = struct.unpack_from("<HH", d, 54)
    phs = [struct.unpack_from("<IIQQQQQQ", d, phoff + i * phentsize) for i in range(phnum)]
    return d, entry, phs

data, _, core_phs = elf(core_path, (4,))            # ET_CORE
exe, exe_entry, exe_phs = elf(exe_path, (2, 3))     # ET_EXEC or ET_DYN (PIE)

# Load bias of the executable (PIE): AT_ENTRY from the core's NT_AUXV note.
bias = 0
for p_type, _, off, _, _, filesz, _, _ in core_phs:
    if p_type != 4:
        continue
    pos = off
    while pos < off + filesz:
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        desc = pos + 12 + (namesz + 3) // 4 * 4
        if ntype == 6:  # NT_AUXV
            for j in range(0, descsz, 16):
                k, val = struct.unpack_from("<QQ", data, desc + j)
                if k == 9:  # AT_ENTRY
                    bias = val - exe_entry
        pos = desc + (descsz + 3) // 4 * 4

# Memory: the core's PT_LOADs first, then the executable's (read-only data
# such as string literals is file-backed and not dumped by the kernel).
segs = [(v, fs, off, data) for (pt, _, off, v, _, fs, _, _) in core_phs if pt == 1 and fs > 0]
segs += [(v + bias, fs, off, exe) for (pt, _, off, v, _, fs, _, _) in exe_phs if pt == 1]

def read(addr, n):
    for vaddr, filesz, off, buf in segs:
        if vaddr <= addr and addr + n <= vaddr + filesz:
            return buf[off + addr - vaddr: off + addr - vaddr + n]
    raise KeyError(f"0x{addr:x}+{n} not in the core")

def u64(addr, i=0):
    return struct.unpack("<Q", read(addr + 8 * i, 8))[0]

def gostr(addr):  # a Go string header at addr
    p, n = u64(addr), u64(addr, 1)
    return read(p, n).decode()

t = json.load(open(truth_path))
tb = open(tb_path).read()
objs = {o["name"]: int(o["address"], 16) for o in t["objects"]}
for u in t.get("unreachable", []):
    objs[u["name"]] = int(u["address"], 16)
errors = []

def check(cond, msg):
    if not cond:
        errors.append(msg)

for name, addr in objs.items():
    try:
        read(addr, 8)
    except KeyError as e:
        errors.append(f"{name}: {e}")

try:
    s0, s499 = objs["registry[0]"], objs["registry[499]"]
    check((u64(s0), gostr(s0 + 8), u64(s0, 3), u64(s0, 4)) == (0, "session-0", 0, 0), "registry[0]")
    check((u64(s499), gostr(s499 + 8), u64(s499, 3)) == (499, "session-499", 4990) and u64(s499, 4) != 0, "registry[499]")
    c = objs['small["alpha"]']
    check(gostr(c) == "alpha" and u64(c, 2) == 0 and read(c + 24, 1) == b"\x01", "small[alpha]")
    # ring: 1000 nodes, Next/Prev consistent, back to the start
    n, vals = objs["ring"], []
    for _ in range(1000):
        vals.append(u64(n))
        nxt = u64(n, 1)
        check(u64(nxt, 2) == n, "ring prev/next mismatch")
        n = nxt
    check(n == objs["ring"] and vals == list(range(1000)), "ring is not a 1000-cycle")
    check(u64(objs["items"]) == objs["items[0]"] and u64(objs["items[0]"]) == 0, "items")
    check(all(u64(objs["items"], i) != 0 and u64(u64(objs["items"], i)) == i for i in range(100)), "items[i].ID")
    m = objs["mids[0]"]
    check(u64(m) == 0 and u64(m, 1) == m, "mids[0]")
    h = objs["heavies[0]"]
    check(u64(h) == 0 and u64(h, 1) == h and u64(h, 4) == h and u64(h, 5) == 0, "heavies[0]")
    b = objs["bigs[0]"]
    check(u64(b) == 0 and u64(b, 1) == s0 and u64(b, 2) == 0xB16B16 and u64(b, 4202) == objs["ring"], "bigs[0]")
    check(read(objs["blob"], 9) == b"BLOBSTART", "blob")
    check([gostr(objs["tinyStrings"] + 16 * i) for i in (0, 1, 63)] == ["1000", "1007", "1441"], "tinyStrings")
    check([struct.unpack("<i", read(u64(objs["tinies"], i), 4))[0] for i in range(8)] == [3 * i for i in range(8)], "tinies")
    check(u64(objs["payloadCh"]) == 10 and u64(objs["payloadCh"], 1) == 16, "payloadCh qcount/dataqsiz")
    check(u64(objs["intCh"]) == 3 and u64(objs["intCh"], 1) == 8, "intCh qcount/dataqsiz")
    check(u64(objs["boxedAny"]) == 1 and gostr(objs["boxedAny"] + 8) == "boxed", "boxedAny")
    check((u64(objs["valueAny"]), u64(objs["valueAny"], 1), gostr(objs["valueAny"] + 16)) == (1, 2, "value"), "valueAny")
    check(gostr(objs["stringer"]) == "named", "stringer")
    cap = objs["captured"]
    check(u64(cap) == 5 and gostr(cap + 8) == "captured", "captured")
    words = [u64(objs["closure"], i) for i in (1, 2)]
    check(cap in words and any(w != cap and u64(w) == 11 for w in words), "closure context")
    check(u64(objs["methodVal"], 1) == objs["receiver"] and u64(objs["receiver"]) == 3, "methodVal")
    bx, vs = objs["boxes[0]"], []
    while bx:
        vs.append(u64(bx))
        bx = u64(bx, 1)
    check(vs == [0, 1, 2, 3, 4], "boxes chain")
    for i in (0, 1):
        f = objs[f"finalized[{i}]"]
        check(u64(f) == i and gostr(f + 8) == "finalized", f"finalized[{i}]")
    c1 = objs["cyc"]
    c2 = u64(c1, 1); c3 = u64(c2, 1)
    check([u64(c1), u64(c2), u64(c3)] == [1, 2, 3] and u64(c3, 1) == c1, "cyc")
    w = objs["worker.local"]
    check(u64(w) == 7 and u64(w, 1) == w and read(w + 16, 9) == b"WORKERBUF", "worker.local")
    o = objs["orphan"]
    check(u64(o) == 1 and gostr(o + 8) == "orphan", "orphan")
    if t["cleanups"]:
        check(u64(objs["cleaned"]) == 1 and gostr(objs["cleaned"] + 8) == "cleaned", "cleaned")
        check(u64(objs["weakTarget"]) == 2 and gostr(objs["weakTarget"] + 8) == "weak-target", "weakTarget")
except KeyError as e:
    errors.append(f"read failed: {e}")

g = t["goroutines"]
for fn, gid in g["ids"].items():
    m = re.search(rf"^goroutine {gid} (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[([^\],]+)", tb, re.M)
    if not m:
        errors.append(f"{fn}: goroutine {gid} not in the traceback")
        continue
    want = g["states"][fn]
    got = m.group(1)
    ok = got == want or (fn == "main.spinner" and got in ("running", "runnable"))
    check(ok, f"{fn}: traceback state {got!r}, truth {want!r}")
    check(f"\n{fn}(" in tb, f"{fn} not in the traceback")

if errors:
    print(f"FAIL {variant}:")
    for e in errors:
        print("   ", e)
    sys.exit(1)
spin = re.search(rf"^goroutine {g['ids']['main.spinner']} .*\[(\w+)", tb, re.M).group(1)
print(f"ok   {variant}: {len(objs)} addresses, {sum(1 for s in segs if s[3] is data)} core PT_LOADs, load bias 0x{bias:x}, spinner {spin}")
PY
	rm -f "$tmp/core" "$tmp/heapzoo"
done
exit "$fail"
