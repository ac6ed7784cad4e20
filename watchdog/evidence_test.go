package watchdog_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
)

// lc builds a lifecycle event of name at t: action, then "signal=N" or
// "exitCode=N".
func lc(name string, t time.Time, action string, attrs ...string) watchdog.Lifecycle {
	l := watchdog.Lifecycle{Time: t, Container: name, Agent: "dev", Instance: "default", Action: action}
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "signal":
			l.Signal = v
		case "exitCode":
			l.ExitCode = v
		default:
			panic("lc: " + a)
		}
	}
	return l
}

func TestExplainSignatures(t *testing.T) {
	at := time.Date(2026, 4, 20, 11, 55, 26, 142_000_000, time.UTC)
	n := "c"
	for _, tc := range []struct {
		name   string
		ls     []watchdog.Lifecycle
		detail string // "" means no explanation at all
		fields map[string]string
	}{
		{
			name: "rm -f",
			ls:   []watchdog.Lifecycle{lc(n, at, "kill", "signal=9"), lc(n, at, "die", "exitCode=137"), lc(n, at, "destroy")},
			detail: "docker saw: kill signal=9 at 11:55:26.142, die exitCode=137 at 11:55:26.142, destroy at 11:55:26.142" +
				" (likely removed by force (docker rm -f))",
			fields: map[string]string{"CONTAINER_KILL_SIGNAL": "9", "CONTAINER_EXIT_CODE": "137",
				"CONTAINER_LIFECYCLE": "kill,die,destroy", "CONTAINER_CAUSE": "likely removed by force (docker rm -f)"},
		},
		{
			name:   "OOM kill",
			ls:     []watchdog.Lifecycle{lc(n, at, "oom"), lc(n, at, "die", "exitCode=137")},
			detail: "docker saw: oom at 11:55:26.142, die exitCode=137 at 11:55:26.142 (likely killed by the OOM killer)",
			fields: map[string]string{"CONTAINER_OOM": "true", "CONTAINER_EXIT_CODE": "137",
				"CONTAINER_LIFECYCLE": "oom,die", "CONTAINER_CAUSE": "likely killed by the OOM killer"},
		},
		{
			name:   "OOM kill, then removed",
			ls:     []watchdog.Lifecycle{lc(n, at, "oom"), lc(n, at, "die", "exitCode=137"), lc(n, at, "destroy")},
			detail: "docker saw: oom at 11:55:26.142, die exitCode=137 at 11:55:26.142, destroy at 11:55:26.142 (likely killed by the OOM killer)",
			fields: map[string]string{"CONTAINER_OOM": "true", "CONTAINER_EXIT_CODE": "137",
				"CONTAINER_LIFECYCLE": "oom,die,destroy", "CONTAINER_CAUSE": "likely killed by the OOM killer"},
		},
		{
			name:   "crash",
			ls:     []watchdog.Lifecycle{lc(n, at, "die", "exitCode=1")},
			detail: "docker saw: die exitCode=1 at 11:55:26.142 (exited with code 1 (crash or error))",
			fields: map[string]string{"CONTAINER_EXIT_CODE": "1", "CONTAINER_LIFECYCLE": "die",
				"CONTAINER_CAUSE": "exited with code 1 (crash or error)"},
		},
		{
			name:   "clean exit",
			ls:     []watchdog.Lifecycle{lc(n, at, "die", "exitCode=0")},
			detail: "docker saw: die exitCode=0 at 11:55:26.142 (exited cleanly)",
			fields: map[string]string{"CONTAINER_EXIT_CODE": "0", "CONTAINER_LIFECYCLE": "die", "CONTAINER_CAUSE": "exited cleanly"},
		},
		{
			name:   "docker stop",
			ls:     []watchdog.Lifecycle{lc(n, at, "kill", "signal=15"), lc(n, at, "die", "exitCode=143"), lc(n, at, "stop")},
			detail: "docker saw: kill signal=15 at 11:55:26.142, die exitCode=143 at 11:55:26.142, stop at 11:55:26.142 (stopped by request (docker stop))",
			fields: map[string]string{"CONTAINER_KILL_SIGNAL": "15", "CONTAINER_EXIT_CODE": "143",
				"CONTAINER_LIFECYCLE": "kill,die,stop", "CONTAINER_CAUSE": "stopped by request (docker stop)"},
		},
		{
			name:   "docker kill",
			ls:     []watchdog.Lifecycle{lc(n, at, "kill", "signal=9"), lc(n, at, "die", "exitCode=137")},
			detail: "docker saw: kill signal=9 at 11:55:26.142, die exitCode=137 at 11:55:26.142 (killed by signal 9)",
			fields: map[string]string{"CONTAINER_KILL_SIGNAL": "9", "CONTAINER_EXIT_CODE": "137",
				"CONTAINER_LIFECYCLE": "kill,die", "CONTAINER_CAUSE": "killed by signal 9"},
		},
		{
			name:   "docker rm of a stopped container",
			ls:     []watchdog.Lifecycle{lc(n, at, "destroy")},
			detail: "docker saw: destroy at 11:55:26.142 (removed (docker rm))",
			fields: map[string]string{"CONTAINER_LIFECYCLE": "destroy", "CONTAINER_CAUSE": "removed (docker rm)"},
		},
		{
			name:   "restart policy: create and start are no cause",
			ls:     []watchdog.Lifecycle{lc(n, at, "create"), lc(n, at, "start"), lc(n, at, "die", "exitCode=2"), lc(n, at, "start")},
			detail: "docker saw: die exitCode=2 at 11:55:26.142 (exited with code 2 (crash or error))",
			fields: map[string]string{"CONTAINER_EXIT_CODE": "2", "CONTAINER_LIFECYCLE": "die",
				"CONTAINER_CAUSE": "exited with code 2 (crash or error)"},
		},
		{
			name:   "an exit code docker did not give",
			ls:     []watchdog.Lifecycle{lc(n, at, "kill"), lc(n, at, "die")},
			detail: "docker saw: kill at 11:55:26.142, die at 11:55:26.142 (killed (docker kill))",
			fields: map[string]string{"CONTAINER_LIFECYCLE": "kill,die", "CONTAINER_CAUSE": "killed (docker kill)"},
		},
		{name: "only our own create and start", ls: []watchdog.Lifecycle{lc(n, at, "create"), lc(n, at, "start")}},
		{name: "nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			detail, fields := watchdog.Explain(tc.ls)
			if detail != tc.detail {
				t.Errorf("detail\n got %q\nwant %q", detail, tc.detail)
			}
			if !maps.Equal(fields, tc.fields) {
				t.Errorf("fields\n got %v\nwant %v", fields, tc.fields)
			}
			if tc.detail == "" && fields != nil {
				t.Errorf("fields %v without an explanation", fields)
			}
			for k, v := range fields {
				if v == "" {
					t.Errorf("field %s sent empty", k)
				}
			}
		})
	}
}

