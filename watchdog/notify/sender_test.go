package notify_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestSenderRetriesAfter500AndDeliversInOrder(t *testing.T) {
	rcv := newReceiver(t, "s3cr3t")
	rcv.answer = func(n int) (int, map[string]string) {
		if n <= 3 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	}
	r := newRig(t, fast)
	r.addSink("hook", rcv.srv.URL, "s3cr3t")
	r.start()
	ids := r.emit(5, watchdog.EventMissing)
	waitFor(t, "5 events delivered", func() bool { return len(rcv.delivered()) >= 5 })
	if got := rcv.delivered(); !slices.Equal(got, ids) {
		t.Fatalf("delivered %v, want %v in order", got, ids)
	}
	_, attempts, keys, _ := rcv.snapshot()
	if len(attempts) != 8 {
		t.Errorf("%d requests, want 3 refused and 5 accepted", len(attempts))
	}
	// Backoff doubles: the gaps between the refused attempts grow.
	if g1, g2 := attempts[1].Sub(attempts[0]), attempts[2].Sub(attempts[1]); g1 < 20*time.Millisecond || g2 < 40*time.Millisecond {
		t.Errorf("retries came after %s and %s; want at least 20ms then 40ms", g1, g2)
	}
	if keys[0] != "1:hook" {
		t.Errorf("first Idempotency-Key %q, want 1:hook", keys[0])
	}
	waitFor(t, "stats", func() bool { return r.stats("hook").Delivered == 5 })
	st := r.stats("hook")
	if st.Failed != 3 || st.Dropped != 0 || st.Queue != 0 || !strings.Contains(st.LastError, "500") {
		t.Errorf("stats = %+v, want 3 failed, none dropped or queued, last error 500", st)
	}
}

func TestSenderHonoursRetryAfter(t *testing.T) {
	rcv := newReceiver(t, "")
	rcv.answer = func(n int) (int, map[string]string) {
		if n == 1 {
			return http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}
		}
		return http.StatusOK, nil
	}
	r := newRig(t, fast) // backoff alone would retry after 20ms
	r.addSink("hook", rcv.srv.URL, "")
	r.start()
	ids := r.emit(1, watchdog.EventMissing)
	waitFor(t, "delivery after 429", func() bool { return len(rcv.delivered()) == 1 })
	_, attempts, _, _ := rcv.snapshot()
	if gap := attempts[1].Sub(attempts[0]); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	if got := rcv.delivered(); got[0] != ids[0] {
		t.Errorf("delivered %v, want %v", got, ids)
	}
}

// A sink that hangs costs only itself: the other sink gets every event
// while the hanging one's first request is still open (its timeout is 2 s);
// once it answers again it gets them all, in order.
func TestSenderHangingSinkDelaysOnlyItself(t *testing.T) {
	stuck, fine := newReceiver(t, ""), newReceiver(t, "")
	release := make(chan struct{})
	stuck.setHang(release)
	r := newRig(t, fast)
	r.sender.Timeout = 2 * time.Second
	r.addSink("stuck", stuck.srv.URL, "")
	r.addSink("fine", fine.srv.URL, "")
	r.start()
	ids := r.emit(5, watchdog.EventMissing)
	waitFor(t, "the fine sink to get every event", func() bool { return len(fine.delivered()) == 5 })
	if got := fine.delivered(); !slices.Equal(got, ids) {
		t.Fatalf("fine sink got %v, want %v", got, ids)
	}
	// The stuck sink's first request may still be on its way: wait for it
	// to arrive rather than assume it came before the fine sink's five.
	waitFor(t, "the stuck sink's first request", func() bool { n, _, _, _ := stuck.snapshot(); return n >= 1 })
	if n, _, _, _ := stuck.snapshot(); n != 1 || r.stats("stuck").Failed != 0 {
		t.Fatalf("stuck sink: %d requests, %d failed; want its first still hanging", n, r.stats("stuck").Failed)
	}
	// The hanging sink timed out at least once, and kept its queue.
	waitFor(t, "a timed-out attempt counted", func() bool { return r.stats("stuck").Failed >= 1 })
	if st := r.stats("stuck"); st.Queue != 5 || !strings.Contains(st.LastError, "no answer within") {
		t.Errorf("stuck sink stats %+v, want 5 queued and a timeout as last error", st)
	}
	stuck.setHang(nil)
	close(release)
	waitFor(t, "the stuck sink to catch up", func() bool { return len(firsts(stuck.delivered())) >= 5 })
	// At least once: a request released after its attempt timed out may
	// arrive as well as its retry.
	if got := firsts(stuck.delivered()); !slices.Equal(got, ids) {
		t.Fatalf("stuck sink got %v, want %v", stuck.delivered(), ids)
	}
}

