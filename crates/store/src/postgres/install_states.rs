//! Used install states on PostgreSQL. Columns are `timestamptz`.

const FORGET: &str =
    "DELETE FROM used_install_states WHERE expires_at < to_timestamp($1::float8 / 1000)";
const USE: &str = "INSERT INTO used_install_states (nonce, expires_at) \
    VALUES ($1, to_timestamp($2::float8 / 1000)) ON CONFLICT DO NOTHING";

crate::install_states::impl_install_states!(super::PgStore);
