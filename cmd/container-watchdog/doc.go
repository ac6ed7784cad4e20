// Command container-watchdog keeps a declared set of Docker containers
// alive and reports every change to journald and Server-Sent Events.
//
// This package is the edge: the kong grammar (one file per command), and
// the wiring of the domain (package watchdog) to SQLite, the docker CLI,
// journald, systemd and HTTP. See ../../README.md for the tour.
package main
