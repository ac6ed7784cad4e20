package watchdog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Outcome is what reconciling one container did.
type Outcome string

const (
	OutcomeCreated   Outcome = "created"
	OutcomeUnchanged Outcome = "unchanged"
	OutcomeRecreated Outcome = "recreated"
	OutcomeRemoved   Outcome = "removed"
	OutcomeOrphaned  Outcome = "orphaned"
	// OutcomeAbsent: neither expected nor present, so there was nothing to do.
	OutcomeAbsent Outcome = "absent"
	// OutcomeHeld: an operator holds it, so it was left alone.
	OutcomeHeld   Outcome = "held"
	OutcomeFailed Outcome = "failed"
)

// Result is the outcome for one container; Err is set when Outcome is Failed.
type Result struct {
	Container string
	Outcome   Outcome
	Err       error
}

// ConvergeOptions say what may be removed.
type ConvergeOptions struct {
	// All adds every registry instance and every managed container.
	All bool
	// RemoveUnlisted removes managed containers the registry does not list
	// (an agent or instance just deleted); without it they are orphans.
	RemoveUnlisted bool
	// Purge also removes the state volume of every container removed.
	Purge bool
	// Held names containers an operator holds: they are left alone.
	Held map[string]bool
}

// Reconciler is the only code that runs `docker run` and `docker rm`. It
// makes docker match the registry, one container at a time, idempotently.
type Reconciler struct {
	Docker Docker
	Prefix string
	// Leases, when set, marks each container while it is removed and
	// created, for LeaseTTL at most (a crashed holder's lease expires).
	Leases   Leaser
	LeaseTTL time.Duration
	// Clock stamps leases (nil: the system clock).
	Clock clock.Clock
}

// Converge reconciles the named containers (with opt.All, also every
// registry instance and every managed container) against agents, the
// registry's current view, and docker's state read with one List call.
// A failure with one container never stops the others.
func (r *Reconciler) Converge(ctx context.Context, agents []Agent, names []string, opt ConvergeOptions) ([]Result, error) {
	cs, err := r.Docker.List(ctx, r.Prefix)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	observed := make(map[string]*Container, len(cs))
	for i := range cs {
		observed[cs[i].Name] = &cs[i]
	}
	if opt.All {
		names = append([]string(nil), names...)
		for _, in := range ExpectedInstances(agents) {
			names = append(names, ContainerName(r.Prefix, in.Agent, in.Instance))
		}
		for _, c := range cs {
			if Manages(r.Prefix, c) {
				names = append(names, c.Name)
			}
		}
	}
	names = dedupe(names)
	out := make([]Result, 0, len(names))
	for _, n := range names {
		if opt.Held[n] {
			out = append(out, Result{Container: n, Outcome: OutcomeHeld})
			continue
		}
		o, err := r.one(ctx, agents, n, observed[n], opt)
		out = append(out, Result{Container: n, Outcome: o, Err: err})
	}
	return out, nil
}

// Repair reconciles one container the tick saw missing, after looking at
// docker afresh: the snapshot may be stale by the time a repair runs.
func (r *Reconciler) Repair(ctx context.Context, agents []Agent, name string) (Outcome, error) {
	c, err := r.Docker.Get(ctx, name)
	if err != nil {
		return OutcomeFailed, fmt.Errorf("look up %s: %w", name, err)
	}
	if c != nil && c.State == "created" && Manages(r.Prefix, *c) {
		// Created but never started: a recreation cut off (the daemon was
		// killed during its docker run). Replace it; no restart policy
		// would ever start it.
		c.ConfigHash = ""
	}
	return r.one(ctx, agents, name, c, ConvergeOptions{})
}

// Restart restarts a container the tick found unhealthy.
func (r *Reconciler) Restart(ctx context.Context, name string) error {
	return r.Docker.Restart(ctx, name)
}

