package watchdog

import "time"

// Container is what docker reports about one container.
type Container struct {
	ID    string
	Name  string
	State string // docker's: running, exited, created, restarting, paused, dead
	// Status is docker's human summary, e.g. "Exited (137) 3 seconds ago".
	Status string
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
	Labels    map[string]string
}

// State is an expected instance's observed condition, or an orphan's.
type State string

const (
	StateRunning  State = "running"
	StateStopped  State = "stopped"
	StateMissing  State = "missing"
	StateOrphaned State = "orphaned"
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
	// Detail is the last recreate failure, so a repeat is not reported again.
	Detail string
}
