//! Group commit: many concurrent deliveries share one database transaction.
//!
//! Handlers hand their events to [`Ingest::submit`] and wait for the verdict. One writer
//! task takes whatever has queued up while the previous commit was running and stores it
//! with one [`Inbox::append`] (one commit, one fsync), so the cost of durability is paid
//! once per group instead of once per request, with no timer adding latency when idle.
//! On PostgreSQL a few commits overlap ([`Ingest::start_overlapping`]): while one waits on
//! the server's fsync the next group is already on its way, so the cores rather than the
//! wait set the rate. SQLite has one writer at a time, so there groups commit in turn.
//! Admission control refuses work (`503`, HubSpot retries) when the queue or the inbox
//! backlog is over its limit, and a wait longer than [`ACK_BUDGET`] is refused too, so
//! HubSpot hears "retry" rather than a timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hubspot::time::Clock;
use store::{AppendOutcome, Inbox, NewEvent, StoreError};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How long a delivery may wait for its commit. HubSpot gives up after 5 s; answering
/// `503` before that keeps the failure ours to describe and leaves room for the network.
pub const ACK_BUDGET: Duration = Duration::from_secs(4);

/// Most events one commit carries; more wait for the next group. Bounds transaction size
/// (and PostgreSQL's array parameters) while still amortising the fsync.
const MAX_GROUP_EVENTS: usize = 5_000;

/// Deliveries that may wait for the writer before new ones are refused outright.
const QUEUE_CAPACITY: usize = 4_096;

/// How often the backlog estimate is re-read from the database, which also sees events
/// that other instances stored or workers finished.
pub const BACKLOG_REFRESH: Duration = Duration::from_secs(5);

/// Why a delivery was not made durable; each means "answer 503 so HubSpot retries",
/// except `Failed`, a fault of ours. A failed commit's store error is shared by every
/// delivery in the group, so each response's log carries the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("storage unavailable")]
    Unavailable(#[source] Arc<StoreError>),
    #[error("storage failed")]
    Failed(#[source] Arc<StoreError>),
    #[error("inbox backlog is full")]
    BacklogFull,
    #[error("storage did not confirm in time")]
    TimedOut,
    #[error("shutting down")]
    ShuttingDown,
}

impl IngestError {
    /// A fault of ours (`500`) rather than a passing condition (`503`).
    pub fn is_fault(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    fn of_commit(error: StoreError) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(Arc::new(error))
        } else {
            Self::Failed(Arc::new(error))
        }
    }
}

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendOutcome, IngestError>>,
}

/// An estimate of the inbox's pending events, for admission control: re-read from the
/// database now and then, and raised by every commit in between.
#[derive(Debug)]
pub struct Backlog {
    limit: u64,
    pending: AtomicU64,
}

impl Backlog {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            pending: AtomicU64::new(0),
        }
    }

    fn admits(&self, events: usize) -> bool {
        self.pending.load(Ordering::Relaxed) + events as u64 <= self.limit
    }

    fn add(&self, stored: u64) {
        self.pending.fetch_add(stored, Ordering::Relaxed);
    }

    /// Re-reads the pending count from the store; keeps the old estimate on failure.
    pub async fn refresh(&self, inbox: &dyn Inbox) {
        match inbox.backlog_count().await {
            Ok(count) => self.pending.store(count, Ordering::Relaxed),
            Err(error) => warn!(error = %error, "could not read the inbox backlog"),
        }
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

/// The sending side of group commit; cheap to clone into every handler.
#[derive(Clone, Debug)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
    backlog: Arc<Backlog>,
}

/// Owns the writer task; [`Writer::finish`] lets it drain and waits for it.
#[derive(Debug)]
pub struct Writer {
    closing: CancellationToken,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("events", &self.events.len())
            .finish()
    }
}

impl Ingest {
    /// Starts the writer, one commit at a time; events are received when `clock` says their
    /// group commits. Everything submitted before [`Writer::finish`] returns is answered.
    pub fn start(inbox: Arc<dyn Inbox>, backlog: Arc<Backlog>, clock: Clock) -> (Self, Writer) {
        Self::start_overlapping(inbox, backlog, 1, clock)
    }

