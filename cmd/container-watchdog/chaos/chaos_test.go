package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// TestChaos runs every scenario on one world (binary, image, prefix) and
// logs the figures of the README's "Reliability" table; with
// CW_CHAOS_FIGURES=PATH it also writes them there as markdown.
//
// Sizes come from the environment, the numbers by default:
// CW_CHAOS_ROUNDS (100) and CW_CHAOS_INSTANCES (20) for the crash loop,
// CW_CHAOS_ENGINE_RESTARTS (10), CW_CHAOS_SLOW_SECONDS (60) of hangs,
// CW_CHAOS_SSE_CLIENTS (1000), CW_CHAOS_HALF_OPEN (300), and
// CW_CHAOS_ABUSE_ROUNDS (2) abuse phases, each followed by a baseline
// phase (the first baseline comes before them all). CW_CHAOS_SEED
// replays a run's random choices (the timing still differs),
// CW_CHAOS_ONLY=a,b runs only those scenarios, CW_CHAOS_DEBUG=1 logs each
// crash-loop round's timing.
func TestChaos(t *testing.T) {
	w := newWorld(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CW_CHAOS_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		must(t, err)
	}
	t.Logf("docker %s, image %s, prefix %s, seed %d (CW_CHAOS_SEED replays it)", w.docker, w.image, w.root, seed)
	figs := &figures{}
	type scenarioFunc func(*testing.T, *scenario)
	// Two lanes run side by side: the crash loop, the longest, on the
	// world's engine; and the rest, one after another (their figures
	// include timings, and the HTTP ratio's baseline is measured in the
	// same lane, before and after the abuse).
	lanes := []struct {
		name      string
		scenarios []string
	}{
		{"crash", []string{"crash_loop"}},
		{"faults", []string{"lock", "registry_full", "registry_locked", "docker_slow", "http_abuse", "engine_restarts"}},
	}
	funcs := map[string]scenarioFunc{
		"crash_loop": testCrashLoop, "lock": testLock, "registry_full": testRegistryFull, "registry_locked": testRegistryLocked,
		"docker_slow": testDockerSlow, "http_abuse": testHTTPAbuse, "engine_restarts": testEngineRestarts,
	}
	only := os.Getenv("CW_CHAOS_ONLY") // a comma-separated subset, while developing
	t.Run("lanes", func(t *testing.T) {
		for i, lane := range lanes {
			t.Run(lane.name, func(t *testing.T) {
				t.Parallel()
				for j, name := range lane.scenarios {
					if only != "" && !strings.Contains(","+only+",", ","+name+",") {
						continue
					}
					t.Run(name, func(t *testing.T) {
						began := time.Now()
						funcs[name](t, w.scenario(t, name, rand.New(rand.NewPCG(seed, uint64(10*i+j))), figs))
						figs.wall(name, time.Since(began))
					})
				}
			})
		}
	})
	table := figs.markdown()
	t.Logf("figures:\n%s", table)
	if p := os.Getenv("CW_CHAOS_FIGURES"); p != "" {
		must(t, os.WriteFile(p, []byte(table), 0o644))
	}
}

// scenario is one scenario's world: its own prefix, registry and folder.
type scenario struct {
	*world
	name   string
	prefix string
	db     string
	dir    string
	rng    *rand.Rand
	figs   *figures
}

func (w *world) scenario(tb testing.TB, tag string, rng *rand.Rand, figs *figures) *scenario {
	s := &scenario{world: w, name: tag, prefix: w.root + strings.ReplaceAll(tag, "_", "") + "-", dir: tb.TempDir(), rng: rng, figs: figs}
	s.db = filepath.Join(s.dir, "registry.db")
	tb.Cleanup(func() { w.removeAll(tb, s.prefix, nil) })
	return s
}

// row is the scenario's row of figures.
func (s *scenario) row() *figureRow { return s.figs.row(s.name) }

// globals are the flags every command of the scenario takes.
func (s *scenario) globals(docker string, timeout time.Duration) []string {
	return []string{"--db", s.db, "--prefix", s.prefix, "--docker", docker, "--docker-timeout", timeout.String()}
}

// instances registers agent a with n instances (i00, i01, ...) without
// creating them, and returns their containers' names.
func (s *scenario) instances(tb testing.TB, n int) []string {
	tb.Helper()
	args := []string{"agent", "add", "a", "--image", s.image, "--no-reconcile"}
	var names []string
	for i := range n {
		in := fmt.Sprintf("i%02d", i)
		args = append(args, "--instance", in)
		names = append(names, watchdog.ContainerName(s.prefix, "a", in))
	}
	s.cli(tb, s.globals(s.docker, 30*time.Second), args...)
	return names
}

// envInt reads a size from the environment, def when unset.
func envInt(tb testing.TB, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", key, v)
	}
	return n
}

// figures are the numbers of the "Reliability" table, row by scenario.
type figures struct {
	mu   sync.Mutex
	rows map[string]*figureRow
}

// figureRow is one scenario's row: what was injected, what went wrong
// (all must be 0), how long convergence took, and what else was measured.
type figureRow struct {
	order                          int
	faults                         string
	lost, duplicates, falseReports int
	converge                       []time.Duration
	convergeWhat                   string
	notes                          []string
	wallTime                       time.Duration
}

// note adds a measurement to the row's notes.
func (r *figureRow) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (f *figures) row(name string) *figureRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rows == nil {
		f.rows = map[string]*figureRow{}
	}
	r := f.rows[name]
	if r == nil {
		r = &figureRow{order: len(f.rows)}
		f.rows[name] = r
	}
	return r
}

func (f *figures) wall(name string, d time.Duration) { f.row(name).wallTime = d }

// markdown renders the table.
func (f *figures) markdown() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.rows))
	for n := range f.rows {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return f.rows[names[i]].order < f.rows[names[j]].order })
	var b strings.Builder
	b.WriteString("| scenario | faults injected | events lost | duplicate containers | false reports | time to converge | wall time | notes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, n := range names {
		r := f.rows[n]
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s | %s |\n", n, r.faults, r.lost, r.duplicates, r.falseReports,
			convergeText(r.converge, r.convergeWhat), r.wallTime.Round(time.Second), strings.Join(r.notes, "; "))
	}
	return b.String()
}

// convergeText is "median m, max x (what)" of the times to converge.
func convergeText(ds []time.Duration, what string) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	text := fmt.Sprintf("median %s, max %s", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	if what != "" {
		text += " (" + what + ")"
	}
	return text
}
