// benchheap builds a large, realistic Go heap for benchmarking heap
// analysers on core dumps (see scripts/bench.sh and docs/benchmarks.md).
//
//	benchheap -objects 4M -stats stats.json
//
// The heap looks like the in-memory state of a cache service:
//
//   - a store of 64 shards, each a map[string]*Entry plus an intrusive linked
//     list of its entries (Entry.Next);
//   - every Entry has a string key, a []byte payload, links to neighbours
//     (Entry.Peers: the previous entry and a random earlier one), a value
//     behind an interface with methods (Valuer), sometimes a boxed value in
//     an `any`, sometimes a small map[string]any of attributes;
//   - a binary search tree (random keys, unbalanced) indexing every entry;
//   - a registry slice of all entries and a ring of recent ones;
//   - 200 goroutines blocked in various states (channel receive and send,
//     select, sleep, mutex, RWMutex, sync.Cond, WaitGroup, IO wait, nil
//     channel), some behind deep recursion, each holding its own objects
//     (sessions, requests, bodies, header maps) and references into the
//     store on its stack.
//
// -objects sets the approximate total number of heap objects (suffixes k, M,
// G); at 4M the heap holds about 3.8M objects in about 340 MB. Everything is
// generated from a fixed PRNG seed (map layouts still depend on the
// runtime's per-process hash seed).
//
// When the heap is built and every goroutine is blocked it runs the GC twice,
// returns free memory to the OS, disables the GC, writes statistics (object
// counts from runtime.MemStats and its own allocation counters, the address
// of a probe object) as JSON to the -stats file, prints "ready" on stdout and
// blocks forever, so that a core can be taken with GOTRACEBACK=crash and
// SIGQUIT (or gcore).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---------------------------------------------------------------------------
// Types

// Valuer is the interface with methods that entries hold their value behind.
type Valuer interface {
	Value() int64
	Kind() string
}

type IntValue struct {
	N    int64
	Unit string
}

func (v *IntValue) Value() int64 { return v.N }
func (v *IntValue) Kind() string { return "int" }

type StrValue struct {
	S     string
	Flags uint32
}

func (v *StrValue) Value() int64 { return int64(len(v.S)) }
func (v *StrValue) Kind() string { return "string" }

type ListValue struct {
	Items []int32
	Tag   string
}

func (v *ListValue) Value() int64 { return int64(len(v.Items)) }
func (v *ListValue) Kind() string { return "list" }

// FloatValue is stored by value in the interface (the runtime boxes a copy).
type FloatValue float64

func (v FloatValue) Value() int64 { return int64(v) }
func (v FloatValue) Kind() string { return "float" }

// Entry is one cached item.
type Entry struct {
	ID      uint64
	Key     string
	Payload []byte
	Next    *Entry    // next entry of the same shard
	Peers   [2]*Entry // the previous entry and a random earlier one
	Val     Valuer
	Extra   any            // a boxed value for every third entry
	Attrs   map[string]any // small attribute map for every fourth entry
	Created int64
}

// Meta is one of the things boxed in Entry.Extra.
type Meta struct {
	Owner string
	Rev   int64
	Tags  []string
}

type Shard struct {
	mu    sync.RWMutex
	byKey map[string]*Entry
	head  *Entry
	count int
}

// TreeNode is a node of the binary search tree over all entries.
type TreeNode struct {
	Key         uint64
	Left, Right *TreeNode
	Entry       *Entry
}

// Goroutine-held objects.
type Session struct {
	ID       int
	User     string
	Requests []*Request
	Pinned   []*Entry
	Scratch  map[int]*Request
}

type Request struct {
	Seq     int
	Path    string
	Body    []byte
	Headers map[string]string
	Parent  *Session
	Target  *Entry
}

// Frame is a heap object held by one frame of a deep recursion.
type Frame struct {
	Depth int
	Name  string
	Up    *Frame
	Data  []byte
}

// ---------------------------------------------------------------------------
// Globals: the roots of the store.

const numShards = 64

var (
	store     [numShards]*Shard
	index     *TreeNode
	all       []*Entry // every entry, in creation order
	recent    []*Entry // the last 4096 entries
	defaults  []Valuer // a few shared values
	attrNames = []string{"region", "zone", "owner", "tier", "flags", "ttl", "schema", "origin"}
)

