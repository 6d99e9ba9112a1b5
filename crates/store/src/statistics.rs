//! The certification monitor's per-minute counts, per portal: webhook deliveries spoke
//! answered and the API calls it made. Counts are added (a flush adds what a process
//! gathered since the last one), so several instances write the same rows safely; sums
//! over a window and per-minute series are read back. Older minutes are rolled up into
//! one row per hour (kept at the hour's first minute, so sums need no other table).

use async_trait::async_trait;

use crate::StoreError;

/// The rows that sum every portal's counts (written beside each portal's, so app-wide
/// figures read a handful of rows whatever the number of portals).
pub const APP_WIDE: i64 = -1;

/// The tables' names, for [`crate::Erasure`].
pub(crate) const WEBHOOK_TABLE: &str = "webhook_minutes";
pub(crate) const API_TABLE: &str = "api_minutes";
pub(crate) const DAILY_CALLS_TABLE: &str = "api_calls_daily";

/// Minutes in a day: the daily calls' `day` is an instant's minute divided by this.
pub const MINUTES_PER_DAY: i64 = 1_440;

/// Webhook deliveries of one portal in one minute, or sums of such rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookCounts {
    /// `0` for deliveries whose body named no portal; [`APP_WIDE`] for the sums of all.
    pub portal_id: i64,
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
    pub portal_id: i64,
    pub minute: i64,
    pub calls: i64,
    /// Not `2xx` (no answer included).
    pub errors: i64,
    pub rate_limited: i64,
}

impl ApiCounts {
    pub fn add(&mut self, other: &Self) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.rate_limited += other.rate_limited;
    }
}

/// API calls of one portal (or [`APP_WIDE`]) on one day to one endpoint class, answered
/// with one status (0: no answer).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyCalls {
    pub portal_id: i64,
    /// Epoch days (UTC).
    pub day: i64,
    /// What kind of call: `crm.batch_read`, …
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

    /// One portal's (or, `None`, the app-wide) daily calls from `from_day` on, by day,
    /// endpoint and status.
    async fn daily_calls(
        &self,
        portal_id: Option<i64>,
        from_day: i64,
    ) -> Result<Vec<DailyCalls>, StoreError>;

    /// Sums of the webhook rows from `from_minute` on, of one portal or (`None`) the
    /// app-wide rows.
    async fn webhook_totals(
        &self,
        portal_id: Option<i64>,
        from_minute: i64,
    ) -> Result<WebhookCounts, StoreError>;

    async fn api_totals(
        &self,
        portal_id: Option<i64>,
        from_minute: i64,
    ) -> Result<ApiCounts, StoreError>;

    /// Sums from `from_minute` on for every portal with webhook counts (portal 0 and the
    /// app-wide rows left out).
    async fn webhook_totals_by_portal(
        &self,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError>;

    /// Sums from `from_minute` on for every portal with API counts.
    async fn api_totals_by_portal(&self, from_minute: i64) -> Result<Vec<ApiCounts>, StoreError>;

    /// One portal's webhook rows from `from_minute` on, oldest first.
    async fn webhook_series(
        &self,
        portal_id: i64,
        from_minute: i64,
    ) -> Result<Vec<WebhookCounts>, StoreError>;

    /// One portal's API rows from `from_minute` on, oldest first.
    async fn api_series(
        &self,
        portal_id: i64,
        from_minute: i64,
    ) -> Result<Vec<ApiCounts>, StoreError>;

    /// Rolls the rows before `before_minute` up into one row per portal and `unit` minutes
    /// (60: hours; 1,440: days), kept at the unit's first minute, in one transaction; how
    /// many rows went.
    async fn roll_up_counts(&self, before_minute: i64, unit: i64) -> Result<u64, StoreError>;

    /// Deletes rows older than `before_minute` (daily calls: older than its day); how many.
    async fn prune_counts(&self, before_minute: i64) -> Result<u64, StoreError>;
}

