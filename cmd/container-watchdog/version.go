package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// VersionCmd is `version`.
type VersionCmd struct{}

// Run implements the command.
func (c *VersionCmd) Run(_ context.Context, e *env) error {
	fmt.Fprintf(e.stdout, "container-watchdog %s\n", version())
	return nil
}

// version is the module version, or the VCS revision of a development build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "devel-" + rev + dirty
	}
	if v == "" {
		return "devel"
	}
	return v
}
