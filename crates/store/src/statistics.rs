//! The certification monitor's per-minute counts, per portal: webhook deliveries spoke
//! answered and the API calls it made. Counts are added (a flush adds what a process
//! gathered since the last one), so several instances write the same rows safely; sums
//! over a window and per-minute series are read back. Older minutes are rolled up into
//! one row per hour (kept at the hour's first minute, so sums need no other table).

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{Scope, StoreError};

/// The tables' names, for [`crate::Erasure`].
pub(crate) const WEBHOOK_TABLE: &str = "webhook_minutes";
pub(crate) const API_TABLE: &str = "api_minutes";
pub(crate) const DAILY_CALLS_TABLE: &str = "api_calls_daily";

/// Minutes in a day: the daily calls' `day` is an instant's minute divided by this.
pub const MINUTES_PER_DAY: i64 = 1_440;

/// Webhook deliveries of one portal in one minute, or sums of such rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookCounts {
    #[sqlx(rename = "portal_id")]
    pub scope: Scope,
    /// Epoch minutes (UTC); in sums, the first minute summed.
    pub minute: i64,
    pub attempts: i64,
    /// Answered `2xx` within HubSpot's 5 s.
    pub successes: i64,
    pub unauthorized: i64,
    pub bad_request: i64,
    pub too_large: i64,
    pub unavailable: i64,
    /// Answered `2xx`, but after 5 s: HubSpot counts them failed.
    pub timeouts: i64,
    pub errors: i64,
    pub latency_ms_sum: i64,
    pub latency_ms_max: i64,
    /// Events at their first attempt, and the deliveries with any.
    pub first_events: i64,
    pub first_deliveries: i64,
    /// Events at a retry (`attemptNumber` of 1 or more), and the deliveries with any.
    pub retry_events: i64,
    pub retry_deliveries: i64,
    /// Of those, the events in deliveries answered with a failure.
    pub failed_first_events: i64,
    pub failed_retry_events: i64,
    /// Acknowledged events whose first attempt failed (`attemptNumber` of 1 or more), and
    /// the sum of their `attemptNumber - 1`: their failed retries.
    pub revealed_first: i64,
    pub revealed_retries: i64,
}

impl WebhookCounts {
    /// The counts in [`WEBHOOK_MINUTES`]' column order.
    fn values(&self) -> [i64; 18] {
        [
            self.attempts,
            self.successes,
            self.unauthorized,
            self.bad_request,
            self.too_large,
            self.unavailable,
            self.timeouts,
            self.errors,
            self.latency_ms_sum,
            self.latency_ms_max,
            self.first_events,
            self.first_deliveries,
            self.retry_events,
            self.retry_deliveries,
            self.failed_first_events,
            self.failed_retry_events,
            self.revealed_first,
            self.revealed_retries,
        ]
    }

    /// Adds `other`'s counts (keeping this one's portal and minute).
    pub fn add(&mut self, other: &Self) {
        self.attempts += other.attempts;
        self.successes += other.successes;
        self.unauthorized += other.unauthorized;
        self.bad_request += other.bad_request;
        self.too_large += other.too_large;
        self.unavailable += other.unavailable;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        self.latency_ms_sum += other.latency_ms_sum;
        self.latency_ms_max = self.latency_ms_max.max(other.latency_ms_max);
        self.first_events += other.first_events;
        self.first_deliveries += other.first_deliveries;
        self.retry_events += other.retry_events;
        self.retry_deliveries += other.retry_deliveries;
        self.failed_first_events += other.failed_first_events;
        self.failed_retry_events += other.failed_retry_events;
        self.revealed_first += other.revealed_first;
        self.revealed_retries += other.revealed_retries;
    }
}

/// API calls of one portal in one minute, or sums of such rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiCounts {
    #[sqlx(rename = "portal_id")]
    pub scope: Scope,
    pub minute: i64,
    pub calls: i64,
    /// Not `2xx` (no answer included).
    pub errors: i64,
    pub rate_limited: i64,
}

impl ApiCounts {
    /// The counts in [`API_MINUTES`]' column order.
    fn values(&self) -> [i64; 3] {
        [self.calls, self.errors, self.rate_limited]
    }

