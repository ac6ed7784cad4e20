package chaos

// The daemon under test: started (possibly inside a namespace of its own),
// killed or stopped by its pid, and read through its HTTP side.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// daemonSpec says how to start one `container-watchdog run`.
type daemonSpec struct {
	globals  []string      // --db, --prefix, --docker, --docker-timeout
	interval time.Duration // --interval
	args     []string      // more flags of run
	env      []string      // added to the environment
	wrap     []string      // argv that execs the binary in the end (unshare ... sh -c ... exec "$@")
	sink     *notifySink   // sd_notify goes here, with a watchdog of wdog
	wdog     time.Duration
	dir      string // where its address file and log go
}

// daemon is a running `container-watchdog run`; pid is the daemon's own
// (every wrapper execs it).
type daemon struct {
	cmd  *osexec.Cmd
	pid  int
	at   time.Time // when it was started
	base string    // http://127.0.0.1:port
	log  string
	done chan struct{}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// start starts the daemon and waits until it listens. It is stopped (by
// SIGTERM to its pid, then SIGKILL) when the test ends, if still running.
func start(tb testing.TB, w *world, s daemonSpec) *daemon {
	tb.Helper()
	tag := randomHex(3)
	addrFile := filepath.Join(s.dir, "addr-"+tag)
	d := &daemon{log: filepath.Join(s.dir, "daemon-"+tag+".log"), done: make(chan struct{})}
	logf, err := os.Create(d.log)
	must(tb, err)
	argv := append(append(append([]string(nil), s.wrap...), w.bin), s.globals...)
	argv = append(argv, "run", "--interval", s.interval.String(), "--listen", "127.0.0.1:0", "--addr-file", addrFile)
	argv = append(argv, s.args...)
	d.cmd = osexec.Command(argv[0], argv[1:]...)
	d.cmd.Env = w.envWith(s.env...)
	if s.sink != nil {
		d.cmd.Env = append(d.cmd.Env, s.sink.env(s.wdog)...)
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Dies with the test binary, also when go test's timeout kills it before any cleanup runs.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d.at = time.Now()
	must(tb, d.cmd.Start())
	d.pid = d.cmd.Process.Pid
	go func() { _ = d.cmd.Wait(); logf.Close(); close(d.done) }()
	tb.Cleanup(func() {
		d.stop(tb)
		if tb.Failed() {
			b, _ := os.ReadFile(d.log)
			tb.Logf("daemon pid %d log (%s):\n%s", d.pid, d.log, tail(string(b), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			d.base = "http://" + strings.TrimSpace(string(b))
			return d
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.log)
			tb.Fatalf("daemon exited before listening: %v\n%s", d.cmd.ProcessState, b)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("daemon wrote no address to %s within 30s", addrFile)
		}
	}
}

// exited says whether the daemon has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the exit.
func (d *daemon) kill(tb testing.TB) {
	tb.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("daemon pid %d still there 30s after SIGKILL", d.pid)
	}
}

// stop sends SIGTERM and waits; SIGKILL after 15 s (a failure).
func (d *daemon) stop(tb testing.TB) {
	if d.exited() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		tb.Errorf("daemon pid %d did not stop within 15s of SIGTERM; killing it", d.pid)
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// logText is what the daemon logged so far.
func (d *daemon) logText() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// tickView is /state: the last tick and every instance as it saw them.
type tickView struct {
	Tick *struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
		Result     string    `json:"result"`
		Error      string    `json:"error"`
	} `json:"tick"`
	Instances []watchdog.InstanceState `json:"instances"`
}

// end is when the view's tick ended.
func (v tickView) end() time.Time {
	if v.Tick == nil {
		return time.Time{}
	}
	return v.Tick.Time.Add(time.Duration(v.Tick.DurationMS * float64(time.Millisecond)))
}

func (d *daemon) state(tb testing.TB) tickView {
	tb.Helper()
	var v tickView
	resp, err := httpClient.Get(d.base + "/state")
	must(tb, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /state: %s", resp.Status)
	}
	must(tb, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// health returns /healthz's status code and body.
func (d *daemon) health(tb testing.TB) (int, map[string]string) {
	tb.Helper()
	resp, err := httpClient.Get(d.base + "/healthz")
	must(tb, err)
	defer resp.Body.Close()
	body := map[string]string{}
	must(tb, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// rss is the daemon's resident memory in KiB, from /proc.
func (d *daemon) rss(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid))
	must(tb, err)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			must(tb, err)
			return kb
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", d.pid)
	return 0
}

// metric reads one unlabelled sample from /metrics (-1 when absent).
func (d *daemon) metric(tb testing.TB, name string) float64 {
	tb.Helper()
	resp, err := httpClient.Get(d.base + "/metrics")
	must(tb, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			must(tb, err)
			return f
		}
	}
	return -1
}

// zombies counts the daemon's children that ended and were never reaped.
func (d *daemon) zombies() int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || ppid(pid) != d.pid {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			n++
		}
	}
	return n
}

// stream reads GET /events?since=ID (replay, then live events) until the
// daemon ends the stream or the test ends; frames are what it carried.
type stream struct {
	mu     sync.Mutex
	frames []watchdog.Event
	bad    []string
	done   chan struct{}
}

func (d *daemon) subscribe(tb testing.TB, since int64) *stream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events?since=%d", d.base, since), nil)
	must(tb, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("GET /events: %v", err)
	}
	s := &stream{done: make(chan struct{})}
	tb.Cleanup(func() { cancel(); <-s.done })
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		s.read(resp.Body)
	}()
	return s
}

func (s *stream) read(r io.Reader) {
	br := bufio.NewReader(r)
	var id, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != "" {
				s.add(id, data)
			}
			id, data = "", ""
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func (s *stream) add(id, data string) {
	var ev watchdog.Event
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal([]byte(data), &ev); err != nil || strconv.FormatInt(ev.ID, 10) != id {
		s.bad = append(s.bad, fmt.Sprintf("frame id %q data %q (%v)", id, data, err))
		return
	}
	s.frames = append(s.frames, ev)
}

// events returns what the stream carried so far, and any malformed frames.
func (s *stream) events() ([]watchdog.Event, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]watchdog.Event(nil), s.frames...), append([]string(nil), s.bad...)
}
