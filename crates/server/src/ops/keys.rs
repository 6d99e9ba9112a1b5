//! `spoke keys rotate`: every token re-sealed under the first key of `SPOKE_TOKEN_KEYS`,
//! so an old key can be dropped. Prints no key.

use anyhow::Context;
use hubspot::time::Clock;
use store::Store;

use super::iso;
use crate::oauth::vault::Keyring;

/// How many tokens one round trip re-seals.
const ROTATE_BATCH: u32 = 100;

/// Re-seals every token not yet under the current key; safe to run again, and alongside
/// running instances (a token refreshed meanwhile is already under the current key).
pub async fn rotate(store: &dyn Store, keys: &Keyring, clock: &Clock) -> anyhow::Result<String> {
    let mut resealed = 0;
    loop {
        let batch = store
            .sealed_with_other_keys(keys.current_id(), ROTATE_BATCH)
            .await?;
        if batch.is_empty() {
            break;
        }
        // A token that a refresh re-sealed meanwhile is under the current key already, so
        // it drops out of the next batch either way.
        for (portal, sealed) in batch {
            let fresh = keys
                .reseal(portal, &sealed)
                .with_context(|| format!("portal {portal}"))?;
            if store.reseal(portal, &sealed.key_id, &fresh).await? {
                resealed += 1;
            }
        }
    }
    Ok(format!(
        "{resealed} portals' tokens re-sealed under key {} at {}\n",
        keys.current_id(),
        iso(clock.now_ms())
    ))
}
