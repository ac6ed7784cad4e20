// Package fakedocker is a stand-in for the docker CLI, used by tests so
// container-watchdog can be exercised end to end without a Docker daemon.
// It is the one fake of the docker seam, with one argv parser, used two
// ways:
//
//   - As a program: register Main as "docker" with testscript (RunMain, or
//     Main wrapped as func() { os.Exit(fakedocker.Main()) }) so the code
//     under test finds it through PATH and shells out to it exactly as it
//     would to the real CLI.
//   - In-process: New(dir).Handler() is an exec/fakeexec Handler running
//     the same commands on the same state file, so unit tests drive the
//     real docker.Client; Docker's helpers (Put, SetState, OOMKill, Remove,
//     SetHealth, ImageHealthcheck, SetFault, EndEvents) run the fake-*
//     subcommands below, and Container and HasVolume read the state.
//
// Every invocation may be a separate process, so all state lives in files
// (in-process, the directory given to New plays $WORK):
//
//   - $FAKEDOCKER_STATE (else $WORK/docker.json, else ./docker.json) holds
//     containers, volumes, the optional image list and injected faults as
//     JSON. A missing file is an empty state. Read-modify-write happens under
//     flock on "<state>.lock" and writes are atomic (temp file + rename).
//   - $FAKEDOCKER_LOG (else docker.log next to the state file) gets one line
//     per invocation, the arguments joined by single spaces, written before
//     anything else so that hung or failing calls are visible too.
//   - "<state>.events" gets docker's events (docker 20.10's JSON lines:
//     status/id/from, Type, Action, Actor.ID, Actor.Attributes with name,
//     image, the labels, exitCode on die and signal on kill; scope, time,
//     timeNano) for every change a call makes to a container: run is create
//     and start; stop is kill (signal 15), die and stop; kill is kill
//     (signal 9 or -s) and die 137; rm -f of a running container and
//     fake-rm are kill 9, die 137 and destroy; start is start; restart is
//     kill (signal 15), die and stop (when it ran), then start and restart;
//     fake-health is "health_status: healthy|unhealthy" when the status
//     changes; fake-set-state is die (its exit code, default 1), oom and die (--oom)
//     or start; fake-run is create and start (and die unless running).
//     Times come from the clock (Docker.Clock in-process). They are
//     appended under the lock, after the state is saved. `events` follows
//     the file from its end (from the start with --since or --until),
//     polling it, with docker's filters (type, label, event, container,
//     image) and --format, until killed (SIGTERM/SIGINT end it with 0) or
//     fake-events-end.
//
// Faults make a subcommand fail or hang. They come from the state file
// ("faults": {"ps": {"fail": "text", "times": 1}, "rm": {"hang": true}}) and
// from the environment (FAKEDOCKER_FAIL_PS=text, FAKEDOCKER_HANG_RM=1), the
// environment winning. Keys are subcommand names (volume subcommands share
// "volume"); the key "all" applies to every docker subcommand; in the state
// file a key "CMD:CONTAINER" (FaultKey) applies only to calls of CMD that
// name that container (run --name, rm, start, stop, kill, restart,
// inspect), and
// wins over CMD. A state-file fault with "times" is consumed on each use
// and removed at zero. A hang lasts until the call's context ends (the
// process is signalled, or in-process the runner's ctx ends).
//
// Health checks: `run --health-cmd/--health-interval/--health-timeout/
// --health-retries/--health-start-period` (merged field by field over the
// image's own HEALTHCHECK, which fake-image healthcheck sets; refused as
// docker refuses a bad duration, a negative value or --no-healthcheck with
// any of them) give a container Config.Healthcheck. Each start (run,
// start, restart) sets its health to "starting", keeping the probe log;
// fake-health sets what a probe found. ps's Status shows it for a running
// container ("Up 3 minutes (unhealthy)", "(healthy)", "(health:
// starting)"), and `inspect --format '{{json .State.Health}}'` prints
// docker's shape ({"Status", "FailingStreak", "Log": [{"Start", "End",
// "ExitCode", "Output"}]}, the last 5 probes), or null without a check.
// The fake runs no probes by itself and emits no exec_* events for them.
//
// Besides the docker subset (ps, run, rm, start, stop, kill, restart,
// inspect, events, volume ls/create/rm/inspect, version, info) there are
// helper subcommands for tests, all prefixed "fake-" and logged but never
// faulted:
//
//	fake-run [--state STATE] [RUN OPTIONS] IMAGE [CMD...]  docker run -d by someone else
//	fake-set-state [--oom] NAME STATE [EXITCODE]  the engine changes a state
//	                            (--oom: the OOM killer, oom then die 137)
//	fake-rm NAME...             docker rm -f behind everyone's back
//	fake-write VOLUME PATH CONTENT, fake-read VOLUME PATH   a volume's files
//	fake-fault KEY fail TEXT [TIMES] | KEY hang [TIMES] | KEY clear
//	fake-image add|rm IMAGE...  the images that exist (default: all)
//	fake-image healthcheck IMAGE CMD|NONE   the image's own HEALTHCHECK
//	fake-health NAME starting|healthy|unhealthy [--exit N] [--output TEXT]
//	                            a probe's verdict (exit default 0 when
//	                            healthy, else 1; starting logs no probe)
//	fake-events-end [TEXT]      following `events` calls exit 1 printing TEXT,
//	                            as when the daemon restarts
package fakedocker
