-- The inbox becomes the hydrator's work queue, and the record mirror holds what it fetched.
-- States of an event: pending (work to do, due at next_attempt_at), done, quarantined (kept,
-- not fetched: its portal is unknown, uninstalled or must re-authorise, or a scope is
-- missing; `reason` says which), dead (a dead letter: attempts used up, `last_error`),
-- unhandled (a subscription type spoke does not hydrate; kept and marked).
ALTER TABLE inbox_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox_events ADD COLUMN next_attempt_at TIMESTAMPTZ;     -- NULL: due at once
ALTER TABLE inbox_events ADD COLUMN claimed_by TEXT;                 -- the worker holding it
ALTER TABLE inbox_events ADD COLUMN claimed_until TIMESTAMPTZ;       -- a crashed worker's claim expires
ALTER TABLE inbox_events ADD COLUMN reason TEXT;                     -- why quarantined, dead or unhandled
ALTER TABLE inbox_events ADD COLUMN last_error TEXT;
ALTER TABLE inbox_events ADD COLUMN finished_at TIMESTAMPTZ;

-- Claiming walks the portals with pending work (a loose index scan) and takes the oldest
-- events of each. It replaces the (state, id) index: counting by state uses its prefix.
DROP INDEX inbox_events_by_state;
CREATE INDEX inbox_events_claimable ON inbox_events (state, portal_id, id);

-- The latest snapshot of every record spoke hydrated, per portal and object.
CREATE TABLE records (
    portal_id    BIGINT      NOT NULL,
    object_type  TEXT        NOT NULL,            -- contacts, companies, … (HubSpot's path names)
    object_id    BIGINT      NOT NULL,
    state        TEXT        NOT NULL,            -- live | deleted
    properties   JSON        NOT NULL,            -- as HubSpot returned it
    updated_at   BIGINT      NOT NULL,            -- HubSpot's updatedAt (or the deletion's occurredAt), epoch ms
    fetched_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (portal_id, object_type, object_id)
);

-- One hydrator at a time per portal, across instances, so each portal's rate limit is
-- kept by one in-process limiter; taken with each claim, it lapses when its holder stops.
CREATE TABLE hydration_leases (
    portal_id  BIGINT      PRIMARY KEY,
    holder     TEXT        NOT NULL,
    until      TIMESTAMPTZ NOT NULL
);
