//! SQLite backend: the embedded default. WAL so readers never block the writer, and
//! `synchronous=FULL` so that a committed delivery survives power loss, not only a crash;
//! group commit upstream pays for the fsync once per many deliveries.

mod checkpoint;
mod gate;
mod inbox;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::backend::{Backend, Bind, Row, Statement};
use crate::{migrations, ConnectOptions, StoreError};
use gate::{Turn, WriteGate, Writer};

/// How long a statement waits for SQLite's write lock before the store reports itself
/// unavailable: short enough that a webhook still gets its `503` inside HubSpot's 5 s.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    gate: WriteGate,
    _checkpoints: Arc<crate::upkeep::Upkeep>,
}

impl crate::Store for SqliteStore {}

/// A write transaction and its turn at the [`WriteGate`], which ends with it.
#[derive(Debug)]
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: Turn,
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Every write transaction takes its turn at the gate, then the write lock at its start
    /// (`BEGIN IMMEDIATE`): one that read first and wrote later would fail at once, not
    /// wait, if another connection wrote in between (SQLite cannot upgrade a stale read
    /// snapshot).
    async fn begin_immediate(&self, writer: Writer) -> Result<WriteTx, StoreError> {
        let turn = self.gate.turn(writer).await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _turn: turn })
    }
}

/// The statement with its values bound. A list is one JSON array, read with `json_each`,
/// so a statement keeps one text (and one cached plan) whatever the count.
fn bound<'q>(statement: &'q Statement<'q>) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    statement
        .binds
        .iter()
        .fold(sqlx::query(&statement.sql), |query, bind| match *bind {
            Bind::Int(v) => query.bind(v),
            Bind::OptInt(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
            Bind::OptText(v) => query.bind(v),
            Bind::Bytes(v) => query.bind(v),
            Bind::Ids(list) => query.bind(serde_json::to_string(list).expect("numbers serialise")),
            Bind::Texts(list) => {
                query.bind(serde_json::to_string(list).expect("strings serialise"))
            }
        })
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("invalid SQLite URL".into()))?
            .create_if_missing(options.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("wal_autocheckpoint", checkpoint::AUTOCHECKPOINT_PAGES);
        let file = connect.get_filename();
        if !options.create_if_missing && !file.exists() {
            return Err(StoreError::Config(format!(
                "no SQLite database at {} (`spoke migrate` creates one)",
                file.display()
            )));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create database directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self {
            _checkpoints: Arc::new(checkpoint::spawn(pool.clone())),
            pool,
            gate: WriteGate::default(),
        })
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Pooled = PoolConnection<Sqlite>;
    type Tx = WriteTx;

    async fn connection(&self) -> Result<Self::Pooled, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        self.begin_immediate(Writer::Background).await
    }

    async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
        Ok(tx.tx.commit().await?)
    }

    /// A write of its own takes its turn like a transaction.
    async fn execute_on_pool(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        let _turn = self.gate.turn(Writer::Background).await;
        Self::execute(&mut *self.connection().await?, statement).await
    }

    async fn execute(conn: &mut Self::Conn, statement: Statement<'_>) -> Result<u64, StoreError> {
        Ok(bound(&statement).execute(conn).await?.rows_affected())
    }

    async fn fetch_all<R: Row>(
        conn: &mut Self::Conn,
        statement: Statement<'_>,
    ) -> Result<Vec<R>, StoreError> {
        let rows = bound(&statement).fetch_all(conn).await?;
        Ok(rows.iter().map(R::from_row).collect::<Result<_, _>>()?)
    }

    async fn fetch_optional<R: Row>(
        conn: &mut Self::Conn,
        statement: Statement<'_>,
    ) -> Result<Option<R>, StoreError> {
        let row = bound(&statement).fetch_optional(conn).await?;
        Ok(row.as_ref().map(R::from_row).transpose()?)
    }

    /// Times are epoch milliseconds already.
    fn at(n: u8) -> String {
        format!("${n}")
    }

    fn millis(column: &str) -> String {
        column.to_owned()
    }

    fn in_ids(column: &str, n: u8) -> String {
        format!("{column} IN (SELECT value FROM json_each(${n}))")
    }

    fn each_text(n: u8) -> String {
        format!("(SELECT value FROM json_each(${n}))")
    }

    fn json(n: u8) -> String {
        format!("${n}")
    }

    fn is_picked(within: &str) -> String {
        format!("{within}id IN (SELECT key FROM picked)")
    }

    /// SQLite plans by its indexes, not statistics: a lookup of the whole key per id.
    fn held_events(holder: u8, ids: u8) -> String {
        format!(
            "state = 'pending' AND claimed_by = ${holder} \
            AND (portal_id, id) IN (SELECT portal_id, id FROM inbox_events WHERE {})",
            Self::in_ids("id", ids)
        )
    }

    fn json_text(column: &str) -> String {
        column.to_owned()
    }

    fn json_field(column: &str, field: &str) -> String {
        // `json_extract` fails the statement on text that is not JSON; such a row has no
        // field.
        format!("CASE WHEN json_valid({column}) THEN json_extract({column}, '$.{field}') END")
    }

    fn greatest(a: &str, b: &str) -> String {
        format!("max({a}, {b})")
    }

    const PICKED_KEY: &'static str = "id";
    const ONE_WRITER: bool = true;
    const SKIP_LOCKED: &'static str = "";
    const FOR_SHARE: &'static str = "";
    const FOR_UPDATE: &'static str = "";
}

impl crate::health::Migrated for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self) -> &sqlx::Pool<Self::Db> {
        &self.pool
    }

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &migrations::SQLITE
    }
}
