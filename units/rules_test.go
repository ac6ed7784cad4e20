package units_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/metrics/metricstest"
)

const (
	rulesFile     = "container-watchdog.rules.yml"
	rulesTestFile = "container-watchdog.rules.test.yml"
)

// promtool returns Debian's promtool, skipping without it, or failing under
// CI=true (scripts/ci-setup.sh installs the prometheus package).
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	msg := "no promtool on PATH (Debian's prometheus package ships it)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("alert rule test cannot run, and CI=true requires it: %s", msg)
	}
	t.Skipf("skipping alert rule test: %s (CI=true makes this fatal)", msg)
	return ""
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

// The rules are valid Prometheus rules.
func TestAlertRulesCheck(t *testing.T) {
	runPromtool(t, "check", "rules", rulesFile)
}

// Each alert fires on the series meant to fire it, and only on those
// (container-watchdog.rules.test.yml).
func TestAlertRulesFireAndStayQuiet(t *testing.T) {
	runPromtool(t, "test", "rules", rulesTestFile)
}

// Every series the rules read is one the daemon exposes: a renamed metric
// would leave an alert that can never fire.
func TestAlertRulesReadExposedSeries(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range metricstest.Contract {
		exposed[f.Name] = true
	}
	used := regexp.MustCompile(`\bcontainer_watchdog_[a-z_]+\b`).FindAllString(string(b), -1)
	if len(used) < 6 {
		t.Fatalf("the rules read only %v", used)
	}
	for _, name := range used {
		if !exposed[name] {
			t.Errorf("%s reads %s, which the daemon does not expose", rulesFile, name)
		}
	}
}
