package watchdog_test

import (
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

// A stream that lasted exactly Reset starts the backoff afresh, as a
// repair streak ends once the container has run for Reset: the restart
// after it waits Initial, not the doubled delay.
func TestFollowerStreamThatLastedResetStartsAfresh(t *testing.T) {
	e := newFollowEnv(t)
	down := fakedocker.Fault{Fail: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock", Times: 1}
	e.must(e.fake.docker.SetFault("events", down))
	stop := e.run()
	wantWait(t, e.nextWait(), time.Second) // the first failure
	e.clock.Advance(time.Second)
	e.following()
	e.clock.Advance(e.f.Backoff.Reset) // exactly Reset
	e.must(e.fake.docker.EndEvents("error during connect: unexpected EOF"))
	wantWait(t, e.nextWait(), time.Second)
	stop()
}
