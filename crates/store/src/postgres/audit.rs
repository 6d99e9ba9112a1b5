//! The audit trail on PostgreSQL. Columns are `timestamptz`.

const INSERT: &str = "INSERT INTO audit_log (at, portal_id, action, actor, detail) \
    VALUES (to_timestamp($1::float8 / 1000), $2, $3, $4, $5)";
const TRAIL: &str =
    "SELECT (extract(epoch from at) * 1000)::int8 AS at, portal_id, action, actor, detail \
    FROM audit_log WHERE portal_id = $1 ORDER BY id";

crate::audit::impl_audit!(super::PgStore, sqlx::Postgres);
