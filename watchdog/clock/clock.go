package clock

import "time"

// Clock tells the time and waits. After must not be used for timers that
// are stopped early in a hot loop: each call allocates one.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed, like time.After.
	After(d time.Duration) <-chan time.Time
}

// System returns the real clock.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time                         { return time.Now() }
func (system) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or the real clock when c is nil: constructors use it so a
// zero field never panics.
func Or(c Clock) Clock {
	if c == nil {
		return System()
	}
	return c
}
