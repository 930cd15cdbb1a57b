#!/usr/bin/env python3
"""Turns the raw results of scripts/bench.sh into tables.

    python3 scripts/bench/report.py RESULTS_DIR [DOC.md|-]

RESULTS_DIR holds results.tsv (one line per timed run), meta.tsv (commit,
machine, versions), stats.<size>.json (what benchheap wrote), core.<size>.tsv
(apparent size, bytes on disk, probe address) and work.<size>/ (the outputs of
the runs). Prints the tables (Markdown) and, unless DOC is "-", writes the
whole report to DOC.
"""

import csv
import json
import os
import re
import statistics
import sys

TIMING = re.compile(r"^gorefs: timing: (.+?): ([0-9.]+) s\b")
HEAP_PEAK = re.compile(r"\bpeak so far ([0-9]+) kB")
GRAPH = re.compile(r"^gorefs: timing: graph: ([0-9]+) objects, ([0-9]+) references")
# Issue 5's memory budget beyond the mapped core and binary.
BYTES_PER_OBJECT, BYTES_PER_REFERENCE = 40, 8

ROWS = [
    # key, label, command (CORE, EXE, ADDR stand for the files)
    ("gorefs-histogram", "gorefs histogram", "gorefs histogram --json CORE EXE"),
    ("gorefs-retained", "gorefs retained", "gorefs retained --no-index --json CORE EXE"),
    ("gorefs-path", "gorefs path-to-root (indexed)", "gorefs path-to-root --json CORE EXE ADDR"),
    ("gorefs-retained-index", "gorefs retained, writing the index", "gorefs retained --json CORE EXE"),
    ("gorefs-path-first", "gorefs path-to-root, 1st query (once)", "gorefs path-to-root --json CORE EXE ADDR"),
    ("viewcore", "viewcore histogram", "viewcore CORE --exe EXE histogram"),
    ("grf", "grf core (goref)", "grf core EXE CORE -o grf.out"),
]
LABEL = {k: l for k, l, _ in ROWS}
BASE = "gorefs-retained"


def size_value(s):
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(s[-1].lower(), 1)
    return float(s.rstrip("kKmMgG")) * mult


