package watchdog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestHealthCheckValidate(t *testing.T) {
	ok := []watchdog.HealthCheck{{}, {Cmd: "true", Interval: time.Millisecond, Retries: 0}, {Timeout: time.Hour, StartPeriod: time.Second, Retries: 10},
		// Digits, an x and a backslash are ordinary shell text.
		{Cmd: `test -f /state/ok || exit 10`}, {Cmd: `printf 'x\n' | grep -q x`}}
	for _, h := range ok {
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: %v", h, err)
		}
	}
	for _, c := range []struct {
		h    watchdog.HealthCheck
		name string
	}{
		{watchdog.HealthCheck{Interval: -time.Second}, "--health-interval -1s"},
		{watchdog.HealthCheck{Timeout: time.Microsecond}, "--health-timeout 1µs"},
		{watchdog.HealthCheck{StartPeriod: -1}, "--health-start-period -1ns"},
		{watchdog.HealthCheck{Retries: -1}, "--health-retries -1"},
		{watchdog.HealthCheck{Cmd: "a\nb"}, `--health-cmd "a\nb"`},
		{watchdog.HealthCheck{Cmd: "a\x00b"}, `--health-cmd "a\x00b"`},
	} {
		err := c.h.Validate()
		if !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%+v: error %v, want ErrInvalid naming %s", c.h, err, c.name)
		}
	}
	if err := watchdog.ValidateUnhealthy("reboot", 0); !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), `"reboot"`) {
		t.Errorf("--on-unhealthy reboot: %v", err)
	}
	if err := watchdog.ValidateUnhealthy(watchdog.OnUnhealthyRestart, -time.Second); !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("--unhealthy-grace -1s: %v", err)
	}
}

func TestHealthCheckJSON(t *testing.T) {
	h := watchdog.HealthCheck{Cmd: "true", Interval: 2 * time.Second, Retries: 3, StartPeriod: 1500 * time.Millisecond}
	b, err := json.Marshal(h)
	if err != nil || string(b) != `{"cmd":"true","interval":"2s","retries":3,"start_period":"1.5s"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back watchdog.HealthCheck
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", back, err, h)
	}
	if err := json.Unmarshal([]byte(`{"interval":"soon"}`), &back); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestConfigHashCoversTheHealthCheck(t *testing.T) {
	a := watchdog.Agent{Name: "dev", Image: "alpine:3", Env: []string{"A=1"}, StatePath: "/state", Instances: []string{"a"}}
	plain := a.ConfigHash()
	// Containers made before health checks existed keep their hash, so an
	// upgrade recreates nothing: the hash of the fields as they were then.
	b, _ := json.Marshal(struct {
		Image     string
		Env       []string
		StatePath string
		Command   []string
	}{a.Image, a.Env, a.StatePath, []string{}})
	sum := sha256.Sum256(b)
	if old := hex.EncodeToString(sum[:8]); plain != old {
		t.Errorf("hash without a health check %s, want the old hash %s", plain, old)
	}
	a.Health.Retries = 3
	if a.ConfigHash() == plain {
		t.Error("changing the health check did not change the hash (the container would not be recreated)")
	}
	p := a
	p.OnUnhealthy, p.UnhealthyGrace = watchdog.OnUnhealthyRestart, time.Minute
	if p.ConfigHash() != a.ConfigHash() {
		t.Error("the unhealthy policy changed the hash: it is the watchdog's, not the container's")
	}
}

func TestInstanceTrouble(t *testing.T) {
	for _, c := range []struct {
		st   watchdog.InstanceState
		want string
	}{
		{watchdog.InstanceState{State: watchdog.StateRunning}, ""},
		{watchdog.InstanceState{State: watchdog.StateRunning, Health: watchdog.HealthHealthy}, ""},
		{watchdog.InstanceState{State: watchdog.StateRunning, Health: watchdog.HealthStarting}, ""},
		{watchdog.InstanceState{State: watchdog.StateRunning, Health: watchdog.HealthUnhealthy}, "unhealthy"},
		{watchdog.InstanceState{State: watchdog.StateHeld, Health: watchdog.HealthUnhealthy}, ""},
		{watchdog.InstanceState{State: watchdog.StateStopped}, "stopped"},
		{watchdog.InstanceState{State: watchdog.StateMissing}, "missing"},
	} {
		if got := c.st.Trouble(); got != c.want {
			t.Errorf("%+v: Trouble() = %q, want %q", c.st, got, c.want)
		}
	}
}

func TestPartitionHoldsAndHealth(t *testing.T) {
	agents := []watchdog.Agent{{Name: "dev", Instances: []string{"a", "b", "c"}}}
	cs := []watchdog.Container{
		{Name: "claude-hooks-dev-a", State: "running", Health: watchdog.HealthUnhealthy},
		{Name: "claude-hooks-dev-b", State: "exited"},
	}
	holds := map[string]watchdog.Hold{
		"claude-hooks-dev-b": {Container: "claude-hooks-dev-b", Reason: "upgrade", Until: now.Add(time.Hour)},
		"claude-hooks-dev-c": {Container: "claude-hooks-dev-c", Until: now}, // expired
	}
	sts := watchdog.Partition(watchdog.DefaultPrefix, agents, cs, holds, now)
	got := []string{}
	for _, s := range sts {
		got = append(got, string(s.State)+"/"+string(s.Health)+"/"+s.HoldReason+"/"+s.Trouble())
	}
	if want := "running/unhealthy//unhealthy held//upgrade/ missing///missing"; strings.Join(got, " ") != want {
		t.Errorf("Partition = %q, want %q", strings.Join(got, " "), want)
	}
}
