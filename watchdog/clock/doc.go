// Package clock is the one seam through which container-watchdog reads
// time and waits. Every component takes a Clock; production code passes
// System(), tests pass a *fakeclock.Clock they advance by hand, so pacing,
// health and loop timing are tested without sleeping.
package clock
