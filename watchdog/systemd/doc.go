// Package systemd is the daemon's link to its service manager: sd_notify
// messages (READY, STATUS, WATCHDOG, STOPPING), the watchdog timeout, and
// the listener handed over by socket activation. It wraps go-systemd and
// keeps its pitfalls in one place: unsetEnvironment is always false (or
// every later notification is lost), Listeners is read once, and nil
// entries are refused.
package systemd
