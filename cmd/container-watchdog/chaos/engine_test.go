package chaos

// A docker engine of the suite's own: dockerd in a network namespace of
// its own (never the host's: a dockerd there once deleted the machine's
// docker0 bridge), with its data, exec root, socket and cgroup parent
// under names of this run. The world runs on one; the engine restarts
// scenario restarts another. The machine's own engine is never used,
// stopped, restarted or reconfigured.

import (
	"bufio"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateEngine is one dockerd of the suite's own.
type privateEngine struct {
	w      *world
	dir    string
	host   string // DOCKER_HOST=unix://<dir>/docker.sock
	cgroup string // --cgroup-parent, a name of this run
	cmd    *osexec.Cmd
	done   chan struct{}
}

func newPrivateEngine(t testing.TB, w *world, tag string) *privateEngine {
	dir, err := os.MkdirTemp("", "cwc-engine-") // short: the socket's path has 108 bytes
	must(t, err)
	p := &privateEngine{w: w, dir: dir, host: "DOCKER_HOST=unix://" + filepath.Join(dir, "docker.sock"),
		cgroup: strings.TrimSuffix(w.root, "-") + tag}
	// Only the storage driver: the machine's daemon.json sets a data root,
	// which would clash with --data-root.
	must(t, os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(`{"storage-driver": "fuse-overlayfs"}`), 0o600))
	t.Cleanup(func() { p.remove(t) })
	return p
}

// env is what a docker CLI needs to talk to this engine.
func (p *privateEngine) env() []string { return []string{p.host} }

// start starts dockerd and returns when it answers, with how long that took.
func (p *privateEngine) start(t testing.TB) time.Duration {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(p.dir, "dockerd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	must(t, err)
	defer logf.Close()
	script := `ip link set lo up && exec dockerd --config-file "$1/daemon.json" --host "unix://$1/docker.sock" ` +
		`--data-root "$1/root" --exec-root "$1/exec" --pidfile "$1/docker.pid" --iptables=false --cgroup-parent "/$2"`
	// If the test binary dies before its cleanup (go test's timeout), unshare
	// gets SIGTERM and passes it on, so dockerd shuts down its containers.
	p.cmd = osexec.Command("unshare", "--net", "--fork", "--kill-child=SIGTERM", "sh", "-c", script, "sh", p.dir, p.cgroup)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p.cmd.Env = p.w.env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	began := time.Now()
	must(t, p.cmd.Start())
	p.done = make(chan struct{})
	go func(cmd *osexec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := p.w.runEnv(ctx, p.env(), "version", "--format", "{{.Server.Version}}")
		cancel()
		if err == nil {
			return time.Since(began)
		}
		select {
		case <-p.done:
			t.Fatalf("private dockerd exited: %v\n%s", p.cmd.ProcessState, p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("private dockerd did not answer within a minute: %v\n%s", err, p.logTail())
		}
	}
}

// stop stops dockerd by its pid (SIGTERM: it stops its containers, as on
// a host shutdown or an engine upgrade) and waits until it is gone.
func (p *privateEngine) stop(t testing.TB) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, "docker.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Errorf("private dockerd did not stop within a minute of SIGTERM; killing its unshare (pid %d), which kills it", p.cmd.Process.Pid)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *privateEngine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "dockerd.log"))
	return tail(string(b), 20)
}

// remove removes the engine's containers, stops it, and leaves nothing
// behind: no mount under its folder, no cgroup of its parent, no folder.
func (p *privateEngine) remove(t testing.TB) {
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			p.w.removeAll(t, "", p.env())
			p.stop(t)
		}
	}
	// A dockerd that had to be killed leaves its containerd, shims and
	// containers: they are ours by their folder and cgroup.
	for _, pid := range processesUsing(p.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsUnder(p.dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
	cgroups, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", p.cgroup))
	if own, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", p.cgroup)); len(own) > 0 {
		cgroups = append(cgroups, own...)
	}
	for _, cg := range cgroups {
		removeCgroup(t, cg)
	}
	if err := os.RemoveAll(p.dir); err != nil {
		t.Errorf("remove the private engine's folder: %v", err)
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append([]string{fields[4]}, out...)
		}
	}
	return out
}

// processesUsing returns the pids whose command line names dir.
func processesUsing(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroup removes a cgroup folder, its children first, killing any
// process left in it (the engine's, by the cgroup's name of this run).
func removeCgroup(t testing.TB, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroup(t, filepath.Join(dir, e.Name()))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond) // the kernel empties it as they die
	}
	if err := syscall.Rmdir(dir); err != nil && !os.IsNotExist(err) {
		t.Errorf("remove cgroup %s: %v", dir, err)
	}
}
