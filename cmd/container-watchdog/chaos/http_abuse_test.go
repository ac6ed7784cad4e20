package chaos

// The HTTP side under abuse: SSE clients that never read, half-open
// connections (silent, stopped mid-header, idle after a request) and
// request headers of 1 MiB, all at once, while containers are removed
// (so events flow to every client). What is asserted: the watchdog goes on
// repairing and reporting, a client that reads gets every event, memory
// stays bounded, and the server lets go of connections that send nothing.
//
// The tick's time under abuse is reported against a baseline, not
// asserted (the machine is shared). So that the ratio is the abuse's cost
// alone, the baseline has the same workload (a container removed and
// repaired every 2 s runs through every phase: the repairs' docker runs
// compete with the tick's docker ps), and phases alternate (baseline,
// abuse, baseline after the abusers are gone, abuse...; the baselines
// pooled), so a machine whose load drifts during the run weighs on both
// sides. The daemon's CPU and the suite's own (the abusers') are reported
// too: on a busy machine they say more than the tick's wall time.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// maxRSS bounds the daemon's resident memory under abuse: 1 MiB headers
// must not be held per connection, nor events per stuck client.
const maxRSS = 256 << 10 // KiB

// ticksPerPhase is how many ticks each phase samples.
const ticksPerPhase = 20

func testHTTPAbuse(t *testing.T, s *scenario) {
	sseClients := envInt(t, "CW_CHAOS_SSE_CLIENTS", 1000)
	halfOpen := envInt(t, "CW_CHAOS_HALF_OPEN", 300)
	rounds := envInt(t, "CW_CHAOS_ABUSE_ROUNDS", 2)
	names := s.instances(t, 5)
	s.cli(t, s.globals(s.docker, 30*time.Second), "reconcile", "--all")
	sink := newNotifySink(t)
	// No pacing of repairs (--repair-burst): each instance is removed
	// again and again, and paced repairs would lighten the workload as the
	// run goes on, so the phases would not share it.
	d := start(t, s.world, daemonSpec{globals: s.globals(s.docker, 30*time.Second), interval: 500 * time.Millisecond,
		args: []string{"--repair-burst", "1000"}, sink: sink, wdog: 2 * time.Minute, dir: s.dir})
	reg := openRegistry(t, s.db)
	truth := newTruth(names, false)

	rssIdle, fdsIdle, load := d.rss(t), fds(d.pid), loadavg()
	reader := d.subscribe(t, 0) // a client that reads: it must get every event
	rm := startRemovals(s, names, truth)
	defer rm.stop()
	phases := map[string][]phase{"baseline": {samplePhase(t, d)}}
	var done []abuseRound
	for range rounds {
		r := abuseOnce(t, d, sseClients, halfOpen)
		done = append(done, r)
		phases["abuse"] = append(phases["abuse"], r.phase)
		phases["baseline"] = append(phases["baseline"], samplePhase(t, d))
	}
	rm.stop()
	rssAfter, fdsAfter := d.rss(t), fds(d.pid)
	load += " at the start, " + loadavg() + " at the end"

	// Every removal repaired and reported, to the reading client too.
	settled := waitUntil(t, time.Minute, "every instance running and reported after the removals", func() (bool, string) {
		truth.absorb(reg.events(t))
		why := truth.disagreements(s.containers(t, s.prefix, nil))
		return len(why) == 0, strings.Join(why, "; ")
	})
	waitUntil(t, 30*time.Second, "every event on the reading client's stream", func() (bool, string) {
		frames, _ := reader.events()
		return len(frames) == len(truth.known), fmt.Sprintf("%d of %d", len(frames), len(truth.known))
	})
	frames, bad := reader.events()
	truth.frames(frames)
	if len(bad) > 0 {
		t.Errorf("malformed SSE frames: %v", bad)
	}

	row := s.row()
	repairs, during := rm.latencies(truth.known, done)
	abuseFigures(row, done, sseClients, halfOpen, len(rm.done), during)
	row.converge = repairs["abuse"]
	row.convergeWhat = "from each docker rm -f during the abuse to its container_recreated"
	tickNotes(row, phases)
	row.note("repair time outside the abuse (same removals): %s; every instance running and reported %s after the last removal",
		convergeText(repairs["baseline"], ""), settled.Round(time.Millisecond))
	row.note("RSS %d MiB idle, %d MiB peak, %d MiB after; fds %d idle, %d after",
		rssIdle>>10, peakOf(done)>>10, rssAfter>>10, fdsIdle, fdsAfter)
	row.note("machine load average (1, 5, 15 min) %s", load)
	row.lost, row.falseReports = len(truth.lostEvents), len(truth.falseReports)
	if v := truth.verdict(); v != "" {
		t.Errorf("the abuse broke the invariants:\n%s", v)
	}
}

