package fakedocker

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Healthcheck is a container's health check as docker keeps it in
// Config.Healthcheck: Test is ["CMD-SHELL", cmd] (or ["NONE"]), durations
// in nanoseconds, zero meaning docker's default. It comes from run's
// --health-* flags merged over the image's own (fake-image healthcheck).
type Healthcheck struct {
	Test        []string      `json:",omitempty"`
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

// active says the check runs: it has a test other than NONE.
func (h *Healthcheck) active() bool {
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// Health is docker's verdict on a container with a health check, as
// `inspect` shows .State.Health.
type Health struct {
	Status        string  `json:"Status"` // starting, healthy, unhealthy
	FailingStreak int     `json:"FailingStreak"`
	Log           []Probe `json:"Log"`
}

// Probe is one run of the health check, as docker logs it.
type Probe struct {
	Start    string `json:"Start"`
	End      string `json:"End"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
}

// maxProbes is how many probes docker keeps in the log.
const maxProbes = 5

// healthFlags are docker run's health check options.
var healthFlags = []flagSpec{
	valFlag("health-cmd"), valFlag("health-interval"), valFlag("health-timeout"),
	valFlag("health-retries"), valFlag("health-start-period"), boolFlag("no-healthcheck"),
}

// healthcheckFromFlags reads run's health options over the image's check,
// field by field, as docker merges them; it refuses what docker refuses.
func healthcheckFromFlags(p *parsedFlags, image *Healthcheck) (*Healthcheck, error) {
	set := false
	for _, f := range healthFlags[:5] {
		set = set || p.isSet(f.names[0])
	}
	if p.has("no-healthcheck") {
		if set {
			return nil, fmt.Errorf("--no-healthcheck conflicts with --health-* options")
		}
		return &Healthcheck{Test: []string{"NONE"}}, nil
	}
	h := &Healthcheck{}
	if image != nil {
		*h = *image
		h.Test = append([]string(nil), image.Test...)
	}
	if p.isSet("health-cmd") {
		h.Test = []string{"CMD-SHELL", p.str("health-cmd")}
	}
	for _, d := range []struct {
		flag string
		to   *time.Duration
	}{{"health-interval", &h.Interval}, {"health-timeout", &h.Timeout}, {"health-start-period", &h.StartPeriod}} {
		if !p.isSet(d.flag) {
			continue
		}
		v, err := time.ParseDuration(p.str(d.flag))
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", p.str(d.flag), d.flag, err)
		}
		if v < 0 {
			return nil, fmt.Errorf("--%s cannot be negative", d.flag)
		}
		if v != 0 && v < time.Millisecond {
			//lint:ignore ST1005 docker's own wording, which callers may match
			return nil, fmt.Errorf("Error response from daemon: %s in Healthcheck cannot be less than 1ms", strings.TrimPrefix(d.flag, "health-"))
		}
		*d.to = v
	}
	if p.isSet("health-retries") {
		n, err := strconv.Atoi(p.str("health-retries"))
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--health-retries\" flag: %v", p.str("health-retries"), err)
		}
		if n < 0 {
			return nil, fmt.Errorf("--health-retries cannot be negative")
		}
		h.Retries = n
	}
	if h.Test == nil && h.Interval == 0 && h.Timeout == 0 && h.StartPeriod == 0 && h.Retries == 0 {
		return nil, nil
	}
	return h, nil
}

// startHealth begins the health check of a container that starts: docker
// says "starting" (keeping the probe log) until a probe says otherwise.
func startHealth(ct *Container) {
	if !ct.Healthcheck.active() {
		ct.Health = nil
		return
	}
	if ct.Health == nil {
		ct.Health = &Health{}
	}
	ct.Health.Status, ct.Health.FailingStreak = "starting", 0
}

// healthSuffix is what docker's Status column adds for a running
// container's health: " (healthy)", " (unhealthy)", " (health: starting)".
func healthSuffix(ct *Container) string {
	if ct.State != "running" || ct.Health == nil {
		return ""
	}
	if ct.Health.Status == "starting" {
		return " (health: starting)"
	}
	return " (" + ct.Health.Status + ")"
}

// fakeHealthCmd is a probe's verdict: fake-health NAME STATUS [--exit N]
// [--output TEXT] sets a running container's health (starting, healthy,
// unhealthy), logs a probe with the exit code (default 0 when healthy, 1
// otherwise) and output unless STATUS is starting, and emits docker's
// health_status event when the status changes.
var fakeHealthCmd = &command{
	flags:   []flagSpec{valFlag("exit"), valFlag("output")},
	minArgs: 2, maxArgs: 2, usage: "NAME starting|healthy|unhealthy [--exit N] [--output TEXT]", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		ct := st.find(p.args[0])
		switch {
		case ct == nil:
			return c.errorf(1, "fake-health: no such container: %s", p.args[0]), false
		case !ct.Healthcheck.active():
			return c.errorf(1, "fake-health: %s has no health check", ct.Name), false
		case ct.State != "running":
			return c.errorf(1, "fake-health: %s is %s; only a running container is probed", ct.Name, ct.State), false
		}
		status := p.args[1]
		exit := 1
		switch status {
		case "healthy":
			exit = 0
		case "unhealthy", "starting":
		default:
			return c.errorf(1, "fake-health: status %q: want starting, healthy or unhealthy", status), false
		}
		if p.isSet("exit") {
			n, err := strconv.Atoi(p.str("exit"))
			if err != nil {
				return c.errorf(1, "fake-health: --exit %q: %v", p.str("exit"), err), false
			}
			exit = n
		}
		h := ct.Health
		old := h.Status
		h.Status = status
		if status != "starting" {
			at := c.now.UTC().Format(time.RFC3339Nano)
			h.Log = append(h.Log, Probe{Start: at, End: at, ExitCode: exit, Output: p.str("output")})
			if len(h.Log) > maxProbes {
				h.Log = h.Log[len(h.Log)-maxProbes:]
			}
		}
		switch status {
		case "healthy", "starting":
			h.FailingStreak = 0
		case "unhealthy":
			h.FailingStreak++
		}
		if status != old && status != "starting" {
			st.emit(ct, "health_status: "+status)
		}
		return 0, true
	},
}
