-- The certification monitor's per-minute counts. Webhooks: every delivery spoke answered,
-- per portal (0: a body that named none) and minute (epoch minutes, UTC): successes (2xx
-- within HubSpot's 5 s), failures by class, answer latency, and the evidence of attempts
-- spoke never saw: `revealed` sums the attemptNumber of every event spoke acknowledged
-- (an event's last attempt counts all its earlier ones), and `failed_events` counts the
-- events of deliveries spoke answered with a failure, so the difference is event attempts
-- that failed out of spoke's sight (it was down, or the network was). API: spoke's own calls to HubSpot, per portal and minute.
CREATE TABLE webhook_minutes (
    portal_id      BIGINT NOT NULL,
    minute         BIGINT NOT NULL,
    attempts       BIGINT NOT NULL,
    successes      BIGINT NOT NULL,
    unauthorized   BIGINT NOT NULL,              -- 401: signature refused
    bad_request    BIGINT NOT NULL,              -- 400: not a batch of events
    too_large      BIGINT NOT NULL,              -- 413
    unavailable    BIGINT NOT NULL,              -- 503: not stored, retry
    timeouts       BIGINT NOT NULL,              -- answered 2xx, but after 5 s
    errors         BIGINT NOT NULL,              -- any other failure (500)
    latency_ms_sum BIGINT NOT NULL,
    latency_ms_max BIGINT NOT NULL,
    events         BIGINT NOT NULL,              -- events in deliveries whose body parsed
    failed_events  BIGINT NOT NULL,
    revealed       BIGINT NOT NULL,
    PRIMARY KEY (portal_id, minute)
);
CREATE INDEX webhook_minutes_by_minute ON webhook_minutes (minute);

CREATE TABLE api_minutes (
    portal_id    BIGINT NOT NULL,
    minute       BIGINT NOT NULL,
    calls        BIGINT NOT NULL,
    errors       BIGINT NOT NULL,                -- not 2xx, no answer included
    rate_limited BIGINT NOT NULL,                -- 429
    PRIMARY KEY (portal_id, minute)
);
CREATE INDEX api_minutes_by_minute ON api_minutes (minute);
