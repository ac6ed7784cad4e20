package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Error is a docker command that ran and failed.
type Error struct {
	Args     []string
	ExitCode int
	Stderr   string
}

func (e *Error) Error() string {
	if s := strings.TrimSpace(e.Stderr); s != "" {
		return s
	}
	return fmt.Sprintf("docker %s exited with status %d", strings.Join(e.Args, " "), e.ExitCode)
}

// Client is the docker CLI.
type Client struct {
	Runner  exec.CommandRunner
	Program string // "docker" or a path
}

// psFormat asks for exactly the fields ParsePS reads, tab-separated.
var psFormat = strings.Join([]string{
	"{{.ID}}", "{{.Names}}", "{{.State}}",
	`{{.Label "` + watchdog.LabelManaged + `"}}`,
	`{{.Label "` + watchdog.LabelAgent + `"}}`,
	`{{.Label "` + watchdog.LabelInstance + `"}}`,
	`{{.Label "` + watchdog.LabelConfig + `"}}`,
	"{{.Status}}",
}, "\t")

const psFields = 8

// PSArgs is the argv of the one listing a tick makes.
func PSArgs(nameRegexp string) []string {
	return []string{"ps", "-a", "--filter", "name=" + nameRegexp, "--format", psFormat}
}

// List implements watchdog.Docker.
func (c *Client) List(ctx context.Context, prefix string) ([]watchdog.Container, error) {
	out, err := c.run(ctx, PSArgs("^"+regexp.QuoteMeta(prefix))...)
	if e := (*Error)(nil); errors.As(err, &e) {
		return nil, fmt.Errorf("docker ps: %w", err) // exec's own errors name the call already
	} else if err != nil {
		return nil, err
	}
	cs, err := ParsePS(out)
	if err != nil {
		return nil, err
	}
	// docker's name filter matches anywhere a regexp matches; keep it strict.
	kept := cs[:0]
	for _, ct := range cs {
		if strings.HasPrefix(ct.Name, prefix) {
			kept = append(kept, ct)
		}
	}
	return kept, nil
}

// Get implements watchdog.Docker.
func (c *Client) Get(ctx context.Context, name string) (*watchdog.Container, error) {
	out, err := c.run(ctx, PSArgs("^/?"+regexp.QuoteMeta(name)+"$")...)
	if err != nil {
		return nil, err
	}
	cs, err := ParsePS(out)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i], nil
		}
	}
	return nil, nil
}

// RunArgs is the argv that creates spec's container.
func RunArgs(spec watchdog.RunSpec) []string {
	args := []string{"run", "-d", "--name", spec.Name, "--restart", "unless-stopped"}
	keys := make([]string, 0, len(spec.Labels))
	for k := range spec.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--label", k+"="+spec.Labels[k])
	}
	args = append(args, "--mount", "type=volume,source="+spec.Volume+",target="+spec.StatePath)
	for _, kv := range spec.Env {
		args = append(args, "--env", kv)
	}
	args = append(args, spec.Health.Args()...)
	args = append(args, spec.Image)
	return append(args, spec.Command...)
}

// Run implements watchdog.Docker.
func (c *Client) Run(ctx context.Context, spec watchdog.RunSpec) error {
	_, err := c.run(ctx, RunArgs(spec)...)
	return err
}

// Remove implements watchdog.Docker.
func (c *Client) Remove(ctx context.Context, name string) error {
	_, err := c.run(ctx, "rm", "-f", name)
	if isNoSuch(err, "container") {
		return nil
	}
	return err
}

// RemoveVolume implements watchdog.Docker.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	_, err := c.run(ctx, "volume", "rm", name)
	if isNoSuch(err, "volume") {
		return nil
	}
	return err
}

// Restart implements watchdog.Docker.
func (c *Client) Restart(ctx context.Context, name string) error {
	_, err := c.run(ctx, "restart", name)
	return err
}

// ProbeArgs is the argv that reads a container's health state.
func ProbeArgs(name string) []string {
	return []string{"inspect", "--type", "container", "--format", "{{json .State.Health}}", name}
}

// LastProbe implements watchdog.Docker: the newest entry of docker's
// health log.
func (c *Client) LastProbe(ctx context.Context, name string) (watchdog.Probe, error) {
	out, err := c.run(ctx, ProbeArgs(name)...)
	if err != nil {
		return watchdog.Probe{}, err
	}
	return ParseProbe(out)
}

// ParseProbe reads `docker inspect --format '{{json .State.Health}}'`.
func ParseProbe(out []byte) (watchdog.Probe, error) {
	var h struct {
		Log []struct {
			ExitCode int    `json:"ExitCode"`
			Output   string `json:"Output"`
		} `json:"Log"`
	}
	text := strings.TrimSpace(string(out))
	if text == "null" || text == "" {
		return watchdog.Probe{}, fmt.Errorf("docker inspect: the container has no health check")
	}
	if err := json.Unmarshal([]byte(text), &h); err != nil {
		return watchdog.Probe{}, fmt.Errorf("docker inspect health %q: %w", text, err)
	}
	if len(h.Log) == 0 {
		return watchdog.Probe{}, fmt.Errorf("docker inspect: no health probe has run yet")
	}
	last := h.Log[len(h.Log)-1]
	return watchdog.Probe{ExitCode: last.ExitCode, Output: last.Output}, nil
}

// Ping checks that the engine answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.run(ctx, "version", "--format", "{{.Server.Version}}")
	return err
}

func (c *Client) run(ctx context.Context, args ...string) ([]byte, error) {
	res, err := c.Runner.Run(ctx, c.Program, args...)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, &Error{Args: args, ExitCode: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return res.Stdout, nil
}

// isNoSuch says docker refused because the object is gone. It names the
// object: a bare "no such" also matches an unreachable daemon's "dial unix
// ...: no such file or directory".
func isNoSuch(err error, object string) bool {
	e, ok := err.(*Error)
	return ok && strings.Contains(strings.ToLower(e.Stderr), "no such "+object)
}

// ParsePS reads the output of `docker ps --format psFormat`.
func ParsePS(out []byte) ([]watchdog.Container, error) {
	var cs []watchdog.Container
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != psFields {
			return nil, fmt.Errorf("docker ps line %d %q: want %d tab-separated fields, got %d", n+1, line, psFields, len(f))
		}
		// A container with links has several names; the first is its own.
		name, _, _ := strings.Cut(f[1], ",")
		name = strings.TrimLeft(name, "/")
		if f[0] == "" || name == "" || f[2] == "" {
			return nil, fmt.Errorf("docker ps line %d %q: empty id, name or state", n+1, line)
		}
		cs = append(cs, watchdog.Container{
			ID: f[0], Name: name, State: f[2],
			Managed: f[3] == "true", Agent: f[4], Instance: f[5], ConfigHash: f[6], Status: f[7],
			Health: watchdog.HealthFromStatus(f[7]),
		})
	}
	return cs, nil
}

// The adapter implements the domain's seams.
var (
	_ watchdog.Docker      = (*Client)(nil)
	_ watchdog.EventSource = (*Client)(nil)
)
