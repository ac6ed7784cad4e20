package main

// Helpers of the real-engine tests (see engine_test.go): the engine and
// the test image, the real docker CLI, clean-up, one scenario's world,
// and what docker says about a container.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
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
	tb     testing.TB
	prefix string
	db     string
	dir    string
}

func (e *engine) scenario(tb testing.TB, tag string) *engScenario {
	s := &engScenario{engine: e, tb: tb, prefix: e.root + tag + "-", dir: tb.TempDir()}
	s.db = filepath.Join(s.dir, "registry.db")
	tb.Cleanup(func() { e.removeAll(tb, s.prefix) })
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
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, s.bin, append(s.globals(), args...)...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.tb.Fatalf("container-watchdog %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func engTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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

func engFlagEach(flag string, vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, flag, v)
	}
	return out
}