    pub fn add(&mut self, other: &Self) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.rate_limited += other.rate_limited;
    }
}

/// API calls of one portal (or the app) on one day to one endpoint class, answered
/// with one status (0: no answer).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyCalls {
    #[sqlx(rename = "portal_id")]
    pub scope: Scope,
    /// Epoch days (UTC).
    pub day: i64,
    /// What kind of call, at which API version: `crm.batch_read@2026-03`, …
    pub endpoint: String,
    pub status: i32,
    pub calls: i64,
}

#[async_trait]
pub trait Statistics: Send + Sync {
    /// Adds these counts to their (portal, minute) and (portal, day, endpoint, status)
    /// rows, in one transaction.
    async fn add_counts(
        &self,
        webhooks: &[WebhookCounts],
        api: &[ApiCounts],
        daily: &[DailyCalls],
    ) -> Result<(), StoreError>;

    /// The scope's daily calls from `from_day` on, by day, endpoint and status.
    async fn daily_calls(&self, scope: Scope, from_day: i64)
        -> Result<Vec<DailyCalls>, StoreError>;

    /// Sums of the scope's webhook rows from `from_minute` on.
    async fn webhook_totals(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<WebhookCounts, StoreError>;

    async fn api_totals(&self, scope: Scope, from_minute: i64) -> Result<ApiCounts, StoreError>;

    /// Sums from `from_minute` on for every portal with webhook counts (portal 0 and the
    /// app's rows left out).
    async fn webhook_totals_by_portal(
        &self,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError>;

    /// Sums from `from_minute` on for every portal with API counts.
    async fn api_totals_by_portal(&self, from_minute: i64) -> Result<Vec<ApiCounts>, StoreError>;

    /// The scope's webhook rows from `from_minute` on, oldest first.
    async fn webhook_series(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError>;

    /// The scope's API rows from `from_minute` on, oldest first.
    async fn api_series(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<Vec<ApiCounts>, StoreError>;

    /// Rolls the rows before `before_minute` up into one row per portal and `unit` minutes
    /// (60: hours; 1,440: days), kept at the unit's first minute, in one transaction; how
    /// many rows went.
    async fn roll_up_counts(&self, before_minute: i64, unit: i64) -> Result<u64, StoreError>;

    /// Deletes rows older than `before_minute` (daily calls: older than its day); how many.
    async fn prune_counts(&self, before_minute: i64) -> Result<u64, StoreError>;
}

/// Counts of a portal erased since they were gathered are dropped, not added back: the
/// condition on `$1`, the row's portal.
const NOT_ERASED: &str = "NOT EXISTS (SELECT 1 FROM erased_portals WHERE portal_id = $1)";

/// How a count column combines rows: added, or the largest kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Sum,
    Max,
}

/// A table of per-minute counts keyed by (portal, minute), and the SQL that adds to it,
/// sums it and rolls it up, written once for both tables.
struct MinuteTable {
    name: &'static str,
    columns: &'static [(&'static str, Fold)],
}

const WEBHOOK_MINUTES: MinuteTable = MinuteTable {
    name: WEBHOOK_TABLE,
    columns: &[
        ("attempts", Fold::Sum),
        ("successes", Fold::Sum),
        ("unauthorized", Fold::Sum),
        ("bad_request", Fold::Sum),
        ("too_large", Fold::Sum),
        ("unavailable", Fold::Sum),
        ("timeouts", Fold::Sum),
        ("errors", Fold::Sum),
        ("latency_ms_sum", Fold::Sum),
        ("latency_ms_max", Fold::Max),
        ("first_events", Fold::Sum),
        ("first_deliveries", Fold::Sum),
        ("retry_events", Fold::Sum),
        ("retry_deliveries", Fold::Sum),
        ("failed_first_events", Fold::Sum),
        ("failed_retry_events", Fold::Sum),
        ("revealed_first", Fold::Sum),
        ("revealed_retries", Fold::Sum),
    ],
};

const API_MINUTES: MinuteTable = MinuteTable {
    name: API_TABLE,
    columns: &[
        ("calls", Fold::Sum),
        ("errors", Fold::Sum),
        ("rate_limited", Fold::Sum),
    ],
};

impl MinuteTable {
    fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    /// Each column folded over a group of rows, as BIGINT (PostgreSQL sums to numeric).
    fn folded(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(name, fold)| match fold {
                Fold::Sum => format!("CAST(sum({name}) AS BIGINT)"),
                Fold::Max => format!("CAST(max({name}) AS BIGINT)"),
            })
            .collect()
    }

