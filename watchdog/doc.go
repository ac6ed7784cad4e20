// Package watchdog is the domain of container-watchdog: agents and their
// instances, the containers that should exist for them, the reconcile that
// makes docker match the registry, and the tick that notices when it does
// not and reports it as events.
//
// It knows nothing of SQLite, the docker CLI, systemd or HTTP: it consumes
// small interfaces (Registry, Docker, Publisher) that the sub-packages and
// cmd implement, so every branch can be driven by a fake runner and a fake
// clock.
package watchdog
