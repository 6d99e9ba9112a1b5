//! Sink deliveries on SQLite. Times are epoch milliseconds.

/// Holder `?1` until `?2` takes up to `?5` of sink `?3`'s due rows at `?4`, each the oldest
/// pending row of its object.
const CLAIM: &str = "UPDATE sink_deliveries SET claimed_by = ?1, claimed_until = ?2 \
    WHERE id IN (SELECT d.id FROM sink_deliveries d WHERE d.sink = ?3 AND d.state = 'pending' \
        AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?4) \
        AND (d.claimed_until IS NULL OR d.claimed_until <= ?4) \
        AND NOT EXISTS (SELECT 1 FROM sink_deliveries o WHERE o.portal_id = d.portal_id \
            AND o.object_type = d.object_type AND o.object_id = d.object_id AND o.sink = d.sink \
            AND o.state = 'pending' AND o.id < d.id) \
        ORDER BY d.id LIMIT ?5) \
    RETURNING id, portal_id, object_type, object_id, record_state, properties, version, attempts, trace_context";
const DELIVERED: &str = "UPDATE sink_deliveries SET state = 'done', finished_at = ?1, \
    claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = ?2 AND id IN (SELECT value FROM json_each(?3))";
const RETRY: &str = "UPDATE sink_deliveries SET attempts = attempts + 1, next_attempt_at = ?1, \
    last_error = ?2, claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = ?3 AND id IN (SELECT value FROM json_each(?4))";
const DEAD: &str = "UPDATE sink_deliveries SET state = 'dead', attempts = attempts + 1, \
    last_error = ?1, finished_at = ?2, claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = ?3 AND id IN (SELECT value FROM json_each(?4))";
const DEAD_LIST: &str =
    "SELECT id, sink, portal_id, object_type, object_id, record_state, attempts, last_error \
    FROM sink_deliveries WHERE state = 'dead' AND (?1 IS NULL OR sink = ?1) \
    AND (?2 IS NULL OR portal_id = ?2) ORDER BY id LIMIT ?3";
const REPLAY: &str = "UPDATE sink_deliveries SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
    finished_at = NULL WHERE state = 'dead' AND (?1 IS NULL OR sink = ?1) AND (?2 IS NULL OR id = ?2) \
    AND (?3 IS NULL OR portal_id = ?3)";
const DEAD_BY_PORTAL: &str = "SELECT portal_id, count(*) FROM sink_deliveries \
    WHERE state = 'dead' AND (?1 IS NULL OR portal_id = ?1) GROUP BY portal_id ORDER BY portal_id";
const COUNTS: &str = "SELECT sink, state, count(*) AS count FROM sink_deliveries \
    GROUP BY sink, state ORDER BY sink, state";
const PRUNE: &str = "DELETE FROM sink_deliveries WHERE id IN (SELECT id FROM sink_deliveries \
    WHERE state = 'done' AND finished_at < ?1 LIMIT ?2)";

/// Queues a change for each sink of the JSON list `?1`: portal `?2`, type `?3`, object `?4`,
/// state `?5`, properties `?6`, version `?7`, at `?8`, in trace `?9`.
pub(super) const ENQUEUE: &str = "INSERT INTO sink_deliveries \
    (sink, portal_id, object_type, object_id, record_state, properties, version, created_at, trace_context) \
    SELECT value, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM json_each(?1)";
/// A privacy deletion at `?4` of portal `?1`'s `?2` `?3`: every queued copy loses its
/// properties, and what is not in flight is not sent (the erase that follows is).
pub(super) const FORGET: &str = "UPDATE sink_deliveries SET properties = '{}', \
    finished_at = CASE WHEN state = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?4) \
        THEN ?4 ELSE finished_at END, \
    state = CASE WHEN state = 'dead' OR (state = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?4)) \
        THEN 'done' ELSE state END \
    WHERE portal_id = ?1 AND object_type = ?2 AND object_id = ?3";

use super::ids;

crate::sink_queue::impl_sink_queue!(super::SqliteStore);
