// heapzoo builds a heap whose contents are known exactly, writes the ground
// truth as JSON to the path given as argv[1], prints "ready" on stdout and
// then blocks forever so that a core dump can be taken (see
// scripts/make-testdata.sh). Everything is deterministic: no map iteration,
// no randomness, GC disabled once the heap is built.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ---------------------------------------------------------------------------
// Globals: the only roots of the heap objects below.

var (
	registry    map[int]*Session   // 500 Sessions (big map: grows)
	small       map[string]*Config // 3 Configs (small map)
	ring        *Node              // 1000 Nodes, cyclic doubly linked
	items       []*Item            // backing array [100]*main.Item, 100 Items
	mids        []*Mid             // 50 Mids
	heavies     []*PtrHeavy        // 4 PtrHeavys
	bigs        []*Big             // 3 Bigs (large objects)
	blob        []byte             // 100000-byte noscan large object
	tinyStrings []string           // 64 tiny heap strings
	tinies      []*int32           // 8 tiny *int32
	payloadCh   chan *Payload      // cap 16, holds 10 Payloads
	intCh       chan int           // cap 8, holds 3 ints
	boxedAny    any                // *Boxed (pointer-shaped: direct iface)
	valueAny    any                // Value by value (heap copy)
	stringer    fmt.Stringer       // *Named (non-empty interface)
	closure     func() int         // captures *Captured and an int by reference
	methodVal   func() int         // (*Receiver).Method bound to one Receiver
	boxes       []*Box[int]        // 5 Box[int]
	finalized   []*Finalized       // 2 Finalized, each with a finalizer
	cyc         *Cyc               // 3 Cycs in a 3-cycle
	holder      *Holder            // retains exactly 12 objects, 744 bytes
	sharedA     *Shared            // sharedA and sharedB hold the same Shared
	sharedB     *Shared            //
)

// Goroutine plumbing.
var (
	recvCh   chan int      // never sent on: waitRecv blocks
	sendCh   chan int      // unbuffered, never received: waitSend blocks
	selA     chan int      // waitSelect selects on selA and selB
	selB     chan string   //
	workerCh chan struct{} // never sent on: worker blocks
	mu       sync.Mutex    // held by main forever: lockWaiter blocks
	wg       sync.WaitGroup

	workerBufAddr atomic.Uintptr // address of the WorkerBuf (uintptr: not a reference)
	spinCount     atomic.Uint64
	orphanFinal   atomic.Bool
)

// Roles of the goroutines heapzoo starts, in start order.
const (
	roleWaitRecv = iota
	roleWaitSend
	roleWaitSelect
	roleSleeper
	roleLockWaiter
	roleWGWaiter
	roleWorker
	roleSpinner
	numRoles
)

var roleNames = [numRoles]string{
	"main.waitRecv", "main.waitSend", "main.waitSelect", "main.sleeper",
	"main.lockWaiter", "main.wgWaiter", "main.worker", "main.spinner",
}

// Acceptable wait reasons per role (as printed in tracebacks).
var roleStates = [numRoles][]string{
	{"chan receive"},
	{"chan send"},
	{"select"},
	{"sleep"},
	{"sync.Mutex.Lock"},
	{"sync.WaitGroup.Wait", "semacquire"}, // go1.21-1.23 say semacquire
	{"chan receive"},
	{"running", "runnable"},
}

var goids [numRoles]atomic.Int64

// curGoid parses the current goroutine id from runtime.Stack.
func curGoid() int64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseInt(string(s), 10, 64)
	return id
}

func register(role int) { goids[role].Store(curGoid()) }

func waitRecv() {
	register(roleWaitRecv)
	<-recvCh
}

func waitSend() {
	register(roleWaitSend)
	sendCh <- 42
}

func waitSelect() {
	register(roleWaitSelect)
	select {
	case <-selA:
	case <-selB:
	}
}

func sleeper() {
	register(roleSleeper)
	time.Sleep(time.Hour)
}

func lockWaiter() {
	register(roleLockWaiter)
	mu.Lock()
	mu.Unlock()
}

