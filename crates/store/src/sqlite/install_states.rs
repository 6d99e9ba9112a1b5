//! Used install states on SQLite. Times are epoch milliseconds.

const FORGET: &str = "DELETE FROM used_install_states WHERE expires_at < ?";
const USE: &str =
    "INSERT INTO used_install_states (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING";

crate::install_states::impl_install_states!(super::SqliteStore);