    /// How a row that exists already takes more of each column.
    fn added<B: Backend>(&self) -> String {
        let table = self.name;
        let sets: Vec<String> = self
            .columns
            .iter()
            .map(|(name, fold)| match fold {
                Fold::Sum => format!("{name} = {table}.{name} + excluded.{name}"),
                Fold::Max => format!(
                    "{name} = {}",
                    B::greatest(&format!("{table}.{name}"), &format!("excluded.{name}"))
                ),
            })
            .collect();
        format!(
            "ON CONFLICT (portal_id, minute) DO UPDATE SET {}",
            sets.join(", ")
        )
    }

    /// Adds `$3…` to the row of portal `$1`, minute `$2`, unless the portal was erased.
    fn add<B: Backend>(&self) -> String {
        let values: Vec<String> = (1..=self.columns.len() + 2)
            .map(|n| format!("${n}"))
            .collect();
        format!(
            "INSERT INTO {} (portal_id, minute, {}) SELECT {} WHERE {NOT_ERASED} {}",
            self.name,
            self.column_list(),
            values.join(", "),
            self.added::<B>()
        )
    }

    /// Sums from minute `$2` on: of portal `$1`, or (`by_portal`) of every portal with
    /// counts (portal 0 and the app-wide rows left out), `$1` then being the minute.
    fn sums(&self, by_portal: bool) -> String {
        let sums: Vec<String> = self
            .folded()
            .into_iter()
            .zip(self.columns)
            .map(|(folded, (name, _))| format!("coalesce({folded}, 0) AS {name}"))
            .collect();
        if by_portal {
            format!(
                "SELECT portal_id, CAST($1 AS BIGINT) AS minute, {} FROM {} \
                WHERE minute >= $1 AND portal_id > 0 GROUP BY portal_id ORDER BY portal_id",
                sums.join(", "),
                self.name
            )
        } else {
            format!(
                "SELECT CAST($1 AS BIGINT) AS portal_id, CAST($2 AS BIGINT) AS minute, {} FROM {} \
                WHERE portal_id = $1 AND minute >= $2",
                sums.join(", "),
                self.name
            )
        }
    }

    /// One portal's (`$1`) rows from minute `$2` on, oldest first.
    fn series(&self) -> String {
        format!(
            "SELECT portal_id, minute, {} FROM {} WHERE portal_id = $1 AND minute >= $2 ORDER BY minute",
            self.column_list(),
            self.name
        )
    }

    /// Rows before minute `$1` not on a `$2`-minute boundary, added into the row at the
    /// boundary before them.
    fn roll_up<B: Backend>(&self) -> String {
        format!(
            "INSERT INTO {table} (portal_id, minute, {columns}) \
            SELECT portal_id, minute / $2 * $2, {folded} FROM {table} \
            WHERE minute < $1 AND minute % $2 <> 0 GROUP BY portal_id, minute / $2 {added}",
            table = self.name,
            columns = self.column_list(),
            folded = self.folded().join(", "),
            added = self.added::<B>(),
        )
    }
}

#[async_trait]
impl<B: Backend> Statistics for B {
    async fn add_counts(
        &self,
        webhooks: &[WebhookCounts],
        api: &[ApiCounts],
        daily: &[DailyCalls],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let add_webhooks = WEBHOOK_MINUTES.add::<B>();
        for c in webhooks {
            let statement = Statement::new(add_webhooks.as_str())
                .bind(c.scope)
                .bind(c.minute);
            let statement = c.values().into_iter().fold(statement, Statement::bind);
            B::execute(&mut tx, statement).await?;
        }
        let add_api = API_MINUTES.add::<B>();
        for c in api {
            let statement = Statement::new(add_api.as_str())
                .bind(c.scope)
                .bind(c.minute);
            let statement = c.values().into_iter().fold(statement, Statement::bind);
            B::execute(&mut tx, statement).await?;
        }
        for c in daily {
            let add = format!(
                "INSERT INTO api_calls_daily (portal_id, day, endpoint, status, calls) \
                SELECT $1, $2, $3, $4, $5 WHERE {NOT_ERASED} \
                ON CONFLICT (portal_id, day, endpoint, status) \
                DO UPDATE SET calls = api_calls_daily.calls + excluded.calls"
            );
            let statement = Statement::new(add)
                .bind(c.scope)
                .bind(c.day)
                .bind(&c.endpoint)
                .bind(c.status)
                .bind(c.calls);
            B::execute(&mut tx, statement).await?;
        }
        B::commit(tx).await
    }

