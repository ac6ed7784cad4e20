package fakedocker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake runs the CLI in-process against a private state directory.
type fake struct {
	t   *testing.T
	dir string
	env map[string]string
	ctx context.Context
}

func newFake(t *testing.T) *fake {
	t.Helper()
	return &fake{t: t, dir: t.TempDir(), env: map[string]string{}, ctx: context.Background()}
}

func (f *fake) getenv(k string) string {
	if k == "WORK" {
		return f.dir
	}
	return f.env[k]
}

func (f *fake) proc(stdout, stderr io.Writer) proc {
	return proc{getenv: f.getenv, stdout: stdout, stderr: stderr, now: time.Now}
}

func (f *fake) run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(f.ctx, args, f.proc(&o, &e))
	return o.String(), e.String(), code
}

// ok runs a call that must succeed and returns its stdout.
func (f *fake) ok(args ...string) string {
	f.t.Helper()
	o, e, code := f.run(args...)
	if code != 0 {
		f.t.Fatalf("docker %s: exit %d, stderr %q", strings.Join(args, " "), code, e)
	}
	return o
}

// fails runs a call that must exit with code and returns its stderr.
func (f *fake) fails(code int, args ...string) string {
	f.t.Helper()
	o, e, got := f.run(args...)
	if got != code {
		f.t.Fatalf("docker %s: exit %d (stdout %q, stderr %q), want %d", strings.Join(args, " "), got, o, e, code)
	}
	return e
}

