// Package metricstest reads a Prometheus text exposition back for tests:
// it parses with expfmt (the same parser Prometheus uses), looks series up
// by labels, and lists what the contract promises, so unit tests of
// package metrics and end-to-end tests of the daemon check one table.
package metricstest
