//! Portals on PostgreSQL. Columns are `timestamptz`; the SQL converts to and from epoch
//! milliseconds.

const EXISTS: &str = "SELECT count(*) FROM portals WHERE portal_id = $1";
const UPSERT: &str = "INSERT INTO portals \
    (portal_id, state, hub_domain, app_id, scopes, installer_id, installer_email, reauth_reason, installed_at, updated_at) \
    VALUES ($1, 'installed', $2, $3, $4, $5, $6, NULL, to_timestamp($7::float8 / 1000), to_timestamp($8::float8 / 1000)) \
    ON CONFLICT (portal_id) DO UPDATE SET state = 'installed', hub_domain = excluded.hub_domain, \
    app_id = excluded.app_id, scopes = excluded.scopes, installer_id = excluded.installer_id, \
    installer_email = excluded.installer_email, reauth_reason = NULL, installed_at = excluded.installed_at, \
    updated_at = excluded.updated_at";
/// The portal columns joined with the token expiry, followed by `$tail`.
macro_rules! select {
    ($tail:literal) => {
        concat!("SELECT p.portal_id, p.state, p.hub_domain, p.app_id, p.scopes, p.installer_id, \
    p.installer_email, p.reauth_reason, (extract(epoch from p.installed_at) * 1000)::int8 AS installed_at, \
    (extract(epoch from p.updated_at) * 1000)::int8 AS updated_at, \
    (extract(epoch from t.access_expires_at) * 1000)::int8 AS access_expires_at \
    FROM portals p LEFT JOIN portal_tokens t ON t.portal_id = p.portal_id", $tail)
    };
}
const BY_ID: &str = select!(" WHERE p.portal_id = $1");
const ALL: &str = select!(" ORDER BY p.portal_id");
const SET_STATE: &str = "UPDATE portals SET state = $1, reauth_reason = $2, \
    updated_at = to_timestamp($3::float8 / 1000) WHERE portal_id = $4";

crate::portals::impl_portals!(super::PgStore, sqlx::Postgres);
