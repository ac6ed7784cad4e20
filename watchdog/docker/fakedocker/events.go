package fakedocker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// eventMsg is one line of the events file and what `docker events
// --format` templates see: docker 20.10's events.Message, with its JSON keys
// (the deprecated status/id/from included, as that engine still sends
// them), so {{json .}} prints what docker prints.
type eventMsg struct {
	Status   string     `json:"status,omitempty"`
	ID       string     `json:"id,omitempty"`
	From     string     `json:"from,omitempty"`
	Type     string     `json:"Type"`
	Action   string     `json:"Action"`
	Actor    eventActor `json:"Actor"`
	Scope    string     `json:"scope"`
	Time     int64      `json:"time"`
	TimeNano int64      `json:"timeNano"`
}

type eventActor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// eventPoll is how often a following `events` looks for new lines.
const eventPoll = 25 * time.Millisecond

// endType marks a line of the events file that is no docker event: it
// ends the `events` calls following when it was written (fake-events-end),
// its Actor's "error" attribute being what they print.
const endType = "fakedocker-end"

func endOfStream(text string) eventMsg {
	return eventMsg{Type: endType, Actor: eventActor{Attributes: map[string]string{"error": text}}}
}

// eventsPath is the events file: one JSON eventMsg a line, appended under
// the state lock by every call that changes a container.
func eventsPath(state string) string { return state + ".events" }

// emit records a container event as docker publishes it: attributes are
// the labels, then name and image, then extra key/value pairs (exitCode,
// signal). run appends the recorded events to the events file once the
// state is saved, still under the lock.
func (s *state) emit(ct *Container, action string, extra ...string) {
	attrs := make(map[string]string, len(ct.Labels)+2+len(extra)/2)
	for k, v := range ct.Labels {
		attrs[k] = v
	}
	attrs["name"], attrs["image"] = ct.Name, ct.Image
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	now := s.now.UnixNano()
	if n := len(s.events); n > 0 && now <= s.events[n-1].TimeNano {
		now = s.events[n-1].TimeNano + 1 // keep one call's events in order
	}
	s.events = append(s.events, eventMsg{
		Status: action, ID: ct.ID, From: ct.Image,
		Type: "container", Action: action,
		Actor: eventActor{ID: ct.ID, Attributes: attrs},
		Scope: "local", Time: now / int64(time.Second), TimeNano: now,
	})
}

