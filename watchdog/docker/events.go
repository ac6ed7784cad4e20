package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// EventsArgs is the argv of the long-lived `docker events` follower: only
// containers this tool manages, only the actions that explain a loss.
func EventsArgs() []string {
	args := []string{"events", "--filter", "type=container", "--filter", "label=" + watchdog.LabelManaged + "=true"}
	for _, a := range []string{"create", "start", "kill", "die", "oom", "stop", "destroy", "health_status"} {
		args = append(args, "--filter", "event="+a)
	}
	return append(args, "--format", "{{json .}}")
}

// Follow streams managed containers' lifecycle events to onEvent until the
// docker CLI exits or ctx ends. It returns why the stream ended.
func (c *Client) Follow(ctx context.Context, onEvent func(watchdog.Lifecycle)) error {
	var bad int
	res, err := c.Runner.Stream(ctx, func(line []byte) {
		l, err := ParseEvent(line)
		if err != nil {
			bad++
			return
		}
		onEvent(l)
	}, c.Program, EventsArgs()...)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &Error{Args: EventsArgs(), ExitCode: res.ExitCode, Stderr: string(res.Stderr)}
	}
	if bad > 0 {
		return fmt.Errorf("docker events ended; %d lines could not be read", bad)
	}
	return fmt.Errorf("docker events ended")
}

type eventJSON struct {
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	TimeNano int64  `json:"timeNano"`
	Time     int64  `json:"time"`
	Actor    struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// ParseEvent reads one line of `docker events --format '{{json .}}'`.
func ParseEvent(line []byte) (watchdog.Lifecycle, error) {
	var e eventJSON
	if err := json.Unmarshal(line, &e); err != nil {
		return watchdog.Lifecycle{}, fmt.Errorf("docker event %q: %w", line, err)
	}
	attr := e.Actor.Attributes
	if e.Action == "" || attr["name"] == "" {
		return watchdog.Lifecycle{}, fmt.Errorf("docker event %q: no action or container name", line)
	}
	t := time.Unix(0, e.TimeNano)
	if e.TimeNano == 0 {
		t = time.Unix(e.Time, 0)
	}
	l := watchdog.Lifecycle{
		Time: t, Container: attr["name"], Agent: attr[watchdog.LabelAgent], Instance: attr[watchdog.LabelInstance],
		Action: e.Action, ExitCode: attr["exitCode"], Signal: attr["signal"],
	}
	// "health_status: unhealthy" is one verb and its value.
	if verb, health, ok := strings.Cut(l.Action, ": "); ok && verb == "health_status" {
		l.Action, l.Health = verb, watchdog.Health(health)
	}
	// An exit code that is not a number explains nothing: drop it.
	if l.ExitCode != "" {
		if _, err := strconv.Atoi(l.ExitCode); err != nil {
			l.ExitCode = ""
		}
	}
	return l, nil
}
