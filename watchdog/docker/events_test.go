package docker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

// Captured from docker 20.10 (`docker events --format '{{json .}}'`) for
// `docker rm -f` of a running container.
const (
	killLine = `{"status":"kill","id":"be9a","from":"cwtest:probe","Type":"container","Action":"kill","Actor":{"ID":"be9a","Attributes":{"image":"cwtest:probe","name":"zzev-a","signal":"9","zz":"1"}},"scope":"local","time":1795736556,"timeNano":1795736556142727647}`
	dieLine  = `{"status":"die","id":"be9a","from":"cwtest:probe","Type":"container","Action":"die","Actor":{"ID":"be9a","Attributes":{"exitCode":"137","image":"cwtest:probe","name":"zzev-a","zz":"1"}},"scope":"local","time":1795736556,"timeNano":1795736556142727647}`
)

func TestParseEventDockerLines(t *testing.T) {
	at := time.Unix(1795736556, 142727647)
	kill, err := docker.ParseEvent([]byte(killLine))
	if err != nil {
		t.Fatal(err)
	}
	want := watchdog.Lifecycle{Time: at, Container: "zzev-a", Action: "kill", Signal: "9"}
	if !kill.Time.Equal(at) || kill.Container != want.Container || kill.Action != "kill" || kill.Signal != "9" || kill.ExitCode != "" {
		t.Errorf("kill = %+v, want %+v", kill, want)
	}
	die, err := docker.ParseEvent([]byte(dieLine))
	if err != nil {
		t.Fatal(err)
	}
	if !die.Time.Equal(at) || die.Container != "zzev-a" || die.Action != "die" || die.ExitCode != "137" || die.Signal != "" {
		t.Errorf("die = %+v", die)
	}
	if detail, f := watchdog.Explain([]watchdog.Lifecycle{kill, die}); f["CONTAINER_KILL_SIGNAL"] != "9" || f["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("Explain(kill, die) = %q, %v", detail, f)
	}

	// The managed labels name the agent and instance.
	labelled := strings.Replace(killLine, `"zz":"1"`,
		`"`+watchdog.LabelAgent+`":"dev","`+watchdog.LabelInstance+`":"default","`+watchdog.LabelManaged+`":"true"`, 1)
	l, err := docker.ParseEvent([]byte(labelled))
	if err != nil || l.Agent != "dev" || l.Instance != "default" {
		t.Errorf("ParseEvent(labelled) = %+v, %v", l, err)
	}

	// Only the seconds: the time still comes through.
	secs := strings.Replace(killLine, `,"timeNano":1795736556142727647`, "", 1)
	if l, err := docker.ParseEvent([]byte(secs)); err != nil || !l.Time.Equal(time.Unix(1795736556, 0)) {
		t.Errorf("ParseEvent(no timeNano) = %+v, %v", l, err)
	}
	// An exit code that is not a number is dropped, not passed on.
	odd := strings.Replace(dieLine, `"exitCode":"137"`, `"exitCode":"oops"`, 1)
	if l, err := docker.ParseEvent([]byte(odd)); err != nil || l.ExitCode != "" || l.Action != "die" {
		t.Errorf("ParseEvent(bad exitCode) = %+v, %v", l, err)
	}
}

