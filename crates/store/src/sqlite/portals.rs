//! Portals, sealed tokens, refresh leases, the audit trail and used install states on
//! SQLite. Times are epoch milliseconds.

/// How this engine writes the first bind parameter.
const FIRST_PARAMETER: &str = "?";
const PORTAL_EXISTS: &str = "SELECT count(*) FROM portals WHERE portal_id = ?";
const UPSERT_PORTAL: &str = "INSERT INTO portals \
    (portal_id, state, hub_domain, app_id, scopes, installer_id, installer_email, reauth_reason, installed_at, updated_at) \
    VALUES (?, 'installed', ?, ?, ?, ?, ?, NULL, ?, ?) \
    ON CONFLICT (portal_id) DO UPDATE SET state = 'installed', hub_domain = excluded.hub_domain, \
    app_id = excluded.app_id, scopes = excluded.scopes, installer_id = excluded.installer_id, \
    installer_email = excluded.installer_email, reauth_reason = NULL, installed_at = excluded.installed_at, \
    updated_at = excluded.updated_at";
const UPSERT_TOKENS: &str = "INSERT INTO portal_tokens \
    (portal_id, key_id, access_sealed, refresh_sealed, access_expires_at, refreshed_at) VALUES (?, ?, ?, ?, ?, ?) \
    ON CONFLICT (portal_id) DO UPDATE SET key_id = excluded.key_id, access_sealed = excluded.access_sealed, \
    refresh_sealed = excluded.refresh_sealed, access_expires_at = excluded.access_expires_at, \
    refreshed_at = excluded.refreshed_at, refresh_failures = 0, lease_holder = NULL, lease_until = NULL";
const AUDIT: &str =
    "INSERT INTO audit_log (at, portal_id, action, actor, detail) VALUES (?, ?, ?, ?, ?)";
const SELECT_PORTALS: &str =
    "SELECT p.portal_id, p.state, p.hub_domain, p.app_id, p.scopes, p.installer_id, \
    p.installer_email, p.reauth_reason, p.installed_at, p.updated_at, t.access_expires_at \
    FROM portals p LEFT JOIN portal_tokens t ON t.portal_id = p.portal_id";
const TOKENS: &str =
    "SELECT key_id, access_sealed, refresh_sealed, refreshed_at, access_expires_at FROM portal_tokens WHERE portal_id = ?";
const LEASE: &str = "UPDATE portal_tokens SET lease_holder = ?, lease_until = ? \
    WHERE portal_id = ? AND (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?)";
const STORE_REFRESHED: &str = "UPDATE portal_tokens SET key_id = ?, access_sealed = ?, refresh_sealed = ?, \
    access_expires_at = ?, refreshed_at = ?, refresh_failures = 0, lease_holder = NULL, lease_until = NULL \
    WHERE portal_id = ? AND (lease_holder IS NULL OR lease_holder = ?)";
const REFRESH_FAILED: &str = "UPDATE portal_tokens SET refresh_failures = refresh_failures + 1, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = ? AND lease_holder = ?";
const SET_STATE: &str =
    "UPDATE portals SET state = ?, reauth_reason = ?, updated_at = ? WHERE portal_id = ?";
const DELETE_TOKENS: &str = "DELETE FROM portal_tokens WHERE portal_id = ?";
const DELETE_EVENTS: &str = "DELETE FROM inbox_events WHERE portal_id = ?";
const DELETE_PORTAL: &str = "DELETE FROM portals WHERE portal_id = ?";
const AUDIT_TRAIL: &str =
    "SELECT at, portal_id, action, actor, detail FROM audit_log WHERE portal_id = ? ORDER BY id";
const EXPIRING: &str =
    "SELECT t.portal_id FROM portal_tokens t JOIN portals p ON p.portal_id = t.portal_id \
    WHERE p.state = 'installed' AND t.access_expires_at < ? ORDER BY t.access_expires_at";
const OTHER_KEYS: &str =
    "SELECT portal_id, key_id, access_sealed, refresh_sealed, refreshed_at, access_expires_at \
    FROM portal_tokens WHERE key_id <> ? LIMIT ?";
const RESEAL: &str = "UPDATE portal_tokens SET key_id = ?, access_sealed = ?, refresh_sealed = ? \
    WHERE portal_id = ? AND key_id = ? AND access_expires_at = ?";
const FORGET_STATES: &str = "DELETE FROM used_install_states WHERE expires_at < ?";
const USE_STATE: &str =
    "INSERT INTO used_install_states (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING";

use super::SqliteStore;

crate::portals::impl_portals!(SqliteStore, sqlx::Sqlite);