/// Expands the implementation in an engine module defining `ADD_WEBHOOK`, `ADD_API`,
/// `WEBHOOK_TOTALS`, `API_TOTALS`, `WEBHOOK_BY_PORTAL`, `API_BY_PORTAL`, `WEBHOOK_SERIES`,
/// `API_SERIES`, `ROLL_UP_WEBHOOK`, `ROLL_UP_API`, `DROP_ROLLED_WEBHOOK`, `DROP_ROLLED_API`,
/// `PRUNE_WEBHOOK`, `PRUNE_API`, `ADD_DAILY`, `DAILY` and `PRUNE_DAILY`.
macro_rules! impl_statistics {
    ($store:ty) => {
        use crate::statistics::{ApiCounts, DailyCalls, WebhookCounts};
        use crate::StoreError;

        #[async_trait::async_trait]
        impl crate::Statistics for $store {
            async fn add_counts(
                &self,
                webhooks: &[WebhookCounts],
                api: &[ApiCounts],
                daily: &[DailyCalls],
            ) -> Result<(), StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                for c in webhooks {
                    sqlx::query(ADD_WEBHOOK)
                        .bind(c.portal_id)
                        .bind(c.minute)
                        .bind(c.attempts)
                        .bind(c.successes)
                        .bind(c.unauthorized)
                        .bind(c.bad_request)
                        .bind(c.too_large)
                        .bind(c.unavailable)
                        .bind(c.timeouts)
                        .bind(c.errors)
                        .bind(c.latency_ms_sum)
                        .bind(c.latency_ms_max)
                        .bind(c.first_events)
                        .bind(c.first_deliveries)
                        .bind(c.retry_events)
                        .bind(c.retry_deliveries)
                        .bind(c.failed_first_events)
                        .bind(c.failed_retry_events)
                        .bind(c.revealed_first)
                        .bind(c.revealed_retries)
                        .execute(&mut *tx)
                        .await?;
                }
                for c in api {
                    sqlx::query(ADD_API)
                        .bind(c.portal_id)
                        .bind(c.minute)
                        .bind(c.calls)
                        .bind(c.errors)
                        .bind(c.rate_limited)
                        .execute(&mut *tx)
                        .await?;
                }
                for c in daily {
                    sqlx::query(ADD_DAILY)
                        .bind(c.portal_id)
                        .bind(c.day)
                        .bind(&c.endpoint)
                        .bind(c.status)
                        .bind(c.calls)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn daily_calls(
                &self,
                portal_id: Option<i64>,
                from_day: i64,
            ) -> Result<Vec<DailyCalls>, StoreError> {
                Ok(sqlx::query_as(DAILY)
                    .bind(portal_id.unwrap_or(crate::statistics::APP_WIDE))
                    .bind(from_day)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn webhook_totals(
                &self,
                portal_id: Option<i64>,
                from_minute: i64,
            ) -> Result<WebhookCounts, StoreError> {
                Ok(sqlx::query_as(WEBHOOK_TOTALS)
                    .bind(portal_id.unwrap_or(crate::statistics::APP_WIDE))
                    .bind(from_minute)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn api_totals(
                &self,
                portal_id: Option<i64>,
                from_minute: i64,
            ) -> Result<ApiCounts, StoreError> {
                Ok(sqlx::query_as(API_TOTALS)
                    .bind(portal_id.unwrap_or(crate::statistics::APP_WIDE))
                    .bind(from_minute)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn webhook_totals_by_portal(
                &self,
                from_minute: i64,
            ) -> Result<Vec<WebhookCounts>, StoreError> {
                Ok(sqlx::query_as(WEBHOOK_BY_PORTAL)
                    .bind(from_minute)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn api_totals_by_portal(
                &self,
                from_minute: i64,
            ) -> Result<Vec<ApiCounts>, StoreError> {
                Ok(sqlx::query_as(API_BY_PORTAL)
                    .bind(from_minute)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn webhook_series(
                &self,
                portal_id: i64,
                from_minute: i64,
            ) -> Result<Vec<WebhookCounts>, StoreError> {
                Ok(sqlx::query_as(WEBHOOK_SERIES)
                    .bind(portal_id)
                    .bind(from_minute)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn api_series(
                &self,
                portal_id: i64,
                from_minute: i64,
            ) -> Result<Vec<ApiCounts>, StoreError> {
                Ok(sqlx::query_as(API_SERIES)
                    .bind(portal_id)
                    .bind(from_minute)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn roll_up_counts(
                &self,
                before_minute: i64,
                unit: i64,
            ) -> Result<u64, StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                let mut rolled = 0;
                for (roll_up, drop) in [
                    (ROLL_UP_WEBHOOK, DROP_ROLLED_WEBHOOK),
                    (ROLL_UP_API, DROP_ROLLED_API),
                ] {
                    sqlx::query(roll_up)
                        .bind(before_minute)
                        .bind(unit)
                        .execute(&mut *tx)
                        .await?;
                    rolled += sqlx::query(drop)
                        .bind(before_minute)
                        .bind(unit)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(rolled)
            }

            async fn prune_counts(&self, before_minute: i64) -> Result<u64, StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                let mut pruned = 0;
                for sql in [PRUNE_WEBHOOK, PRUNE_API] {
                    pruned += sqlx::query(sql)
                        .bind(before_minute)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                pruned += sqlx::query(PRUNE_DAILY)
                    .bind(before_minute.div_euclid(crate::statistics::MINUTES_PER_DAY))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(pruned)
            }
        }
    };
}

pub(crate) use impl_statistics;
