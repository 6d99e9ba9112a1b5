//! Erasing a portal, and the statements a privacy deletion's settlement runs, on SQLite.

/// How this engine writes the first bind parameter.
const FIRST_PARAMETER: &str = "?";
pub(super) const FORGET_RECORD: &str = "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
    VALUES (?1, ?2, ?3, 'erased', '{}', 9223372036854775807, ?4) \
    ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = 'erased', properties = '{}', \
    updated_at = excluded.updated_at, fetched_at = excluded.fetched_at";
pub(super) const EMPTY_EVENTS: &str = "UPDATE inbox_events SET payload = '{}', \
    state = CASE WHEN state = 'pending' THEN 'done' ELSE state END, finished_at = coalesce(finished_at, ?4) \
    WHERE portal_id = ?1 AND object_id = ?2 AND subscription_type LIKE ?3";

crate::erase::impl_erasure!(super::SqliteStore);
