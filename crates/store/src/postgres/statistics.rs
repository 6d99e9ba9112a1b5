//! The monitor's per-minute counts on PostgreSQL.

/// The webhook counts' columns, and how a row that exists already takes more of them.
macro_rules! webhook_columns {
    () => {
        "attempts, successes, unauthorized, bad_request, too_large, unavailable, timeouts, errors, latency_ms_sum, latency_ms_max, first_events, first_deliveries, retry_events, retry_deliveries, failed_first_events, failed_retry_events, revealed_first, revealed_retries"
    };
}
macro_rules! webhook_added {
    () => {
        "attempts = webhook_minutes.attempts + excluded.attempts, successes = webhook_minutes.successes + excluded.successes, unauthorized = webhook_minutes.unauthorized + excluded.unauthorized, bad_request = webhook_minutes.bad_request + excluded.bad_request, too_large = webhook_minutes.too_large + excluded.too_large, unavailable = webhook_minutes.unavailable + excluded.unavailable, timeouts = webhook_minutes.timeouts + excluded.timeouts, errors = webhook_minutes.errors + excluded.errors, latency_ms_sum = webhook_minutes.latency_ms_sum + excluded.latency_ms_sum, latency_ms_max = greatest(webhook_minutes.latency_ms_max, excluded.latency_ms_max), first_events = webhook_minutes.first_events + excluded.first_events, first_deliveries = webhook_minutes.first_deliveries + excluded.first_deliveries, retry_events = webhook_minutes.retry_events + excluded.retry_events, retry_deliveries = webhook_minutes.retry_deliveries + excluded.retry_deliveries, failed_first_events = webhook_minutes.failed_first_events + excluded.failed_first_events, failed_retry_events = webhook_minutes.failed_retry_events + excluded.failed_retry_events, revealed_first = webhook_minutes.revealed_first + excluded.revealed_first, revealed_retries = webhook_minutes.revealed_retries + excluded.revealed_retries"
    };
}
macro_rules! webhook_sums {
    () => {
        "coalesce(sum(attempts), 0)::int8 AS attempts, coalesce(sum(successes), 0)::int8 AS successes, coalesce(sum(unauthorized), 0)::int8 AS unauthorized, coalesce(sum(bad_request), 0)::int8 AS bad_request, coalesce(sum(too_large), 0)::int8 AS too_large, coalesce(sum(unavailable), 0)::int8 AS unavailable, coalesce(sum(timeouts), 0)::int8 AS timeouts, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(latency_ms_sum), 0)::int8 AS latency_ms_sum, coalesce(max(latency_ms_max), 0)::int8 AS latency_ms_max, coalesce(sum(first_events), 0)::int8 AS first_events, coalesce(sum(first_deliveries), 0)::int8 AS first_deliveries, coalesce(sum(retry_events), 0)::int8 AS retry_events, coalesce(sum(retry_deliveries), 0)::int8 AS retry_deliveries, coalesce(sum(failed_first_events), 0)::int8 AS failed_first_events, coalesce(sum(failed_retry_events), 0)::int8 AS failed_retry_events, coalesce(sum(revealed_first), 0)::int8 AS revealed_first, coalesce(sum(revealed_retries), 0)::int8 AS revealed_retries"
    };
}

