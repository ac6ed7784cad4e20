package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// AddHolds places (or replaces) holds, all or none.
func (d *DB) AddHolds(ctx context.Context, hs ...watchdog.Hold) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, h := range hs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO holds (container, reason, since, until) VALUES (?, ?, ?, ?)
				ON CONFLICT (container) DO UPDATE SET reason = excluded.reason, since = excluded.since, until = excluded.until`,
				h.Container, h.Reason, formatOptionalTime(h.Since), formatOptionalTime(h.Until)); err != nil {
				return fmt.Errorf("hold %s: %w", h.Container, err)
			}
		}
		return nil
	})
}

// RemoveHolds ends the holds of the containers named, all or none, and
// returns the ones that were held.
func (d *DB) RemoveHolds(ctx context.Context, containers ...string) ([]string, error) {
	var removed []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range containers {
			res, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE container = ?`, c)
			if err != nil {
				return fmt.Errorf("release %s: %w", c, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				removed = append(removed, c)
			}
		}
		return nil
	})
	return removed, err
}

// Holds implements watchdog.Registry.
func (d *DB) Holds(ctx context.Context) (map[string]watchdog.Hold, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT container, reason, since, until FROM holds`)
	if err != nil {
		return nil, fmt.Errorf("read holds: %w", err)
	}
	defer rows.Close()
	out := map[string]watchdog.Hold{}
	for rows.Next() {
		var h watchdog.Hold
		var since, until string
		if err := rows.Scan(&h.Container, &h.Reason, &since, &until); err != nil {
			return nil, fmt.Errorf("read holds: %w", err)
		}
		if h.Since, err = parseOptionalTime("hold of "+h.Container+" since", since); err != nil {
			return nil, err
		}
		if h.Until, err = parseOptionalTime("hold of "+h.Container+" until", until); err != nil {
			return nil, err
		}
		out[h.Container] = h
	}
	return out, rows.Err()
}

// EndHold implements watchdog.Registry: it deletes h only if it is still
// the container's hold.
func (d *DB) EndHold(ctx context.Context, h watchdog.Hold) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE container = ? AND until = ?`, h.Container, formatOptionalTime(h.Until)); err != nil {
			return fmt.Errorf("end hold of %s: %w", h.Container, err)
		}
		return nil
	})
}
