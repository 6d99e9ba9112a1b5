//! The work queue on PostgreSQL. Time columns are `timestamptz`; the SQL converts to and
//! from epoch milliseconds. Concurrent workers skip each other's rows.

/// Portals with pending events after `$1`, in id order, at most `$2`: a loose index scan
/// over `inbox_events_claimable`, one probe per portal whatever its backlog.
const PORTALS_WITH_WORK: &str = "WITH RECURSIVE p(portal_id, n) AS ( \
    SELECT (SELECT min(portal_id) FROM inbox_events WHERE state = 'pending' AND portal_id > $1), 1 \
    UNION ALL \
    SELECT (SELECT min(portal_id) FROM inbox_events WHERE state = 'pending' AND portal_id > p.portal_id), n + 1 \
    FROM p WHERE p.portal_id IS NOT NULL AND n < $2) \
    SELECT portal_id FROM p WHERE portal_id IS NOT NULL";
/// Takes or renews portal `$1`'s hydration lease for holder `$2` until `$3`, unless
/// another holder's lease runs past `$4`.
const LEASE_PORTAL: &str = "INSERT INTO hydration_leases (portal_id, holder, until) \
    VALUES ($1, $2, to_timestamp($3::float8 / 1000)) \
    ON CONFLICT (portal_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
    WHERE hydration_leases.holder = excluded.holder OR hydration_leases.until <= to_timestamp($4::float8 / 1000)";
const CLAIM: &str =
    "UPDATE inbox_events SET claimed_by = $1, claimed_until = to_timestamp($2::float8 / 1000) \
    WHERE id IN (SELECT id FROM inbox_events WHERE state = 'pending' AND portal_id = $3 \
        AND (next_attempt_at IS NULL OR next_attempt_at <= to_timestamp($4::float8 / 1000)) \
        AND (claimed_until IS NULL OR claimed_until <= to_timestamp($4::float8 / 1000)) \
        ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED) \
    RETURNING id, portal_id, subscription_id, event_id, object_id, occurred_at, subscription_type, \
    payload::text AS payload, attempts, trace_context";
const FINISH: &str =
    "UPDATE inbox_events SET state = 'done', finished_at = to_timestamp($1::float8 / 1000), \
    claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $2 AND id = ANY($3)";
const RETRY: &str = "UPDATE inbox_events SET attempts = attempts + $1, \
    next_attempt_at = to_timestamp($2::float8 / 1000), last_error = coalesce($3, last_error), \
    claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $4 AND id = ANY($5)";
const SET_ASIDE: &str =
    "UPDATE inbox_events SET state = $1, reason = $2, last_error = coalesce($3, last_error), \
    attempts = attempts + ($3::text IS NOT NULL)::int, finished_at = to_timestamp($4::float8 / 1000), \
    claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = $5 AND id = ANY($6)";
const SET_ASIDE_EVENTS: &str = "SELECT id, portal_id, object_id, subscription_type, attempts, reason, last_error \
    FROM inbox_events WHERE state = $1 AND ($2::int8 IS NULL OR portal_id = $2) ORDER BY id LIMIT $3";
const REPLAY: &str = "UPDATE inbox_events SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
    reason = NULL, finished_at = NULL \
    WHERE state = 'dead' AND ($1::int8 IS NULL OR id = $1) AND ($2::int8 IS NULL OR portal_id = $2)";
/// An install makes its portal's quarantined events work again.
pub(super) const RELEASE_QUARANTINED: &str =
    "UPDATE inbox_events SET state = 'pending', reason = NULL, \
    next_attempt_at = NULL, finished_at = NULL WHERE portal_id = $1 AND state = 'quarantined'";
/// Per portal (`$1`, or every one when NULL): a range scan of `inbox_events_claimable` per state.
const COUNTS_BY_PORTAL: &str = "SELECT portal_id, state, count(*) FROM inbox_events \
    WHERE state IN ('pending', 'dead', 'quarantined') AND ($1::int8 IS NULL OR portal_id = $1) \
    GROUP BY portal_id, state ORDER BY portal_id, state";
const COUNTS: &str = "SELECT state, count(*) FROM inbox_events GROUP BY state ORDER BY state";

const PRUNE: &str = "DELETE FROM inbox_events WHERE id IN (SELECT id FROM inbox_events \
    WHERE state IN ('done', 'unhandled') AND finished_at < to_timestamp($1::float8 / 1000) LIMIT $2)";

use sqlx::Postgres as Database;

use super::{ids, sink_list, SinkList};

crate::queue::impl_work_queue!(super::PgStore);
