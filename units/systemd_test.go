//go:build linux

// Package units_test runs the shipped unit files under a real systemd.
//
// TestSystemdUnits starts /lib/systemd/systemd as PID 1 of a new PID and
// mount namespace with only the shipped units (plus stub targets and a
// test drop-in) on its unit path, then checks what the contract promises:
// the socket listens before the service runs and activates it, a client on
// that socket gets the SSE stream, ExecStartPre reconciles, the service
// reaches active only after READY=1, and a loop that stops pinging is
// killed by the watchdog and restarted by systemd.
package units_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

// fakeDockerEnv makes this test binary act as the docker CLI: the test
// copies itself into the service's bin folder as `docker`.
const fakeDockerEnv = "CW_TEST_FAKE_DOCKER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeDockerEnv) == "1" {
		os.Exit(fakedocker.Main())
	}
	os.Exit(m.Run())
}

const (
	systemdBin = "/lib/systemd/systemd"
	service    = "container-watchdog.service"
	socketUnit = "container-watchdog.socket"
	cgroup2Fs  = 0x63677270 // CGROUP2_SUPER_MAGIC
)

// unavailable skips the test because a real component is missing, except
// in CI (CI=true), where a missing component is a failure: CI must run it.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("real systemd test cannot run, and CI=true requires it: %s", msg)
	}
	t.Skipf("skipping real systemd test: %s (CI=true makes this fatal)", msg)
}

