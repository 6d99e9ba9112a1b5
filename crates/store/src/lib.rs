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
mod portals;
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

pub use error::StoreError;
pub use model::{
    AppendOutcome, AuditEntry, EventKey, EventKeyRow, Install, NewEvent, Portal, PortalState,
    SealedTokens,
};

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

/// Installed portals, their sealed tokens and the audit trail. Every change that matters
/// to an operator writes its audit entry in the same transaction.
#[async_trait]
pub trait Portals: Send + Sync {
    /// Stores an install or reinstall: the portal as installed (a pending re-authorisation
    /// cleared), its tokens replaced, an audit entry. Returns whether it was a reinstall.
    async fn record_install(
        &self,
        install: &Install,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    async fn portal(&self, portal_id: i64) -> Result<Option<Portal>, StoreError>;

    /// Every portal spoke knows, by id.
    async fn portals(&self) -> Result<Vec<Portal>, StoreError>;

    async fn tokens(&self, portal_id: i64) -> Result<Option<SealedTokens>, StoreError>;

    /// Takes the right to refresh a portal's tokens until `until_ms`, unless another
    /// holder's lease is still running: across instances, one refresh at a time.
    async fn lease_refresh(
        &self,
        portal_id: i64,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Stores refreshed tokens and releases `holder`'s lease.
    async fn store_refreshed(
        &self,
        portal_id: i64,
        holder: &str,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError>;

    /// Releases `holder`'s lease after a refresh that failed for now; counts the failure.
    async fn refresh_failed(&self, portal_id: i64, holder: &str) -> Result<(), StoreError>;

    /// HubSpot refused the refresh token: tokens dropped, portal marked, audit entry.
    async fn mark_needs_reauth(
        &self,
        portal_id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The app is gone from the portal: tokens erased, portal marked, audit entry.
    async fn record_uninstall(
        &self,
        portal_id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Removes everything spoke holds for the portal (its events, tokens and record); only
    /// the audit entry saying so remains.
    async fn erase(&self, portal_id: i64, actor: &str, now_ms: i64) -> Result<(), StoreError>;

    async fn audit_trail(&self, portal_id: i64) -> Result<Vec<AuditEntry>, StoreError>;

    /// Installed portals whose access token expires before `before_ms`.
    async fn expiring_before(&self, before_ms: i64) -> Result<Vec<i64>, StoreError>;

    /// Up to `limit` portals whose tokens are sealed under another key than `key_id`.
    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
    ) -> Result<Vec<(i64, SealedTokens)>, StoreError>;

    /// Replaces tokens sealed under `old_key_id` with `tokens` (the same tokens, re-sealed);
    /// `false` if they changed meanwhile (a refresh got there first).
    async fn reseal(
        &self,
        portal_id: i64,
        old_key_id: &str,
        tokens: &SealedTokens,
    ) -> Result<bool, StoreError>;

    /// Records an OAuth `state` nonce as used; `false` if it was used before (a replay).
    /// Forgets nonces whose expiry has passed.
    async fn use_install_state(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
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
pub trait Store: Inbox + Portals + Health + std::fmt::Debug {}
impl<T: Inbox + Portals + Health + std::fmt::Debug> Store for T {}

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