// appendEvents writes a call's events to path in one O_APPEND write, so
// the lines of concurrent writers never interleave.
func appendEvents(path string, evs []eventMsg) error {
	if len(evs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// setState moves ct to a state and records the events docker publishes for
// that change: start, die (with the exit code), pause, unpause. It neither
// kills (callers emit kill and stop around it) nor removes (see reap).
func setState(st *state, ct *Container, to string, exit int) {
	from := ct.State
	ct.State, ct.ExitCode = to, exit
	if to == "running" && !isUp(from) {
		ct.OOMKilled = false // as docker resets it on start
		startHealth(ct)
	}
	switch {
	case from == to:
	case to == "paused":
		st.emit(ct, "pause")
	case from == "paused" && to == "running":
		st.emit(ct, "unpause")
	case to == "running":
		st.emit(ct, "start")
	case isUp(from):
		st.emit(ct, "die", "exitCode", strconv.Itoa(exit))
	}
}

// reap removes a container of run --rm once it has stopped, as docker does.
func reap(st *state, ct *Container) {
	if ct.AutoRemove && (ct.State == "exited" || ct.State == "dead") {
		destroy(st, ct)
	}
}

// destroy removes a container that is not running.
func destroy(st *state, ct *Container) {
	st.emit(ct, "destroy")
	st.remove(ct)
}

// forceRemove is rm -f: a running container is killed (SIGKILL) first.
func forceRemove(st *state, ct *Container) {
	if isUp(ct.State) {
		st.emit(ct, "kill", "signal", "9")
		setState(st, ct, "exited", 137)
	}
	destroy(st, ct)
}

var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
	"XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}

// signalNumber reads a signal as docker does ("KILL", "SIGKILL", "9") and
// returns it as the number its events carry.
func signalNumber(s string) (string, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return strconv.Itoa(n), nil
	}
	if n, ok := signalNumbers[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return strconv.Itoa(n), nil
	}
	//lint:ignore ST1005 docker's own wording, which callers may match
	return "", fmt.Errorf("Invalid signal: %s", s)
}

// eventFilter builds the --filter predicate with docker's semantics for
// events: values of one key are ORed, except label which is ANDed; keys
// are ANDed.
func eventFilter(filters []string) (func(eventMsg) bool, error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		switch k {
		case "container", "event", "image", "label", "type", "scope",
			"config", "daemon", "network", "node", "plugin", "secret", "service", "volume":
		default:
			//lint:ignore ST1005 docker's own wording, which callers may match
			return nil, fmt.Errorf("Error response from daemon: Invalid filter '%s'", k)
		}
		byKey[k] = append(byKey[k], v)
	}
	anyOf := func(k string, f func(string) bool) bool {
		vs, ok := byKey[k]
		if !ok {
			return true
		}
		for _, v := range vs {
			if f(v) {
				return true
			}
		}
		return false
	}
	return func(e eventMsg) bool {
		if !hasLabels(e.Actor.Attributes, byKey["label"]) {
			return false
		}
		// Filters on other object types never match a container's event.
		for _, k := range []string{"config", "daemon", "network", "node", "plugin", "secret", "service", "volume"} {
			if _, ok := byKey[k]; ok {
				return false
			}
		}
		return anyOf("type", func(v string) bool { return v == e.Type }) &&
			anyOf("scope", func(v string) bool { return v == e.Scope }) &&
			// "exec_start: sh -c x" matches event=exec_start, as in docker.
			anyOf("event", func(v string) bool { return v == e.Action || strings.HasPrefix(e.Action, v+":") }) &&
			anyOf("container", func(v string) bool {
				return strings.TrimPrefix(v, "/") == e.Actor.Attributes["name"] || (v != "" && strings.HasPrefix(e.Actor.ID, v))
			}) &&
			anyOf("image", func(v string) bool {
				img := e.Actor.Attributes["image"]
				return normalizeImage(v) == normalizeImage(img) || v == imageRepo(img)
			})
	}, nil
}

