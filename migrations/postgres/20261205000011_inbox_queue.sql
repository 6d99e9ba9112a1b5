-- Settling an event no longer rewrites its inbox row: each per-event update (claimed, then
-- done) wrote a new version of the whole row, its payload and its index entries. What
-- changes about an event now lives in inbox_queue, a small table; inbox_events is written
-- once.
--
-- An event with a row here is pending (work to do, due at next_attempt_at), quarantined
-- (kept, not fetched: its portal is unknown, uninstalled or must re-authorise, or a scope is
-- missing; `reason` says which), dead (a dead letter: attempts used up, `last_error`) or
-- unhandled (a subscription type spoke does not hydrate). An event without one is done.
CREATE TABLE inbox_queue (
    state            TEXT        NOT NULL,
    portal_id        BIGINT      NOT NULL,
    id               BIGINT      NOT NULL,    -- inbox_events.id
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,             -- NULL: due at once
    claimed_by       TEXT,                    -- the worker holding it
    claimed_until    TIMESTAMPTZ,             -- a crashed worker's claim expires
    reason           TEXT,
    last_error       TEXT,
    finished_at      TIMESTAMPTZ,             -- when it was set aside
    PRIMARY KEY (state, portal_id, id)
);

INSERT INTO inbox_queue (state, portal_id, id, attempts, next_attempt_at, claimed_by,
                         claimed_until, reason, last_error, finished_at)
SELECT state, portal_id, id, attempts, next_attempt_at, claimed_by, claimed_until, reason,
       last_error, finished_at
FROM inbox_events WHERE state <> 'done';

DROP INDEX inbox_events_claimable;
ALTER TABLE inbox_events
    DROP COLUMN state,
    DROP COLUMN attempts,
    DROP COLUMN next_attempt_at,
    DROP COLUMN claimed_by,
    DROP COLUMN claimed_until,
    DROP COLUMN reason,
    DROP COLUMN last_error,
    DROP COLUMN finished_at;

-- Retention prunes done events by age of receipt, oldest first.
CREATE INDEX inbox_events_received ON inbox_events (received_at);

-- Every event stored is queued, in the same transaction, whoever stores it: also a
-- receiver of the previous release during a rolling upgrade, which knows nothing of the
-- queue (its workers fail on the dropped columns and take nothing until replaced). Once per
-- statement, over the rows it inserted.
CREATE FUNCTION inbox_events_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inbox_queue (state, portal_id, id) SELECT 'pending', portal_id, id FROM new_events;
    RETURN NULL;
END
$$;

CREATE TRIGGER inbox_events_queued AFTER INSERT ON inbox_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION inbox_events_queue();
