// Package fakeclock is the fake clock.Clock every package's tests use: time
// stands still until the test advances it, and waits fire when it passes
// their deadline.
package fakeclock

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Start is the time a new Clock shows: a fixed instant, so tests that print
// times are repeatable.
var Start = time.Date(2026, 4, 20, 11, 55, 26, 0, time.UTC)

// Clock is a manual clock. The zero value is not usable; use New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	// waited is every wait's duration, in the order they began.
	waited []time.Duration
	// added is closed and replaced whenever a wait begins, so a test can
	// block until the code under test waits (BlockUntil, BlockUntilWaited).
	added chan struct{}
}

type waiter struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock showing Start.
func New() *Clock { return At(Start) }

// At returns a clock showing t.
func At(t time.Time) *Clock { return &Clock{now: t, added: make(chan struct{})} }

// Now implements clock.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements clock.Clock. A wait of zero or less fires at once.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waited = append(c.waited, d)
	close(c.added)
	c.added = make(chan struct{})
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	w := waiter{at: c.now.Add(d), d: d, ch: ch}
	i := sort.Search(len(c.waiters), func(i int) bool { return c.waiters[i].at.After(w.at) })
	c.waiters = append(c.waiters, waiter{})
	copy(c.waiters[i+1:], c.waiters[i:])
	c.waiters[i] = w
	return ch
}

// Advance moves the time forward by d and fires every wait that is due,
// earliest first.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// Set moves the time to t (forward only) and fires what is due.
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Waits returns the durations of the waits not yet fired, earliest
// deadline first.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.waiters))
	for i, w := range c.waiters {
		out[i] = w.d
	}
	return out
}

// Waited returns the duration of every wait begun so far, in the order
// they began, whether it fired, is pending, or was given up by the code
// that asked (a select that took another case leaves its wait pending
// forever, so Waits alone cannot tell a new wait from an old one).
func (c *Clock) Waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waited)
}

// BlockUntil waits until at least n waits are pending, or timeout passes
// in real time; it reports whether they are.
func (c *Clock) BlockUntil(n int, timeout time.Duration) bool {
	return c.blockUntil(func() bool { return len(c.waiters) >= n }, timeout)
}

// BlockUntilWaited waits until at least n waits have begun in all (see
// Waited), or timeout passes in real time; it reports whether they have.
func (c *Clock) BlockUntilWaited(n int, timeout time.Duration) bool {
	return c.blockUntil(func() bool { return len(c.waited) >= n }, timeout)
}

// blockUntil waits for cond, checked under the lock each time a wait begins.
func (c *Clock) blockUntil(cond func() bool, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ok, added := cond(), c.added
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-added:
		case <-deadline:
			return false
		}
	}
}
