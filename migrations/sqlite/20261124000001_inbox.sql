-- The durable webhook inbox: every event HubSpot delivered, stored once under its identity.
-- Identity (DESIGN.md, Storage; reference §2.7): HubSpot does not promise that eventId alone
-- is unique, so the key is (portal, subscription, event id, object, occurredAt). Absent
-- optional parts are stored as 0 so that the key stays comparable.
CREATE TABLE inbox_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    portal_id         INTEGER NOT NULL,
    subscription_id   INTEGER NOT NULL,
    event_id          INTEGER NOT NULL,
    object_id         INTEGER NOT NULL,
    occurred_at       INTEGER NOT NULL,           -- epoch ms, as HubSpot sent it
    subscription_type TEXT    NOT NULL,
    app_id            INTEGER,
    attempt_number    INTEGER NOT NULL,           -- attemptNumber of the delivery that stored it
    payload           TEXT    NOT NULL,           -- the event's raw JSON, unknown fields included
    state             TEXT    NOT NULL DEFAULT 'pending',
    received_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)), -- epoch ms
    UNIQUE (portal_id, subscription_id, event_id, object_id, occurred_at)
);

CREATE INDEX inbox_events_by_state ON inbox_events (state, id);
