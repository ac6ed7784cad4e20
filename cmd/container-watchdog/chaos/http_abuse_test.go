package chaos

// The HTTP side under abuse: SSE clients that never read, half-open
// connections (silent, stopped mid-header, idle after a request) and
// request headers of 1 MiB, all at once, while containers are removed
// (so events flow to every client). The tick's time is measured against
// an idle daemon's in the same run and reported, not asserted (the
// machine is shared); what is asserted: the watchdog goes on repairing
// and reporting, a client that reads gets every event, memory stays
// bounded, and the server lets go of connections that send nothing.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
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

func testHTTPAbuse(t *testing.T, s *scenario) {
	sseClients := envInt(t, "CW_CHAOS_SSE_CLIENTS", 1000)
	halfOpen := envInt(t, "CW_CHAOS_HALF_OPEN", 300)
	names := s.instances(t, 5)
	s.cli(t, s.globals(s.docker, 30*time.Second), "reconcile", "--all")
	sink := newNotifySink(t)
	d := start(t, s.world, daemonSpec{globals: s.globals(s.docker, 30*time.Second), interval: 500 * time.Millisecond,
		sink: sink, wdog: 2 * time.Minute, dir: s.dir})
	addr := strings.TrimPrefix(d.base, "http://")
	reg := openRegistry(t, s.db)
	truth := newTruth(names, false)

	idleTicks := sampleTicks(t, d, 20)
	rssIdle, fdsIdle := d.rss(t), fds(d.pid)
	reader := d.subscribe(t, 0) // a client that reads: it must get every event

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var big431 atomic.Int64
	var bigOther sync.Map // outcome -> *atomic.Int64
	abusers := &abuse{addr: addr}
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
	// Events flow: a removal every 2 s, each repaired and reported.
	removals := 0
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			name := names[i%len(names)]
			at := time.Now()
			if _, err := s.run(context.Background(), "rm", "-f", name); err == nil {
				truth.removed(name, at)
				removals++
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	})
	time.Sleep(3 * time.Second) // let the abuse build up
	abusedTicks := sampleTicks(t, d, 20)
	code, _ := d.health(t)
	streams := d.metric(t, "container_watchdog_sse_clients") // the abuse is real: every stream subscribed
	stop()
	wg.Wait()
	rssUnder := d.rss(t)
	defer abusers.close() // again, on failure: closing twice does no harm

	// Every removal repaired and reported, to the reading client too.
	var cs []ctr
	converged := waitUntil(t, time.Minute, "every instance running and reported after the abuse", func() (bool, string) {
		truth.absorb(reg.events(t))
		cs = s.containers(t, s.prefix, nil)
		why := truth.disagreements(cs)
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
	if code != 200 {
		t.Errorf("/healthz during the abuse: %d", code)
	}
	if streams < float64(sseClients) {
		t.Errorf("%v SSE clients subscribed during the abuse, want at least the %d that never read", streams, sseClients)
	}
	if p := peak.Load(); p > maxRSS {
		t.Errorf("peak RSS under abuse %d KiB, want at most %d KiB", p, maxRSS)
	}
	others := map[string]int64{}
	bigOther.Range(func(k, v any) bool { others[k.(string)] = v.(*atomic.Int64).Load(); return true })
	if big431.Load() == 0 || len(others) > 0 {
		t.Errorf("1 MiB headers: %d refused, otherwise %v; want every one refused", big431.Load(), others)
	}
	hw.Wait()
	opened, closed := abusers.counts()
	for kind, n := range opened {
		if closed[kind] < n {
			t.Errorf("the server let go of %d of %d %s connections within %s of their last byte", closed[kind], n, kind, abusers.grace())
		}
	}
	abusers.close()
	time.Sleep(2 * time.Second)
	rssAfter, fdsAfter := d.rss(t), fds(d.pid)

	idleMed, abusedMed := median(idleTicks), median(abusedTicks)
	row := s.row()
	row.faults = fmt.Sprintf("%d SSE clients that never read, %d half-open connections (silent, mid-header, idle after a request), 4 senders of 1 MiB headers (%d sent, all refused), %d containers removed during it",
		sseClients, halfOpen, big431.Load(), removals)
	row.converge = append(row.converge, converged)
	row.convergeWhat = "from the abuse's end to every instance running and reported"
	row.note("tick time %s under abuse vs %s idle: ratio %.2f (median of 20 ticks each; a shared 2-core machine, not asserted)",
		abusedMed.Round(10*time.Microsecond), idleMed.Round(10*time.Microsecond), float64(abusedMed)/float64(idleMed))
	row.note("%v SSE clients subscribed during it", streams)
	row.note("RSS %d MiB idle, %d MiB peak, %d MiB under abuse, %d MiB after; fds %d idle, %d after",
		rssIdle>>10, peak.Load()>>10, rssUnder>>10, rssAfter>>10, fdsIdle, fdsAfter)
	row.lost, row.falseReports = len(truth.lostEvents), len(truth.falseReports)
	if v := truth.verdict(); v != "" {
		t.Errorf("the abuse broke the invariants:\n%s", v)
	}
}

// sampleTicks returns the durations of n ticks, as /state reports them.
func sampleTicks(t *testing.T, d *daemon, n int) []time.Duration {
	seen := map[time.Time]time.Duration{}
	deadline := time.Now().Add(time.Minute)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("saw %d ticks in a minute, want %d", len(seen), n)
		}
		if v := d.state(t); v.Tick != nil && v.Tick.Result == string(watchdog.TickCompleted) {
			seen[v.Tick.Time] = time.Duration(v.Tick.DurationMS * float64(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out []time.Duration
	for _, d := range seen {
		out = append(out, d)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
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
