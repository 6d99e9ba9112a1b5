//! The inbox on PostgreSQL: a whole group commit is one `INSERT … SELECT FROM UNNEST`
//! statement (one round trip, one commit). `RETURNING` names the keys that were new; a
//! trigger queues them for the hydrator (its migration says why there).

use async_trait::async_trait;

use super::PgStore;
use crate::{AppendOutcome, EventKey, Inbox, NewEvent, StoreError};

const INSERT_EVENTS: &str = "INSERT INTO inbox_events \
    (portal_id, subscription_id, event_id, object_id, occurred_at, subscription_type, app_id, attempt_number, payload, trace_context, received_at) \
    SELECT p, s, e, o, t, st, a, n, j::json, c, to_timestamp($11::float8 / 1000) FROM UNNEST(\
        $1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::int8[], $8::int4[], $9::text[], $10::text[]\
    ) AS input(p, s, e, o, t, st, a, n, j, c) \
    ON CONFLICT DO NOTHING \
    RETURNING portal_id, subscription_id, event_id, object_id, occurred_at";

const BACKLOG_COUNT: &str = "SELECT count(*) FROM inbox_queue WHERE state = 'pending'";

/// The statement's parameters, one array per column.
#[derive(Default)]
struct Columns<'a> {
    portal: Vec<i64>,
    subscription: Vec<i64>,
    event: Vec<i64>,
    object: Vec<i64>,
    occurred: Vec<i64>,
    kind: Vec<&'a str>,
    app: Vec<Option<i64>>,
    attempt: Vec<i32>,
    payload: Vec<&'a str>,
    trace: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, event: &'a NewEvent) {
        let k = &event.key;
        self.portal.push(k.portal_id.0);
        self.subscription.push(k.subscription_id);
        self.event.push(k.event_id);
        self.object.push(k.object_id.0);
        self.occurred.push(k.occurred_at);
        self.kind.push(&event.subscription_type);
        self.app.push(event.app_id);
        self.attempt.push(event.attempt_number);
        self.payload.push(&event.payload);
        self.trace.push(event.trace_context.as_deref());
    }
}

#[async_trait]
impl Inbox for PgStore {
    async fn append(
        &self,
        deliveries: &[Vec<NewEvent>],
        received_ms: i64,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let mut columns = Columns::default();
        deliveries.iter().flatten().for_each(|e| columns.push(e));
        let returned: Vec<EventKey> = sqlx::query_as(INSERT_EVENTS)
            .bind(columns.portal)
            .bind(columns.subscription)
            .bind(columns.event)
            .bind(columns.object)
            .bind(columns.occurred)
            .bind(columns.kind)
            .bind(columns.app)
            .bind(columns.attempt)
            .bind(columns.payload)
            .bind(columns.trace)
            .bind(received_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(AppendOutcome::attribute(
            deliveries,
            returned.into_iter().collect(),
        ))
    }

    async fn backlog_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(BACKLOG_COUNT)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.try_into().unwrap_or(0))
    }
}
