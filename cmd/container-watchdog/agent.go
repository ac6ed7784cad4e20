package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// AgentCmd groups the registry commands.
type AgentCmd struct {
	Add AgentAddCmd `cmd:"" help:"Register an agent type and reconcile its containers."`
	Set AgentSetCmd `cmd:"" help:"Change an agent; containers whose configuration changed are recreated."`
	Rm  AgentRmCmd  `cmd:"" help:"Unregister an agent and remove its containers."`
	Ls  AgentLsCmd  `cmd:"" help:"List agents and instances."`
}

// AgentAddCmd is `agent add`.
type AgentAddCmd struct {
	Name        string   `arg:"" name:"agent" help:"Agent name: [a-z0-9][a-z0-9_]*, at most 63 characters."`
	Image       string   `required:"" placeholder:"IMG" help:"Image to run."`
	Instance    []string `sep:"none" placeholder:"NAME" help:"Instance name (repeatable; default: default)."`
	HostMode    bool     `help:"Registered, but runs on the host: no container is expected or created."`
	Env         []string `sep:"none" placeholder:"K=V" help:"Environment variable (repeatable)."`
	StatePath   string   `default:"/state" placeholder:"PATH" help:"Where the state volume is mounted."`
	HealthFlags `embed:""`
	NoReconcile bool     `help:"Only change the registry."`
	Command     []string `arg:"" optional:"" placeholder:"CMD" help:"Command and arguments, after --."`
}

// Run implements the command.
func (c *AgentAddCmd) Run(ctx context.Context, e *env) error {
	a := watchdog.Agent{
		Name: c.Name, Image: c.Image, HostMode: c.HostMode, Env: c.Env,
		StatePath: c.StatePath, Command: c.Command, Instances: c.Instance,
	}
	if len(a.Instances) == 0 {
		a.Instances = []string{watchdog.DefaultInstance}
	}
	// Validate before opening the registry: bad input writes nothing, not even a new file.
	if err := c.HealthFlags.validate(); err != nil {
		return err
	}
	c.HealthFlags.apply(&a)
	if err := a.Validate(); err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.AddAgent(ctx, a); err != nil {
		return err
	}
	if c.NoReconcile {
		return nil
	}
	return e.converge(ctx, db, e.names(a), watchdog.ConvergeOptions{}, true)
}

// AgentSetCmd is `agent set`.
type AgentSetCmd struct {
	Name          string   `arg:"" name:"agent" help:"Agent to change."`
	Image         string   `placeholder:"IMG" help:"New image."`
	Instance      []string `sep:"none" placeholder:"NAME" help:"Replace the instance list (repeatable)."`
	HostMode      *bool    `negatable:"" help:"Switch host mode on or off."`
	Env           []string `sep:"none" placeholder:"K=V" help:"Replace the environment (repeatable)."`
	ClearEnv      bool     `help:"Remove every environment variable."`
	StatePath     string   `placeholder:"PATH" help:"New state volume mount point."`
	HealthFlags   `embed:""`
	NoHealthCheck bool     `name:"no-health-check" help:"Remove the agent's health check (an image's own HEALTHCHECK then applies again)."`
	Purge         bool     `help:"Also remove the state volumes of instances that leave."`
	NoReconcile   bool     `help:"Only change the registry."`
	Command       []string `arg:"" optional:"" placeholder:"CMD" help:"Replace the command, after --."`
}

