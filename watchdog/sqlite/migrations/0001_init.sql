CREATE TABLE agents (
	name       TEXT PRIMARY KEY,
	image      TEXT NOT NULL,
	host_mode  INTEGER NOT NULL DEFAULT 0,
	env        TEXT NOT NULL DEFAULT '[]',  -- JSON array of K=V, in the order given
	state_path TEXT NOT NULL,
	command    TEXT NOT NULL DEFAULT '[]',  -- JSON array of argv
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

CREATE TABLE instances (
	agent    TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
	name     TEXT NOT NULL,
	position INTEGER NOT NULL,
	PRIMARY KEY (agent, name)
);

CREATE TABLE events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	time      TEXT NOT NULL,
	type      TEXT NOT NULL,
	container TEXT NOT NULL,
	agent     TEXT NOT NULL,
	instance  TEXT NOT NULL,
	detail    TEXT NOT NULL DEFAULT '',
	evidence  TEXT NOT NULL DEFAULT ''    -- JSON object, or empty
);

CREATE TABLE observations (
	container TEXT PRIMARY KEY,
	agent     TEXT NOT NULL,
	instance  TEXT NOT NULL,
	state     TEXT NOT NULL,
	since     TEXT NOT NULL,
	detail    TEXT NOT NULL DEFAULT ''
);