func TestSystemdUnits(t *testing.T) {
	if os.Geteuid() != 0 {
		unavailable(t, "needs root to run systemd in its own PID and mount namespace (euid %d)", os.Geteuid())
	}
	if _, err := os.Stat(systemdBin); err != nil {
		unavailable(t, "no %s: %v", systemdBin, err)
	}
	for _, tool := range []string{"timeout", "unshare", "nsenter", "systemctl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not on PATH: %v", tool, err)
		}
	}
	if out, err := exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc", "true").CombinedOutput(); err != nil {
		unavailable(t, "unshare --pid --mount does not work here (%v): %s", err, bytes.TrimSpace(out))
	}
	cgRoot, cgMount := cgroup2Root(t)

	// The service runs with PrivateTmp= (a private /tmp and /var/tmp) and
	// ProtectSystem=strict, so everything it touches lives outside /tmp:
	// under /var/lib, made writable by ReadWritePaths= in the drop-in. Not
	// /run: systemd mounts a fresh tmpfs on /run in its namespace when the
	// host's /run is not a mount point, which would hide the folder.
	dir, err := os.MkdirTemp("/var/lib", "cwtest-")
	if err != nil {
		unavailable(t, "cannot make a test folder under /var/lib: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, state, units := filepath.Join(dir, "bin"), filepath.Join(dir, "state"), filepath.Join(dir, "units")
	for _, d := range []string{bin, state, units} {
		must(t, os.MkdirAll(d, 0o755))
	}
	// StateDirectory=container-watchdog makes systemd create this folder on
	// the real filesystem; take it away again if the test made it.
	const stateDir = "/var/lib/container-watchdog"
	if _, err := os.Stat(stateDir); errors.Is(err, os.ErrNotExist) {
		t.Cleanup(func() { os.Remove(stateDir) }) // only if still empty
	}
	// PrivateTmp= makes systemd create /tmp/systemd-private-*-<unit>-* and
	// /var/tmp/... on the real filesystem (its namespace shares them); take
	// away those this run made.
	privateTmp := func() map[string]bool {
		m := map[string]bool{}
		for _, root := range []string{"/tmp", "/var/tmp"} {
			found, _ := filepath.Glob(filepath.Join(root, "systemd-private-*-container-watchdog.service-*"))
			for _, f := range found {
				m[f] = true
			}
		}
		return m
	}
	before := privateTmp()
	t.Cleanup(func() {
		for f := range privateTmp() {
			if !before[f] {
				os.RemoveAll(f)
			}
		}
	})

	cw := filepath.Join(bin, "container-watchdog")
	build := exec.Command("go", "build", "-o", cw, "github.com/container-watchdog/container-watchdog/cmd/container-watchdog")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	must(t, err)
	docker := filepath.Join(bin, "docker")
	copyFile(t, self, docker, 0o755)

	db := filepath.Join(state, "registry.db")
	dockerState := filepath.Join(state, "docker.json")
	stdoutLog := filepath.Join(state, "stdout.log")
	stderrLog := filepath.Join(state, "stderr.log")
	console := newConsole(t)

	// One agent, registered without touching docker: the ExecStartPre
	// reconcile is what creates its container.
	add := exec.Command(cw, "agent", "add", "dev", "--image", "agent:1", "--no-reconcile")
	add.Env = append(os.Environ(), "CONTAINER_WATCHDOG_DB="+db, "CONTAINER_WATCHDOG_DOCKER="+docker, "FAKEDOCKER_STATE="+dockerState, fakeDockerEnv+"=1")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("agent add: %v\n%s", err, out)
	}

	port := freePort(t)
	writeUnits(t, units, unitConfig{
		cw: cw, docker: docker, state: state, db: db, dockerState: dockerState,
		stdout: stdoutLog, stderr: stderrLog, port: port,
	})

	// A cgroup of our own on the host's cgroup2 hierarchy: systemd takes its
	// own cgroup as its root, so init.scope, system.slice and its clean-up
	// of empty cgroups stay inside it, and it is removed at the end.
	cg := filepath.Base(dir)
	must(t, os.Mkdir(filepath.Join(cgRoot, cg), 0o755))
	t.Cleanup(func() { removeCgroup(t, filepath.Join(cgRoot, cg)) })

	mountCg := "0"
	if cgMount {
		mountCg = "1"
	}
	// Before exec'ing systemd (so the child of unshare is systemd itself):
	//  - on a hybrid host, mount cgroup2 on /sys/fs/cgroup in this mount
	//    namespace, so systemd runs in unified mode and never creates
	//    folders in, or remounts read-only, the host's shared cgroup tmpfs;
	//  - enter our cgroup;
	//  - bind a pty of ours over /dev/console, where PID 1 logs (--log-
	//    target=console; it wants a terminal there), to keep its log for
	//    the assertions and off the host's console.
	// mount -n keeps util-linux from writing /run/mount/utab on the host.
	script := `set -eu
if [ "$CW_CGROUP_MOUNT" = 1 ]; then mount -n -t cgroup2 cgroup2 /sys/fs/cgroup; fi
echo $$ > "/sys/fs/cgroup/$CW_CGROUP/cgroup.procs"
mount -n --bind "$CW_CONSOLE" /dev/console
exec ` + systemdBin + ` --system --unit=cwtest.target --log-target=console --show-status=no
`
	var out bytes.Buffer
	cmd := exec.Command("timeout", "-k", "3", "400",
		"unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc",
		"/bin/sh", "-c", script, "cwtest-init")
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		// Only our folder: no trailing colon, which would add the system's
		// own units (and their sysinit.target).
		"SYSTEMD_UNIT_PATH=" + units,
		"CW_CGROUP=" + cg,
		"CW_CGROUP_MOUNT=" + mountCg,
		"CW_CONSOLE=" + console.path,
		"SYSTEMD_COLORS=0",
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // dies with the test binary
	must(t, cmd.Start())
	var sdPid int
	t.Cleanup(func() {
		// The process group is timeout and unshare; systemd (PID 1 of its
		// namespace) dies with unshare (--kill-child), and every process in
		// the namespace dies with it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if sdPid > 0 {
			waitFor(t, 30*time.Second, "namespaced systemd to exit", func() (bool, string) {
				_, err := os.Stat("/proc/" + strconv.Itoa(sdPid))
				return errors.Is(err, os.ErrNotExist), "still there"
			})
		}
		if t.Failed() {
			t.Logf("unshare/timeout output:\n%s", out.String())
			t.Logf("--- systemd's console:\n%s", tail(console.bytes(), 8000))
			for _, f := range []string{stdoutLog, stderrLog, filepath.Join(state, "docker.log")} {
				b, _ := os.ReadFile(f)
				t.Logf("--- %s:\n%s", f, tail(b, 8000))
			}
		}
	})

	// The host pid of systemd: the child of unshare, the child of timeout.
	waitFor(t, 30*time.Second, "systemd to start in its namespace", func() (bool, string) {
		u := childOf(cmd.Process.Pid)
		if u == 0 {
			return false, "no unshare yet: " + out.String()
		}
		sdPid = childOf(u)
		if sdPid == 0 {
			return false, "no child of unshare yet"
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sdPid))
		return strings.TrimSpace(string(comm)) == "systemd", "child of unshare is " + string(comm)
	})
	sd := &manager{pid: sdPid}

	// 1. The socket listens while the service has not run.
	waitFor(t, 60*time.Second, "the socket to listen", func() (bool, string) {
		p, err := sd.show(socketUnit)
		return err == nil && p["ActiveState"] == "active" && p["SubState"] == "listening", fmt.Sprint(p, err)
	})
	p, err := sd.show(service)
	must(t, err)
	if p["ActiveState"] != "inactive" || p["MainPID"] != "0" {
		t.Fatalf("before any connection the service should not run, got %v", p)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the activated socket while the service is inactive: %v", err)
	}
	defer conn.Close()

	// 2. That connection activates the service, which serves it: the SSE
	// stream with its retry: line.
	must(t, conn.SetDeadline(time.Now().Add(120*time.Second)))
	_, err = io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
	must(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the /events response on the first connection: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /events: %s, Content-Type %q; want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"))
	}
	sse := bufio.NewReader(resp.Body)
	for {
		line, err := sse.ReadString('\n')
		if err != nil {
			t.Fatalf("read the SSE stream before its retry: line: %v", err)
		}
		if strings.HasPrefix(line, "retry:") {
			break
		}
	}
	conn.Close()

	// 3. READY=1 (listener serving and first tick done) makes it active.
	waitFor(t, 120*time.Second, "the service to become active", func() (bool, string) {
		p, err := sd.show(service)
		return err == nil && p["ActiveState"] == "active", fmt.Sprint(p, err)
	})
	p, err = sd.show(service)
	must(t, err)
	firstPid := p["MainPID"]
	if firstPid == "0" || p["NRestarts"] != "0" {
		t.Fatalf("active service: want a MainPID and no restart yet, got %v", p)
	}
	if p["StatusText"] == "" {
		t.Errorf("no STATUS= after the first tick: %v", p)
	}
	// ExecStartPre=-... reconcile --all ran before the daemon and created
	// the registered agent's container (its stdout lands in stdout.log).
	b, err := os.ReadFile(stdoutLog)
	must(t, err)
	if !strings.Contains(string(b), "created claude-hooks-dev-default") {
		t.Fatalf("ExecStartPre reconcile --all did not report creating claude-hooks-dev-default; stdout.log:\n%s", b)
	}
	// The loop keeps ticking: /healthz answers 200 on the activated socket.
	client := &http.Client{Timeout: 10 * time.Second}
	waitFor(t, 60*time.Second, "/healthz to answer 200", func() (bool, string) {
		r, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err != nil {
			return false, err.Error()
		}
		r.Body.Close()
		return r.StatusCode == 200, r.Status
	})

	// 4. A frozen process stops pinging, as an operator would see a hung
	// one: WatchdogSec=4 makes systemd kill it (SIGABRT, with SIGCONT so a
	// stopped process gets it) and Restart=on-failure starts a new one.
	must(t, sd.signal("STOP", firstPid))
	waitFor(t, 120*time.Second, "the watchdog to kill the frozen service and systemd to restart it", func() (bool, string) {
		p, err := sd.show(service)
		if err != nil {
			return false, err.Error()
		}
		n, _ := strconv.Atoi(p["NRestarts"])
		return n >= 1 && p["MainPID"] != "0" && p["MainPID"] != firstPid, fmt.Sprint(p)
	})
	if b := console.bytes(); !bytes.Contains(b, []byte("Watchdog timeout")) {
		t.Errorf("systemd's log does not mention the watchdog timeout:\n%s", tail(b, 4000))
	}
	// GOTRACEBACK=crash: the SIGABRT left the goroutines' stacks behind.
	if b, _ := os.ReadFile(stderrLog); !bytes.Contains(b, []byte("SIGABRT")) {
		t.Errorf("no SIGABRT stack trace in the service's stderr:\n%s", tail(b, 4000))
	}
	// 5. The new process completes a tick and is active again.
	waitFor(t, 120*time.Second, "the restarted service to become active", func() (bool, string) {
		p, err := sd.show(service)
		return err == nil && p["ActiveState"] == "active", fmt.Sprint(p, err)
	})
}

