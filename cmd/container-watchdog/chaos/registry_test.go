package chaos

// The registry as the suite reads it: straight from SQLite, beside the
// daemon (WAL lets a reader in while it writes), and the docker side of
// the same instances.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	osexec "os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// registry is a connection of the suite's own to a daemon's registry.
type registry struct {
	db *sql.DB
}

// openRegistry opens path; busy waits up to 5 s for a writer to finish.
func openRegistry(tb testing.TB, path string) *registry {
	tb.Helper()
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	must(tb, err)
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return &registry{db: db}
}

// events returns the whole event log, in id order.
func (r *registry) events(tb testing.TB) []watchdog.Event {
	tb.Helper()
	rows, err := r.db.Query(`SELECT id, time, type, container, agent, instance, detail FROM events ORDER BY id`)
	must(tb, err)
	defer rows.Close()
	var out []watchdog.Event
	for rows.Next() {
		var e watchdog.Event
		var t, typ string
		must(tb, rows.Scan(&e.ID, &t, &typ, &e.Container, &e.Agent, &e.Instance, &e.Detail))
		e.Type = watchdog.EventType(typ)
		var err error
		e.Time, err = time.Parse(time.RFC3339Nano, t)
		must(tb, err)
		out = append(out, e)
	}
	must(tb, rows.Err())
	return out
}

// intents returns the containers whose recreation is recorded as started
// and whose outcome is not.
func (r *registry) intents(tb testing.TB) []string {
	tb.Helper()
	rows, err := r.db.Query(`SELECT container FROM intents ORDER BY container`)
	must(tb, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		must(tb, rows.Scan(&c))
		out = append(out, c)
	}
	must(tb, rows.Err())
	return out
}

// eventLog is where a scenario reads the event log from.
type eventLog interface {
	events(tb testing.TB) []watchdog.Event
}

// nsEvents reads the event log of a registry only a daemon's own mount
// namespace sees, with `container-watchdog events --json` run there
// (SQLite resolves /proc/PID/root as a symlink, to the host's path).
type nsEvents struct {
	w       *world
	pid     int
	globals []string
}

func (n nsEvents) events(tb testing.TB) []watchdog.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"-t", strconv.Itoa(n.pid), "-m", "--", n.w.bin}, n.globals...)
	cmd := osexec.CommandContext(ctx, "nsenter", append(argv, "events", "--json")...)
	cmd.Env = n.w.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("events --json in the namespace of pid %d: %v: %s", n.pid, err, stderr.String())
	}
	var evs []watchdog.Event
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var e watchdog.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			tb.Fatalf("events --json line %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// ctr is one container as docker lists it, with the labels that say which
// instance it is.
type ctr struct {
	ID, Name, State, Agent, Instance string
}

// containers lists every container whose name starts with prefix, on the
// engine extraEnv names (nil: the world's).
func (w *world) containers(tb testing.TB, prefix string, extraEnv []string) []ctr {
	tb.Helper()
	out, err := w.runEnv(context.Background(), extraEnv, "ps", "-a", "--no-trunc", "--filter", "name=^"+prefix, "--format",
		`{"ID":"{{.ID}}","Name":"{{.Names}}","State":"{{.State}}","Agent":"{{.Label "`+watchdog.LabelAgent+`"}}","Instance":"{{.Label "`+watchdog.LabelInstance+`"}}"}`)
	must(tb, err)
	var cs []ctr
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var c ctr
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			tb.Fatalf("docker ps line %q: %v", line, err)
		}
		cs = append(cs, c)
	}
	return cs
}

// byName indexes containers by name.
func byName(cs []ctr) map[string]ctr {
	m := make(map[string]ctr, len(cs))
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

// duplicates names every instance that has more than one container.
func duplicates(cs []ctr) []string {
	n := map[string][]string{}
	for _, c := range cs {
		k := c.Agent + "/" + c.Instance
		n[k] = append(n[k], c.Name+"("+c.ID[:12]+")")
	}
	var out []string
	for k, names := range n {
		if len(names) > 1 {
			out = append(out, fmt.Sprintf("%s: %v", k, names))
		}
	}
	return out
}