func TestEvidenceKeepsTheLatestWithinMaxAge(t *testing.T) {
	at := time.Date(2026, 4, 20, 11, 0, 0, 0, time.UTC)
	ev := watchdog.NewEvidence(3, 10*time.Minute)
	for i, a := range []string{"create", "start", "kill", "die", "destroy"} {
		ev.Record(lc("a", at.Add(time.Duration(i)*time.Second), a))
	}
	ev.Record(lc("b", at, "oom"))
	actions := func(ls []watchdog.Lifecycle) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Action)
		}
		return strings.Join(out, ",")
	}
	if got := actions(ev.Recent("a", at.Add(time.Minute))); got != "kill,die,destroy" {
		t.Errorf("Recent(a) = %s, want the 3 latest in order", got)
	}
	if got := actions(ev.Recent("b", at.Add(time.Minute))); got != "oom" {
		t.Errorf("Recent(b) = %s, want b's own", got)
	}
	if got := ev.Recent("c", at); len(got) != 0 {
		t.Errorf("Recent(unknown) = %v", got)
	}
	// MaxAge is inclusive: the kill (at +2 s) is exactly 10 min old.
	if got := actions(ev.Recent("a", at.Add(10*time.Minute+2*time.Second))); got != "kill,die,destroy" {
		t.Errorf("Recent at MaxAge = %s", got)
	}
	if got := actions(ev.Recent("a", at.Add(10*time.Minute+3*time.Second))); got != "die,destroy" {
		t.Errorf("Recent past MaxAge of the kill = %s, want die,destroy", got)
	}
	if got := ev.Recent("a", at.Add(time.Hour)); len(got) != 0 {
		t.Errorf("Recent an hour on = %v, want nothing", got)
	}

	ev.Record(lc("a", at.Add(time.Hour), "die", "exitCode=1"))
	ev.Consume("a")
	if got := ev.Recent("a", at.Add(time.Hour)); len(got) != 0 {
		t.Errorf("Recent after Consume = %v", got)
	}
	if got := actions(ev.Recent("b", at)); got != "oom" {
		t.Errorf("Consume(a) touched b: %s", got)
	}

	// A Watcher without evidence has a nil *Evidence: every method is safe.
	var none *watchdog.Evidence
	none.Record(lc("a", at, "die"))
	none.Consume("a")
	if got := none.Recent("a", at); got != nil {
		t.Errorf("nil Evidence Recent = %v", got)
	}
}

