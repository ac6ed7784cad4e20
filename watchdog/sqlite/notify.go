package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// queueSQL queues an event for every sink whose filter matches: ?1 event
// id, ?2 the event's priority, ?3 its type.
const queueSQL = `INSERT INTO outbox (event_id, sink)
	SELECT ?1, name FROM sinks
	WHERE min_priority >= ?2 AND (events = '' OR instr(',' || events || ',', ',' || ?3 || ',') > 0)`

// queueNotifications is called by appendEvent, in the event's transaction:
// a stored event and its deliveries exist together or not at all. The
// statement is prepared once (Open): it runs for every event.
func (d *DB) queueNotifications(ctx context.Context, tx *sql.Tx, e *watchdog.Event) error {
	if _, err := tx.StmtContext(ctx, d.queue).ExecContext(ctx, e.ID, e.Type.Priority(), string(e.Type)); err != nil {
		return fmt.Errorf("queue notifications of event %d: %w", e.ID, err)
	}
	return nil
}

// AddSink stores a new sink; a taken name is watchdog.ErrExists.
func (d *DB) AddSink(ctx context.Context, s notify.Sink) error {
	if err := s.Validate(); err != nil {
		return err
	}
	types := make([]string, len(s.Events))
	for i, t := range s.Events {
		types[i] = string(t)
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sinks (name, url, events, min_priority, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			s.Name, s.URL, strings.Join(types, ","), s.MinPriority, s.Secret, s.CreatedAt.UTC().Format(timeFormat))
		var se sqlite3.Error
		if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey {
			return fmt.Errorf("sink %q: %w (notify rm it first)", s.Name, watchdog.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add sink %q: %w", s.Name, err)
		}
		return nil
	})
}

// RemoveSink deletes a sink and its queue; it returns how many queued
// deliveries went with it. An unknown name is watchdog.ErrNotFound.
func (d *DB) RemoveSink(ctx context.Context, name string) (int, error) {
	var queued int
	err := d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sinks WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("remove sink %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sink %q: %w", name, watchdog.ErrNotFound)
		}
		if res, err = tx.ExecContext(ctx, `DELETE FROM outbox WHERE sink = ?`, name); err != nil {
			return fmt.Errorf("remove sink %q: %w", name, err)
		}
		n, _ := res.RowsAffected()
		queued = int(n)
		return nil
	})
	return queued, err
}

// Sink returns one sink; an unknown name is watchdog.ErrNotFound.
func (d *DB) Sink(ctx context.Context, name string) (notify.Sink, error) {
	ss, err := d.sinks(ctx, name)
	if err != nil {
		return notify.Sink{}, err
	}
	if len(ss) == 0 {
		return notify.Sink{}, fmt.Errorf("sink %q: %w", name, watchdog.ErrNotFound)
	}
	return ss[0], nil
}

// Sinks implements notify.Outbox: every sink, by name.
func (d *DB) Sinks(ctx context.Context) ([]notify.Sink, error) { return d.sinks(ctx, "") }

