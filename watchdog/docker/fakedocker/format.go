package fakedocker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
)

// templateFuncs are the functions docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // docker does the same; keeps "<" readable
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"pad": func(s string, l, r int) string {
		return strings.Repeat(" ", l) + s + strings.Repeat(" ", r)
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"println": fmt.Sprintln,
}

func parseTemplate(text string) (*template.Template, error) {
	t, err := template.New("format").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %v", err)
	}
	return t, nil
}

// execLines writes one line per item, as docker does with --format.
func execLines[T any](w io.Writer, t *template.Template, items []T) error {
	for _, it := range items {
		var buf bytes.Buffer
		if err := t.Execute(&buf, it); err != nil {
			return fmt.Errorf("template: %v", err)
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// psRow is what `docker ps --format` templates see: every field a string,
// named as docker names them, so {{json .}} has docker's keys.
type psRow struct {
	Command      string
	CreatedAt    string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Names        string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label is docker's {{.Label "key"}}.
func (r psRow) Label(key string) string { return r.labels[key] }

func newPSRow(c *Container, now time.Time, noTrunc bool) psRow {
	labels := make([]string, 0, len(c.Labels))
	for _, k := range sortedKeys(c.Labels) {
		labels = append(labels, k+"="+c.Labels[k])
	}
	var vols []string
	for _, m := range c.Mounts {
		if src, _, _ := strings.Cut(m, ":"); isNamedVolume(src) {
			vols = append(vols, src)
		}
	}
	created := createdTime(c, now)
	cmd := strings.Join(c.Cmd, " ")
	id := c.ID
	if !noTrunc {
		id = shortID(id)
		if len(cmd) > 20 {
			cmd = cmd[:19] + "…"
		}
	}
	network := c.Network
	if network == "" {
		network = "bridge"
	}
	return psRow{
		Command:      `"` + cmd + `"`,
		CreatedAt:    created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		ID:           id,
		Image:        c.Image,
		Labels:       strings.Join(labels, ","),
		LocalVolumes: fmt.Sprint(len(vols)),
		Mounts:       strings.Join(vols, ","),
		Names:        c.Name,
		Networks:     network,
		RunningFor:   humanDuration(now.Sub(created)) + " ago",
		Size:         "0B",
		State:        c.State,
		Status:       statusText(c, now.Sub(created)),
		labels:       c.Labels,
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func createdTime(c *Container, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, c.Created); err == nil {
		return t
	}
	return now
}

// statusText is docker's human Status column. The fake does not track
// start/finish times, so ages count from creation.
func statusText(c *Container, age time.Duration) string {
	h := humanDuration(age)
	switch c.State {
	case "running":
		return "Up " + h + healthSuffix(c)
	case "paused":
		return "Up " + h + " (Paused)"
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, h)
	case "exited":
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, h)
	case "created":
		return "Created"
	case "dead":
		return "Dead"
	}
	return c.State
}

// humanDuration follows go-units' HumanDuration, which docker uses.
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}

// Inspect shapes: the subset of docker's that callers plausibly read.
type inspectContainer struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           inspectState
	Image           string
	Name            string
	RestartCount    int
	HostConfig      inspectHostConfig
	Mounts          []inspectMount
	Config          inspectConfig
	NetworkSettings struct{ Networks map[string]struct{} }
}

type inspectState struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
	// Health is nil (null in templates, absent in JSON) without an
	// active health check, as in docker.
	Health *Health `json:",omitempty"`
}

type inspectHostConfig struct {
	RestartPolicy struct {
		Name              string
		MaximumRetryCount int
	}
	NetworkMode string
}

type inspectMount struct {
	Type        string
	Name        string `json:",omitempty"`
	Source      string
	Destination string
	Driver      string `json:",omitempty"`
	Mode        string
	RW          bool
}

type inspectConfig struct {
	Hostname    string
	Image       string
	Env         []string
	Cmd         []string
	Healthcheck *Healthcheck `json:",omitempty"`
	Labels      map[string]string
}

type inspectVolume struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func newInspectContainer(c *Container, now time.Time) inspectContainer {
	created := createdTime(c, now).UTC().Format(time.RFC3339Nano)
	ic := inspectContainer{
		ID:      c.ID,
		Created: created,
		Args:    []string{},
		Image:   c.Image,
		Name:    "/" + c.Name,
		Mounts:  []inspectMount{},
		Config: inspectConfig{
			Hostname:    shortID(c.ID),
			Image:       c.Image,
			Env:         c.Env,
			Cmd:         c.Cmd,
			Healthcheck: c.Healthcheck,
			Labels:      c.Labels,
		},
	}
	if ic.Config.Labels == nil {
		ic.Config.Labels = map[string]string{}
	}
	if len(c.Cmd) > 0 {
		ic.Path, ic.Args = c.Cmd[0], c.Cmd[1:]
	}
	ic.State = inspectState{
		Status:     c.State,
		Running:    c.State == "running" || c.State == "paused" || c.State == "restarting",
		Paused:     c.State == "paused",
		Restarting: c.State == "restarting",
		OOMKilled:  c.OOMKilled,
		Dead:       c.State == "dead",
		ExitCode:   c.ExitCode,
		StartedAt:  "0001-01-01T00:00:00Z",
		FinishedAt: "0001-01-01T00:00:00Z",
	}
	if ic.State.Running {
		ic.State.Pid = 4242
	}
	if c.Healthcheck.active() && c.Health != nil {
		h := *c.Health
		if h.Log == nil {
			h.Log = []Probe{}
		}
		ic.State.Health = &h
	}
	if c.State != "created" {
		ic.State.StartedAt = created
	}
	ic.HostConfig.RestartPolicy.Name = c.Restart
	if ic.HostConfig.RestartPolicy.Name == "" {
		ic.HostConfig.RestartPolicy.Name = "no"
	}
	ic.HostConfig.NetworkMode = c.Network
	if ic.HostConfig.NetworkMode == "" {
		ic.HostConfig.NetworkMode = "bridge"
	}
	ic.NetworkSettings.Networks = map[string]struct{}{ic.HostConfig.NetworkMode: {}}
	for _, m := range c.Mounts {
		src, dst, _ := strings.Cut(m, ":")
		im := inspectMount{Type: "bind", Source: src, Destination: dst, RW: true}
		if isNamedVolume(src) {
			im.Type, im.Name, im.Driver = "volume", src, "local"
			im.Source = volumeMountpoint(src)
			im.Mode = "z"
		}
		ic.Mounts = append(ic.Mounts, im)
	}
	return ic
}

func volumeMountpoint(name string) string { return "/var/lib/docker/volumes/" + name + "/_data" }

func newInspectVolume(name string, v *volume, now time.Time) inspectVolume {
	created := v.Created
	if created == "" {
		created = now.UTC().Format(time.RFC3339)
	}
	return inspectVolume{
		CreatedAt:  created,
		Driver:     "local",
		Labels:     v.Labels,
		Mountpoint: volumeMountpoint(name),
		Name:       name,
		Scope:      "local",
	}
}

// writeInspect prints objects as docker inspect does: an indented JSON
// array, or one template line per object.
func writeInspect[T any](w io.Writer, format string, objs []T) error {
	if format != "" {
		t, err := parseTemplate(format)
		if err != nil {
			return err
		}
		return execLines(w, t, objs)
	}
	if objs == nil {
		objs = []T{}
	}
	data, err := json.MarshalIndent(objs, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
