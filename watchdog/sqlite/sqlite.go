package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

//go:embed migrations/*.sql
var migrations embed.FS

const timeFormat = time.RFC3339Nano

// DB is the registry. It implements watchdog.Registry.
type DB struct {
	db *sql.DB
	// Clock stamps agents and events that carry no time (default: the
	// system clock).
	Clock clock.Clock
	// queue is queueSQL, prepared once: it runs in every event's transaction.
	queue *sql.Stmt
}

// DefaultBusyTimeout is how long a write waits for another process's
// write lock before it fails: the CLI's writes take milliseconds.
const DefaultBusyTimeout = 10 * time.Second

// Option changes how Open opens the registry.
type Option func(*options)

type options struct{ busy time.Duration }

// BusyTimeout sets how long each write waits for another process's write
// lock (default DefaultBusyTimeout).
func BusyTimeout(d time.Duration) Option { return func(o *options) { o.busy = d } }

// Open opens (creating it and its folder if needed) the registry at path
// and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{busy: DefaultBusyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, fmt.Errorf("%w registry path: empty", watchdog.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create registry folder %s: %w", dir, err)
		}
	}
	if err := privateFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", strconv.FormatInt(o.busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	d := &DB{db: db, Clock: clock.System()}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if d.queue, err = db.PrepareContext(ctx, queueSQL); err != nil {
		db.Close()
		return nil, err
	}
	if err := privateSidecars(path); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func (d *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	// Look before taking the write lock: an up-to-date registry opens
	// without a write, so the commands that only read (events, status, the
	// daemon's own start) work on a full disk and while another process
	// holds the write lock.
	var current int
	if err := d.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current == len(names) {
		return nil
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(names) {
			return fmt.Errorf("schema version %d is newer than this binary knows (%d): refusing to touch it", version, len(names))
		}
		for i := version; i < len(names); i++ {
			b, err := migrations.ReadFile(names[i])
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(b)); err != nil {
				return fmt.Errorf("migration %s: %w", names[i], err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(names)))
		return err
	})
}

func (d *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// AddAgent registers a new agent.
func (d *DB) AddAgent(ctx context.Context, a watchdog.Agent) (watchdog.Agent, error) {
	if err := a.Validate(); err != nil {
		return a, err
	}
	now := d.Clock.Now().UTC()
	a.CreatedAt, a.UpdatedAt = now, now
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := insertAgent(ctx, tx, a); err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey {
				return fmt.Errorf("agent %q: %w", a.Name, watchdog.ErrExists)
			}
			return fmt.Errorf("add agent %q: %w", a.Name, err)
		}
		return nil
	})
	return a, err
}

func insertAgent(ctx context.Context, tx *sql.Tx, a watchdog.Agent) error {
	env, _ := json.Marshal(watchdog.OrEmpty(a.Env))
	cmd, _ := json.Marshal(watchdog.OrEmpty(a.Command))
	health, _ := json.Marshal(a.Health)
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO agents (name, image, host_mode, env, state_path, command, health, on_unhealthy, unhealthy_grace, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Name, a.Image, a.HostMode, string(env), a.StatePath, string(cmd), string(health), string(a.OnUnhealthy), a.UnhealthyGrace.String(),
		a.CreatedAt.Format(timeFormat), a.UpdatedAt.Format(timeFormat)); err != nil {
		return err
	}
	for i, in := range a.Instances {
		if _, err := tx.ExecContext(ctx, `INSERT INTO instances (agent, name, position) VALUES (?, ?, ?)`, a.Name, in, i); err != nil {
			return err
		}
	}
	return nil
}

// UpdateAgent applies change to the agent named and stores the result if
// it is valid. It returns the agent before and after.
func (d *DB) UpdateAgent(ctx context.Context, name string, change func(*watchdog.Agent) error) (before, after watchdog.Agent, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		before, err = agent(ctx, tx, name)
		if err != nil {
			return err
		}
		after = before
		after.Env = append([]string(nil), before.Env...)
		after.Command = append([]string(nil), before.Command...)
		after.Instances = append([]string(nil), before.Instances...)
		if err := change(&after); err != nil {
			return err
		}
		// The name is the key and CreatedAt history: neither is the change's to set.
		after.Name, after.CreatedAt = before.Name, before.CreatedAt
		if err := after.Validate(); err != nil {
			return err
		}
		after.UpdatedAt = d.Clock.Now().UTC()
		if _, err := tx.ExecContext(ctx, `DELETE FROM agents WHERE name = ?`, name); err != nil {
			return fmt.Errorf("update agent %q: %w", name, err)
		}
		if err := insertAgent(ctx, tx, after); err != nil {
			return fmt.Errorf("update agent %q: %w", name, err)
		}
		return nil
	})
	return before, after, err
}

