package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// StatusCmd is `status`.
type StatusCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// Run implements the command: it asks docker now rather than trusting the
// last tick, so it works with or without a daemon running.
func (c *StatusCmd) Run(ctx context.Context, e *env) error {
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	cs, err := e.docker().List(ctx, e.g.Prefix)
	if err != nil {
		return withCode(exitNoDocker, fmt.Errorf("docker unreachable: %w", err))
	}
	holds, err := db.Holds(ctx)
	if err != nil {
		return err
	}
	sts := watchdog.Partition(e.g.Prefix, agents, cs, holds, e.clock.Now())
	if c.JSON {
		if sts == nil {
			sts = []watchdog.InstanceState{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sts); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER\tAGENT\tINSTANCE\tSTATE\tHEALTH\tHELD")
		for _, s := range sts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Container, s.Agent, s.Instance, s.State, orDash(string(s.Health)), heldText(s))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range sts {
		if t := s.Trouble(); t != "" {
			return withCode(exitFailed, fmt.Errorf("%s is %s", s.Container, t))
		}
	}
	return nil
}

// heldText is the HELD column: "-", or "yes", the end and the reason.
func heldText(s watchdog.InstanceState) string {
	if !s.Held {
		return "-"
	}
	t := "yes"
	if !s.HoldUntil.IsZero() {
		t += " until " + s.HoldUntil.UTC().Format(time.RFC3339)
	}
	if s.HoldReason != "" {
		t += ": " + s.HoldReason
	}
	return t
}