// one converges a single container. observed is nil when docker has none.
func (r *Reconciler) one(ctx context.Context, agents []Agent, name string, observed *Container, opt ConvergeOptions) (Outcome, error) {
	agent, listed := r.lookup(agents, name)
	if observed != nil && !Manages(r.Prefix, *observed) {
		if listed && !agent.HostMode {
			return OutcomeFailed, fmt.Errorf("container %s exists but was not created by container-watchdog (no %s label); remove or rename it", name, LabelManaged)
		}
		return OutcomeUnchanged, nil // never touch what is not ours
	}
	switch {
	case listed && agent.HostMode, !listed && opt.RemoveUnlisted:
		return r.remove(ctx, name, observed, opt.Purge)
	case !listed:
		if observed != nil {
			return OutcomeOrphaned, nil
		}
		return OutcomeAbsent, nil
	}
	spec := r.spec(agent, name)
	if observed != nil && observed.ConfigHash == spec.Labels[LabelConfig] {
		return OutcomeUnchanged, nil
	}
	release, err := r.lease(ctx, name)
	if err != nil {
		return OutcomeFailed, err
	}
	defer release()
	if observed == nil {
		if err := r.Docker.Run(ctx, spec); err != nil {
			return OutcomeFailed, err
		}
		return OutcomeCreated, nil
	}
	if err := r.Docker.Remove(ctx, name); err != nil {
		return OutcomeFailed, fmt.Errorf("remove outdated %s: %w", name, err)
	}
	if err := r.Docker.Run(ctx, spec); err != nil {
		return OutcomeFailed, err
	}
	return OutcomeRecreated, nil
}

// lease marks name as being replaced until the returned func releases it.
func (r *Reconciler) lease(ctx context.Context, name string) (func(), error) {
	if r.Leases == nil {
		return func() {}, nil
	}
	if err := r.Leases.Lease(ctx, name, clock.Or(r.Clock).Now().Add(r.LeaseTTL)); err != nil {
		return nil, err
	}
	return func() {
		// Released even when ctx ended: a stale lease would hide the
		// container from the watchdog until it expires.
		_ = r.Leases.Release(context.WithoutCancel(ctx), name)
	}, nil
}

func (r *Reconciler) remove(ctx context.Context, name string, observed *Container, purge bool) (Outcome, error) {
	out := OutcomeAbsent
	if observed != nil {
		if err := r.Docker.Remove(ctx, name); err != nil {
			return OutcomeFailed, err
		}
		out = OutcomeRemoved
	}
	if purge {
		if err := r.Docker.RemoveVolume(ctx, VolumeName(name)); err != nil {
			return OutcomeFailed, fmt.Errorf("purge volume of %s: %w", name, err)
		}
		out = OutcomeRemoved
	}
	return out, nil
}

// lookup finds the agent that lists the container's instance.
func (r *Reconciler) lookup(agents []Agent, name string) (Agent, bool) {
	in, err := ParseContainerName(r.Prefix, name)
	if err != nil {
		return Agent{}, false
	}
	for _, a := range agents {
		if a.Name != in.Agent {
			continue
		}
		for _, i := range a.Instances {
			if i == in.Instance {
				return a, true
			}
		}
	}
	return Agent{}, false
}

func (r *Reconciler) spec(a Agent, name string) RunSpec {
	in, _ := ParseContainerName(r.Prefix, name)
	return RunSpec{
		Name:      name,
		Image:     a.Image,
		Env:       a.Env,
		Volume:    VolumeName(name),
		StatePath: a.StatePath,
		Command:   a.Command,
		Health:    a.Health,
		Labels: map[string]string{
			LabelManaged:  "true",
			LabelAgent:    in.Agent,
			LabelInstance: in.Instance,
			LabelConfig:   a.ConfigHash(),
		},
	}
}

// Manages says c is a container this watchdog manages: it carries the managed
// label and its name, under this prefix, names the agent and instance its
// labels do. Another watchdog's containers (a longer prefix that this one's
// name filter also matches) are not ours, so never orphans to prune.
func Manages(prefix string, c Container) bool {
	if !c.Managed {
		return false
	}
	in, err := ParseContainerName(prefix, c.Name)
	return err == nil && in.Agent == c.Agent && in.Instance == c.Instance
}

// ExpectedInstances lists the container instances of agents that are not
// host-mode, sorted by agent then instance.
func ExpectedInstances(agents []Agent) []Instance {
	var out []Instance
	for _, a := range agents {
		if a.HostMode {
			continue
		}
		for _, i := range a.Instances {
			out = append(out, Instance{Agent: a.Name, Instance: i})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Agent != out[j].Agent {
			return out[i].Agent < out[j].Agent
		}
		return out[i].Instance < out[j].Instance
	})
	return out
}

// Failures joins the errors of failed results, or returns nil.
func Failures(rs []Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Container, r.Err))
		}
	}
	return errors.Join(errs...)
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