// Run implements the command.
func (c *AgentSetCmd) Run(ctx context.Context, e *env) error {
	if err := watchdog.ValidateAgentName(c.Name); err != nil {
		return err
	}
	if c.ClearEnv && len(c.Env) > 0 {
		return fmt.Errorf("%w: --clear-env and --env %q together", watchdog.ErrInvalid, c.Env[0])
	}
	if c.NoHealthCheck && c.HealthFlags.any() {
		return fmt.Errorf("%w: --no-health-check and --health-* together", watchdog.ErrInvalid)
	}
	if err := c.validate(); err != nil {
		return err // before opening: bad input writes nothing, not even a new file
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	before, after, err := db.UpdateAgent(ctx, c.Name, func(a *watchdog.Agent) error {
		if c.Image != "" {
			a.Image = c.Image
		}
		if len(c.Instance) > 0 {
			a.Instances = c.Instance
		}
		if c.HostMode != nil {
			a.HostMode = *c.HostMode
		}
		if len(c.Env) > 0 {
			a.Env = c.Env
		}
		if c.ClearEnv {
			a.Env = nil
		}
		if c.StatePath != "" {
			a.StatePath = c.StatePath
		}
		if len(c.Command) > 0 {
			a.Command = c.Command
		}
		if c.NoHealthCheck {
			a.Health = watchdog.HealthCheck{}
		}
		c.HealthFlags.apply(a)
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.dropHoldsOf(ctx, db, e.names(before)); err != nil {
		return err
	}
	if c.NoReconcile {
		return nil
	}
	names := append(e.names(before), e.names(after)...)
	return e.converge(ctx, db, names, watchdog.ConvergeOptions{RemoveUnlisted: true, Purge: c.Purge}, true)
}

// validate checks the values given; the whole agent is validated again
// once the change is applied.
func (c *AgentSetCmd) validate() error {
	if c.Image != "" {
		if err := watchdog.ValidateImage(c.Image); err != nil {
			return err
		}
	}
	for _, in := range c.Instance {
		if err := watchdog.ValidateInstanceName(in); err != nil {
			return err
		}
	}
	for _, kv := range c.Env {
		if err := watchdog.ValidateEnv(kv); err != nil {
			return err
		}
	}
	if c.StatePath != "" {
		if err := watchdog.ValidateStatePath(c.StatePath); err != nil {
			return err
		}
	}
	return c.HealthFlags.validate()
}

// AgentRmCmd is `agent rm`.
type AgentRmCmd struct {
	Name        string `arg:"" name:"agent" help:"Agent to unregister."`
	Purge       bool   `help:"Also remove the state volumes."`
	NoReconcile bool   `help:"Only change the registry."`
}

// Run implements the command.
func (c *AgentRmCmd) Run(ctx context.Context, e *env) error {
	if err := watchdog.ValidateAgentName(c.Name); err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := db.DeleteAgent(ctx, c.Name)
	if err != nil {
		return err
	}
	if err := e.dropHoldsOf(ctx, db, e.names(a)); err != nil {
		return err
	}
	if c.NoReconcile {
		return nil
	}
	return e.converge(ctx, db, e.names(a), watchdog.ConvergeOptions{RemoveUnlisted: true, Purge: c.Purge}, true)
}

// AgentLsCmd is `agent ls`.
type AgentLsCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// Run implements the command.
func (c *AgentLsCmd) Run(ctx context.Context, e *env) error {
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	as, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		holds, err := db.Holds(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e.withHolds(as, holds))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tIMAGE\tMODE\tINSTANCES")
	for _, a := range as {
		mode := "container"
		if a.HostMode {
			mode = "host"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.Image, mode, strings.Join(a.Instances, ","))
	}
	return tw.Flush()
}

// agentJSON is an agent as `agent ls --json` shows it: the registry's
// fields and, by instance, the holds in force.
type agentJSON struct {
	watchdog.Agent
	Holds map[string]holdJSON `json:"holds,omitempty"`
}

type holdJSON struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// withHolds pairs each agent with the active holds of its instances.
func (e *env) withHolds(as []watchdog.Agent, holds map[string]watchdog.Hold) []agentJSON {
	out := make([]agentJSON, 0, len(as))
	now := e.clock.Now()
	for _, a := range as {
		aj := agentJSON{Agent: a}
		for _, in := range a.Instances {
			if h, ok := holds[watchdog.ContainerName(e.g.Prefix, a.Name, in)]; ok && h.Active(now) {
				if aj.Holds == nil {
					aj.Holds = map[string]holdJSON{}
				}
				aj.Holds[in] = holdJSON{Reason: h.Reason, Since: h.Since, Until: h.Until}
			}
		}
		out = append(out, aj)
	}
	return out
}

// names lists the container names of an agent's instances.
func (e *env) names(a watchdog.Agent) []string {
	out := make([]string, 0, len(a.Instances))
	for _, in := range a.Instances {
		out = append(out, watchdog.ContainerName(e.g.Prefix, a.Name, in))
	}
	return out
}

// converge reconciles names against the registry and prints the outcome;
// held containers are left alone ("held NAME"). After a registry change
// (changed), a failure keeps the change and says so.
func (e *env) converge(ctx context.Context, db *sqlite.DB, names []string, opt watchdog.ConvergeOptions, changed bool) error {
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	if opt.Held, err = e.heldExpected(ctx, db, agents); err != nil {
		return err
	}
	rs, err := e.reconciler(db).Converge(ctx, agents, names, opt)
	if err == nil {
		err = e.printResults(rs)
	}
	switch {
	case err != nil && changed:
		return fmt.Errorf("registry updated, but reconcile failed: %w", err)
	case err != nil:
		return fmt.Errorf("reconcile failed: %w", err)
	}
	return nil
}
