-- What the sinks beside the mirror (a signed HTTP endpoint, NATS JetStream) still have to
-- deliver: one row per change the mirror accepted and per configured sink, written in the
-- transaction that writes the mirror, so a change is in the mirror and queued for every
-- sink, or neither. States: pending (due at next_attempt_at), done, dead (a sink's dead
-- letter: attempts used up, `last_error`). Times are epoch milliseconds (UTC).
CREATE TABLE sink_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sink            TEXT    NOT NULL,             -- http | nats
    portal_id       INTEGER NOT NULL,
    object_type     TEXT    NOT NULL,             -- HubSpot's path name: contacts, …
    object_id       INTEGER NOT NULL,
    record_state    TEXT    NOT NULL,             -- live | deleted | merged | erased
    properties      TEXT    NOT NULL,             -- JSON object; '{}' unless live
    version         INTEGER NOT NULL,             -- the record's updatedAt (an erase: when it happened)
    created_at      INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,                      -- NULL: due at once
    claimed_by      TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    finished_at     INTEGER
);
-- Claiming walks a sink's pending rows in order; a row waits while an older one of the same
-- object is pending, which the second index answers.
CREATE INDEX sink_deliveries_claimable ON sink_deliveries (sink, state, id);
CREATE INDEX sink_deliveries_by_object ON sink_deliveries (portal_id, object_type, object_id, sink, state, id);
