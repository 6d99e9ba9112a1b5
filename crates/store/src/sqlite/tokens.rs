//! Sealed tokens on SQLite. Times are epoch milliseconds.

pub(super) const UPSERT: &str = "INSERT INTO portal_tokens \
    (portal_id, key_id, access_sealed, refresh_sealed, access_expires_at, refreshed_at) VALUES (?, ?, ?, ?, ?, ?) \
    ON CONFLICT (portal_id) DO UPDATE SET key_id = excluded.key_id, access_sealed = excluded.access_sealed, \
    refresh_sealed = excluded.refresh_sealed, access_expires_at = excluded.access_expires_at, \
    refreshed_at = excluded.refreshed_at, refresh_failures = 0, lease_holder = NULL, lease_until = NULL";
pub(super) const DELETE: &str = "DELETE FROM portal_tokens WHERE portal_id = ?";
const SELECT: &str = "SELECT key_id, access_sealed AS access, refresh_sealed AS refresh, \
    refreshed_at AS issued_at, access_expires_at FROM portal_tokens WHERE portal_id = ?";
const STORE_REFRESHED: &str = "UPDATE portal_tokens SET key_id = ?, access_sealed = ?, refresh_sealed = ?, \
    access_expires_at = ?, refreshed_at = ?, refresh_failures = 0, lease_holder = NULL, lease_until = NULL \
    WHERE portal_id = ? AND (lease_holder IS NULL OR lease_holder = ?)";
const EXPIRING: &str =
    "SELECT t.portal_id FROM portal_tokens t JOIN portals p ON p.portal_id = t.portal_id \
    WHERE p.state = 'installed' AND t.access_expires_at < ? ORDER BY t.access_expires_at";
const OTHER_KEYS: &str =
    "SELECT portal_id, key_id, access_sealed AS access, refresh_sealed AS refresh, \
    refreshed_at AS issued_at, access_expires_at FROM portal_tokens WHERE key_id <> ? LIMIT ?";
const RESEAL: &str = "UPDATE portal_tokens SET key_id = ?, access_sealed = ?, refresh_sealed = ? \
    WHERE portal_id = ? AND key_id = ? AND access_expires_at = ?";

crate::tokens::impl_tokens!(super::SqliteStore);
