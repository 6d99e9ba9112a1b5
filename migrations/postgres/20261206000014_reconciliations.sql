-- Reconciliation: on a schedule per portal (spread over the interval) and on request, the
-- records HubSpot changed since the last run's watermark are compared with the mirror, and
-- each type's count; what webhooks never said is repaired. One row a portal for when it is
-- next due and the worker leasing it; one row a type for its watermark and what its last
-- run found (the drift report). Times are epoch ms.
CREATE TABLE reconciliations (
    portal_id    BIGINT PRIMARY KEY,
    due_at       BIGINT NOT NULL,
    lease_holder TEXT,
    lease_until  BIGINT
);
CREATE INDEX reconciliations_due ON reconciliations (due_at);

CREATE TABLE reconciled_types (
    portal_id           BIGINT NOT NULL,
    object_type         TEXT   NOT NULL,
    watermark           BIGINT NOT NULL, -- records modified since were compared
    started_at          BIGINT NOT NULL, -- the last run
    finished_at         BIGINT NOT NULL,
    missing             BIGINT NOT NULL, -- in HubSpot, not in the mirror
    stale               BIGINT NOT NULL, -- in the mirror at an older version
    deleted_unannounced BIGINT NOT NULL, -- in the mirror, gone from HubSpot
    repaired            BIGINT NOT NULL,
    error               TEXT,        -- why the type could not be compared
    PRIMARY KEY (portal_id, object_type)
);
