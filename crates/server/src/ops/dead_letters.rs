//! Dead letters: events whose hydration ran out of attempts, and sink deliveries that did.
//! `spoke dead-letters …` and the admin API both list and replay them through here.

use std::fmt::Write as _;

use anyhow::bail;
use store::{DeadDelivery, Replay, SetAside, SetAsideEvent, Store, StoreError};

use crate::workers::sinks::SinkName;

/// Every dead letter of one portal or all: the hydrator's, unless one sink is asked for,
/// and the sinks'.
#[derive(Debug, Default)]
pub struct DeadLetters {
    pub events: Vec<SetAsideEvent>,
    pub deliveries: Vec<DeadDelivery>,
}

pub async fn dead_letters(
    store: &dyn Store,
    portal: Option<i64>,
    sink: Option<SinkName>,
    limit: u32,
) -> Result<DeadLetters, StoreError> {
    let events = match sink {
        Some(_) => Vec::new(),
        None => {
            store
                .set_aside_events(SetAside::Dead, portal, limit)
                .await?
        }
    };
    let deliveries = store
        .dead_deliveries(sink.map(SinkName::as_str), portal, limit)
        .await?;
    Ok(DeadLetters { events, deliveries })
}

/// Replays dead letters; how many went back. One dead letter is an event's, or with a sink
/// that sink's delivery; a portal's or all are the events' and every sink's, or with a sink
/// only that sink's.
pub async fn replay_dead(
    store: &dyn Store,
    which: Replay,
    sink: Option<SinkName>,
) -> Result<u64, StoreError> {
    match (which, sink) {
        (_, Some(sink)) => store.replay_deliveries(Some(sink.as_str()), which).await,
        (Replay::One(_) | Replay::OneOf { .. }, None) => store.replay(which).await,
        (_, None) => Ok(store.replay(which).await? + store.replay_deliveries(None, which).await?),
    }
}

/// One line per dead letter: id, sink (`-` for hydration), portal, object, what it was,
/// attempts, reason, last error.
pub async fn list(
    store: &dyn Store,
    portal: Option<i64>,
    sink: Option<SinkName>,
    limit: u32,
) -> anyhow::Result<String> {
    let dead = dead_letters(store, portal, sink, limit).await?;
    let mut out = String::from("ID\tSINK\tPORTAL\tOBJECT\tWHAT\tATTEMPTS\tREASON\tLAST ERROR\n");
    for event in dead.events {
        writeln!(
            out,
            "{}\t-\t{}\t{}\t{}\t{}\t{}\t{}",
            event.id,
            event.portal_id,
            event.object_id,
            event.subscription_type,
            event.attempts,
            event.reason.as_deref().unwrap_or("-"),
            event.last_error.as_deref().unwrap_or("-"),
        )?;
    }
    for delivery in dead.deliveries {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{} {}\t{}\t-\t{}",
            delivery.id,
            delivery.sink,
            delivery.portal_id,
            delivery.object_id,
            delivery.object_type,
            delivery.record_state,
            delivery.attempts,
            delivery.last_error.as_deref().unwrap_or("-"),
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

pub async fn replay(
    store: &dyn Store,
    which: Replay,
    sink: Option<SinkName>,
) -> anyhow::Result<String> {
    let replayed = replay_dead(store, which, sink).await?;
    Ok(format!("{replayed} dead letters back in the queue\n"))
}
