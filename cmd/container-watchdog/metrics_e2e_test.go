package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/metrics/metricstest"
)

const mp = "container_watchdog_"

// scrapeUntil scrapes the daemon's /metrics until ok holds (or fails).
func scrapeUntil(t *testing.T, d *daemonProc, what string, ok func(metricstest.Families) bool) metricstest.Families {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		fs, err := metricstest.Scrape(ctx, d.url("/metrics"))
		cancel()
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		if ok(fs) {
			return fs
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s:\n%s", what, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delta compares a counter or gauge between two scrapes.
func delta(t *testing.T, before, after metricstest.Families, want float64, name string, labels ...string) {
	t.Helper()
	if got := after.Value(name, labels...) - before.Value(name, labels...); got != want {
		t.Errorf("%s%v moved by %v (%v -> %v), want %v", name, labels, got, before.Value(name, labels...), after.Value(name, labels...), want)
	}
}

func histogramCount(fs metricstest.Families, name string) uint64 {
	n, _, _ := fs.Histogram(name)
	return n
}

// The daemon's /metrics, parsed as Prometheus parses it, after scripted
// ticks: the contract's names, types and labels, then exactly what a
// forced removal and its repair, an agent leaving and a skipped tick move.
func TestMetricsOfTheRunningDaemon(t *testing.T) {
	d := newDaemonProc(t)
	d.run("container-watchdog", "agent", "add", "dev", "--image", "agent:1", "--instance", "a", "--instance", "b")
	d.run("container-watchdog", "agent", "add", "ops", "--image", "agent:1")
	d.start()

	before := scrapeUntil(t, d, "three running instances", func(fs metricstest.Families) bool {
		return fs.Value(mp+"instances", "state=running") == 3
	})
	for _, fam := range metricstest.Contract {
		// No sink is configured: the notification families have no series.
		notify := strings.Contains(fam.Name, "notification")
		if err := before.Check(fam, !notify); err != nil {
			t.Error(err)
		}
	}
	if before.Value(mp+"info", "prefix=claude-hooks-") != 1 {
		t.Errorf("info{prefix=claude-hooks-} missing: %v", before.Series(mp+"info"))
	}
	for _, c := range []string{"claude-hooks-dev-a", "claude-hooks-dev-b", "claude-hooks-ops-default"} {
		if before.Value(mp+"container_up", "container="+c) != 1 {
			t.Errorf("container_up{%s} = %v, want 1", c, before.Value(mp+"container_up", "container="+c))
		}
	}
	if before.Value(mp+"ticks_total", "result=completed") < 1 || before[mp+"go_goroutines"] != nil || before["go_goroutines"] == nil {
		t.Errorf("ticks or the Go collector missing")
	}

	// A forced removal, explained by docker's events, and its repair.
	d.waitFollowing(15 * time.Second)
	d.run("docker", "fake-rm", "claude-hooks-dev-a")
	d.waitEvent(0, "container_recreated", "claude-hooks-dev-a", 15*time.Second)
	after := scrapeUntil(t, d, "the repair", func(fs metricstest.Families) bool {
		return histogramCount(fs, mp+"repair_duration_seconds") == 1 && fs.Value(mp+"container_up", "container=claude-hooks-dev-a") == 1
	})
	delta(t, before, after, 1, mp+"events_total", "type=container_missing")
	delta(t, before, after, 1, mp+"events_total", "type=container_recreated")
	for _, typ := range []string{"container_stopped", "container_recreate_failed", "container_running", "container_restarted", "container_orphaned"} {
		delta(t, before, after, 0, mp+"events_total", "type="+typ)
	}
	delta(t, before, after, 1, mp+"recreations_total", "agent=dev", "result=ok")
	delta(t, before, after, 0, mp+"recreations_total", "agent=dev", "result=failed")
	delta(t, before, after, 0, mp+"recreations_total", "agent=ops", "result=ok")
	delta(t, before, after, 1, mp+"container_recreations_total", "container=claude-hooks-dev-a")
	if n := histogramCount(after, mp+"detection_delay_seconds") - histogramCount(before, mp+"detection_delay_seconds"); n != 1 {
		t.Errorf("detection_delay_seconds observed %d times, want once (the missing report docker's events explained)", n)
	}
	if _, sum, _ := after.Histogram(mp + "repair_duration_seconds"); sum <= 0 || sum > 10 {
		t.Errorf("repair took %v s by the histogram", sum)
	}
	delta(t, before, after, 0, mp+"instances", "state=missing")
	ticks := after.Value(mp+"ticks_total", "result=completed") + after.Value(mp+"ticks_total", "result=skipped")
	if n := histogramCount(after, mp+"tick_duration_seconds"); float64(n) != ticks {
		t.Errorf("tick_duration_seconds has %d observations for %v ticks", n, ticks)
	}
	if ts := after.Value(mp + "last_tick_timestamp_seconds"); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last_tick_timestamp_seconds %v is not recent", ts)
	}

	// An agent leaves the registry: its series go.
	d.run("container-watchdog", "agent", "rm", "ops")
	gone := scrapeUntil(t, d, "ops gone", func(fs metricstest.Families) bool {
		return fs.Series(mp+"container_up", "agent=ops") == nil
	})
	for _, name := range []string{"container_state", "container_recreations_total", "recreations_total"} {
		if s := gone.Series(mp+name, "agent=ops"); s != nil {
			t.Errorf("%s of agent ops after agent rm: %v", name, s)
		}
	}
	if gone.Value(mp+"instances", "state=running") != 2 {
		t.Errorf("instances{running} = %v after agent rm, want 2", gone.Value(mp+"instances", "state=running"))
	}

	// Docker unreachable for one tick: skipped, counted, instances kept.
	// The die's own lookup after the settle fails first (a failed check,
	// which asks for the tick).
	d.run("docker", "fake-fault", "ps", "fail", "Cannot connect to the Docker daemon", "2")
	d.run("docker", "fake-set-state", "claude-hooks-dev-b", "exited") // its die event asks for a look
	skipped := scrapeUntil(t, d, "a skipped tick", func(fs metricstest.Families) bool {
		return fs.Value(mp+"ticks_total", "result=skipped") == 1
	})
	if skipped.Value(mp+"checks_total", "result=failed") != 1 {
		t.Errorf("checks_total{failed} = %v, want the die's failed lookup", skipped.Value(mp+"checks_total", "result=failed"))
	}
	if skipped.Value(mp+"instances", "state=running") != 2 || skipped.Value(mp+"container_up", "container=claude-hooks-dev-b") != 1 {
		t.Errorf("a skipped tick changed the instances: running %v, dev-b up %v",
			skipped.Value(mp+"instances", "state=running"), skipped.Value(mp+"container_up", "container=claude-hooks-dev-b"))
	}
	if skipped.Value(mp+"last_tick_timestamp_seconds") < gone.Value(mp+"last_tick_timestamp_seconds") {
		t.Error("last_tick_timestamp_seconds went back")
	}
}
