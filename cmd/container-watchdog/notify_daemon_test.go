package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	wnotify "github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// hookReceiver is a real webhook receiver for the daemon tests: it checks
// each signature, refuses with 500 while failing is set, and records the
// event ids it accepted in order of receipt (a summary's events expanded).
type hookReceiver struct {
	t       *testing.T
	srv     *httptest.Server
	secret  string
	failing atomic.Bool

	mu       sync.Mutex
	refused  int
	ids      []int64
	badSigns int
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{t: t, secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !hmac.Equal([]byte("sha256="+hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Container-Watchdog-Signature"))) {
		h.badSigns++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h.failing.Load() {
		h.refused++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var m struct {
		ID     int64            `json:"id"`
		Type   string           `json:"type"`
		Events []watchdog.Event `json:"events"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		h.t.Errorf("receiver: %s: %v", body, err)
	}
	if m.Type == string(wnotify.EventTypeSummary) {
		for _, e := range m.Events {
			h.ids = append(h.ids, e.ID)
		}
		return
	}
	h.ids = append(h.ids, m.ID)
}

func (h *hookReceiver) snapshot() (ids []int64, refused, badSigns int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.ids...), h.refused, h.badSigns
}

// cwHarness runs the real container-watchdog binary (the test binary
// under that name on PATH, see TestMain) against the fake docker, with
// state under a temp folder.
type cwHarness struct {
	t    *testing.T
	work string
	env  []string
}

func newCWHarness(t *testing.T) *cwHarness {
	work := t.TempDir()
	return &cwHarness{t: t, work: work, env: append(os.Environ(),
		"CONTAINER_WATCHDOG_DB="+filepath.Join(work, "registry.db"),
		"FAKEDOCKER_STATE="+filepath.Join(work, "docker.json"),
		"CONTAINER_WATCHDOG_DOCKER_TIMEOUT=5s",
	)}
}

func (c *cwHarness) run(prog string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// daemon starts `run` and returns it; its log goes to daemon-N.log.
func (c *cwHarness) daemon(n int, args ...string) *exec.Cmd {
	c.t.Helper()
	logf, err := os.Create(filepath.Join(c.work, fmt.Sprintf("daemon-%d.log", n)))
	if err != nil {
		c.t.Fatal(err)
	}
	addr := filepath.Join(c.work, fmt.Sprintf("addr-%d", n))
	cmd := exec.Command("container-watchdog", append([]string{"run", "--listen", "127.0.0.1:0", "--addr-file", addr}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = c.env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		logf.Close()
		if c.t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			c.t.Logf("daemon %d log:\n%s", n, b)
		}
	})
	return cmd
}

func (c *cwHarness) registry() *sqlite.DB {
	c.t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(c.work, "registry.db"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func (c *cwHarness) waitFor(what string, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The daemon is SIGKILLed with notifications queued (the receiver was
// failing); started again with the receiver back, it delivers every event
// at least once, in order, with no gap, and /state shows the sink.
func TestNotifyDeliversAcrossSIGKILL(t *testing.T) {
	h := newCWHarness(t)
	rcv := newHookReceiver(t, "k")
	instances := []string{"a", "b", "c", "d", "e"}
	args := []string{"agent", "add", "dev", "--image", "agent:1"}
	for _, in := range instances {
		args = append(args, "--instance", in)
	}
	h.run("container-watchdog", args...)
	h.run("container-watchdog", "notify", "add", "hook", "--url", rcv.srv.URL+"/hook", "--secret", "k", "--min-priority", "7")
	db := h.registry()
	events := func() []watchdog.Event {
		evs, err := db.Events(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	flags := []string{"--interval", "200ms", "--no-events", "--notify-retry-initial", "100ms", "--notify-retry-max", "300ms", "--notify-poll", "200ms"}

	rcv.failing.Store(true)
	first := h.daemon(1, flags...)
	// Every instance stops and runs again, twice: 20 events, each queued.
	for round := 0; round < 2; round++ {
		for _, state := range []string{"exited", "running"} {
			before := len(events())
			for _, in := range instances {
				h.run("docker", "fake-set-state", "claude-hooks-dev-"+in, state, "1")
			}
			h.waitFor(fmt.Sprintf("5 more events (round %d, %s)", round, state), func() bool { return len(events()) >= before+5 })
		}
	}
	h.waitFor("refused deliveries", func() bool { _, refused, _ := rcv.snapshot(); return refused >= 2 })
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	all := events()
	if len(all) != 20 {
		t.Fatalf("%d events stored, want 20", len(all))
	}
	st, err := db.Stats(context.Background())
	if err != nil || len(st) != 1 || st[0].Queue != len(all) || st[0].Delivered != 0 || st[0].Failed == 0 {
		t.Fatalf("after SIGKILL: stats %+v (%v), want all %d events queued", st, err, len(all))
	}

	rcv.failing.Store(false)
	second := h.daemon(2, flags...)
	want := make([]int64, len(all))
	for i, e := range all {
		want[i] = e.ID
	}
	h.waitFor("every event delivered", func() bool { ids, _, _ := rcv.snapshot(); return len(firstSeen(ids)) >= len(want) })
	ids, _, bad := rcv.snapshot()
	if got := firstSeen(ids); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want every event once at least, in order: %v", ids, want)
	}
	if bad != 0 {
		t.Errorf("%d requests with a bad signature", bad)
	}

	// /state shows the sink drained, its counts and the 500 it saw.
	addr, err := os.ReadFile(filepath.Join(h.work, "addr-2"))
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Notifications []wnotify.SinkStats `json:"notifications"`
	}
	h.waitFor("/state to show the sink drained", func() bool {
		resp, err := http.Get("http://" + strings.TrimSpace(string(addr)) + "/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
			return false
		}
		return len(state.Notifications) == 1 && state.Notifications[0].Queue == 0
	})
	if s := state.Notifications[0]; s.Sink != "hook" || s.Delivered < uint64(len(want)) || s.Failed == 0 || !strings.Contains(s.LastError, "500") {
		t.Errorf("/state notifications = %+v", state.Notifications)
	}
	if err := second.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Errorf("daemon did not stop cleanly: %v", err)
	}
}

// firstSeen is ids without repeats (at least once allows them), each where
// it first arrived.
func firstSeen(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
