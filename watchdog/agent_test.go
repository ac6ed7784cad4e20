package watchdog_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

type validCase struct {
	in string
	ok bool
}

func checkValidator(t *testing.T, name string, f func(string) error, cases []validCase) {
	t.Helper()
	for _, c := range cases {
		err := f(c.in)
		if c.ok && err != nil {
			t.Errorf("%s(%q) = %v, want ok", name, c.in, err)
		}
		if !c.ok {
			switch {
			case err == nil:
				t.Errorf("%s(%q) accepted, want refused", name, c.in)
			case !errors.Is(err, watchdog.ErrInvalid):
				t.Errorf("%s(%q) = %v, want ErrInvalid", name, c.in, err)
			case !strings.Contains(err.Error(), fmt.Sprintf("%q", c.in)):
				t.Errorf("%s(%q) = %v: the message must name the bad value", name, c.in, err)
			}
		}
	}
}

var (
	name63 = strings.Repeat("a", 63)
	name64 = strings.Repeat("a", 64)
)

func TestValidateAgentName(t *testing.T) {
	checkValidator(t, "ValidateAgentName", watchdog.ValidateAgentName, []validCase{
		{"dev", true}, {"a", true}, {"0", true}, {"claude_hooks2", true}, {name63, true},
		{"", false}, {"--privileged", false}, {"-x", false}, {"a-b", false}, {"../x", false}, {"$(id)", false},
		{name64, false}, {"Dev", false}, {"_dev", false}, {"a.b", false}, {"a b", false}, {"dev\n", false}, {"dév", false},
	})
}

func TestValidateInstanceName(t *testing.T) {
	checkValidator(t, "ValidateInstanceName", watchdog.ValidateInstanceName, []validCase{
		{"default", true}, {"a.b", true}, {"x_1", true}, {"0", true}, {name63, true},
		{"", false}, {"--privileged", false}, {"a-b", false}, {"../x", false}, {".x", false}, {"$(id)", false},
		{name64, false}, {"A", false}, {"a/b", false},
	})
}

func TestValidateImage(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("ab", 32)
	checkValidator(t, "ValidateImage", watchdog.ValidateImage, []validCase{
		{"alpine", true}, {"alpine:3.20", true}, {"library/alpine:latest", true}, {"example.com/agents/dev:1", true},
		{"localhost:5000/a/b:tag", true}, {"localhost/a", true}, {"ghcr.io/o/r" + digest, true}, {"r:v1" + digest, true},
		{"my_image", true}, {"a-b.c__d", true},
		{"", false}, {"--rm", false}, {"--privileged", false}, {"-alpine", false}, {"Alpine", false}, {"a b", false},
		{"$(id)", false}, {"alpine:", false}, {":tag", false}, {"a/../b", false}, {"a//b", false},
		{"-h.io/a", false}, {"bad host:1/a", false}, {"alpine@sha256:abc", false}, {strings.Repeat("a", 256), false},
	})
}

func TestValidateEnv(t *testing.T) {
	checkValidator(t, "ValidateEnv", watchdog.ValidateEnv, []validCase{
		{"K=V", true}, {"K=", true}, {"_K=a=b", true}, {"PATH=/x:/y", true}, {"k1=--privileged", true},
		{"NOVALUE", false}, {"=v", false}, {"1K=v", false}, {"K-X=v", false}, {"--privileged", false},
		{"--privileged=true", false}, {"K=a\nb", false}, {"K=a\x00b", false}, {"", false},
	})
}

func TestValidateStatePath(t *testing.T) {
	checkValidator(t, "ValidateStatePath", watchdog.ValidateStatePath, []validCase{
		{"/state", true}, {"/var/lib/agent", true},
		{"", false}, {"state", false}, {"/", false}, {"/a/../b", false}, {"/a/", false}, {"//a", false},
		{"/a,readonly", false}, {"/a:ro", false}, {"/a\nb", false},
	})
}

