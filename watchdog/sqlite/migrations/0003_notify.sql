-- Notification sinks and the durable outbox. A row is queued for each sink
-- whose filter matches, in the transaction that stores the event; the
-- daemon's sender removes it once delivered or dropped. The counters and
-- the last error persist so that metrics and `notify ls` survive restarts.
CREATE TABLE sinks (
	name         TEXT PRIMARY KEY,
	url          TEXT NOT NULL,
	events       TEXT NOT NULL DEFAULT '',  -- comma-separated event types; empty: all
	min_priority INTEGER NOT NULL,          -- journald priority: send events with priority <= this
	secret       TEXT NOT NULL DEFAULT '',  -- HMAC key for webhook signatures
	created_at   TEXT NOT NULL,
	delivered    INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0,
	dropped      INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT ''
);

-- One row per event and sink, keyed by the event so that the rows an event
-- queues sit together at the end of one b-tree (a tick's transaction then
-- writes one more page, not one per sink); a sink's rows in event id order
-- are its delivery order. No foreign key: RemoveSink deletes a sink's rows,
-- and the check would cost every event's transaction a lookup.
CREATE TABLE outbox (
	event_id     INTEGER NOT NULL,
	sink         TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt TEXT NOT NULL DEFAULT '',  -- empty: due at once
	PRIMARY KEY (event_id, sink)
) WITHOUT ROWID;
