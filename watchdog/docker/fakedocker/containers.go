package fakedocker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

var psCmd = &command{
	flags: []flagSpec{
		boolFlag("all", "a"), valFlag("filter", "f"), boolFlag("no-trunc"),
		boolFlag("quiet", "q"), valFlag("format"), boolFlag("size", "s"),
	},
	interspersed: true, maxArgs: 0, usage: "[OPTIONS]",
	faultKey: "ps", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		match, all, err := psFilter(p.vals["filter"])
		if err != nil {
			return c.errorf(1, "Error response from daemon: %v", err), false
		}
		all = all || p.has("all")
		format := p.str("format")
		switch format {
		case "":
			format = "{{.ID}}\t{{.Names}}\t{{.State}}"
		case "json":
			format = "{{json .}}"
		}
		if p.has("quiet") {
			format = "{{.ID}}"
		}
		t, err := parseTemplate(format)
		if err != nil {
			return c.errorf(1, "%v", err), false
		}
		var rows []psRow
		for _, ct := range sortedContainers(st) {
			if !all && !isUp(ct.State) {
				continue
			}
			if match(ct) {
				rows = append(rows, newPSRow(ct, c.now, p.has("no-trunc")))
			}
		}
		if err := execLines(c.stdout, t, rows); err != nil {
			return c.errorf(1, "%v", err), false
		}
		return 0, false
	},
}

// isUp is docker's State.Running, which is what `ps` without -a lists.
func isUp(s string) bool { return s == "running" || s == "paused" || s == "restarting" }

func sortedContainers(st *state) []*Container {
	cs := append([]*Container(nil), st.Containers...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

// psFilter builds the --filter predicate with docker's semantics: values
// of one key are ORed, except label which is ANDed; keys are ANDed. all
// reports a status filter, which (as in docker) lifts the running-only
// default.
func psFilter(filters []string) (match func(*Container) bool, all bool, err error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, false, fmt.Errorf("bad format of filter (expected name=value)")
		}
		byKey[k] = append(byKey[k], v)
	}
	var names []*regexp.Regexp
	for k, vs := range byKey {
		switch k {
		case "name":
			for _, v := range vs {
				re, err := regexp.Compile(v)
				if err != nil {
					return nil, false, fmt.Errorf("invalid filter 'name=%s': %v", v, err)
				}
				names = append(names, re)
			}
		case "status":
			for _, v := range vs {
				if !validState(v) {
					return nil, false, fmt.Errorf("invalid filter 'status=%s'", v)
				}
			}
			all = true
		case "label", "id", "ancestor", "volume", "network":
		default:
			return nil, false, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	anyOf := func(vs []string, f func(string) bool) bool {
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if f(v) {
				return true
			}
		}
		return false
	}
	match = func(c *Container) bool {
		// Docker matches names as "/name"; accept both so "^x" and "^/x" work.
		nameOK := len(names) == 0
		for _, re := range names {
			if re.MatchString(c.Name) || re.MatchString("/"+c.Name) {
				nameOK = true
				break
			}
		}
		if !nameOK {
			return false
		}
		if !hasLabels(c.Labels, byKey["label"]) {
			return false
		}
		return anyOf(byKey["status"], func(v string) bool { return c.State == v }) &&
			anyOf(byKey["id"], func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
			anyOf(byKey["ancestor"], func(v string) bool { return normalizeImage(v) == normalizeImage(c.Image) }) &&
			anyOf(byKey["network"], func(v string) bool { return v == c.Network || (v == "bridge" && c.Network == "") }) &&
			anyOf(byKey["volume"], func(v string) bool {
				for _, m := range c.Mounts {
					src, dst, _ := strings.Cut(m, ":")
					if v == src || v == dst {
						return true
					}
				}
				return false
			})
	}
	return match, all, nil
}

func validState(s string) bool {
	switch s {
	case "running", "exited", "created", "restarting", "paused", "dead", "removing":
		return true
	}
	return false
}

// normalizeImage adds docker's implicit ":latest" so "img" and "img:latest"
// compare equal.
func normalizeImage(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") {
		return ref + ":latest"
	}
	return ref
}

func imageRepo(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i]
	}
	return ref
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

