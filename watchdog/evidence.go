package watchdog

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Lifecycle is one docker event about a managed container: the evidence an
// operator needs to tell `docker rm -f` from an OOM kill from a crash.
type Lifecycle struct {
	Time      time.Time
	Container string
	Agent     string
	Instance  string
	Action    string // kill, die, oom, stop, destroy, start, health_status, ...
	ExitCode  string // on die
	Signal    string // on kill
	Health    Health // on health_status
}

func (l Lifecycle) String() string {
	s := l.Action
	switch {
	case l.Signal != "":
		s += " signal=" + l.Signal
	case l.ExitCode != "":
		s += " exitCode=" + l.ExitCode
	}
	return s + " at " + l.Time.UTC().Format("15:04:05.000")
}

// Evidence keeps the recent lifecycle events of each container, bounded in
// count and age, for attaching to container_missing and container_stopped.
type Evidence struct {
	// Keep and MaxAge bound what is kept per container.
	Keep   int
	MaxAge time.Duration

	mu sync.Mutex
	by map[string][]Lifecycle
	// through holds, per container, a time up to which events arriving
	// late are the watchdog's own doing (ConsumeThrough).
	through map[string]time.Time
}

// NewEvidence keeps up to keep events per container, none older than maxAge.
func NewEvidence(keep int, maxAge time.Duration) *Evidence {
	return &Evidence{Keep: keep, MaxAge: maxAge, by: map[string][]Lifecycle{}}
}

// Record adds one lifecycle event, dropping the container's events that
// are too old or too many.
func (ev *Evidence) Record(l Lifecycle) {
	if ev == nil {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if t, ok := ev.through[l.Container]; ok {
		if !l.Time.After(t) {
			return // the watchdog's own doing, arriving after it was consumed
		}
		delete(ev.through, l.Container) // the stream is past it
	}
	list := ev.by[l.Container]
	for len(list) > 0 && l.Time.Sub(list[0].Time) > ev.MaxAge {
		list = list[1:]
	}
	list = append(list, l)
	if len(list) > ev.Keep {
		list = list[len(list)-ev.Keep:]
	}
	ev.by[l.Container] = list
}

// Recent returns the container's lifecycle events younger than MaxAge at now.
func (ev *Evidence) Recent(container string, now time.Time) []Lifecycle {
	if ev == nil {
		return nil
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []Lifecycle
	for _, l := range ev.by[container] {
		if now.Sub(l.Time) <= ev.MaxAge {
			out = append(out, l)
		}
	}
	return out
}

// Consume forgets a container's events once a report has used them, so
// they explain one event only.
func (ev *Evidence) Consume(container string) {
	if ev == nil {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	delete(ev.by, container)
}

// ConsumeThrough forgets a container's events, as Consume does, and also
// those that arrive later stamped at or before t: docker's stream delivers
// the events of a call (our own docker restart's kill, die and start) after
// the call has returned, and they must not explain a later look.
func (ev *Evidence) ConsumeThrough(container string, t time.Time) {
	if ev == nil {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	delete(ev.by, container)
	if ev.through == nil {
		ev.through = map[string]time.Time{}
	}
	ev.through[container] = t
}

// Explain renders lifecycle events as an event's detail suffix and its
// journald fields (CONTAINER_EXIT_CODE, CONTAINER_KILL_SIGNAL, CONTAINER_OOM,
// CONTAINER_LIFECYCLE) and names the likely cause.
func Explain(ls []Lifecycle) (string, map[string]string) {
	if len(ls) == 0 {
		return "", nil
	}
	f := map[string]string{}
	parts := make([]string, 0, len(ls))
	var actions []string
	for _, l := range ls {
		if l.Action == "create" || l.Action == "start" || l.Action == "health_status" {
			continue // our own recreation, docker's restart, a probe: not a cause
		}
		parts = append(parts, l.String())
		actions = append(actions, l.Action)
		// A field only when docker said: an empty one is noise in journald.
		switch {
		case l.Action == "kill" && l.Signal != "":
			f["CONTAINER_KILL_SIGNAL"] = l.Signal
		case l.Action == "die" && l.ExitCode != "":
			f["CONTAINER_EXIT_CODE"] = l.ExitCode
		case l.Action == "oom":
			f["CONTAINER_OOM"] = "true"
		}
	}
	if len(parts) == 0 {
		return "", nil
	}
	f["CONTAINER_LIFECYCLE"] = strings.Join(actions, ",")
	cause := cause(f, actions)
	if cause != "" {
		f["CONTAINER_CAUSE"] = cause
	}
	detail := fmt.Sprintf("docker saw: %s", strings.Join(parts, ", "))
	if cause != "" {
		detail += " (" + cause + ")"
	}
	return detail, f
}

// cause reads the usual signatures: an OOM kill shows oom then die 137; a
// forced removal of a running container shows kill 9, die 137, destroy; a
// crash is a die with a non-zero code and no kill before it.
func cause(f map[string]string, actions []string) string {
	has := func(a string) bool {
		for _, x := range actions {
			if x == a {
				return true
			}
		}
		return false
	}
	switch {
	case f["CONTAINER_OOM"] == "true":
		return "likely killed by the OOM killer"
	case has("destroy") && f["CONTAINER_KILL_SIGNAL"] == "9":
		return "likely removed by force (docker rm -f)"
	case has("destroy"):
		return "removed (docker rm)"
	case has("stop"):
		return "stopped by request (docker stop)"
	case has("kill") && f["CONTAINER_KILL_SIGNAL"] != "":
		return "killed by signal " + f["CONTAINER_KILL_SIGNAL"]
	case has("kill"):
		return "killed (docker kill)"
	case f["CONTAINER_EXIT_CODE"] != "" && f["CONTAINER_EXIT_CODE"] != "0":
		return "exited with code " + f["CONTAINER_EXIT_CODE"] + " (crash or error)"
	case f["CONTAINER_EXIT_CODE"] == "0":
		return "exited cleanly"
	}
	return ""
}
