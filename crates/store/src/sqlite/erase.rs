//! Erasing a portal on SQLite.

/// How this engine writes the first bind parameter.
const FIRST_PARAMETER: &str = "?";

crate::erase::impl_erasure!(super::SqliteStore);
