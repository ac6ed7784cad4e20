package chaos

// The suite's world: the docker CLI, the built binary, the test image, the
// run's name prefix, and the clean-up of everything named with it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// agentSource is the test image's /agent: it sleeps until SIGTERM or
// SIGINT, then exits 0.
const agentSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
`

const binPackage = "github.com/container-watchdog/container-watchdog/cmd/container-watchdog"

// world is one run of the suite: what it runs and how it names things.
type world struct {
	docker string // absolute path of the real docker CLI
	bin    string // container-watchdog, built for this run
	image  string // the test image, a tag unique to this run
	root   string // every name this run creates starts with it: cwc1a2b3c-
	env    []string
	work   string
	agent  string // the image's root folder, to import it into other engines
}

// need skips the suite with why, or fails it under CI=true.
func need(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true, but %s", why)
	}
	tb.Skipf("%s; skipping the chaos suite (CI=true makes this a failure)", why)
}

// newWorld checks for root and what a private engine needs, starts one,
// builds the binary and the image, and registers the removal of
// everything named with the prefix, and of the engine.
//
// Every scenario runs against the world's own dockerd (in a network
// namespace of its own; DOCKER_HOST in w.env points every docker call,
// daemon and command there): the machine's engine is never touched, and
// other work on it (another engineer's hundreds of containers) neither
// slows the suite nor wedges it.
func newWorld(tb testing.TB) *world {
	tb.Helper()
	if os.Geteuid() != 0 {
		need(tb, "the chaos suite needs root (mount namespaces, a private dockerd)")
	}
	for _, prog := range []string{"unshare", "nsenter", "ip", "dockerd", "fuse-overlayfs"} {
		if _, err := osexec.LookPath(prog); err != nil {
			need(tb, fmt.Sprintf("%s is not installed (scripts/ci-setup.sh installs it)", prog))
		}
	}
	w := &world{root: "cwc" + randomHex(3) + "-", work: tb.TempDir(), env: childEnv()}
	var err error
	if w.docker, err = osexec.LookPath("docker"); err != nil {
		need(tb, "no docker CLI on PATH")
	}
	w.bin = filepath.Join(w.work, "container-watchdog")
	goBuild(tb, "", w.bin, nil, binPackage)
	w.agent = filepath.Join(w.work, "agent")
	rootfs := filepath.Join(w.agent, "rootfs")
	must(tb, os.MkdirAll(rootfs, 0o755))
	must(tb, os.WriteFile(filepath.Join(w.agent, "main.go"), []byte(agentSource), 0o644))
	must(tb, os.WriteFile(filepath.Join(w.agent, "go.mod"), []byte("module agent\n\ngo 1.21\n"), 0o644))
	goBuild(tb, w.agent, filepath.Join(rootfs, "agent"), []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod"}, ".")
	tarball := filepath.Join(w.agent, "agent.tar")
	if out, err := osexec.Command("tar", "-C", rootfs, "-cf", tarball, "agent").CombinedOutput(); err != nil {
		tb.Fatalf("tar the agent: %v: %s", err, out)
	}
	eng := newPrivateEngine(tb, w, "w")
	eng.start(tb)
	w.env = append(w.env, eng.env()...)
	tb.Cleanup(func() { w.removeAll(tb, w.root, nil) }) // before the engine goes
	w.image = strings.TrimSuffix(w.root, "-") + "-agent:v1"
	w.importImage(tb, nil)
	return w
}

// importImage imports the test image into the engine extraEnv points at
// (nil: the world's).
func (w *world) importImage(tb testing.TB, extraEnv []string) {
	tb.Helper()
	f, err := os.Open(filepath.Join(w.agent, "agent.tar"))
	must(tb, err)
	defer f.Close()
	imp := osexec.Command(w.docker, "import", "--change", `CMD ["/agent"]`, "-", w.image)
	imp.Stdin, imp.Env = f, append(w.envWith(extraEnv...), "DOCKER_CLI_HINTS=false")
	if out, err := imp.CombinedOutput(); err != nil {
		tb.Fatalf("docker import the test image: %v: %s", err, out)
	}
}

// childEnv is the environment of every program started here: ours without
// this tool's settings (the suite passes flags) and systemd's hand-over
// variables, which change how the daemon starts.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CONTAINER_WATCHDOG_"), k == "NOTIFY_SOCKET", k == "WATCHDOG_USEC",
			k == "WATCHDOG_PID", k == "LISTEN_FDS", k == "LISTEN_PID", k == "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// envWith is the children's environment with kvs added (later wins).
func (w *world) envWith(kvs ...string) []string {
	return append(append([]string(nil), w.env...), kvs...)
}

func goBuild(tb testing.TB, dir, out string, extraEnv []string, pkg string) {
	tb.Helper()
	gobin, err := osexec.LookPath("go")
	if err != nil {
		tb.Fatalf("the chaos suite builds with the go command: %v", err)
	}
	cmd := osexec.Command(gobin, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), extraEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// run runs the real docker CLI against the world's engine (with
// runEnv, the one extraEnv names) and returns its stdout; the error
// carries stderr.
func (w *world) run(ctx context.Context, args ...string) (string, error) {
	return w.runEnv(ctx, nil, args...)
}

func (w *world) runEnv(ctx context.Context, extraEnv []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, w.docker, args...)
	cmd.Env = w.envWith(extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// removeAll force-removes every container, then every volume, named with
// prefix (and, for the run's root, its image) from the engine extraEnv
// names (nil: the world's). It reports errors but goes on.
func (w *world) removeAll(tb testing.TB, prefix string, extraEnv []string) {
	ctx := context.Background()
	out, err := w.runEnv(ctx, extraEnv, "ps", "-aq", "--filter", "name=^"+prefix)
	if err != nil {
		tb.Logf("cleanup: %v", err)
	}
	ids := strings.Fields(out)
	var wg sync.WaitGroup
	for i := 0; i < len(ids); i += 25 {
		chunk := ids[i:min(i+25, len(ids))]
		wg.Go(func() {
			if _, err := w.runEnv(ctx, extraEnv, append([]string{"rm", "-f"}, chunk...)...); err != nil {
				tb.Logf("cleanup: %v", err)
			}
		})
	}
	wg.Wait()
	out, err = w.runEnv(ctx, extraEnv, "volume", "ls", "-q", "--filter", "name="+prefix)
	if err != nil {
		tb.Logf("cleanup: %v", err)
	}
	var vols []string
	for _, v := range strings.Fields(out) {
		if strings.HasPrefix(v, prefix) {
			vols = append(vols, v)
		}
	}
	if len(vols) > 0 {
		if _, err := w.runEnv(ctx, extraEnv, append([]string{"volume", "rm", "-f"}, vols...)...); err != nil {
			tb.Logf("cleanup: %v", err)
		}
	}
	if prefix == w.root && w.image != "" {
		if _, err := w.runEnv(ctx, extraEnv, "rmi", "-f", w.image); err != nil && !strings.Contains(err.Error(), "No such image") {
			tb.Logf("cleanup: %v", err)
		}
	}
}

// cli runs one container-watchdog command to completion; it fails the
// test unless the command exits 0.
func (w *world) cli(tb testing.TB, globals []string, args ...string) string {
	tb.Helper()
	out, code, stderr := w.cliCode(globals, nil, args...)
	if code != 0 {
		tb.Fatalf("container-watchdog %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// cliCode runs one command and returns its stdout, exit status and stderr.
func (w *world) cliCode(globals, extraEnv []string, args ...string) (stdout string, code int, stderr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, w.bin, append(append([]string(nil), globals...), args...)...)
	cmd.Env = w.envWith(extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = -1
	}
	return o.String(), code, e.String()
}

// waitUntil polls cond every 20 ms until it holds, or fails the test after
// timeout with what cond last said.
func waitUntil(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		ok, last := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			tb.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
