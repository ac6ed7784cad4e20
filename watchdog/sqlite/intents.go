package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Intend implements watchdog.Registry.
func (d *DB) Intend(ctx context.Context, container string, at time.Time) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO intents (container, since) VALUES (?, ?)
			ON CONFLICT (container) DO UPDATE SET since = excluded.since`, container, at.UTC().Format(timeFormat)); err != nil {
			return fmt.Errorf("record intent to recreate %s: %w", container, err)
		}
		return nil
	})
}

// Intents implements watchdog.Registry.
func (d *DB) Intents(ctx context.Context) (map[string]bool, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT container FROM intents`)
	if err != nil {
		return nil, fmt.Errorf("read intents: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read intents: %w", err)
		}
		out[c] = true
	}
	return out, rows.Err()
}
