//! The monitor's per-minute counts on PostgreSQL.

const ADD_WEBHOOK: &str = "INSERT INTO webhook_minutes (portal_id, minute, attempts, successes, unauthorized, bad_request, too_large, unavailable, timeouts, errors, latency_ms_sum, latency_ms_max, events, failed_events, revealed) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
    ON CONFLICT (portal_id, minute) DO UPDATE SET attempts = webhook_minutes.attempts + excluded.attempts, \
    successes = webhook_minutes.successes + excluded.successes, \
    unauthorized = webhook_minutes.unauthorized + excluded.unauthorized, \
    bad_request = webhook_minutes.bad_request + excluded.bad_request, \
    too_large = webhook_minutes.too_large + excluded.too_large, \
    unavailable = webhook_minutes.unavailable + excluded.unavailable, \
    timeouts = webhook_minutes.timeouts + excluded.timeouts, \
    errors = webhook_minutes.errors + excluded.errors, \
    latency_ms_sum = webhook_minutes.latency_ms_sum + excluded.latency_ms_sum, \
    latency_ms_max = greatest(webhook_minutes.latency_ms_max, excluded.latency_ms_max), \
    events = webhook_minutes.events + excluded.events, \
    failed_events = webhook_minutes.failed_events + excluded.failed_events, \
    revealed = webhook_minutes.revealed + excluded.revealed";
const ADD_API: &str = "INSERT INTO api_minutes (portal_id, minute, calls, errors, rate_limited) \
    VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (portal_id, minute) DO UPDATE SET calls = api_minutes.calls + excluded.calls, \
    errors = api_minutes.errors + excluded.errors, \
    rate_limited = api_minutes.rate_limited + excluded.rate_limited";
const WEBHOOK_TOTALS: &str = "SELECT coalesce($1::int8, 0)::int8 AS portal_id, $2::int8 AS minute, coalesce(sum(attempts), 0)::int8 AS attempts, coalesce(sum(successes), 0)::int8 AS successes, coalesce(sum(unauthorized), 0)::int8 AS unauthorized, coalesce(sum(bad_request), 0)::int8 AS bad_request, coalesce(sum(too_large), 0)::int8 AS too_large, coalesce(sum(unavailable), 0)::int8 AS unavailable, coalesce(sum(timeouts), 0)::int8 AS timeouts, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(latency_ms_sum), 0)::int8 AS latency_ms_sum, coalesce(max(latency_ms_max), 0)::int8 AS latency_ms_max, coalesce(sum(events), 0)::int8 AS events, coalesce(sum(failed_events), 0)::int8 AS failed_events, coalesce(sum(revealed), 0)::int8 AS revealed \
    FROM webhook_minutes WHERE ($1::int8 IS NULL OR portal_id = $1) AND minute >= $2";
const API_TOTALS: &str = "SELECT coalesce($1::int8, 0)::int8 AS portal_id, $2::int8 AS minute, coalesce(sum(calls), 0)::int8 AS calls, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(rate_limited), 0)::int8 AS rate_limited \
    FROM api_minutes WHERE ($1::int8 IS NULL OR portal_id = $1) AND minute >= $2";
const WEBHOOK_SERIES: &str = "SELECT portal_id, minute, attempts, successes, unauthorized, bad_request, too_large, unavailable, timeouts, errors, latency_ms_sum, latency_ms_max, events, failed_events, revealed FROM webhook_minutes \
    WHERE portal_id = $1 AND minute >= $2 ORDER BY minute";
const API_SERIES: &str = "SELECT portal_id, minute, calls, errors, rate_limited FROM api_minutes \
    WHERE portal_id = $1 AND minute >= $2 ORDER BY minute";
const WEBHOOK_BY_PORTAL: &str = "SELECT portal_id, $1::int8 AS minute, coalesce(sum(attempts), 0)::int8 AS attempts, coalesce(sum(successes), 0)::int8 AS successes, coalesce(sum(unauthorized), 0)::int8 AS unauthorized, coalesce(sum(bad_request), 0)::int8 AS bad_request, coalesce(sum(too_large), 0)::int8 AS too_large, coalesce(sum(unavailable), 0)::int8 AS unavailable, coalesce(sum(timeouts), 0)::int8 AS timeouts, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(latency_ms_sum), 0)::int8 AS latency_ms_sum, coalesce(max(latency_ms_max), 0)::int8 AS latency_ms_max, coalesce(sum(events), 0)::int8 AS events, coalesce(sum(failed_events), 0)::int8 AS failed_events, coalesce(sum(revealed), 0)::int8 AS revealed \
    FROM webhook_minutes WHERE minute >= $1 AND portal_id <> 0 GROUP BY portal_id ORDER BY portal_id";
const API_BY_PORTAL: &str = "SELECT portal_id, $1::int8 AS minute, coalesce(sum(calls), 0)::int8 AS calls, coalesce(sum(errors), 0)::int8 AS errors, coalesce(sum(rate_limited), 0)::int8 AS rate_limited \
    FROM api_minutes WHERE minute >= $1 AND portal_id <> 0 GROUP BY portal_id ORDER BY portal_id";
const PRUNE_WEBHOOK: &str = "DELETE FROM webhook_minutes WHERE minute < $1";
const PRUNE_API: &str = "DELETE FROM api_minutes WHERE minute < $1";

crate::statistics::impl_statistics!(super::PgStore);