type unitConfig struct {
	cw, docker, state, db, dockerState, stdout, stderr string
	port                                               int
}

// writeUnits lays out the unit folder: the shipped units verbatim, stub
// targets, the target that wants the socket, and the test's drop-ins.
func writeUnits(t *testing.T, dir string, c unitConfig) {
	t.Helper()
	for _, u := range []string{service, socketUnit} {
		copyFile(t, u, filepath.Join(dir, u), 0o644)
	}
	for _, tg := range []string{"sysinit", "basic", "sockets", "shutdown", "multi-user", "network", "network-online"} {
		writeFile(t, filepath.Join(dir, tg+".target"), "[Unit]\nDescription=stub "+tg+"\nDefaultDependencies=no\n")
	}
	writeFile(t, filepath.Join(dir, "cwtest.target"), `[Unit]
Description=container-watchdog test
DefaultDependencies=no
Wants=container-watchdog.socket
After=container-watchdog.socket
`)
	// Only what the test must change: the binary, the paths, a short
	// watchdog. The docker timeout is short so that interval (1s) + docker
	// timeout (1s) fits half of WatchdogSec=4 without clamping; reconcile
	// keeps a long one.
	writeFile(t, filepath.Join(dir, service+".d", "test.conf"), fmt.Sprintf(`[Service]
ExecStart=
ExecStart=%[1]s run --interval 1s
ExecStartPre=
ExecStartPre=-%[1]s reconcile --all --docker-timeout 60s
User=root
WatchdogSec=4
ReadWritePaths=%[3]s
Environment=CONTAINER_WATCHDOG_DB=%[4]s
Environment=CONTAINER_WATCHDOG_DOCKER=%[2]s
Environment=CONTAINER_WATCHDOG_DOCKER_TIMEOUT=1s
Environment=FAKEDOCKER_STATE=%[5]s
Environment=%[8]s=1
StandardOutput=append:%[6]s
StandardError=append:%[7]s
`, c.cw, c.docker, c.state, c.db, c.dockerState, c.stdout, c.stderr, fakeDockerEnv))
	writeFile(t, filepath.Join(dir, socketUnit+".d", "test.conf"), fmt.Sprintf("[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n", c.port))
}

