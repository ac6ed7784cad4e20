package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// maxReason bounds a hold's reason: it travels in every held event.
const maxReason = 1024

// HoldCmd is `hold`.
type HoldCmd struct {
	Containers []string       `arg:"" name:"container" help:"Containers to hold: expected instances of registered container agents."`
	For        *time.Duration `name:"for" placeholder:"DUR" help:"End the hold by itself after this long (default: only release ends it)."`
	Reason     *string        `name:"reason" placeholder:"TEXT" help:"Why, shown in status and in the container_held event."`
}

// Run implements the command: all or nothing, checked before anything is
// written. Holding a held container replaces its hold (reason and end).
func (c *HoldCmd) Run(ctx context.Context, e *env) error {
	var reason string
	if c.Reason != nil {
		reason = *c.Reason
		if err := validateReason(reason); err != nil {
			return err
		}
	}
	if c.For != nil && *c.For <= 0 {
		return fmt.Errorf("%w --for %s: must be positive", watchdog.ErrInvalid, *c.For)
	}
	names, err := e.containerArgs(c.Containers)
	if err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	expected := expectedNames(e.g.Prefix, agents)
	for _, n := range names {
		if !expected[n] {
			return unknownContainer(n)
		}
	}
	now := e.clock.Now().UTC()
	hs := make([]watchdog.Hold, 0, len(names))
	for _, n := range names {
		h := watchdog.Hold{Container: n, Reason: reason, Since: now}
		if c.For != nil {
			h.Until = now.Add(*c.For)
		}
		hs = append(hs, h)
	}
	if err := db.AddHolds(ctx, hs...); err != nil {
		return err
	}
	for _, h := range hs {
		line := "held " + h.Container
		if !h.Until.IsZero() {
			line += " until " + h.Until.Format(time.RFC3339)
		}
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}

// ReleaseCmd is `release`.
type ReleaseCmd struct {
	Containers []string `arg:"" name:"container" help:"Containers whose hold ends."`
}

// Run implements the command: all or nothing. Releasing a container that
// is not held is no error (release is idempotent, like docker rm -f): it
// prints "not held NAME". A held container that is no longer expected (its
// agent went away) can still be released.
func (c *ReleaseCmd) Run(ctx context.Context, e *env) error {
	names, err := e.containerArgs(c.Containers)
	if err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	holds, err := db.Holds(ctx)
	if err != nil {
		return err
	}
	expected := expectedNames(e.g.Prefix, agents)
	for _, n := range names {
		if _, held := holds[n]; !held && !expected[n] {
			return unknownContainer(n)
		}
	}
	removed, err := db.RemoveHolds(ctx, names...)
	if err != nil {
		return err
	}
	for _, n := range names {
		if slices.Contains(removed, n) {
			fmt.Fprintln(e.stdout, "released "+n)
		} else {
			fmt.Fprintln(e.stdout, "not held "+n)
		}
	}
	return nil
}

// containerArgs checks container names given on the command line and
// drops repeats, keeping the order.
func (e *env) containerArgs(args []string) ([]string, error) {
	var out []string
	for _, n := range args {
		if _, err := watchdog.ParseContainerName(e.g.Prefix, n); err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func unknownContainer(name string) error {
	return fmt.Errorf("%w container %q: not an instance of a registered container agent (see agent ls)", watchdog.ErrInvalid, name)
}

func validateReason(r string) error {
	switch {
	case r == "":
		return fmt.Errorf("%w --reason %q: must not be empty (leave --reason out for none)", watchdog.ErrInvalid, r)
	case len(r) > maxReason:
		return fmt.Errorf("%w --reason %q...: longer than %d bytes", watchdog.ErrInvalid, r[:40], maxReason)
	case strings.ContainsAny(r, "\x00\n\r"):
		return fmt.Errorf("%w --reason %q: must be one line", watchdog.ErrInvalid, r)
	}
	return nil
}

// expectedNames is the set of containers the registry expects.
func expectedNames(prefix string, agents []watchdog.Agent) map[string]bool {
	out := map[string]bool{}
	for _, in := range watchdog.ExpectedInstances(agents) {
		out[watchdog.ContainerName(prefix, in.Agent, in.Instance)] = true
	}
	return out
}

// heldExpected is the expected containers an active hold covers at now:
// what reconcile must leave alone.
func (e *env) heldExpected(ctx context.Context, db *sqlite.DB, agents []watchdog.Agent) (map[string]bool, error) {
	holds, err := db.Holds(ctx)
	if err != nil {
		return nil, err
	}
	expected := expectedNames(e.g.Prefix, agents)
	now := e.clock.Now()
	out := map[string]bool{}
	for n, h := range holds {
		if expected[n] && h.Active(now) {
			out[n] = true
		}
	}
	return out, nil
}

// dropHoldsOf ends the holds of the named containers that the registry no
// longer expects (an agent removed, an instance dropped, host mode): a
// hold is about an expected container, and a stale one would keep a
// container of the same name alone if it came back.
func (e *env) dropHoldsOf(ctx context.Context, db *sqlite.DB, names []string) error {
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	expected := expectedNames(e.g.Prefix, agents)
	var gone []string
	for _, n := range names {
		if !expected[n] {
			gone = append(gone, n)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	_, err = db.RemoveHolds(ctx, gone...)
	return err
}