func TestEvidenceConsumeThroughDropsLateEventsOfTheWatchdogsOwn(t *testing.T) {
	ev := watchdog.NewEvidence(16, time.Hour)
	name, other := "c1", "c2"
	t0 := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	ev.Record(lc(name, t0, "die", "exitCode=1"))
	ev.ConsumeThrough(name, t0.Add(time.Second))
	// Late: our own restart's events, stamped before it returned.
	ev.Record(lc(name, t0.Add(500*time.Millisecond), "kill", "signal=15"))
	ev.Record(lc(name, t0.Add(time.Second), "die", "exitCode=0"))
	ev.Record(lc(other, t0.Add(time.Second), "die", "exitCode=2"))
	if got := ev.Recent(name, t0.Add(time.Minute)); len(got) != 0 {
		t.Errorf("kept %v, want the events up to the watermark dropped", got)
	}
	if got := ev.Recent(other, t0.Add(time.Minute)); len(got) != 1 {
		t.Errorf("another container's events %v, want them kept", got)
	}
	// What happens after is news again, and so is all that follows it.
	ev.Record(lc(name, t0.Add(2*time.Second), "die", "exitCode=3"))
	ev.Record(lc(name, t0.Add(3*time.Second), "destroy"))
	if got := ev.Recent(name, t0.Add(time.Minute)); len(got) != 2 {
		t.Errorf("kept %v, want the two later events", got)
	}
}

