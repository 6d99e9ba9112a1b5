//! The work queue on SQLite. Times are epoch milliseconds.

/// Portals with pending events after `?1`, in id order, at most `?2`: a loose index scan
/// over `inbox_events_claimable`, one probe per portal whatever its backlog.
const PORTALS_WITH_WORK: &str = "WITH RECURSIVE p(portal_id, n) AS ( \
    SELECT (SELECT min(portal_id) FROM inbox_events WHERE state = 'pending' AND portal_id > ?1), 1 \
    UNION ALL \
    SELECT (SELECT min(portal_id) FROM inbox_events WHERE state = 'pending' AND portal_id > p.portal_id), n + 1 \
    FROM p WHERE p.portal_id IS NOT NULL AND n < ?2) \
    SELECT portal_id FROM p WHERE portal_id IS NOT NULL";
/// Takes or renews portal `?1`'s hydration lease for holder `?2` until `?3`, unless
/// another holder's lease runs past `?4`.
const LEASE_PORTAL: &str =
    "INSERT INTO hydration_leases (portal_id, holder, until) VALUES (?1, ?2, ?3) \
    ON CONFLICT (portal_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
    WHERE hydration_leases.holder = excluded.holder OR hydration_leases.until <= ?4";
const CLAIM: &str = "UPDATE inbox_events SET claimed_by = ?1, claimed_until = ?2 \
    WHERE id IN (SELECT id FROM inbox_events WHERE state = 'pending' AND portal_id = ?3 \
        AND (next_attempt_at IS NULL OR next_attempt_at <= ?4) \
        AND (claimed_until IS NULL OR claimed_until <= ?4) ORDER BY id LIMIT ?5) \
    RETURNING id, portal_id, subscription_id, event_id, object_id, occurred_at, subscription_type, payload, attempts, trace_context";
const FINISH: &str =
    "UPDATE inbox_events SET state = 'done', finished_at = ?1, claimed_by = NULL, \
    claimed_until = NULL WHERE claimed_by = ?2 AND id IN (SELECT value FROM json_each(?3))";
const RETRY: &str = "UPDATE inbox_events SET attempts = attempts + ?1, next_attempt_at = ?2, \
    last_error = coalesce(?3, last_error), claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = ?4 AND id IN (SELECT value FROM json_each(?5))";
const SET_ASIDE: &str =
    "UPDATE inbox_events SET state = ?1, reason = ?2, last_error = coalesce(?3, last_error), \
    attempts = attempts + (?3 IS NOT NULL), finished_at = ?4, claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = ?5 AND id IN (SELECT value FROM json_each(?6))";
const SET_ASIDE_EVENTS: &str =
    "SELECT id, portal_id, object_id, subscription_type, attempts, reason, last_error \
    FROM inbox_events WHERE state = ?1 AND (?2 IS NULL OR portal_id = ?2) ORDER BY id LIMIT ?3";
const REPLAY: &str = "UPDATE inbox_events SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
    reason = NULL, finished_at = NULL WHERE state = 'dead' AND (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR portal_id = ?2)";
/// An install makes its portal's quarantined events work again.
pub(super) const RELEASE_QUARANTINED: &str =
    "UPDATE inbox_events SET state = 'pending', reason = NULL, \
    next_attempt_at = NULL, finished_at = NULL WHERE portal_id = ? AND state = 'quarantined'";
/// Per portal (`?1`, or every one when NULL): a range scan of `inbox_events_claimable` per state.
const COUNTS_BY_PORTAL: &str = "SELECT portal_id, state, count(*) FROM inbox_events \
    WHERE state IN ('pending', 'dead', 'quarantined') AND (?1 IS NULL OR portal_id = ?1) \
    GROUP BY portal_id, state ORDER BY portal_id, state";
const COUNTS: &str = "SELECT state, count(*) FROM inbox_events GROUP BY state ORDER BY state";

const PRUNE: &str = "DELETE FROM inbox_events WHERE id IN (SELECT id FROM inbox_events \
    WHERE state IN ('done', 'unhandled') AND finished_at < ?1 LIMIT ?2)";

use sqlx::Sqlite as Database;

use super::{ids, sink_list, SinkList};

crate::queue::impl_work_queue!(super::SqliteStore);
