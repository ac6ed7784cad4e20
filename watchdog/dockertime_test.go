package watchdog_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A report explained by docker's event stream carries the time docker gave
// for the newest lifecycle event behind it (the detection-delay metric
// measures from there); one found by polling alone carries none.
func TestReportCarriesDockersTime(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	now := e.clock.Now()
	ev.Record(lc(name, now.Add(1*time.Second), "kill", "signal=9"))
	ev.Record(lc(name, now.Add(2*time.Second), "die", "exitCode=137"))
	destroyed := now.Add(3 * time.Second)
	ev.Record(lc(name, destroyed, "destroy"))
	e.fake.remove(name)
	e.clock.Advance(4 * time.Second)

	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if got := evs[0].DockerTime; !got.Equal(destroyed) {
		t.Errorf("container_missing DockerTime = %v, want the destroy's %v", got, destroyed)
	}
	if got := evs[1].DockerTime; !got.IsZero() {
		t.Errorf("container_recreated DockerTime = %v, want zero: docker reported nothing behind it", got)
	}
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(strings.ToLower(s), "dockertime") {
		t.Errorf("DockerTime leaks into the contract's JSON: %s", s)
	}

	// Found by polling alone: no docker time.
	e.fake.remove(name)
	_, evs = e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if got := evs[0].DockerTime; !got.IsZero() {
		t.Errorf("polled container_missing DockerTime = %v, want zero", got)
	}
}
