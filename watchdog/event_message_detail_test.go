package watchdog_test

import (
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// An event's MESSAGE adds its detail after a colon, and only when there
// is one: no dangling ": " for an event without detail.
func TestEventMessageAddsTheDetailOnlyWhenThereIsOne(t *testing.T) {
	e := watchdog.Event{Type: watchdog.EventHeld, Container: "c"}
	bare := e.Message()
	if bare != "Container c is held: the watchdog leaves it alone" {
		t.Errorf("Message without detail = %q", bare)
	}
	e.Detail = "held: restore"
	if got, want := e.Message(), bare+": held: restore"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}
