package watchdog_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func newReconciler(t *testing.T) (*watchdog.Reconciler, *fakeDocker) {
	f := newFakeDocker(t, newClock())
	return &watchdog.Reconciler{Docker: f.client, Prefix: prefix}, f
}

func converge(t *testing.T, r *watchdog.Reconciler, f *fakeDocker, agents []watchdog.Agent, names []string, opt watchdog.ConvergeOptions) map[string]watchdog.Result {
	t.Helper()
	f.runner.Reset()
	rs, err := r.Converge(context.Background(), agents, names, opt)
	if err != nil {
		t.Fatalf("Converge: %v", err)
	}
	out := map[string]watchdog.Result{}
	for _, res := range rs {
		if _, dup := out[res.Container]; dup {
			t.Errorf("%s reconciled twice", res.Container)
		}
		if (res.Outcome == watchdog.OutcomeFailed) != (res.Err != nil) {
			t.Errorf("%s: outcome %s with err %v", res.Container, res.Outcome, res.Err)
		}
		out[res.Container] = res
	}
	if !slices.IsSortedFunc(rs, func(a, b watchdog.Result) int { return strings.Compare(a.Container, b.Container) }) {
		t.Errorf("results not sorted: %+v", rs)
	}
	return out
}

func wantOutcomes(t *testing.T, got map[string]watchdog.Result, want map[string]watchdog.Outcome) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("results %v, want %v", got, want)
	}
	for n, o := range want {
		if got[n].Outcome != o {
			t.Errorf("%s: %s (err %v), want %s", n, got[n].Outcome, got[n].Err, o)
		}
	}
}

func TestConvergeCreatesThenIsIdempotent(t *testing.T) {
	r, f := newReconciler(t)
	agents := []watchdog.Agent{agent("dev"), agent("ops", "a", "b")}
	rs := converge(t, r, f, agents, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{
		cname("dev", "default"): watchdog.OutcomeCreated, cname("ops", "a"): watchdog.OutcomeCreated, cname("ops", "b"): watchdog.OutcomeCreated,
	})
	if len(f.calls("ps")) != 1 || len(f.calls("run")) != 3 {
		t.Errorf("calls %q, want one listing and three runs", f.runner.Calls())
	}
	wantNoCalls(t, f, "rm", "volume")

	c := f.get(cname("ops", "b"))
	a := agents[1]
	if c == nil || c.Image != a.Image || !slices.Equal(c.Env, a.Env) || !slices.Equal(c.Cmd, a.Command) ||
		!slices.Equal(c.Mounts, []string{cname("ops", "b") + "-state:/state"}) || c.State != "running" || c.Restart != "unless-stopped" {
		t.Fatalf("container %+v, want the agent's, running, its state volume at /state, restarted unless stopped", c)
	}
	wantLabels := map[string]string{
		watchdog.LabelManaged: "true", watchdog.LabelAgent: "ops", watchdog.LabelInstance: "b", watchdog.LabelConfig: a.ConfigHash(),
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}

	rs = converge(t, r, f, agents, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{
		cname("dev", "default"): watchdog.OutcomeUnchanged, cname("ops", "a"): watchdog.OutcomeUnchanged, cname("ops", "b"): watchdog.OutcomeUnchanged,
	})
	if calls := f.runner.Calls(); len(calls) != 1 {
		t.Errorf("second converge made calls %q, want only the listing", calls)
	}
}

func TestConvergeRecreatesOnConfigChangeKeepingVolume(t *testing.T) {
	r, f := newReconciler(t)
	agents := []watchdog.Agent{agent("dev"), agent("ops")}
	converge(t, r, f, agents, nil, watchdog.ConvergeOptions{All: true})
	name := cname("dev", "default")
	old := f.get(name)

	agents[0].Image = "example.com/agents/dev:2"
	agents[1].Instances = []string{"default"} // same config, must stay
	rs := converge(t, r, f, agents, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{name: watchdog.OutcomeRecreated, cname("ops", "default"): watchdog.OutcomeUnchanged})

	calls := f.runner.Calls()
	if len(calls) != 3 || !slices.Equal(calls[1], []string{"docker", "rm", "-f", name}) || calls[2][1] != "run" {
		t.Fatalf("calls %q, want ps, rm, run", calls)
	}
	now := f.get(name)
	if now.ID == old.ID || now.Image != "example.com/agents/dev:2" || !slices.Equal(now.Mounts, old.Mounts) ||
		now.Labels[watchdog.LabelConfig] != agents[0].ConfigHash() || !f.hasVolume(watchdog.VolumeName(name)) {
		t.Errorf("recreated %+v, was %+v", now, old)
	}
}

