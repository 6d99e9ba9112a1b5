//! The record mirror on PostgreSQL. `fetched_at` is `timestamptz`; `updated_at` is
//! HubSpot's epoch milliseconds, compared as HubSpot sent them.

pub(super) const UPSERT: &str = "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
    VALUES ($1, $2, $3, 'live', $4::json, $5, to_timestamp($6::float8 / 1000)) \
    ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = 'live', properties = excluded.properties, \
    updated_at = excluded.updated_at, fetched_at = excluded.fetched_at WHERE records.updated_at <= excluded.updated_at \
    RETURNING object_id";
pub(super) const MARK_GONE: &str = "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
    VALUES ($1, $2, $3, $4, '{}', $5, to_timestamp($6::float8 / 1000)) \
    ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = excluded.state, \
    updated_at = excluded.updated_at, fetched_at = excluded.fetched_at WHERE records.updated_at <= excluded.updated_at \
    RETURNING object_id";
const SELECT: &str =
    "SELECT portal_id, object_type, object_id, state, properties::text AS properties, updated_at, \
    (extract(epoch from fetched_at) * 1000)::int8 AS fetched_at \
    FROM records WHERE portal_id = $1 AND object_type = $2 AND object_id = $3";
const COUNTS: &str = "SELECT state, count(*) FROM records GROUP BY state ORDER BY state";
const LAST_MODIFIED: &str = "SELECT object_id, updated_at FROM records \
    WHERE portal_id = $1 AND object_type = $2 AND object_id = ANY($3)";

use super::ids;

crate::mirror::impl_mirror!(super::PgStore);
