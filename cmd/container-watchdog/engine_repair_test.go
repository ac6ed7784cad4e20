package main

// Real-engine scenarios where the watchdog recreates a container (see
// engine_test.go).

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// testRemove: `docker rm -f` is the hole the watchdog exists for. It
// reports container_missing with docker's evidence of a forced removal,
// recreates the container, and the state volume's contents survive.
func (e *engine) testRemove(t *testing.T) {
	s := e.scenario(t, "rm")
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", e.image)
	before := e.waitStatus(t, name, "running")
	if before.Volume != watchdog.VolumeName(name) {
		t.Fatalf("state volume %q, want %q", before.Volume, watchdog.VolumeName(name))
	}
	secret := "hello-" + engRandomHex(4)
	e.mustRun(t, "exec", name, "/agent", "write", "/state/f", secret)

	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	mark := len(sse.all())
	e.mustRun(t, "rm", "-f", name)
	removed := time.Now()
	missing := sse.wait(t, engineWait, mark, "container_missing", engIs(watchdog.EventMissing, name))
	t.Logf("container_missing %s after docker rm -f returned: %s", missing.Got.Sub(removed).Round(time.Millisecond), missing.Detail)
	// docker rm -f of a running container: kill 9, die 137, destroy. The
	// die asks for a tick, which may find the container still listed,
	// "removing": that is no stop, so the one report is container_missing,
	// with the whole lifecycle as its evidence.
	engOnly(t, sse.all()[:missing.Index+1], mark, watchdog.EventMissing)
	for _, want := range []string{"not known to docker", "kill signal=9", "die exitCode=137", "destroy", "removed by force"} {
		if !strings.Contains(missing.Detail, want) {
			t.Errorf("container_missing detail %q lacks %q", missing.Detail, want)
		}
	}
	if missing.Evidence["CONTAINER_KILL_SIGNAL"] != "9" || missing.Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("container_missing evidence %v: want kill signal 9 and exit code 137", missing.Evidence)
	}
	recreated := sse.wait(t, engineWait, missing.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
	t.Logf("container_recreated %s after docker rm -f returned", recreated.Got.Sub(removed).Round(time.Millisecond))

	after := e.waitStatus(t, name, "running")
	if after.ID == before.ID {
		t.Errorf("container %s has its old id after removal", name)
	}
	if after.Volume != before.Volume || after.Policy != "unless-stopped" {
		t.Errorf("recreated container: volume %q policy %q, want %q and unless-stopped", after.Volume, after.Policy, before.Volume)
	}
	if got := strings.TrimSpace(e.mustRun(t, "exec", name, "/agent", "read", "/state/f")); got != secret {
		t.Errorf("state volume after recreation holds %q, want %q", got, secret)
	}
	engNoEvents(t, sse.all(), missing.Index+1, "event after container_missing but the recreation", func(ev engEvent) bool { return ev.Index != recreated.Index })
}

var engNextAttemptRe = regexp.MustCompile(`next attempt at (\S+)`)