// DeleteAgent unregisters an agent and returns what it was.
func (d *DB) DeleteAgent(ctx context.Context, name string) (watchdog.Agent, error) {
	var a watchdog.Agent
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = agent(ctx, tx, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM agents WHERE name = ?`, name)
		return err
	})
	return a, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Agent returns one agent.
func (d *DB) Agent(ctx context.Context, name string) (watchdog.Agent, error) {
	return agent(ctx, d.db, name)
}

func agent(ctx context.Context, q querier, name string) (watchdog.Agent, error) {
	as, err := agents(ctx, q, name)
	if err != nil {
		return watchdog.Agent{}, err
	}
	if len(as) == 0 {
		return watchdog.Agent{}, fmt.Errorf("agent %q: %w", name, watchdog.ErrNotFound)
	}
	return as[0], nil
}

// Agents implements watchdog.Registry: every agent, sorted by name.
func (d *DB) Agents(ctx context.Context) ([]watchdog.Agent, error) {
	return agents(ctx, d.db, "")
}

func agents(ctx context.Context, q querier, only string) ([]watchdog.Agent, error) {
	query := `SELECT a.name, a.image, a.host_mode, a.env, a.state_path, a.command, a.health, a.on_unhealthy, a.unhealthy_grace,
		a.created_at, a.updated_at, COALESCE(i.name, '')
		FROM agents a LEFT JOIN instances i ON i.agent = a.name`
	var args []any
	if only != "" {
		query += ` WHERE a.name = ?`
		args = append(args, only)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY a.name, i.position`, args...)
	if err != nil {
		return nil, fmt.Errorf("read agents: %w", err)
	}
	defer rows.Close()
	var out []watchdog.Agent
	for rows.Next() {
		var a watchdog.Agent
		var env, cmd, health, grace, created, updated, inst string
		if err := rows.Scan(&a.Name, &a.Image, &a.HostMode, &env, &a.StatePath, &cmd, &health, &a.OnUnhealthy, &grace, &created, &updated, &inst); err != nil {
			return nil, fmt.Errorf("read agents: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].Name == a.Name {
			out[n-1].Instances = append(out[n-1].Instances, inst)
			continue
		}
		if err := json.Unmarshal([]byte(env), &a.Env); err != nil {
			return nil, fmt.Errorf("agent %q env: %w", a.Name, err)
		}
		if err := json.Unmarshal([]byte(cmd), &a.Command); err != nil {
			return nil, fmt.Errorf("agent %q command: %w", a.Name, err)
		}
		if err := json.Unmarshal([]byte(health), &a.Health); err != nil {
			return nil, fmt.Errorf("agent %q health check: %w", a.Name, err)
		}
		if a.UnhealthyGrace, err = time.ParseDuration(grace); err != nil {
			return nil, fmt.Errorf("agent %q unhealthy grace: %w", a.Name, err)
		}
		if a.CreatedAt, err = parseTime("agent "+a.Name+" created_at", created); err != nil {
			return nil, err
		}
		if a.UpdatedAt, err = parseTime("agent "+a.Name+" updated_at", updated); err != nil {
			return nil, err
		}
		if inst != "" {
			a.Instances = []string{inst}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Observations implements watchdog.Registry.
func (d *DB) Observations(ctx context.Context) (map[string]watchdog.Observation, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT container, agent, instance, state, since, detail, health, health_since FROM observations`)
	if err != nil {
		return nil, fmt.Errorf("read observations: %w", err)
	}
	defer rows.Close()
	out := map[string]watchdog.Observation{}
	for rows.Next() {
		var o watchdog.Observation
		var since, healthSince string
		if err := rows.Scan(&o.Container, &o.Agent, &o.Instance, &o.State, &since, &o.Detail, &o.Health, &healthSince); err != nil {
			return nil, fmt.Errorf("read observations: %w", err)
		}
		if o.Since, err = parseTime("observation of "+o.Container+" since", since); err != nil {
			return nil, err
		}
		if o.HealthSince, err = parseOptionalTime("observation of "+o.Container+" health_since", healthSince); err != nil {
			return nil, err
		}
		out[o.Container] = o
	}
	return out, rows.Err()
}

// Observe implements watchdog.Registry.
func (d *DB) Observe(ctx context.Context, o watchdog.Observation, evs ...*watchdog.Event) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO observations (container, agent, instance, state, since, detail, health, health_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (container) DO UPDATE SET agent = excluded.agent, instance = excluded.instance,
			 state = excluded.state, since = excluded.since, detail = excluded.detail,
			 health = excluded.health, health_since = excluded.health_since`,
			o.Container, o.Agent, o.Instance, string(o.State), o.Since.UTC().Format(timeFormat), o.Detail,
			string(o.Health), formatOptionalTime(o.HealthSince)); err != nil {
			return fmt.Errorf("store observation of %s: %w", o.Container, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM intents WHERE container = ?`, o.Container); err != nil {
			return fmt.Errorf("clear intent of %s: %w", o.Container, err)
		}
		for _, e := range evs {
			if err := d.appendEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Forget implements watchdog.Registry.
func (d *DB) Forget(ctx context.Context, container string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM observations WHERE container = ?`, container)
		return err
	})
}

// Lease implements watchdog.Leaser.
func (d *DB) Lease(ctx context.Context, container string, until time.Time) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO leases (container, until) VALUES (?, ?)
			ON CONFLICT (container) DO UPDATE SET until = excluded.until`, container, until.UTC().Format(timeFormat))
		if err != nil {
			return fmt.Errorf("lease %s: %w", container, err)
		}
		return nil
	})
}

// Release implements watchdog.Leaser.
func (d *DB) Release(ctx context.Context, container string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE container = ?`, container); err != nil {
			return fmt.Errorf("release %s: %w", container, err)
		}
		return nil
	})
}

