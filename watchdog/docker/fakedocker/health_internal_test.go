package fakedocker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// events returns the events file's lines as "action name" pairs.
func (f *fake) events() []string {
	f.t.Helper()
	b, err := os.ReadFile(eventsPath(filepath.Join(f.dir, "docker.json")))
	if err != nil && !os.IsNotExist(err) {
		f.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var e eventMsg
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			f.t.Fatal(err)
		}
		a := e.Action
		for _, k := range []string{"signal", "exitCode"} {
			if v := e.Actor.Attributes[k]; v != "" {
				a += " " + k + "=" + v
			}
		}
		out = append(out, a)
	}
	return out
}

func TestImageHealthcheckAndRunFlagsMerge(t *testing.T) {
	f := newFake(t)
	f.ok("fake-image", "healthcheck", "web:1", "curl -f localhost")
	f.ok("run", "-d", "--name", "aa", "web:1")
	f.ok("run", "-d", "--name", "bb", "--health-interval", "2s", "--health-retries", "4", "web:1")
	f.ok("run", "-d", "--name", "cc", "--health-cmd", "true", "web:1")
	f.ok("run", "-d", "--name", "dd", "--no-healthcheck", "web:1")
	f.ok("run", "-d", "--name", "ee", "plain:1")
	st := f.state()
	got := map[string]string{}
	for _, c := range st.Containers {
		b, _ := json.Marshal(c.Healthcheck)
		h := "none"
		if c.Health != nil {
			h = c.Health.Status
		}
		got[c.Name] = string(b) + " " + h
	}
	want := map[string]string{
		"aa": `{"Test":["CMD-SHELL","curl -f localhost"]} starting`,
		"bb": `{"Test":["CMD-SHELL","curl -f localhost"],"Interval":2000000000,"Retries":4} starting`,
		"cc": `{"Test":["CMD-SHELL","true"]} starting`,
		"dd": `{"Test":["NONE"]} none`,
		"ee": `null none`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	// inspect shows the check as docker does, under Config.
	if out := f.ok("inspect", "--format", "{{json .Config.Healthcheck}}", "bb"); out != `{"Test":["CMD-SHELL","curl -f localhost"],"Interval":2000000000,"Retries":4}`+"\n" {
		t.Errorf("Config.Healthcheck = %s", out)
	}
	f.ok("fake-image", "healthcheck", "web:1", "NONE")
	f.ok("run", "-d", "--name", "gg", "web:1")
	if out := f.ok("inspect", "--format", "{{json .State.Health}}", "gg"); out != "null\n" {
		t.Errorf("after HEALTHCHECK NONE: %s", out)
	}
}

func TestRunRefusesBadHealthFlags(t *testing.T) {
	f := newFake(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-interval", "soon"}, `invalid argument "soon" for "--health-interval" flag`},
		{[]string{"--health-timeout", "-1s"}, "--health-timeout cannot be negative"},
		{[]string{"--health-start-period", "10us"}, "start-period in Healthcheck cannot be less than 1ms"},
		{[]string{"--health-retries", "x"}, `invalid argument "x" for "--health-retries" flag`},
		{[]string{"--health-retries", "-2"}, "--health-retries cannot be negative"},
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck conflicts with --health-* options"},
	} {
		args := append(append([]string{"run", "-d", "--name", "xx"}, c.args...), "img")
		if e := f.fails(125, args...); !strings.Contains(e, c.want) {
			t.Errorf("%v: stderr %q, want %q", c.args, e, c.want)
		}
	}
	if n := len(f.state().Containers); n != 0 {
		t.Errorf("%d containers created by refused runs", n)
	}
}

func TestRestartAndHealthEvents(t *testing.T) {
	f := newFake(t)
	f.ok("run", "-d", "--name", "web", "--health-cmd", "true", "img")
	f.ok("fake-health", "web", "unhealthy", "--output", "down")
	f.ok("fake-health", "web", "unhealthy", "--exit", "2") // no change: no event
	f.ok("restart", "web")
	if h := f.state().byName("web").Health; h.Status != "starting" || h.FailingStreak != 0 || len(h.Log) != 2 {
		t.Errorf("health after restart %+v, want starting with the log kept", h)
	}
	f.ok("fake-health", "web", "healthy")
	f.ok("fake-set-state", "web", "exited", "0")
	f.ok("restart", "web") // not running: just started
	want := []string{"create", "start", "health_status: unhealthy", "kill signal=15", "die exitCode=0", "stop", "start", "restart",
		"health_status: healthy", "die exitCode=0", "start", "restart"}
	if got := f.events(); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	if e := f.fails(1, "restart", "nope"); !strings.Contains(e, "No such container: nope") {
		t.Errorf("restart of nothing: %q", e)
	}
	f.ok("fake-fault", "restart", "fail", "Error response from daemon: cannot restart", "1")
	if e := f.fails(1, "restart", "web"); !strings.Contains(e, "cannot restart") {
		t.Errorf("faulted restart: %q", e)
	}
	// fake-health refuses what no probe could report.
	f.ok("stop", "web")
	for _, c := range [][]string{{"web", "unhealthy"}, {"nope", "healthy"}, {"web", "sick"}} {
		f.fails(1, append([]string{"fake-health"}, c...)...)
	}
	f.ok("start", "web")
	f.fails(1, "fake-health", "web", "sick")
}