func TestConvergeRemovesHostModeAndUnlisted(t *testing.T) {
	r, f := newReconciler(t)
	agents := []watchdog.Agent{agent("dev"), agent("ops", "a", "b")}
	converge(t, r, f, agents, nil, watchdog.ConvergeOptions{All: true})

	// dev turns host-mode: its container goes, its volume stays.
	agents[0].HostMode = true
	rs := converge(t, r, f, agents, []string{cname("dev", "default")}, watchdog.ConvergeOptions{})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{cname("dev", "default"): watchdog.OutcomeRemoved})
	if f.get(cname("dev", "default")) != nil || !f.hasVolume(cname("dev", "default")+"-state") {
		t.Error("want the container gone and its volume kept")
	}
	wantNoCalls(t, f, "volume", "run")

	// ops leaves the registry: without RemoveUnlisted its containers are orphans.
	listed := agents[:1]
	rs = converge(t, r, f, listed, []string{cname("ops", "a"), cname("ops", "b")}, watchdog.ConvergeOptions{})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{cname("ops", "a"): watchdog.OutcomeOrphaned, cname("ops", "b"): watchdog.OutcomeOrphaned})
	wantNoCalls(t, f, "rm", "run", "volume")
	rs = converge(t, r, f, listed, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{cname("ops", "a"): watchdog.OutcomeOrphaned, cname("ops", "b"): watchdog.OutcomeOrphaned})
	wantNoCalls(t, f, "rm", "run", "volume")

	// With RemoveUnlisted (agent rm names them) they go; without Purge the volumes stay.
	rs = converge(t, r, f, listed, []string{cname("ops", "a"), cname("ops", "b")}, watchdog.ConvergeOptions{RemoveUnlisted: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{cname("ops", "a"): watchdog.OutcomeRemoved, cname("ops", "b"): watchdog.OutcomeRemoved})
	if len(f.calls("rm")) != 2 || f.get(cname("ops", "a")) != nil || f.get(cname("ops", "b")) != nil {
		t.Errorf("calls %q", f.runner.Calls())
	}
	if !f.hasVolume(cname("ops", "a")+"-state") || !f.hasVolume(cname("ops", "b")+"-state") {
		t.Error("volumes removed without purge")
	}
	wantNoCalls(t, f, "volume")
}

func TestConvergePurgeRemovesVolume(t *testing.T) {
	r, f := newReconciler(t)
	converge(t, r, f, []watchdog.Agent{agent("dev")}, nil, watchdog.ConvergeOptions{All: true})
	name := cname("dev", "default")
	rs := converge(t, r, f, nil, []string{name}, watchdog.ConvergeOptions{RemoveUnlisted: true, Purge: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{name: watchdog.OutcomeRemoved})
	calls := f.runner.Calls()
	if len(calls) != 3 || !slices.Equal(calls[1], []string{"docker", "rm", "-f", name}) ||
		!slices.Equal(calls[2], []string{"docker", "volume", "rm", name + "-state"}) {
		t.Fatalf("calls %q, want ps, rm, volume rm", calls)
	}
	if f.hasVolume(name+"-state") || f.get(name) != nil {
		t.Error("container or volume survived the purge")
	}

	// A failed removal is reported with docker's stderr and the volume is left alone.
	converge(t, r, f, []watchdog.Agent{agent("dev")}, nil, watchdog.ConvergeOptions{All: true})
	f.setFail("rm", "Error response from daemon: removal of container is already in progress")
	rs = converge(t, r, f, nil, []string{name}, watchdog.ConvergeOptions{RemoveUnlisted: true, Purge: true})
	if rs[name].Outcome != watchdog.OutcomeFailed || !strings.Contains(rs[name].Err.Error(), "already in progress") {
		t.Errorf("result %+v", rs[name])
	}
	wantNoCalls(t, f, "volume")
	if !f.hasVolume(name + "-state") {
		t.Error("volume removed although its container could not be")
	}
}

func TestConvergeNeverTouchesUnmanagedContainers(t *testing.T) {
	r, f := newReconciler(t)
	name := cname("dev", "default")
	f.put(name, "running", map[string]string{"maintainer": "someone"})
	f.put(cname("stranger", "x"), "running", nil)
	host := agent("host")
	host.HostMode = true
	f.put(cname("host", "default"), "running", nil)
	agents := []watchdog.Agent{agent("dev"), host}

	for _, opt := range []watchdog.ConvergeOptions{{All: true}, {All: true, RemoveUnlisted: true, Purge: true}} {
		rs := converge(t, r, f, agents, []string{cname("stranger", "x"), cname("host", "default")}, opt)
		wantOutcomes(t, rs, map[string]watchdog.Outcome{
			name: watchdog.OutcomeFailed, cname("stranger", "x"): watchdog.OutcomeUnchanged, cname("host", "default"): watchdog.OutcomeUnchanged,
		})
		if err := rs[name].Err; err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not created by container-watchdog") {
			t.Errorf("err %v, want one naming the container and saying it is not ours", err)
		}
		wantNoCalls(t, f, "rm", "run", "volume")
	}
	for _, n := range []string{name, cname("stranger", "x"), cname("host", "default")} {
		if f.get(n) == nil {
			t.Errorf("%s removed", n)
		}
	}
}

