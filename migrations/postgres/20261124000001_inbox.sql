-- The durable webhook inbox: every event HubSpot delivered, stored once under its identity.
-- Identity (DESIGN.md, Storage; reference §2.7): HubSpot does not promise that eventId alone
-- is unique, so the key is (portal, subscription, event id, object, occurredAt). Absent
-- optional parts are stored as 0 so that the key stays comparable.
CREATE TABLE inbox_events (
    id                BIGSERIAL PRIMARY KEY,
    portal_id         BIGINT      NOT NULL,
    subscription_id   BIGINT      NOT NULL,
    event_id          BIGINT      NOT NULL,
    object_id         BIGINT      NOT NULL,
    occurred_at       BIGINT      NOT NULL,       -- epoch ms, exactly as HubSpot sent it (part of the key)
    subscription_type TEXT        NOT NULL,
    app_id            BIGINT,
    attempt_number    INTEGER     NOT NULL,       -- attemptNumber of the delivery that stored it
    payload           JSON        NOT NULL,       -- the event exactly as sent (validated, not re-encoded)
    state             TEXT        NOT NULL DEFAULT 'pending',
    received_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (portal_id, subscription_id, event_id, object_id, occurred_at)
);

CREATE INDEX inbox_events_by_state ON inbox_events (state, id);
