package main

import (
	"fmt"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// HealthFlags are the health check and unhealthy policy flags of `agent
// add` and `agent set`. Each is a pointer so that `agent set` changes only
// what is given.
type HealthFlags struct {
	HealthCmd         *string        `name:"health-cmd" placeholder:"CMD" help:"Health check command, run by the container's shell (docker's --health-cmd)."`
	HealthInterval    *time.Duration `name:"health-interval" placeholder:"DUR" help:"Time between health probes."`
	HealthTimeout     *time.Duration `name:"health-timeout" placeholder:"DUR" help:"Longest one health probe may take."`
	HealthRetries     *int           `name:"health-retries" placeholder:"N" help:"Failed probes in a row that make the container unhealthy."`
	HealthStartPeriod *time.Duration `name:"health-start-period" placeholder:"DUR" help:"Failed probes do not count while the container starts."`
	OnUnhealthy       *string        `name:"on-unhealthy" placeholder:"report|restart" help:"What the watchdog does about an unhealthy container: report it (default) or also docker restart it."`
	UnhealthyGrace    *time.Duration `name:"unhealthy-grace" placeholder:"DUR" help:"With --on-unhealthy restart, how long it must stay unhealthy first (default 0)."`
}

// apply sets on a what the flags give, leaving the rest as it is.
func (f *HealthFlags) apply(a *watchdog.Agent) {
	h := &a.Health
	if f.HealthCmd != nil {
		h.Cmd = *f.HealthCmd
	}
	for _, d := range []struct {
		from *time.Duration
		to   *time.Duration
	}{{f.HealthInterval, &h.Interval}, {f.HealthTimeout, &h.Timeout}, {f.HealthStartPeriod, &h.StartPeriod}} {
		if d.from != nil {
			*d.to = *d.from
		}
	}
	if f.HealthRetries != nil {
		h.Retries = *f.HealthRetries
	}
	if f.OnUnhealthy != nil {
		a.OnUnhealthy = watchdog.UnhealthyAction(*f.OnUnhealthy)
	}
	if f.UnhealthyGrace != nil {
		a.UnhealthyGrace = *f.UnhealthyGrace
	}
}

// any says a health check flag (not the policy) is given.
func (f *HealthFlags) any() bool {
	return f.HealthCmd != nil || f.HealthInterval != nil || f.HealthTimeout != nil || f.HealthRetries != nil || f.HealthStartPeriod != nil
}

// validate checks the values given on their own, so bad input is refused
// before the registry is opened; the whole agent is validated again.
func (f *HealthFlags) validate() error {
	var a watchdog.Agent
	f.apply(&a)
	if f.HealthCmd != nil && *f.HealthCmd == "" {
		return fmt.Errorf("%w --health-cmd %q: must not be empty (agent set --no-health-check removes the check)", watchdog.ErrInvalid, "")
	}
	if f.OnUnhealthy != nil && *f.OnUnhealthy == "" {
		return fmt.Errorf("%w --on-unhealthy %q: want report or restart", watchdog.ErrInvalid, "")
	}
	if err := a.Health.Validate(); err != nil {
		return err
	}
	return watchdog.ValidateUnhealthy(a.OnUnhealthy, a.UnhealthyGrace)
}
