// Package metrics exposes the watchdog to Prometheus (GET /metrics) with
// client_golang, watching the domain from the outside:
//
//   - Metrics.Publish is a watchdog.Publisher: every stored event counts in
//     events_total; recreations, the detection delay (docker's own event
//     time to the stored report) and the repair duration (the
//     container_missing report to container_recreated or container_running)
//     come from the events alone.
//   - Metrics.ObserveTick sees each tick's report: ticks, its duration, the
//     last completed tick, and the state of every expected instance. The
//     per-container series of a container that leaves the registry go away.
//   - SSE clients, notification sinks and the repair pool's limit are read
//     at scrape time through functions, so neither the broker, the notifier
//     nor the watcher knows about Prometheus.
//
// Names and labels are the contract's (CONTRACT.md, Metrics), plus
// container_state, container_recreations_total and tick_interval_seconds,
// which the alert rules in units/container-watchdog.rules.yml need, and
// repair_parallelism.
package metrics
