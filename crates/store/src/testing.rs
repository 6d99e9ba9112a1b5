//! Throwaway databases for tests, one per test so tests run in parallel: a SQLite file in a
//! temporary directory, or a fresh schema in the PostgreSQL named by `SPOKE_TEST_POSTGRES`
//! (default `postgres://127.0.0.1:5432/test`). PostgreSQL being down fails the test; it is
//! never skipped.

use std::sync::Arc;

use secrecy::SecretString;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::{
    connect, ConnectOptions, Engine, EventKey, Install, NewEvent, ObjectId, PortalId, SealedTokens,
    Settlement, Store,
};

/// A database that lives as long as the value: the directory or schema goes on drop.
#[derive(Debug)]
pub struct TestDb {
    pub engine: Engine,
    url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

/// The PostgreSQL server tests use, without a schema.
pub fn postgres_admin_url() -> String {
    std::env::var("SPOKE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://127.0.0.1:5432/test".into())
}

impl TestDb {
    pub async fn new(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/spoke.db?mode=rwc", dir.path().display());
                Self {
                    engine,
                    url,
                    _dir: Some(dir),
                    schema: None,
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                // `t_` + this process's id (8 hex digits) + 24 random ones: a sweep of
                // leftovers (scripts/lib/services.sh) spares the schemas of a test process
                // that still runs beside it.
                let random = uuid::Uuid::new_v4().simple().to_string();
                let schema = format!("t_{:08x}{}", std::process::id(), &random[..24]);
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL must be up at SPOKE_TEST_POSTGRES (default 127.0.0.1:5432, database test)");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test schema");
                let separator = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{separator}options[search_path]={schema}");
                Self {
                    engine,
                    url,
                    _dir: None,
                    schema: Some((admin, schema)),
                }
            }
        }
    }

    /// The URL spoke connects with (`SPOKE_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A migrated store on this database, with a pool small enough for many parallel tests.
    pub async fn store(&self) -> Arc<dyn Store> {
        let options = ConnectOptions {
            max_connections: 4,
            ..ConnectOptions::default()
        };
        let store = connect(&SecretString::from(self.url.clone()), &options)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Settles `settlement` as `holder` would in a hydration round: holding an event of each
    /// portal it writes for, each portal installed (a settlement writes records only for
    /// those, so nothing in flight outlives an erase). The held events end `done`.
    pub async fn settle_holding(
        &self,
        store: &dyn Store,
        holder: &str,
        mut settlement: Settlement,
        now_ms: i64,
    ) {
        let portals: std::collections::BTreeSet<PortalId> = settlement
            .records
            .iter()
            .map(|r| r.portal_id)
            .chain(settlement.gone.iter().map(|g| g.portal_id))
            .chain(settlement.erased.iter().map(|e| e.portal_id))
            .chain(settlement.associations.iter().map(|a| a.portal_id))
            .collect();
        for portal in portals {
            if store.portal(portal).await.expect("read portal").is_none() {
                store
                    .record_install(&install(portal), "test", now_ms)
                    .await
                    .expect("install");
            }
            let event_id = self
                .number("SELECT coalesce(max(id), 0) + 1 FROM inbox_events")
                .await;
            store
                .append(&[vec![held_event(portal, event_id)]], now_ms)
                .await
                .expect("append");
            let id = self.number("SELECT max(id) FROM inbox_events").await;
            self.execute(&format!(
                "UPDATE inbox_queue SET claimed_by = '{holder}' WHERE id = {id}"
            ))
            .await;
            settlement.finished.push(id);
        }
        store
            .settle(holder, &settlement, now_ms)
            .await
            .expect("settle");
    }

    /// Runs one statement straight on the database, past the store: for tests that need
    /// rows the store would never write.
    pub async fn execute(&self, sql: &str) {
        match self.engine {
            Engine::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query(sql).execute(&mut c).await.expect("execute");
            }
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query(sql).execute(&mut c).await.expect("execute");
            }
        }
    }

    /// Every identity key in the inbox, read straight from the tables.
    pub async fn inbox_keys(&self) -> Vec<EventKey> {
        const KEYS: &str =
            "SELECT portal_id, subscription_id, event_id, object_id, occurred_at FROM inbox_events ORDER BY id";
        match self.engine {
            Engine::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_as(KEYS)
                    .fetch_all(&mut c)
                    .await
                    .expect("read inbox")
            }
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_as(KEYS)
                    .fetch_all(&mut c)
                    .await
                    .expect("read inbox")
            }
        }
    }

    /// A query's one integer answer, such as a `count(*)`.
    pub async fn number(&self, sql: &str) -> i64 {
        match self.engine {
            Engine::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect("query")
            }
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect("query")
            }
        }
    }

    /// One column of the inbox, in insertion order (e.g. `payload::text`, `attempt_number`).
    pub async fn inbox_column(&self, expression: &str) -> Vec<String> {
        self.column("inbox_events", expression).await
    }

    /// One column of the inbox's events with their `state` (`done` for an event without a
    /// queue row), `attempts` and `claimed_by`, in insertion order.
    pub async fn event_column(&self, expression: &str) -> Vec<String> {
        const EVENTS: &str = "(SELECT e.id, e.portal_id, coalesce(q.state, 'done') AS state, \
            coalesce(q.attempts, 0) AS attempts, q.claimed_by \
            FROM inbox_events e LEFT JOIN inbox_queue q ON q.id = e.id) AS events";
        self.column(EVENTS, expression).await
    }

    /// One column of `table`, as text, in id order.
    pub async fn column(&self, table: &str, expression: &str) -> Vec<String> {
        let sql = format!("SELECT CAST({expression} AS TEXT) FROM {table} ORDER BY id");
        match self.engine {
            Engine::Sqlite => {
                let mut c = SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(&sql)
                    .fetch_all(&mut c)
                    .await
                    .expect("read the column")
            }
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(&sql)
                    .fetch_all(&mut c)
                    .await
                    .expect("read the column")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs outside async: clean up on a thread of its own with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                // A connection left inside a transaction would block the drop for ever; give
                // up after a while instead (scripts/test.sh sweeps leftover schemas).
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query("SET lock_timeout = '10s'")
                        .execute(&mut conn)
                        .await;
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A minimal install of `portal` with made-up sealed tokens.
pub fn install(portal: PortalId) -> Install {
    Install {
        portal_id: portal,
        hub_domain: None,
        app_id: None,
        scopes: vec!["oauth".into()],
        installer_id: None,
        installer_email: None,
        tokens: SealedTokens {
            key_id: "test".into(),
            access: vec![1],
            refresh: vec![2],
            issued_at: 0,
            access_expires_at: 0,
        },
    }
}

/// An event a test worker holds while it settles, of a type nothing hydrates.
fn held_event(portal: PortalId, event_id: i64) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: portal,
            subscription_id: 0,
            event_id,
            object_id: ObjectId(0),
            occurred_at: 0,
        },
        subscription_type: "test.held".into(),
        app_id: None,
        attempt_number: 0,
        payload: "{}".into(),
        trace_context: None,
    }
}