func TestParseEventRejectsJunk(t *testing.T) {
	for _, line := range []string{
		"",
		"not json",
		`{"Action":"die"`,
		`[]`,
		`null`,
		`{}`,
		`{"Type":"container","Action":"die","Actor":{"ID":"x","Attributes":{}}}`,
		`{"Type":"container","Action":"","Actor":{"ID":"x","Attributes":{"name":"a"}}}`,
		`{"Type":"container","Action":"die","Actor":{"ID":"x","Attributes":{"name":7}}}`,
		`{"Type":"container","Action":"die","timeNano":"soon","Actor":{"Attributes":{"name":"a"}}}`,
	} {
		if l, err := docker.ParseEvent([]byte(line)); err == nil {
			t.Errorf("ParseEvent(%q) = %+v, want an error", line, l)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(killLine)
	f.Add(dieLine)
	f.Add(`{"Action":"oom","Actor":{"Attributes":{"name":"a"}},"timeNano":-9223372036854775808}`)
	f.Add(`{"Action":"destroy","Actor":{"Attributes":{"name":"a","exitCode":"-1"}},"time":9223372036854775807}`)
	f.Add(`{"Action":"die","Actor":{"Attributes":{"name":"a","exitCode":"99999999999999999999"}}}`)
	f.Add(`{}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, line string) {
		l, err := docker.ParseEvent([]byte(line))
		if err != nil {
			return
		}
		if l.Action == "" || l.Container == "" {
			t.Fatalf("accepted %q as %+v: want an action and a container", line, l)
		}
		_ = l.String()
		watchdog.Explain([]watchdog.Lifecycle{l})
	})
}

func TestEventsArgs(t *testing.T) {
	args := docker.EventsArgs()
	if args[0] != "events" {
		t.Fatalf("EventsArgs = %q", args)
	}
	var filters []string
	for i, a := range args {
		if a == "--filter" && i+1 < len(args) {
			filters = append(filters, args[i+1])
		}
	}
	for _, want := range []string{"type=container", "label=" + watchdog.LabelManaged + "=true",
		"event=die", "event=kill", "event=oom", "event=destroy", "event=stop", "event=start"} {
		if !slices.Contains(filters, want) {
			t.Errorf("filters %q lack %q", filters, want)
		}
	}
	if i := slices.Index(args, "--format"); i < 0 || i+1 >= len(args) || args[i+1] != "{{json .}}" {
		t.Errorf("EventsArgs %q: want --format '{{json .}}', one JSON event a line", args)
	}
}

// streamer answers the events call by emitting lines, then res and err.
func streamer(t *testing.T, lines []string, res exec.Result, err error) *fakeexec.Runner {
	return &fakeexec.Runner{Handler: func(_ context.Context, program string, args []string, emit func(string)) (exec.Result, error) {
		if program != "docker" || !slices.Equal(args, docker.EventsArgs()) {
			t.Errorf("ran %s %q, want docker %q", program, args, docker.EventsArgs())
		}
		for _, l := range lines {
			emit(l)
		}
		return res, err
	}}
}

func TestClientFollow(t *testing.T) {
	var got []watchdog.Lifecycle
	r := streamer(t, []string{killLine, dieLine}, exec.Result{}, nil)
	c := &docker.Client{Runner: r, Program: "docker"}
	err := c.Follow(context.Background(), func(l watchdog.Lifecycle) { got = append(got, l) })
	if err == nil || !strings.Contains(err.Error(), "ended") {
		t.Errorf("Follow = %v, want an error saying the stream ended", err)
	}
	if len(got) != 2 || got[0].Action != "kill" || got[1].Action != "die" || got[1].ExitCode != "137" {
		t.Errorf("events %+v", got)
	}
	if calls := r.Calls(); len(calls) != 1 {
		t.Errorf("calls %q, want one stream", calls)
	}

	// Unreadable lines are skipped, counted in the reason.
	got = nil
	r = streamer(t, []string{"garbage", killLine, "{}"}, exec.Result{}, nil)
	c = &docker.Client{Runner: r, Program: "docker"}
	err = c.Follow(context.Background(), func(l watchdog.Lifecycle) { got = append(got, l) })
	if len(got) != 1 || err == nil || !strings.Contains(err.Error(), "2 lines") {
		t.Errorf("events %+v, err %v: want the good one delivered and 2 bad lines named", got, err)
	}
}

func TestClientFollowNamesDockersStderr(t *testing.T) {
	stderr := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
	r := streamer(t, nil, exec.Result{ExitCode: 1, Stderr: []byte(stderr)}, nil)
	c := &docker.Client{Runner: r, Program: "docker"}
	err := c.Follow(context.Background(), func(watchdog.Lifecycle) { t.Error("an event from a failed stream") })
	var de *docker.Error
	if !errors.As(err, &de) || de.ExitCode != 1 || err.Error() != strings.TrimSpace(stderr) {
		t.Fatalf("Follow = %#v, want a *docker.Error carrying docker's stderr", err)
	}

	// Cancelled: the runner's error comes back as is.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = &fakeexec.Runner{Handler: func(ctx context.Context, _ string, _ []string, _ func(string)) (exec.Result, error) {
		return exec.Result{ExitCode: -1}, ctx.Err()
	}}
	c = &docker.Client{Runner: r, Program: "docker"}
	if err := c.Follow(ctx, func(watchdog.Lifecycle) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow(cancelled) = %v", err)
	}
}

// The client is the daemon's EventSource.
var _ watchdog.EventSource = (*docker.Client)(nil)
