package sqlite

import (
	"context"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// LastEvents returns the newest event of each container, oldest first: the
// seed of /state's last_event (httpapi), which then follows the log by id.
func (d *DB) LastEvents(ctx context.Context) ([]watchdog.Event, error) {
	return d.queryEvents(ctx,
		`SELECT id, time, type, container, agent, instance, detail, evidence FROM events
		 WHERE id IN (SELECT MAX(id) FROM events GROUP BY container) ORDER BY id`)
}
