package watchdog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The validators' edges: the longest value still accepted, and a first
// path component that only looks like a registry host.

// Docker takes a reference of up to 255 characters: the 255th is allowed.
func TestValidateImageLongestAccepted(t *testing.T) {
	checkValidator(t, "ValidateImage", watchdog.ValidateImage, []validCase{
		{strings.Repeat("a", 255), true}, {"r/" + strings.Repeat("a", 253), true},
		{strings.Repeat("a", 256), false},
	})
}

// A first component without '.' or ':' that is not localhost is a path,
// not a registry host, so the image grammar (lower case) applies to it.
func TestValidateImagePathIsNotAHost(t *testing.T) {
	checkValidator(t, "ValidateImage", watchdog.ValidateImage, []validCase{
		{"Library/alpine", false}, {"My_Org/app:1", false}, {"library/alpine", true},
		{"localhost/alpine", true}, {"Registry.example.com/a", true},
	})
}

// An agent whose health check is valid is still refused for a bad
// unhealthy policy: each part is checked, not just the first that passes.
func TestAgentValidateChecksThePolicyAfterAValidHealthCheck(t *testing.T) {
	for name, change := range map[string]func(*watchdog.Agent){
		"bad action":     func(a *watchdog.Agent) { a.OnUnhealthy = "reboot" },
		"negative grace": func(a *watchdog.Agent) { a.OnUnhealthy, a.UnhealthyGrace = watchdog.OnUnhealthyRestart, -time.Second },
	} {
		a := agent("dev", "a")
		a.Health = watchdog.HealthCheck{Cmd: "true", Interval: time.Second, Retries: 3}
		change(&a)
		if err := a.Validate(); !errors.Is(err, watchdog.ErrInvalid) {
			t.Errorf("%s with a valid health check: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

// The container name prefix: up to 64 characters of docker's name
// alphabet, starting with a letter or digit.
func TestValidatePrefix(t *testing.T) {
	p64 := strings.Repeat("p", 64)
	checkValidator(t, "ValidatePrefix", watchdog.ValidatePrefix, []validCase{
		{watchdog.DefaultPrefix, true}, {"cw-", true}, {"a", true}, {"X.y_z-", true}, {p64, true},
		{"", false}, {"-cw", false}, {".cw", false}, {"c w", false}, {"c/w", false}, {p64 + "p", false},
	})
}
