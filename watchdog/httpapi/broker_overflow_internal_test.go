package httpapi

import (
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The fan-out queue holds maxQueue events; the one after finds it full,
// and every client is dropped (to resume from the event log) rather than
// the queue growing without bound. No Run here: nothing drains it.
func TestBrokerQueueHoldsMaxQueueThenDropsEveryClient(t *testing.T) {
	b := NewBroker(4)
	s, ok := b.subscribe()
	if !ok {
		t.Fatal("subscribe refused")
	}
	for id := int64(1); id <= maxQueue; id++ {
		b.Publish(watchdog.Event{ID: id, Type: watchdog.EventMissing})
	}
	if subs, dropped := b.Stats(); subs != 1 || dropped != 0 {
		t.Fatalf("after %d queued: %d subscribers, %d dropped; want the client kept", maxQueue, subs, dropped)
	}
	b.Publish(watchdog.Event{ID: maxQueue + 1, Type: watchdog.EventMissing})
	if subs, dropped := b.Stats(); subs != 0 || dropped != 1 {
		t.Fatalf("one past the bound: %d subscribers, %d dropped; want the client dropped", subs, dropped)
	}
	select {
	case <-s.gone:
	default:
		t.Fatal("the dropped client's stream was not told")
	}
	if n := len(b.queue); n != 0 {
		t.Errorf("%d events still queued after the overflow, want none (clients resume from the log)", n)
	}
}
