package main

import (
	"context"
	"fmt"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// ReconcileCmd is `reconcile`.
type ReconcileCmd struct {
	All        bool     `help:"Every registry instance and every managed container."`
	Prune      bool     `help:"With --all, remove managed containers the registry does not know (orphans)."`
	Containers []string `arg:"" optional:"" name:"container" help:"Containers to converge."`
}

// Run implements the command.
func (c *ReconcileCmd) Run(ctx context.Context, e *env) error {
	switch {
	case c.Prune && !c.All:
		return fmt.Errorf("%w: --prune needs --all", watchdog.ErrInvalid)
	case !c.All && len(c.Containers) == 0:
		return fmt.Errorf("%w: name containers or pass --all", watchdog.ErrInvalid)
	}
	for _, n := range c.Containers {
		if _, err := watchdog.ParseContainerName(e.g.Prefix, n); err != nil {
			return err
		}
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return e.converge(ctx, db, c.Containers, watchdog.ConvergeOptions{All: c.All, RemoveUnlisted: c.Prune}, false)
}
