package main

import "fmt"

// Every type below has exactly one purpose so that per-type object counts
// in the ground truth are unambiguous. All of them contain at least one
// pointer word (usually a string) so that none is served by the tiny
// allocator (tiny objects are packed together and carry no type).

// Session lives in the big map `registry`.
type Session struct {
	ID    int
	Name  string // heap string built at run time
	Score int
	Peer  *Session // previous session (nil for the first)
}

// Config lives in the small map `small`.
type Config struct {
	Name    string
	Value   int
	Enabled bool
}

// Node forms the cyclic doubly linked list `ring`.
type Node struct {
	Val  int
	Next *Node
	Prev *Node
}

// Item is pointed to from the slice `items` (backing array [100]*main.Item).
type Item struct {
	ID     int
	Weight float64
	Next   *Item // always nil
}

// Mid is ~1000 bytes with pointers: a small object with a malloc header
// (Go 1.22+), in the 1024-byte size class.
type Mid struct {
	ID   int
	Ptrs [120]*int // points at Mid.ID of the same object for Ptrs[0], rest nil
	Tag  string
}

// PtrHeavy has more than 1 KiB of pointer words.
type PtrHeavy struct {
	N int
	P [200]*int // P[0..3] point at this object's N
	Q [200]*int
}

// Big is a large object (> 32 KiB) with pointers at both ends.
type Big struct {
	ID    int
	Owner *Session // registry[ID]
	Pad   [4200]uint64
	Tail  *Node // ring
}

// Payload values sit in the buffer of channel `payloadCh`.
type Payload struct {
	Seq  int
	Body string
}

// Boxed is stored (as a pointer) in the interface `boxedAny`.
type Boxed struct {
	ID   int
	Name string
}

// Value is stored by value in `valueAny` (so the runtime heap-copies it).
type Value struct {
	A   int
	B   int
	Tag string
}

// Named implements fmt.Stringer and is held in `stringer`.
type Named struct {
	Name string
}

func (n *Named) String() string { return "named:" + n.Name }

var _ fmt.Stringer = (*Named)(nil)

// Captured is captured by the closure `closure`.
type Captured struct {
	N    int
	Name string
}

// Receiver is bound in the method value `methodVal`.
type Receiver struct {
	ID   int
	Name string
}

func (r *Receiver) Method() int { return r.ID }

// Box is generic; heapzoo uses Box[int] only.
type Box[T any] struct {
	V    T
	Next *Box[T]
}

// Finalized objects have a finalizer and are reachable from `finalized`.
type Finalized struct {
	ID   int
	Name string
}

// Orphan has a finalizer and is otherwise unreachable.
type Orphan struct {
	ID    int
	Name  string
	Child *OrphanChild
}

// OrphanChild is referenced only by the Orphan: its finalizer keeps it.
type OrphanChild struct {
	ID   int
	Name string
}

// Holder is the only path to its Leaves: `holder` retains exactly
// Holder (24 B) + the [10]*Leaf backing array (80 B) + 10 Leaves (64 B),
// all exact size classes.
type Holder struct {
	Leaves []*Leaf
}

// Leaf is pointer-free and exactly 64 bytes.
type Leaf struct {
	ID  int
	Pad [7]int64
}

// Shared is held by two globals, so neither retains it.
type Shared struct {
	ID   int
	Name string
}

// Cyc objects form a 3-cycle held by `cyc`.
type Cyc struct {
	ID   int
	Next *Cyc
}

// WorkerBuf is allocated by main.worker and referenced only from its stack.
// 1 MiB + change: a large object with pointers (Self).
type WorkerBuf struct {
	ID   int
	Self *WorkerBuf
	Data [1 << 20]byte
}