// Goroutine plumbing.
var (
	recvCh    = make(chan int)
	sendCh    = make(chan *Request)
	selA      = make(chan int)
	selB      = make(chan string)
	mu        sync.Mutex // held by main forever
	rwmu      sync.RWMutex
	condMu    sync.Mutex
	cond      = sync.NewCond(&condMu)
	wg        sync.WaitGroup
	nilCh     chan int
	pipeR     *os.File
	pipeW     *os.File
	blockedMu sync.Mutex
	blocked   int
)

// ---------------------------------------------------------------------------
// Allocation counters (objects allocated explicitly; maps' internal storage
// is not counted here, runtime.MemStats covers everything).

var counts = map[string]int{}

func count(what string, n int) { counts[what] += n }

// ---------------------------------------------------------------------------
// Building the store

var rng = rand.New(rand.NewSource(20240601))

var noise = func() []byte {
	b := make([]byte, 1<<16)
	r := rand.New(rand.NewSource(7))
	r.Read(b)
	return b
}()

// payloadSize: mostly small, some medium, a few large.
func payloadSize() int {
	switch p := rng.Intn(100); {
	case p < 78:
		return 16 + rng.Intn(224)
	case p < 98:
		return 256 + rng.Intn(512)
	default:
		return 1024 + rng.Intn(3072)
	}
}

func newPayload() []byte {
	n := payloadSize()
	b := make([]byte, n)
	off := rng.Intn(len(noise) - n)
	copy(b, noise[off:off+n])
	count("payload", 1)
	return b
}

func newValuer(i int) Valuer {
	switch i % 4 {
	case 0:
		count("IntValue", 1)
		return &IntValue{N: rng.Int63(), Unit: "ms"}
	case 1:
		count("StrValue+string", 2)
		return &StrValue{S: "v-" + strconv.Itoa(rng.Intn(1<<30)), Flags: uint32(i)}
	case 2:
		n := 1 + rng.Intn(12)
		items := make([]int32, n)
		for j := range items {
			items[j] = rng.Int31()
		}
		count("ListValue+[]int32", 2)
		return &ListValue{Items: items, Tag: "list"}
	default:
		if rng.Intn(8) == 0 {
			return defaults[rng.Intn(len(defaults))] // shared
		}
		count("FloatValue", 1)
		return FloatValue(rng.Float64() * 1e6)
	}
}

func newExtra(i int) any {
	switch rng.Intn(4) {
	case 0:
		count("boxed int64", 1)
		return int64(1<<40 + rng.Int63n(1<<40))
	case 1:
		count("boxed string+bytes", 2)
		return "extra-" + strconv.Itoa(i)
	case 2:
		tags := make([]string, 1+rng.Intn(3))
		for j := range tags {
			tags[j] = attrNames[rng.Intn(len(attrNames))]
		}
		count("Meta+[]string", 2)
		return &Meta{Owner: attrNames[i%len(attrNames)], Rev: int64(i), Tags: tags}
	default:
		count("boxed []byte+backing", 2)
		return []byte(strconv.Itoa(i * 7919))
	}
}

func newAttrs(i int) map[string]any {
	n := 1 + rng.Intn(6)
	m := make(map[string]any, n)
	for j := 0; j < n; j++ {
		k := attrNames[rng.Intn(len(attrNames))]
		switch rng.Intn(3) {
		case 0:
			m[k] = rng.Intn(1 << 20) // boxed int (small ones are not allocated)
		case 1:
			m[k] = "a" + strconv.Itoa(rng.Intn(1<<20))
		default:
			m[k] = i%2 == 0
		}
	}
	count("attr map", 1)
	return m
}

// objectsPerEntry converts -objects into a number of entries: an entry and
// its key, payload, value, boxed extras, attribute map and tree node make
// about 7.7 heap objects on average (runtime.MemStats.HeapObjects; tiny
// allocations share 16-byte blocks, maps allocate their own storage).
const objectsPerEntry = 7.7