func wgWaiter() {
	register(roleWGWaiter)
	wg.Wait()
}

func worker() {
	// 1 MiB: too large for the stack, so heap-allocated, but referenced
	// only from this goroutine's stack frame.
	local := &WorkerBuf{ID: 7}
	local.Self = local
	copy(local.Data[:], "WORKERBUF")
	workerBufAddr.Store(uintptr(unsafe.Pointer(local)))
	register(roleWorker)
	<-workerCh
	runtime.KeepAlive(local)
}

func spinner() {
	register(roleSpinner)
	var counter uint64
	for {
		counter++
		if counter&(1<<20-1) == 0 {
			spinCount.Store(counter)
		}
	}
}

// ---------------------------------------------------------------------------
// Ground truth.

type typeEntry struct {
	Type  string  `json:"type"`
	Count int     `json:"count"`
	Size  uintptr `json:"size"`
}

type objEntry struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Type    string `json:"type"`
}

type unreachableEntry struct {
	Name    string  `json:"name"`
	Address string  `json:"address"`
	Type    string  `json:"type"`
	Size    uintptr `json:"size"`
	Reason  string  `json:"reason"`
}

type goroutineTruth struct {
	Total      int               `json:"total"`
	ByFunction map[string]int    `json:"by_function"`
	IDs        map[string]int64  `json:"ids"`
	States     map[string]string `json:"states"`
	MainID     int64             `json:"main_id"`
	MainState  string            `json:"main_state"`
}

// retainedEntry is what a root retains exclusively (its dominator subtree).
type retainedEntry struct {
	Root    string `json:"root"`
	Bytes   int    `json:"bytes"`
	Objects int    `json:"objects"`
}

type truth struct {
	GoVersion        string             `json:"go_version"`
	GOOS             string             `json:"goos"`
	GOARCH           string             `json:"goarch"`
	BuildSettings    map[string]string  `json:"build_settings"`
	GOMAXPROCS       int                `json:"gomaxprocs"`
	Types            []typeEntry        `json:"types"`
	Objects          []objEntry         `json:"objects"`
	Unreachable      []unreachableEntry `json:"unreachable"`
	Globals          []string           `json:"globals"`
	Goroutines       goroutineTruth     `json:"goroutines"`
	Finalizers       int                `json:"finalizers"`
	FinalizersByType map[string]int     `json:"finalizers_by_type"`
	Cleanups         int                `json:"cleanups"`
	Weak             int                `json:"weak"`
	Retained         []retainedEntry    `json:"retained"`
}

type truthBuilder struct{ t truth }

// addType records that exactly count objects of v's type are live.
// size is unsafe.Sizeof of one value, computed by the caller.
func (b *truthBuilder) addType(v any, count int, size uintptr) {
	b.t.Types = append(b.t.Types, typeEntry{Type: fmt.Sprintf("%T", v), Count: count, Size: size})
}

func (b *truthBuilder) addObject(name string, addr unsafe.Pointer, typ string) {
	b.t.Objects = append(b.t.Objects, objEntry{Name: name, Address: fmt.Sprintf("%p", addr), Type: typ})
}

func (b *truthBuilder) addGlobals(names ...string) {
	for _, n := range names {
		b.t.Globals = append(b.t.Globals, "main."+n)
	}
}

// ---------------------------------------------------------------------------
// Heap construction.

//go:noinline
func ival(i int) int { return i }

