-- spoke's API calls to HubSpot per portal (-1: app-wide), day (epoch days, UTC), endpoint
-- class (`crm.batch_read`, …) and HTTP status (0: no answer): what HubSpot's certification
-- counts as a day's requests and errors, kept as days from the start (a handful of rows per
-- portal and day) and pruned with the monitor's other counts.
CREATE TABLE api_calls_daily (
    portal_id BIGINT  NOT NULL,
    day       BIGINT  NOT NULL,
    endpoint  TEXT    NOT NULL,
    status    INTEGER NOT NULL,
    calls     BIGINT  NOT NULL,
    PRIMARY KEY (portal_id, day, endpoint, status)
);
CREATE INDEX api_calls_daily_by_day ON api_calls_daily (day);