var runCmd = &command{
	flags: []flagSpec{
		boolFlag("detach", "d"), valFlag("name"), valFlag("restart"),
		valFlag("label", "l"), valFlag("env", "e"), valFlag("mount"),
		valFlag("volume", "v"), valFlag("network", "net"), boolFlag("rm"),
		// Accepted and ignored: plausible for a caller, irrelevant to the fake.
		boolFlag("init"), boolFlag("interactive", "i"), boolFlag("tty", "t"),
		boolFlag("read-only"), boolFlag("privileged"),
		valFlag("user", "u"), valFlag("workdir", "w"), valFlag("entrypoint"),
		valFlag("hostname", "h"), valFlag("memory", "m"), valFlag("cpus"),
		valFlag("pull"), valFlag("stop-timeout"), valFlag("stop-signal"),
		valFlag("log-driver"), valFlag("log-opt"), valFlag("cap-add"),
		valFlag("cap-drop"), valFlag("security-opt"), valFlag("tmpfs"),
		valFlag("add-host"), valFlag("publish", "p"), valFlag("pids-limit"),
		valFlag("platform"),
		healthFlags[0], healthFlags[1], healthFlags[2], healthFlags[3], healthFlags[4], healthFlags[5],
	},
	interspersed: false, minArgs: 1, maxArgs: -1, usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
	faultKey: "run", failCode: 125, targets: runTargets,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		ct, code := createContainer(c, st, p)
		if ct == nil {
			return code, false
		}
		setState(st, ct, "running", 0)
		if !p.has("detach") {
			// Attached runs are modelled as a command that finished at once.
			setState(st, ct, "exited", 0)
			reap(st, ct)
			return 0, true
		}
		fmt.Fprintln(c.stdout, ct.ID)
		return 0, true
	},
}

// runTargets is the container a run creates, when it names it.
func runTargets(p *parsedFlags) []string {
	if n := p.str("name"); n != "" {
		return []string{n}
	}
	return nil
}

