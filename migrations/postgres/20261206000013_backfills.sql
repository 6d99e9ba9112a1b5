-- Backfill: a portal's records read page by page from HubSpot's list API, at install and
-- on an operator's request. One row a portal for the latest request and the instance
-- leasing it (several instances never backfill one portal at once); one row a type for its
-- progress, whose cursor advances in the transaction that writes the page's records, so a
-- restart or a lost lease resumes where the last page ended. Times are epoch ms.
CREATE TABLE backfills (
    portal_id    BIGINT PRIMARY KEY,
    requested_at BIGINT NOT NULL,
    only_type    TEXT,            -- the one type asked for; NULL: every hydrated type
    started_at   BIGINT,       -- when a worker listed the request's types; NULL: not yet
    finished_at  BIGINT,       -- NULL while the request is pending or running
    lease_holder TEXT,
    lease_until  BIGINT
);
-- Portals with a backfill to do, for the workers' lease.
CREATE INDEX backfills_pending ON backfills (finished_at, portal_id);

CREATE TABLE backfill_types (
    portal_id   BIGINT NOT NULL,
    object_type TEXT   NOT NULL,  -- as in records.object_type
    next_after  TEXT,             -- the list API's cursor of the next page; NULL: the first
    read        BIGINT NOT NULL,
    total       BIGINT,       -- HubSpot's count when known
    done_at     BIGINT,
    error       TEXT,             -- why the type could not be read, when it could not
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (portal_id, object_type)
);
