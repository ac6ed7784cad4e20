package watchdog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HealthCheck is a docker health check kept in the registry and passed to
// `docker run` as docker's own --health-* flags, so every recreation keeps
// it. Zero fields leave docker's (or the image's) value.
type HealthCheck struct {
	Cmd         string        // run by the container's shell (docker's CMD-SHELL)
	Interval    time.Duration // between probes
	Timeout     time.Duration // of one probe
	Retries     int           // failures in a row that make it unhealthy
	StartPeriod time.Duration // failures not counted while the container starts
}

// Args is the check as docker run flags, each value right after its flag.
func (h HealthCheck) Args() []string {
	var args []string
	if h.Cmd != "" {
		args = append(args, "--health-cmd", h.Cmd)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--health-interval", h.Interval}, {"--health-timeout", h.Timeout}, {"--health-start-period", h.StartPeriod}} {
		if d.v > 0 {
			args = append(args, d.flag, d.v.String())
		}
	}
	if h.Retries > 0 {
		args = append(args, "--health-retries", strconv.Itoa(h.Retries))
	}
	return args
}

// Validate refuses what docker would refuse: negative or sub-millisecond
// durations, negative retries, a command docker cannot pass on.
func (h HealthCheck) Validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--health-interval", h.Interval}, {"--health-timeout", h.Timeout}, {"--health-start-period", h.StartPeriod}} {
		if d.v < 0 || (d.v > 0 && d.v < time.Millisecond) {
			return fmt.Errorf("%w %s %s: want 0 (docker's default) or at least 1ms", ErrInvalid, d.flag, d.v)
		}
	}
	if h.Retries < 0 {
		return fmt.Errorf("%w --health-retries %d: must not be negative", ErrInvalid, h.Retries)
	}
	if strings.ContainsAny(h.Cmd, "\x00\n") {
		return fmt.Errorf("%w --health-cmd %q: contains a NUL or newline", ErrInvalid, h.Cmd)
	}
	return nil
}

// healthCheckJSON shows durations as docker writes them ("30s").
type healthCheckJSON struct {
	Cmd         string `json:"cmd,omitempty"`
	Interval    string `json:"interval,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	Retries     int    `json:"retries,omitempty"`
	StartPeriod string `json:"start_period,omitempty"`
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON implements json.Marshaler.
func (h HealthCheck) MarshalJSON() ([]byte, error) {
	return json.Marshal(healthCheckJSON{h.Cmd, durationText(h.Interval), durationText(h.Timeout), h.Retries, durationText(h.StartPeriod)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (h *HealthCheck) UnmarshalJSON(b []byte) error {
	var j healthCheckJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := HealthCheck{Cmd: j.Cmd, Retries: j.Retries}
	for _, d := range []struct {
		text string
		v    *time.Duration
	}{{j.Interval, &out.Interval}, {j.Timeout, &out.Timeout}, {j.StartPeriod, &out.StartPeriod}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return fmt.Errorf("health check duration %q: %w", d.text, err)
		}
		*d.v = v
	}
	*h = out
	return nil
}

// UnhealthyAction is what the watchdog does about an unhealthy container.
type UnhealthyAction string

const (
	// OnUnhealthyReport reports it (container_unhealthy) and does nothing else.
	OnUnhealthyReport UnhealthyAction = "report"
	// OnUnhealthyRestart also runs `docker restart` on it, paced.
	OnUnhealthyRestart UnhealthyAction = "restart"
)

// ValidateUnhealthy checks --on-unhealthy and --unhealthy-grace.
func ValidateUnhealthy(a UnhealthyAction, grace time.Duration) error {
	switch a {
	case "", OnUnhealthyReport, OnUnhealthyRestart:
	default:
		return fmt.Errorf("%w --on-unhealthy %q: want report or restart", ErrInvalid, a)
	}
	if grace < 0 {
		return fmt.Errorf("%w --unhealthy-grace %s: must not be negative", ErrInvalid, grace)
	}
	return nil
}

// Health is docker's health state of a container: "" when it has no
// health check.
type Health string

const (
	HealthNone      Health = ""
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// HealthFromStatus reads the health docker appends to a container's
// Status column: "Up 3 minutes (unhealthy)", "(health: starting)".
func HealthFromStatus(status string) Health {
	switch {
	case strings.HasSuffix(status, "(unhealthy)"):
		return HealthUnhealthy
	case strings.HasSuffix(status, "(healthy)"):
		return HealthHealthy
	case strings.HasSuffix(status, "(health: starting)"):
		return HealthStarting
	}
	return HealthNone
}

// Probe is the last health probe docker ran on a container.
type Probe struct {
	ExitCode int
	Output   string
}

// maxProbeOutput bounds the probe output an event carries.
const maxProbeOutput = 1024

// String renders the probe for an event's detail, its output cut to 1 KiB.
func (p Probe) String() string {
	out := strings.TrimSpace(p.Output)
	if len(out) > maxProbeOutput {
		out = out[:maxProbeOutput] + "..."
	}
	if out == "" {
		return fmt.Sprintf("last probe exited %d", p.ExitCode)
	}
	return fmt.Sprintf("last probe exited %d: %s", p.ExitCode, out)
}
