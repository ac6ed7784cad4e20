package watchdog

import (
	"maps"
	"slices"
	"sync"
)

// Asks is what docker's event stream asks of the loop about containers:
// a tick soon (Tick: a start, an OOM kill, a probe, whose meaning a
// listing settles; Died: a death, unless one call after the settle finds
// the container gone) or a check at once (Check: a removal, which one call
// about the name settles). A removal supersedes the container's earlier tick asks:
// when docker rm -f sends kill, die and destroy, the check covers the die.
// Safe for concurrent use; it never blocks.
type Asks struct {
	mu     sync.Mutex
	ticks  map[string]bool // "" is a tick asked about no container in particular
	died   map[string]bool // a tick asked unless the container is then gone
	checks []string
	ready  chan struct{}
}

// NewAsks returns an empty Asks.
func NewAsks() *Asks {
	return &Asks{ticks: map[string]bool{}, died: map[string]bool{}, ready: make(chan struct{}, 1)}
}

// Tick asks for a tick soon because of container ("": none in particular).
func (a *Asks) Tick(container string) {
	a.mu.Lock()
	a.ticks[container] = true
	a.mu.Unlock()
	a.signal()
}

// Died asks for a tick soon because container died, unless it is then
// gone: after the settle, one call about it (Watcher.CheckGone) tells.
func (a *Asks) Died(container string) {
	a.mu.Lock()
	a.died[container] = true
	a.mu.Unlock()
	a.signal()
}

// Check asks for a check of container at once; it withdraws the
// container's tick asks.
func (a *Asks) Check(container string) {
	a.mu.Lock()
	delete(a.ticks, container)
	delete(a.died, container)
	a.checks = append(a.checks, container)
	a.mu.Unlock()
	a.signal()
}

func (a *Asks) signal() {
	select {
	case a.ready <- struct{}{}:
	default:
	}
}

// Ready receives after anything is asked (nil Asks: never).
func (a *Asks) Ready() <-chan struct{} {
	if a == nil {
		return nil
	}
	return a.ready
}

// takeChecks returns and forgets the containers to check, each once, in
// the order first asked.
func (a *Asks) takeChecks() []string {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[string]bool, len(a.checks))
	var out []string
	for _, c := range a.checks {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	a.checks = nil
	return out
}

// wantsTick says whether a tick is asked for, or a death to look at.
func (a *Asks) wantsTick() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ticks) > 0 || len(a.died) > 0
}

// takeDied returns and forgets the containers that died, sorted.
func (a *Asks) takeDied() []string {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Sorted(maps.Keys(a.died))
	clear(a.died)
	return out
}

// takeTick says whether a tick is asked for, and forgets the asks: the
// tick about to run covers them.
func (a *Asks) takeTick() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	asked := len(a.ticks) > 0
	clear(a.ticks)
	return asked
}