func buildStore(nEntries int) {
	for s := range store {
		store[s] = &Shard{byKey: make(map[string]*Entry)}
	}
	defaults = make([]Valuer, 64)
	for i := range defaults {
		defaults[i] = &IntValue{N: int64(i), Unit: "default"}
	}
	all = make([]*Entry, 0, nEntries)
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < nEntries; i++ {
		e := &Entry{
			ID:      uint64(i),
			Key:     "entry/" + strconv.Itoa(i) + "/" + strconv.FormatUint(rng.Uint64()>>40, 36),
			Payload: newPayload(),
			Val:     newValuer(i),
			Created: now + int64(i)*1e6,
		}
		count("Entry+key", 2)
		if i%3 == 0 {
			e.Extra = newExtra(i)
		}
		if i%4 == 1 {
			e.Attrs = newAttrs(i)
		}
		if i > 0 {
			e.Peers[0] = all[i-1]
			e.Peers[1] = all[rng.Intn(i)]
		}
		sh := store[rng.Intn(numShards)]
		sh.byKey[e.Key] = e
		e.Next = sh.head
		sh.head = e
		sh.count++
		all = append(all, e)
		insertTree(rng.Uint64(), e)
	}
	recent = make([]*Entry, 4096)
	n := copy(recent, all[max(0, len(all)-4096):])
	recent = recent[:n]
}

func insertTree(key uint64, e *Entry) {
	n := &TreeNode{Key: key, Entry: e}
	count("TreeNode", 1)
	if index == nil {
		index = n
		return
	}
	t := index
	for {
		if key < t.Key {
			if t.Left == nil {
				t.Left = n
				return
			}
			t = t.Left
		} else {
			if t.Right == nil {
				t.Right = n
				return
			}
			t = t.Right
		}
	}
}

