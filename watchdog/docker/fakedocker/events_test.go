package fakedocker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

// lockedBuffer is an io.Writer a test can read while a follower writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// follower is an in-process `docker events` run.
type follower struct {
	t      *testing.T
	out    *lockedBuffer
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan int
	once   sync.Once
}

// follow starts `docker events ARGS` and returns once it follows: events
// made after that are its to print.
func (f *fake) follow(args ...string) *follower {
	f.t.Helper()
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), followingKey{}, func() { close(ready) }))
	fl := &follower{t: f.t, out: &lockedBuffer{}, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		fl.done <- run(ctx, append([]string{"events"}, args...), f.proc(fl.out, fl.stderr))
	}()
	select {
	case <-ready:
	case code := <-fl.done:
		f.t.Fatalf("events %v exited %d before following: %s", args, code, fl.stderr.lines())
	case <-time.After(5 * time.Second):
		f.t.Fatal("events did not start following")
	}
	f.t.Cleanup(fl.stop)
	return fl
}

// wait returns the printed lines once there are n, failing after a while.
func (fl *follower) wait(n int) []string {
	fl.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := fl.out.lines()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			fl.t.Fatalf("events printed %d lines, want %d:\n%s", len(got), n, strings.Join(got, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop ends the follower as a signal would, and checks it ended cleanly.
func (fl *follower) stop() {
	fl.t.Helper()
	fl.once.Do(func() {
		fl.cancel()
		select {
		case code := <-fl.done:
			if code != 0 {
				fl.t.Errorf("events exit %d after cancel: %s", code, fl.stderr.lines())
			}
		case <-time.After(5 * time.Second):
			fl.t.Error("events did not end with its context")
		}
	})
}

// summary renders JSON event lines as "ACTION NAME [exitCode=N] [signal=N]".
func summary(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		var e eventMsg
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("event line %q: %v", l, err)
		}
		s := e.Action + " " + e.Actor.Attributes["name"]
		for _, k := range []string{"exitCode", "signal"} {
			if v, ok := e.Actor.Attributes[k]; ok {
				s += " " + k + "=" + v
			}
		}
		out = append(out, s)
	}
	return out
}

func TestEventsStreamLifecycle(t *testing.T) {
	f := newFake(t)
	// Events from before the follower started are not its business.
	f.ok("run", "-d", "--name", "early", "img")
	f.ok("rm", "-f", "early")

	fl := f.follow("--filter", "type=container", "--format", "{{json .}}")
	steps := []struct {
		args []string
		want []string
	}{
		{[]string{"run", "-d", "--name", "web", "--label", "app=x", "img:1"}, []string{"create web", "start web"}},
		{[]string{"stop", "web"}, []string{"kill web signal=15", "die web exitCode=0", "stop web"}},
		{[]string{"stop", "web"}, nil}, // already stopped: nothing happens
		{[]string{"start", "web"}, []string{"start web"}},
		{[]string{"start", "web"}, nil}, // already running
		{[]string{"kill", "web"}, []string{"kill web signal=9", "die web exitCode=137"}},
		{[]string{"start", "web"}, []string{"start web"}},
		{[]string{"kill", "-s", "SIGTERM", "web"}, []string{"kill web signal=15", "die web exitCode=137"}},
		{[]string{"rm", "web"}, []string{"destroy web"}},
		{[]string{"run", "-d", "--name", "db", "img"}, []string{"create db", "start db"}},
		{[]string{"rm", "-f", "db"}, []string{"kill db signal=9", "die db exitCode=137", "destroy db"}},
		{[]string{"run", "-d", "--name", "aa", "img"}, []string{"create aa", "start aa"}},
		{[]string{"fake-set-state", "aa", "exited"}, []string{"die aa exitCode=1"}},
		{[]string{"fake-set-state", "aa", "running"}, []string{"start aa"}},
		{[]string{"fake-set-state", "aa", "exited", "3"}, []string{"die aa exitCode=3"}},
		{[]string{"fake-rm", "aa"}, []string{"destroy aa"}},
		{[]string{"run", "-d", "--name", "bb", "img"}, []string{"create bb", "start bb"}},
		{[]string{"fake-rm", "bb"}, []string{"kill bb signal=9", "die bb exitCode=137", "destroy bb"}},
		{[]string{"run", "-d", "--rm", "--name", "cc", "img"}, []string{"create cc", "start cc"}},
		{[]string{"stop", "cc"}, []string{"kill cc signal=15", "die cc exitCode=0", "stop cc", "destroy cc"}},
		{[]string{"run", "--name", "dd", "img"}, []string{"create dd", "start dd", "die dd exitCode=0"}},
		{[]string{"fake-run", "--name", "ee", "img"}, []string{"create ee", "start ee"}},
		{[]string{"fake-set-state", "--oom", "ee", "exited"}, []string{"oom ee", "die ee exitCode=137"}},
		{[]string{"fake-run", "--state", "exited", "--name", "ff", "img"}, []string{"create ff", "start ff", "die ff exitCode=1"}},
	}
	var want []string
	for _, s := range steps {
		f.ok(s.args...)
		want = append(want, s.want...)
		if got := summary(t, fl.wait(len(want))); !reflect.DeepEqual(got, want) {
			t.Fatalf("after docker %s, events:\n%s\nwant:\n%s", strings.Join(s.args, " "), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// Failed calls change nothing and say nothing.
	f.fails(1, "kill", "dd")
	f.fails(1, "rm", "nope")
	f.fails(1, "kill", "-s", "BOGUS", "dd")
	f.ok("start", "dd")
	want = append(want, "start dd")
	if got := summary(t, fl.wait(len(want))); !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The line is docker 20.10's, and the product's parser reads it.
func TestEventsJSONShape(t *testing.T) {
	f := newFake(t)
	fl := f.follow(docker.EventsArgs()[1:]...)
	id := strings.TrimSpace(f.ok("run", "-d", "--name", "claude-hooks-dev-a", "--label", "io.container-watchdog.managed=true",
		"--label", "io.container-watchdog.agent=dev", "--label", "io.container-watchdog.instance=a", "agent:1"))
	f.ok("kill", "claude-hooks-dev-a")
	lines := fl.wait(4)

	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[2]), &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"Action", "Actor", "Type", "from", "id", "scope", "status", "time", "timeNano"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	var e eventMsg
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]string{"name": "claude-hooks-dev-a", "image": "agent:1", "signal": "9",
		"io.container-watchdog.managed": "true", "io.container-watchdog.agent": "dev", "io.container-watchdog.instance": "a"}
	if e.Status != "kill" || e.ID != id || e.From != "agent:1" || e.Type != "container" || e.Action != "kill" ||
		e.Actor.ID != id || !reflect.DeepEqual(e.Actor.Attributes, wantAttrs) || e.Scope != "local" ||
		e.Time != e.TimeNano/1e9 || time.Since(time.Unix(0, e.TimeNano)) > time.Minute {
		t.Errorf("kill event = %+v", e)
	}

	var prev time.Time
	for i, want := range []string{"create", "start", "kill signal=9", "die exitCode=137"} {
		l, err := docker.ParseEvent([]byte(lines[i]))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(l.String(), " at "+l.Time.UTC().Format("15:04:05.000")); got != want ||
			l.Container != "claude-hooks-dev-a" || l.Agent != "dev" || l.Instance != "a" {
			t.Errorf("ParseEvent(line %d) = %+v (%q), want %q", i, l, got, want)
		}
		if !l.Time.After(prev) {
			t.Errorf("event %d at %v, not after %v", i, l.Time, prev)
		}
		prev = l.Time
	}
}

func TestEventsFilters(t *testing.T) {
	f := newFake(t)
	all := f.follow("--format", "{{.Action}} {{.Actor.Attributes.name}}")
	cases := []struct {
		filters []string
		want    []string
	}{
		{[]string{"label=app"}, []string{"create aa", "start aa", "create bb", "start bb", "kill aa", "die aa", "destroy aa"}},
		{[]string{"label=app=x"}, []string{"create aa", "start aa", "kill aa", "die aa", "destroy aa"}},
		{[]string{"label=app=x", "label=tier"}, nil},                                                                // labels are ANDed
		{[]string{"event=create", "event=destroy"}, []string{"create aa", "create bb", "create job", "destroy aa"}}, // ORed
		{[]string{"event=start", "label=app=y"}, []string{"start bb"}},                                              // keys ANDed
		// Not a hex name: an id prefix matches too, as in docker.
		{[]string{"container=job"}, []string{"create job", "start job"}},
		{[]string{"image=other"}, []string{"create job", "start job"}},
		{[]string{"type=container", "event=destroy"}, []string{"destroy aa"}},
		{[]string{"type=volume"}, nil},
	}
	fls := make([]*follower, len(cases))
	for i, c := range cases {
		var args []string
		for _, fl := range c.filters {
			args = append(args, "--filter", fl)
		}
		fls[i] = f.follow(append(args, "--format", "{{.Action}} {{.Actor.Attributes.name}}")...)
	}
	f.ok("run", "-d", "--name", "aa", "-l", "app=x", "img")
	f.ok("run", "-d", "--name", "bb", "-l", "app=y", "img")
	f.ok("run", "-d", "--name", "job", "other:latest")
	f.ok("rm", "-f", "aa")
	all.wait(9) // every event is out, so each follower has had its chance
	time.Sleep(4 * eventPoll)
	for i, c := range cases {
		fls[i].stop()
		if got := fls[i].out.lines(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("filters %v: %q, want %q", c.filters, got, c.want)
		}
	}

	if e := f.fails(1, "events", "--filter", "bogus=1"); !strings.Contains(e, "Invalid filter 'bogus'") {
		t.Errorf("unknown filter key: %q", e)
	}
	if e := f.fails(1, "events", "--filter", "label"); !strings.Contains(e, "bad format of filter") {
		t.Errorf("filter without '=': %q", e)
	}
	if e := f.fails(1, "events", "--format", "{{.Nope"); !strings.Contains(e, "template parsing error") {
		t.Errorf("bad template: %q", e)
	}
}

func TestEventsDefaultFormatAndPast(t *testing.T) {
	f := newFake(t)
	fl := f.follow()
	id := strings.TrimSpace(f.ok("run", "-d", "--name", "web", "-l", "app=x", "img"))
	got := fl.wait(2)
	want := " container create " + id + " (app=x, image=img, name=web)"
	if !strings.HasSuffix(got[0], want) || !strings.HasPrefix(got[0], time.Now().Format("2006-01-02T")) {
		t.Errorf("default line %q, want a timestamp then %q", got[0], want)
	}

	// --since/--until replay the past; an --until that has passed ends it.
	f.ok("stop", "web")
	out := f.ok("events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--format", "{{.Action}}")
	if out != "create\nstart\nkill\ndie\nstop\n" {
		t.Errorf("events --since 0 --until now+1s = %q", out)
	}
	if out := f.ok("events", "--since", "1m", "--until", "0s", "--filter", "event=die", "--format", "json"); strings.Count(out, `"Action":"die"`) != 1 {
		t.Errorf("events --since 1m --until 0s --format json = %q", out)
	}
	if out := f.ok("events", "--until", "2000-01-01"); out != "" {
		t.Errorf("events --until 2000-01-01 = %q", out)
	}
	f.fails(1, "events", "--since", "yesterday")
}

func TestEventsFaults(t *testing.T) {
	f := newFake(t)
	f.env["FAKEDOCKER_FAIL_EVENTS"] = "Error response from daemon: no events"
	start := time.Now()
	if e := f.fails(1, "events", "--format", "{{json .}}"); e != "Error response from daemon: no events\n" {
		t.Errorf("failing events: stderr %q", e)
	}
	if time.Since(start) > time.Second {
		t.Error("a failing events call took its time")
	}
	delete(f.env, "FAKEDOCKER_FAIL_EVENTS")

	f.ok("fake-fault", "events", "hang", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	f.ctx = ctx
	if o, _, code := f.run("events"); code != 137 || o != "" {
		t.Errorf("hung events: exit %d, %q", code, o)
	}
}

// fake-events-end ends the streams following, as a daemon restart would;
// streams started later, replays included, do not see that end.
func TestEventsEnd(t *testing.T) {
	f := newFake(t)
	fl := f.follow("--format", "{{.Action}}")
	f.ok("fake-run", "--name", "aa", "img")
	fl.wait(2)
	f.ok("fake-events-end", "error during connect: EOF")
	select {
	case code := <-fl.done:
		if e := fl.stderr.lines(); code != 1 || !reflect.DeepEqual(e, []string{"error during connect: EOF"}) {
			t.Errorf("ended stream: exit %d, stderr %q", code, e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fake-events-end did not end the stream")
	}
	fl.once.Do(func() {}) // ended: nothing left to stop

	later := f.follow("--format", "{{.Action}}")
	replay := f.follow("--since", "0", "--format", "{{.Action}}")
	f.ok("fake-set-state", "aa", "exited")
	if got := later.wait(1); !reflect.DeepEqual(got, []string{"die"}) {
		t.Errorf("later stream printed %q, want the die only", got)
	}
	if got := replay.wait(3); !reflect.DeepEqual(got, []string{"create", "start", "die"}) {
		t.Errorf("replay printed %q, want every event and no end", got)
	}
}

// As its own process (as the daemon runs it), events follows with nothing
// else to do and no deadlock, prints what other processes do, and ends
// cleanly on SIGTERM.
func TestEventsProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := dockerProc(dir, nil, docker.EventsArgs()...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The process says nothing when it follows, so keep making the event
	// until it shows up: only events after its start are printed.
	run := func(args ...string) {
		t.Helper()
		if out, err := dockerProc(dir, nil, args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
	}
	var got string
	deadline := time.After(10 * time.Second)
	for i := 0; got == ""; i++ {
		run("run", "-d", "--name", fmt.Sprint("c", i), "-l", "io.container-watchdog.managed=true", "img")
		select {
		case got = <-lines:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no event from the events process; stderr %q", stderr.String())
		}
	}
	if l, err := docker.ParseEvent([]byte(got)); err != nil || l.Action != "create" {
		t.Fatalf("first event %q: %+v, %v", got, l, err)
	}
	run("run", "-d", "--name", "unmanaged", "img")
	run("kill", "c0")
	// Past the creations (the loop may have made more than one): kill, die.
	var seen []string
	for len(seen) < 2 {
		select {
		case got := <-lines:
			l, err := docker.ParseEvent([]byte(got))
			if err != nil {
				t.Fatal(err)
			}
			if l.Container == "unmanaged" {
				t.Errorf("the label filter let through %q", got)
			}
			if l.Action != "create" && l.Action != "start" {
				seen = append(seen, l.Action+" "+l.Container+" "+l.Signal+l.ExitCode)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events after the kill: %q", seen)
		}
	}
	if want := []string{"kill c0 9", "die c0 137"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("events %q, want %q", seen, want)
	}

	time.Sleep(300 * time.Millisecond) // idle: a deadlock would have shown by now
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil || stderr.Len() > 0 {
		t.Errorf("events after SIGTERM: %v, stderr %q", err, stderr.String())
	}
}