// createContainer is the first half of docker run: it checks the flags,
// the image and the name, then adds the container in state created
// (with its named volumes) and records the create event. On a refusal it
// returns nil and the exit code, having printed docker's message.
func createContainer(c *call, st *state, p *parsedFlags) (*Container, int) {
	image, cmdArgs := p.args[0], p.args[1:]
	name := strings.TrimPrefix(p.str("name"), "/")
	if p.isSet("name") && !validName.MatchString(name) {
		return nil, c.errorf(125, "docker: Error response from daemon: Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.\nSee 'docker run --help'.", name)
	}
	if rp := p.str("restart"); rp != "" && !validRestart(rp) {
		return nil, c.errorf(125, "docker: invalid restart policy format: %s\nSee 'docker run --help'.", rp)
	}
	ct := &Container{
		ID:         randomHex(32),
		Name:       name,
		Image:      image,
		State:      "created",
		Labels:     map[string]string{},
		Restart:    p.str("restart"),
		Network:    p.str("network"),
		Cmd:        cmdArgs,
		Created:    c.now.UTC().Format(time.RFC3339Nano),
		AutoRemove: p.has("rm"),
	}
	for _, l := range p.vals["label"] {
		k, v, _ := strings.Cut(l, "=")
		ct.Labels[k] = v
	}
	for _, e := range p.vals["env"] {
		if !strings.Contains(e, "=") {
			// "-e NAME" passes the caller's value through, if any.
			if v := c.getenv(e); v != "" {
				ct.Env = append(ct.Env, e+"="+v)
			}
			continue
		}
		ct.Env = append(ct.Env, e)
	}
	var vols []string
	for _, m := range p.vals["mount"] {
		src, dst, err := parseMount(m)
		if err != nil {
			return nil, c.errorf(125, "invalid argument %q for \"--mount\" flag: %v\nSee 'docker run --help'.", m, err)
		}
		if dst == "" { // tmpfs: nothing to record
			continue
		}
		if src == "" {
			src = randomHex(32) // anonymous volume
		}
		ct.Mounts = append(ct.Mounts, src+":"+dst)
		vols = append(vols, src)
	}
	for _, v := range p.vals["volume"] {
		parts := strings.Split(v, ":")
		src, dst := "", parts[0]
		if len(parts) > 1 {
			src, dst = parts[0], parts[1]
		}
		if src == "" {
			src = randomHex(32)
		}
		ct.Mounts = append(ct.Mounts, src+":"+dst)
		vols = append(vols, src)
	}

	hc, err := healthcheckFromFlags(p, st.ImageHealthchecks[normalizeImage(image)])
	if err != nil {
		return nil, c.errorf(125, "docker: %v\nSee 'docker run --help'.", err)
	}
	ct.Healthcheck = hc

	// Docker resolves the image before it creates (and name-checks) the
	// container, so a missing image wins over a name conflict.
	if st.Images != nil && !hasImage(st, image) {
		return nil, c.errorf(125, "Unable to find image '%s' locally\ndocker: Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login'.\nSee 'docker run --help'.",
			normalizeImage(image), imageRepo(image))
	}
	if name == "" {
		ct.Name = "fake_" + randomHex(4)
	} else if other := st.byName(name); other != nil {
		return nil, c.errorf(125, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.\nSee 'docker run --help'.", name, other.ID)
	}
	for _, v := range vols {
		if isNamedVolume(v) {
			st.ensureVolume(v, c.now.UTC().Format(time.RFC3339))
		}
	}
	st.Containers = append(st.Containers, ct)
	st.emit(ct, "create")
	return ct, 0
}

func hasImage(st *state, ref string) bool {
	for _, img := range st.Images {
		if normalizeImage(img) == normalizeImage(ref) {
			return true
		}
	}
	return false
}

func validRestart(p string) bool {
	name, n, hasN := strings.Cut(p, ":")
	switch name {
	case "no", "always", "unless-stopped":
		return !hasN
	case "on-failure":
		if !hasN {
			return true
		}
		for _, r := range n {
			if r < '0' || r > '9' {
				return false
			}
		}
		return n != ""
	}
	return false
}

// parseMount reads a --mount spec; src is empty for an anonymous volume and
// dst empty for mounts the fake does not record (tmpfs).
func parseMount(spec string) (src, dst string, err error) {
	typ := "volume"
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			typ = v
		case "source", "src":
			src = v
		case "target", "destination", "dst":
			dst = v
		case "readonly", "ro", "volume-opt", "volume-driver", "volume-label",
			"volume-nocopy", "bind-propagation", "consistency", "tmpfs-size", "tmpfs-mode":
		default:
			return "", "", fmt.Errorf("unexpected key '%s' in '%s'", k, kv)
		}
	}
	switch typ {
	case "volume", "bind":
	case "tmpfs":
		return "", "", nil
	default:
		return "", "", fmt.Errorf("invalid mount type %q", typ)
	}
	if dst == "" {
		return "", "", fmt.Errorf("target is required")
	}
	if typ == "bind" && src == "" {
		return "", "", fmt.Errorf("source is required when specifying bind mount")
	}
	return src, dst, nil
}

var rmCmd = &command{
	flags:        []flagSpec{boolFlag("force", "f"), boolFlag("volumes", "v"), boolFlag("link", "l")},
	interspersed: true, minArgs: 1, maxArgs: -1, usage: "[OPTIONS] CONTAINER [CONTAINER...]",
	faultKey: "rm", failCode: 1, targets: namedArgs,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		code, dirty := 0, false
		for _, ref := range p.args {
			ct := st.find(ref)
			switch {
			case ct == nil:
				fmt.Fprintf(c.stderr, "Error: No such container: %s\n", ref)
				// Like the real CLI, -f makes a missing container a warning:
				// removal is then idempotent.
				if !p.has("force") {
					code = 1
				}
			case isUp(ct.State) && !p.has("force"):
				fmt.Fprintf(c.stderr, "Error response from daemon: You cannot remove a running container %s. Stop the container before attempting removal or force remove\n", ct.ID)
				code = 1
			default:
				forceRemove(st, ct) // only a stopped one unless -f
				dirty = true
				fmt.Fprintln(c.stdout, ref)
			}
		}
		return code, dirty
	},
}