const ADD_WEBHOOK: &str = concat!(
    "INSERT INTO webhook_minutes (portal_id, minute, ",
    webhook_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT (portal_id, minute) DO UPDATE SET ",
    webhook_added!()
);
const WEBHOOK_TOTALS: &str = concat!(
    "SELECT $1::int8 AS portal_id, $2::int8 AS minute, ",
    webhook_sums!(),
    " FROM webhook_minutes WHERE portal_id = $1 AND minute >= $2"
);
const WEBHOOK_BY_PORTAL: &str = concat!(
    "SELECT portal_id, $1::int8 AS minute, ",
    webhook_sums!(),
    " FROM webhook_minutes WHERE minute >= $1 AND portal_id > 0 GROUP BY portal_id ORDER BY portal_id"
);
const WEBHOOK_SERIES: &str = concat!(
    "SELECT portal_id, minute, ",
    webhook_columns!(),
    " FROM webhook_minutes WHERE portal_id = $1 AND minute >= $2 ORDER BY minute"
);
/// Rows before `$1` not on a `$2`-minute boundary added into the row at the boundary
/// before them (then dropped by `DROP_ROLLED_WEBHOOK`).
const ROLL_UP_WEBHOOK: &str = concat!(
    "INSERT INTO webhook_minutes (portal_id, minute, ",
    webhook_columns!(),
    ") SELECT portal_id, minute / $2 * $2, sum(attempts)::int8, sum(successes)::int8, sum(unauthorized)::int8, sum(bad_request)::int8, sum(too_large)::int8, sum(unavailable)::int8, sum(timeouts)::int8, sum(errors)::int8, sum(latency_ms_sum)::int8, max(latency_ms_max)::int8, sum(first_events)::int8, sum(first_deliveries)::int8, sum(retry_events)::int8, sum(retry_deliveries)::int8, sum(failed_first_events)::int8, sum(failed_retry_events)::int8, sum(revealed_first)::int8, sum(revealed_retries)::int8 \
    FROM webhook_minutes WHERE minute < $1 AND minute % $2 <> 0 GROUP BY portal_id, minute / $2 \
    ON CONFLICT (portal_id, minute) DO UPDATE SET ",
    webhook_added!()
);
const DROP_ROLLED_WEBHOOK: &str =
    "DELETE FROM webhook_minutes WHERE minute < $1 AND minute % $2 <> 0";
const PRUNE_WEBHOOK: &str = "DELETE FROM webhook_minutes WHERE minute < $1";

/// The api counts' columns, and how a row that exists already takes more of them.
macro_rules! api_columns {
    () => {
        "calls, errors, rate_limited"
    };
}
macro_rules! api_added {
    () => {
        "calls = api_minutes.calls + excluded.calls, errors = api_minutes.errors + excluded.errors, rate_limited = api_minutes.rate_limited + excluded.rate_limited"
    };
}
macro_rules! api_sums {
    () => {
        "coalesce(sum(calls), 0)::int8 AS calls, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(rate_limited), 0)::int8 AS rate_limited"
    };
}

const ADD_API: &str = concat!(
    "INSERT INTO api_minutes (portal_id, minute, ",
    api_columns!(),
    ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal_id, minute) DO UPDATE SET ",
    api_added!()
);
const API_TOTALS: &str = concat!(
    "SELECT $1::int8 AS portal_id, $2::int8 AS minute, ",
    api_sums!(),
    " FROM api_minutes WHERE portal_id = $1 AND minute >= $2"
);
const API_BY_PORTAL: &str = concat!(
    "SELECT portal_id, $1::int8 AS minute, ",
    api_sums!(),
    " FROM api_minutes WHERE minute >= $1 AND portal_id > 0 GROUP BY portal_id ORDER BY portal_id"
);
const API_SERIES: &str = concat!(
    "SELECT portal_id, minute, ",
    api_columns!(),
    " FROM api_minutes WHERE portal_id = $1 AND minute >= $2 ORDER BY minute"
);
/// Rows before `$1` not on a `$2`-minute boundary added into the row at the boundary
/// before them (then dropped by `DROP_ROLLED_API`).
const ROLL_UP_API: &str = concat!(
    "INSERT INTO api_minutes (portal_id, minute, ",
    api_columns!(),
    ") SELECT portal_id, minute / $2 * $2, sum(calls)::int8, sum(errors)::int8, sum(rate_limited)::int8 \
    FROM api_minutes WHERE minute < $1 AND minute % $2 <> 0 GROUP BY portal_id, minute / $2 \
    ON CONFLICT (portal_id, minute) DO UPDATE SET ",
    api_added!()
);
const DROP_ROLLED_API: &str = "DELETE FROM api_minutes WHERE minute < $1 AND minute % $2 <> 0";
const PRUNE_API: &str = "DELETE FROM api_minutes WHERE minute < $1";

const ADD_DAILY: &str = "INSERT INTO api_calls_daily (portal_id, day, endpoint, status, calls) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal_id, day, endpoint, status) \
    DO UPDATE SET calls = api_calls_daily.calls + excluded.calls";
const DAILY: &str = "SELECT portal_id, day, endpoint, status, calls FROM api_calls_daily \
    WHERE portal_id = $1 AND day >= $2 ORDER BY day, endpoint, status";
const PRUNE_DAILY: &str = "DELETE FROM api_calls_daily WHERE day < $1";

crate::statistics::impl_statistics!(super::PgStore);