func TestSenderDropsOnPermanentRefusal(t *testing.T) {
	rcv := newReceiver(t, "")
	rcv.answer = func(n int) (int, map[string]string) {
		if n == 1 {
			return http.StatusNotFound, nil
		}
		return http.StatusOK, nil
	}
	r := newRig(t, fast)
	r.addSink("hook", rcv.srv.URL, "")
	r.start()
	first := r.emit(1, watchdog.EventMissing)
	waitFor(t, "the refusal", func() bool { return r.stats("hook").Dropped == 1 })
	second := r.emit(1, watchdog.EventRecreated)
	waitFor(t, "the next event", func() bool { return len(rcv.delivered()) == 1 })
	n, _, _, _ := rcv.snapshot()
	if got := rcv.delivered(); n != 2 || got[0] != second[0] {
		t.Fatalf("%d requests, delivered %v; want event %d refused once and never retried, then %d", n, got, first[0], second[0])
	}
	if st := r.stats("hook"); st.Failed != 1 || st.Delivered != 1 || st.Queue != 0 || !strings.Contains(st.LastError, "404") {
		t.Errorf("stats %+v", st)
	}
}

func TestSenderGivesUpAfterGiveUp(t *testing.T) {
	rcv := newReceiver(t, "")
	rcv.answer = func(int) (int, map[string]string) { return http.StatusBadGateway, nil }
	pol := fast
	pol.GiveUp = 300 * time.Millisecond
	r := newRig(t, pol)
	r.addSink("hook", rcv.srv.URL, "")
	r.start()
	r.emit(3, watchdog.EventMissing)
	waitFor(t, "the rows to be dropped", func() bool { st := r.stats("hook"); return st.Dropped == 3 && st.Queue == 0 })
	if st := r.stats("hook"); st.Delivered != 0 || st.Failed < 2 {
		t.Errorf("stats %+v, want several failures, nothing delivered", st)
	}
}

// Eleven events at once go as one summary; what follows within the
// window waits for it and goes folded; after a quiet window single events
// go out on their own again.
func TestSenderFoldsABurst(t *testing.T) {
	rcv := newReceiver(t, "")
	pol := fast
	pol.BurstWindow = 500 * time.Millisecond
	r := newRig(t, pol)
	r.addSink("hook", rcv.srv.URL, "")
	// Stored before the sender runs, so it finds them all at once.
	burst := append(r.emit(11, watchdog.EventMissing), r.emit(1, watchdog.EventRecreated)...)
	r.start()
	waitFor(t, "the summary", func() bool { return len(rcv.delivered()) == 12 })
	n, _, keys, sums := rcv.snapshot()
	if n != 1 || len(sums) != 1 || sums[0] != "12 events in the last minute: 11 container_missing, 1 container_recreated" {
		t.Fatalf("%d requests, summaries %q; want one summary of 12", n, sums)
	}
	if want := "1-12:hook"; keys[0] != want {
		t.Errorf("summary key %q, want %q", keys[0], want)
	}
	more := r.emit(3, watchdog.EventRecreated)
	waitFor(t, "the held events", func() bool { return len(rcv.delivered()) == 15 })
	n, _, _, sums = rcv.snapshot()
	if n != 2 || len(sums) != 2 || !strings.HasPrefix(sums[1], "3 events") {
		t.Fatalf("%d requests, summaries %q; want the 3 events held and folded", n, sums)
	}
	// A window with nothing queued ends the burst.
	time.Sleep(2 * pol.BurstWindow)
	r.sender.Wake()
	time.Sleep(50 * time.Millisecond)
	last := r.emit(2, watchdog.EventMissing)
	waitFor(t, "single deliveries", func() bool { return len(rcv.delivered()) == 17 })
	n, _, _, sums = rcv.snapshot()
	if n != 4 || len(sums) != 2 {
		t.Fatalf("%d requests, %d summaries; want two single deliveries after the burst", n, len(sums))
	}
	if got := rcv.delivered(); !slices.Equal(got, append(append(burst, more...), last...)) {
		t.Errorf("delivered %v out of order", got)
	}
}

// Publish wakes the sender at once: its poll here is an hour.
func TestSenderWakesOnPublish(t *testing.T) {
	rcv := newReceiver(t, "")
	r := newRig(t, fast)
	r.addSink("hook", rcv.srv.URL, "")
	r.start()
	time.Sleep(50 * time.Millisecond) // let the worker go idle first
	ids := r.emit(1, watchdog.EventMissing)
	waitFor(t, "delivery on publish", func() bool { return len(rcv.delivered()) == 1 })
	if got := rcv.delivered(); got[0] != ids[0] {
		t.Errorf("delivered %v, want %v", got, ids)
	}
}

// Sinks added or removed while the sender runs are followed.
func TestSenderFollowsSinks(t *testing.T) {
	a, b := newReceiver(t, ""), newReceiver(t, "")
	r := newRig(t, fast)
	r.addSink("a", a.srv.URL, "")
	r.start()
	r.emit(1, watchdog.EventMissing)
	waitFor(t, "a's delivery", func() bool { return len(a.delivered()) == 1 })
	r.addSink("b", b.srv.URL, "")
	if _, err := r.db.RemoveSink(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	r.emit(1, watchdog.EventMissing)
	waitFor(t, "b's delivery", func() bool { return len(b.delivered()) == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := len(a.delivered()); n != 1 {
		t.Errorf("removed sink a got %d events, want 1", n)
	}
	if st := r.sender.Stats(); len(st) != 1 || st[0].Sink != "b" {
		t.Errorf("Stats = %+v, want only b", st)
	}
}

// firsts is ids without repeats: each id where it first arrived.
func firsts(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
