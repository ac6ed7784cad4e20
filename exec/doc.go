// Package exec runs external programs for container-watchdog.
//
// It is the one seam between the daemon and the docker CLI: a program and
// its argv go in (never through a shell), stdout, stderr and the exit code
// come out. Every call is bounded by a timeout, and when the timeout hits
// the whole process group is killed so a wedged docker CLI and anything it
// spawned cannot outlive the call. Package fakeexec provides a scripted
// fake for unit tests, in the manner of k8s.io/utils/exec.
package exec