def read_meta(res):
    meta = {}
    with open(os.path.join(res, "meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def read_results(res):
    with open(os.path.join(res, "results.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def first_json(work, stem):
    """The first parsable stem.N.json in work/."""
    for n in range(1, 100):
        p = os.path.join(work, f"{stem}.{n}.json")
        if not os.path.exists(p):
            break
        j = load_json(p)
        if j is not None:
            return j
    return None


def fnum(x, digits=2):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def fmb(kb):
    return "—" if kb is None else f"{kb / 1024:,.0f} MB"


def fcount(n):
    return "—" if n is None else f"{n:,}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def summarize(rows):
    """Median wall, CPU, RSS over the successful runs of one tool at one size."""
    ok = [r for r in rows if r["status"] == "ok" and r["wall_s"]]
    bad = [r for r in rows if r["status"] != "ok"]
    if not ok:
        return {"runs": 0, "failed": len(bad), "status": bad[0]["status"] if bad else "not run"}
    wall = [float(r["wall_s"]) for r in ok]
    cpu = [float(r["user_s"]) + float(r["sys_s"]) for r in ok]
    rss = [int(r["maxrss_kb"]) for r in ok]
    busy = [float(r["busy_before"]) for r in ok if r.get("busy_before")]
    phases = {}
    heap_kb = []
    graph = None
    for r in ok:
        peak = None
        try:
            with open(r["log"]) as f:
                for line in f:
                    m = TIMING.match(line.strip())
                    if m:
                        phases.setdefault(m.group(1), []).append(float(m.group(2)))
                    m = HEAP_PEAK.search(line)
                    if m:
                        peak = max(peak or 0, int(m.group(1)))
                    m = GRAPH.match(line.strip())
                    if m:
                        graph = (int(m.group(1)), int(m.group(2)))
        except OSError:
            pass
        if peak is not None:
            heap_kb.append(peak)
    return {
        "busy_min": min(busy) if busy else None,
        "busy_max": max(busy) if busy else None,
        "phases": {k: statistics.median(v) for k, v in phases.items()},
        "runs": len(ok),
        "failed": len(bad),
        "status": "ok" if not bad else f"{len(bad)} failed: " + bad[0]["status"],
        "wall": statistics.median(wall),
        "wall_min": min(wall),
        "wall_max": max(wall),
        "cpu": statistics.median(cpu),
        "rss": statistics.median(rss),
        "heap_kb": statistics.median(heap_kb) if heap_kb else None,
        "graph": graph,
    }


def main():
    res = sys.argv[1]
    doc = sys.argv[2] if len(sys.argv) > 2 else "-"
    meta = read_meta(res)
    results = read_results(res)
    sizes = [s for s in meta["sizes"].split(",") if s]

    by = {}
    for r in results:
        by.setdefault((r["size"], r["tool"]), []).append(r)

    summary = {}
    counts = {}
    for size in sizes:
        work = os.path.join(res, f"work.{size}")
        stats = load_json(os.path.join(res, f"stats.{size}.json")) or {}
        hist = first_json(work, "histogram") or {}
        ret = first_json(work, "retained") or {}
        core = [None, None, None, None]
        try:
            with open(os.path.join(res, f"core.{size}.tsv")) as f:
                core = (f.read().split() + [None] * 4)[:4]
        except OSError:
            pass
        counts[size] = {
            "entries": stats.get("entries"),
            "heap_objects": stats.get("heap_objects"),
            "heap_alloc": stats.get("heap_alloc"),
            "allocated": stats.get("allocated_objects"),
            "tree_depth": stats.get("tree_depth"),
            "goroutines": stats.get("goroutines"),
            "hist_objects": hist.get("objects"),
            "hist_bytes": hist.get("bytes"),
            "typed_share": hist.get("typed_bytes_share"),
            "live_objects": ret.get("live_objects"),
            "live_bytes": ret.get("live_bytes"),
            "core_apparent": int(core[0]) if core[0] else None,
            "core_disk": int(core[1]) if core[1] else None,
            "probe": core[2],
            "index_bytes": int(core[3]) if core[3] else None,
        }
        for key, _, _ in ROWS:
            if (size, key) in by:
                summary[(size, key)] = summarize(by[(size, key)])

    out = []
    w = out.append

    # -- in brief
    w("### In brief\n")
    for size in sizes:
        b = summary.get((size, BASE))
        live = counts[size]["live_objects"] or counts[size]["hist_objects"]
        if not b or not b["runs"]:
            w(f"- {size}: gorefs retained did not complete: `{(b or {}).get('status', 'not run')}`")
            continue
        parts = [f"- {size} ({fcount(live)} live objects): gorefs retained (full analysis with dominators) "
                 f"{fnum(b['wall'])} s wall, {fnum(b['cpu'])} s CPU, {fmb(b['rss'])} peak RSS"]
        h = summary.get((size, "gorefs-histogram"))
        if h and h["runs"]:
            parts.append(f"histogram {fnum(h['wall'])} s, {fmb(h['rss'])}")
        q = summary.get((size, "gorefs-path"))
        if q and q["runs"]:
            parts.append(f"path-to-root on the index {fnum(q['wall'])} s, {fmb(q['rss'])}")
        for peer in ("viewcore", "grf"):
            ps = summary.get((size, peer))
            if ps is None:
                continue
            if ps["runs"]:
                parts.append(f"{LABEL[peer]} {fnum(ps['wall'])} s ({ratio(ps['wall'], b['wall'])} gorefs retained), "
                             f"{fmb(ps['rss'])} ({ratio(ps['rss'], b['rss'])})")
            else:
                parts.append(f"{peer} not measured ({ps['status'].split(':')[0]})")
        w("; ".join(parts) + ".")
    w("")

    # -- against issue 5's targets, with the peers' figures quoted there when
    # they could not be measured here
    if "4M" in sizes and summary.get(("4M", BASE)) and summary[("4M", BASE)]["runs"]:
        b = summary[("4M", BASE)]
        h = summary.get(("4M", "gorefs-histogram")) or {}
        w("### Against the targets\n")
        w("The targets compare with viewcore and grf on the same core. Where they could not "
          "run here, the figures quoted with the targets stand in: `viewcore histogram` 7.2 s "
          "and 543 MB, `grf core` 100 s and 13.6 GB, for a 3.8M-object, 340 MB heap on 2 cores.\n")
        w("| target | wanted | measured |")
        w("|---|---|---|")
        w(f"| retained vs viewcore histogram at 4M | ≥ 10× faster | {ratio(7.2, b['wall'])} ({fnum(b['wall'])} s) |")
        w(f"| retained vs grf core at 4M | ≥ 100× faster | {ratio(100.0, b['wall'])} |")
        if h.get("runs"):
            w(f"| histogram vs viewcore histogram at 4M | faster still | {ratio(7.2, h['wall'])} ({fnum(h['wall'])} s) |")
        w(f"| peak RSS vs viewcore / grf at 4M | lower than either | {fmb(b['rss'])} vs 543 MB / 13.6 GB |")
        big = summary.get(("20M", BASE))
        if big and big.get("runs"):
            w(f"| 20M in ≤ 5.5× the time of 4M | ≤ 5.5× | {ratio(big['wall'], b['wall'])} |")
        for size in sizes:
            r = summary.get((size, BASE)) or {}
            if r.get("heap_kb") is None or r.get("graph") is None:
                continue
            objects, refs = r["graph"]
            budget = BYTES_PER_OBJECT * objects + BYTES_PER_REFERENCE * refs
            heap = r["heap_kb"] * 1024
            w(f"| memory beyond the mapped core at {size} (gorefs retained's heap peak) | "
              f"≤ {BYTES_PER_OBJECT} B/object + {BYTES_PER_REFERENCE} B/reference "
              f"({fcount(objects)} objects, {fcount(refs)} references: {budget / 1e6:,.1f} MB) | "
              f"{heap / 1e6:,.1f} MB ({heap / budget * 100:.1f}% of it) |")
        w("")

    # -- objects
    w("### Heaps\n")
    w("| size | entries | runtime HeapObjects | runtime HeapAlloc | gorefs live objects | gorefs live bytes | typed bytes | core (apparent / on disk) | gorefs index | goroutines |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        c = counts[size]
        live = c["live_objects"] if c["live_objects"] is not None else c["hist_objects"]
        lbytes = c["live_bytes"] if c["live_bytes"] is not None else c["hist_bytes"]
        share = "—" if c["typed_share"] is None else f"{c['typed_share'] * 100:.1f}%"
        core = "—"
        if c["core_apparent"]:
            core = f"{c['core_apparent'] / 2**20:,.0f} / {c['core_disk'] / 2**20:,.0f} MB"
        idx = "—"
        if c["index_bytes"]:
            idx = f"{c['index_bytes'] / 2**20:,.0f} MB"
            if live:
                idx += f" ({c['index_bytes'] / live:.0f} B/object)"
        w(f"| {size} | {fcount(c['entries'])} | {fcount(c['heap_objects'])} | "
          f"{fmb(c['heap_alloc'] / 1024 if c['heap_alloc'] else None)} | {fcount(live)} | "
          f"{fmb(lbytes / 1024 if lbytes else None)} | {share} | {core} | {idx} | {c['goroutines'] or '—'} |")
    w("")
    w("runtime HeapObjects/HeapAlloc: `runtime.MemStats` in benchheap after its final GC "
      "(tiny allocations share one 16-byte block; HeapObjects counts blocks). "
      "gorefs: `live_objects`/`live_bytes` of `gorefs retained --json` (histogram: "
      + ", ".join(f"{s}: {fcount(counts[s]['hist_objects'])} objects" for s in sizes) + ").\n")

    # -- timings per size
    for size in sizes:
        base = summary.get((size, BASE), {})
        live = counts[size]["live_objects"] or counts[size]["hist_objects"]
        w(f"### {size} objects\n")
        w("| tool | runs | wall s (median) | CPU s (user+sys) | peak RSS | RSS bytes / live object | wall vs gorefs retained | CPU vs | RSS vs | others' busy CPUs before |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, label, _ in ROWS:
            s = summary.get((size, key))
            if s is None:
                continue
            if s["runs"] == 0:
                st = s["status"].replace("|", "/")
                if len(st) > 90:
                    st = st[:90] + "… (see Failures)"
                w(f"| {label} | 0 | {st} | | | | | | | |")
                continue
            bpo = "—" if not live else f"{s['rss'] * 1024 / live:.0f}"
            spread = ""
            if s["runs"] > 1 and s["wall_max"] > s["wall_min"]:
                spread = f" ({fnum(s['wall_min'])}–{fnum(s['wall_max'])})"
            busy = "—"
            if s["busy_min"] is not None:
                busy = f"{s['busy_min']:.2f}" if s["busy_min"] == s["busy_max"] else f"{s['busy_min']:.2f}–{s['busy_max']:.2f}"
            w(f"| {label} | {s['runs']} | {fnum(s['wall'])}{spread} | {fnum(s['cpu'])} | {fmb(s['rss'])} | {bpo} | "
              f"{ratio(s['wall'], base.get('wall'))} | {ratio(s['cpu'], base.get('cpu'))} | {ratio(s['rss'], base.get('rss'))} | {busy} |")
        w("")
        # gorefs' own phase times (GOREFS_TIMINGS=1), medians
        cols = [k for k in ("gorefs-histogram", "gorefs-retained", "gorefs-retained-index")
                if summary.get((size, k), {}).get("phases")]
        if cols:
            names = []
            for k in cols:
                for n in summary[(size, k)]["phases"]:
                    if n not in names:
                        names.append(n)
            w(f"gorefs phases at {size} (GOREFS_TIMINGS=1, wall seconds, medians):\n")
            w("| phase | " + " | ".join(LABEL[k] for k in cols) + " |")
            w("|---|" + "---:|" * len(cols))
            for n in names:
                w(f"| {n} | " + " | ".join(fnum(summary[(size, k)]["phases"].get(n)) for k in cols) + " |")
            rest = []
            for k in cols:
                sk = summary[(size, k)]
                rest.append(fnum(max(0.0, sk["wall"] - sum(sk["phases"].values()))))
            w("| everything else (loading, DWARF, output, index) | " + " | ".join(rest) + " |")
            w("")

    # -- scaling
    if len(sizes) > 1:
        w("### Scaling between sizes\n")
        w("| tool | sizes | live objects × | wall × | CPU × | peak RSS × |")
        w("|---|---|---:|---:|---:|---:|")
        ordered = sorted(sizes, key=size_value)
        for a, b in zip(ordered, ordered[1:]):
            la = counts[a]["live_objects"] or counts[a]["hist_objects"]
            lb = counts[b]["live_objects"] or counts[b]["hist_objects"]
            for key, label, _ in ROWS:
                sa, sb = summary.get((a, key)), summary.get((b, key))
                if not sa or not sb or not sa["runs"] or not sb["runs"]:
                    continue
                w(f"| {label} | {a} → {b} | {ratio(lb, la)} | {ratio(sb['wall'], sa['wall'])} | "
                  f"{ratio(sb['cpu'], sa['cpu'])} | {ratio(sb['rss'], sa['rss'])} |")
        w("")

    # -- failures
    fails = [r for r in results if r["status"] != "ok"]
    w("### Failures\n")
    if not fails:
        w("None: every run exited 0.\n")
    else:
        groups = {}
        for r in fails:
            g = groups.setdefault((r["tool"], r["status"].strip()), {})
            g[r["size"]] = g.get(r["size"], 0) + 1
        for (tool, status), per_size in groups.items():
            where = ", ".join(f"{sz}" + (f" ({n} runs)" if n > 1 else "") for sz, n in per_size.items())
            w(f"- {LABEL.get(tool, tool)}, at {where}: `{status}`")
        w("")

    tables = "\n".join(out)
    print(tables)
    if doc == "-":
        return

    busy = [float(r["busy_before"]) for r in results if r.get("busy_before")]
    nproc = int(meta.get("nproc", "1") or 1)
    noise = ""
    if busy and max(busy) > 0.25:
        noise = (f"\n**Noise:** in the half second before a run, other processes kept {min(busy):.2f} to "
                 f"{max(busy):.2f} of {nproc} CPUs busy: they shared the machine, so wall times "
                 "(and to a lesser degree CPU times) are inflated and vary between runs; compare the minima "
                 "in brackets and the CPU column.\n")
    mem_gib = int(meta.get("mem_kb", "0") or 0) / 2**20
    dirty = meta.get("dirty_files", "0")
    commit = meta.get("commit", "unknown")
    if dirty not in ("", "0"):
        commit += f" (plus uncommitted changes in {dirty} tracked files)"
    peers = []
    for p in ("viewcore", "grf"):
        st = meta.get(f"peer_{p}", "")
        ver = meta.get(f"peer_{p}_version", "")
        peers.append(f"- {p}: {ver or '(no version)'}" + ("" if st == "ok" else f" — {st}"))
    cmds = "\n".join(f"| {label} | `{cmd}` |" for _, label, cmd in ROWS)

    text = f"""# gorefs benchmarks

gorefs against its peers on large, realistic cores. This file is written by
`scripts/bench.sh`; every run replaces it.

- commit: {commit}
- date: {meta.get('date')}
- machine: {meta.get('nproc')} CPUs ({meta.get('cpu')}), {mem_gib:.1f} GiB memory, {meta.get('kernel')}
- benchmark program built with: {meta.get('go_bench')}
- peers built with: {meta.get('go_peers')}
- {meta.get('gorefs_version')}: {meta.get('gorefs_origin')}, sha256 {meta.get('gorefs_sha256')}…
- runs per tool: {meta.get('runs')} (medians; min–max in brackets), timeout {meta.get('timeout')} s per run
- command: `{meta.get('cmdline')}`

Peers (`go install ...@latest`):

{chr(10).join(peers)}
{noise}
## The heap

`testdata/programs/benchheap` (`-objects N`) builds the state of a cache
service: 64 shards, each a `map[string]*Entry` and a linked list of its
entries; every entry has a string key, a `[]byte` payload (16 B – 4 KiB), links
to two other entries, a value behind an interface with methods, every third a
boxed value in an `any`, every fourth a small `map[string]any`; a random
(unbalanced) binary search tree indexes all entries; a slice holds them all.
200 goroutines are blocked (channel receive/send, select, sleep, Mutex,
RWMutex, Cond, WaitGroup, IO wait, nil channel), a third of them under 5–45
frames of recursion, each holding a session with 10–100 requests (bodies,
header maps) and pointers into the store on its stack. The PRNG seed is fixed.
The core is taken as the README says: `GOTRACEBACK=crash`, SIGQUIT, the kernel
writes it.

{tables}
## What is measured

| row | command |
|---|---|
{cmds}

Each run is `/usr/bin/time -f '%e %U %S %M' timeout {meta.get('timeout')} COMMAND`: wall
seconds, user + system CPU seconds, peak resident set size. Within a round
the tools run one after another, and the order rotates between rounds. The
cores and binaries are in the page cache (each run reads them first), so
this measures analysis, not disk reads. gorefs prints JSON (the table output
costs the same analysis). "retained" (`--no-index`) is the full analysis:
load, heap, goroutines, roots, typing, references and marking, dominators,
retained sizes; it is the baseline of the ratios. "path-to-root (indexed)" is
a later query on a core whose index `gorefs retained` wrote (it loads the
index from `$GOREFS_CACHE_DIR` and answers); "writing the index" is `gorefs
retained` with an empty cache (the full analysis plus saving the index; it
runs once more than the others, to prepare the index the queries load). viewcore's `histogram` and grf's
`core` are the closest equivalents of their tools (viewcore computes types and
sizes of live objects; grf builds a reference profile in pprof format).
"RSS bytes / live object" is the peak RSS divided by the live objects gorefs
found. The memory target counts what gorefs
allocates (its allocator's peak of bytes held, which `GOREFS_TIMINGS=1`
prints as "heap peak"), not the pages of the core and binary it maps: those
stay in the page cache and can be dropped by the kernel at any time, and on a
100 GB core they are what RSS mostly measures. The budget's objects and
references are the graph gorefs built (its "graph:" timing line: heap objects
and every reference, roots' included).

## How to reproduce

```sh
bash scripts/bench.sh --sizes 1M,4M --runs 3    # ~minutes; cores go to ${{TMPDIR:-/tmp}}/gorefs-bench
bash scripts/bench.sh --sizes 20M --runs 1      # ~5 GB of disk (core 1.8 GB, index 1.2 GB), ~4.5 GB of memory
bash scripts/bench.sh --help
```

The script builds `benchheap` with a pinned Go release (`--go`, default
1.24.11; toolchains as in `scripts/make-testdata.sh`), takes one core per size
into the scratch dir (`--scratch`; reused while the binary is unchanged; this
run's are `{meta.get('scratch')}/go<version>/<size>/core`, next to
`benchheap`), builds gorefs with `cargo build --release`, installs the
peers with `GOTOOLCHAIN=local go install golang.org/x/debug/cmd/viewcore@latest`
and `go install github.com/cloudwego/goref/cmd/grf@latest` into
`SCRATCH/gobin` (a peer that does not install or does not run is reported,
not fatal; `--skip-peers` leaves them out), then times everything. Raw
results (one line per run, the commands' stderr, their outputs) stay in
`SCRATCH/results/<date>/`.
"""
    text = keep_hand_sections(doc, text)
    with open(doc, "w") as f:
        f.write(text)


# Sections of the report that are measured by hand, not by this script: a
# rerun keeps them (from the previous report), before "How to reproduce".
HAND_SECTIONS = ["## Synthetic graph at 50M nodes"]


def keep_hand_sections(doc, text):
    try:
        with open(doc) as f:
            old = f.read()
    except OSError:
        return text
    kept = []
    for heading in HAND_SECTIONS:
        start = old.find("\n" + heading + "\n")
        if start < 0 or heading in text:
            continue
        end = old.find("\n## ", start + 1)
        kept.append(old[start + 1 : end if end >= 0 else len(old)].rstrip() + "\n\n")
    if not kept:
        return text
    at = text.find("## How to reproduce")
    if at < 0:
        return text.rstrip() + "\n\n" + "".join(kept)
    return text[:at] + "".join(kept) + text[at:]


if __name__ == "__main__":
    main()
