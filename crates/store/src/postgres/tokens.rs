//! Sealed tokens on PostgreSQL. Columns are `timestamptz`; the SQL converts to and from
//! epoch milliseconds.

pub(super) const UPSERT: &str = "INSERT INTO portal_tokens \
    (portal_id, key_id, access_sealed, refresh_sealed, access_expires_at, refreshed_at) \
    VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1000), to_timestamp($6::float8 / 1000)) \
    ON CONFLICT (portal_id) DO UPDATE SET key_id = excluded.key_id, access_sealed = excluded.access_sealed, \
    refresh_sealed = excluded.refresh_sealed, access_expires_at = excluded.access_expires_at, \
    refreshed_at = excluded.refreshed_at, refresh_failures = 0, lease_holder = NULL, lease_until = NULL";
pub(super) const DELETE: &str = "DELETE FROM portal_tokens WHERE portal_id = $1";
const SELECT: &str = "SELECT key_id, access_sealed AS access, refresh_sealed AS refresh, \
    (extract(epoch from refreshed_at) * 1000)::int8 AS issued_at, \
    (extract(epoch from access_expires_at) * 1000)::int8 AS access_expires_at \
    FROM portal_tokens WHERE portal_id = $1";
const STORE_REFRESHED: &str = "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3, \
    access_expires_at = to_timestamp($4::float8 / 1000), refreshed_at = to_timestamp($5::float8 / 1000), refresh_failures = 0, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = $6 AND (lease_holder IS NULL OR lease_holder = $7)";
const EXPIRING: &str = "SELECT t.portal_id FROM portal_tokens t JOIN portals p ON p.portal_id = t.portal_id \
    WHERE p.state = 'installed' AND t.access_expires_at < to_timestamp($1::float8 / 1000) ORDER BY t.access_expires_at";
const OTHER_KEYS: &str =
    "SELECT portal_id, key_id, access_sealed AS access, refresh_sealed AS refresh, \
    (extract(epoch from refreshed_at) * 1000)::int8 AS issued_at, \
    (extract(epoch from access_expires_at) * 1000)::int8 AS access_expires_at \
    FROM portal_tokens WHERE key_id <> $1 LIMIT $2";
const RESEAL: &str =
    "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3 \
    WHERE portal_id = $4 AND key_id = $5 AND access_expires_at = to_timestamp($6::float8 / 1000)";

crate::tokens::impl_tokens!(super::PgStore);