// testRecreateFails: when `docker run` fails (the image is gone and there
// is no registry to pull from), container_recreate_failed carries docker's
// stderr, and the next attempt waits for --backoff-initial: the image is
// put back the moment the failure is reported, so any earlier attempt
// would succeed earlier than the backoff allows. (--repair-burst 1: the
// default burst retries the first failures at once, which
// TestEngine/rmagain and the unit tests cover.)
func (e *engine) testRecreateFails(t *testing.T) {
	s := e.scenario(t, "runfails")
	gone := strings.TrimSuffix(e.root, "-") + "-gone:v1"
	e.mustRun(t, "tag", e.image, gone)
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", gone)
	e.waitStatus(t, name, "running")
	const backoff = 3 * time.Second
	d := s.startDaemon(t, engineInterval, nil, "--backoff-initial", backoff.String(), "--repair-burst", "1")
	sse := d.subscribe(t)
	d.ready(t)

	// Untag first (the image keeps its other tag, so this works while the
	// container runs), then remove: the watchdog cannot win a race.
	e.mustRun(t, "rmi", gone)
	mark := len(sse.all())
	e.mustRun(t, "rm", "-f", name)
	missing := sse.wait(t, engineWait, mark, "container_missing", engIs(watchdog.EventMissing, name))
	failed := sse.wait(t, engineWait, missing.Index+1, "container_recreate_failed", engIs(watchdog.EventRecreateFailed, name))
	e.mustRun(t, "tag", e.image, gone)
	restored := time.Now()
	t.Logf("failure reported %s after the missing one: %s", failed.Time.Sub(missing.Time).Round(time.Millisecond), failed.Detail)
	if !strings.Contains(failed.Detail, "Unable to find image '"+gone+"' locally") {
		t.Errorf("container_recreate_failed detail %q lacks docker's stderr (Unable to find image '%s' locally)", failed.Detail, gone)
	}
	m := engNextAttemptRe.FindStringSubmatch(failed.Detail)
	if m == nil {
		t.Fatalf("container_recreate_failed detail %q names no next attempt", failed.Detail)
	}
	next, err := time.Parse(time.RFC3339, m[1])
	engMust(t, err)
	// RFC 3339 to the second: the attempt is due backoff after the first
	// began, which is at or after the missing event's time.
	if lo, hi := missing.Time.Add(backoff-time.Second), missing.Time.Add(backoff+time.Second); next.Before(lo) || next.After(hi) {
		t.Errorf("next attempt at %s, want %s after the missing event at %s", next.Format(time.RFC3339), backoff, missing.Time.Format(time.StampMilli))
	}

	recreated := sse.wait(t, engineWait, failed.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
	gap := recreated.Time.Sub(missing.Time)
	t.Logf("recreated %s after the missing event (image restored %s after it)", gap.Round(time.Millisecond), restored.Sub(missing.Got).Round(time.Millisecond))
	if restored.Sub(missing.Got) >= backoff {
		t.Fatalf("the image was restored only %s after the loss; the test cannot tell the backoff apart", restored.Sub(missing.Got))
	}
	if gap < backoff {
		t.Errorf("second attempt succeeded %s after the first began: before the %s backoff", gap, backoff)
	}
	if gap > backoff+engineInterval+3*time.Second {
		t.Errorf("second attempt only %s after the first: the backoff of %s should have brought it at once", gap, backoff)
	}
	e.waitStatus(t, name, "running")
	engOnly(t, sse.all()[:recreated.Index+1], mark, watchdog.EventMissing, watchdog.EventRecreateFailed, watchdog.EventRecreated)
}

// testUnreachable: with DOCKER_HOST pointing at a dead socket every tick is
// skipped: /state says so, no event at all is published (the container
// removed meanwhile is not reported, nothing is recreated), and after two
// intervals /healthz says "degraded" with docker's complaint (200: as for
// the systemd watchdog, a skipped tick shows the loop alive; see the
// README). When the socket comes back (a proxy to the real engine starts
// listening on it) ticks complete, /healthz says "ok" and the container
// removed during the outage is recreated.
func (e *engine) testUnreachable(t *testing.T) {
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Skipf("DOCKER_HOST=%s: the test proxies a unix socket", h)
		}
		target = strings.TrimPrefix(h, "unix://")
	}
	s := e.scenario(t, "unreach")
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", e.image)
	before := e.waitStatus(t, name, "running")

	sock := filepath.Join(s.dir, "dead.sock")
	if len(sock) > 100 { // a unix socket path has at most 107 bytes
		dir, err := os.MkdirTemp("/tmp", "cwt")
		engMust(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock = filepath.Join(dir, "dead.sock")
	}
	started := time.Now()
	d := s.startDaemon(t, engineInterval, []string{"DOCKER_HOST=unix://" + sock})
	sse := d.subscribe(t)
	st := d.ticksAfter(t, time.Time{}, 1)
	if st.Tick.Result != "skipped" || !strings.Contains(st.Tick.Error, "docker ps") || !strings.Contains(st.Tick.Error, sock) {
		t.Errorf("/state tick %+v: want skipped, with docker's complaint about %s", *st.Tick, sock)
	}
	e.mustRun(t, "rm", "-f", name)
	st = d.ticksAfter(t, time.Now(), 2)
	for time.Since(started) < 2*engineInterval+engineInterval/2 {
		st = d.quiet(t)
	}
	if st.Tick.Result != "skipped" || len(st.Instances) != 0 {
		t.Errorf("/state during the outage: %+v, %d instances; want skipped and no judgement", *st.Tick, len(st.Instances))
	}
	if code, body := d.health(t); code != http.StatusOK || body["status"] != "degraded" || !strings.Contains(body["reason"], sock) {
		t.Errorf("/healthz %d %v after %s of skipped ticks, want 200, degraded, with docker's complaint about %s", code, body, time.Since(started).Round(time.Millisecond), sock)
	}
	if evs := sse.all(); len(evs) != 0 {
		t.Errorf("events while docker is unreachable: %v", evs)
	}
	if c := e.inspect(t, name); c.Exists {
		t.Errorf("%s exists during the outage: %+v", name, c)
	}

	// Docker comes back.
	engStartProxy(t, sock, target)
	back := time.Now()
	engWaitUntil(t, engineWait, "/healthz ok", func() (bool, string) {
		code, body := d.health(t)
		return code == http.StatusOK && body["status"] == "ok", fmt.Sprint(code, body)
	})
	missing := sse.wait(t, engineWait, 0, "container_missing", engIs(watchdog.EventMissing, name))
	recreated := sse.wait(t, engineWait, missing.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
	t.Logf("recreated %s after docker came back", recreated.Got.Sub(back).Round(time.Millisecond))
	after := e.waitStatus(t, name, "running")
	if after.ID == before.ID {
		t.Errorf("%s has its old id", name)
	}
	st = d.state(t)
	if st.Tick.Result != "completed" {
		t.Errorf("/state tick %+v after recovery", *st.Tick)
	}
	engNoEvents(t, sse.all(), 0, "unexpected event", func(ev engEvent) bool { return ev.Index != missing.Index && ev.Index != recreated.Index })
}

// engStartProxy listens on path and forwards every connection to target, a
// unix socket: the engine "comes back" at the address the daemon uses.
func engStartProxy(tb testing.TB, path, target string) {
	tb.Helper()
	ln, err := net.Listen("unix", path)
	engMust(tb, err)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			track(c)
			track(up)
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(up, c)
				_ = up.(*net.UnixConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, up)
				c.Close()
				up.Close()
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
