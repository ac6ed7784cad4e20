package notify

import (
	"testing"
	"time"
)

// A Policy field left at zero (or set below it) takes DefaultPolicy's
// value; a field set is kept, and sets nothing else.
func TestPolicyDefaultsFillOnlyWhatIsUnset(t *testing.T) {
	if got := (Policy{}).orDefault(); got != DefaultPolicy {
		t.Errorf("zero Policy = %+v, want DefaultPolicy %+v", got, DefaultPolicy)
	}
	neg := Policy{RetryInitial: -1, RetryMax: -1, GiveUp: -1, BurstLimit: -1, BurstWindow: -1, MaxFold: -1}
	if got := neg.orDefault(); got != DefaultPolicy {
		t.Errorf("negative Policy = %+v, want DefaultPolicy %+v", got, DefaultPolicy)
	}
	for name, c := range map[string]struct {
		set  func(*Policy)
		read func(Policy) any
		want any
	}{
		"RetryInitial": {func(p *Policy) { p.RetryInitial = time.Millisecond }, func(p Policy) any { return p.RetryInitial }, time.Millisecond},
		"RetryMax":     {func(p *Policy) { p.RetryMax = time.Hour }, func(p Policy) any { return p.RetryMax }, time.Hour},
		"GiveUp":       {func(p *Policy) { p.GiveUp = time.Minute }, func(p Policy) any { return p.GiveUp }, time.Minute},
		"BurstLimit":   {func(p *Policy) { p.BurstLimit = 1 }, func(p Policy) any { return p.BurstLimit }, 1},
		"BurstWindow":  {func(p *Policy) { p.BurstWindow = time.Second }, func(p Policy) any { return p.BurstWindow }, time.Second},
		"MaxFold":      {func(p *Policy) { p.MaxFold = 2 }, func(p Policy) any { return p.MaxFold }, 2},
	} {
		var p Policy
		c.set(&p)
		got := p.orDefault()
		if c.read(got) != c.want {
			t.Errorf("%s set: got %v, want it kept (%v)", name, c.read(got), c.want)
		}
		want := DefaultPolicy
		c.set(&want)
		if got != want {
			t.Errorf("%s set: %+v, want the defaults for every other field", name, got)
		}
	}
}
