-- The certification monitor's per-minute counts. Webhooks: every delivery spoke answered,
-- per portal (0: a body that named none) and minute (epoch minutes, UTC): successes (2xx
-- within HubSpot's 5 s), failures by class, answer latency, and the evidence of attempts
-- spoke never saw. An acknowledged event's attemptNumber k tells of its k earlier, failed
-- attempts: a first one and k - 1 retries. `revealed_first` counts acknowledged events with
-- k >= 1 and `revealed_retries` sums k - 1; the failed_* columns count the events spoke
-- itself saw fail, at their first attempt or a retry; what is left failed out of its sight
-- (it was down, or the network was), and the first_* and retry_* counts give the batch
-- sizes that turn those event attempts into HubSpot's requests. API: spoke's own calls to
-- HubSpot, per portal and minute.
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
    first_events        BIGINT NOT NULL,        -- events at their first attempt
    first_deliveries    BIGINT NOT NULL,        -- deliveries with any
    retry_events        BIGINT NOT NULL,        -- events at a retry (attemptNumber >= 1)
    retry_deliveries    BIGINT NOT NULL,
    failed_first_events BIGINT NOT NULL,        -- of those, in deliveries answered with a failure
    failed_retry_events BIGINT NOT NULL,
    revealed_first      BIGINT NOT NULL,        -- acknowledged events with attemptNumber >= 1
    revealed_retries    BIGINT NOT NULL,        -- the sum of their attemptNumber - 1
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
