package watchdog

import "time"

// Container is what docker reports about one container.
type Container struct {
	ID    string
	Name  string
	State string // docker's: running, exited, created, restarting, paused, dead
	// Status is docker's human summary, e.g. "Exited (137) 3 seconds ago"
	// or "Up 2 hours (unhealthy)".
	Status string
	// Health is docker's health state, read from Status.
	Health Health
	// Set from the labels; Managed is false for a container this tool did not create.
	Managed    bool
	Agent      string
	Instance   string
	ConfigHash string
}

// RunSpec is everything `docker run` needs to create an instance's container.
type RunSpec struct {
	Name      string
	Image     string
	Env       []string
	Volume    string
	StatePath string
	Command   []string
	Health    HealthCheck
	Labels    map[string]string
}

// State is an expected instance's observed condition, or an orphan's.
type State string

const (
	StateRunning  State = "running"
	StateStopped  State = "stopped"
	StateMissing  State = "missing"
	StateOrphaned State = "orphaned"
	// StateHeld: an operator holds it; docker's state does not matter.
	StateHeld State = "held"
)

// Observation is the last state the watchdog saw for a container. It is
// persisted so that a condition is reported once, when it begins, even
// across restarts of the daemon.
type Observation struct {
	Container string
	Agent     string
	Instance  string
	State     State
	Since     time.Time
	// Detail is the last recreate failure, so a repeat is not reported
	// again; while held, the hold's reason.
	Detail string
	// Health is HealthUnhealthy from the report that it became unhealthy
	// until the report that it is healthy again, else empty; HealthSince
	// is when it was last reported unhealthy (or restarted for it).
	Health      Health
	HealthSince time.Time
}

// Hold is an operator's intent: leave this container alone.
type Hold struct {
	Container string
	Reason    string
	Since     time.Time
	// Until is when the hold ends by itself; zero: only release ends it.
	Until time.Time
}

// Active says the hold still holds at now.
func (h Hold) Active(now time.Time) bool { return h.Until.IsZero() || now.Before(h.Until) }
