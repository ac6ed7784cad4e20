package watchdog_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// cleanupRefused is a registry that cannot end holds or forget
// observations: the tick's best-effort clean-ups fail.
type cleanupRefused struct{ watchdog.Registry }

func (cleanupRefused) EndHold(context.Context, watchdog.Hold) error {
	return errors.New("database is locked")
}

func (cleanupRefused) Forget(context.Context, string) error { return errors.New("database is locked") }

// logTo points the Watcher's log at a buffer.
func logTo(e *tickEnv) *syncBuffer {
	var b syncBuffer
	e.w.Log = slog.New(slog.NewTextHandler(&b, nil))
	return &b
}

// A clean-up the registry refused (ending an expired hold, forgetting a
// container no longer watched) is logged, for the next tick retries it;
// one it took is not.
func TestTickLogsRefusedCleanUpsOnly(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		e := newTickEnv(t, agent("dev"), agent("ops"))
		e.tick()
		e.hold(cname("dev", "default"), "upgrade", e.clock.Now().Add(2*time.Minute))
		e.tick()
		if _, err := e.db.DeleteAgent(e.ctx, "ops"); err != nil {
			t.Fatal(err)
		}
		e.fake.remove(cname("ops", "default"))
		logged := logTo(e)
		if refuse {
			e.w.Registry = cleanupRefused{e.db}
		}
		e.tickAfter(2 * time.Minute)
		for _, msg := range []string{"end expired hold", "forget observation"} {
			if got := strings.Contains(logged.String(), msg); got != refuse {
				t.Errorf("registry refusing %v: logged %q %v:\n%s", refuse, msg, got, logged.String())
			}
		}
	}
}

// A Publisher that panics for one event is logged, naming that event's
// container; the events it took are not.
func TestTickLogsThePublisherPanicOnly(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	e.tick()
	logged := logTo(e)
	e.fake.setState(cname("aa", "default"), "exited")
	e.fake.setState(cname("bb", "default"), "exited")
	e.pub.panicFor = cname("aa", "default")
	e.clock.Advance(time.Minute)
	if _, err := e.w.Tick(e.ctx); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	var panics []string
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "panic while publishing") {
			panics = append(panics, line)
		}
	}
	if len(panics) != 1 || !strings.Contains(panics[0], "container="+cname("aa", "default")) {
		t.Errorf("panic log lines %q, want one naming %s", panics, cname("aa", "default"))
	}
}
