// growth is a service whose heap grows: it keeps Sessions in a registry and
// adds more when told to. scripts/make-testdata.sh takes a core of the same
// process before and after the growth (gdb's generate-core-file, so the
// process survives the first one) to test snapshot diffs.
//
// Protocol: growth TRUTH.json prints "ready 1" after building the first
// state and writing its truth; on SIGUSR1 it adds sessions, rewrites the
// truth (phase 2) and prints "ready 2"; then it blocks forever.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"
)

// Session is what leaks: 40 more of them per growth step.
type Session struct {
	ID      int
	Name    string
	Payload []byte
	Peer    *Session
}

// Config does not change between the phases.
type Config struct {
	Name  string
	Value int
}

var (
	registry = map[int]*Session{}
	configs  []*Config
)

type truth struct {
	Phase         int     `json:"phase"`
	Sessions      int     `json:"sessions"`
	SessionSize   uintptr `json:"session_size"`
	Configs       int     `json:"configs"`
	FirstSession  string  `json:"first_session"`
	LatestSession string  `json:"latest_session"`
}

func addSessions(n int) {
	start := len(registry)
	for i := start; i < start+n; i++ {
		registry[i] = &Session{ID: i, Name: "session-" + strconv.Itoa(i), Payload: make([]byte, 256), Peer: registry[i-1]}
	}
}

func write(path string, phase int) {
	t := truth{
		Phase: phase, Sessions: len(registry), SessionSize: unsafe.Sizeof(Session{}), Configs: len(configs),
		FirstSession:  fmt.Sprintf("%p", registry[0]),
		LatestSession: fmt.Sprintf("%p", registry[len(registry)-1]),
	}
	out, err := json.MarshalIndent(&t, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(1)
	}
}

func settle() {
	runtime.GC()
	runtime.GC()
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: growth TRUTH.json")
		os.Exit(2)
	}
	debug.SetGCPercent(-1)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	for i := 0; i < 5; i++ {
		configs = append(configs, &Config{Name: "config-" + strconv.Itoa(i), Value: i})
	}
	addSessions(100)
	settle()
	write(os.Args[1], 1)
	fmt.Println("ready 1")

	<-usr1
	addSessions(40)
	settle()
	write(os.Args[1], 2)
	fmt.Println("ready 2")
	select {}
}
