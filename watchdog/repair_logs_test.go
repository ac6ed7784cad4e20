package watchdog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// syncBuffer is a log sink the repair goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// intentRefused is a registry that cannot record an intent to recreate.
type intentRefused struct{ watchdog.Registry }

func (intentRefused) Intend(context.Context, string, time.Time) error {
	return errors.New("database is locked")
}

// An intent the registry refused is logged (the recreation goes on: it is
// best effort); one it took is not.
func TestRepairLogsARefusedIntentOnly(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		e := newTickEnv(t, agent("dev"))
		var logged syncBuffer
		e.w.Log = slog.New(slog.NewTextHandler(&logged, nil))
		name := cname("dev", "default")
		e.tick()
		if refuse {
			e.w.Registry = intentRefused{e.db}
		}
		e.fake.remove(name)
		e.tick()
		e.w.Wait()
		wantRuns(t, e.fake, 1)
		if got := strings.Contains(logged.String(), "record intent to recreate"); got != refuse {
			t.Errorf("intent refused %v: logged it %v:\n%s", refuse, got, logged.String())
		}
		if strings.Contains(logged.String(), "panic") {
			t.Errorf("a repair that did not panic logged a panic:\n%s", logged.String())
		}
	}
}
