//! SQLite backend: the embedded default. WAL so readers never block the writer, and
//! `synchronous=FULL` so that a committed delivery survives power loss, not only a crash;
//! group commit upstream pays for the fsync once per many deliveries.

mod alert_states;
mod audit;
mod erase;
mod inbox;
mod install_states;
mod leases;
mod mirror;
mod portals;
mod queue;
mod sink_queue;
mod statistics;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{migrations, ConnectOptions, StoreError};

/// How long a statement waits for SQLite's write lock before the store reports itself
/// unavailable: short enough that a webhook still gets its `503` inside HubSpot's 5 s.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl crate::Store for SqliteStore {}

/// An id list as SQLite statements bind it: one JSON array, read with `json_each`, so a
/// statement keeps one text (and one cached plan) whatever the count.
fn ids(list: &[i64]) -> String {
    serde_json::to_string(list).expect("numbers serialise")
}

/// Every write transaction takes the write lock at its start (`BEGIN IMMEDIATE`): one that
/// read first and wrote later would fail at once, not wait, if another connection wrote in
/// between (SQLite cannot upgrade a stale read snapshot), and with the receiver, workers,
/// sinks and the monitor all writing, that is common.
async fn begin(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Sink names as one list parameter: a JSON array.
type SinkList = String;

fn sink_list(names: &[String]) -> SinkList {
    serde_json::to_string(names).expect("strings serialise")
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("invalid SQLite URL".into()))?
            .create_if_missing(options.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
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
        Ok(Self { pool })
    }
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
