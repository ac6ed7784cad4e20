package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// settleOnceRefused is an outbox whose first Settle fails (the registry
// was locked just then).
type settleOnceRefused struct {
	notify.Outbox
	refused atomic.Bool
}

func (o *settleOnceRefused) Settle(ctx context.Context, sink string, out notify.Outcome) error {
	if o.refused.CompareAndSwap(false, true) {
		return errors.New("database is locked")
	}
	return o.Outbox.Settle(ctx, sink, out)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An outcome the outbox could not record is logged, and its row stays
// queued and goes out again: at least once, never lost.
func TestSenderLogsAnUnrecordedOutcomeAndSendsAgain(t *testing.T) {
	rcv := newReceiver(t, "")
	r := newRig(t, fast)
	var logged lockedBuffer
	r.sender.Log = slog.New(slog.NewTextHandler(&logged, nil))
	r.sender.Outbox = &settleOnceRefused{Outbox: r.db}
	r.addSink("hook", rcv.srv.URL, "")
	r.start()
	ids := r.emit(1, watchdog.EventMissing)
	waitFor(t, "the event delivered again after the unrecorded outcome", func() bool { return len(rcv.delivered()) >= 2 })
	waitFor(t, "the queue emptied", func() bool { return r.stats("hook").Queue == 0 })
	if got := rcv.delivered(); got[0] != ids[0] || got[1] != ids[0] {
		t.Errorf("delivered %v, want event %d twice", got, ids[0])
	}
	r.stop()
	var lines []string
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, "record outcome") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "database is locked") {
		t.Errorf("outcome log lines %q, want one with the outbox's error", lines)
	}
}
