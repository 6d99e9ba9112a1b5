//! Refresh leases on PostgreSQL. Columns are `timestamptz`.

const LEASE: &str = "UPDATE portal_tokens SET lease_holder = $1, lease_until = to_timestamp($2::float8 / 1000) \
    WHERE portal_id = $3 AND (lease_until IS NULL OR lease_until <= to_timestamp($4::float8 / 1000) OR lease_holder = $5)";
const RELEASE_FAILED: &str = "UPDATE portal_tokens SET refresh_failures = refresh_failures + 1, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = $1 AND lease_holder = $2";

crate::leases::impl_refresh_leases!(super::PgStore);