func build(b *truthBuilder) {
	// Big map: 500 Sessions, inserted without a size hint so it grows.
	registry = make(map[int]*Session)
	var prev *Session
	for i := 0; i < 500; i++ {
		s := &Session{ID: i, Name: "session-" + strconv.Itoa(i), Score: i * 10, Peer: prev}
		registry[i] = s
		prev = s
	}
	b.addType(Session{}, 500, unsafe.Sizeof(Session{}))
	b.addObject("registry", unsafe.Pointer(*(**byte)(unsafe.Pointer(&registry))), fmt.Sprintf("%T", registry))
	b.addObject("registry[0]", unsafe.Pointer(registry[0]), "main.Session")
	b.addObject("registry[499]", unsafe.Pointer(registry[499]), "main.Session")

	// Small map: 3 Configs.
	small = map[string]*Config{}
	for i, n := range []string{"alpha", "beta", "gamma"} {
		small[n] = &Config{Name: n, Value: ival(i), Enabled: i%2 == 0}
	}
	b.addType(Config{}, 3, unsafe.Sizeof(Config{}))
	b.addObject("small", unsafe.Pointer(*(**byte)(unsafe.Pointer(&small))), fmt.Sprintf("%T", small))
	b.addObject(`small["alpha"]`, unsafe.Pointer(small["alpha"]), "main.Config")

	// Ring of 1000 Nodes.
	ring = &Node{Val: 0}
	ring.Next, ring.Prev = ring, ring
	for i := 1; i < 1000; i++ {
		n := &Node{Val: i, Prev: ring.Prev, Next: ring}
		ring.Prev.Next = n
		ring.Prev = n
	}
	b.addType(Node{}, 1000, unsafe.Sizeof(Node{}))
	b.addObject("ring", unsafe.Pointer(ring), "main.Node")

	// 100 Items behind a [100]*Item backing array.
	items = make([]*Item, 100)
	for i := range items {
		items[i] = &Item{ID: i, Weight: float64(i) / 2}
	}
	b.addType(Item{}, 100, unsafe.Sizeof(Item{}))
	b.addType([100]*Item{}, 1, unsafe.Sizeof([100]*Item{}))
	b.addObject("items", unsafe.Pointer(&items[0]), "[100]*main.Item")
	b.addObject("items[0]", unsafe.Pointer(items[0]), "main.Item")

	// 50 Mids (~1000 bytes, pointerful: malloc header in 1.22+).
	mids = make([]*Mid, 50)
	for i := range mids {
		m := &Mid{ID: i, Tag: "mid"}
		m.Ptrs[0] = &m.ID
		mids[i] = m
	}
	b.addType(Mid{}, 50, unsafe.Sizeof(Mid{}))
	b.addType([50]*Mid{}, 1, unsafe.Sizeof([50]*Mid{}))
	b.addObject("mids[0]", unsafe.Pointer(mids[0]), "main.Mid")

	// 4 PtrHeavys (> 1 KiB of pointer words).
	heavies = make([]*PtrHeavy, 4)
	for i := range heavies {
		h := &PtrHeavy{N: i}
		for j := 0; j < 4; j++ {
			h.P[j] = &h.N
		}
		heavies[i] = h
	}
	b.addType(PtrHeavy{}, 4, unsafe.Sizeof(PtrHeavy{}))
	b.addType([4]*PtrHeavy{}, 1, unsafe.Sizeof([4]*PtrHeavy{}))
	b.addObject("heavies[0]", unsafe.Pointer(heavies[0]), "main.PtrHeavy")

	// 3 Bigs (large objects with pointers).
	bigs = make([]*Big, 3)
	for i := range bigs {
		bg := &Big{ID: i, Owner: registry[i], Tail: ring}
		bg.Pad[0] = 0xB16B16
		bigs[i] = bg
	}
	b.addType(Big{}, 3, unsafe.Sizeof(Big{}))
	b.addType([3]*Big{}, 1, unsafe.Sizeof([3]*Big{}))
	b.addObject("bigs[0]", unsafe.Pointer(bigs[0]), "main.Big")

	// Big noscan byte slice.
	blob = make([]byte, 100000)
	copy(blob, "BLOBSTART")
	b.addType([100000]byte{}, 1, unsafe.Sizeof([100000]byte{}))
	b.addObject("blob", unsafe.Pointer(&blob[0]), "[100000]uint8")

	// Tiny heap strings and tiny int32s.
	tinyStrings = make([]string, 64)
	for i := range tinyStrings {
		tinyStrings[i] = strconv.Itoa(1000 + i*7) // >= 100: not a static string
	}
	b.addType([64]string{}, 1, unsafe.Sizeof([64]string{}))
	b.addObject("tinyStrings", unsafe.Pointer(&tinyStrings[0]), "[64]string")
	tinies = make([]*int32, 8)
	for i := range tinies {
		v := new(int32)
		*v = int32(ival(i * 3))
		tinies[i] = v
	}
	b.addType([8]*int32{}, 1, unsafe.Sizeof([8]*int32{}))
	b.addObject("tinies", unsafe.Pointer(&tinies[0]), "[8]*int32")

	// Channels.
	payloadCh = make(chan *Payload, 16)
	for i := 0; i < 10; i++ {
		p := &Payload{Seq: i, Body: "payload"}
		if i == 0 {
			b.addObject("payloadCh[0]", unsafe.Pointer(p), "main.Payload")
		}
		payloadCh <- p
	}
	intCh = make(chan int, 8)
	for i := 0; i < 3; i++ {
		intCh <- ival(100 + i)
	}
	b.addType(Payload{}, 10, unsafe.Sizeof(Payload{}))
	b.addObject("payloadCh", unsafe.Pointer(*(**byte)(unsafe.Pointer(&payloadCh))), fmt.Sprintf("%T", payloadCh))
	b.addObject("intCh", unsafe.Pointer(*(**byte)(unsafe.Pointer(&intCh))), fmt.Sprintf("%T", intCh))

	// Interfaces.
	bx := &Boxed{ID: ival(1), Name: "boxed"}
	boxedAny = bx
	valueAny = Value{A: ival(1), B: ival(2), Tag: "value"}
	nm := &Named{Name: "named"}
	stringer = nm
	b.addType(Boxed{}, 1, unsafe.Sizeof(Boxed{}))
	b.addType(Value{}, 1, unsafe.Sizeof(Value{}))
	b.addType(Named{}, 1, unsafe.Sizeof(Named{}))
	b.addObject("boxedAny", unsafe.Pointer(bx), "main.Boxed")
	b.addObject("valueAny", (*[2]unsafe.Pointer)(unsafe.Pointer(&valueAny))[1], "main.Value")
	b.addObject("stringer", unsafe.Pointer(nm), "main.Named")

	// Closures.
	captured := &Captured{N: ival(5), Name: "captured"}
	n := ival(10)
	closure = func() int { n++; return captured.N + n }
	n = ival(11) // modified after capture: captured by reference (heap int)
	recv := &Receiver{ID: ival(3), Name: "receiver"}
	methodVal = recv.Method
	b.addType(Captured{}, 1, unsafe.Sizeof(Captured{}))
	b.addType(Receiver{}, 1, unsafe.Sizeof(Receiver{}))
	b.addObject("captured", unsafe.Pointer(captured), "main.Captured")
	b.addObject("receiver", unsafe.Pointer(recv), "main.Receiver")
	b.addObject("closure", *(*unsafe.Pointer)(unsafe.Pointer(&closure)), "func() int")
	b.addObject("methodVal", *(*unsafe.Pointer)(unsafe.Pointer(&methodVal)), "func() int")

	// Generics: 5 Box[int] chained.
	boxes = make([]*Box[int], 5)
	var next *Box[int]
	for i := len(boxes) - 1; i >= 0; i-- {
		boxes[i] = &Box[int]{V: i, Next: next}
		next = boxes[i]
	}
	b.addType(Box[int]{}, 5, unsafe.Sizeof(Box[int]{}))
	b.addType([5]*Box[int]{}, 1, unsafe.Sizeof([5]*Box[int]{}))
	b.addObject("boxes[0]", unsafe.Pointer(boxes[0]), fmt.Sprintf("%T", *boxes[0]))

	// Finalizers on reachable objects.
	finalized = make([]*Finalized, 2)
	for i := range finalized {
		f := &Finalized{ID: i, Name: "finalized"}
		runtime.SetFinalizer(f, func(*Finalized) {})
		finalized[i] = f
	}
	b.addType(Finalized{}, 2, unsafe.Sizeof(Finalized{}))
	b.addType([2]*Finalized{}, 1, unsafe.Sizeof([2]*Finalized{}))
	b.addObject("finalized[0]", unsafe.Pointer(finalized[0]), "main.Finalized")
	b.addObject("finalized[1]", unsafe.Pointer(finalized[1]), "main.Finalized")

	// 3-cycle.
	c1, c2, c3 := &Cyc{ID: 1}, &Cyc{ID: 2}, &Cyc{ID: 3}
	c1.Next, c2.Next, c3.Next = c2, c3, c1
	cyc = c1
	b.addType(Cyc{}, 3, unsafe.Sizeof(Cyc{}))
	b.addObject("cyc", unsafe.Pointer(cyc), "main.Cyc")

	// Exact retention: holder is the only path to 12 objects.
	holder = &Holder{Leaves: make([]*Leaf, 10)}
	for i := range holder.Leaves {
		holder.Leaves[i] = &Leaf{ID: i}
	}
	if unsafe.Sizeof(Holder{}) != 24 || unsafe.Sizeof([10]*Leaf{}) != 80 || unsafe.Sizeof(Leaf{}) != 64 {
		panic("heapzoo: Holder sizes are no longer size classes")
	}
	b.addType(Holder{}, 1, unsafe.Sizeof(Holder{}))
	b.addType(Leaf{}, 10, unsafe.Sizeof(Leaf{}))
	b.addType([10]*Leaf{}, 1, unsafe.Sizeof([10]*Leaf{}))
	b.addObject("holder", unsafe.Pointer(holder), "main.Holder")
	b.addObject("holder.Leaves[3]", unsafe.Pointer(holder.Leaves[3]), "main.Leaf")
	b.t.Retained = append(b.t.Retained,
		retainedEntry{Root: "main.holder", Bytes: 24 + 80 + 10*64, Objects: 12},
		retainedEntry{Root: "main.sharedA", Bytes: 0, Objects: 0},
		retainedEntry{Root: "main.sharedB", Bytes: 0, Objects: 0})
	sharedA = &Shared{ID: ival(1), Name: "shared"}
	sharedB = sharedA
	b.addType(Shared{}, 1, unsafe.Sizeof(Shared{}))
	b.addObject("shared", unsafe.Pointer(sharedA), "main.Shared")

	b.addGlobals("registry", "small", "ring", "items", "mids", "heavies", "bigs",
		"blob", "tinyStrings", "tinies", "payloadCh", "intCh", "boxedAny",
		"valueAny", "stringer", "closure", "methodVal", "boxes", "finalized", "cyc",
		"holder", "sharedA", "sharedB")
	b.t.Finalizers = 2
	b.t.FinalizersByType = map[string]int{"main.Finalized": 2}

	// Go 1.24+: AddCleanup and weak pointers (no-op before).
	buildModern(b)
}

