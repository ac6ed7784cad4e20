package fakedocker

import (
	"fmt"
	"strings"
	"time"
)

type volumeRow struct {
	Driver     string
	Labels     string
	Mountpoint string
	Name       string
	Scope      string

	labels map[string]string
}

// Label is docker's {{.Label "key"}}.
func (r volumeRow) Label(key string) string { return r.labels[key] }

var volumeLsCmd = &command{
	flags:        []flagSpec{boolFlag("quiet", "q"), valFlag("filter", "f"), valFlag("format")},
	interspersed: true, maxArgs: 0, usage: "[OPTIONS]",
	faultKey: "volume", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		byKey := map[string][]string{}
		for _, f := range p.vals["filter"] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return c.errorf(1, "bad format of filter (expected name=value)"), false
			}
			switch k {
			case "name", "label", "dangling", "driver":
			default:
				return c.errorf(1, "Error response from daemon: invalid filter '%s'", k), false
			}
			byKey[k] = append(byKey[k], v)
		}
		format := p.str("format")
		switch {
		case p.has("quiet"):
			format = "{{.Name}}"
		case format == "json":
			format = "{{json .}}"
		case format == "":
			fmt.Fprintln(c.stdout, "DRIVER    VOLUME NAME")
			format = "{{.Driver}}     {{.Name}}"
		}
		t, err := parseTemplate(format)
		if err != nil {
			return c.errorf(1, "%v", err), false
		}
		var rows []volumeRow
		for _, name := range sortedKeys(st.Volumes) {
			v := st.Volumes[name]
			if !volumeMatches(st, name, v, byKey) {
				continue
			}
			var labels []string
			for _, k := range sortedKeys(v.Labels) {
				labels = append(labels, k+"="+v.Labels[k])
			}
			rows = append(rows, volumeRow{
				Driver: "local", Labels: strings.Join(labels, ","), Mountpoint: volumeMountpoint(name),
				Name: name, Scope: "local", labels: v.Labels,
			})
		}
		if err := execLines(c.stdout, t, rows); err != nil {
			return c.errorf(1, "%v", err), false
		}
		return 0, false
	},
}

// volumeMatches applies docker's volume filters: name is a substring match,
// values of a key are ORed (labels ANDed), keys ANDed.
func volumeMatches(st *state, name string, v *volume, byKey map[string][]string) bool {
	if ns := byKey["name"]; len(ns) > 0 {
		ok := false
		for _, n := range ns {
			ok = ok || strings.Contains(name, n)
		}
		if !ok {
			return false
		}
	}
	if !hasLabels(v.Labels, byKey["label"]) {
		return false
	}
	for _, d := range byKey["dangling"] {
		dangling := len(st.volumeUsers(name)) == 0
		if (d == "true" || d == "1") != dangling {
			return false
		}
	}
	for _, d := range byKey["driver"] {
		if d != "local" {
			return false
		}
	}
	return true
}

var volumeCreateCmd = &command{
	flags:        []flagSpec{valFlag("label", "l"), valFlag("driver", "d"), valFlag("opt", "o"), valFlag("name")},
	interspersed: true, maxArgs: 1, usage: "[OPTIONS] [VOLUME]",
	faultKey: "volume", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		name := p.str("name")
		if len(p.args) == 1 {
			name = p.args[0]
		}
		if name == "" {
			name = randomHex(32)
		}
		if !validName.MatchString(name) || strings.HasPrefix(name, "/") {
			return c.errorf(1, "Error response from daemon: create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name), false
		}
		// Creating an existing volume is a no-op in docker too.
		_, existed := st.Volumes[name]
		v := st.ensureVolume(name, c.now.UTC().Format(time.RFC3339))
		if !existed {
			for _, l := range p.vals["label"] {
				if v.Labels == nil {
					v.Labels = map[string]string{}
				}
				k, val, _ := strings.Cut(l, "=")
				v.Labels[k] = val
			}
		}
		fmt.Fprintln(c.stdout, name)
		return 0, true
	},
}

var volumeRmCmd = &command{
	flags:        []flagSpec{boolFlag("force", "f")},
	interspersed: true, minArgs: 1, maxArgs: -1, usage: "[OPTIONS] VOLUME [VOLUME...]",
	faultKey: "volume", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		code, dirty := 0, false
		for _, name := range p.args {
			if _, ok := st.Volumes[name]; !ok {
				// docker volume rm -f ignores missing volumes silently.
				if !p.has("force") {
					fmt.Fprintf(c.stderr, "Error: No such volume: %s\n", name)
					code = 1
				}
				continue
			}
			// -f does not override "in use", in docker either.
			if users := st.volumeUsers(name); len(users) > 0 {
				fmt.Fprintf(c.stderr, "Error response from daemon: remove %s: volume is in use - [%s]\n", name, strings.Join(users, ", "))
				code = 1
				continue
			}
			delete(st.Volumes, name)
			dirty = true
			fmt.Fprintln(c.stdout, name)
		}
		return code, dirty
	},
}

var volumeInspectCmd = &command{
	flags:        []flagSpec{valFlag("format", "f")},
	interspersed: true, minArgs: 1, maxArgs: -1, usage: "[OPTIONS] VOLUME [VOLUME...]",
	faultKey: "volume", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		code := 0
		var objs []inspectVolume
		for _, name := range p.args {
			v := st.Volumes[name]
			if v == nil {
				fmt.Fprintf(c.stderr, "Error: No such volume: %s\n", name)
				code = 1
				continue
			}
			objs = append(objs, newInspectVolume(name, v, c.now))
		}
		format := p.str("format")
		if format == "json" {
			format = ""
		}
		if err := writeInspect(c.stdout, format, objs); err != nil {
			return c.errorf(1, "%v", err), false
		}
		return code, false
	},
}

// hasLabels says labels satisfy every label filter (K or K=V): docker ANDs
// repeated label filters, for containers, volumes and events alike.
func hasLabels(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		k, want, hasV := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != want) {
			return false
		}
	}
	return true
}
