package fakeclock_test

import (
	"slices"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestAdvanceFiresDueWaitsOnly(t *testing.T) {
	c := fakeclock.New()
	soon, late := c.After(time.Second), c.After(time.Minute)
	if got := c.Waits(); len(got) != 2 || got[0] != time.Second || got[1] != time.Minute {
		t.Fatalf("Waits = %v, want [1s 1m0s]", got)
	}
	c.Advance(999 * time.Millisecond)
	if fired(soon) {
		t.Fatal("a 1s wait fired after 999ms")
	}
	c.Advance(time.Millisecond)
	if !fired(soon) || fired(late) {
		t.Fatal("after 1s: want only the 1s wait fired")
	}
	if got := c.Now(); !got.Equal(fakeclock.Start.Add(time.Second)) {
		t.Fatalf("Now = %v, want Start+1s", got)
	}
	c.Set(fakeclock.Start.Add(time.Hour))
	if !fired(late) || len(c.Waits()) != 0 {
		t.Fatal("Set past the deadline: want the 1m wait fired and none pending")
	}
}

func TestZeroWaitFiresAtOnce(t *testing.T) {
	if !fired(fakeclock.New().After(0)) {
		t.Fatal("After(0) did not fire at once")
	}
}

func TestBlockUntil(t *testing.T) {
	c := fakeclock.New()
	if c.BlockUntil(1, 10*time.Millisecond) {
		t.Fatal("BlockUntil(1) with no waits reported true")
	}
	go c.After(time.Second)
	if !c.BlockUntil(1, 5*time.Second) {
		t.Fatal("BlockUntil(1) did not see the wait begin")
	}
}

// Waited shows every wait in the order it began, also one fired at once
// and one its caller gave up on, which Waits keeps listing as pending.
func TestWaitedLogsEveryWait(t *testing.T) {
	c := fakeclock.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-c.After(time.Minute):
		case <-c.After(time.Second):
		}
		<-c.After(0)
	}()
	if !c.BlockUntilWaited(2, 5*time.Second) {
		t.Fatalf("BlockUntilWaited(2): waited %v", c.Waited())
	}
	c.Advance(time.Second)
	<-done
	if got := c.Waited(); !slices.Equal(got, []time.Duration{time.Minute, time.Second, 0}) {
		t.Errorf("Waited = %v, want [1m0s 1s 0s] in the order asked", got)
	}
	if got := c.Waits(); !slices.Equal(got, []time.Duration{time.Minute}) {
		t.Errorf("Waits = %v, want the abandoned minute still pending", got)
	}
	if c.BlockUntilWaited(4, 10*time.Millisecond) {
		t.Error("BlockUntilWaited(4) with 3 waits begun reported true")
	}
	c.Waited()[0] = 0
	if c.Waited()[0] != time.Minute {
		t.Error("Waited shares its slice with the caller")
	}
}