// lifecycle builds start/stop/kill, which differ only in the state reached
// and in the events on the way: start; kill (SIGTERM unless --signal), die
// and stop; kill (SIGKILL unless --signal) and die. Like docker's,
// --restart does not bring back a container stopped or killed on request,
// and the fake never restarts a container by itself.
func lifecycle(key string, flags []flagSpec, to string, exit int, signal string) *command {
	return &command{
		flags: flags, interspersed: true, minArgs: 1, maxArgs: -1,
		usage: "[OPTIONS] CONTAINER [CONTAINER...]", faultKey: key, failCode: 1, targets: namedArgs,
		fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
			sig := signal
			if p.isSet("signal") {
				n, err := signalNumber(p.str("signal"))
				if err != nil {
					return c.errorf(1, "Error response from daemon: %v", err), false
				}
				sig = n
			}
			code, dirty := 0, false
			for _, ref := range p.args {
				ct := st.find(ref)
				if ct == nil {
					fmt.Fprintf(c.stderr, "Error response from daemon: No such container: %s\n", ref)
					code = 1
					continue
				}
				if key == "kill" && !isUp(ct.State) {
					fmt.Fprintf(c.stderr, "Error response from daemon: Cannot kill container: %s: Container %s is not running\n", ref, ct.ID)
					code = 1
					continue
				}
				if key == "stop" && !isUp(ct.State) {
					fmt.Fprintln(c.stdout, ref) // stopping a stopped container is fine
					continue
				}
				if sig != "" {
					st.emit(ct, "kill", "signal", sig)
				}
				setState(st, ct, to, exit)
				if key == "stop" {
					st.emit(ct, "stop")
				}
				reap(st, ct)
				dirty = true
				fmt.Fprintln(c.stdout, ref)
			}
			return code, dirty
		},
	}
}

// restartCmd is docker restart: a running container is stopped (kill
// with SIGTERM, die, stop) and started again (start, restart), one that is
// not running just started; either way its health check begins again at
// "starting".
var restartCmd = &command{
	flags: []flagSpec{valFlag("time", "t")}, interspersed: true, minArgs: 1, maxArgs: -1,
	usage: "[OPTIONS] CONTAINER [CONTAINER...]", faultKey: "restart", failCode: 1, targets: namedArgs,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		code, dirty := 0, false
		for _, ref := range p.args {
			ct := st.find(ref)
			if ct == nil {
				fmt.Fprintf(c.stderr, "Error response from daemon: No such container: %s\n", ref)
				code = 1
				continue
			}
			if isUp(ct.State) {
				st.emit(ct, "kill", "signal", "15")
				setState(st, ct, "exited", 0)
				st.emit(ct, "stop")
			}
			setState(st, ct, "running", 0)
			st.emit(ct, "restart")
			dirty = true
			fmt.Fprintln(c.stdout, ref)
		}
		return code, dirty
	},
}

var (
	startCmd = lifecycle("start", []flagSpec{boolFlag("attach", "a"), boolFlag("interactive", "i")}, "running", 0, "")
	stopCmd  = lifecycle("stop", []flagSpec{valFlag("time", "t"), valFlag("signal", "s")}, "exited", 0, "15")
	killCmd  = lifecycle("kill", []flagSpec{valFlag("signal", "s")}, "exited", 137, "9")
)

