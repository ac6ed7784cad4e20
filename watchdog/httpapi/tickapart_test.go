package httpapi_test

// BenchmarkTickSubscribersApart: what 1000 SSE clients cost the tick when
// they live in another process, as real clients do. The test binary,
// re-executed with holdEnv set, is that process (TestMain).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

// holdEnv, set to the server's address, makes the test binary the client
// holder: see holdClients.
const holdEnv = "CW_HTTPAPI_HOLD_CLIENTS"

func TestMain(m *testing.M) {
	if addr := os.Getenv(holdEnv); addr != "" {
		os.Exit(holdClients(addr, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// BenchmarkTickSubscribersApart ticks the tick benchmarks' world (tickRig,
// one event a tick) in rounds; each round has a phase with no client and
// one with 1000 clients held by a separate process, in alternating order,
// b.N ticks per phase in all. With clients, each tick's event reaches
// every client before the next tick, untimed. It reports tick-ns-0subs,
// tick-ns-1000subs and tick-ratio (goal <= 1.05).
func BenchmarkTickSubscribersApart(b *testing.B) { benchTickApart(b, false) }

// BenchmarkTickSubscribersApartRealPS is the same with each listing also
// paying a real `docker ps` call: the tick's real cost.
func BenchmarkTickSubscribersApartRealPS(b *testing.B) {
	if err := osexec.Command("docker", "version").Run(); err != nil {
		b.Skipf("no docker engine answers: %v", err)
	}
	benchTickApart(b, true)
}

func benchTickApart(b *testing.B, realPS bool) {
	const subs, rounds = 1000, 10
	// gap separates ticks, as the daemon's interval and settle always do:
	// back to back, a tick would also pay for the kernel's tail of the
	// previous fan-out (1000 loopback ACKs, delayed up to 40 ms), which no
	// daemon tick ever overlaps. CW_BENCH_SSE_GAP=0 measures that too.
	gap := 50 * time.Millisecond
	if v, ok := os.LookupEnv("CW_BENCH_SSE_GAP"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("CW_BENCH_SSE_GAP=%q: %v", v, err)
		}
		gap = d
	}
	w, broker := tickRig(b, realPS)
	api := &httpapi.Server{Broker: broker, Events: &fakeLog{}, Liveness: &watchdog.Liveness{Interval: time.Minute}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	h := startHolder(b, ln.Addr().String())

	ticks := func(n int, clients bool) time.Duration {
		var total time.Duration
		for range n {
			start := time.Now()
			rep, err := w.Tick(context.Background())
			total += time.Since(start)
			if err != nil || len(rep.Events) != 1 {
				b.Fatalf("tick: %v, %d events, want 1", err, len(rep.Events))
			}
			if clients {
				h.expect(b, "got")
			}
			time.Sleep(gap) // in both phases; see gap
		}
		return total
	}
	if _, err := w.Tick(context.Background()); err != nil { // first sight: no event yet
		b.Fatal(err)
	}
	ticks(20, false) // warm the registry and the caches

	per := max(b.N/rounds, 20)
	var bare, loaded time.Duration
	b.ResetTimer()
	for r := range rounds {
		for _, clients := range []bool{r%2 == 1, r%2 == 0} {
			if !clients {
				bare += ticks(per, false)
				continue
			}
			h.send(b, fmt.Sprintf("open %d", subs), "opened")
			waitBroker(b, broker, subs)
			loaded += ticks(per, true)
			h.send(b, "close", "closed")
			waitBroker(b, broker, 0)
		}
	}
	b.StopTimer()
	if _, dropped := broker.Stats(); dropped != 0 {
		b.Fatalf("%d clients dropped", dropped)
	}
	n := float64(per * rounds)
	b.ReportMetric(float64(bare.Nanoseconds())/n, "tick-ns-0subs")
	b.ReportMetric(float64(loaded.Nanoseconds())/n, "tick-ns-1000subs")
	b.ReportMetric(float64(loaded)/float64(bare), "tick-ratio")
}

func waitBroker(b *testing.B, broker *httpapi.Broker, n int) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if got, _ := broker.Stats(); got == n {
			return
		}
		if time.Now().After(deadline) {
			got, _ := broker.Stats()
			b.Fatalf("%d subscribers after 30s, want %d", got, n)
		}
	}
}

// holder is the client-holding process, driven a line at a time.
type holder struct {
	in    io.WriteCloser
	lines chan string
}

// startHolder re-executes the test binary as the holder of addr's clients;
// it ends (by its pid, when the benchmark does) as its stdin closes.
func startHolder(b *testing.B, addr string) *holder {
	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+addr)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &holder{in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	b.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return h
}

func (h *holder) send(b *testing.B, cmd, reply string) {
	if _, err := io.WriteString(h.in, cmd+"\n"); err != nil {
		b.Fatalf("holder: %s: %v", cmd, err)
	}
	h.expect(b, reply)
}

func (h *holder) expect(b *testing.B, want string) {
	select {
	case got, ok := <-h.lines:
		if !ok || got != want {
			b.Fatalf("holder said %q (open %v), want %q", got, ok, want)
		}
	case <-time.After(30 * time.Second):
		b.Fatalf("holder did not say %q within 30s", want)
	}
}

// holdClients is the holder process: "open N" opens N SSE clients of addr
// and answers "opened"; "got" follows each time every open client has one
// more event; "close" closes them and answers "closed". It ends with its
// stdin.
func holdClients(addr string, in io.Reader, out io.Writer) int {
	var mu sync.Mutex
	say := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, s)
	}
	var conns []net.Conn
	var readers sync.WaitGroup
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "open":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "holder: open %q\n", arg)
				return 2
			}
			var received atomic.Int64
			for range n {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					_, err = io.WriteString(c, "GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "holder: %v\n", err)
					return 1
				}
				conns = append(conns, c)
				readers.Add(1)
				go func() {
					defer readers.Done()
					r := bufio.NewReader(c)
					for {
						line, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if strings.HasPrefix(string(line), "id:") && received.Add(1)%int64(n) == 0 {
							say("got")
						}
					}
				}()
			}
			say("opened")
		case "close":
			for _, c := range conns {
				c.Close()
			}
			readers.Wait()
			conns = nil
			say("closed")
		}
	}
	for _, c := range conns {
		c.Close()
	}
	return 0
}
