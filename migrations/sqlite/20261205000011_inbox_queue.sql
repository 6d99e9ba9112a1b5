-- Settling an event no longer rewrites its inbox row. The events of many portals arrive
-- interleaved, so a portal's events lie on as many pages of inbox_events as it has events,
-- and every per-event update (claimed, then done) wrote a whole page to the WAL per event.
-- What changes about an event now lives in inbox_queue, a small table clustered by state and
-- portal, so a portal's claimed events share pages; inbox_events is written once.
--
-- An event with a row here is pending (work to do, due at next_attempt_at), quarantined
-- (kept, not fetched: its portal is unknown, uninstalled or must re-authorise, or a scope is
-- missing; `reason` says which), dead (a dead letter: attempts used up, `last_error`) or
-- unhandled (a subscription type spoke does not hydrate). An event without one is done.
-- Times are epoch milliseconds (UTC).
CREATE TABLE inbox_queue (
    state            TEXT    NOT NULL,
    portal_id        INTEGER NOT NULL,
    id               INTEGER NOT NULL,        -- inbox_events.id
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,                 -- NULL: due at once
    claimed_by       TEXT,                    -- the worker holding it
    claimed_until    INTEGER,                 -- a crashed worker's claim expires
    reason           TEXT,
    last_error       TEXT,
    finished_at      INTEGER,                 -- when it was set aside
    PRIMARY KEY (state, portal_id, id)
) WITHOUT ROWID;

INSERT INTO inbox_queue (state, portal_id, id, attempts, next_attempt_at, claimed_by,
                         claimed_until, reason, last_error, finished_at)
SELECT state, portal_id, id, attempts, next_attempt_at, claimed_by, claimed_until, reason,
       last_error, finished_at
FROM inbox_events WHERE state <> 'done';

DROP INDEX inbox_events_claimable;
ALTER TABLE inbox_events DROP COLUMN state;
ALTER TABLE inbox_events DROP COLUMN attempts;
ALTER TABLE inbox_events DROP COLUMN next_attempt_at;
ALTER TABLE inbox_events DROP COLUMN claimed_by;
ALTER TABLE inbox_events DROP COLUMN claimed_until;
ALTER TABLE inbox_events DROP COLUMN reason;
ALTER TABLE inbox_events DROP COLUMN last_error;
ALTER TABLE inbox_events DROP COLUMN finished_at;

-- Retention prunes done events by age of receipt, oldest first: an append-only index.
CREATE INDEX inbox_events_received ON inbox_events (received_at);

-- Every event stored is queued, in the same transaction, whoever stores it: also a
-- receiver of the previous release during a rolling upgrade, which knows nothing of the
-- queue (its workers fail on the dropped columns and take nothing until replaced).
CREATE TRIGGER inbox_events_queued AFTER INSERT ON inbox_events
BEGIN
    INSERT INTO inbox_queue (state, portal_id, id) VALUES ('pending', NEW.portal_id, NEW.id);
END;
