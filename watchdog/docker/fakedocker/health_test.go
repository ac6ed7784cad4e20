package fakedocker_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

// The health check reaches docker from the client's run flags, shows in
// the Status column the client reads, and its last probe in the inspect
// the client asks for.
func TestHealthFromRunFlagsToStatusAndProbe(t *testing.T) {
	d, _, c, clk := inProcess(t)
	ctx := context.Background()
	s := spec
	s.Health = watchdog.HealthCheck{Cmd: "test -f /state/ok", Interval: 2 * time.Second, Timeout: time.Second, Retries: 3, StartPeriod: 5 * time.Second}
	must(t, c.Run(ctx, s))
	got, err := d.Container(s.Name)
	must(t, err)
	if got.Healthcheck == nil || !slices.Equal(got.Healthcheck.Test, []string{"CMD-SHELL", "test -f /state/ok"}) ||
		got.Healthcheck.Interval != 2*time.Second || got.Healthcheck.Timeout != time.Second ||
		got.Healthcheck.Retries != 3 || got.Healthcheck.StartPeriod != 5*time.Second {
		t.Fatalf("healthcheck %+v, want the client's flags", got.Healthcheck)
	}

	clk.Advance(3 * time.Minute)
	wantHealth(t, c, s.Name, "Up 3 minutes (health: starting)", watchdog.HealthStarting)
	if _, err := c.LastProbe(ctx, s.Name); err == nil || !strings.Contains(err.Error(), "no health probe has run yet") {
		t.Errorf("LastProbe before any probe: %v", err)
	}

	must(t, d.SetHealth(s.Name, "unhealthy", 1, "no /state/ok\n"))
	wantHealth(t, c, s.Name, "Up 3 minutes (unhealthy)", watchdog.HealthUnhealthy)
	p, err := c.LastProbe(ctx, s.Name)
	if err != nil || p != (watchdog.Probe{ExitCode: 1, Output: "no /state/ok\n"}) {
		t.Errorf("LastProbe = %+v, %v", p, err)
	}
	must(t, d.SetHealth(s.Name, "healthy", 0, "ok"))
	wantHealth(t, c, s.Name, "Up 3 minutes (healthy)", watchdog.HealthHealthy)

	// docker's shape: Status, FailingStreak, Log of the last five probes.
	for i := range 6 {
		must(t, d.SetHealth(s.Name, "unhealthy", 10+i, "fail"))
	}
	out, err := d.Do(ctx, docker.ProbeArgs(s.Name)...)
	must(t, err)
	var h struct {
		Status        string
		FailingStreak int
		Log           []struct {
			Start, End string
			ExitCode   int
			Output     string
		}
	}
	must(t, json.Unmarshal([]byte(out), &h))
	if h.Status != "unhealthy" || h.FailingStreak != 6 || len(h.Log) != 5 || h.Log[4].ExitCode != 15 || h.Log[0].ExitCode != 11 ||
		h.Log[4].Start != clk.Now().UTC().Format(time.RFC3339Nano) || h.Log[4].End == "" {
		t.Errorf(".State.Health = %s", out)
	}

	// A restart starts the check again; the log stays.
	must(t, c.Restart(ctx, s.Name))
	wantHealth(t, c, s.Name, "Up 3 minutes (health: starting)", watchdog.HealthStarting)
	if p, err := c.LastProbe(ctx, s.Name); err != nil || p.ExitCode != 15 {
		t.Errorf("LastProbe after restart = %+v, %v; want the log kept", p, err)
	}

	// Stopped: no health in the Status column.
	must(t, d.SetState(s.Name, "exited", 0))
	wantHealth(t, c, s.Name, "Exited (0) 3 minutes ago", watchdog.HealthNone)
}

func wantHealth(t *testing.T, c *docker.Client, name, status string, h watchdog.Health) {
	t.Helper()
	g, err := c.Get(context.Background(), name)
	if err != nil || g == nil || g.Status != status || g.Health != h {
		t.Fatalf("Get = %+v, %v; want status %q, health %q", g, err, status, h)
	}
}

// Without a health check: no health in ps, null from inspect, and
// fake-health refuses (a probe cannot run).
func TestNoHealthCheck(t *testing.T) {
	d, _, c, _ := inProcess(t)
	ctx := context.Background()
	must(t, c.Run(ctx, spec))
	wantHealth(t, c, spec.Name, "Up Less than a second", watchdog.HealthNone)
	out, err := d.Do(ctx, docker.ProbeArgs(spec.Name)...)
	if err != nil || out != "null\n" {
		t.Errorf("inspect .State.Health = %q, %v; want null", out, err)
	}
	if _, err := c.LastProbe(ctx, spec.Name); err == nil || !strings.Contains(err.Error(), "no health check") {
		t.Errorf("LastProbe = %v, want no health check", err)
	}
	if err := d.SetHealth(spec.Name, "unhealthy", 1, ""); err == nil || !strings.Contains(err.Error(), "has no health check") {
		t.Errorf("SetHealth without a check = %v", err)
	}
}
