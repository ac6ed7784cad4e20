package main

// BenchmarkEngine's "removal" section (issue 8): repeated removals of one
// instance against the real engine.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// benchRepeatedRemoval: each round starts a daemon (pacing lives in its
// memory, so each round is a fresh streak), then removes the instance
// three times in a row, each time as soon as the previous recreation is
// reported, timing `docker rm -f` returning -> container_recreated on SSE.
// After each repair a bare `docker run -d` of the same image is timed: the
// baseline of the ratio, measured interleaved in the same run. Then a
// removal loop (a `docker rm -f` every 50 ms) runs for loopSecs against
// one daemon and the docker run calls the watchdog made are counted.
func (e *engine) benchRepeatedRemoval(b *testing.B, rounds, loopSecs int) []engRow {
	s := e.scenario(b, "again")
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", e.image)
	repairs := make([][]time.Duration, 3)
	var bare []time.Duration
	for round := 1; round <= rounds; round++ {
		d := s.startDaemon(b, time.Minute, nil)
		sse := d.subscribeSince(b, engMaxEventID(b, s.db))
		d.ready(b)
		from := len(sse.all())
		for i := range 3 {
			e.waitStatus(b, name, "running")
			e.mustRun(b, "rm", "-f", name)
			t0 := time.Now()
			m := sse.wait(b, engineWait, from, "container_missing", engIs(watchdog.EventMissing, name))
			r := sse.wait(b, engineWait, m.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
			if strings.Contains(m.Detail, "next attempt") {
				b.Errorf("round %d removal %d paced: %s", round, i+1, m.Detail)
			}
			repairs[i] = append(repairs[i], r.Got.Sub(t0))
			from = r.Index + 1
			bare = append(bare, e.timeBareRun(b, s.prefix+"bare-"+strconv.Itoa(round*10+i)))
		}
		d.stop(b)
		fmt.Printf("raw removal round %d, rm -f -> recreated ms: %s %s %s\n", round,
			engMS(repairs[0][round-1]), engMS(repairs[1][round-1]), engMS(repairs[2][round-1]))
	}
	fmt.Printf("raw removal bare docker run -d ms: %s\n", engRawList(bare))
	base := engMedian(bare)
	rows := []engRow{{fmt.Sprintf("bare docker run -d of the test image, baseline (median of %d)", len(bare)), engMS(base) + " ms", ""}}
	for i, ds := range repairs {
		m := engMedian(ds)
		rows = append(rows, engRow{fmt.Sprintf("removal %d in a row: rm -f -> container_recreated (median of %d; max)", i+1, len(ds)),
			fmt.Sprintf("%s ms (max %s) = %.2fx bare run", engMS(m), engMS(slices.Max(ds)), float64(m)/float64(base)), "< 2 s"})
	}
	return append(rows, e.benchRemovalLoop(b, s, name, time.Duration(loopSecs)*time.Second))
}

// timeBareRun times `docker run -d` of the test image under name, then
// removes the container (not timed).
func (e *engine) timeBareRun(b *testing.B, name string) time.Duration {
	start := time.Now()
	e.mustRun(b, "run", "-d", "--name", name, e.image)
	took := time.Since(start)
	e.mustRun(b, "rm", "-f", name)
	return took
}

// benchRemovalLoop removes the container every 50 ms for d and counts the
// watchdog's recreations (each is one docker run).
func (e *engine) benchRemovalLoop(b *testing.B, s *engScenario, name string, d time.Duration) engRow {
	dm := s.startDaemon(b, time.Minute, nil)
	sse := dm.subscribeSince(b, engMaxEventID(b, s.db))
	dm.ready(b)
	start := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				_, _ = e.run("rm", "-f", name) // "No such container" most of the time
			}
		}
	}()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	dm.stop(b)
	var at []string
	for _, ev := range sse.all() {
		if ev.Type == watchdog.EventRecreated || ev.Type == watchdog.EventRecreateFailed {
			at = append(at, fmt.Sprintf("%.1fs", ev.Time.Sub(start).Seconds()))
		}
	}
	fmt.Printf("raw removal loop %s: %d docker runs at %v\n", d, len(at), at)
	return engRow{fmt.Sprintf("docker run calls under a removal loop, real engine, %s", d),
		fmt.Sprintf("%d (at %s)", len(at), strings.Join(at, " ")), "<= 10 per 5 min"}
}
