//! Portals, sealed tokens, refresh leases, the audit trail and used install states on
//! PostgreSQL. Columns are `timestamptz`; the SQL converts to and from epoch milliseconds.

/// How this engine writes the first bind parameter.
const FIRST_PARAMETER: &str = "$1";
const PORTAL_EXISTS: &str = "SELECT count(*) FROM portals WHERE portal_id = $1";
const UPSERT_PORTAL: &str = "INSERT INTO portals \
    (portal_id, state, hub_domain, app_id, scopes, installer_id, installer_email, reauth_reason, installed_at, updated_at) \
    VALUES ($1, 'installed', $2, $3, $4, $5, $6, NULL, to_timestamp($7::float8 / 1000), to_timestamp($8::float8 / 1000)) \
    ON CONFLICT (portal_id) DO UPDATE SET state = 'installed', hub_domain = excluded.hub_domain, \
    app_id = excluded.app_id, scopes = excluded.scopes, installer_id = excluded.installer_id, \
    installer_email = excluded.installer_email, reauth_reason = NULL, installed_at = excluded.installed_at, \
    updated_at = excluded.updated_at";
const UPSERT_TOKENS: &str = "INSERT INTO portal_tokens \
    (portal_id, key_id, access_sealed, refresh_sealed, access_expires_at, refreshed_at) \
    VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1000), to_timestamp($6::float8 / 1000)) \
    ON CONFLICT (portal_id) DO UPDATE SET key_id = excluded.key_id, access_sealed = excluded.access_sealed, \
    refresh_sealed = excluded.refresh_sealed, access_expires_at = excluded.access_expires_at, \
    refreshed_at = excluded.refreshed_at, refresh_failures = 0, lease_holder = NULL, lease_until = NULL";
const AUDIT: &str = "INSERT INTO audit_log (at, portal_id, action, actor, detail) VALUES (to_timestamp($1::float8 / 1000), $2, $3, $4, $5)";
const SELECT_PORTALS: &str = "SELECT p.portal_id, p.state, p.hub_domain, p.app_id, p.scopes, p.installer_id, \
    p.installer_email, p.reauth_reason, (extract(epoch from p.installed_at) * 1000)::int8, (extract(epoch from p.updated_at) * 1000)::int8, \
    (extract(epoch from t.access_expires_at) * 1000)::int8 \
    FROM portals p LEFT JOIN portal_tokens t ON t.portal_id = p.portal_id";
const TOKENS: &str = "SELECT key_id, access_sealed, refresh_sealed, (extract(epoch from refreshed_at) * 1000)::int8, \
    (extract(epoch from access_expires_at) * 1000)::int8 \
    FROM portal_tokens WHERE portal_id = $1";
const LEASE: &str = "UPDATE portal_tokens SET lease_holder = $1, lease_until = to_timestamp($2::float8 / 1000) \
    WHERE portal_id = $3 AND (lease_until IS NULL OR lease_until <= to_timestamp($4::float8 / 1000) OR lease_holder = $5)";
const STORE_REFRESHED: &str = "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3, \
    access_expires_at = to_timestamp($4::float8 / 1000), refreshed_at = to_timestamp($5::float8 / 1000), refresh_failures = 0, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = $6 AND (lease_holder IS NULL OR lease_holder = $7)";
const REFRESH_FAILED: &str = "UPDATE portal_tokens SET refresh_failures = refresh_failures + 1, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = $1 AND lease_holder = $2";
const SET_STATE: &str = "UPDATE portals SET state = $1, reauth_reason = $2, updated_at = to_timestamp($3::float8 / 1000) WHERE portal_id = $4";
const DELETE_TOKENS: &str = "DELETE FROM portal_tokens WHERE portal_id = $1";
const DELETE_EVENTS: &str = "DELETE FROM inbox_events WHERE portal_id = $1";
const DELETE_PORTAL: &str = "DELETE FROM portals WHERE portal_id = $1";
const AUDIT_TRAIL: &str =
    "SELECT (extract(epoch from at) * 1000)::int8, portal_id, action, actor, detail \
    FROM audit_log WHERE portal_id = $1 ORDER BY id";
const EXPIRING: &str = "SELECT t.portal_id FROM portal_tokens t JOIN portals p ON p.portal_id = t.portal_id \
    WHERE p.state = 'installed' AND t.access_expires_at < to_timestamp($1::float8 / 1000) ORDER BY t.access_expires_at";
const OTHER_KEYS: &str = "SELECT portal_id, key_id, access_sealed, refresh_sealed, (extract(epoch from refreshed_at) * 1000)::int8, \
    (extract(epoch from access_expires_at) * 1000)::int8 \
    FROM portal_tokens WHERE key_id <> $1 LIMIT $2";
const RESEAL: &str =
    "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3 \
    WHERE portal_id = $4 AND key_id = $5 AND access_expires_at = to_timestamp($6::float8 / 1000)";
const FORGET_STATES: &str =
    "DELETE FROM used_install_states WHERE expires_at < to_timestamp($1::float8 / 1000)";
const USE_STATE: &str = "INSERT INTO used_install_states (nonce, expires_at) VALUES ($1, to_timestamp($2::float8 / 1000)) ON CONFLICT DO NOTHING";

use super::PgStore;

crate::portals::impl_portals!(PgStore, sqlx::Postgres);