    /// Starts the writer with up to `commits` commits in flight at once.
    pub fn start_overlapping(
        inbox: Arc<dyn Inbox>,
        backlog: Arc<Backlog>,
        commits: usize,
        clock: Clock,
    ) -> (Self, Writer) {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let closing = CancellationToken::new();
        let task = tokio::spawn(write_groups(
            inbox,
            queue,
            backlog.clone(),
            commits.max(1),
            closing.clone(),
            clock,
        ));
        (Self { jobs, backlog }, Writer { closing, task })
    }

    /// Makes a delivery's events durable. `Ok` means committed: only then may the caller
    /// acknowledge the delivery.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<AppendOutcome, IngestError> {
        if !self.backlog.admits(events.len()) {
            return Err(IngestError::BacklogFull);
        }
        let (reply, verdict) = oneshot::channel();
        self.jobs
            .try_send(Job { events, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::BacklogFull,
                mpsc::error::TrySendError::Closed(_) => IngestError::ShuttingDown,
            })?;
        match tokio::time::timeout(ACK_BUDGET, verdict).await {
            Err(_) => Err(IngestError::TimedOut),
            Ok(Err(_)) => Err(IngestError::ShuttingDown),
            Ok(Ok(result)) => result,
        }
    }
}

impl Writer {
    /// Stops taking new deliveries, commits the ones already queued, and waits.
    pub async fn finish(self) {
        self.closing.cancel();
        if let Err(error) = self.task.await {
            warn!(error = %error, "ingest writer ended abnormally");
        }
    }
}