func TestAgentValidate(t *testing.T) {
	base := agent("dev", "a", "b")
	if err := base.Validate(); err != nil {
		t.Fatalf("base agent: %v", err)
	}
	for name, change := range map[string]func(*watchdog.Agent){
		"bad name":        func(a *watchdog.Agent) { a.Name = "a-b" },
		"bad image":       func(a *watchdog.Agent) { a.Image = "--rm" },
		"bad env":         func(a *watchdog.Agent) { a.Env = []string{"NOVALUE"} },
		"bad state path":  func(a *watchdog.Agent) { a.StatePath = "relative" },
		"no instances":    func(a *watchdog.Agent) { a.Instances = nil },
		"bad instance":    func(a *watchdog.Agent) { a.Instances = []string{"../x"} },
		"instance twice":  func(a *watchdog.Agent) { a.Instances = []string{"a", "a"} },
		"NUL in command":  func(a *watchdog.Agent) { a.Command = []string{"a\x00b"} },
		"empty statepath": func(a *watchdog.Agent) { a.StatePath = "" },
	} {
		a := base
		change(&a)
		if err := a.Validate(); !errors.Is(err, watchdog.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestParseContainerName(t *testing.T) {
	for _, p := range []string{prefix, "cw-", "x.", "a"} {
		for _, c := range []struct{ agent, instance string }{
			{"dev", "default"}, {"a", "b.c"}, {"claude_hooks", "0"}, {name63, name63},
		} {
			name := watchdog.ContainerName(p, c.agent, c.instance)
			got, err := watchdog.ParseContainerName(p, name)
			if err != nil || got.Agent != c.agent || got.Instance != c.instance {
				t.Errorf("ParseContainerName(%q, %q) = %+v, %v", p, name, got, err)
			}
		}
	}
	for _, name := range []string{
		"other-dev-default", "claude-hooks-devdefault", "claude-hooks-Dev-default", "claude-hooks--x",
		"claude-hooks-dev-", "claude-hooks-dev-a-b", "claude-hooks-", "claude-hooks-dev-../x",
	} {
		if in, err := watchdog.ParseContainerName(prefix, name); !errors.Is(err, watchdog.ErrInvalid) {
			t.Errorf("ParseContainerName(%q) = %+v, %v; want ErrInvalid", name, in, err)
		}
	}
}

func TestConfigHash(t *testing.T) {
	base := agent("dev", "a")
	h := base.ConfigHash()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h) || h != base.ConfigHash() {
		t.Fatalf("ConfigHash = %q, want a stable 16-hex-digit value", h)
	}
	changes := map[string]func(*watchdog.Agent){
		"image":            func(a *watchdog.Agent) { a.Image += "x" },
		"env":              func(a *watchdog.Agent) { a.Env = append(a.Env, "X=1") },
		"env value":        func(a *watchdog.Agent) { a.Env = []string{"MODE=other"} },
		"command":          func(a *watchdog.Agent) { a.Command = []string{"serve"} },
		"command split":    func(a *watchdog.Agent) { a.Command = []string{"serve --port=80"} },
		"state path":       func(a *watchdog.Agent) { a.StatePath = "/data" },
		"command from env": func(a *watchdog.Agent) { a.Env, a.Command = nil, []string{"MODE=dev"} },
	}
	for name, change := range changes {
		a := base
		a.Env, a.Command = append([]string(nil), base.Env...), append([]string(nil), base.Command...)
		change(&a)
		if a.ConfigHash() == h {
			t.Errorf("%s changed but the hash did not", name)
		}
	}
	same := map[string]func(*watchdog.Agent){
		"instances":   func(a *watchdog.Agent) { a.Instances = []string{"x", "y", "z"} },
		"name":        func(a *watchdog.Agent) { a.Name = "other" },
		"host mode":   func(a *watchdog.Agent) { a.HostMode = true },
		"timestamps":  func(a *watchdog.Agent) { a.CreatedAt = a.CreatedAt.AddDate(1, 0, 0) },
		"copied envs": func(a *watchdog.Agent) { a.Env = append([]string{}, a.Env...) },
	}
	for name, change := range same {
		a := base
		change(&a)
		if a.ConfigHash() != h {
			t.Errorf("%s changed the hash", name)
		}
	}
	// No env or command is the same whether nil (built in memory) or empty (read back from the registry).
	a, b := base, base
	a.Env, a.Command = nil, nil
	b.Env, b.Command = []string{}, []string{}
	if a.ConfigHash() != b.ConfigHash() {
		t.Error("nil and empty env/command hash differently: an agent read back from the registry would be recreated")
	}
}

var acceptedAgent = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

func FuzzNames(f *testing.F) {
	for _, s := range []string{"dev", "a-b", "--privileged", "../x", "$(id)", name63, name64, "", "alpine:3", "-x", "a.b", "x/y"} {
		f.Add(s, "default")
		f.Add("dev", s)
	}
	f.Fuzz(func(t *testing.T, agentName, instance string) {
		if watchdog.ValidateAgentName(agentName) == nil {
			if !acceptedAgent.MatchString(agentName) || len(agentName) > 63 || strings.HasPrefix(agentName, "-") {
				t.Fatalf("agent name %q accepted", agentName)
			}
			if watchdog.ValidateInstanceName(instance) == nil {
				for _, p := range []string{prefix, "p-"} {
					name := watchdog.ContainerName(p, agentName, instance)
					in, err := watchdog.ParseContainerName(p, name)
					if err != nil || in.Agent != agentName || in.Instance != instance {
						t.Fatalf("round trip of %q = %+v, %v", name, in, err)
					}
				}
			}
		}
		if watchdog.ValidateInstanceName(instance) == nil && (strings.HasPrefix(instance, "-") || len(instance) > 63 || strings.Contains(instance, "-")) {
			t.Fatalf("instance name %q accepted", instance)
		}
		for _, image := range []string{agentName, instance} {
			if watchdog.ValidateImage(image) == nil && strings.HasPrefix(image, "-") {
				t.Fatalf("image %q accepted: docker would read it as a flag", image)
			}
		}
	})
}
