//! spoke's persistence, behind small traits with one implementation per engine.
//!
//! SQLite (WAL, `synchronous=FULL`) is the embedded default; PostgreSQL is the production
//! engine and the way to run several instances. Each trait method is one unit of work and
//! one transaction inside its backend: no pool or transaction crosses the trait, so callers
//! hold an `Arc<dyn Store>` and never learn which engine is behind it. HTTP, signatures and
//! HubSpot's formats are the callers' business; this crate stores plain values.
#![forbid(unsafe_code)]

mod error;
mod migrations;
mod model;
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

pub use error::StoreError;
pub use model::{AppendOutcome, EventKey, EventKeyRow, NewEvent};

/// The durable inbox of webhook events.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Stores the events of several deliveries in one transaction (one commit, one fsync),
    /// and says for each delivery how many events were new and how many were seen before.
    /// Either every event is durable when this returns `Ok`, or none is.
    async fn append(&self, deliveries: &[Vec<NewEvent>]) -> Result<Vec<AppendOutcome>, StoreError>;

    /// Events received and not yet processed: the backlog that admission control limits.
    async fn pending_count(&self) -> Result<u64, StoreError>;
}

/// Liveness of the database itself.
#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when the database answers and every embedded migration is applied.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Applies the migrations this build embeds that the database does not have yet.
    async fn migrate(&self) -> Result<(), StoreError>;
}

/// Everything spoke stores, whichever engine holds it.
pub trait Store: Inbox + Health + std::fmt::Debug {}
impl<T: Inbox + Health + std::fmt::Debug> Store for T {}

/// Pool settings; the defaults suit one `spoke` process.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long a caller waits for a connection before the database counts as unavailable.
    /// Kept well under HubSpot's 5 s webhook timeout so a delivery can still get its `503`.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
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
