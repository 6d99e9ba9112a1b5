//! PostgreSQL backend: the production engine, and the one several spoke instances share.

mod analyze;
mod inbox;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::backend::{Backend, Bind, Row, Statement};
use crate::{migrations, ConnectOptions, StoreError};

#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    _analyzer: Arc<crate::upkeep::Upkeep>,
}

impl crate::Store for PgStore {}

/// The statement with its values bound; a list is one array parameter.
fn bound<'q>(statement: &'q Statement<'q>) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    statement
        .binds
        .iter()
        .fold(sqlx::query(&statement.sql), |query, bind| match *bind {
            Bind::Int(v) => query.bind(v),
            Bind::OptInt(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
            Bind::OptText(v) => query.bind(v),
            Bind::Bytes(v) => query.bind(v),
            Bind::Ids(list) => query.bind(list),
            Bind::Texts(list) => query.bind(list),
        })
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
        Ok(Self {
            _analyzer: Arc::new(analyze::spawn(pool.clone())),
            pool,
        })
    }
}

#[async_trait]
impl Backend for PgStore {
    type Conn = PgConnection;
    type Pooled = PoolConnection<Postgres>;
    type Tx = Transaction<'static, Postgres>;

    async fn connection(&self) -> Result<Self::Pooled, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// PostgreSQL's row locks need nothing more than a transaction.
    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
        Ok(tx.commit().await?)
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

    /// Time columns are `timestamptz`.
    fn at(n: u8) -> String {
        format!("to_timestamp(${n}::float8 / 1000)")
    }

    fn millis(column: &str) -> String {
        format!("(extract(epoch from {column}) * 1000)::int8")
    }

    fn in_ids(column: &str, n: u8) -> String {
        format!("{column} = ANY(${n})")
    }

    fn each_text(n: u8) -> String {
        format!("(SELECT unnest(${n}::text[]) AS value)")
    }

    fn json(n: u8) -> String {
        format!("${n}::json")
    }

    fn is_picked(_within: &str) -> String {
        "ctid = ANY(ARRAY(SELECT key FROM picked))".to_owned()
    }

    /// The rows' addresses, each looked up by a correlated subquery (which the planner
    /// cannot turn into a join), then read by address. The state and holder are named
    /// outside too, so that a row changed meanwhile is judged again as it now is.
    fn held_events(holder: u8, ids: u8) -> String {
        format!(
            "state = 'pending' AND claimed_by = ${holder} AND ctid = ANY(ARRAY(\
            SELECT (SELECT q.ctid FROM inbox_queue q WHERE q.state = 'pending' \
                AND q.portal_id = e.portal_id AND q.id = e.id AND q.claimed_by = ${holder}) \
            FROM inbox_events e WHERE e.id = ANY(${ids})))"
        )
    }

    fn json_text(column: &str) -> String {
        format!("{column}::text")
    }

    fn json_field(column: &str, field: &str) -> String {
        format!("({column} ->> '{field}')")
    }

    fn greatest(a: &str, b: &str) -> String {
        format!("greatest({a}, {b})")
    }

    const PICKED_KEY: &'static str = "ctid";
    const ONE_WRITER: bool = false;
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const FOR_SHARE: &'static str = " FOR SHARE";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
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
