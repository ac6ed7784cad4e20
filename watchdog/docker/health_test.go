package docker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

func TestRunArgsHealthCheck(t *testing.T) {
	spec := watchdog.RunSpec{Name: "c", Image: "alpine:3", Volume: "c-state", StatePath: "/state",
		Health: watchdog.HealthCheck{Cmd: "test -f /state/ok || exit 1", Interval: 2 * time.Second, Timeout: time.Second, Retries: 3, StartPeriod: 500 * time.Millisecond}}
	got := docker.RunArgs(spec)
	want := []string{"--health-cmd", "test -f /state/ok || exit 1", "--health-interval", "2s", "--health-timeout", "1s",
		"--health-start-period", "500ms", "--health-retries", "3", "alpine:3"}
	if i := slices.Index(got, "--health-cmd"); i < 0 || !slices.Equal(got[i:], want) {
		t.Fatalf("RunArgs %q: want the health flags, each value right after its flag, before the image: %q", got, want)
	}
	// The image's own HEALTHCHECK: no flag at all.
	spec.Health = watchdog.HealthCheck{}
	for _, a := range docker.RunArgs(spec) {
		if strings.HasPrefix(a, "--health") {
			t.Errorf("no health check set, but RunArgs has %q", a)
		}
	}
}

func TestParsePSHealth(t *testing.T) {
	for status, want := range map[string]watchdog.Health{
		"Up 3 minutes (unhealthy)":         watchdog.HealthUnhealthy,
		"Up 3 minutes (healthy)":           watchdog.HealthHealthy,
		"Up 2 seconds (health: starting)":  watchdog.HealthStarting,
		"Up 3 minutes":                     watchdog.HealthNone,
		"Exited (1) 2 seconds ago":         watchdog.HealthNone,
		"Up 1 hour (Paused)":               watchdog.HealthNone,
		"Restarting (1) 1 second ago":      watchdog.HealthNone,
		"Up 3 minutes (unhealthy) and odd": watchdog.HealthNone,
	} {
		cs, err := docker.ParsePS([]byte("abc\tclaude-hooks-dev-a\trunning\ttrue\tdev\ta\th\t" + status + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].Health != want || cs[0].Status != status {
			t.Errorf("status %q: health %q, want %q", status, cs[0].Health, want)
		}
	}
}

func TestParseProbe(t *testing.T) {
	p, err := docker.ParseProbe([]byte(`{"Status":"unhealthy","FailingStreak":3,"Log":[` +
		`{"Start":"2026-04-20T11:00:00Z","End":"2026-04-20T11:00:01Z","ExitCode":0,"Output":"ok\n"},` +
		`{"Start":"2026-04-20T11:00:02Z","End":"2026-04-20T11:00:03Z","ExitCode":1,"Output":"no /state/ok\n"}]}` + "\n"))
	if err != nil || p.ExitCode != 1 || p.Output != "no /state/ok\n" {
		t.Fatalf("ParseProbe = %+v, %v; want the last entry (exit 1, its output)", p, err)
	}
	for _, bad := range []string{"null\n", "", `{"Status":"starting","Log":[]}`, "{not json"} {
		if _, err := docker.ParseProbe([]byte(bad)); err == nil {
			t.Errorf("ParseProbe(%q): want an error", bad)
		}
	}
}

func TestProbeArgs(t *testing.T) {
	want := []string{"inspect", "--type", "container", "--format", "{{json .State.Health}}", "claude-hooks-dev-a"}
	if got := docker.ProbeArgs("claude-hooks-dev-a"); !slices.Equal(got, want) {
		t.Errorf("ProbeArgs = %q, want %q", got, want)
	}
}

func TestParseEventHealthStatus(t *testing.T) {
	l, err := docker.ParseEvent([]byte(`{"Type":"container","Action":"health_status: unhealthy","timeNano":1776686126000000000,` +
		`"Actor":{"ID":"abc","Attributes":{"name":"claude-hooks-dev-a"}}}`))
	if err != nil || l.Action != "health_status" || l.Health != watchdog.HealthUnhealthy {
		t.Fatalf("ParseEvent = %+v, %v; want action health_status, health unhealthy", l, err)
	}
}