// abuseRound is what one abuse phase measured.
type abuseRound struct {
	from, to time.Time // from the first abusive connection to the last one's close
	phase
	refused int64   // 1 MiB headers sent, all refused
	streams float64 // SSE clients subscribed during it
	peak    int64   // RSS, KiB
}

// abuseOnce abuses the daemon's HTTP side, samples the ticks meanwhile,
// checks that the server held up, and closes every abuser.
func abuseOnce(t *testing.T, d *daemon, sseClients, halfOpen int) abuseRound {
	r := abuseRound{from: time.Now()}
	addr := strings.TrimPrefix(d.base, "http://")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var big431 atomic.Int64
	var bigOther sync.Map // outcome -> *atomic.Int64
	abusers := &abuse{addr: addr}
	defer abusers.close() // again, on failure: closing twice does no harm
	abusers.sse(t, sseClients)
	var hw sync.WaitGroup // the half-open ones wait for the server to let go
	for i := range halfOpen {
		hw.Go(func() { abusers.halfOpen([]string{"silent", "partial", "idle"}[i%3]) })
	}
	for range 4 {
		wg.Go(func() { bigHeaders(ctx, addr, &big431, &bigOther) })
	}
	var peak atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			peak.Store(max(peak.Load(), int64(d.rss(t))))
			time.Sleep(100 * time.Millisecond)
		}
	})
	time.Sleep(3 * time.Second) // let the abuse build up
	r.phase = samplePhase(t, d)
	code, _ := d.health(t)
	r.streams = d.metric(t, "container_watchdog_sse_clients") // the abuse is real: every stream subscribed
	stop()
	wg.Wait()
	r.refused, r.peak = big431.Load(), peak.Load()
	checkAbused(t, r, code, sseClients, &bigOther)
	hw.Wait()
	checkHalfOpen(t, abusers)
	abusers.close()
	time.Sleep(2 * time.Second) // the server sees the closes and lets go
	r.to = time.Now()
	return r
}

// checkAbused checks what the server did under the abuse: healthy, every
// stream subscribed, memory bounded, every 1 MiB header refused.
func checkAbused(t *testing.T, r abuseRound, health int, sseClients int, bigOther *sync.Map) {
	if health != 200 {
		t.Errorf("/healthz during the abuse: %d", health)
	}
	if r.streams < float64(sseClients) {
		t.Errorf("%v SSE clients subscribed during the abuse, want at least the %d that never read", r.streams, sseClients)
	}
	if r.peak > maxRSS {
		t.Errorf("peak RSS under abuse %d KiB, want at most %d KiB", r.peak, maxRSS)
	}
	others := map[string]int64{}
	bigOther.Range(func(k, v any) bool { others[k.(string)] = v.(*atomic.Int64).Load(); return true })
	if r.refused == 0 || len(others) > 0 {
		t.Errorf("1 MiB headers: %d refused, otherwise %v; want every one refused", r.refused, others)
	}
}

// checkHalfOpen checks that the server let go of every half-open
// connection within grace of its last byte.
func checkHalfOpen(t *testing.T, a *abuse) {
	opened, closed := a.counts()
	for kind, n := range opened {
		if closed[kind] < n {
			t.Errorf("the server let go of %d of %d %s connections within %s of their last byte", closed[kind], n, kind, a.grace())
		}
	}
}

// abuseFigures fills the row's faults and the abuse's notes.
func abuseFigures(row *figureRow, rounds []abuseRound, sseClients, halfOpen, removals, during int) {
	var refused int64
	var streams []string
	for _, r := range rounds {
		refused += r.refused
		streams = append(streams, fmt.Sprint(r.streams))
	}
	row.faults = fmt.Sprintf("%d SSE clients that never read, %d half-open connections (silent, mid-header, idle after a request), 4 senders of 1 MiB headers (%d sent, all refused), %d round(s); a container removed every 2 s throughout (%d removals, %d during the abuse)",
		sseClients, halfOpen, refused, len(rounds), removals, during)
	row.note("%s SSE clients subscribed during it", strings.Join(streams, ", "))
}

// peakOf is the highest RSS any round saw, KiB.
func peakOf(rounds []abuseRound) int64 {
	var p int64
	for _, r := range rounds {
		p = max(p, r.peak)
	}
	return p
}