func TestLifecycleString(t *testing.T) {
	at := time.Date(2026, 4, 20, 13, 55, 26, 142_727_647, time.FixedZone("CEST", 2*3600))
	for l, want := range map[watchdog.Lifecycle]string{
		lc("a", at, "kill", "signal=9"):    "kill signal=9 at 11:55:26.142",
		lc("a", at, "die", "exitCode=1"):   "die exitCode=1 at 11:55:26.142",
		lc("a", at, "destroy"):             "destroy at 11:55:26.142",
		lc("a", at, "oom"):                 "oom at 11:55:26.142",
		lc("a", at, "die", "exitCode=0"):   "die exitCode=0 at 11:55:26.142",
		lc("a", at, "kill", "signal=TERM"): "kill signal=TERM at 11:55:26.142",
	} {
		if got := l.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// evidenceEnv is a tickEnv whose Watcher explains with recorded evidence.
func evidenceEnv(t *testing.T) (*tickEnv, *watchdog.Evidence) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	ev := watchdog.NewEvidence(16, 10*time.Minute)
	e.w.Evidence = ev
	e.tick()
	return e, ev
}

func TestTickExplainsAMissingContainer(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	now := e.clock.Now()
	// docker rm -f, as docker events reports it.
	ev.Record(lc(name, now.Add(time.Second), "kill", "signal=9"))
	ev.Record(lc(name, now.Add(time.Second), "die", "exitCode=137"))
	ev.Record(lc(name, now.Add(time.Second), "destroy"))
	e.fake.remove(name)

	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	missing := evs[0]
	if d := missing.Detail; !strings.HasPrefix(d, "not known to docker; docker saw: kill signal=9 at ") ||
		!strings.HasSuffix(d, "(likely removed by force (docker rm -f))") {
		t.Errorf("detail %q, want what docker saw and the cause", d)
	}
	want := map[string]string{"CONTAINER_KILL_SIGNAL": "9", "CONTAINER_EXIT_CODE": "137",
		"CONTAINER_LIFECYCLE": "kill,die,destroy", "CONTAINER_CAUSE": "likely removed by force (docker rm -f)"}
	if !maps.Equal(missing.Evidence, want) {
		t.Errorf("evidence %v, want %v", missing.Evidence, want)
	}
	// tick checked that the stored event carries the same evidence.
	if evs[1].Evidence != nil || strings.Contains(evs[1].Detail, "docker saw") {
		t.Errorf("recreated event %+v repeats the evidence", evs[1])
	}
	if got := ev.Recent(name, e.clock.Now()); len(got) != 0 {
		t.Errorf("evidence %v left after it was reported", got)
	}

	// Consumed: the next condition is not explained by the old evidence.
	e.fake.setState(name, "exited")
	_, evs = e.tick()
	wantEvents(t, evs, "container_stopped "+name)
	if evs[0].Evidence != nil || strings.Contains(evs[0].Detail, "docker saw") {
		t.Errorf("stopped event %+v repeats the evidence", evs[0])
	}
}

func TestTickExplainsAStoppedContainer(t *testing.T) {
	e, ev := evidenceEnv(t)
	name, other := cname("dev", "default"), cname("ops", "default")
	now := e.clock.Now()
	ev.Record(lc(name, now.Add(time.Second), "oom"))
	ev.Record(lc(name, now.Add(time.Second), "die", "exitCode=137"))
	// Another container's evidence explains only that one.
	ev.Record(lc(other, now.Add(time.Second), "kill", "signal=15"))
	e.fake.setState(name, "exited")

	_, evs := e.tick()
	wantEvents(t, evs, "container_stopped "+name)
	// Created at the clock's start, two ticks (minutes) ago.
	if d := evs[0].Detail; !strings.HasPrefix(d, "docker state exited (Exited (1) 2 minutes ago); docker saw: oom at ") ||
		!strings.HasSuffix(d, "(likely killed by the OOM killer)") {
		t.Errorf("detail %q", d)
	}
	if got := evs[0].Evidence; got["CONTAINER_OOM"] != "true" || got["CONTAINER_EXIT_CODE"] != "137" || got["CONTAINER_KILL_SIGNAL"] != "" {
		t.Errorf("evidence %v", got)
	}
	if got := ev.Recent(other, e.clock.Now()); len(got) != 1 {
		t.Errorf("evidence of %s = %v, want it kept", other, got)
	}
	// Back to running (the restart policy): the evidence was used up.
	e.fake.setState(name, "running")
	_, evs = e.tick()
	wantEvents(t, evs, "container_running "+name)
	if evs[0].Evidence != nil {
		t.Errorf("running event %+v repeats the evidence", evs[0])
	}
}

func TestTickIgnoresEvidenceOlderThanMaxAge(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	ev.Record(lc(name, e.clock.Now().Add(-20*time.Minute), "die", "exitCode=1"))
	e.fake.remove(name)
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if evs[0].Detail != "not known to docker" || evs[0].Evidence != nil {
		t.Errorf("missing event %+v explained by stale evidence", evs[0])
	}
}

func TestTickReportsARestartBetweenTwoLooks(t *testing.T) {
	e, ev := evidenceEnv(t)
	name, other := cname("dev", "default"), cname("ops", "default")
	now := e.clock.Now()
	// Crashed and brought back by the restart policy between two ticks.
	ev.Record(lc(name, now.Add(time.Second), "die", "exitCode=1"))
	ev.Record(lc(name, now.Add(2*time.Second), "start"))
	// Started without a die (say docker start of a created one): no restart.
	ev.Record(lc(other, now.Add(time.Second), "start"))

	_, evs := e.tick()
	wantEvents(t, evs, "container_restarted "+name)
	r := evs[0]
	if r.Agent != "dev" || r.Instance != "default" ||
		!strings.HasPrefix(r.Detail, "restarted by docker's restart policy; docker saw: die exitCode=1 at ") ||
		r.Evidence["CONTAINER_EXIT_CODE"] != "1" || r.Evidence["CONTAINER_CAUSE"] != "exited with code 1 (crash or error)" {
		t.Errorf("event %+v", r)
	}
	if r.Type.Priority() != 4 || r.Type.MessageID() == watchdog.EventType("").MessageID() {
		t.Errorf("priority %d, message id %s", r.Type.Priority(), r.Type.MessageID())
	}
	wantNoCalls(t, e.fake, "run", "rm")

	// Reported once.
	_, evs = e.tick()
	wantEvents(t, evs)

	// A running container with no die recorded is no restart, even with a kill (SIGHUP).
	ev.Record(lc(name, e.clock.Now(), "kill", "signal=1"))
	_, evs = e.tick()
	wantEvents(t, evs)
}

func TestTickNoRestartOnFirstSight(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	ev := watchdog.NewEvidence(16, 10*time.Minute)
	e.w.Evidence = ev
	name := cname("dev", "default")
	ev.Record(lc(name, e.clock.Now(), "die", "exitCode=1"))
	ev.Record(lc(name, e.clock.Now(), "start"))
	// The first tick has no earlier look to compare with.
	_, evs := e.tick()
	wantEvents(t, evs)
}

// A running container replaced between two looks (reconcile or agent set
// removed and recreated it) was not restarted by docker: no event, and the
// replacement's lifecycle is dropped.
func TestTickReplacementIsNotARestart(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	now := e.clock.Now()
	ev.Record(lc(name, now.Add(time.Second), "kill", "signal=9"))
	ev.Record(lc(name, now.Add(time.Second), "die", "exitCode=137"))
	ev.Record(lc(name, now.Add(time.Second), "destroy"))
	ev.Record(lc(name, now.Add(time.Second), "create"))
	ev.Record(lc(name, now.Add(time.Second), "start"))
	e.clock.Advance(2 * time.Second)

	_, evs := e.tick()
	if len(evs) != 0 {
		t.Fatalf("events %v, want none for a replacement", evs)
	}
	if got := ev.Recent(name, e.clock.Now()); len(got) != 0 {
		t.Errorf("evidence %v, want it dropped", got)
	}
}

// docker rm -f under way: the listing says "removing" just after the kill,
// die and destroy events. That is not a stop to leave to the restart
// policy; the report waits for the container to be gone, and then carries
// the evidence.
func TestTickWaitsOutARemovalInProgress(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	at := e.clock.Now().Add(time.Second)
	ev.Record(lc(name, at, "kill", "signal=9"))
	ev.Record(lc(name, at, "die", "exitCode=137"))
	e.fake.setState(name, "removing")

	_, evs := e.tickAfter(2 * time.Second)
	if len(evs) != 0 {
		t.Fatalf("events %v while the removal is under way, want none", summary(evs))
	}
	ev.Record(lc(name, at, "destroy"))
	e.fake.remove(name)
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if !strings.Contains(evs[0].Detail, "removed by force") || evs[0].Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("missing event lost the evidence: %+v", evs[0])
	}

	// Long after any event (no docker events at all), a listing that stays
	// "removing" is reported as it stands.
	e.fake.setState(cname("ops", "default"), "removing")
	_, evs = e.tickAfter(time.Minute)
	wantEvents(t, evs, "container_stopped "+cname("ops", "default"))
}

// TestSlowListingPredatingADeathIsNoRestart: on a loaded engine `docker
// ps` can take seconds. A listing taken before a container was killed
// still says running, and by the time it is judged the death is older
// than the grace docker gets to catch up. Measured from the listing, the
// death came after it: look again, rather than call it restarted. The
// next listing says exited.
func TestSlowListingPredatingADeathIsNoRestart(t *testing.T) {
	e, ev := evidenceEnv(t)
	name := cname("dev", "default")
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		if args[0] != "ps" || isGet(args) {
			return next(ctx, emit)
		}
		res, err := next(ctx, emit) // the listing: running
		e.fake.setState(name, "exited")
		ev.Record(lc(name, e.clock.Now(), "kill", "signal=9"))
		ev.Record(lc(name, e.clock.Now(), "die", "exitCode=137"))
		e.clock.Advance(10 * time.Second) // docker ps answering on a loaded engine
		return res, err
	})
	rep, evs := e.tick()
	e.fake.intercept(nil)
	wantEvents(t, evs)
	if s := stateOf(t, rep, name); s != watchdog.StateRunning {
		t.Errorf("state %q, want running as listed until a listing says otherwise", s)
	}
	_, evs = e.tick()
	wantEvents(t, evs, "container_stopped "+name)
}
