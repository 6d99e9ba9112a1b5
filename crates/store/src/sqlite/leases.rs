//! Refresh leases on SQLite. Times are epoch milliseconds.

const LEASE: &str = "UPDATE portal_tokens SET lease_holder = ?, lease_until = ? \
    WHERE portal_id = ? AND (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?)";
const RELEASE_FAILED: &str = "UPDATE portal_tokens SET refresh_failures = refresh_failures + 1, \
    lease_holder = NULL, lease_until = NULL WHERE portal_id = ? AND lease_holder = ?";

crate::leases::impl_refresh_leases!(super::SqliteStore);
