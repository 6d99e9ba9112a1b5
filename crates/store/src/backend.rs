//! What the store's implementations need of an engine, and nothing more: connections,
//! transactions, running a [`Statement`], and the few SQL fragments in which SQLite and
//! PostgreSQL differ (times, id lists, JSON, row locks).
//!
//! Every concern (`queue.rs`, `sink_queue.rs`, …) is implemented once, generically over
//! [`Backend`], with its SQL written beside its binds. Statements use numbered parameters
//! (`$1`), which both engines read (sqlx numbers SQLite's `$N` as PostgreSQL does), and
//! ask the backend for a fragment where the engines' SQL differs. Why not one `impl` per
//! engine: the SQL is the same but for those fragments, and the logic around it (claiming
//! fairly, settling a round) would be written twice.

use std::borrow::Cow;
use std::ops::DerefMut;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

use crate::StoreError;

/// A value bound to a statement's parameter. The engine binds each as its own type: an
/// id list is a JSON array on SQLite and an `int8[]` on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
    /// Matched with [`Backend::in_ids`].
    Ids(&'a [i64]),
    /// Read as rows with [`Backend::each_text`].
    Texts(&'a [String]),
}

impl From<i64> for Bind<'_> {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<i32> for Bind<'_> {
    fn from(value: i32) -> Self {
        Self::Int(value.into())
    }
}

impl From<u32> for Bind<'_> {
    fn from(value: u32) -> Self {
        Self::Int(value.into())
    }
}

impl From<crate::PortalId> for Bind<'_> {
    fn from(portal: crate::PortalId) -> Self {
        Self::Int(portal.0)
    }
}

impl From<Option<crate::PortalId>> for Bind<'_> {
    fn from(portal: Option<crate::PortalId>) -> Self {
        Self::OptInt(portal.map(|p| p.0))
    }
}

impl From<crate::ObjectId> for Bind<'_> {
    fn from(object: crate::ObjectId) -> Self {
        Self::Int(object.0)
    }
}

impl From<crate::Scope> for Bind<'_> {
    fn from(scope: crate::Scope) -> Self {
        Self::Int(scope.key())
    }
}

impl From<Option<i64>> for Bind<'_> {
    fn from(value: Option<i64>) -> Self {
        Self::OptInt(value)
    }
}

impl<'a> From<&'a str> for Bind<'a> {
    fn from(value: &'a str) -> Self {
        Self::Text(value)
    }
}

impl<'a> From<&'a String> for Bind<'a> {
    fn from(value: &'a String) -> Self {
        Self::Text(value)
    }
}

impl<'a> From<Option<&'a str>> for Bind<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Self::OptText(value)
    }
}

impl<'a> From<&'a Option<String>> for Bind<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Self::OptText(value.as_deref())
    }
}

impl<'a> From<&'a Vec<u8>> for Bind<'a> {
    fn from(value: &'a Vec<u8>) -> Self {
        Self::Bytes(value)
    }
}

/// SQL and the values of its parameters, in order (`$1` first).
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    pub(crate) sql: Cow<'a, str>,
    pub(crate) binds: Vec<Bind<'a>>,
}

impl<'a> Statement<'a> {
    pub(crate) fn new(sql: impl Into<Cow<'a, str>>) -> Self {
        Self {
            sql: sql.into(),
            binds: Vec::new(),
        }
    }

    /// Binds the next parameter.
    pub(crate) fn bind(mut self, value: impl Into<Bind<'a>>) -> Self {
        self.binds.push(value.into());
        self
    }
}

