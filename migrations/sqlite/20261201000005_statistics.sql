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
    portal_id      INTEGER NOT NULL,
    minute         INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    successes      INTEGER NOT NULL,
    unauthorized   INTEGER NOT NULL,              -- 401: signature refused
    bad_request    INTEGER NOT NULL,              -- 400: not a batch of events
    too_large      INTEGER NOT NULL,              -- 413
    unavailable    INTEGER NOT NULL,              -- 503: not stored, retry
    timeouts       INTEGER NOT NULL,              -- answered 2xx, but after 5 s
    errors         INTEGER NOT NULL,              -- any other failure (500)
    latency_ms_sum INTEGER NOT NULL,
    latency_ms_max INTEGER NOT NULL,
    first_events        INTEGER NOT NULL,        -- events at their first attempt
    first_deliveries    INTEGER NOT NULL,        -- deliveries with any
    retry_events        INTEGER NOT NULL,        -- events at a retry (attemptNumber >= 1)
    retry_deliveries    INTEGER NOT NULL,
    failed_first_events INTEGER NOT NULL,        -- of those, in deliveries answered with a failure
    failed_retry_events INTEGER NOT NULL,
    revealed_first      INTEGER NOT NULL,        -- acknowledged events with attemptNumber >= 1
    revealed_retries    INTEGER NOT NULL,        -- the sum of their attemptNumber - 1
    PRIMARY KEY (portal_id, minute)
);
CREATE INDEX webhook_minutes_by_minute ON webhook_minutes (minute);

CREATE TABLE api_minutes (
    portal_id    INTEGER NOT NULL,
    minute       INTEGER NOT NULL,
    calls        INTEGER NOT NULL,
    errors       INTEGER NOT NULL,                -- not 2xx, no answer included
    rate_limited INTEGER NOT NULL,                -- 429
    PRIMARY KEY (portal_id, minute)
);
CREATE INDEX api_minutes_by_minute ON api_minutes (minute);
