//! The audit trail on SQLite. Times are epoch milliseconds.

const INSERT: &str =
    "INSERT INTO audit_log (at, portal_id, action, actor, detail) VALUES (?, ?, ?, ?, ?)";
const TRAIL: &str =
    "SELECT at, portal_id, action, actor, detail FROM audit_log WHERE portal_id = ? ORDER BY id";

crate::audit::impl_audit!(super::SqliteStore, sqlx::Sqlite);
