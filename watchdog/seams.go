package watchdog

// The seams: what the domain consumes, implemented by the sub-packages
// (docker, sqlite, journal, httpapi) and by tests' fakes.

import (
	"context"
	"time"
)

// Docker is the container engine as the domain needs it. Errors from a
// command docker ran and refused carry docker's stderr as their message.
type Docker interface {
	// List returns every container, running or not, whose name starts with prefix.
	List(ctx context.Context, prefix string) ([]Container, error)
	// Get returns the container with exactly this name, or nil when there is none.
	Get(ctx context.Context, name string) (*Container, error)
	Run(ctx context.Context, spec RunSpec) error
	// Remove force-removes a container; removing one that is gone is not an error.
	Remove(ctx context.Context, name string) error
	// RemoveVolume removes a volume; removing one that is gone is not an error.
	RemoveVolume(ctx context.Context, name string) error
	// Restart restarts a container (`docker restart`).
	Restart(ctx context.Context, name string) error
	// LastProbe returns the last health probe docker ran on a container.
	LastProbe(ctx context.Context, name string) (Probe, error)
}

// Registry is the persistent store as the domain needs it.
type Registry interface {
	Agents(ctx context.Context) ([]Agent, error)
	Observations(ctx context.Context) (map[string]Observation, error)
	// Observe stores o and appends evs to the event log in one transaction,
	// filling in each event's ID, and clears o's container's intent.
	Observe(ctx context.Context, o Observation, evs ...*Event) error
	// Forget drops the observation of a container that is no longer watched.
	Forget(ctx context.Context, container string) error
	// Leased returns the containers a reconcile is replacing at now.
	Leased(ctx context.Context, now time.Time) (map[string]bool, error)
	// Holds returns every hold, expired ones included, by container.
	Holds(ctx context.Context) (map[string]Hold, error)
	// EndHold deletes h if it is still the container's hold (a newer one
	// placed meanwhile stays).
	EndHold(ctx context.Context, h Hold) error
	// Intend records that the watchdog is about to recreate a container;
	// the next Observe of that container (its outcome) clears it. One found
	// after a restart means the recreation started and its outcome was
	// never recorded.
	Intend(ctx context.Context, container string, at time.Time) error
	// Intents returns the containers with an intent recorded.
	Intents(ctx context.Context) (map[string]bool, error)
}

// Leaser records that a container is being replaced, so that a concurrent
// tick (the daemon, while the CLI reconciles) waits instead of reporting
// the moment between rm and run as a loss and racing to recreate it.
type Leaser interface {
	Lease(ctx context.Context, container string, until time.Time) error
	Release(ctx context.Context, container string) error
}

// Publisher fans stored events out (journald, SSE). It must not block.
type Publisher interface {
	Publish(Event)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(Event)

// Publish implements Publisher.
func (f PublisherFunc) Publish(e Event) { f(e) }

// Publishers fans out to each in turn.
type Publishers []Publisher

// Publish implements Publisher.
func (ps Publishers) Publish(e Event) {
	for _, p := range ps {
		p.Publish(e)
	}
}