var inspectCmd = &command{
	flags:        []flagSpec{valFlag("format", "f"), valFlag("type"), boolFlag("size", "s")},
	interspersed: true, minArgs: 1, maxArgs: -1, usage: "[OPTIONS] NAME|ID [NAME|ID...]",
	faultKey: "inspect", failCode: 1, targets: namedArgs,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		typ := p.str("type")
		if typ != "" && typ != "container" && typ != "volume" {
			return c.errorf(1, "%q is not a valid value for --type", typ), false
		}
		code := 0
		var objs []any
		for _, ref := range p.args {
			if ct := st.find(ref); ct != nil && typ != "volume" {
				objs = append(objs, newInspectContainer(ct, c.now))
				continue
			}
			if v := st.Volumes[ref]; v != nil && typ != "container" {
				objs = append(objs, newInspectVolume(ref, v, c.now))
				continue
			}
			what := "object"
			if typ != "" {
				what = typ
			}
			fmt.Fprintf(c.stderr, "Error: No such %s: %s\n", what, ref)
			code = 1
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

type versionInfo struct {
	Client struct{ Version, APIVersion, GoVersion, Os, Arch string }
	Server struct{ Version, APIVersion, MinAPIVersion, Os, Arch string }
}

var versionCmd = &command{
	flags:        []flagSpec{valFlag("format", "f")},
	interspersed: true, maxArgs: 0, usage: "[OPTIONS]",
	faultKey: "version", failCode: 1,
	fn: func(c *call, _ *state, p *parsedFlags) (int, bool) {
		var v versionInfo
		v.Client.Version, v.Client.APIVersion, v.Client.GoVersion = "27.0.0-fake", "1.46", runtime.Version()
		v.Client.Os, v.Client.Arch = runtime.GOOS, runtime.GOARCH
		v.Server.Version, v.Server.APIVersion, v.Server.MinAPIVersion = "27.0.0-fake", "1.46", "1.24"
		v.Server.Os, v.Server.Arch = runtime.GOOS, runtime.GOARCH
		format := p.str("format")
		if format == "json" {
			format = "{{json .}}"
		}
		if format == "" {
			format = "Client:\n Version:\t{{.Client.Version}}\n API version:\t{{.Client.APIVersion}}\n\nServer: fakedocker\n Engine:\n  Version:\t{{.Server.Version}}\n  API version:\t{{.Server.APIVersion}}"
		}
		return printOne(c, format, v), false
	},
}

type infoData struct {
	ID                string
	Name              string
	ServerVersion     string
	Containers        int
	ContainersRunning int
	ContainersPaused  int
	ContainersStopped int
	Images            int
	Driver            string
	OperatingSystem   string
	OSType            string
	Architecture      string
}

var infoCmd = &command{
	flags:        []flagSpec{valFlag("format", "f")},
	interspersed: true, maxArgs: 0, usage: "[OPTIONS]",
	faultKey: "info", failCode: 1,
	fn: func(c *call, st *state, p *parsedFlags) (int, bool) {
		d := infoData{
			ID: "FAKE:DOCKER", Name: "fakedocker", ServerVersion: "27.0.0-fake",
			Containers: len(st.Containers), Images: len(st.Images), Driver: "overlay2",
			OperatingSystem: "fakedocker", OSType: runtime.GOOS, Architecture: runtime.GOARCH,
		}
		for _, ct := range st.Containers {
			switch {
			case ct.State == "paused":
				d.ContainersPaused++
			case isUp(ct.State):
				d.ContainersRunning++
			default:
				d.ContainersStopped++
			}
		}
		format := p.str("format")
		if format == "json" {
			format = "{{json .}}"
		}
		if format == "" {
			format = "Server:\n Containers: {{.Containers}}\n  Running: {{.ContainersRunning}}\n  Paused: {{.ContainersPaused}}\n  Stopped: {{.ContainersStopped}}\n Images: {{.Images}}\n Server Version: {{.ServerVersion}}\n Storage Driver: {{.Driver}}\n Operating System: {{.OperatingSystem}}"
		}
		return printOne(c, format, d), false
	},
}

func printOne(c *call, format string, v any) int {
	t, err := parseTemplate(format)
	if err != nil {
		return c.errorf(1, "%v", err)
	}
	if err := execLines(c.stdout, t, []any{v}); err != nil {
		return c.errorf(1, "%v", err)
	}
	return 0
}
