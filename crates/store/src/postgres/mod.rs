//! PostgreSQL backend: the production engine, and the one several spoke instances share.

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

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{migrations, ConnectOptions, StoreError};

#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl crate::Store for PgStore {}

/// An id list as PostgreSQL statements bind it: one `int8[]`, matched with `= ANY`.
fn ids(list: &[i64]) -> Vec<i64> {
    list.to_vec()
}

/// A transaction; PostgreSQL's row locks need nothing more.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

/// Sink names as one list parameter: a `text[]`.
type SinkList = Vec<String>;

fn sink_list(names: &[String]) -> SinkList {
    names.to_vec()
}

impl PgStore {
    pub(crate) async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("invalid PostgreSQL URL".into()))?
            .application_name("spoke");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }
}

impl crate::health::Migrated for PgStore {
    type Db = sqlx::Postgres;

    fn pool(&self) -> &sqlx::Pool<Self::Db> {
        &self.pool
    }

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &migrations::POSTGRES
    }
}
