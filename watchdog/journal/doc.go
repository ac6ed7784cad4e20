// Package journal publishes watchdog events to journald with the contract's
// structured fields (go-systemd's journal package), or as logfmt lines on
// stderr when journald is not there, so `journalctl CONTAINER_EVENT=...`
// and a grep of a plain log find the same facts.
package journal
