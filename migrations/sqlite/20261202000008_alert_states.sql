-- The alerts announced, shared by every instance: an instance announces a change (fired,
-- a new level, resolved) only when its write changes this row, so each change is posted
-- once however many instances evaluate, and a restarted instance does not post again
-- what is still active. portal_id -1: app-wide.
CREATE TABLE alert_states (
    portal_id  INTEGER NOT NULL,
    about      TEXT    NOT NULL,              -- webhooks | api | combined | probablyUninstalled
    level      TEXT    NOT NULL,              -- warning | critical
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (portal_id, about)
);
