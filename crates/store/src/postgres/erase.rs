//! Erasing a portal on PostgreSQL.

/// How this engine writes the first bind parameter.
const FIRST_PARAMETER: &str = "$1";

crate::erase::impl_erasure!(super::PgStore);
