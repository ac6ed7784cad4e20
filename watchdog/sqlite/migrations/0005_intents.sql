-- An intent: the daemon is about to recreate this container. Observe
-- clears it with the outcome; one found after a crash means the
-- recreation started and its outcome was never recorded.
CREATE TABLE intents (
	container TEXT PRIMARY KEY,
	since     TEXT NOT NULL
);
