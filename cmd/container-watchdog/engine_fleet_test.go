package main

// Real-engine scenario with a fleet (see engine_test.go): removals among
// more than a hundred managed containers are found and repaired, and the
// rest of the fleet is left alone.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// engineFleet is the fleet's size: issue 12 asks for at least 100.
const engineFleet = 110

// testFleet: engineFleet containers of one agent run (created in parallel
// by the watchdog's own Tick in-process), and the daemon watches them. One
// is removed with `docker rm -f`, then five at once: each is reported
// container_missing and container_recreated, and no other container is
// reported, recreated or restarted (same id, still running).
func (e *engine) testFleet(t *testing.T) {
	s := e.scenario(t, "fleet")
	p := s.inProcess(t, 16)
	p.ensure(t, "fleet", e.image, engInstanceNames("f", engineFleet))
	engMust(t, p.db.Close())
	before := e.fleetIDs(t, s.prefix)
	if len(before) != engineFleet {
		t.Fatalf("docker lists %d running containers under %s, want %d", len(before), s.prefix, engineFleet)
	}
	d := s.startDaemon(t, 10*time.Second, nil)
	sse := d.subscribe(t)
	d.ready(t)
	mark := len(sse.all())

	removed := []string{s.name("fleet", "f055")}
	e.removeAndAwaitRepair(t, sse, removed)
	five := []string{s.name("fleet", "f000"), s.name("fleet", "f013"), s.name("fleet", "f042"), s.name("fleet", "f077"), s.name("fleet", "f109")}
	e.removeAndAwaitRepair(t, sse, five)
	removed = append(removed, five...)

	st := d.quiet(t) // a full tick after the repairs: it agrees
	after := e.fleetIDs(t, s.prefix)
	for name, id := range before {
		switch {
		case after[name] == "":
			t.Errorf("%s is not running after the repairs", name)
		case slices.Contains(removed, name) && after[name] == id:
			t.Errorf("%s was removed but has its old id %s", name, id[:12])
		case !slices.Contains(removed, name) && after[name] != id:
			t.Errorf("%s was not removed but its id changed from %s to %s", name, id[:12], after[name][:12])
		}
		if got := engInstanceState(st, name); got != watchdog.StateRunning {
			t.Errorf("/state says %s is %q, want running", name, got)
		}
	}
	engNoEvents(t, sse.all(), mark, "report about a container that was not removed", func(ev engEvent) bool {
		return !slices.Contains(removed, ev.Container)
	})
}

// removeAndAwaitRepair removes names in one `docker rm -f` and waits for
// each one's container_missing, then its container_recreated, on sse.
func (e *engine) removeAndAwaitRepair(t *testing.T, sse *engSSE, names []string) {
	t.Helper()
	mark := len(sse.all())
	e.mustRun(t, append([]string{"rm", "-f"}, names...)...)
	for _, name := range names {
		m := sse.wait(t, 2*engineWait, mark, "container_missing of "+name, engIs(watchdog.EventMissing, name))
		sse.wait(t, 2*engineWait, m.Index+1, "container_recreated of "+name, engIs(watchdog.EventRecreated, name))
	}
	for _, name := range names {
		e.waitStatus(t, name, "running")
	}
}

// fleetIDs maps each running container under prefix to its id.
func (e *engine) fleetIDs(t *testing.T, prefix string) map[string]string {
	t.Helper()
	out := e.mustRun(t, "ps", "--no-trunc", "--filter", "name=^"+prefix, "--filter", "status=running", "--format", "{{.Names}} {{.ID}}")
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, id, ok := strings.Cut(line, " "); ok {
			ids[name] = id
		}
	}
	return ids
}