// console is a pty whose slave end stands in for /dev/console; what is
// written there is collected from the master end.
type console struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newConsole(t *testing.T) *console {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		unavailable(t, "no pty for systemd's console: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		master.Close()
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		master.Close()
		t.Fatalf("pty number: %v", e)
	}
	c := &console{path: fmt.Sprintf("/dev/pts/%d", n)}
	// Hold the slave open so reads on the master do not fail with EIO
	// between systemd's writes (it opens the console for each message).
	slave, err := os.OpenFile(c.path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("open %s: %v", c.path, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			c.mu.Lock()
			c.buf.Write(bytes.ReplaceAll(b[:n], []byte("\r"), nil))
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		// Runs after systemd is gone: with the last slave closed, the
		// master's read fails and the reader ends.
		slave.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("the console reader did not stop")
		}
		master.Close()
	})
	return c
}

func (c *console) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// manager talks to the namespaced systemd through nsenter.
type manager struct{ pid int }

func (m *manager) show(unit string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(m.pid), "-m", "-p",
		"systemctl", "show", "-p", "ActiveState,SubState,MainPID,NRestarts,StatusText", unit).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("systemctl show %s: %v: %s", unit, err, bytes.TrimSpace(out))
	}
	p := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	return p, nil
}

// signal sends SIG to pid as the namespaced systemd sees it: PIDs inside
// are not host PIDs, so never a host kill of that number.
func (m *manager) signal(sig, pid string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(m.pid), "-m", "-p",
		"kill", "-"+sig, pid).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kill -%s %s: %v: %s", sig, pid, err, bytes.TrimSpace(out))
	}
	return nil
}

// cgroup2Root finds the host's cgroup2 hierarchy and whether it has to be
// mounted on /sys/fs/cgroup in the namespace (hybrid hosts).
func cgroup2Root(t *testing.T) (string, bool) {
	t.Helper()
	for _, c := range []struct {
		path  string
		mount bool
	}{{"/sys/fs/cgroup", false}, {"/sys/fs/cgroup/unified", true}} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(c.path, &st); err == nil && st.Type == cgroup2Fs {
			return c.path, c.mount
		}
	}
	unavailable(t, "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return "", false
}

// removeCgroup removes a cgroup tree once its processes are gone.
func removeCgroup(t *testing.T, root string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		var last error
		for i := len(dirs) - 1; i >= 0; i-- { // children first
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				last = err
			}
		}
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("cannot remove test cgroup %s: %v", root, last)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// childOf returns a child of pid (the first found), or 0.
func childOf(pid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return n
		}
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", d, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, mode))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