func (d *DB) sinks(ctx context.Context, only string) ([]notify.Sink, error) {
	q := `SELECT name, url, events, min_priority, secret, created_at FROM sinks`
	var args []any
	if only != "" {
		q += ` WHERE name = ?`
		args = append(args, only)
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("read sinks: %w", err)
	}
	defer rows.Close()
	var out []notify.Sink
	for rows.Next() {
		var s notify.Sink
		var types, created string
		if err := rows.Scan(&s.Name, &s.URL, &types, &s.MinPriority, &s.Secret, &created); err != nil {
			return nil, fmt.Errorf("read sinks: %w", err)
		}
		for _, t := range strings.Split(types, ",") {
			if t != "" {
				s.Events = append(s.Events, watchdog.EventType(t))
			}
		}
		s.CreatedAt, _ = time.Parse(timeFormat, created)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Pending implements notify.Outbox.
func (d *DB) Pending(ctx context.Context, sink string, limit int) ([]notify.Pending, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT o.attempts, o.next_attempt,
		e.id, e.time, e.type, e.container, e.agent, e.instance, e.detail, e.evidence
		FROM outbox o JOIN events e ON e.id = o.event_id
		WHERE o.sink = ? ORDER BY o.event_id LIMIT ?`, sink, limit)
	if err != nil {
		return nil, fmt.Errorf("read queue of sink %q: %w", sink, err)
	}
	defer rows.Close()
	var out []notify.Pending
	for rows.Next() {
		var p notify.Pending
		var next, t, typ, evidence string
		e := &p.Event
		if err := rows.Scan(&p.Attempts, &next,
			&e.ID, &t, &typ, &e.Container, &e.Agent, &e.Instance, &e.Detail, &evidence); err != nil {
			return nil, fmt.Errorf("read queue of sink %q: %w", sink, err)
		}
		if next != "" {
			p.NextAttempt, _ = time.Parse(timeFormat, next)
		}
		e.Type = watchdog.EventType(typ)
		e.Time, _ = time.Parse(timeFormat, t)
		p.ID, p.QueuedAt = e.ID, e.Time
		if evidence != "" {
			if err := json.Unmarshal([]byte(evidence), &e.Evidence); err != nil {
				return nil, fmt.Errorf("event %d evidence: %w", e.ID, err)
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Settle implements notify.Outbox: one transaction, so counters and queue
// always agree.
func (d *DB) Settle(ctx context.Context, sink string, o notify.Outcome) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if gone := append(append([]int64(nil), o.Delivered...), o.Dropped...); len(gone) > 0 {
			q, args := inList(`DELETE FROM outbox WHERE sink = ? AND event_id IN `, sink, gone)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("settle sink %q: %w", sink, err)
			}
		}
		if len(o.Retry) > 0 {
			q, args := inList(`UPDATE outbox SET attempts = ?, next_attempt = ? WHERE sink = ? AND event_id IN `,
				o.Attempts, o.NextAttempt.UTC().Format(timeFormat), sink, o.Retry)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("settle sink %q: %w", sink, err)
			}
		}
		failed, lastError := 0, ""
		if o.Failed {
			failed, lastError = 1, o.At.UTC().Format(time.RFC3339)+" "+o.Error
		}
		_, err := tx.ExecContext(ctx, `UPDATE sinks SET delivered = delivered + ?, dropped = dropped + ?, failed = failed + ?,
			last_error = CASE WHEN ? THEN ? ELSE last_error END WHERE name = ?`,
			len(o.Delivered), len(o.Dropped), failed, o.Failed, lastError, sink)
		if err != nil {
			return fmt.Errorf("settle sink %q: %w", sink, err)
		}
		return nil
	})
}

// inList appends "(?, ?, ...)" for ids to query, after the other args.
func inList(query string, argsAndIDs ...any) (string, []any) {
	ids := argsAndIDs[len(argsAndIDs)-1].([]int64)
	args := append([]any(nil), argsAndIDs[:len(argsAndIDs)-1]...)
	marks := make([]string, len(ids))
	for i, id := range ids {
		marks[i] = "?"
		args = append(args, id)
	}
	return query + "(" + strings.Join(marks, ", ") + ")", args
}

// Stats implements notify.Outbox.
func (d *DB) Stats(ctx context.Context) ([]notify.SinkStats, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT s.name, s.delivered, s.failed, s.dropped, s.last_error, count(o.sink)
		FROM sinks s LEFT JOIN outbox o ON o.sink = s.name GROUP BY s.name ORDER BY s.name`)
	if err != nil {
		return nil, fmt.Errorf("read notification stats: %w", err)
	}
	defer rows.Close()
	var out []notify.SinkStats
	for rows.Next() {
		var s notify.SinkStats
		if err := rows.Scan(&s.Sink, &s.Delivered, &s.Failed, &s.Dropped, &s.LastError, &s.Queue); err != nil {
			return nil, fmt.Errorf("read notification stats: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

var _ notify.Outbox = (*DB)(nil)