// makeOrphan allocates an Orphan with a finalizer and drops every reference.
//
//go:noinline
func makeOrphan() (orphan, child uintptr) {
	o := &Orphan{ID: ival(1), Name: "orphan", Child: &OrphanChild{ID: ival(2), Name: "orphan-child"}}
	runtime.SetFinalizer(o, func(*Orphan) { orphanFinal.Store(true) })
	return uintptr(unsafe.Pointer(o)), uintptr(unsafe.Pointer(o.Child))
}

func startGoroutines() {
	recvCh = make(chan int)
	sendCh = make(chan int)
	selA = make(chan int)
	selB = make(chan string)
	workerCh = make(chan struct{})
	mu.Lock() // never unlocked
	wg.Add(1) // never done

	go waitRecv()
	go waitSend()
	go waitSelect()
	go sleeper()
	go lockWaiter()
	go wgWaiter()
	go worker()
	go spinner()
}

// goroutineStates returns goroutine id -> wait reason, parsed from a full
// runtime.Stack dump.
func goroutineStates() map[int64]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	states := map[int64]string{}
	// Walk the lines by hand: a []string of lines would be a garbage
	// object of type [N]string that could be mistaken for tinyStrings'.
	for len(buf) > 0 {
		var line string
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line, buf = string(buf[:i]), buf[i+1:]
		} else {
			line, buf = string(buf), nil
		}
		if !strings.HasPrefix(line, "goroutine ") || !strings.HasSuffix(line, "]:") {
			continue
		}
		rest := strings.TrimPrefix(line, "goroutine ")
		sp := strings.IndexByte(rest, ' ')
		id, err := strconv.ParseInt(rest[:sp], 10, 64)
		if err != nil {
			continue
		}
		st := strings.TrimSuffix(strings.TrimPrefix(rest[sp+1:], "["), "]:")
		if i := strings.IndexByte(st, ','); i >= 0 { // ", 5 minutes", ", locked to thread"
			st = st[:i]
		}
		states[id] = st
	}
	return states
}

