package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

var t0 = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)

var testPolicy = Policy{RetryInitial: 2 * time.Second, RetryMax: 30 * time.Second, GiveUp: 24 * time.Hour,
	BurstLimit: 10, BurstWindow: time.Minute, MaxFold: 50}

// queue makes n rows queued at the given offsets from t0 (all at t0 when
// none is given).
func queue(n int, at ...time.Duration) []Pending {
	rows := make([]Pending, n)
	for i := range rows {
		q := t0
		if i < len(at) {
			q = t0.Add(at[i])
		}
		rows[i] = Pending{ID: int64(i + 1), QueuedAt: q, Event: watchdog.Event{ID: int64(100 + i), Type: watchdog.EventMissing, Time: q}}
	}
	return rows
}

func sentAt(offsets ...time.Duration) []time.Time {
	var out []time.Time
	for _, o := range offsets {
		out = append(out, t0.Add(o))
	}
	return out
}

func TestPlan(t *testing.T) {
	retrying := queue(3)
	retrying[0].Attempts, retrying[0].NextAttempt = 2, t0.Add(8*time.Second)
	old := queue(3, -25*time.Hour, -24*time.Hour, -time.Hour)
	tests := []struct {
		name      string
		now       time.Time
		rows      []Pending
		pace      pace
		want      action
		wantHold  time.Time
		wantSent  int
		wantFolds int
	}{
		{name: "nothing queued", now: t0, want: action{Kind: actIdle}},
		{name: "one queued goes alone", now: t0, rows: queue(1), want: action{Kind: actSend}, wantFolds: 1},
		{name: "ten at once go one by one", now: t0, rows: queue(10), want: action{Kind: actSend}, wantFolds: 1},
		{name: "eleven at once fold into one summary now", now: t0, rows: queue(11),
			want: action{Kind: actSend, Fold: true, Burst: true}, wantFolds: 11},
		{name: "a summary carries at most MaxFold", now: t0, rows: queue(80),
			want: action{Kind: actSend, Fold: true, Burst: true}, wantFolds: 50},
		{name: "the eleventh in a minute is held for a window", now: t0, rows: queue(1),
			pace: pace{sent: sentAt(-50*time.Second, -40*time.Second, -30*time.Second, -20*time.Second, -10*time.Second,
				-9*time.Second, -8*time.Second, -7*time.Second, -6*time.Second, -5*time.Second)},
			want: action{Kind: actWait, At: t0.Add(time.Minute)}, wantHold: t0.Add(time.Minute), wantSent: 10},
		{name: "sends older than the window do not count", now: t0, rows: queue(1),
			pace: pace{sent: sentAt(-70*time.Second, -65*time.Second, -61*time.Second, -60*time.Second, -10*time.Second,
				-9*time.Second, -8*time.Second, -7*time.Second, -6*time.Second, -5*time.Second)},
			want: action{Kind: actSend}, wantSent: 6, wantFolds: 1},
		{name: "a burst holds until its window ends", now: t0, rows: queue(4), pace: pace{holdUntil: t0.Add(30 * time.Second)},
			want: action{Kind: actWait, At: t0.Add(30 * time.Second)}, wantHold: t0.Add(30 * time.Second)},
		{name: "at the window's end what gathered goes folded", now: t0, rows: queue(4), pace: pace{holdUntil: t0},
			want: action{Kind: actSend, Fold: true, Burst: true}, wantHold: t0, wantFolds: 4},
		{name: "at the window's end one row goes alone, still in the burst", now: t0, rows: queue(1), pace: pace{holdUntil: t0},
			want: action{Kind: actSend, Burst: true}, wantHold: t0, wantFolds: 1},
		{name: "a quiet window ends the burst", now: t0, pace: pace{holdUntil: t0.Add(-time.Second), sent: sentAt(-time.Second)},
			want: action{Kind: actIdle}},
		{name: "a burst window not over yet keeps the burst", now: t0, pace: pace{holdUntil: t0.Add(time.Second)},
			want: action{Kind: actIdle}, wantHold: t0.Add(time.Second)},
		{name: "a retry waits for its time", now: t0, rows: retrying,
			want: action{Kind: actWait, At: t0.Add(8 * time.Second)}},
		{name: "a retry due goes", now: t0.Add(8 * time.Second), rows: retrying, want: action{Kind: actSend}, wantFolds: 1},
		{name: "rows queued 24 h ago are dropped, younger ones stay", now: t0, rows: old,
			want: action{Kind: actDrop}, wantFolds: 2},
		{name: "expiry wins over a pending retry", now: t0.Add(24 * time.Hour), rows: retrying,
			want: action{Kind: actDrop}, wantFolds: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p := plan(tt.now, tt.rows, tt.pace, testPolicy)
			if got.Kind != tt.want.Kind || !got.At.Equal(tt.want.At) || got.Fold != tt.want.Fold || got.Burst != tt.want.Burst {
				t.Errorf("plan = kind %d at %v fold %v burst %v, want kind %d at %v fold %v burst %v",
					got.Kind, got.At, got.Fold, got.Burst, tt.want.Kind, tt.want.At, tt.want.Fold, tt.want.Burst)
			}
			if len(got.Rows) != tt.wantFolds {
				t.Errorf("plan acts on %d rows, want %d", len(got.Rows), tt.wantFolds)
			}
			for i, r := range got.Rows {
				if r.ID != tt.rows[i].ID {
					t.Errorf("row %d is %d, want %d: rows go in queue order", i, r.ID, tt.rows[i].ID)
				}
			}
			if !p.holdUntil.Equal(tt.wantHold) || len(p.sent) != tt.wantSent {
				t.Errorf("pace = hold %v, %d sent; want hold %v, %d sent", p.holdUntil, len(p.sent), tt.wantHold, tt.wantSent)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	one := action{Kind: actSend, Rows: queue(1)}
	burst := action{Kind: actSend, Rows: queue(3), Fold: true, Burst: true}
	third := action{Kind: actSend, Rows: queue(1)}
	third.Rows[0].Attempts = 2
	late := action{Kind: actSend, Rows: queue(1, -24*time.Hour+5*time.Second)}
	late.Rows[0].Attempts = 6
	now := t0.Add(time.Second)
	tests := []struct {
		name     string
		a        action
		err      error
		want     Outcome
		wantSent int
		wantHold time.Time
	}{
		{name: "delivered", a: one, want: Outcome{Delivered: []int64{1}, At: now}, wantSent: 1},
		{name: "a delivered summary holds the next window", a: burst,
			want: Outcome{Delivered: []int64{1, 2, 3}, At: now}, wantHold: now.Add(time.Minute)},
		{name: "a full summary folds the next chunk at once", a: action{Kind: actSend, Rows: queue(50), Fold: true, Burst: true},
			want: Outcome{Delivered: ids(queue(50)), At: now}, wantHold: now},
		{name: "first failure waits RetryInitial", a: one, err: errors.New("boom"),
			want: Outcome{Retry: []int64{1}, Attempts: 1, NextAttempt: now.Add(2 * time.Second), Failed: true, Error: "boom", At: now}},
		{name: "third failure waits twice twice RetryInitial", a: third, err: errors.New("boom"),
			want: Outcome{Retry: []int64{1}, Attempts: 3, NextAttempt: now.Add(8 * time.Second), Failed: true, Error: "boom", At: now}},
		{name: "Retry-After longer than the backoff wins", a: one, err: &SendError{Err: errors.New("429"), RetryAfter: 90 * time.Second},
			want: Outcome{Retry: []int64{1}, Attempts: 1, NextAttempt: now.Add(90 * time.Second), Failed: true, Error: "429", At: now}},
		{name: "Retry-After shorter than the backoff does not shorten it", a: third, err: &SendError{Err: errors.New("503"), RetryAfter: time.Second},
			want: Outcome{Retry: []int64{1}, Attempts: 3, NextAttempt: now.Add(8 * time.Second), Failed: true, Error: "503", At: now}},
		{name: "a permanent failure drops", a: burst, err: &SendError{Err: errors.New("404"), Permanent: true},
			want: Outcome{Dropped: []int64{1, 2, 3}, Failed: true, Error: "404", At: now}},
		{name: "never retried past the give-up", a: late, err: errors.New("boom"),
			want: Outcome{Retry: []int64{1}, Attempts: 7, NextAttempt: t0.Add(5 * time.Second), Failed: true, Error: "boom", At: now}},
		{name: "a failed summary retries every row", a: burst, err: errors.New("boom"),
			want: Outcome{Retry: []int64{1, 2, 3}, Attempts: 1, NextAttempt: now.Add(2 * time.Second), Failed: true, Error: "boom", At: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p := settle(now, tt.a, tt.err, pace{}, testPolicy)
			if !equalOutcome(got, tt.want) {
				t.Errorf("settle =\n%+v, want\n%+v", got, tt.want)
			}
			if len(p.sent) != tt.wantSent || !p.holdUntil.Equal(tt.wantHold) {
				t.Errorf("pace = %d sent, hold %v; want %d, %v", len(p.sent), p.holdUntil, tt.wantSent, tt.wantHold)
			}
		})
	}
}

func equalOutcome(a, b Outcome) bool {
	eq := func(x, y []int64) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.Delivered, b.Delivered) && eq(a.Dropped, b.Dropped) && eq(a.Retry, b.Retry) &&
		a.Attempts == b.Attempts && a.NextAttempt.Equal(b.NextAttempt) && a.Failed == b.Failed &&
		a.Error == b.Error && a.At.Equal(b.At)
}

func TestBackoffDoublesToItsCap(t *testing.T) {
	want := []time.Duration{2, 4, 8, 16, 30, 30, 30}
	for i, w := range want {
		if got := backoff(i+1, testPolicy); got != w*time.Second {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w*time.Second)
		}
	}
}
