//! Sink deliveries on PostgreSQL. Time columns are `timestamptz`; the SQL converts from
//! epoch milliseconds. Concurrent dispatchers skip each other's rows.

/// Holder `$1` until `$2` takes up to `$5` of sink `$3`'s due rows at `$4`, each the oldest
/// pending row of its object.
const CLAIM: &str =
    "UPDATE sink_deliveries SET claimed_by = $1, claimed_until = to_timestamp($2::float8 / 1000) \
    WHERE id IN (SELECT d.id FROM sink_deliveries d WHERE d.sink = $3 AND d.state = 'pending' \
        AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= to_timestamp($4::float8 / 1000)) \
        AND (d.claimed_until IS NULL OR d.claimed_until <= to_timestamp($4::float8 / 1000)) \
        AND NOT EXISTS (SELECT 1 FROM sink_deliveries o WHERE o.portal_id = d.portal_id \
            AND o.object_type = d.object_type AND o.object_id = d.object_id AND o.sink = d.sink \
            AND o.state = 'pending' AND o.id < d.id) \
        ORDER BY d.id LIMIT $5 FOR UPDATE SKIP LOCKED) \
    RETURNING id, portal_id, object_type, object_id, record_state, properties::text AS properties, \
    version, attempts, trace_context";
const DELIVERED: &str = "UPDATE sink_deliveries SET state = 'done', \
    finished_at = to_timestamp($1::float8 / 1000), claimed_by = NULL, claimed_until = NULL \
    WHERE claimed_by = $2 AND id = ANY($3)";
const RETRY: &str = "UPDATE sink_deliveries SET attempts = attempts + 1, \
    next_attempt_at = to_timestamp($1::float8 / 1000), last_error = $2, claimed_by = NULL, \
    claimed_until = NULL WHERE claimed_by = $3 AND id = ANY($4)";
const DEAD: &str = "UPDATE sink_deliveries SET state = 'dead', attempts = attempts + 1, \
    last_error = $1, finished_at = to_timestamp($2::float8 / 1000), claimed_by = NULL, \
    claimed_until = NULL WHERE claimed_by = $3 AND id = ANY($4)";
const DEAD_LIST: &str =
    "SELECT id, sink, portal_id, object_type, object_id, record_state, attempts, last_error \
    FROM sink_deliveries WHERE state = 'dead' AND ($1::text IS NULL OR sink = $1) \
    AND ($2::int8 IS NULL OR portal_id = $2) ORDER BY id LIMIT $3";
const REPLAY: &str =
    "UPDATE sink_deliveries SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
    finished_at = NULL WHERE state = 'dead' AND ($1::text IS NULL OR sink = $1) \
    AND ($2::int8 IS NULL OR id = $2) AND ($3::int8 IS NULL OR portal_id = $3)";
const DEAD_BY_PORTAL: &str = "SELECT portal_id, count(*) FROM sink_deliveries \
    WHERE state = 'dead' AND ($1::int8 IS NULL OR portal_id = $1) GROUP BY portal_id ORDER BY portal_id";
const COUNTS: &str = "SELECT sink, state, count(*) AS count FROM sink_deliveries \
    GROUP BY sink, state ORDER BY sink, state";
const PRUNE: &str = "DELETE FROM sink_deliveries WHERE id IN (SELECT id FROM sink_deliveries \
    WHERE state = 'done' AND finished_at < to_timestamp($1::float8 / 1000) LIMIT $2)";

/// Queues a change for each sink of the list `$1`: portal `$2`, type `$3`, object `$4`,
/// state `$5`, properties `$6`, version `$7`, at `$8`, in trace `$9`.
pub(super) const ENQUEUE: &str = "INSERT INTO sink_deliveries \
    (sink, portal_id, object_type, object_id, record_state, properties, version, created_at, trace_context) \
    SELECT sink, $2, $3, $4, $5, $6::json, $7, to_timestamp($8::float8 / 1000), $9 FROM unnest($1::text[]) AS sink";
/// A privacy deletion at `$4` of portal `$1`'s `$2` `$3`: every queued copy loses its
/// properties, and what is not in flight is not sent (the erase that follows is).
pub(super) const FORGET: &str = "UPDATE sink_deliveries SET properties = '{}'::json, \
    finished_at = CASE WHEN state = 'pending' AND (claimed_until IS NULL OR claimed_until <= to_timestamp($4::float8 / 1000)) \
        THEN to_timestamp($4::float8 / 1000) ELSE finished_at END, \
    state = CASE WHEN state = 'dead' OR (state = 'pending' AND (claimed_until IS NULL OR claimed_until <= to_timestamp($4::float8 / 1000))) \
        THEN 'done' ELSE state END \
    WHERE portal_id = $1 AND object_type = $2 AND object_id = $3";

use super::ids;

crate::sink_queue::impl_sink_queue!(super::PgStore);
