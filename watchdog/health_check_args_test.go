package watchdog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Args passes docker only what the agent set: a zero field leaves the
// image's HEALTHCHECK (or docker's default) in charge, so it must not
// appear as "0s" or "0", which docker would take literally or refuse.
func TestHealthCheckArgsPassOnlyWhatIsSet(t *testing.T) {
	for _, c := range []struct {
		h    watchdog.HealthCheck
		want []string
	}{
		{watchdog.HealthCheck{}, nil},
		{watchdog.HealthCheck{Retries: 3}, []string{"--health-retries", "3"}},
		{watchdog.HealthCheck{Interval: 2 * time.Second}, []string{"--health-interval", "2s"}},
		{watchdog.HealthCheck{Cmd: "curl -f localhost", Timeout: 500 * time.Millisecond, StartPeriod: time.Minute, Retries: 1},
			[]string{"--health-cmd", "curl -f localhost", "--health-timeout", "500ms", "--health-start-period", "1m0s", "--health-retries", "1"}},
		{watchdog.HealthCheck{Cmd: "true", Interval: time.Second, Timeout: time.Second, StartPeriod: time.Second, Retries: 2},
			[]string{"--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "1s", "--health-start-period", "1s", "--health-retries", "2"}},
	} {
		if got := c.h.Args(); !slices.Equal(got, c.want) {
			t.Errorf("%+v.Args() = %q, want %q", c.h, got, c.want)
		}
	}
}
