//! Nonces remembered until they expire: install states already used, sessions signed out.
//! Each table has a `nonce` key and an `expires_at`; remembering one forgets the expired.

use crate::backend::{Backend, Statement};
use crate::StoreError;

/// Remembers `nonce` in `table` until `expires_at_ms`, forgetting those expired by
/// `now_ms`; whether it was new (`false`: remembered already).
pub(crate) async fn remember<B: Backend>(
    store: &B,
    table: &str,
    nonce: &str,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.begin_write().await?;
    let forget = format!("DELETE FROM {table} WHERE expires_at < {}", B::at(1));
    B::execute(&mut tx, Statement::new(forget).bind(now_ms)).await?;
    let record = format!(
        "INSERT INTO {table} (nonce, expires_at) VALUES ($1, {}) ON CONFLICT DO NOTHING",
        B::at(2)
    );
    let statement = Statement::new(record).bind(nonce).bind(expires_at_ms);
    let fresh = B::execute(&mut tx, statement).await? == 1;
    B::commit(tx).await?;
    Ok(fresh)
}
