//! SQLite has one writer. Left to SQLite, a writer that finds the lock taken sleeps in its
//! busy handler (1, 2, 5, 10 … 100 ms) and retries, so a webhook's group commit could
//! sleep tens of milliseconds behind a hydrator settlement that has long finished. Writers
//! of this process therefore queue here instead, and the receiver comes first: a
//! background writer (hydrator, sinks, monitor, installs) that gets the lock while a group
//! commit waits lets the group commit go first, so webhooks wait for at most one
//! background write. So that a receiver at saturation cannot stop the hydrator for good, a
//! background writer stops yielding once it has waited [`MAX_YIELD`].
//! SQLite's lock stays the real exclusion, and its busy timeout the wait for other
//! processes (`spoke` commands, an operator's `sqlite3`): a group commit stops waiting here
//! after [`INGEST_MAX_WAIT`], so a background writer stuck behind another process cannot
//! add its own wait to the receiver's and turn a prompt `503` into a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a background writer lets group commits go first, at most.
const MAX_YIELD: Duration = Duration::from_millis(100);

/// How long a group commit waits here before it goes on to SQLite's own lock regardless.
/// Writes of this process take milliseconds; a longer wait means another process holds
/// the database.
const INGEST_MAX_WAIT: Duration = Duration::from_secs(1);

/// Who is asking to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The receiver's group commits: first in line.
    Ingest,
    /// Everything else.
    Background,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct WriteGate {
    /// Held for the whole of a write; tokio's mutex serves waiters in order.
    lock: Arc<Mutex<()>>,
    /// Held by the one background writer allowed to wait for (or hold) `lock`.
    background: Arc<Mutex<()>>,
    /// Group commits waiting for `lock`.
    ingest_waiting: Arc<AtomicUsize>,
}

/// A writer's turn: the lock is free again when this is dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    _lock: Option<OwnedMutexGuard<()>>,
    _background: Option<OwnedMutexGuard<()>>,
}

impl WriteGate {
    pub(crate) async fn turn(&self, writer: Writer) -> Turn {
        match writer {
            Writer::Ingest => {
                let waiting = Waiting::count(&self.ingest_waiting);
                let lock = self.lock.clone().lock_owned();
                let lock = tokio::time::timeout(INGEST_MAX_WAIT, lock).await.ok();
                drop(waiting);
                Turn {
                    _lock: lock,
                    _background: None,
                }
            }
            Writer::Background => {
                let background = self.background.clone().lock_owned().await;
                let since = Instant::now();
                loop {
                    let lock = self.lock.clone().lock_owned().await;
                    if self.ingest_waiting.load(Ordering::SeqCst) == 0
                        || since.elapsed() >= MAX_YIELD
                    {
                        return Turn {
                            _lock: Some(lock),
                            _background: Some(background),
                        };
                    }
                    // The waiting group commit is next in the mutex's queue (or about to
                    // be): this writer queues again behind it.
                    drop(lock);
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

/// A group commit counted as waiting while this lives, also when its caller gives up
/// (the future dropped) mid-wait.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets every other task run until it waits.
    async fn settle_tasks() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// Which of a background writer and a group commit, queued in that order behind a
    /// write of `first`, writes first.
    async fn order_behind(first: Writer) -> Vec<&'static str> {
        let gate = WriteGate::default();
        let first = gate.turn(first).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let queued = |writer: Writer, name: &'static str| {
            let (gate, order) = (gate.clone(), order.clone());
            tokio::spawn(async move {
                let _turn = gate.turn(writer).await;
                order.lock().expect("order").push(name);
            })
        };
        let background = queued(Writer::Background, "background");
        settle_tasks().await;
        let ingest = queued(Writer::Ingest, "ingest");
        settle_tasks().await;
        drop(first);
        background.await.expect("background");
        ingest.await.expect("ingest");
        let order = order.lock().expect("order").clone();
        order
    }

    #[tokio::test]
    async fn a_group_commit_goes_before_a_background_write_queued_earlier() {
        // Behind a background write, the next one waits for its turn among the background
        // writers; behind a group commit, it is next for the lock and lets the commit by.
        assert_eq!(
            order_behind(Writer::Background).await,
            ["ingest", "background"]
        );
        assert_eq!(order_behind(Writer::Ingest).await, ["ingest", "background"]);
    }
}
