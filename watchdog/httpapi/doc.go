// Package httpapi serves the daemon's read-only HTTP interface: the event
// stream as Server-Sent Events (/events), the last tick (/state) and a
// liveness answer (/healthz).
//
// The Broker fans each event out to every SSE client through a bounded
// buffer: Publish never blocks, so a slow or stuck client can delay neither
// the tick nor other clients; it is dropped instead and resumes with
// Last-Event-ID, replayed from the event log.
package httpapi