func TestConvergeFailureOfOneSparesOthers(t *testing.T) {
	r, f := newReconciler(t)
	bad := cname("aa", "default")
	stderr := "docker: Error response from daemon: pull access denied for example.com/agents/aa"
	f.setFailFor(bad, stderr)
	rs := converge(t, r, f, []watchdog.Agent{agent("aa"), agent("bb")}, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{bad: watchdog.OutcomeFailed, cname("bb", "default"): watchdog.OutcomeCreated})
	if rs[bad].Err.Error() != stderr {
		t.Errorf("err %q, want docker's stderr %q", rs[bad].Err, stderr)
	}
	all := make([]watchdog.Result, 0, len(rs))
	for _, res := range rs {
		all = append(all, res)
	}
	if err := watchdog.Failures(all); err == nil || !strings.Contains(err.Error(), bad+": "+stderr) {
		t.Errorf("Failures = %v", err)
	}
}

func TestConvergeListFailure(t *testing.T) {
	r, f := newReconciler(t)
	f.setFail("ps", "Cannot connect to the Docker daemon")
	rs, err := r.Converge(context.Background(), []watchdog.Agent{agent("dev")}, nil, watchdog.ConvergeOptions{All: true})
	if err == nil || rs != nil || !strings.Contains(err.Error(), "Cannot connect to the Docker daemon") {
		t.Fatalf("Converge = %v, %v", rs, err)
	}
	wantNoCalls(t, f, "run", "rm")
}

func TestRepair(t *testing.T) {
	r, f := newReconciler(t)
	ctx := context.Background()
	agents := []watchdog.Agent{agent("dev")}
	name := cname("dev", "default")

	out, err := r.Repair(ctx, agents, name)
	if err != nil || out != watchdog.OutcomeCreated || f.get(name) == nil {
		t.Fatalf("Repair = %s, %v", out, err)
	}
	out, err = r.Repair(ctx, agents, name)
	if err != nil || out != watchdog.OutcomeUnchanged {
		t.Fatalf("second Repair = %s, %v", out, err)
	}
	f.setFail("ps", "boom")
	if out, err = r.Repair(ctx, agents, name); out != watchdog.OutcomeFailed || err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Repair with ps failing = %s, %v", out, err)
	}
}

// A watchdog with prefix "claude-" lists claude-hooks-* containers too (its
// name filter matches them); they belong to another watchdog and must never
// be its orphans.
func TestOursNeedsNameAndLabelsToAgree(t *testing.T) {
	managed := func(name, agent, instance string) watchdog.Container {
		return watchdog.Container{Name: name, Managed: true, Agent: agent, Instance: instance}
	}
	for _, tc := range []struct {
		prefix string
		c      watchdog.Container
		want   bool
	}{
		{"claude-hooks-", managed("claude-hooks-dev-default", "dev", "default"), true},
		{"claude-", managed("claude-hooks-dev-default", "dev", "default"), false},
		{"claude-hooks-", managed("claude-hooks-dev-default", "ops", "default"), false},
		{"claude-hooks-", watchdog.Container{Name: "claude-hooks-dev-default", Agent: "dev", Instance: "default"}, false},
	} {
		if got := watchdog.Manages(tc.prefix, tc.c); got != tc.want {
			t.Errorf("Manages(%q, %+v) = %v, want %v", tc.prefix, tc.c, got, tc.want)
		}
	}
}

// leaseLog is a Leaser that records, for each call, whether docker had the
// container at that moment.
type leaseLog struct {
	f   *fakeDocker
	log []string
}

func (l *leaseLog) Lease(_ context.Context, c string, _ time.Time) error {
	l.log = append(l.log, fmt.Sprintf("lease %s present=%v", c, l.f.get(c) != nil))
	return nil
}

func (l *leaseLog) Release(_ context.Context, c string) error {
	l.log = append(l.log, fmt.Sprintf("release %s present=%v", c, l.f.get(c) != nil))
	return nil
}

// The gap between rm and run is covered by a lease, taken before the rm and
// released after the run; an unchanged container takes none.
func TestReconcilerLeasesAReplacement(t *testing.T) {
	r, f := newReconciler(t)
	leases := &leaseLog{f: f}
	r.Leases, r.LeaseTTL = leases, time.Minute
	a := agent("dev")
	converge(t, r, f, []watchdog.Agent{a}, nil, watchdog.ConvergeOptions{All: true})
	leases.log = nil
	converge(t, r, f, []watchdog.Agent{a}, nil, watchdog.ConvergeOptions{All: true})
	if len(leases.log) != 0 {
		t.Errorf("unchanged container leased: %v", leases.log)
	}
	a.Image = "agent:2"
	rs := converge(t, r, f, []watchdog.Agent{a}, nil, watchdog.ConvergeOptions{All: true})
	wantOutcomes(t, rs, map[string]watchdog.Outcome{cname("dev", "default"): watchdog.OutcomeRecreated})
	want := []string{"lease " + cname("dev", "default") + " present=true", "release " + cname("dev", "default") + " present=true"}
	if !slices.Equal(leases.log, want) {
		t.Errorf("lease calls %v, want %v", leases.log, want)
	}
}