async fn write_groups(
    inbox: Arc<dyn Inbox>,
    mut queue: mpsc::Receiver<Job>,
    backlog: Arc<Backlog>,
    commits: usize,
    closing: CancellationToken,
    clock: Clock,
) {
    let slots = Arc::new(Semaphore::new(commits));
    let mut in_flight = JoinSet::new();
    loop {
        // A free slot first: while every commit is in flight, deliveries keep queueing and
        // the next group grows.
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        while in_flight.try_join_next().is_some() {}
        let first = tokio::select! {
            biased;
            job = queue.recv() => job,
            () = closing.cancelled() => {
                queue.close();
                queue.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut group = vec![first];
        let mut events = group[0].events.len();
        while events < MAX_GROUP_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let (inbox, backlog, received_ms) = (inbox.clone(), backlog.clone(), clock.now_ms());
        in_flight.spawn(async move {
            commit(inbox.as_ref(), group, received_ms, &backlog).await;
            drop(slot);
        });
    }
    in_flight.join_all().await;
}

async fn commit(inbox: &dyn Inbox, group: Vec<Job>, received_ms: i64, backlog: &Backlog) {
    let (deliveries, replies): (Vec<_>, Vec<_>) =
        group.into_iter().map(|j| (j.events, j.reply)).unzip();
    let results = match inbox.append(&deliveries, received_ms).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // The database refused one delivery's data: each is committed on its own, so only
        // that one fails and its neighbours are stored; those whose caller gave up are not.
        Err(error) if error.is_refused_data() && deliveries.len() > 1 => {
            debug!(
                deliveries = deliveries.len(),
                "group commit refused: one by one"
            );
            let mut results = Vec::with_capacity(deliveries.len());
            for (delivery, reply) in deliveries.iter().zip(&replies) {
                if reply.is_closed() {
                    results.push(Err(IngestError::TimedOut));
                    continue;
                }
                let alone = inbox
                    .append(std::slice::from_ref(delivery), received_ms)
                    .await;
                results.push(
                    alone
                        .map(|mut outcomes| outcomes.remove(0))
                        .map_err(IngestError::of_commit),
                );
            }
            results
        }
        Err(error) => {
            // Each waiting delivery logs the cause with its 503; here only the group's size.
            debug!(deliveries = deliveries.len(), "group commit failed");
            vec![Err(IngestError::of_commit(error)); deliveries.len()]
        }
    };
    let stored: u64 = results.iter().flatten().map(|o| u64::from(o.stored)).sum();
    backlog.add(stored);
    debug!(deliveries = deliveries.len(), stored, "group committed");
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use store::{EventKey, ObjectId, PortalId};
    use tokio::sync::Notify;

    use super::*;

    /// An inbox that records each commit's deliveries and can hold the first commit open.
    #[derive(Default)]
    struct GatedInbox {
        groups: Mutex<Vec<usize>>,
        started: Notify,
        release: Notify,
        hold_first: bool,
        fail_with: Option<fn() -> StoreError>,
        /// Refuses (as a database refuses bad content) any append holding this event id.
        refuse_event: Option<i64>,
    }

    #[async_trait]
    impl Inbox for GatedInbox {
        async fn append(
            &self,
            deliveries: &[Vec<NewEvent>],
            _received_ms: i64,
        ) -> Result<Vec<AppendOutcome>, StoreError> {
            let first = {
                let mut groups = self.groups.lock().expect("lock");
                groups.push(deliveries.len());
                groups.len() == 1
            };
            if first && self.hold_first {
                self.started.notify_one();
                self.release.notified().await;
            }
            if let Some(error) = self.fail_with {
                return Err(error());
            }
            let refused = |e: &NewEvent| Some(e.key.event_id) == self.refuse_event;
            if deliveries.iter().flatten().any(refused) {
                return Err(StoreError::RefusedData(sqlx::Error::Protocol(
                    "bad content".into(),
                )));
            }
            Ok(deliveries
                .iter()
                .map(|d| AppendOutcome {
                    stored: d.len() as u32,
                    duplicates: 0,
                })
                .collect())
        }

        async fn backlog_count(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn events(n: i64) -> Vec<NewEvent> {
        (0..n)
            .map(|i| NewEvent {
                key: EventKey {
                    portal_id: PortalId(1),
                    subscription_id: 1,
                    event_id: i,
                    object_id: ObjectId(i),
                    occurred_at: 0,
                },
                subscription_type: "contact.creation".into(),
                app_id: None,
                attempt_number: 0,
                payload: "{}".into(),
                trace_context: None,
            })
            .collect()
    }

    fn spawn_submit(ingest: &Ingest, n: i64) -> JoinHandle<Result<AppendOutcome, IngestError>> {
        let ingest = ingest.clone();
        tokio::spawn(async move { ingest.submit(events(n)).await })
    }

    /// Ingest over a gated inbox whose first commit (one 1-event delivery) is in progress
    /// and held open until `inbox.release` is notified.
    async fn with_first_commit_held() -> (
        Arc<GatedInbox>,
        Ingest,
        Writer,
        JoinHandle<Result<AppendOutcome, IngestError>>,
    ) {
        let inbox = Arc::new(GatedInbox {
            hold_first: true,
            ..Default::default()
        });
        let (ingest, writer) = Ingest::start(
            inbox.clone(),
            Arc::new(Backlog::new(1_000)),
            Clock::system(),
        );
        let first = spawn_submit(&ingest, 1);
        inbox.started.notified().await;
        (inbox, ingest, writer, first)
    }

    /// Yields until `ready` holds; the tasks it waits for run on this runtime.
    async fn until(ready: impl Fn() -> bool) {
        while !ready() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn deliveries_arriving_during_a_commit_share_the_next_one() {
        let (inbox, ingest, writer, first) = with_first_commit_held().await;

        let waiting: Vec<_> = (0..10).map(|_| spawn_submit(&ingest, 3)).collect();
        until(|| ingest.jobs.capacity() == QUEUE_CAPACITY - 10).await;
        inbox.release.notify_one();

        assert_eq!(first.await.expect("task").expect("stored").stored, 1);
        for delivery in waiting {
            assert_eq!(delivery.await.expect("task").expect("stored").stored, 3);
        }
        assert_eq!(*inbox.groups.lock().expect("lock"), vec![1, 10]);
        writer.finish().await;
    }

    #[tokio::test]
    async fn with_commits_overlapping_a_held_commit_does_not_hold_up_the_next() {
        let inbox = Arc::new(GatedInbox {
            hold_first: true,
            ..Default::default()
        });
        let (ingest, writer) = Ingest::start_overlapping(
            inbox.clone(),
            Arc::new(Backlog::new(1_000)),
            2,
            Clock::system(),
        );
        let first = spawn_submit(&ingest, 1);
        inbox.started.notified().await;

        let second = spawn_submit(&ingest, 2)
            .await
            .expect("task")
            .expect("stored");
        assert_eq!(second.stored, 2, "committed while the first is still open");
        assert!(!first.is_finished());
        inbox.release.notify_one();
        assert_eq!(first.await.expect("task").expect("stored").stored, 1);
        writer.finish().await;
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_delivery_in_it_with_the_right_class() {
        /// What a delivery hears when every commit fails with `error`.
        async fn verdict(error: fn() -> StoreError) -> Result<AppendOutcome, IngestError> {
            let inbox = Arc::new(GatedInbox {
                fail_with: Some(error),
                ..Default::default()
            });
            let (ingest, writer) =
                Ingest::start(inbox, Arc::new(Backlog::new(1_000)), Clock::system());
            let verdict = ingest.submit(events(2)).await;
            writer.finish().await;
            verdict
        }
        assert!(matches!(
            verdict(|| StoreError::Unavailable(sqlx::Error::PoolTimedOut)).await,
            Err(IngestError::Unavailable(_))
        ));
        assert!(matches!(
            verdict(|| StoreError::Other(sqlx::Error::RowNotFound)).await,
            Err(IngestError::Failed(_))
        ));
    }

    #[tokio::test]
    async fn one_delivery_the_database_refuses_does_not_fail_its_neighbours() {
        let inbox = Arc::new(GatedInbox {
            hold_first: true,
            refuse_event: Some(2),
            ..Default::default()
        });
        let (ingest, writer) = Ingest::start(
            inbox.clone(),
            Arc::new(Backlog::new(1_000)),
            Clock::system(),
        );
        let first = spawn_submit(&ingest, 1);
        inbox.started.notified().await;
        // Three deliveries wait for the next commit; the last holds the refused event.
        let waiting: Vec<_> = [1, 2, 3].map(|n| spawn_submit(&ingest, n)).into();
        until(|| ingest.jobs.capacity() == QUEUE_CAPACITY - 3).await;
        inbox.release.notify_one();

        assert!(first.await.expect("task").is_ok());
        let verdicts: Vec<bool> = futures_util::future::join_all(waiting)
            .await
            .into_iter()
            .map(|v| v.expect("task").is_ok())
            .collect();
        assert_eq!(verdicts, [true, true, false]);
        assert_eq!(*inbox.groups.lock().expect("lock"), vec![1, 3, 1, 1, 1]);
        writer.finish().await;
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_before_anything_is_written() {
        let inbox = Arc::new(GatedInbox::default());
        let backlog = Arc::new(Backlog::new(5));
        let (ingest, writer) = Ingest::start(inbox.clone(), backlog.clone(), Clock::system());

        assert_eq!(
            ingest.submit(events(4)).await.map(|o| o.stored).ok(),
            Some(4)
        );
        assert_eq!(backlog.pending(), 4);
        assert!(matches!(
            ingest.submit(events(2)).await,
            Err(IngestError::BacklogFull)
        ));
        assert_eq!(
            ingest.submit(events(1)).await.map(|o| o.stored).ok(),
            Some(1)
        );
        assert_eq!(*inbox.groups.lock().expect("lock"), vec![1, 1]);
        writer.finish().await;
    }

    #[tokio::test]
    async fn finishing_commits_what_is_queued_and_refuses_what_comes_after() {
        let (inbox, ingest, writer, first) = with_first_commit_held().await;
        let queued = spawn_submit(&ingest, 2);
        until(|| ingest.jobs.capacity() == QUEUE_CAPACITY - 1).await;

        let finishing = tokio::spawn(writer.finish());
        inbox.release.notify_one();
        finishing.await.expect("writer finishes");

        assert_eq!(first.await.expect("task").map(|o| o.stored).ok(), Some(1));
        assert_eq!(queued.await.expect("task").map(|o| o.stored).ok(), Some(2));
        assert!(matches!(
            ingest.submit(events(1)).await,
            Err(IngestError::ShuttingDown)
        ));
    }
}
