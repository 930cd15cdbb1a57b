//go:build go1.24

package main

import (
	"runtime"
	"unsafe"
	"weak"
)

// Cleaned has a cleanup attached with runtime.AddCleanup; kept alive by `cleaned`.
type Cleaned struct {
	ID   int
	Name string
}

// WeakTarget is the target of the weak pointer `weakPtr`; kept alive by `weakTarget`.
type WeakTarget struct {
	ID   int
	Name string
}

var (
	cleaned       *Cleaned
	cleanupHandle runtime.Cleanup
	weakTarget    *WeakTarget
	weakPtr       weak.Pointer[WeakTarget]
)

func buildModern(b *truthBuilder) {
	cleaned = &Cleaned{ID: ival(1), Name: "cleaned"}
	cleanupHandle = runtime.AddCleanup(cleaned, func(id int) {}, 1)
	weakTarget = &WeakTarget{ID: ival(2), Name: "weak-target"}
	weakPtr = weak.Make(weakTarget)

	b.addType(Cleaned{}, 1, unsafe.Sizeof(Cleaned{}))
	b.addType(WeakTarget{}, 1, unsafe.Sizeof(WeakTarget{}))
	b.addObject("cleaned", unsafe.Pointer(cleaned), "main.Cleaned")
	b.addObject("weakTarget", unsafe.Pointer(weakTarget), "main.WeakTarget")
	b.addGlobals("cleaned", "weakTarget", "weakPtr")
	b.t.Cleanups = 1
	b.t.Weak = 1
}
