package fakedocker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// state is the whole fake daemon, persisted as JSON between invocations.
type state struct {
	Containers []*Container       `json:"containers"`
	Volumes    map[string]*volume `json:"volumes"`
	// Images is deliberately not omitempty: null means "every image exists",
	// while [] means "no image exists", and that difference must survive.
	Images []string          `json:"images"`
	Faults map[string]*Fault `json:"faults,omitempty"`
	// ImageHealthchecks are images' own HEALTHCHECKs, by normalized
	// reference (fake-image healthcheck).
	ImageHealthchecks map[string]*Healthcheck `json:"image_healthchecks,omitempty"`

	// events are what this call did to containers, in order, for the
	// events file (see emit); they are not part of the saved state.
	events []eventMsg
	// now stamps the events of this call.
	now time.Time
}

// Container is one container as the fake daemon keeps it (and Docker's
// Container returns it to Go tests).
type Container struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	State     string            `json:"state"`
	ExitCode  int               `json:"exit_code,omitempty"`
	OOMKilled bool              `json:"oom_killed,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Env       []string          `json:"env,omitempty"`
	// Mounts are "source:/target"; a source not starting with / or . is a
	// named volume.
	Mounts  []string `json:"mounts,omitempty"`
	Restart string   `json:"restart,omitempty"`
	Network string   `json:"network,omitempty"`
	Cmd     []string `json:"cmd,omitempty"`
	Created string   `json:"created,omitempty"`
	// AutoRemove (run --rm) makes the container vanish once it stops.
	AutoRemove bool `json:"auto_remove,omitempty"`
	// Healthcheck is its health check (run --health-* over the image's);
	// Health is docker's verdict while it has an active one.
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	Health      *Health      `json:"health,omitempty"`
}

type volume struct {
	Files   map[string]string `json:"files"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created string            `json:"created,omitempty"`
}

// Fault makes a command fail (exit with its failure code, printing Fail)
// or hang until its context ends, Times times (0: until cleared).
type Fault struct {
	Fail  string `json:"fail,omitempty"`
	Hang  bool   `json:"hang,omitempty"`
	Times int    `json:"times,omitempty"`
}

func (s *state) find(ref string) *Container {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil
	}
	for _, c := range s.Containers {
		if c.Name == ref || c.ID == ref {
			return c
		}
	}
	// Like docker, accept an unambiguous ID prefix (e.g. the 12-char form).
	var hit *Container
	for _, c := range s.Containers {
		if strings.HasPrefix(c.ID, ref) {
			if hit != nil {
				return nil
			}
			hit = c
		}
	}
	return hit
}

func (s *state) byName(name string) *Container {
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (s *state) remove(c *Container) {
	for i, x := range s.Containers {
		if x == c {
			s.Containers = append(s.Containers[:i], s.Containers[i+1:]...)
			return
		}
	}
}

func (s *state) volumeUsers(name string) []string {
	var ids []string
	for _, c := range s.Containers {
		for _, m := range c.Mounts {
			if src, _, _ := strings.Cut(m, ":"); src == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	return ids
}

func (s *state) ensureVolume(name, now string) *volume {
	if s.Volumes == nil {
		s.Volumes = map[string]*volume{}
	}
	v := s.Volumes[name]
	if v == nil {
		v = &volume{Files: map[string]string{}, Created: now}
		s.Volumes[name] = v
	}
	if v.Files == nil {
		v.Files = map[string]string{}
	}
	return v
}

func isNamedVolume(src string) bool {
	return src != "" && !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "~")
}

// statePath resolves where the state lives; $WORK is testscript's work dir,
// so scripts get a per-test daemon without setting anything.
func statePath(getenv func(string) string) string {
	if p := getenv("FAKEDOCKER_STATE"); p != "" {
		return p
	}
	if w := getenv("WORK"); w != "" {
		return filepath.Join(w, "docker.json")
	}
	return "docker.json"
}

func logPath(getenv func(string) string, state string) string {
	if p := getenv("FAKEDOCKER_LOG"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(state), "docker.log")
}

func appendLog(path string, args []string) error {
	// One line per call even if an argument (say a template) has newlines.
	line := strings.ReplaceAll(strings.Join(args, " "), "\n", `\n`) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	// A single O_APPEND write keeps concurrent callers' lines intact.
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockState takes an exclusive flock that serialises all invocations sharing
// a state file; the returned func releases it.
func lockState(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func loadState(path string) (*state, error) {
	s := &state{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	// Drop holes from hand-written state so lookups need no nil checks.
	cs := s.Containers[:0]
	for _, c := range s.Containers {
		if c != nil {
			cs = append(cs, c)
		}
	}
	s.Containers = cs
	return s, nil
}

// saveState writes via temp file + rename so a concurrent reader (or a
// caller killed mid-write) never sees a truncated file.
func saveState(path string, s *state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