// Leased implements watchdog.Registry: the containers leased beyond now.
func (d *DB) Leased(ctx context.Context, now time.Time) (map[string]bool, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT container, until FROM leases`)
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c, until string
		if err := rows.Scan(&c, &until); err != nil {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		t, err := parseTime("lease of "+c+" until", until)
		if err != nil {
			return nil, err
		}
		if t.After(now) {
			out[c] = true
		}
	}
	return out, rows.Err()
}

// AppendEvent stores e, setting its ID (and its Time when zero).
func (d *DB) AppendEvent(ctx context.Context, e *watchdog.Event) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.appendEvent(ctx, tx, e) })
}

func (d *DB) appendEvent(ctx context.Context, tx *sql.Tx, e *watchdog.Event) error {
	if e.Time.IsZero() {
		e.Time = d.Clock.Now()
	}
	e.Time = e.Time.UTC()
	var evidence string
	if len(e.Evidence) > 0 {
		b, _ := json.Marshal(e.Evidence)
		evidence = string(b)
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO events (time, type, container, agent, instance, detail, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Time.Format(timeFormat), string(e.Type), e.Container, e.Agent, e.Instance, e.Detail, evidence)
	if err != nil {
		return fmt.Errorf("append %s event for %s: %w", e.Type, e.Container, err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return d.queueNotifications(ctx, tx, e)
}

// Events returns up to limit events with an id above since, oldest first
// (limit <= 0 means all).
func (d *DB) Events(ctx context.Context, since int64, limit int) ([]watchdog.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	return d.queryEvents(ctx,
		`SELECT id, time, type, container, agent, instance, detail, evidence FROM events WHERE id > ? ORDER BY id LIMIT ?`, since, limit)
}

// queryEvents runs a query selecting the events table's columns in order.
func (d *DB) queryEvents(ctx context.Context, query string, args ...any) ([]watchdog.Event, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []watchdog.Event
	for rows.Next() {
		var e watchdog.Event
		var t, typ, evidence string
		if err := rows.Scan(&e.ID, &t, &typ, &e.Container, &e.Agent, &e.Instance, &e.Detail, &evidence); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.Type = watchdog.EventType(typ)
		if e.Time, err = parseTime(fmt.Sprintf("event %d time", e.ID), t); err != nil {
			return nil, err
		}
		if evidence != "" {
			if err := json.Unmarshal([]byte(evidence), &e.Evidence); err != nil {
				return nil, fmt.Errorf("event %d evidence: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// formatOptionalTime stores a time that may be zero as "".
func formatOptionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// parseOptionalTime reads what formatOptionalTime stored.
func parseOptionalTime(what, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(what, s)
}

// parseTime reads a stored time; a bad one is an error naming where it
// was, never a silent zero.
func parseTime(what, s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("registry: %s %q: %w", what, s, err)
	}
	return t, nil
}

// The registry implements the domain's seams.
var (
	_ watchdog.Registry = (*DB)(nil)
	_ watchdog.Leaser   = (*DB)(nil)
)
