package notify

import (
	"strings"
	"testing"
	"time"
)

// Over the burst limit, a queue of exactly BurstLimit rows is a trickle:
// held for a window and folded; one more than a minute allows goes out at
// once as a summary.
func TestPlanQueueOfExactlyTheBurstLimitIsHeld(t *testing.T) {
	recent := pace{sent: sentAt(-time.Second)}
	a, p := plan(t0, queue(testPolicy.BurstLimit), recent, testPolicy)
	if a.Kind != actWait || !a.At.Equal(t0.Add(testPolicy.BurstWindow)) || !p.holdUntil.Equal(a.At) {
		t.Errorf("%d queued after a send: %+v, hold until %v; want a wait of one window", testPolicy.BurstLimit, a, p.holdUntil)
	}
	a, _ = plan(t0, queue(testPolicy.BurstLimit+1), recent, testPolicy)
	if a.Kind != actSend || !a.Fold || len(a.Rows) != testPolicy.BurstLimit+1 {
		t.Errorf("%d queued: %+v, want them folded into one summary now", testPolicy.BurstLimit+1, a)
	}
}

// Redact masks a URL's path as one piece before its segments (so a quoted
// path reads as one mask, even when the signing secret is a part of it),
// and its fragment.
func TestRedactPathWholeAndFragment(t *testing.T) {
	s := Sink{URL: "https://hooks.example.com/services/T000/XXXXSECRET#fragsecret", Secret: "T000"}
	if got, want := s.Redact("path /services/T000/XXXXSECRET"), "path "+mask; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got := s.Redact("anchor fragsecret"); strings.Contains(got, "fragsecret") {
		t.Errorf("Redact left the fragment: %q", got)
	}
}