// tickNotes reports the tick's time under abuse against the pooled
// baseline (medians and 90th percentiles, and each baseline phase's
// median, whose spread shows how much the machine itself drifted), and
// the daemon's CPU in each.
func tickNotes(row *figureRow, phases map[string][]phase) {
	base, abused := pool(phases["baseline"]), pool(phases["abuse"])
	var medians, rounds []string
	for i, p := range phases["baseline"] {
		medians = append(medians, ms(median(p.ticks)))
		if i < len(phases["abuse"]) { // against the baselines on either side
			around := pool(phases["baseline"][i : i+2])
			rounds = append(rounds, fmt.Sprintf("%.2f", ratio(median(phases["abuse"][i].ticks), median(around.ticks))))
		}
	}
	row.note("tick time under abuse median %s, p90 %s; baseline (same removals, before and after each abuse, pooled) median %s, p90 %s; ratio of medians %.2f, of p90s %.2f (%d ticks under abuse, %d baseline, whose phases' medians were %s; a shared 2-core machine, not asserted)",
		ms(median(abused.ticks)), ms(percentile(abused.ticks, 90)), ms(median(base.ticks)), ms(percentile(base.ticks, 90)),
		ratio(median(abused.ticks), median(base.ticks)), ratio(percentile(abused.ticks, 90), percentile(base.ticks, 90)),
		len(abused.ticks), len(base.ticks), strings.Join(medians, ", "))
	row.note("each round's ratio of medians, against the baselines just before and after it: %s", strings.Join(rounds, ", "))
	row.note("CPU, %% of a core under abuse vs baseline: daemon %.0f%% vs %.0f%%, its docker children %.0f%% vs %.0f%%, the suite's process (the abusers) %.0f%% vs %.0f%%",
		100*ratio(abused.cpu, abused.wall), 100*ratio(base.cpu, base.wall),
		100*ratio(abused.children, abused.wall), 100*ratio(base.children, base.wall),
		100*ratio(abused.suite, abused.wall), 100*ratio(base.suite, base.wall))
}

func ms(d time.Duration) string        { return d.Round(10 * time.Microsecond).String() }
func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// phase is one phase's sample: its ticks, and over the phase's wall
// time the CPU time of the daemon, of its reaped children (the docker
// CLI), and of the suite's own process (the abusers, and the removals'
// and the sampling's clients).
type phase struct {
	ticks                      []time.Duration
	cpu, children, suite, wall time.Duration
}

func samplePhase(t *testing.T, d *daemon) phase {
	cpu0, children0, at := cpuTimes(d.pid)
	suite0, _, _ := cpuTimes(os.Getpid())
	ticks := sampleTicks(t, d, ticksPerPhase)
	cpu1, children1, end := cpuTimes(d.pid)
	suite1, _, _ := cpuTimes(os.Getpid())
	return phase{ticks: ticks, cpu: cpu1 - cpu0, children: children1 - children0, suite: suite1 - suite0, wall: end.Sub(at)}
}

// pool joins phases into one.
func pool(ps []phase) phase {
	var out phase
	for _, p := range ps {
		out.ticks = append(out.ticks, p.ticks...)
		out.cpu, out.children, out.suite = out.cpu+p.cpu, out.children+p.children, out.suite+p.suite
		out.wall += p.wall
	}
	return out
}

// cpuTimes reads a process's CPU time (user and system) and its reaped
// children's from /proc/PID/stat (in USER_HZ, 100 a second), and when.
func cpuTimes(pid int) (self, children time.Duration, at time.Time) {
	at = time.Now()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, at
	}
	// The fields after the command's ")": state is [0], utime [11], stime
	// [12], cutime [13], cstime [14].
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	return tick(11) + tick(12), tick(13) + tick(14), at
}

// removals removes a container every 2 s, round the instances, until
// stopped: the workload every phase shares.
type removals struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	done   []removal
}

// removal is one docker rm -f that removed a container.
type removal struct {
	name string
	at   time.Time // when it began
}

func startRemovals(s *scenario, names []string, truth *truth) *removals {
	ctx, cancel := context.WithCancel(context.Background())
	rm := &removals{cancel: cancel}
	rm.wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			name := names[i%len(names)]
			at := time.Now()
			if _, err := s.run(context.Background(), "rm", "-f", name); err == nil {
				rm.mu.Lock()
				truth.removed(name, at)
				rm.done = append(rm.done, removal{name, at})
				rm.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	})
	return rm
}

// stop ends the removals and waits for the last one; twice does no harm.
func (rm *removals) stop() {
	rm.cancel()
	rm.wg.Wait()
}

// latencies are the times from each removal to its container_recreated,
// by phase ("abuse" when it began during a round, else "baseline"), and
// how many removals began during the abuse.
func (rm *removals) latencies(log []watchdog.Event, rounds []abuseRound) (map[string][]time.Duration, int) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := map[string][]time.Duration{}
	during := 0
	for _, r := range rm.done {
		phase := "baseline"
		if slices.ContainsFunc(rounds, func(a abuseRound) bool { return !r.at.Before(a.from) && r.at.Before(a.to) }) {
			phase = "abuse"
			during++
		}
		i := slices.IndexFunc(log, func(e watchdog.Event) bool {
			return e.Container == r.name && e.Type == watchdog.EventRecreated && !e.Time.Before(r.at)
		})
		if i >= 0 {
			out[phase] = append(out[phase], log[i].Time.Sub(r.at))
		}
	}
	return out, during
}