    async fn daily_calls(
        &self,
        scope: Scope,
        from_day: i64,
    ) -> Result<Vec<DailyCalls>, StoreError> {
        let statement = Statement::new(
            "SELECT portal_id, day, endpoint, status, calls FROM api_calls_daily \
            WHERE portal_id = $1 AND day >= $2 ORDER BY day, endpoint, status",
        )
        .bind(scope)
        .bind(from_day);
        self.fetch_all_on_pool(statement).await
    }

    async fn webhook_totals(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<WebhookCounts, StoreError> {
        let statement = Statement::new(WEBHOOK_MINUTES.sums(false))
            .bind(scope)
            .bind(from_minute);
        let sums = self.fetch_optional_on_pool(statement).await?;
        sums.ok_or(StoreError::NotFound)
    }

    async fn api_totals(&self, scope: Scope, from_minute: i64) -> Result<ApiCounts, StoreError> {
        let statement = Statement::new(API_MINUTES.sums(false))
            .bind(scope)
            .bind(from_minute);
        let sums = self.fetch_optional_on_pool(statement).await?;
        sums.ok_or(StoreError::NotFound)
    }

    async fn webhook_totals_by_portal(
        &self,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError> {
        let statement = Statement::new(WEBHOOK_MINUTES.sums(true)).bind(from_minute);
        self.fetch_all_on_pool(statement).await
    }

    async fn api_totals_by_portal(&self, from_minute: i64) -> Result<Vec<ApiCounts>, StoreError> {
        let statement = Statement::new(API_MINUTES.sums(true)).bind(from_minute);
        self.fetch_all_on_pool(statement).await
    }

    async fn webhook_series(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError> {
        let statement = Statement::new(WEBHOOK_MINUTES.series())
            .bind(scope)
            .bind(from_minute);
        self.fetch_all_on_pool(statement).await
    }

    async fn api_series(
        &self,
        scope: Scope,
        from_minute: i64,
    ) -> Result<Vec<ApiCounts>, StoreError> {
        let statement = Statement::new(API_MINUTES.series())
            .bind(scope)
            .bind(from_minute);
        self.fetch_all_on_pool(statement).await
    }

    async fn roll_up_counts(&self, before_minute: i64, unit: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut rolled = 0;
        for table in [WEBHOOK_MINUTES, API_MINUTES] {
            let roll_up = Statement::new(table.roll_up::<B>())
                .bind(before_minute)
                .bind(unit);
            B::execute(&mut tx, roll_up).await?;
            let drop_rolled = format!(
                "DELETE FROM {} WHERE minute < $1 AND minute % $2 <> 0",
                table.name
            );
            let drop_rolled = Statement::new(drop_rolled).bind(before_minute).bind(unit);
            rolled += B::execute(&mut tx, drop_rolled).await?;
        }
        B::commit(tx).await?;
        Ok(rolled)
    }

    async fn prune_counts(&self, before_minute: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut pruned = 0;
        for table in [WEBHOOK_TABLE, API_TABLE] {
            let prune = format!("DELETE FROM {table} WHERE minute < $1");
            pruned += B::execute(&mut tx, Statement::new(prune).bind(before_minute)).await?;
        }
        let prune_daily = Statement::new("DELETE FROM api_calls_daily WHERE day < $1")
            .bind(before_minute.div_euclid(MINUTES_PER_DAY));
        pruned += B::execute(&mut tx, prune_daily).await?;
        B::commit(tx).await?;
        Ok(pruned)
    }
}
