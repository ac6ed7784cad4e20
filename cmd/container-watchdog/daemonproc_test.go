package main

// A daemon process for Go tests (the browser and metrics tests): the real
// binary (this test binary as `container-watchdog`, found through the PATH
// testscript.Main set up) against the fake docker, each with its state in a
// temp dir. Every process started here is stopped by its pid at cleanup.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type daemonProc struct {
	t    testing.TB
	dir  string
	env  []string
	addr string // host:port, kept across restarts

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *os.File
}

// newDaemonProc prepares a registry and a fake docker in a temp dir.
func newDaemonProc(t testing.TB) *daemonProc {
	t.Helper()
	if _, err := exec.LookPath("container-watchdog"); err != nil {
		t.Fatalf("container-watchdog is not on PATH (testscript.Main puts it there): %v", err)
	}
	dir := t.TempDir()
	env := withoutEnv(os.Environ(), "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
		"CONTAINER_WATCHDOG_DB", "CONTAINER_WATCHDOG_DOCKER", "CONTAINER_WATCHDOG_PREFIX", "FAKEDOCKER_STATE", "FAKEDOCKER_LOG")
	env = append(env, "CONTAINER_WATCHDOG_DB="+filepath.Join(dir, "registry.db"),
		"FAKEDOCKER_STATE="+filepath.Join(dir, "docker.json"), "CONTAINER_WATCHDOG_DOCKER_TIMEOUT=5s")
	d := &daemonProc{t: t, dir: dir, env: env}
	t.Cleanup(d.stop)
	return d
}

// run runs a short command (the CLI or the fake docker) and returns its
// combined output, failing the test when it fails.
func (d *daemonProc) run(prog string, args ...string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitFollowing waits until the daemon follows docker's events: the fake
// docker logged the follower's call and, after it, the listing of the
// full tick the follower's start asks for (a settle later), so the stream
// is read by now and a change made next reaches it.
func (d *daemonProc) waitFollowing(within time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(filepath.Join(d.dir, "docker.log"))
		if i := bytes.Index(b, []byte("\nevents --filter")); i >= 0 && bytes.Contains(b[i:], []byte("\nps ")) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon does not follow docker events after %s; docker.log:\n%s", within, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs `container-watchdog run` (on the same address as before after
// a stop) and waits until it has completed its first tick.
func (d *daemonProc) start(args ...string) {
	d.t.Helper()
	d.mu.Lock()
	if d.cmd != nil {
		d.mu.Unlock()
		d.t.Fatal("daemon already running")
	}
	listen := d.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	addrFile := filepath.Join(d.dir, "addr")
	os.Remove(addrFile)
	stderr, err := os.OpenFile(filepath.Join(d.dir, "daemon.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		d.mu.Unlock()
		d.t.Fatal(err)
	}
	argv := append([]string{"run", "--listen", listen, "--addr-file", addrFile, "--interval", "60s", "--settle", "50ms"}, args...)
	cmd := exec.Command("container-watchdog", argv...)
	cmd.Env, cmd.Stdout, cmd.Stderr = d.env, stderr, stderr
	// Its own process group: at cleanup the group (the daemon and the
	// `docker events` it runs) is signalled by the daemon's pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		d.t.Fatalf("start daemon: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	d.cmd, d.exited, d.stderr = cmd, exited, stderr
	d.mu.Unlock()

	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(b), "\n") {
			d.addr = strings.TrimSpace(string(b))
			break
		}
		select {
		case <-exited:
			d.t.Fatalf("daemon exited at start:\n%s", d.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon wrote no address within 20s:\n%s", d.log())
		}
	}
	d.waitHealthy(20 * time.Second)
}

// waitHealthy polls /healthz until a tick has completed.
func (d *daemonProc) waitHealthy(within time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(d.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon not healthy within %s (%v):\n%s", within, err, d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemonProc) url(path string) string { return "http://" + d.addr + path }

// stop sends SIGTERM and waits for a clean exit; a daemon that does not go
// within 10 s has its process group killed. Safe to call when stopped.
func (d *daemonProc) stop() {
	d.mu.Lock()
	cmd, exited, stderr := d.cmd, d.exited, d.stderr
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	defer stderr.Close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		d.t.Errorf("daemon pid %d did not stop within 10s of SIGTERM; killing its group", cmd.Process.Pid)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	// Anything of its group left behind (a docker call it ran) goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func (d *daemonProc) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "daemon.log"))
	return tail(string(b), 40)
}

// getJSON GETs path from the daemon into v.
func (d *daemonProc) getJSON(path string, v any) {
	d.t.Helper()
	resp, err := http.Get(d.url(path))
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		d.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// loggedEvents is the event log as `events --json` prints it.
func (d *daemonProc) loggedEvents() []loggedEvent {
	d.t.Helper()
	var out []loggedEvent
	for _, line := range strings.Split(strings.TrimSpace(d.run("container-watchdog", "events", "--json")), "\n") {
		if line == "" {
			continue
		}
		var e loggedEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			d.t.Fatalf("events --json: %v: %s", err, line)
		}
		out = append(out, e)
	}
	return out
}

type loggedEvent struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Container string `json:"container"`
}

// waitEvent waits until the log holds an event of typ for container with an
// id above after, and returns its id.
func (d *daemonProc) waitEvent(after int64, typ, container string, within time.Duration) int64 {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, e := range d.loggedEvents() {
			if e.ID > after && e.Type == typ && e.Container == container {
				return e.ID
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no %s of %s after id %d within %s; log: %+v\n%s", typ, container, after, within, d.loggedEvents(), d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowRunDocker writes a docker wrapper whose `run` takes delay, as a real
// engine's does (0.3-0.45 s here), around the fake, and returns its path.
func (d *daemonProc) slowRunDocker(delay time.Duration) string {
	d.t.Helper()
	fake, err := exec.LookPath("docker")
	if err != nil {
		d.t.Fatal(err)
	}
	path := filepath.Join(d.dir, "docker-slow-run")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = run ] && sleep %.3f\nexec %q \"$@\"\n", delay.Seconds(), fake)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		d.t.Fatal(err)
	}
	return path
}
