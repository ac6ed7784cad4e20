package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// What a script cannot pass as one argument: text with a newline or NUL.
func TestOneLineValuesRefused(t *testing.T) {
	for _, r := range []string{"two\nlines", "cr\rhere", "nul\x00", strings.Repeat("r", maxReason+1)} {
		if err := validateReason(r); !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), "--reason") {
			t.Errorf("--reason %q: %v, want it refused", r, err)
		}
	}
	if err := validateReason("disk swap, back at 14:00"); err != nil {
		t.Errorf("a one-line reason: %v", err)
	}
	cmd := "true\nfalse"
	f := HealthFlags{HealthCmd: &cmd}
	if err := f.validate(); !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), `--health-cmd "true\nfalse"`) {
		t.Errorf("--health-cmd with a newline: %v, want it refused naming it", err)
	}
}
