package fakedocker

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// The fake-* subcommands let test scripts arrange the daemon's state. They
// have no faultKey, so injected faults never get in a test's own way.

// fakeRunCmd is docker run as someone other than the code under test runs
// it: the same flags (plus --state), never faulted, always detached.
var fakeRunCmd = &command{
	flags:        append(append([]flagSpec(nil), runCmd.flags...), valFlag("state")),
	interspersed: false, minArgs: 1, maxArgs: -1, usage: "[--state STATE] [RUN OPTIONS] IMAGE [COMMAND] [ARG...]",
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		to := p.str("state")
		if to == "" {
			to = "running"
		}
		if !validState(to) {
			return c.errorf(1, "fake-run: invalid state %q", to), false
		}
		ct, code := createContainer(c, st, p)
		if ct == nil {
			return code, false
		}
		setState(st, ct, "running", 0)
		if to != "running" {
			setState(st, ct, to, exitCodeFor(ct, to))
		}
		fmt.Fprintln(c.stdout, ct.ID)
		return 0, true
	},
}

var fakeSetStateCmd = &command{
	flags:   []flagSpec{boolFlag("oom")},
	minArgs: 2, maxArgs: 3, usage: "[--oom] NAME STATE [EXITCODE]", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		ct := st.find(p.args[0])
		if ct == nil {
			return c.errorf(1, "fake-set-state: no such container: %s", p.args[0]), false
		}
		to := p.args[1]
		if !validState(to) {
			return c.errorf(1, "fake-set-state: invalid state %q", to), false
		}
		oom := p.has("oom")
		if oom && (!isUp(ct.State) || isUp(to)) {
			return c.errorf(1, "fake-set-state: --oom stops a running container; %s is %s", ct.Name, ct.State), false
		}
		exit := exitCodeFor(ct, to)
		if oom {
			exit = 137 // SIGKILL from the kernel
		}
		if len(p.args) == 3 {
			n, err := strconv.Atoi(p.args[2])
			if err != nil {
				return c.errorf(1, "fake-set-state: exit code: %v", err), false
			}
			exit = n
		}
		// The events are those of the change: die (with the exit code) when
		// it stops, start when it runs; no kill, as nobody asked docker. The
		// OOM killer's shows as oom before the die, as docker reports it.
		if oom {
			ct.OOMKilled = true
			st.emit(ct, "oom")
		}
		setState(st, ct, to, exit)
		reap(st, ct)
		return 0, true
	},
}

// exitCodeFor is the exit code a container shows in state to when the
// caller names none: 0 running or created, 1 if it just died (and said
// nothing of why), else the one it has.
func exitCodeFor(ct *Container, to string) int {
	switch {
	case to == "running" || to == "created":
		return 0
	case isUp(ct.State) && !isUp(to):
		return 1
	}
	return ct.ExitCode
}

var fakeRmCmd = &command{
	minArgs: 1, maxArgs: -1, usage: "NAME...", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		code, dirty := 0, false
		for _, ref := range p.args {
			ct := st.find(ref)
			if ct == nil {
				fmt.Fprintf(c.stderr, "fake-rm: no such container: %s\n", ref)
				code = 1
				continue
			}
			forceRemove(st, ct) // as `docker rm -f` would
			dirty = true
		}
		return code, dirty
	},
}

var fakeWriteCmd = &command{
	minArgs: 3, maxArgs: 3, usage: "VOLUME PATH CONTENT", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		v := st.ensureVolume(p.args[0], c.now.UTC().Format(time.RFC3339))
		v.Files[p.args[1]] = p.args[2]
		return 0, true
	},
}

var fakeReadCmd = &command{
	minArgs: 2, maxArgs: 2, usage: "VOLUME PATH", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		v := st.Volumes[p.args[0]]
		if v == nil {
			return c.errorf(1, "fake-read: no such volume: %s", p.args[0]), false
		}
		content, ok := v.Files[p.args[1]]
		if !ok {
			return c.errorf(1, "fake-read: no such file in volume %s: %s", p.args[0], p.args[1]), false
		}
		io.WriteString(c.stdout, content)
		return 0, false
	},
}