/// A row type either engine decodes (every `#[derive(sqlx::FromRow)]` type and tuple).
pub(crate) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// An engine, as the store's generic implementations use it.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// A connection; pooled connections and transactions dereference to it.
    type Conn: Send;
    type Pooled: DerefMut<Target = Self::Conn> + Send;
    type Tx: DerefMut<Target = Self::Conn> + Send;

    /// A connection from the pool, for statements outside a transaction.
    async fn connection(&self) -> Result<Self::Pooled, StoreError>;

    /// A transaction that writes: on SQLite it queues behind the process's other writers
    /// and takes the write lock at once (`BEGIN IMMEDIATE`), since a transaction that read
    /// first cannot upgrade a stale snapshot.
    async fn begin_write(&self) -> Result<Self::Tx, StoreError>;

    async fn commit(tx: Self::Tx) -> Result<(), StoreError>;

    /// Runs a statement; how many rows it changed.
    async fn execute(conn: &mut Self::Conn, statement: Statement<'_>) -> Result<u64, StoreError>;

    async fn fetch_all<R: Row>(
        conn: &mut Self::Conn,
        statement: Statement<'_>,
    ) -> Result<Vec<R>, StoreError>;

    async fn fetch_optional<R: Row>(
        conn: &mut Self::Conn,
        statement: Statement<'_>,
    ) -> Result<Option<R>, StoreError>;

    /// Runs a statement on its own, outside any transaction; how many rows it changed.
    async fn execute_on_pool(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        Self::execute(&mut *self.connection().await?, statement).await
    }

    async fn fetch_all_on_pool<R: Row>(
        &self,
        statement: Statement<'_>,
    ) -> Result<Vec<R>, StoreError> {
        Self::fetch_all(&mut *self.connection().await?, statement).await
    }

    async fn fetch_optional_on_pool<R: Row>(
        &self,
        statement: Statement<'_>,
    ) -> Result<Option<R>, StoreError> {
        Self::fetch_optional(&mut *self.connection().await?, statement).await
    }

    /// Parameter `$n`, epoch milliseconds, as the engine's time columns hold a time.
    fn at(n: u8) -> String;

    /// A time column read back as epoch milliseconds.
    fn millis(column: &str) -> String;

    /// Whether `column` is among the ids of parameter `$n` ([`Bind::Ids`]).
    fn in_ids(column: &str, n: u8) -> String;

    /// Whether a row is one the materialised CTE `picked` chose (its rows' [`PICKED_KEY`]s
    /// as `key`); `within` (`… AND `) narrows SQLite's lookup to its key's prefix. On
    /// PostgreSQL the pick locked its rows, so their addresses hold until commit and are
    /// looked up directly: as a semi-join on ids, a plan made with stale statistics (a queue
    /// filled since its last `ANALYZE`) compared every row of the portal with every picked
    /// id, and a claim of 4,000 among 100,000 pending took 136 s (78 ms by address).
    ///
    /// [`PICKED_KEY`]: Backend::PICKED_KEY
    fn is_picked(within: &str) -> String;

    /// Whether an `inbox_queue` row is a pending event holder `$holder` still claims among
    /// the ids of `$ids`: a settlement writes only what its caller holds. Each row is found by the queue's whole key (state,
    /// portal, id), one id at a time, however stale the planner's statistics: on
    /// PostgreSQL, a semi-join planned while a burst filled the queue scanned every pending
    /// row for each id and a settlement took 23 s to 4 minutes (`auto_explain`).
    fn held_events(holder: u8, ids: u8) -> String;

    /// The strings of parameter `$n` ([`Bind::Texts`]) as rows of one column, `value`.
    fn each_text(n: u8) -> String;

    /// Parameter `$n`, a JSON text, as the engine's JSON columns take it.
    fn json(n: u8) -> String;

    /// A JSON column read back as text.
    fn json_text(column: &str) -> String;

    /// The text of a JSON column's top-level `field` (`NULL` when absent).
    fn json_field(column: &str, field: &str) -> String;

    /// The larger of two values (SQLite's two-argument `max`, PostgreSQL's `greatest`).
    fn greatest(a: &str, b: &str) -> String;

    /// The column a pick's CTE keeps of each row it chose, as `key`: see
    /// [`Backend::is_picked`].
    const PICKED_KEY: &'static str;

    /// Whether every write takes one lock for the whole database (SQLite), which the
    /// receiver's group commits need too.
    const ONE_WRITER: bool;

    /// Ends a `SELECT` whose rows concurrent claimers skip rather than wait for
    /// (PostgreSQL's row locks; SQLite has one writer and needs none).
    const SKIP_LOCKED: &'static str;

    /// Ends a `SELECT` whose rows stay as read until the transaction ends: a settlement's
    /// portals cannot be erased under it (PostgreSQL; SQLite's one writer needs none).
    const FOR_SHARE: &'static str;

    /// Ends a `SELECT` whose rows the transaction alone may change until it ends: an
    /// erase takes its portal's row first, so a settlement in flight waits or sees it gone.
    const FOR_UPDATE: &'static str;
}

/// The rows holder `$holder` still claims among the ids of `$ids`: a settlement writes only
/// what its caller holds, so a claim that lapsed and was taken again is not settled twice.
pub(crate) fn held<B: Backend>(holder: u8, ids: u8) -> String {
    format!("claimed_by = ${holder} AND {}", B::in_ids("id", ids))
}
