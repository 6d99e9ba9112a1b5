//! Dead letters: events whose hydration ran out of attempts, and sink deliveries that did.
//! `spoke dead-letters …` and the admin API both list and replay them through here.

use std::fmt::Write as _;

use anyhow::bail;
use serde::Serialize;
use store::{DeadDelivery, ObjectId, PortalId, Replay, SetAsideEvent, Store, StoreError};
use utoipa::ToSchema;

use crate::workers::sinks::SinkName;

/// Every dead letter of one portal or all: the hydrator's, unless one sink is asked for,
/// and the sinks'.
#[derive(Debug, Default)]
pub struct DeadLetters {
    pub events: Vec<SetAsideEvent>,
    pub deliveries: Vec<DeadDelivery>,
}

/// An event set aside (dead or quarantined), as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetAsideView {
    pub id: i64,
    /// Always `null`: the hydrator's, not a sink's.
    #[schema(value_type = Option<String>)]
    pub sink: Option<()>,
    pub portal_id: PortalId,
    pub object_id: ObjectId,
    pub subscription_type: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub last_error: Option<String>,
}

impl From<&SetAsideEvent> for SetAsideView {
    fn from(event: &SetAsideEvent) -> Self {
        Self {
            id: event.id,
            sink: None,
            portal_id: event.portal_id,
            object_id: event.object_id,
            subscription_type: event.subscription_type.clone(),
            attempts: event.attempts,
            reason: event.reason.clone(),
            last_error: event.last_error.clone(),
        }
    }
}

/// A sink's dead delivery, as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadDeliveryView {
    pub id: i64,
    /// `http` or `nats`.
    pub sink: String,
    pub portal_id: PortalId,
    pub object_type: String,
    pub object_id: ObjectId,
    /// The record's state the delivery carried.
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

impl From<&DeadDelivery> for DeadDeliveryView {
    fn from(delivery: &DeadDelivery) -> Self {
        Self {
            id: delivery.id,
            sink: delivery.sink.clone(),
            portal_id: delivery.portal_id,
            object_type: delivery.object_type.clone(),
            object_id: delivery.object_id,
            state: delivery.record_state.clone(),
            attempts: delivery.attempts,
            last_error: delivery.last_error.clone(),
        }
    }
}

/// A dead letter: the hydrator's (`"sink": null`) or a sink's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DeadLetter {
    Event(SetAsideView),
    Delivery(DeadDeliveryView),
}

impl DeadLetters {
    /// The hydrator's and the sinks' dead letters, in one list.
    pub fn views(&self) -> Vec<DeadLetter> {
        let events = self.events.iter().map(|e| DeadLetter::Event(e.into()));
        let deliveries = self
            .deliveries
            .iter()
            .map(|d| DeadLetter::Delivery(d.into()));
        events.chain(deliveries).collect()
    }
}

pub async fn dead_letters(
    store: &dyn Store,
    portal: Option<PortalId>,
    sink: Option<SinkName>,
    limit: u32,
) -> Result<DeadLetters, StoreError> {
    let events = match sink {
        Some(_) => Vec::new(),
        None => store.dead_events(portal, limit).await?,
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
        (Replay::One(_) | Replay::OneOf { .. }, None) => store.replay_events(which).await,
        (_, None) => {
            Ok(store.replay_events(which).await? + store.replay_deliveries(None, which).await?)
        }
    }
}

/// One line per dead letter: id, sink (`-` for hydration), portal, object, what it was,
/// attempts, reason, last error.
pub async fn list(
    store: &dyn Store,
    portal: Option<PortalId>,
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
pub fn which(id: Option<i64>, portal: Option<PortalId>, all: bool) -> anyhow::Result<Replay> {
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
