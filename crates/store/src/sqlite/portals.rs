//! Portals on SQLite. Times are epoch milliseconds.

const EXISTS: &str = "SELECT count(*) FROM portals WHERE portal_id = ?";
const UPSERT: &str = "INSERT INTO portals \
    (portal_id, state, hub_domain, app_id, scopes, installer_id, installer_email, reauth_reason, installed_at, updated_at) \
    VALUES (?, 'installed', ?, ?, ?, ?, ?, NULL, ?, ?) \
    ON CONFLICT (portal_id) DO UPDATE SET state = 'installed', hub_domain = excluded.hub_domain, \
    app_id = excluded.app_id, scopes = excluded.scopes, installer_id = excluded.installer_id, \
    installer_email = excluded.installer_email, reauth_reason = NULL, installed_at = excluded.installed_at, \
    updated_at = excluded.updated_at";
/// The portal columns joined with the token expiry, followed by `$tail`.
macro_rules! select {
    ($tail:literal) => {
        concat!("SELECT p.portal_id AS portal_id, p.state AS state, p.hub_domain AS hub_domain, \
    p.app_id AS app_id, p.scopes AS scopes, p.installer_id AS installer_id, \
    p.installer_email AS installer_email, p.reauth_reason AS reauth_reason, \
    p.installed_at AS installed_at, p.updated_at AS updated_at, t.access_expires_at AS access_expires_at \
    FROM portals p LEFT JOIN portal_tokens t ON t.portal_id = p.portal_id", $tail)
    };
}
const BY_ID: &str = select!(" WHERE p.portal_id = ?");
const ALL: &str = select!(" ORDER BY p.portal_id");
const SET_STATE: &str =
    "UPDATE portals SET state = ?, reauth_reason = ?, updated_at = ? WHERE portal_id = ?";

crate::portals::impl_portals!(super::SqliteStore, sqlx::Sqlite);
