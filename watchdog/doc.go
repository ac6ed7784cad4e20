// Package watchdog is the domain of container-watchdog: agents and their
// instances, the containers that should exist for them, the reconcile that
// makes docker match the registry, and the tick that notices when it does
// not and reports it as events.
//
// The tick lists every managed container and is the source of truth; the
// Loop runs it periodically and, settled, after docker's events. A
// container docker removed is judged sooner and at a cost that does not
// grow with the fleet by a Check: one docker call about that name, judged
// through the same rules and records as a tick, never at the same time as
// one. Events the watchdog's own repairs and restarts cause (Own) ask for
// no look at all.
//
// It knows nothing of SQLite, the docker CLI, systemd or HTTP: it consumes
// small interfaces (Registry, Docker, Publisher) that the sub-packages and
// cmd implement, so every branch can be driven by a fake runner and a fake
// clock.
package watchdog