func treeDepth(t *TreeNode) int {
	// iterative: the tree is unbalanced
	type item struct {
		n *TreeNode
		d int
	}
	maxd := 0
	stack := []item{{t, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n == nil {
			continue
		}
		if it.d > maxd {
			maxd = it.d
		}
		stack = append(stack, item{it.n.Left, it.d + 1}, item{it.n.Right, it.d + 1})
	}
	return maxd
}

// ---------------------------------------------------------------------------
// Goroutines

const numGoroutines = 200

//go:noinline
func newSession(id int, r *rand.Rand) *Session {
	s := &Session{ID: id, User: "user-" + strconv.Itoa(id), Scratch: make(map[int]*Request)}
	n := 10 + r.Intn(90)
	for i := 0; i < n; i++ {
		req := &Request{
			Seq:     i,
			Path:    "/api/v1/items/" + strconv.Itoa(r.Intn(1<<20)),
			Body:    make([]byte, 32+r.Intn(480)),
			Headers: map[string]string{"content-type": "application/json", "x-request-id": strconv.Itoa(id*1000 + i)},
			Parent:  s,
		}
		if len(all) > 0 {
			req.Target = all[r.Intn(len(all))]
		}
		s.Requests = append(s.Requests, req)
		if i%5 == 0 {
			s.Scratch[i] = req
		}
	}
	for i := 0; i < 8 && len(all) > 0; i++ {
		s.Pinned = append(s.Pinned, all[r.Intn(len(all))])
	}
	return s
}

func markBlocked() {
	blockedMu.Lock()
	blocked++
	blockedMu.Unlock()
}

// block parks the goroutine in the state chosen by kind and never returns.
func block(kind int, s *Session) {
	markBlocked()
	switch kind {
	case 0:
		<-recvCh
	case 1:
		sendCh <- s.Requests[0]
	case 2:
		select {
		case <-selA:
		case <-selB:
		}
	case 3:
		time.Sleep(1000 * time.Hour)
	case 4:
		mu.Lock()
	case 5:
		rwmu.RLock()
	case 6:
		condMu.Lock()
		for {
			cond.Wait()
		}
	case 7:
		wg.Wait()
	case 8:
		var buf [1]byte
		pipeR.Read(buf[:]) // IO wait: nothing is ever written
	default:
		<-nilCh
	}
	runtime.KeepAlive(s)
}

// recurse holds one Frame per level on the stack, then blocks at the bottom.
//
//go:noinline
func recurse(depth int, up *Frame, kind int, s *Session) {
	f := &Frame{Depth: depth, Name: "frame", Up: up, Data: make([]byte, 64)}
	if depth == 0 {
		block(kind, s)
	} else {
		recurse(depth-1, f, kind, s)
	}
	runtime.KeepAlive(f)
}

func goroutine(id int) {
	r := rand.New(rand.NewSource(int64(id) + 1))
	s := newSession(id, r)
	// A stack object holding pointers into the store.
	var hot [4]*Entry
	for i := range hot {
		if len(all) > 0 {
			hot[i] = all[r.Intn(len(all))]
		}
	}
	kind := id % 10
	if id%3 == 0 {
		recurse(5+r.Intn(40), nil, kind, s)
	} else {
		block(kind, s)
	}
	runtime.KeepAlive(hot)
	runtime.KeepAlive(s)
}

func startGoroutines() {
	var err error
	pipeR, pipeW, err = os.Pipe()
	if err != nil {
		panic(err)
	}
	wg.Add(1)
	rwmu.Lock() // readers block
	mu.Lock()   // lock waiters block; main holds it forever
	for i := 0; i < numGoroutines; i++ {
		go goroutine(i)
	}
}

// waitBlocked waits until every goroutine has marked itself blocked and no
// goroutine other than main is running or runnable.
func waitBlocked() {
	deadline := time.Now().Add(60 * time.Second)
	buf := make([]byte, 16<<20)
	for {
		blockedMu.Lock()
		b := blocked
		blockedMu.Unlock()
		if b == numGoroutines {
			n := runtime.Stack(buf, true)
			busy := 0
			for _, line := range bytes.Split(buf[:n], []byte("\n")) {
				if bytes.HasPrefix(line, []byte("goroutine ")) &&
					(bytes.Contains(line, []byte("[running")) || bytes.Contains(line, []byte("[runnable"))) {
					busy++
				}
			}
			if busy <= 1 { // main itself
				return
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "benchheap: warning: only %d of %d goroutines blocked\n", b, numGoroutines)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------

type stats struct {
	GoVersion       string         `json:"go_version"`
	ObjectsFlag     int            `json:"objects_flag"`
	Entries         int            `json:"entries"`
	TreeDepth       int            `json:"tree_depth"`
	Goroutines      int            `json:"goroutines"`
	Allocated       int            `json:"allocated_objects"` // explicit allocations counted by benchheap
	AllocatedByKind map[string]int `json:"allocated_by_kind"`
	HeapObjects     uint64         `json:"heap_objects"` // runtime.MemStats after the final GC
	HeapAlloc       uint64         `json:"heap_alloc"`
	HeapInuse       uint64         `json:"heap_inuse"`
	HeapSys         uint64         `json:"heap_sys"`
	StackInuse      uint64         `json:"stack_inuse"`
	Sys             uint64         `json:"sys"`
	BuildSeconds    float64        `json:"build_seconds"`
	ProbeEntry      string         `json:"probe_entry"`     // an Entry in the middle of the store
	ProbeTreeNode   string         `json:"probe_tree_node"` // a tree node a few levels down
	ProbePayload    string         `json:"probe_payload"`   // the payload of the probe entry
}

func parseCount(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad object count %q", s)
	}
	return int(f * mult), nil
}

func main() {
	objectsFlag := flag.String("objects", "1M", "approximate number of heap objects (suffix k, M or G)")
	statsPath := flag.String("stats", "stats.json", "where to write the statistics (JSON)")
	flag.Parse()
	nObjects, err := parseCount(*objectsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchheap:", err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(4) // fixed: per-P structures do not depend on the machine

	start := time.Now()
	nEntries := int(float64(nObjects) / objectsPerEntry)
	buildStore(nEntries)
	startGoroutines()
	waitBlocked()
	built := time.Since(start)

	// Sweep the construction garbage, give free pages back to the OS (so
	// the core stays small) and freeze the heap.
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	debug.SetGCPercent(-1)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	probe := all[len(all)/2]
	tn := index
	for d := 0; d < 8 && tn != nil; d++ {
		if tn.Left != nil && d%2 == 0 {
			tn = tn.Left
		} else if tn.Right != nil {
			tn = tn.Right
		} else {
			break
		}
	}
	st := stats{
		GoVersion:       runtime.Version(),
		ObjectsFlag:     nObjects,
		Entries:         len(all),
		TreeDepth:       treeDepth(index),
		Goroutines:      runtime.NumGoroutine(),
		AllocatedByKind: counts,
		HeapObjects:     ms.HeapObjects,
		HeapAlloc:       ms.HeapAlloc,
		HeapInuse:       ms.HeapInuse,
		HeapSys:         ms.HeapSys,
		StackInuse:      ms.StackInuse,
		Sys:             ms.Sys,
		BuildSeconds:    built.Seconds(),
		ProbeEntry:      fmt.Sprintf("%p", probe),
		ProbeTreeNode:   fmt.Sprintf("%p", tn),
		ProbePayload:    fmt.Sprintf("%p", &probe.Payload[0]),
	}
	for _, n := range counts {
		st.Allocated += n
	}
	out, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(*statsPath, append(out, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchheap:", err)
		os.Exit(1)
	}
	fmt.Println("ready")

	select {} // block forever (main keeps holding mu)
}
