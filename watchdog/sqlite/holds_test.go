package sqlite_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestHolds(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	since := time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC)
	a := watchdog.Hold{Container: "claude-hooks-dev-a", Reason: "disk swap", Since: since, Until: since.Add(time.Hour)}
	b := watchdog.Hold{Container: "claude-hooks-dev-b", Since: since}
	if err := db.AddHolds(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	got, err := db.Holds(ctx)
	if err != nil || len(got) != 2 || got[a.Container] != a || got[b.Container] != b {
		t.Fatalf("Holds = %v, %v; want %v and %v read back as stored", got, err, a, b)
	}

	// EndHold deletes a hold only if it is still the one it was given.
	newer := a
	newer.Until = since.Add(2 * time.Hour)
	if err := db.AddHolds(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := db.EndHold(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Holds(ctx); got[a.Container] != newer {
		t.Errorf("EndHold of the old hold removed the newer one: %v", got)
	}
	if err := db.EndHold(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Holds(ctx); len(got) != 1 {
		t.Errorf("after EndHold: %v, want only %s", got, b.Container)
	}

	removed, err := db.RemoveHolds(ctx, b.Container, "claude-hooks-dev-never")
	if err != nil || !slices.Equal(removed, []string{b.Container}) {
		t.Errorf("RemoveHolds = %v, %v; want only the held one", removed, err)
	}
	if got, _ := db.Holds(ctx); len(got) != 0 {
		t.Errorf("holds left: %v", got)
	}
}

func TestAgentHealthAndObservationHealthRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := open(t, path)
	a := newAgent("dev", "a")
	a.Health = watchdog.HealthCheck{Cmd: "test -f /state/ok", Interval: 2 * time.Second, Timeout: time.Second, Retries: 2, StartPeriod: time.Second}
	a.OnUnhealthy, a.UnhealthyGrace = watchdog.OnUnhealthyRestart, 90*time.Second
	if _, err := db.AddAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.Agent(ctx, "dev")
	if err != nil || got.Health != a.Health || got.OnUnhealthy != a.OnUnhealthy || got.UnhealthyGrace != a.UnhealthyGrace {
		t.Fatalf("Agent = %+v, %v; want the health check and policy read back", got, err)
	}
	since := time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC)
	o := watchdog.Observation{Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a", State: watchdog.StateRunning, Since: since,
		Health: watchdog.HealthUnhealthy, HealthSince: since.Add(time.Minute)}
	if err := db.Observe(ctx, o); err != nil {
		t.Fatal(err)
	}
	obs, err := db.Observations(ctx)
	if err != nil || obs[o.Container] != o {
		t.Fatalf("Observations = %+v, %v; want %+v", obs, err, o)
	}
	o.Health, o.HealthSince = watchdog.HealthNone, time.Time{}
	if err := db.Observe(ctx, o); err != nil {
		t.Fatal(err)
	}
	if obs, _ := db.Observations(ctx); obs[o.Container] != o {
		t.Errorf("cleared health read back as %+v", obs[o.Container])
	}
}
