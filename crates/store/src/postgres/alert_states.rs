//! Announced alerts on PostgreSQL.

/// Inserts `$1`/`$2` at level `$3`, or moves it to that level: no row changes when it is
/// there already.
const RAISE: &str = "INSERT INTO alert_states (portal_id, about, level, changed_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (portal_id, about) DO UPDATE \
    SET level = excluded.level, changed_at = excluded.changed_at \
    WHERE alert_states.level <> excluded.level";
const RESOLVE: &str = "DELETE FROM alert_states WHERE portal_id = $1 AND about = $2";

crate::alert_states::impl_alert_states!(super::PgStore);
