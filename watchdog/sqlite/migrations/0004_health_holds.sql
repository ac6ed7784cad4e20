-- Health checks and the operator's intent (holds).
ALTER TABLE agents ADD COLUMN health TEXT NOT NULL DEFAULT '{}';          -- JSON health check ({} : the image's own)
ALTER TABLE agents ADD COLUMN on_unhealthy TEXT NOT NULL DEFAULT '';       -- '' or report, or restart
ALTER TABLE agents ADD COLUMN unhealthy_grace TEXT NOT NULL DEFAULT '0s';  -- a Go duration

-- The last health verdict reported, so it is reported once across restarts.
ALTER TABLE observations ADD COLUMN health TEXT NOT NULL DEFAULT '';
ALTER TABLE observations ADD COLUMN health_since TEXT NOT NULL DEFAULT '';

-- A hold: leave this container alone until released or until "until".
CREATE TABLE holds (
	container TEXT PRIMARY KEY,
	reason    TEXT NOT NULL DEFAULT '',
	since     TEXT NOT NULL,
	until     TEXT NOT NULL DEFAULT ''   -- empty: until released
);
