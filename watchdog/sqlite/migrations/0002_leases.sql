-- A lease marks a container that a reconcile is replacing (rm then run), so
-- the daemon's tick does not mistake the gap for a loss. It expires on its
-- own if the process holding it dies.
CREATE TABLE leases (
	container TEXT PRIMARY KEY,
	until     TEXT NOT NULL
);
