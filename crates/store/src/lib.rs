//! spoke's persistence, behind small traits, each implemented once for both engines.
//!
//! SQLite (WAL, `synchronous=FULL`) is the embedded default; PostgreSQL is the production
//! engine and the way to run several instances. Each trait method is one unit of work and
//! one transaction inside its backend: no pool or transaction crosses the trait, so callers
//! hold an `Arc<dyn Store>` and never learn which engine is behind it. HTTP, signatures and
//! HubSpot's formats are the callers' business; this crate stores plain values.
//!
//! One trait per concern, each in its own file with its SQL beside its binds, implemented
//! once over `backend::Backend` (what SQLite and PostgreSQL each give: connections,
//! transactions, and the few SQL fragments where they differ; `sqlite/`, `postgres/`, which
//! also hold the inbox's bulk insert): [`Inbox`], [`Portals`], [`Tokens`],
//! [`RefreshLeases`], [`Audit`], [`InstallStates`], [`Erasure`] (what every table holding
//! portal data joins), [`WorkQueue`] (the inbox as the hydrator's queue), [`Mirror`]
//! (hydrated records), [`Associations`], [`Backfills`] (backfill requests, leases and
//! cursors), [`Reconciliations`] (schedule, leases, watermarks, drift), [`SinkQueue`] (what the other sinks still have to deliver),
//! [`DeadLetters`] (what ran out of attempts, until replayed), [`Statistics`] (the
//! certification monitor's per-minute counts), [`AlertStates`] (the alerts announced) and
//! [`Health`].
#![forbid(unsafe_code)]

mod alert_states;
mod associations;
mod audit;
mod backend;
mod backfills;
mod dead_letters;
mod erase;
mod error;
mod health;
mod holdings;
mod ids;
mod inbox;
mod install_states;
mod leases;
mod migrations;
mod mirror;
mod model;
mod nonces;
mod portals;
mod postgres;
mod queue;
mod reconciliations;
mod revoked_sessions;
mod settle;
mod sink_queue;
mod sqlite;
mod statistics;
mod sync_leases;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod upkeep;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use alert_states::AlertStates;
pub use associations::{AssociationSet, Associations, HeldAssociation};
pub use audit::Audit;
pub use backfills::{Backfill, BackfillPage, BackfillType, Backfills, Requested};
pub use dead_letters::{DeadDelivery, DeadLetters};
pub use erase::Erasure;
pub use error::StoreError;
pub use health::Health;
pub use holdings::{EventsKept, Holdings, RecordsHeld};
pub use ids::{ObjectId, PortalId};
pub use inbox::Inbox;
pub use install_states::InstallStates;
pub use leases::RefreshLeases;
pub use mirror::{ErasedRecord, Gone, GoneRecord, Mirror, MirroredRecord};
pub use model::{
    AppendOutcome, AuditEntry, EventKey, Install, NewEvent, Portal, PortalState, Replay, Retry,
    Scope, SealedTokens, SetAside,
};
pub use portals::Portals;
pub use queue::{ClaimRequest, Claimed, SetAsideEvent, WorkQueue};
pub use reconciliations::{ReconciledType, Reconciliations, Repairs};
pub use revoked_sessions::RevokedSessions;
pub use settle::{Aside, Settlement};
pub use sink_queue::{
    DeadDeliveries, Delivery, DeliveryClaim, DeliveryCount, DeliveryOutcome, SinkQueue, ASSOCIATED,
    DISSOCIATED,
};
pub use statistics::{ApiCounts, DailyCalls, Statistics, WebhookCounts, MINUTES_PER_DAY};
pub use sync_leases::SyncLease;
pub use tokens::Tokens;

/// Everything spoke stores, whichever engine holds it.
pub trait Store:
    Inbox
    + Portals
    + Tokens
    + RefreshLeases
    + Audit
    + InstallStates
    + RevokedSessions
    + Erasure
    + WorkQueue
    + Mirror
    + Associations
    + Backfills
    + Reconciliations
    + Holdings
    + SinkQueue
    + DeadLetters
    + Statistics
    + AlertStates
    + Health
    + std::fmt::Debug
{
}
/// Pool settings; the defaults suit one `spoke` process.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long a caller waits for a connection before the database counts as unavailable.
    /// Kept well under HubSpot's 5 s webhook timeout so a delivery can still get its `503`.
    pub acquire_timeout: Duration,
    /// Whether a SQLite database that does not exist yet is created (`serve`, `migrate`).
    /// Operator commands say no, so a mistyped path is an error rather than a new, empty
    /// database. PostgreSQL databases are never created.
    pub create_if_missing: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            create_if_missing: true,
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// Picks the engine from the URL's scheme (`sqlite:`, `postgres:` or `postgresql:`).
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            _ => Err(StoreError::Config(
                "database URL must start with sqlite: or postgres:".into(),
            )),
        }
    }
}

/// Connects to the database the URL names. Does not migrate: call [`Health::migrate`].
pub async fn connect(
    url: &SecretString,
    options: &ConnectOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    let url = url.expose_secret();
    Ok(match Engine::of_url(url)? {
        Engine::Sqlite => Arc::new(sqlite::SqliteStore::connect(url, options).await?),
        Engine::Postgres => Arc::new(postgres::PgStore::connect(url, options).await?),
    })
}
