package watchdog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Labels carried by every container this tool creates.
const (
	LabelManaged  = "io.container-watchdog.managed"
	LabelAgent    = "io.container-watchdog.agent"
	LabelInstance = "io.container-watchdog.instance"
	LabelConfig   = "io.container-watchdog.config-hash"

	DefaultInstance  = "default"
	DefaultStatePath = "/state"
	DefaultPrefix    = "claude-hooks-"
	maxNameLen       = 63
)

// ErrInvalid marks bad input: the CLI maps it to exit status 2.
var ErrInvalid = errors.New("invalid")

// ErrNotFound and ErrExists report registry lookups that cannot proceed.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

var (
	agentRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
	instanceRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.]*$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	prefixRe   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// An image reference as docker's reference grammar allows it, loosely:
	// optional registry/path components, optional tag, optional digest.
	imageRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
	// A registry host: the first component when it holds '.' or ':' or is localhost.
	imageHostRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?$`)
)

// Agent is one registered agent type and its instances.
type Agent struct {
	Name      string   `json:"name"`
	Image     string   `json:"image"`
	HostMode  bool     `json:"host_mode"`
	Env       []string `json:"env"`
	StatePath string   `json:"state_path"`
	Command   []string `json:"command"`
	Instances []string `json:"instances"`
	// Health is passed to docker run; the zero value leaves the image's own
	// HEALTHCHECK (if any) in charge.
	Health HealthCheck `json:"health"`
	// OnUnhealthy and UnhealthyGrace say what the watchdog does about an
	// unhealthy container: report it (the default), or restart it once it
	// has been unhealthy for the grace.
	OnUnhealthy    UnhealthyAction `json:"on_unhealthy"`
	UnhealthyGrace time.Duration   `json:"unhealthy_grace_ns"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// Instance names one container the registry expects.
type Instance struct {
	Agent    string `json:"agent"`
	Instance string `json:"instance"`
}

// ValidateAgentName checks an agent name against the contract's grammar.
func ValidateAgentName(name string) error {
	return validateName("agent name", name, agentRe, "[a-z0-9][a-z0-9_]*")
}

// ValidateInstanceName checks an instance name against the contract's grammar.
func ValidateInstanceName(name string) error {
	return validateName("instance name", name, instanceRe, "[a-z0-9][a-z0-9_.]*")
}

func validateName(what, name string, re *regexp.Regexp, grammar string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w %s %q: must not be empty", ErrInvalid, what, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w %s %q: longer than %d characters", ErrInvalid, what, name, maxNameLen)
	case !re.MatchString(name):
		return fmt.Errorf("%w %s %q: must match %s", ErrInvalid, what, name, grammar)
	}
	return nil
}

// ValidateImage refuses anything that is not an image reference, in
// particular anything docker would read as a flag.
func ValidateImage(image string) error {
	rest := image
	if host, path, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		if !imageHostRe.MatchString(host) {
			return fmt.Errorf("%w image %q: bad registry host %q", ErrInvalid, image, host)
		}
		rest = path
	}
	if image == "" || len(image) > 255 || !imageRe.MatchString(rest) {
		return fmt.Errorf("%w image %q: not an image reference", ErrInvalid, image)
	}
	return nil
}

// ValidateEnv checks one K=V pair.
func ValidateEnv(kv string) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%w --env %q: want KEY=VALUE", ErrInvalid, kv)
	}
	if !envKeyRe.MatchString(k) {
		return fmt.Errorf("%w --env %q: key %q must match [A-Za-z_][A-Za-z0-9_]*", ErrInvalid, kv, k)
	}
	if strings.ContainsAny(kv, "\x00\n") {
		return fmt.Errorf("%w --env %q: contains a NUL or newline", ErrInvalid, kv)
	}
	return nil
}

// ValidateStatePath checks the mount point of the state volume.
func ValidateStatePath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, ",:\x00\n") {
		return fmt.Errorf("%w state path %q: want a clean absolute path other than / without ',' or ':'", ErrInvalid, p)
	}
	return nil
}

// ValidatePrefix checks the container name prefix.
func ValidatePrefix(p string) error {
	if !prefixRe.MatchString(p) || len(p) > 64 {
		return fmt.Errorf("%w prefix %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalid, p)
	}
	return nil
}

// Validate checks every field of a.
func (a *Agent) Validate() error {
	if err := ValidateAgentName(a.Name); err != nil {
		return err
	}
	if err := ValidateImage(a.Image); err != nil {
		return err
	}
	for _, kv := range a.Env {
		if err := ValidateEnv(kv); err != nil {
			return err
		}
	}
	if err := ValidateStatePath(a.StatePath); err != nil {
		return err
	}
	if len(a.Instances) == 0 {
		return fmt.Errorf("%w agent %q: no instances", ErrInvalid, a.Name)
	}
	seen := map[string]bool{}
	for _, in := range a.Instances {
		if err := ValidateInstanceName(in); err != nil {
			return err
		}
		if seen[in] {
			return fmt.Errorf("%w instance name %q: listed twice", ErrInvalid, in)
		}
		seen[in] = true
	}
	for _, c := range a.Command {
		if strings.ContainsRune(c, 0) {
			return fmt.Errorf("%w command argument %q: contains NUL", ErrInvalid, c)
		}
	}
	if err := a.Health.Validate(); err != nil {
		return err
	}
	return ValidateUnhealthy(a.OnUnhealthy, a.UnhealthyGrace)
}

// ConfigHash fingerprints everything that shapes an agent's containers, so a
// change to any of it (and nothing else) recreates them.
func (a *Agent) ConfigHash() string {
	fields := struct {
		Image     string
		Env       []string
		StatePath string
		Command   []string
		// Only when set, so that containers made before health checks
		// existed keep their hash.
		Health *HealthCheck `json:",omitempty"`
	}{a.Image, OrEmpty(a.Env), a.StatePath, OrEmpty(a.Command), nil}
	if a.Health != (HealthCheck{}) {
		fields.Health = &a.Health
	}
	b, _ := json.Marshal(fields)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// OrEmpty makes a nil list empty, so that nil and empty hash and store
// alike (the registry reads back [] for nil).
func OrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ContainerName is the name of an instance's container.
func ContainerName(prefix, agent, instance string) string {
	return prefix + agent + "-" + instance
}

// VolumeName is the name of an instance's state volume.
func VolumeName(container string) string { return container + "-state" }

// ParseContainerName splits a container name back into agent and instance.
// Agent names hold no hyphen, so the first hyphen after the prefix divides them.
func ParseContainerName(prefix, name string) (Instance, error) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return Instance{}, fmt.Errorf("%w container name %q: does not start with prefix %q", ErrInvalid, name, prefix)
	}
	agent, inst, ok := strings.Cut(rest, "-")
	if !ok {
		return Instance{}, fmt.Errorf("%w container name %q: want %s<agent>-<instance>", ErrInvalid, name, prefix)
	}
	if err := ValidateAgentName(agent); err != nil {
		return Instance{}, fmt.Errorf("container name %q: %w", name, err)
	}
	if err := ValidateInstanceName(inst); err != nil {
		return Instance{}, fmt.Errorf("container name %q: %w", name, err)
	}
	return Instance{Agent: agent, Instance: inst}, nil
}