// parseEventTime reads --since/--until as docker does: a Unix timestamp
// (seconds, optionally fractional), an RFC 3339 date, or a Go duration
// counted back from now.
func parseEventTime(s string, now time.Time) (time.Time, error) {
	if unixTime.MatchString(s) {
		sec, frac, _ := strings.Cut(s, ".")
		n, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid timestamp %q: %v", s, err)
		}
		frac = (frac + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		return time.Unix(n, ns), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", s)
}

var unixTime = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?$`)

// defaultEventLine is the line `docker events` prints without --format.
func defaultEventLine(e eventMsg) string {
	keys := sortedKeys(e.Actor.Attributes)
	attrs := make([]string, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, k+"="+e.Actor.Attributes[k])
	}
	return fmt.Sprintf("%s %s %s %s (%s)",
		time.Unix(0, e.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"),
		e.Type, e.Action, e.Actor.ID, strings.Join(attrs, ", "))
}

var eventsCmd = &command{
	flags:        []flagSpec{valFlag("filter", "f"), valFlag("format"), valFlag("since"), valFlag("until")},
	interspersed: true, maxArgs: 0, usage: "[OPTIONS]",
	faultKey: "events", failCode: 1, stateless: true,
	fn: func(c *call, _ *state, p *parsedFlags) (int, bool) {
		match, err := eventFilter(p.vals["filter"])
		if err != nil {
			return c.errorf(1, "%v", err), false
		}
		var t *template.Template
		switch f := p.str("format"); f {
		case "":
		case "json":
			f = "{{json .}}"
			fallthrough
		default:
			if t, err = parseTemplate(f); err != nil {
				return c.errorf(1, "%v", err), false
			}
		}
		var since, until time.Time
		for _, x := range []struct {
			flag string
			to   *time.Time
		}{{"since", &since}, {"until", &until}} {
			if !p.isSet(x.flag) {
				continue
			}
			if *x.to, err = parseEventTime(p.str(x.flag), c.now); err != nil {
				return c.errorf(1, "%v", err), false
			}
		}
		// Like docker: only new events, unless --since or --until asks for
		// past ones too.
		offset := c.eventsStart
		if p.isSet("since") || p.isSet("until") {
			offset = 0
		}
		f := &eventFollower{path: eventsPath(c.statePath), offset: offset}
		defer f.close()
		write := func(e eventMsg) error {
			if t == nil {
				_, err := fmt.Fprintln(c.stdout, defaultEventLine(e))
				return err
			}
			return execLines(c.stdout, t, []eventMsg{e})
		}
		if ready, ok := c.ctx.Value(followingKey{}).(func()); ok {
			ready()
		}
		tick := time.NewTicker(eventPoll)
		defer tick.Stop()
		for {
			evs, err := f.read()
			if err != nil {
				return c.errorf(1, "fakedocker: reading events: %v", err), false
			}
			for _, le := range evs {
				e := le.msg
				if e.Type == endType {
					if le.at >= c.eventsStart { // not an old one a replay reads
						return c.errorf(1, "%s", e.Actor.Attributes["error"]), false
					}
					continue
				}
				if (!since.IsZero() && e.TimeNano < since.UnixNano()) || !match(e) {
					continue
				}
				if !until.IsZero() && e.TimeNano > until.UnixNano() {
					return 0, false
				}
				if err := write(e); err != nil {
					return 1, false // the reader went away
				}
			}
			if !until.IsZero() && !c.clock().Before(until) {
				return 0, false
			}
			if _, err := os.Stat(filepath.Dir(c.statePath)); errors.Is(err, fs.ErrNotExist) {
				// The test that made this fake is gone (its $WORK removed):
				// a follower left behind must not run for ever.
				return 1, false
			}
			select {
			case <-c.ctx.Done():
				return 0, false
			case <-tick.C:
			}
		}
	},
}

// followingKey, in a call's context, holds a func events calls once it
// knows where the stream starts: tests wait for it before making events.
type followingKey struct{}

// eventFollower reads whole new lines from the events file.
type eventFollower struct {
	path string
	// offset is where the next whole line starts in the file.
	offset  int64
	f       *os.File
	partial []byte
}

// loggedEvent is one line of the events file and where it starts.
type loggedEvent struct {
	msg eventMsg
	at  int64
}

func (f *eventFollower) close() {
	if f.f != nil {
		f.f.Close()
	}
}

// read returns the events appended since the last read; a line still
// being written waits for the next.
func (f *eventFollower) read() ([]loggedEvent, error) {
	if f.f == nil {
		file, err := os.Open(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // nothing has happened yet
		}
		if err != nil {
			return nil, err
		}
		if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
			file.Close()
			return nil, err
		}
		f.f = file
	}
	data, err := io.ReadAll(f.f)
	if err != nil {
		return nil, err
	}
	data = append(f.partial, data...)
	end := bytes.LastIndexByte(data, '\n') + 1
	f.partial = append([]byte(nil), data[end:]...)
	var evs []loggedEvent
	for _, line := range bytes.SplitAfter(data[:end], []byte("\n")) {
		at := f.offset
		f.offset += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e eventMsg
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s: %v: %q", f.path, err, line)
		}
		evs = append(evs, loggedEvent{e, at})
	}
	return evs, nil
}
