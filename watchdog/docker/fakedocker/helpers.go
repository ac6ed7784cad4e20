package fakedocker

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// The fake-* subcommands let test scripts arrange the daemon's state. They
// have no faultKey, so injected faults never get in a test's own way.

var fakeSetStateCmd = &command{
	minArgs: 2, maxArgs: 3, usage: "NAME STATE [EXITCODE]", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		ct := st.find(p.args[0])
		if ct == nil {
			return c.errorf(1, "fake-set-state: no such container: %s", p.args[0]), false
		}
		to := p.args[1]
		if !validState(to) {
			return c.errorf(1, "fake-set-state: invalid state %q", to), false
		}
		exit := ct.ExitCode
		switch {
		case len(p.args) == 3:
			n, err := strconv.Atoi(p.args[2])
			if err != nil {
				return c.errorf(1, "fake-set-state: exit code: %v", err), false
			}
			exit = n
		case to == "running" || to == "created":
			exit = 0
		case isUp(ct.State) && !isUp(to):
			exit = 1 // it died, and said nothing of why
		}
		// The events are those of the change: die (with the exit code) when
		// it stops, start when it runs; no kill, as nobody asked docker.
		setState(st, ct, to, exit)
		reap(st, ct)
		return 0, true
	},
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
		var f *fault
		switch {
		case op == "clear" && len(rest) == 0:
			delete(st.Faults, key)
			return 0, true
		case op == "fail" && (len(rest) == 1 || len(rest) == 2):
			n, ok := times(1)
			if !ok {
				return c.errorf(1, "fake-fault: TIMES must be a positive integer"), false
			}
			f = &fault{Fail: rest[0], Times: n}
		case op == "hang" && len(rest) <= 1:
			n, ok := times(0)
			if !ok {
				return c.errorf(1, "fake-fault: TIMES must be a positive integer"), false
			}
			f = &fault{Hang: true, Times: n}
		default:
			return c.errorf(1, "usage: fake-fault %s", fakeFaultCmdUsage), false
		}
		if st.Faults == nil {
			st.Faults = map[string]*fault{}
		}
		st.Faults[key] = f
		return 0, true
	},
}

const fakeFaultCmdUsage = "CMD fail TEXT [TIMES] | CMD hang [TIMES] | CMD clear"

var fakeImageCmd = &command{
	minArgs: 2, maxArgs: -1, usage: "add|rm IMAGE...", interspersed: true,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		switch p.args[0] {
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
			return c.errorf(1, "usage: fake-image add|rm IMAGE..."), false
		}
		return 0, true
	},
}
