//! `spoke dead-letters …`: the events whose attempts ran out, and replaying them.

use std::fmt::Write as _;

use anyhow::bail;
use store::{Replay, SetAside, Store};

/// One line per dead letter: id, portal, object, subscription type, attempts, reason,
/// last error.
pub async fn list(store: &dyn Store, portal: Option<i64>, limit: u32) -> anyhow::Result<String> {
    let mut out = String::from("ID\tPORTAL\tOBJECT\tTYPE\tATTEMPTS\tREASON\tLAST ERROR\n");
    for dead in store
        .set_aside_events(SetAside::Dead, portal, limit)
        .await?
    {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            dead.id,
            dead.portal_id,
            dead.object_id,
            dead.subscription_type,
            dead.attempts,
            dead.reason.as_deref().unwrap_or("-"),
            dead.last_error.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(out)
}

/// Which dead letters the flags name; exactly one choice is required.
pub fn which(id: Option<i64>, portal: Option<i64>, all: bool) -> anyhow::Result<Replay> {
    match (id, portal, all) {
        (Some(id), None, false) => Ok(Replay::One(id)),
        (None, Some(portal), false) => Ok(Replay::Portal(portal)),
        (None, None, true) => Ok(Replay::All),
        _ => bail!("say which dead letters to replay: --id ID, --portal ID or --all"),
    }
}

pub async fn replay(store: &dyn Store, which: Replay) -> anyhow::Result<String> {
    let replayed = store.replay(which).await?;
    Ok(format!("{replayed} dead letters back in the queue\n"))
}