func stateOK(role int, st string) bool {
	for _, want := range roleStates[role] {
		if st == want {
			return true
		}
	}
	return false
}

// waitForStates polls until every goroutine is in its expected state.
func waitForStates() map[int64]string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		states := goroutineStates()
		ok := workerBufAddr.Load() != 0 && spinCount.Load() != 0
		for r := 0; r < numRoles && ok; r++ {
			id := goids[r].Load()
			ok = id != 0 && stateOK(r, states[id])
		}
		if ok {
			return states
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "heapzoo: warning: goroutines did not all reach their expected states")
			return states
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: heapzoo TRUTH.json")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(4) // fixed, >= 2: the spinner needs its own P

	b := &truthBuilder{}
	build(b)
	startGoroutines()
	waitForStates()

	// Sweep all garbage made while building, then freeze the heap.
	runtime.GC()
	runtime.GC()
	debug.SetGCPercent(-1)

	orphan, orphanChild := makeOrphan()
	b.t.Unreachable = append(b.t.Unreachable, unreachableEntry{
		Name: "orphan", Address: fmt.Sprintf("0x%x", orphan), Type: "main.Orphan",
		Size: unsafe.Sizeof(Orphan{}), Reason: "finalizer set, no references (allocated after the last GC)",
	})
	b.t.Finalizers++
	b.t.FinalizersByType["main.Orphan"] = 1
	// The finalizer keeps the Orphan's contents alive (the GC scans them).
	b.addType(OrphanChild{}, 1, unsafe.Sizeof(OrphanChild{}))
	b.t.Objects = append(b.t.Objects, objEntry{Name: "orphan.Child",
		Address: fmt.Sprintf("0x%x", orphanChild), Type: "main.OrphanChild"})

	b.addType(WorkerBuf{}, 1, unsafe.Sizeof(WorkerBuf{}))
	b.t.Objects = append(b.t.Objects, objEntry{Name: "worker.local",
		Address: fmt.Sprintf("0x%x", workerBufAddr.Load()), Type: "main.WorkerBuf"})

	time.Sleep(200 * time.Millisecond)
	states := waitForStates()

	b.t.GoVersion = runtime.Version()
	b.t.GOOS, b.t.GOARCH = runtime.GOOS, runtime.GOARCH
	b.t.GOMAXPROCS = runtime.GOMAXPROCS(0)
	b.t.BuildSettings = map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "-buildmode", "GOEXPERIMENT", "CGO_ENABLED", "GOAMD64", "-compiler":
				b.t.BuildSettings[s.Key] = s.Value
			}
		}
	}
	g := goroutineTruth{
		Total:      runtime.NumGoroutine(),
		ByFunction: map[string]int{},
		IDs:        map[string]int64{},
		States:     map[string]string{},
		MainID:     curGoid(),
	}
	g.MainState = states[g.MainID]
	for r := 0; r < numRoles; r++ {
		g.ByFunction[roleNames[r]]++
		g.IDs[roleNames[r]] = goids[r].Load()
		g.States[roleNames[r]] = states[goids[r].Load()]
	}
	b.t.Goroutines = g
	sort.Strings(b.t.Globals)

	out, err := json.MarshalIndent(&b.t, "", "  ")
	if err != nil {
		panic(err)
	}
	out = append(out, '\n')
	if err := os.WriteFile(os.Args[1], out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "heapzoo:", err)
		os.Exit(1)
	}
	fmt.Println("ready")

	select {} // block forever (main keeps holding mu)
}