func (f *fake) state() *state {
	f.t.Helper()
	st, err := loadState(filepath.Join(f.dir, "docker.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func TestRunThenPS(t *testing.T) {
	f := newFake(t)
	id := strings.TrimSpace(f.ok("run", "-d", "--name", "claude-hooks-a", "--restart=unless-stopped",
		"--label", "agent=hooks", "--label=instance=a", "-e", "A=1", "--env=B=2",
		"--mount", "type=volume,source=hooks-a-state,target=/state", "--network", "none",
		"img:1", "serve", "--port", "80"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run printed %q, want a 64-hex id", id)
	}

	got := f.ok("ps", "-a", "--filter", "name=^claude-hooks-", "--no-trunc",
		"--format", `{{.ID}} {{.Names}} {{.State}} {{.Label "agent"}} {{.Label "instance"}} {{.Labels}}`)
	want := id + " claude-hooks-a running hooks a agent=hooks,instance=a\n"
	if got != want {
		t.Errorf("ps = %q, want %q", got, want)
	}
	if got := f.ok("ps", "--format={{.ID}}"); got != id[:12]+"\n" {
		t.Errorf("ps without --no-trunc = %q, want the 12-char id", got)
	}

	var row map[string]string
	if err := json.Unmarshal([]byte(f.ok("ps", "-a", "--format", "{{json .}}")), &row); err != nil {
		t.Fatal(err)
	}
	if row["Names"] != "claude-hooks-a" || row["Image"] != "img:1" || row["State"] != "running" {
		t.Errorf("ps json = %v", row)
	}

	ct := f.state().byName("claude-hooks-a")
	if fmt.Sprint(ct.Cmd) != "[serve --port 80]" || fmt.Sprint(ct.Env) != "[A=1 B=2]" ||
		fmt.Sprint(ct.Mounts) != "[hooks-a-state:/state]" || ct.Restart != "unless-stopped" {
		t.Errorf("stored container = %+v", ct)
	}
	if f.ok("volume", "ls", "-q") != "hooks-a-state\n" {
		t.Error("run did not create the mount's volume")
	}

	got = f.ok("inspect", "--format", `{{.Name}} {{.State.Status}} {{.State.Running}} {{index .Config.Labels "agent"}} {{(index .Mounts 0).Name}}`, "claude-hooks-a")
	if got != "/claude-hooks-a running true hooks hooks-a-state\n" {
		t.Errorf("inspect --format = %q", got)
	}
	var objs []inspectContainer
	if err := json.Unmarshal([]byte(f.ok("inspect", id[:12])), &objs); err != nil || len(objs) != 1 || objs[0].ID != id {
		t.Errorf("inspect by short id = %+v, %v", objs, err)
	}
}

// Docker itself rejects one-character names, so the tests use two.
func TestNameConflict(t *testing.T) {
	f := newFake(t)
	id := strings.TrimSpace(f.ok("run", "-d", "--name", "web", "img"))
	e := f.fails(125, "run", "-d", "--name=web", "img")
	want := `docker: Error response from daemon: Conflict. The container name "/web" is already in use by container "` + id + `".`
	if !strings.HasPrefix(e, want) {
		t.Errorf("stderr = %q, want prefix %q", e, want)
	}
	if n := len(f.state().Containers); n != 1 {
		t.Errorf("%d containers after conflict, want 1", n)
	}
}

func TestRm(t *testing.T) {
	f := newFake(t)
	f.ok("run", "-d", "--name", "aa", "img")
	f.ok("run", "-d", "--name", "bb", "img")

	if e := f.fails(1, "rm", "nope"); e != "Error: No such container: nope\n" {
		t.Errorf("rm unknown: stderr %q", e)
	}
	if e := f.fails(1, "rm", "aa"); !strings.Contains(e, "You cannot remove a running container") {
		t.Errorf("rm running: stderr %q", e)
	}
	// Unknown names do not stop the others; -f makes them warnings only.
	o, e, code := f.run("rm", "-f", "nope", "aa")
	if code != 0 || o != "aa\n" || !strings.Contains(e, "No such container: nope") {
		t.Errorf("rm -f nope a = %q, %q, %d", o, e, code)
	}
	f.ok("stop", "bb")
	if f.ok("rm", "-v", "bb") != "bb\n" || len(f.state().Containers) != 0 {
		t.Error("rm of a stopped container failed")
	}
}

func TestFaultWithTimes(t *testing.T) {
	f := newFake(t)
	f.ok("fake-fault", "run", "fail", "boom", "2")
	for i := 0; i < 2; i++ {
		if e := f.fails(125, "run", "-d", "--name", "aa", "img"); e != "boom\n" {
			t.Errorf("faulted run %d: stderr %q", i, e)
		}
	}
	if st := f.state(); len(st.Faults) != 0 || len(st.Containers) != 0 {
		t.Errorf("after the fault ran out: faults %v, containers %d", st.Faults, len(st.Containers))
	}
	f.ok("run", "-d", "--name", "aa", "img")

	// Env faults win over the state file and are not consumed.
	f.ok("fake-fault", "ps", "fail", "from state")
	f.env["FAKEDOCKER_FAIL_PS"] = "Cannot connect to the Docker daemon"
	for i := 0; i < 2; i++ {
		if e := f.fails(1, "ps", "-a"); e != "Cannot connect to the Docker daemon\n" {
			t.Errorf("env fault: stderr %q", e)
		}
	}
	delete(f.env, "FAKEDOCKER_FAIL_PS")
	f.fails(1, "ps")
	f.ok("fake-fault", "ps", "clear")
	f.ok("ps")

	// Volume subcommands share the "volume" key; "all" hits everything.
	f.env["FAKEDOCKER_FAIL_VOLUME"] = "vol down"
	f.fails(1, "volume", "rm", "x")
	f.env["FAKEDOCKER_FAIL_ALL"] = "daemon down"
	f.fails(1, "info")
	f.ok("fake-write", "v", "p", "helpers are never faulted")
}

// A fault keyed CMD:CONTAINER hits only the calls naming that container,
// before the command's own fault; the fake-* helpers are never faulted.
func TestFaultForOneContainer(t *testing.T) {
	f := newFake(t)
	f.ok("fake-fault", FaultKey("run", "aa"), "fail", "pull access denied", "1")
	f.ok("fake-fault", "rm", "fail", "rm is down")
	f.ok("fake-fault", "rm:bb", "fail", "bb is stuck")
	if e := f.fails(125, "run", "-d", "--name", "aa", "img"); e != "pull access denied\n" {
		t.Errorf("run aa: stderr %q", e)
	}
	f.ok("run", "-d", "--name", "bb", "img")
	f.ok("run", "-d", "--name", "aa", "img") // used up
	if e := f.fails(1, "rm", "-f", "bb"); e != "bb is stuck\n" {
		t.Errorf("rm bb: stderr %q, want its own fault", e)
	}
	if e := f.fails(1, "rm", "-f", "aa"); e != "rm is down\n" {
		t.Errorf("rm aa: stderr %q, want the command's fault", e)
	}
	f.env["FAKEDOCKER_FAIL_ALL"] = "daemon down"
	f.ok("fake-run", "--state", "paused", "--name", "cc", "--label", "a=b", "img", "serve")
	f.ok("fake-set-state", "cc", "running")
	f.ok("fake-rm", "cc")
	delete(f.env, "FAKEDOCKER_FAIL_ALL")
	if e := f.fails(1, "fake-run", "--state", "gone", "--name", "dd", "img"); !strings.Contains(e, `invalid state "gone"`) {
		t.Errorf("fake-run with a bad state: %q", e)
	}
	if e := f.fails(1, "fake-set-state", "--oom", "aa", "running"); !strings.Contains(e, "--oom stops a running container") {
		t.Errorf("--oom to running: %q", e)
	}
	f.ok("fake-set-state", "--oom", "aa", "exited")
	if got := f.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "aa"); got != "true 137\n" {
		t.Errorf("after --oom: %q", got)
	}
	f.ok("start", "aa")
	if got := f.ok("inspect", "-f", "{{.State.OOMKilled}}", "aa"); got != "false\n" {
		t.Errorf("after start: OOMKilled %q, want it reset", got)
	}
}

func TestHangIsLoggedAndInterruptible(t *testing.T) {
	f := newFake(t)
	f.ok("fake-fault", "rm", "hang", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	f.ctx = ctx
	start := time.Now()
	if _, _, code := f.run("rm", "-f", "x"); code == 0 {
		t.Error("hung call reported success")
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Error("hang returned before its context ended")
	}
	f.ctx = context.Background()
	f.ok("rm", "-f", "x") // the single-use hang is spent

	f.env["FAKEDOCKER_LOG"] = filepath.Join(f.dir, "calls.log")
	f.ok("ps", "-a", "--format", "{{.Names}}")
	log, _ := os.ReadFile(filepath.Join(f.dir, "docker.log"))
	if want := "fake-fault rm hang 1\nrm -f x\nrm -f x\n"; string(log) != want {
		t.Errorf("docker.log = %q, want %q", log, want)
	}
	log, _ = os.ReadFile(f.env["FAKEDOCKER_LOG"])
	if want := "ps -a --format {{.Names}}\n"; string(log) != want {
		t.Errorf("FAKEDOCKER_LOG = %q, want %q", log, want)
	}
}

func TestImageList(t *testing.T) {
	f := newFake(t)
	f.ok("run", "-d", "--name", "any", "whatever:1") // no list: every image exists
	f.ok("fake-image", "add", "img:1", "base")
	e := f.fails(125, "run", "-d", "--name", "aa", "img:2")
	want := "Unable to find image 'img:2' locally\ndocker: Error response from daemon: pull access denied for img, repository does not exist or may require 'docker login'."
	if !strings.HasPrefix(e, want) {
		t.Errorf("stderr = %q, want prefix %q", e, want)
	}
	f.ok("run", "-d", "--name", "aa", "img:1")
	f.ok("run", "-d", "--name", "bb", "base:latest") // implicit :latest
	f.ok("fake-image", "rm", "img:1")
	f.fails(125, "run", "-d", "--name", "cc", "img:1")
}

func TestNameFilter(t *testing.T) {
	f := newFake(t)
	for _, n := range []string{"claude-hooks-b", "claude-hooks-a", "x-claude-hooks-c", "claude-other"} {
		f.ok("run", "-d", "--name", n, "img")
	}
	f.ok("fake-set-state", "claude-hooks-b", "exited", "3")

	for _, re := range []string{"^claude-hooks-", "^/claude-hooks-"} {
		if got := f.ok("ps", "-a", "--filter", "name="+re, "--format", "{{.Names}} {{.Status}}"); got != "claude-hooks-a Up Less than a second\nclaude-hooks-b Exited (3) Less than a second ago\n" {
			t.Errorf("filter %s: %q", re, got)
		}
	}
	if got := f.ok("ps", "--filter", "name=^claude-hooks-", "--format", "{{.Names}}"); got != "claude-hooks-a\n" {
		t.Errorf("without -a: %q", got)
	}
	// Repeated name filters are ORed, as in docker.
	if got := f.ok("ps", "-aq", "-f", "name=other", "-f", "name=^x-"); strings.Count(got, "\n") != 2 {
		t.Errorf("two name filters: %q", got)
	}
	if e := f.fails(1, "ps", "--filter", "name=("); !strings.Contains(e, "invalid filter") {
		t.Errorf("bad regexp: %q", e)
	}
}

func TestFlagsAndErrors(t *testing.T) {
	f := newFake(t)
	if e := f.fails(125, "ps", "--bogus"); !strings.HasPrefix(e, "unknown flag: --bogus") {
		t.Errorf("unknown flag: %q", e)
	}
	f.fails(125, "run", "-Z", "img")
	f.fails(1, "frobnicate")
	f.fails(1, "rm")
	// After the image, flags belong to the container's command.
	f.ok("run", "-d", "--name=xx", "img", "--bogus", "-e")
	if got := f.state().byName("xx").Cmd; fmt.Sprint(got) != "[--bogus -e]" {
		t.Errorf("cmd = %v", got)
	}
	if e := f.fails(1, "inspect", "nope"); e != "Error: No such object: nope\n" {
		t.Errorf("inspect unknown: %q", e)
	}
	f.ok("kill", "xx")
	if got := f.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "xx"); got != "exited 137\n" {
		t.Errorf("after kill: %q", got)
	}
	f.fails(1, "kill", "xx")
	f.ok("start", "xx")
	f.fails(1, "stop", "nope")
	if !strings.Contains(f.ok("version", "--format", "{{.Server.Version}}"), "fake") {
		t.Error("version --format")
	}
}

func TestVolumes(t *testing.T) {
	f := newFake(t)
	f.ok("volume", "create", "v1")
	f.ok("fake-write", "v1", "/state/x.json", `{"a":1}`)
	if got := f.ok("fake-read", "v1", "/state/x.json"); got != `{"a":1}` {
		t.Errorf("fake-read = %q", got)
	}
	f.fails(1, "fake-read", "v1", "/missing")
	f.ok("run", "-d", "--name", "cc", "-v", "v1:/data", "img")
	if e := f.fails(1, "volume", "rm", "v1"); !strings.Contains(e, "volume is in use") {
		t.Errorf("rm in-use volume: %q", e)
	}
	f.ok("rm", "-f", "cc")
	if f.ok("volume", "rm", "v1") != "v1\n" {
		t.Error("volume rm")
	}
	if e := f.fails(1, "volume", "inspect", "v1"); e != "Error: No such volume: v1\n" {
		t.Errorf("volume inspect missing: %q", e)
	}
	f.fails(1, "volume", "rm", "v1")
	f.ok("volume", "rm", "-f", "v1")
	f.ok("volume", "create", "abc")
	f.ok("volume", "create", "xyz")
	if got := f.ok("volume", "ls", "--filter", "name=b", "--format", "{{.Name}}"); got != "abc\n" {
		t.Errorf("volume ls filter: %q", got)
	}
}

func TestConcurrentCallsKeepEveryWrite(t *testing.T) {
	f := newFake(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o, e bytes.Buffer
			if code := run(context.Background(), []string{"run", "-d", "--name", fmt.Sprint("c", i), "img"}, f.proc(&o, &e)); code != 0 {
				t.Errorf("run %d: %s", i, e.String())
			}
		}()
	}
	wg.Wait()
	if n := len(f.state().Containers); n != 20 {
		t.Errorf("%d containers, want 20", n)
	}
	log, _ := os.ReadFile(filepath.Join(f.dir, "docker.log"))
	if n := strings.Count(string(log), "\n"); n != 20 {
		t.Errorf("%d log lines, want 20", n)
	}
}

func TestEventsBlocksUntilDone(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.ctx = ctx
	done := make(chan int)
	go func() {
		_, _, code := f.run("events", "--filter", "type=container", "--format", "{{json .}}")
		done <- code
	}()
	select {
	case <-done:
		t.Fatal("events returned while following")
	case <-time.After(30 * time.Millisecond):
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events exit %d", code)
	}
	f.ctx = context.Background()
	f.env["FAKEDOCKER_FAIL_EVENTS"] = "no events"
	f.fails(1, "events")
}
