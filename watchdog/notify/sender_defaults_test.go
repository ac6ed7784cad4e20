package notify

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// A Sender left at zero (or given a negative value) times each attempt out
// after 10 s and polls every 5 s, as its fields document; values set are
// kept.
func TestSenderDefaultsTimeoutAndPoll(t *testing.T) {
	for _, c := range []struct {
		timeout, poll         time.Duration
		wantTimeout, wantPoll time.Duration
	}{
		{0, 0, 10 * time.Second, 5 * time.Second},
		{-time.Second, -time.Second, 10 * time.Second, 5 * time.Second},
		{time.Millisecond, time.Minute, time.Millisecond, time.Minute},
	} {
		s := &Sender{Timeout: c.timeout, Poll: c.poll}
		s.init()
		if s.Timeout != c.wantTimeout || s.Poll != c.wantPoll {
			t.Errorf("Sender{Timeout: %v, Poll: %v}: timeout %v, poll %v; want %v, %v",
				c.timeout, c.poll, s.Timeout, s.Poll, c.wantTimeout, c.wantPoll)
		}
	}
}

// The Sender logs to the logger it is given, and to a discarding one when
// given none (never a nil logger that would panic at the first warning).
func TestSenderKeepsItsLogger(t *testing.T) {
	given := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Sender{Log: given}
	s.init()
	if s.Log != given {
		t.Error("the given logger was replaced")
	}
	none := &Sender{}
	none.init()
	if none.Log == nil {
		t.Fatal("no logger after init")
	}
	none.Log.Warn("must not panic")
}