var fakeFaultCmd = &command{
	minArgs: 2, maxArgs: 4, usage: fakeFaultCmdUsage, interspersed: false,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		key, op, rest := p.args[0], p.args[1], p.args[2:]
		times := func(i int) (int, bool) {
			if len(rest) <= i {
				return 0, true
			}
			n, err := strconv.Atoi(rest[i])
			if err != nil || n < 1 {
				return 0, false
			}
			return n, true
		}
		var f *Fault
		switch {
		case op == "clear" && len(rest) == 0:
			delete(st.Faults, key)
			return 0, true
		case op == "fail" && (len(rest) == 1 || len(rest) == 2):
			n, ok := times(1)
			if !ok {
				return c.errorf(1, "fake-fault: TIMES must be a positive integer"), false
			}
			f = &Fault{Fail: rest[0], Times: n}
		case op == "hang" && len(rest) <= 1:
			n, ok := times(0)
			if !ok {
				return c.errorf(1, "fake-fault: TIMES must be a positive integer"), false
			}
			f = &Fault{Hang: true, Times: n}
		default:
			return c.errorf(1, "usage: fake-fault %s", fakeFaultCmdUsage), false
		}
		if st.Faults == nil {
			st.Faults = map[string]*Fault{}
		}
		st.Faults[key] = f
		return 0, true
	},
}

const fakeFaultCmdUsage = "CMD fail TEXT [TIMES] | CMD hang [TIMES] | CMD clear"

const fakeImageCmdUsage = "add|rm IMAGE... | healthcheck IMAGE CMD|NONE"

var fakeImageCmd = &command{
	minArgs: 2, maxArgs: -1, usage: fakeImageCmdUsage, interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		switch p.args[0] {
		case "healthcheck":
			// The image's own HEALTHCHECK CMD (a shell command), or NONE.
			if len(p.args) != 3 {
				return c.errorf(1, "usage: fake-image %s", fakeImageCmdUsage), false
			}
			if st.ImageHealthchecks == nil {
				st.ImageHealthchecks = map[string]*Healthcheck{}
			}
			img, cmd := normalizeImage(p.args[1]), p.args[2]
			if cmd == "NONE" {
				delete(st.ImageHealthchecks, img)
				return 0, true
			}
			st.ImageHealthchecks[img] = &Healthcheck{Test: []string{"CMD-SHELL", cmd}}
		case "add":
			for _, img := range p.args[1:] {
				if !hasImage(st, img) {
					st.Images = append(st.Images, img)
				}
			}
			if st.Images == nil {
				st.Images = []string{} // the list now exists, even if empty
			}
		case "rm":
			if st.Images == nil {
				// Removing from "every image exists" starts an explicit list.
				st.Images = []string{}
			}
			kept := []string{}
			for _, img := range st.Images {
				drop := false
				for _, r := range p.args[1:] {
					drop = drop || normalizeImage(r) == normalizeImage(img)
				}
				if !drop {
					kept = append(kept, img)
				}
			}
			st.Images = kept
		default:
			return c.errorf(1, "usage: fake-image %s", fakeImageCmdUsage), false
		}
		return 0, true
	},
}

// fakeEventsEndCmd ends every `docker events` call following now, as a
// daemon restart does: each prints TEXT to stderr and exits 1. Streams
// that start later (and --since replays) are not affected.
var fakeEventsEndCmd = &command{
	maxArgs: 1, usage: "[TEXT]", interspersed: true,
	fn: func(_ *call, st *state, p *parsedFlags) (int, bool) {
		text := "error during connect: unexpected EOF"
		if len(p.args) == 1 {
			text = p.args[0]
		}
		st.events = append(st.events, endOfStream(text))
		return 0, false
	},
}