// sampleTicks returns the durations of n ticks begun after it was called,
// as /state reports them.
func sampleTicks(t *testing.T, d *daemon, n int) []time.Duration {
	since := time.Now()
	seen := map[time.Time]time.Duration{}
	deadline := since.Add(time.Minute)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("saw %d ticks in a minute, want %d", len(seen), n)
		}
		if v := d.state(t); v.Tick != nil && v.Tick.Result == string(watchdog.TickCompleted) && v.Tick.Time.After(since) {
			seen[v.Tick.Time] = time.Duration(v.Tick.DurationMS * float64(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return slices.Collect(maps.Values(seen))
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 50) }

// percentile is the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// loadavg is the machine's load average over 1, 5 and 15 minutes.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// fds counts a process's open file descriptors.
func fds(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// abuse holds the abusive connections.
type abuse struct {
	addr string

	mu     sync.Mutex
	conns  []net.Conn
	opened map[string]int
	// closed counts the half-open connections the server closed within
	// grace of their last byte, by kind.
	closed map[string]int
}

// grace is how long after its last byte a half-open connection may stay:
// the server's ReadHeaderTimeout or IdleTimeout, and a margin.
func (a *abuse) grace() time.Duration { return 40 * time.Second }

func (a *abuse) keep(c net.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conns = append(a.conns, c)
}

// sse opens n streams and never reads them.
func (a *abuse) sse(t *testing.T, n int) {
	for range n {
		c, err := net.Dial("tcp", a.addr)
		must(t, err)
		_, err = io.WriteString(c, "GET /events HTTP/1.1\r\nHost: "+a.addr+"\r\n\r\n")
		must(t, err)
		a.keep(c)
	}
}

// halfOpen opens one connection of a kind: silent (sends nothing),
// partial (stops mid-header) or idle (one request answered, then
// nothing), and counts it when the server closes it within grace of its
// last byte.
func (a *abuse) halfOpen(kind string) {
	c, err := net.Dial("tcp", a.addr)
	if err != nil {
		return
	}
	a.keep(c)
	a.mu.Lock()
	if a.opened == nil {
		a.opened, a.closed = map[string]int{}, map[string]int{}
	}
	a.opened[kind]++
	a.mu.Unlock()
	r := bufio.NewReader(c)
	switch kind {
	case "partial":
		_, _ = io.WriteString(c, "GET /state HTTP/1.1\r\nHost: "+a.addr+"\r\nX-Slow: ")
	case "idle":
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+a.addr+"\r\n\r\n")
		resp, err := readResponse(r)
		if err != nil || resp == 0 {
			return
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(a.grace()))
	if _, err := r.ReadByte(); err == io.EOF {
		a.mu.Lock()
		a.closed[kind]++
		a.mu.Unlock()
	}
}

// readResponse reads one response's status and headers, and a body of
// Content-Length; it returns the status code.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var code int
	fmt.Sscanf(line, "HTTP/1.1 %d", &code)
	length := 0
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return code, err
		}
		if h == "\r\n" {
			break
		}
		fmt.Sscanf(strings.ToLower(h), "content-length: %d", &length)
	}
	_, err = io.CopyN(io.Discard, r, int64(length))
	return code, err
}

// counts returns the half-open connections opened and closed by the
// server, by kind.
func (a *abuse) counts() (opened, closed map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.opened), maps.Clone(a.closed)
}

func (a *abuse) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
}

// bigHeaders sends a request with a 1 MiB header every 250 ms until ctx
// ends (abuse that holds the server's memory, not a load test of the
// machine's two cores), counting the refusals (431, or the connection cut
// mid-header) and anything else (by what it was, in other).
func bigHeaders(ctx context.Context, addr string, refused *atomic.Int64, other *sync.Map) {
	value := strings.Repeat("a", 1<<20)
	for ctx.Err() == nil {
		outcome := func() string {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return "dial: " + err.Error()
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			_, werr := io.WriteString(c, "GET /state HTTP/1.1\r\nHost: "+addr+"\r\nX-Big: "+value+"\r\n\r\n")
			code, rerr := readResponse(bufio.NewReader(c))
			switch {
			case code == 431:
				return ""
			case code == 0 && werr != nil:
				return "" // cut off mid-header: the server stopped reading, and its 431 was lost to the reset
			case code != 0:
				return fmt.Sprintf("status %d", code)
			default:
				return fmt.Sprintf("no answer (read: %v)", rerr)
			}
		}()
		if outcome == "" {
			refused.Add(1)
		} else {
			n, _ := other.LoadOrStore(outcome, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
