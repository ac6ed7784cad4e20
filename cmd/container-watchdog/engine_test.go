package main

// Real-engine tests and benchmarks: the built container-watchdog binary
// against the machine's Docker engine, with a tiny test image built here
// (a static Go program imported with `docker import`; no registry needed).
//
//	go test ./cmd/container-watchdog/ -run Engine -v -count=1
//	scripts/bench-engine.sh        # BenchmarkEngine, CW_BENCH_ENGINE=1
//
// When `docker version` fails the tests skip, unless CI=true, where they
// fail: CI must provide an engine. Everything created here (containers,
// volumes, images) is named with a random per-run prefix (cwt<hex>- for the
// tests, cwb<hex>- for the benchmark) and removed when the test ends, also
// on failure. The registry is always a temp file (--db), never the system
// one. Every daemon started here is stopped by its pid.
//
// TestMain (main_test.go) puts a fake `docker` first on PATH for the
// scripts; everything here uses the real CLI, found on PATH past it (or
// CW_ENGINE_DOCKER). DOCKER_HOST and DOCKER_CONTEXT are honoured; the
// unreachable scenario proxies a unix socket, so it skips with a tcp
// DOCKER_HOST. CW_ENGINE_DEBUG=1 logs the ticks each wait saw.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// engAgentSource is the image's /agent: with no arguments it sleeps until
// SIGTERM or SIGINT (and exits 0); `write PATH CONTENT` and `read PATH` let
// a test touch the state volume through `docker exec` in an image that has
// no shell.
const engAgentSource = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "write":
			if len(os.Args) != 4 {
				fmt.Fprintln(os.Stderr, "usage: agent write PATH CONTENT")
				os.Exit(2)
			}
			if err := os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		case "read":
			if len(os.Args) != 3 {
				fmt.Fprintln(os.Stderr, "usage: agent read PATH")
				os.Exit(2)
			}
			b, err := os.ReadFile(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Stdout.Write(b)
			return
		default:
			fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
			os.Exit(2)
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
`

const (
	engineInterval = 2 * time.Second
	engineWait     = 30 * time.Second // longest wait for any one condition
)

// engine is one run's handle on the real engine: the docker CLI, the built
// binary, the test image and the run's name prefix.
type engine struct {
	docker string // absolute path of the real docker CLI
	bin    string // the container-watchdog binary built for this run
	image  string // the test image, a tag unique to this run
	root   string // every name this run creates starts with it, e.g. cwt1a2b3c-
	env    []string
	work   string
}

// newEngine checks for an engine (skip, or fail under CI=true), builds the
// binary and the image, and registers the removal of everything named
// with the run's prefix.
func newEngine(tb testing.TB, kind string) *engine {
	tb.Helper()
	dockerPath, err := engRealDocker()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, verr := osexec.CommandContext(ctx, dockerPath, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		cancel()
		if verr != nil {
			err = fmt.Errorf("docker version: %v: %s", verr, bytes.TrimSpace(out))
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but no Docker engine answers (%v): the engine tests need dockerd running and the docker CLI on PATH", err)
		}
		tb.Skipf("no Docker engine answers (%v); skipping the real-engine tests (set CI=true to make this a failure)", err)
	}
	e := &engine{docker: dockerPath, root: kind + engRandomHex(3) + "-", work: tb.TempDir()}
	e.env = engChildEnv()
	// Registered first, so it runs last: after every daemon has stopped.
	tb.Cleanup(func() { e.removeAll(tb, e.root) })

	e.bin = filepath.Join(e.work, "container-watchdog")
	engGoBuild(tb, ".", e.bin, nil)

	agentDir := filepath.Join(e.work, "agent")
	rootfs := filepath.Join(agentDir, "rootfs")
	engMust(tb, os.MkdirAll(rootfs, 0o755))
	engMust(tb, os.WriteFile(filepath.Join(agentDir, "main.go"), []byte(engAgentSource), 0o644))
	engMust(tb, os.WriteFile(filepath.Join(agentDir, "go.mod"), []byte("module agent\n\ngo 1.21\n"), 0o644))
	engGoBuild(tb, agentDir, filepath.Join(rootfs, "agent"), []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod"})

	e.image = strings.TrimSuffix(e.root, "-") + "-agent:v1"
	tarball := filepath.Join(e.work, "agent.tar")
	tarCmd := osexec.Command("tar", "-C", rootfs, "-cf", tarball, "agent")
	if out, err := tarCmd.CombinedOutput(); err != nil {
		tb.Fatalf("tar the agent: %v: %s", err, out)
	}
	f, err := os.Open(tarball)
	engMust(tb, err)
	defer f.Close()
	imp := osexec.Command(e.docker, "import", "--change", `CMD ["/agent"]`, "-", e.image)
	imp.Stdin, imp.Env = f, e.env
	if out, err := imp.CombinedOutput(); err != nil {
		tb.Fatalf("docker import the test image: %v: %s", err, out)
	}
	return e
}

// engRealDocker finds the docker CLI on PATH, passing over the fake one that
// testscript.Main put first.
func engRealDocker() (string, error) {
	if p := os.Getenv("CW_ENGINE_DOCKER"); p != "" {
		return p, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if engIsTestscriptBin(dir) {
			continue
		}
		p := filepath.Join(dir, "docker")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no docker CLI on PATH")
}

func engIsTestscriptBin(dir string) bool {
	return filepath.Base(dir) == "bin" && strings.HasPrefix(filepath.Base(filepath.Dir(dir)), "testscript-main")
}

// engChildEnv is the environment of every program started here: the caller's
// (DOCKER_HOST and DOCKER_CONTEXT work) without testscript's PATH entry,
// without this tool's settings (the tests pass flags) and without systemd's
// hand-over variables, which would change how the daemon starts.
func engChildEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CONTAINER_WATCHDOG_"),
			k == "NOTIFY_SOCKET", k == "WATCHDOG_USEC", k == "WATCHDOG_PID",
			k == "LISTEN_FDS", k == "LISTEN_PID", k == "LISTEN_FDNAMES":
			continue
		case k == "PATH":
			var keep []string
			for _, d := range filepath.SplitList(v) {
				if !engIsTestscriptBin(d) {
					keep = append(keep, d)
				}
			}
			kv = "PATH=" + strings.Join(keep, string(filepath.ListSeparator))
		}
		out = append(out, kv)
	}
	return out
}

func engGoBuild(tb testing.TB, dir, out string, extraEnv []string) {
	tb.Helper()
	gobin, err := osexec.LookPath("go")
	if err != nil {
		tb.Fatalf("the engine tests build with the go command: %v", err)
	}
	cmd := osexec.Command(gobin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(engChildEnv(), extraEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build in %s: %v\n%s", dir, err, b)
	}
}

func engRandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func engMust(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// run runs the real docker CLI and returns its stdout; the error carries
// stderr.
func (e *engine) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, e.docker, args...)
	cmd.Env = e.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (e *engine) mustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := e.run(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// removeAll force-removes every container, then every volume, named with
// prefix, and the run's image. It reports but does not stop on errors.
func (e *engine) removeAll(tb testing.TB, prefix string) {
	out, err := e.run("ps", "-aq", "--filter", "name=^"+prefix)
	if err != nil {
		tb.Logf("cleanup: %v", err)
	}
	e.removeParallel(tb, strings.Fields(out))
	out, err = e.run("volume", "ls", "-q", "--filter", "name="+prefix)
	if err != nil {
		tb.Logf("cleanup: %v", err)
	}
	var vols []string
	for _, v := range strings.Fields(out) {
		if strings.HasPrefix(v, prefix) {
			vols = append(vols, v)
		}
	}
	for len(vols) > 0 {
		n := min(len(vols), 100)
		if _, err := e.run(append([]string{"volume", "rm", "-f"}, vols[:n]...)...); err != nil {
			tb.Logf("cleanup: %v", err)
		}
		vols = vols[n:]
	}
	if prefix == e.root {
		out, _ := e.run("images", "--format", "{{.Repository}}:{{.Tag}}")
		for _, ref := range strings.Fields(out) {
			if strings.HasPrefix(ref, strings.TrimSuffix(e.root, "-")) {
				if _, err := e.run("rmi", ref); err != nil {
					tb.Logf("cleanup: %v", err)
				}
			}
		}
	}
}

// engScenario is one subtest's world: its own prefix, registry and daemon.
type engScenario struct {
	*engine
	t      *testing.T
	prefix string
	db     string
	dir    string
}

func (e *engine) scenario(t *testing.T, tag string) *engScenario {
	s := &engScenario{engine: e, t: t, prefix: e.root + tag + "-", dir: t.TempDir()}
	s.db = filepath.Join(s.dir, "registry.db")
	t.Cleanup(func() { e.removeAll(t, s.prefix) })
	return s
}

func (s *engScenario) name(agent, instance string) string {
	return watchdog.ContainerName(s.prefix, agent, instance)
}

func (s *engScenario) globals() []string {
	return []string{"--db", s.db, "--prefix", s.prefix, "--docker", s.docker, "--docker-timeout", "30s"}
}

// cli runs one container-watchdog command to completion and fails the test
// unless it exits 0.
func (s *engScenario) cli(args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, s.bin, append(s.globals(), args...)...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("container-watchdog %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// engDaemon is a running `container-watchdog run`.
type engDaemon struct {
	cmd      *osexec.Cmd
	base     string // http://127.0.0.1:port
	log      string
	interval time.Duration
	done     chan struct{}
}

// startDaemon starts `run` with --interval, --listen 127.0.0.1:0 and an
// address file, waits until it listens, and stops it (SIGTERM by pid, then
// SIGKILL) when the test ends. env adds to or overrides the environment.
func (s *engScenario) startDaemon(tb testing.TB, interval time.Duration, env []string, args ...string) *engDaemon {
	tb.Helper()
	addrFile := filepath.Join(s.dir, fmt.Sprintf("addr-%s", engRandomHex(3)))
	d := &engDaemon{log: addrFile + ".log", interval: interval, done: make(chan struct{})}
	logf, err := os.Create(d.log)
	engMust(tb, err)
	argv := append(s.globals(), "run", "--interval", interval.String(), "--listen", "127.0.0.1:0", "--addr-file", addrFile)
	d.cmd = osexec.Command(s.bin, append(argv, args...)...)
	d.cmd.Env = append(slices.Clone(s.env), env...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	engMust(tb, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); logf.Close(); close(d.done) }()
	tb.Cleanup(func() {
		d.stop(tb)
		if tb.Failed() {
			b, _ := os.ReadFile(d.log)
			tb.Logf("daemon log (%s):\n%s", d.log, engTail(string(b), 60))
		}
	})
	deadline := time.Now().Add(engineWait)
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
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("daemon wrote no address to %s within %s", addrFile, engineWait)
		}
	}
}

// stop sends SIGTERM to the daemon's pid and waits; SIGKILL after 15 s.
func (d *engDaemon) stop(tb testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		tb.Errorf("daemon pid %d did not stop within 15s of SIGTERM; killing it", d.cmd.Process.Pid)
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func engTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type engState struct {
	Tick *struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
		Result     string    `json:"result"`
		Error      string    `json:"error"`
	} `json:"tick"`
	Instances []watchdog.InstanceState `json:"instances"`
}

func (d *engDaemon) state(tb testing.TB) engState {
	tb.Helper()
	var st engState
	resp, err := http.Get(d.base + "/state")
	engMust(tb, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /state: %s", resp.Status)
	}
	engMust(tb, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func (d *engDaemon) healthz(tb testing.TB) int {
	tb.Helper()
	code, _ := d.health(tb)
	return code
}

// health returns /healthz's status code and body.
func (d *engDaemon) health(tb testing.TB) (int, map[string]string) {
	tb.Helper()
	resp, err := http.Get(d.base + "/healthz")
	engMust(tb, err)
	defer resp.Body.Close()
	body := map[string]string{}
	engMust(tb, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// ticksAfter waits until /state has shown n different ticks that started
// after t0: at least n ticks ran since.
func (d *engDaemon) ticksAfter(tb testing.TB, t0 time.Time, n int) engState {
	tb.Helper()
	seen := map[time.Time]bool{}
	deadline := time.Now().Add(time.Duration(n+2)*d.interval + engineWait)
	for {
		st := d.state(tb)
		if st.Tick != nil && st.Tick.Time.After(t0) {
			seen[st.Tick.Time] = true
			if len(seen) >= n {
				if os.Getenv("CW_ENGINE_DEBUG") != "" {
					tb.Logf("ticks seen: %v (now %s)", seen, time.Now().Format("15:04:05.000"))
				}
				return st
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("saw %d ticks after %s, want %d", len(seen), t0.Format(time.StampMilli), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready waits for the daemon's first ticks (the start-up one, and the one
// its docker events follower asks for once connected) and returns right
// after one ended, so the test acts between ticks: see quiet.
func (d *engDaemon) ready(tb testing.TB) engState {
	tb.Helper()
	return d.ticksAfter(tb, time.Time{}, 2)
}

// quiet returns right after a tick that began after the call has ended:
// the next periodic tick is an interval away. The scenarios act then, so
// each sees the plain sequence of reports; testStartupRace acts inside a
// tick on purpose.
func (d *engDaemon) quiet(tb testing.TB) engState {
	tb.Helper()
	return d.ticksAfter(tb, time.Now(), 1)
}

// engEvent is one event as the stream carried it.
type engEvent struct {
	watchdog.Event
	Index int       // position in the stream
	Got   time.Time // when this client read it
}

func (e engEvent) String() string {
	return fmt.Sprintf("#%d %s %s %s %q", e.ID, e.Time.Format("15:04:05.000"), e.Type, e.Container, e.Detail)
}

// engSSE reads GET /events?since=0 (the whole log, then live events)
// and checks each frame against the contract as it goes.
type engSSE struct {
	mu      sync.Mutex
	evs     []engEvent
	bad     []string
	changed chan struct{}
	err     error
}

func (d *engDaemon) subscribe(tb testing.TB) *engSSE {
	tb.Helper()
	return d.subscribeSince(tb, 0)
}

// subscribeSince reads the events after id, then live ones.
func (d *engDaemon) subscribeSince(tb testing.TB, id int64) *engSSE {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events?since=%d", d.base, id), nil)
	engMust(tb, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("GET /events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		tb.Fatalf("GET /events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &engSSE{changed: make(chan struct{})}
	finished := make(chan struct{})
	tb.Cleanup(func() {
		cancel()
		<-finished
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.bad {
			tb.Errorf("SSE: %s", b)
		}
		if tb.Failed() {
			var lines []string
			for _, e := range c.evs {
				lines = append(lines, e.String())
			}
			tb.Logf("SSE events:\n%s", strings.Join(lines, "\n"))
		}
	})
	go func() {
		defer close(finished)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		var id, typ, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					c.add(id, typ, data)
				}
				id, typ, data = "", "", ""
			case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
			case strings.HasPrefix(line, "id:"):
				id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "event:"):
				typ = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			default:
				c.mu.Lock()
				c.bad = append(c.bad, fmt.Sprintf("unexpected line %q", line))
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		c.err = sc.Err()
		if c.err == nil {
			c.err = io.EOF
		}
		close(c.changed)
		c.mu.Unlock()
	}()
	return c
}

func (c *engSSE) add(id, typ, data string) {
	got := time.Now()
	var ev watchdog.Event
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		c.bad = append(c.bad, fmt.Sprintf("data %q: %v", data, err))
		return
	}
	if id != strconv.FormatInt(ev.ID, 10) || typ != string(ev.Type) {
		c.bad = append(c.bad, fmt.Sprintf("frame id %q event %q disagree with data %s", id, typ, data))
	}
	if n := len(c.evs); n > 0 && c.evs[n-1].ID >= ev.ID {
		c.bad = append(c.bad, fmt.Sprintf("event id %d after %d: ids must increase", ev.ID, c.evs[n-1].ID))
	}
	c.evs = append(c.evs, engEvent{Event: ev, Index: len(c.evs), Got: got})
	close(c.changed)
	c.changed = make(chan struct{})
}

// all returns the events read so far.
func (c *engSSE) all() []engEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// wait returns the first event at index >= from that matches, waiting up to
// timeout for it.
func (c *engSSE) wait(tb testing.TB, timeout time.Duration, from int, what string, match func(engEvent) bool) engEvent {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, e := range c.evs[min(from, len(c.evs)):] {
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		ch, err := c.changed, c.err
		c.mu.Unlock()
		if err != nil {
			tb.Fatalf("waiting for %s: event stream ended: %v", what, err)
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("no %s on the event stream within %s", what, timeout)
		}
	}
}

func engIs(typ watchdog.EventType, container string) func(engEvent) bool {
	return func(e engEvent) bool { return e.Type == typ && e.Container == container }
}

// engWaitUntil polls cond every 100 ms until it holds or timeout passes.
func engWaitUntil(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// engCtr is what docker says about one container.
type engCtr struct {
	Exists       bool
	ID           string
	Status       string // docker's: running, exited, restarting, ...
	RestartCount int
	Pid          int
	Policy       string
	Volume       string // the source of the mount at /state
}

func (e *engine) inspect(tb testing.TB, name string) engCtr {
	tb.Helper()
	out, err := e.run("inspect", "--type", "container", "--format",
		`{{.Id}} {{.State.Status}} {{.RestartCount}} {{.State.Pid}} {{.HostConfig.RestartPolicy.Name}} {{range .Mounts}}{{if eq .Destination "/state"}}{{.Name}}{{end}}{{end}}`, name)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such") {
			return engCtr{}
		}
		tb.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 5 {
		tb.Fatalf("docker inspect %s: %q", name, out)
	}
	c := engCtr{Exists: true, ID: f[0], Status: f[1], Policy: f[4]}
	c.RestartCount, _ = strconv.Atoi(f[2])
	c.Pid, _ = strconv.Atoi(f[3])
	if len(f) > 5 {
		c.Volume = f[5]
	}
	return c
}

func (e *engine) waitStatus(tb testing.TB, name, status string) engCtr {
	tb.Helper()
	var c engCtr
	engWaitUntil(tb, engineWait, name+" "+status, func() (bool, string) {
		c = e.inspect(tb, name)
		return c.Exists && c.Status == status, fmt.Sprintf("%+v", c)
	})
	return c
}

// engNoEvents fails when any event after index from matches.
func engNoEvents(tb testing.TB, evs []engEvent, from int, what string, match func(engEvent) bool) {
	tb.Helper()
	for _, e := range evs[min(from, len(evs)):] {
		if match(e) {
			tb.Errorf("unexpected %s: %s", what, e)
		}
	}
}

func TestEngine(t *testing.T) {
	e := newEngine(t, "cwt")
	t.Logf("docker %s, image %s, prefix %s", e.docker, e.image, e.root)
	t.Run("stop", e.testStop)
	t.Run("rm", e.testRemove)
	t.Run("kill", e.testKill)
	t.Run("runfails", e.testRecreateFails)
	t.Run("unreachable", e.testUnreachable)
	t.Run("orphan", e.testOrphan)
	t.Run("startuprace", e.testStartupRace)
}

// testStop: `docker stop` is an operator's decision. The watchdog reports
// container_stopped once, with docker's evidence, and leaves it alone: no
// start, no recreation, the restart policy untouched (unless-stopped keeps
// a stopped container stopped).
func (e *engine) testStop(t *testing.T) {
	s := e.scenario(t, "stop")
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", e.image)
	before := e.waitStatus(t, name, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	mark := len(sse.all())
	e.mustRun(t, "stop", "--time", "10", name)
	stopped := sse.wait(t, engineWait, mark, "container_stopped", engIs(watchdog.EventStopped, name))
	if !strings.Contains(stopped.Detail, "exited") || !strings.Contains(stopped.Detail, "docker stop") {
		t.Errorf("container_stopped detail %q: want docker's state (exited) and the cause (docker stop)", stopped.Detail)
	}
	if stopped.Evidence["CONTAINER_EXIT_CODE"] != "0" || stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "15" {
		t.Errorf("container_stopped evidence %v: want exit code 0 after signal 15", stopped.Evidence)
	}

	t0 := time.Now()
	st := d.ticksAfter(t, t0, 3)
	after := e.inspect(t, name)
	if !after.Exists || after.ID != before.ID || after.Status != "exited" || after.RestartCount != 0 || after.Policy != "unless-stopped" {
		t.Errorf("after 3 ticks the container is %+v; want the same container (%s) still exited, never restarted, policy unless-stopped", after, before.ID[:12])
	}
	if got := engInstanceState(st, name); got != watchdog.StateStopped {
		t.Errorf("/state says %s is %q, want stopped", name, got)
	}
	engOnly(t, sse.all(), mark, watchdog.EventStopped)
}

// engOnly fails unless the events from index from are exactly types.
func engOnly(tb testing.TB, evs []engEvent, from int, types ...watchdog.EventType) {
	tb.Helper()
	var got []watchdog.EventType
	for _, e := range evs[min(from, len(evs)):] {
		got = append(got, e.Type)
	}
	if !slices.Equal(got, types) {
		tb.Errorf("events %v, want exactly %v", got, types)
	}
}

func engInstanceState(st engState, name string) watchdog.State {
	for _, in := range st.Instances {
		if in.Container == name {
			return in.State
		}
	}
	return ""
}

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

// testKill: a container killed by `docker kill` counts as stopped by hand
// for docker's restart policy (it stays exited), so the watchdog reports
// container_stopped with the kill as evidence and does not recreate it. A
// container whose process dies without docker's say (SIGKILL to its pid,
// as the OOM killer or a crash would) is restarted by the restart policy,
// and the watchdog reports that, with exit code 137 as evidence.
func (e *engine) testKill(t *testing.T) {
	s := e.scenario(t, "kill")
	killed, crashed := s.name("dev", "killed"), s.name("dev", "crashed")
	s.cli("agent", "add", "dev", "--image", e.image, "--instance", "killed", "--instance", "crashed")
	beforeKilled := e.waitStatus(t, killed, "running")
	beforeCrashed := e.waitStatus(t, crashed, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	// docker kill.
	mark := len(sse.all())
	e.mustRun(t, "kill", killed)
	stopped := sse.wait(t, engineWait, mark, "container_stopped", engIs(watchdog.EventStopped, killed))
	for _, want := range []string{"Exited (137)", "kill signal=9", "die exitCode=137"} {
		if !strings.Contains(stopped.Detail, want) {
			t.Errorf("container_stopped detail %q lacks %q", stopped.Detail, want)
		}
	}
	if stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "9" || stopped.Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("container_stopped evidence %v: want kill signal 9 and exit code 137", stopped.Evidence)
	}

	// The process dies under docker: SIGKILL to the container's own pid.
	d.quiet(t)
	mark2 := len(sse.all())
	c := e.inspect(t, crashed)
	if c.Pid <= 0 {
		t.Fatalf("%s has no pid: %+v", crashed, c)
	}
	engMust(t, syscall.Kill(c.Pid, syscall.SIGKILL))
	// Either one tick saw it between the die and the restart (stopped,
	// then running), or only after the restart (restarted).
	back := sse.wait(t, engineWait, mark2, "container_restarted or container_running", func(ev engEvent) bool {
		return ev.Container == crashed && (ev.Type == watchdog.EventRestarted || ev.Type == watchdog.EventRunning)
	})
	evidence := back
	if back.Type == watchdog.EventRestarted {
		engOnly(t, sse.all()[:back.Index+1], mark2, watchdog.EventRestarted)
	} else {
		engOnly(t, sse.all()[:back.Index+1], mark2, watchdog.EventStopped, watchdog.EventRunning)
		evidence = sse.wait(t, 0, mark2, "container_stopped before container_running", engIs(watchdog.EventStopped, crashed))
	}
	t.Logf("crash reported as: %s", evidence)
	if !strings.Contains(evidence.Detail, "die exitCode=137") || evidence.Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("%s detail %q evidence %v: want die exitCode=137", evidence.Type, evidence.Detail, evidence.Evidence)
	}
	if evidence.Evidence["CONTAINER_KILL_SIGNAL"] != "" {
		t.Errorf("%s evidence %v: docker sent no signal, so no kill signal", evidence.Type, evidence.Evidence)
	}

	t0 := time.Now()
	d.ticksAfter(t, t0, 2)
	afterKilled, afterCrashed := e.inspect(t, killed), e.inspect(t, crashed)
	if afterKilled.ID != beforeKilled.ID || afterKilled.Status != "exited" || afterKilled.RestartCount != 0 {
		t.Errorf("after docker kill: %+v; want the same container, exited, not restarted (docker kill is a stop by hand)", afterKilled)
	}
	if afterCrashed.ID != beforeCrashed.ID || afterCrashed.Status != "running" || afterCrashed.RestartCount < 1 {
		t.Errorf("after the crash: %+v; want the same container running again, restarted by docker", afterCrashed)
	}
	engNoEvents(t, sse.all(), mark, "recreation", func(ev engEvent) bool {
		return ev.Type == watchdog.EventMissing || ev.Type == watchdog.EventRecreated || ev.Type == watchdog.EventRecreateFailed
	})
	engNoEvents(t, sse.all(), mark, "other report about the killed container", func(ev engEvent) bool { return ev.Container == killed && ev.Index != stopped.Index })
}

var engNextAttemptRe = regexp.MustCompile(`next attempt at (\S+)`)

// testRecreateFails: when `docker run` fails (the image is gone and there
// is no registry to pull from), container_recreate_failed carries docker's
// stderr, and the next attempt waits for --backoff-initial: the image is
// put back the moment the failure is reported, so any earlier attempt
// would succeed earlier than the backoff allows.
func (e *engine) testRecreateFails(t *testing.T) {
	s := e.scenario(t, "runfails")
	gone := strings.TrimSuffix(e.root, "-") + "-gone:v1"
	e.mustRun(t, "tag", e.image, gone)
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", gone)
	e.waitStatus(t, name, "running")
	const backoff = 3 * time.Second
	d := s.startDaemon(t, engineInterval, nil, "--backoff-initial", backoff.String())
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

// testOrphan: a managed container whose agent leaves the registry without
// a reconcile is reported once as container_orphaned and never removed.
func (e *engine) testOrphan(t *testing.T) {
	s := e.scenario(t, "orphan")
	name, kept := s.name("gone", "default"), s.name("kept", "default")
	s.cli("agent", "add", "gone", "--image", e.image)
	s.cli("agent", "add", "kept", "--image", e.image)
	before := e.waitStatus(t, name, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	mark := len(sse.all())
	s.cli("agent", "rm", "gone", "--no-reconcile")
	orphaned := sse.wait(t, engineWait, mark, "container_orphaned", engIs(watchdog.EventOrphaned, name))
	if orphaned.Agent != "gone" || orphaned.Instance != "default" {
		t.Errorf("container_orphaned names agent %q instance %q, want gone/default", orphaned.Agent, orphaned.Instance)
	}
	st := d.ticksAfter(t, time.Now(), 3)
	if got := engInstanceState(st, name); got != watchdog.StateOrphaned {
		t.Errorf("/state says %s is %q, want orphaned", name, got)
	}
	if got := engInstanceState(st, kept); got != watchdog.StateRunning {
		t.Errorf("/state says %s is %q, want running", kept, got)
	}
	after := e.inspect(t, name)
	if after.ID != before.ID || after.Status != "running" {
		t.Errorf("the orphan after 3 ticks: %+v; want the same container (%s), still running", after, before.ID[:12])
	}
	engOnly(t, sse.all(), mark, watchdog.EventOrphaned)
}

// ---------------------------------------------------------------------------
// BenchmarkEngine: scripts/bench-engine.sh runs it (CW_BENCH_ENGINE=1). It
// ignores b.N: each section is a fixed experiment against the real engine,
// and one table is printed at the end, raw samples before it.

type engRow struct{ what, value, goal string }

func BenchmarkEngine(b *testing.B) {
	if os.Getenv("CW_BENCH_ENGINE") != "1" {
		b.Skip("set CW_BENCH_ENGINE=1 (scripts/bench-engine.sh) to run the real-engine benchmark (~20 minutes)")
	}
	if b.N > 1 {
		b.Skip("one run is the experiment; use -benchtime 1x")
	}
	e := newEngine(b, "cwb")
	reps := engEnvInt("CW_BENCH_TICK_REPS", 15)
	samples := engEnvInt("CW_BENCH_LATENCY_SAMPLES", 25)
	rounds := engEnvInt("CW_BENCH_REPAIR_ROUNDS", 2)
	idle := time.Duration(engEnvInt("CW_BENCH_IDLE_SECONDS", 60)) * time.Second
	sizes := []int{10, 100, 500}
	if v := os.Getenv("CW_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			engMust(b, err)
			sizes = append(sizes, n)
		}
	}
	var rows []engRow
	fmt.Printf("engine benchmark: docker %s, image %s, prefix %s, %d CPUs\n", e.docker, e.image, e.root, runtime.NumCPU())
	sections := os.Getenv("CW_BENCH_SECTIONS") // latency,repair,tick; default all
	want := func(name string) bool { return sections == "" || slices.Contains(strings.Split(sections, ","), name) }
	if want("latency") {
		rows = append(rows, e.benchLatency(b, samples)...)
	}
	if want("repair") {
		rows = append(rows, e.benchRepair(b, rounds)...)
	}
	if want("tick") {
		rows = append(rows, e.benchTickAndIdle(b, sizes, reps, idle)...)
	}

	fmt.Println()
	fmt.Printf("%-76s %-38s %s\n", "measure", "result", "goal")
	fmt.Printf("%-76s %-38s %s\n", strings.Repeat("-", 76), strings.Repeat("-", 38), strings.Repeat("-", 12))
	for _, r := range rows {
		fmt.Printf("%-76s %-38s %s\n", r.what, r.value, r.goal)
	}
	fmt.Println("(p99 is nearest-rank: with fewer than 100 samples it is the largest one.)")
	fmt.Println()
}

func engEnvInt(k string, def int) int {
	if v := os.Getenv(k); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n > 0 {
			return n
		}
	}
	return def
}

func engMS(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// engMedian is the middle value, or the mean of the two middle ones.
func engMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile.
func engPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func engMean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(max(1, len(ds)))
}

func engRawList(ds []time.Duration) string {
	var f []string
	for _, d := range ds {
		f = append(f, engMS(d))
	}
	return strings.Join(f, " ")
}

func engInstanceNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// engInProcess is the watchdog's own Tick over the real docker CLI and a real
// registry, for creating containers in bulk and timing ticks.
type engInProcess struct {
	db *sqlite.DB
	w  *watchdog.Watcher
}

func (e *engine) inProcess(tb testing.TB, dbPath, prefix string, parallel int) *engInProcess {
	db, err := sqlite.Open(context.Background(), dbPath)
	engMust(tb, err)
	dc := &docker.Client{Runner: exec.New(60 * time.Second), Program: e.docker}
	w := &watchdog.Watcher{
		Docker: dc, Registry: db, Reconciler: &watchdog.Reconciler{Docker: dc, Prefix: prefix},
		Publisher: watchdog.PublisherFunc(func(watchdog.Event) {}), Prefix: prefix,
		Log: engDiscardLogger(), Parallelism: parallel,
		Backoff: watchdog.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Reset: time.Hour},
	}
	return &engInProcess{db: db, w: w}
}

// ensure registers agent with instances and ticks until all run.
func (p *engInProcess) ensure(tb testing.TB, agent, image string, instances []string) time.Duration {
	ctx := context.Background()
	if _, err := p.db.Agent(ctx, agent); err != nil {
		_, err = p.db.AddAgent(ctx, watchdog.Agent{Name: agent, Image: image, StatePath: "/state", Instances: instances})
		engMust(tb, err)
	} else {
		_, _, err = p.db.UpdateAgent(ctx, agent, func(a *watchdog.Agent) error { a.Instances = instances; return nil })
		engMust(tb, err)
	}
	start := time.Now()
	for try := 0; ; try++ {
		rep, err := p.w.Tick(ctx)
		engMust(tb, err)
		p.w.Wait()
		n := rep.Counts()
		if n[watchdog.StateMissing] == 0 && n[watchdog.StateStopped] == 0 && rep.Repairs == 0 {
			return time.Since(start)
		}
		if try > 20 {
			tb.Fatalf("containers not all running after %d ticks: %v", try, n)
		}
	}
}

// benchLatency: detection and repair latency of single removals, by
// polling alone (--no-events) and with docker's event stream.
func (e *engine) benchLatency(b *testing.B, samples int) []engRow {
	const interval = 5 * time.Second
	prefix := e.root + "lat-"
	b.Cleanup(func() { e.removeAll(b, prefix) })
	dir := b.TempDir()
	s := &engScenario{engine: e, prefix: prefix, dir: dir, db: filepath.Join(dir, "registry.db")}
	names := engInstanceNames("l", samples)
	p := e.inProcess(b, s.db, prefix, 8)
	took := p.ensure(b, "lat", e.image, names)
	engMust(b, p.db.Close())
	fmt.Printf("latency: created %d containers in %s\n", samples, took.Round(time.Millisecond))

	var rows []engRow
	for _, mode := range []struct {
		label  string
		args   []string
		jitter time.Duration
	}{{"polling only (--no-events)", []string{"--no-events"}, interval}, {"docker events", nil, time.Second}} {
		// Each daemon reads only its own events from the shared log.
		since := engMaxEventID(b, s.db)
		d := s.startDaemon(b, interval, nil, mode.args...)
		sse := d.subscribeSince(b, since)
		d.ticksAfter(b, time.Time{}, 1)
		var detect, repair []time.Duration
		for _, in := range names {
			name := watchdog.ContainerName(prefix, "lat", in)
			// Removals fall at random points of the tick cycle.
			time.Sleep(time.Duration(mrand.Int64N(int64(mode.jitter))))
			mark := len(sse.all())
			if _, err := e.run("rm", "-f", name); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			m := sse.wait(b, 3*interval+engineWait, mark, "container_missing", engIs(watchdog.EventMissing, name))
			r := sse.wait(b, 3*interval+engineWait, m.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
			detect = append(detect, m.Got.Sub(t0))
			repair = append(repair, r.Got.Sub(t0))
		}
		d.stop(b)
		var others []string
		for _, ev := range sse.all() {
			if ev.Type != watchdog.EventMissing && ev.Type != watchdog.EventRecreated {
				others = append(others, ev.String())
			}
		}
		fmt.Printf("raw latency %s, reports other than missing/recreated: %d %v\n", mode.label, len(others), others)
		fmt.Printf("raw latency %s, detection ms: %s\n", mode.label, engRawList(detect))
		fmt.Printf("raw latency %s, repaired ms: %s\n", mode.label, engRawList(repair))
		rows = append(rows,
			engRow{fmt.Sprintf("rm -f to container_missing on SSE, %s, interval %s (n=%d)", mode.label, interval, len(detect)),
				fmt.Sprintf("p50 %s  p99 %s  mean %s ms", engMS(engMedian(detect)), engMS(engPercentile(detect, 99)), engMS(engMean(detect))), engGoalFor(mode.args, interval)},
			engRow{fmt.Sprintf("rm -f to container_recreated on SSE, %s (n=%d)", mode.label, len(repair)),
				fmt.Sprintf("p50 %s  p99 %s  mean %s ms", engMS(engMedian(repair)), engMS(engPercentile(repair, 99)), engMS(engMean(repair))), ""})
	}
	return rows
}

func engGoalFor(args []string, interval time.Duration) string {
	if len(args) > 0 {
		return fmt.Sprintf("mean ~%s", interval/2)
	}
	return "well under 1 s"
}

// benchRepair: 100 containers missing at once, repaired by a daemon with
// the default repair pool and by one with --repair-parallelism 1. The
// daemon starts with all of them removed; the time is from its first
// container_missing to its last container_recreated (event times).
func (e *engine) benchRepair(b *testing.B, rounds int) []engRow {
	n := engEnvInt("CW_BENCH_REPAIR_N", 100)
	prefix := e.root + "rep-"
	b.Cleanup(func() { e.removeAll(b, prefix) })
	dir := b.TempDir()
	s := &engScenario{engine: e, prefix: prefix, dir: dir, db: filepath.Join(dir, "registry.db")}
	names := engInstanceNames("r", n)
	p := e.inProcess(b, s.db, prefix, 8)
	took := p.ensure(b, "rep", e.image, names)
	engMust(b, p.db.Close())
	fmt.Printf("repair: created %d containers in %s\n", n, took.Round(time.Millisecond))
	var containers []string
	for _, in := range names {
		containers = append(containers, watchdog.ContainerName(prefix, "rep", in))
	}

	times := map[string][]time.Duration{}
	modes := []struct {
		label string
		args  []string
	}{{"parallel (default pool)", nil}, {"sequential (--repair-parallelism 1)", []string{"--repair-parallelism", "1"}}}
	for round := 0; round < rounds; round++ {
		for _, mode := range modes {
			e.removeParallel(b, containers)
			// Each daemon reads only its own events from the shared log.
			since := engMaxEventID(b, s.db)
			args := append(slices.Clone(mode.args), strings.Fields(os.Getenv("CW_BENCH_REPAIR_ARGS"))...)
			d := s.startDaemon(b, time.Minute, nil, args...)
			sse := d.subscribeSince(b, since)
			var first, last time.Time
			seen := map[string]bool{}
			for len(seen) < n {
				ev := sse.wait(b, 5*time.Minute, 0, "container_recreated", func(ev engEvent) bool {
					return ev.Type == watchdog.EventRecreated && !seen[ev.Container]
				})
				seen[ev.Container] = true
				last = engMaxTime(last, ev.Time)
			}
			for _, ev := range sse.all() {
				if ev.Type == watchdog.EventMissing && (first.IsZero() || ev.Time.Before(first)) {
					first = ev.Time
				}
				if ev.Type == watchdog.EventRecreateFailed {
					b.Errorf("repair failed: %s", ev)
				}
			}
			d.stop(b)
			times[mode.label] = append(times[mode.label], last.Sub(first))
			fmt.Printf("raw repair of %d, round %d, %s: %s ms\n", n, round+1, mode.label, engMS(last.Sub(first)))
		}
	}
	par, seq := engMedian(times[modes[0].label]), engMedian(times[modes[1].label])
	return []engRow{
		{fmt.Sprintf("repair %d removed at once, %s (median of %d)", n, modes[0].label, rounds), engMS(par) + " ms", ""},
		{fmt.Sprintf("repair %d removed at once, %s (median of %d)", n, modes[1].label, rounds), engMS(seq) + " ms", ""},
		{"  speed-up parallel over sequential", fmt.Sprintf("%.2fx", float64(seq)/float64(par)), ">= 1.7x"},
	}
}

// engMaxEventID is the id of the newest event in the registry's log.
func engMaxEventID(tb testing.TB, path string) int64 {
	db, err := sqlite.Open(context.Background(), path)
	engMust(tb, err)
	defer db.Close()
	var last int64
	for {
		evs, err := db.Events(context.Background(), last, 500)
		engMust(tb, err)
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].ID
	}
}

func engMaxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// removeParallel force-removes containers, 25 per docker call, 4 calls at once.
func (e *engine) removeParallel(tb testing.TB, names []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < len(names); i += 25 {
		chunk := names[i:min(i+25, len(names))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.run(append([]string{"rm", "-f"}, chunk...)...); err != nil {
				tb.Logf("docker rm: %v", err)
			}
		}()
	}
	wg.Wait()
}

// benchTickAndIdle: the watchdog's Tick (in-process, real docker CLI, real
// registry) against the bare `docker ps` it makes, interleaved, at each
// size; then the daemon's memory and CPU at rest with the largest set.
func (e *engine) benchTickAndIdle(b *testing.B, sizes []int, reps int, idle time.Duration) []engRow {
	prefix := e.root + "tick-"
	b.Cleanup(func() { e.removeAll(b, prefix) })
	dir := b.TempDir()
	s := &engScenario{engine: e, prefix: prefix, dir: dir, db: filepath.Join(dir, "registry.db")}
	p := e.inProcess(b, s.db, prefix, 12)
	ctx := context.Background()
	psArgs := docker.PSArgs("^" + regexp.QuoteMeta(prefix))
	var rows []engRow
	for _, size := range sizes {
		took := p.ensure(b, "tick", e.image, engInstanceNames("t", size))
		fmt.Printf("tick: %d containers running (created in %s)\n", size, took.Round(time.Millisecond))
		// Warm both paths once.
		_, _ = p.w.Tick(ctx)
		_, _ = e.run(psArgs...)
		var ticks, pss []time.Duration
		for i := 0; i < reps; i++ {
			order := []bool{i%2 == 0, i%2 != 0} // alternate which goes first
			for _, tickFirst := range order {
				if tickFirst {
					start := time.Now()
					rep, err := p.w.Tick(ctx)
					d := time.Since(start)
					engMust(b, err)
					if c := rep.Counts(); c[watchdog.StateRunning] != size || rep.Repairs != 0 {
						b.Fatalf("tick at %d saw %v", size, c)
					}
					ticks = append(ticks, d)
				} else {
					start := time.Now()
					out, err := e.run(psArgs...)
					d := time.Since(start)
					engMust(b, err)
					if got := strings.Count(out, "\n"); got != size {
						b.Fatalf("docker ps listed %d, want %d", got, size)
					}
					pss = append(pss, d)
				}
			}
		}
		fmt.Printf("raw tick at %d, Tick ms: %s\n", size, engRawList(ticks))
		fmt.Printf("raw tick at %d, docker ps ms: %s\n", size, engRawList(pss))
		mt, mp := engMedian(ticks), engMedian(pss)
		rows = append(rows, engRow{fmt.Sprintf("tick vs bare docker ps, %d containers (median of %d)", size, reps),
			fmt.Sprintf("%s vs %s ms = %.3f", engMS(mt), engMS(mp), float64(mt)/float64(mp)), "<= 1.10"})
	}
	p.w.Wait()
	engMust(b, p.db.Close())

	// Idle: the real daemon, default interval, events on, the largest set.
	size := sizes[len(sizes)-1]
	d := s.startDaemon(b, 60*time.Second, nil)
	engWaitUntil(b, engineWait, "first tick", func() (bool, string) {
		code := d.healthz(b)
		return code == http.StatusOK, strconv.Itoa(code)
	})
	pid := d.cmd.Process.Pid
	time.Sleep(2 * time.Second) // let the start-up tick's children finish
	u0, c0 := engProcCPU(b, pid)
	start := time.Now()
	time.Sleep(idle)
	u1, c1 := engProcCPU(b, pid)
	wall := time.Since(start)
	rss, hwm := engProcRSS(b, pid)
	st := d.state(b)
	d.stop(b)
	own := (u1 - u0).Seconds() / wall.Seconds() * 100
	kids := (c1 - c0).Seconds() / wall.Seconds() * 100
	fmt.Printf("raw idle: %d containers, window %s, daemon cpu %.3fs, reaped children (docker CLI) cpu %.3fs, VmRSS %d KiB, VmHWM %d KiB, last tick %.1f ms\n",
		size, wall.Round(time.Millisecond), (u1 - u0).Seconds(), (c1 - c0).Seconds(), rss, hwm, st.Tick.DurationMS)
	return append(rows,
		engRow{fmt.Sprintf("daemon RSS idle, %d containers (VmRSS; peak VmHWM)", size), fmt.Sprintf("%.1f MiB (peak %.1f MiB)", float64(rss)/1024, float64(hwm)/1024), "< 30 MiB"},
		engRow{fmt.Sprintf("daemon CPU idle, %d containers, %s window, interval 60s", size, wall.Round(time.Second)), fmt.Sprintf("%.3f%% (+%.3f%% docker CLI)", own, kids), "< 1%"},
	)
}

// engProcCPU returns the process's own CPU time and that of its reaped
// children (utime+stime, cutime+cstime in /proc/PID/stat).
func engProcCPU(tb testing.TB, pid int) (own, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	engMust(tb, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the name start at 3 (state): utime is 14, so index 11.
	tick := func(i int) time.Duration {
		n, err := strconv.ParseInt(f[i], 10, 64)
		engMust(tb, err)
		return time.Duration(n) * time.Second / 100 // USER_HZ is 100 on Linux
	}
	return tick(11) + tick(12), tick(13) + tick(14)
}

func engProcRSS(tb testing.TB, pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	engMust(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			n, _ := strconv.Atoi(f[1])
			if f[0] == "VmRSS:" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm
}

func engDiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testStartupRace: a container that dies while a tick looks is reported
// as stopped, with its evidence, never as restarted. A tick whose `docker
// ps` was taken just before the death, or just after it (dockerd publishes
// "die" before `docker ps` stops saying running), sees it running with a
// die in the evidence; it once reported container_restarted ("restarted by
// docker's restart policy") for a container docker never restarted, and
// consumed the kill/die evidence the real report then lacked. Acting right
// after the daemon's first tick lands in the tick its docker events
// follower asks for on connecting: that hit the window 5 times out of 5.
func (e *engine) testStartupRace(t *testing.T) {
	s := e.scenario(t, "race")
	const tries = 5
	var instances []string
	for i := range tries {
		instances = append(instances, fmt.Sprintf("r%d", i))
	}
	s.cli(append([]string{"agent", "add", "dev", "--image", e.image}, engFlagEach("--instance", instances)...)...)
	hits := 0
	for _, in := range instances {
		name := s.name("dev", in)
		e.waitStatus(t, name, "running")
		d := s.startDaemon(t, engineInterval, nil)
		sse := d.subscribe(t)
		d.ticksAfter(t, time.Time{}, 1)
		e.mustRun(t, "kill", name)
		stopped := sse.wait(t, engineWait, 0, "container_stopped", engIs(watchdog.EventStopped, name))
		var got []string
		for _, ev := range sse.all()[:stopped.Index+1] {
			if ev.Container == name {
				got = append(got, ev.String())
			}
		}
		if len(got) != 1 || stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "9" {
			hits++
			t.Errorf("docker kill of %s (docker does not restart it): want one container_stopped with the kill as evidence, got:\n%s", name, strings.Join(got, "\n"))
		}
		d.stop(t)
	}
	t.Logf("race hit %d of %d times", hits, tries)
}

func engFlagEach(flag string, vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, flag, v)
	}
	return out
}
