//! SQLite has one writer. Left to SQLite, a writer that finds the lock taken sleeps in its
//! busy handler (1, 2, 5, 10 … 100 ms) and retries, so a webhook's group commit could
//! sleep tens of milliseconds behind a hydrator settlement that has long finished. Writers
//! of this process therefore queue here instead, and the receiver comes first.
//!
//! The gate shares the lock's time, not turns: a background writer (hydrator, sinks,
//! monitor, installs) writes at once while the lock has time to spare, but while the
//! receiver keeps it busy, background writes get [`BACKGROUND_SHARE`] of the lock's time
//! and the receiver the rest. Measured with `scripts/bench.sh serve`, the receiver alone
//! holds the lock 95% of the time at saturation; the hydrator's settlements, each holding it
//! 12–20 ms, had taken up to half of it once the workers were on. The share is also the
//! background writers' guarantee: a receiver at saturation never stops the hydrator, and a
//! background writer over its share waits for the past to decay below it (a few hundred
//! milliseconds after a long write).
//!
//! SQLite's lock stays the real exclusion, and its busy timeout the wait for other
//! processes (`spoke` commands, an operator's `sqlite3`): a group commit stops waiting here
//! after [`INGEST_MAX_WAIT`], so a background writer stuck behind another process cannot
//! add its own wait to the receiver's and turn a prompt `503` into a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

/// The share of the lock's time background writers get while the receiver keeps it busy.
const BACKGROUND_SHARE: f64 = 0.1;

/// The lock is busy once the receiver held it this share of the recent past: at
/// saturation it holds it about 90% of the time beside the background's share, at half
/// rate about half.
const BUSY: f64 = 0.75;

/// How far back "recent" reaches: the time constant of the decay that weighs the past.
const WINDOW: Duration = Duration::from_millis(500);

/// How long a background writer over its share waits before it asks again.
const RECHECK: Duration = Duration::from_millis(2);

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
    /// How much of the recent past each kind of writer held `lock`.
    usage: Arc<std::sync::Mutex<Usage>>,
}

/// A writer's turn: the lock is free again when this is dropped, and its time is counted.
/// Fields drop in order: the time is counted before the next writer can look at it.
#[derive(Debug)]
pub(crate) struct Turn {
    _held: Held,
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
                    _held: self.held(writer),
                }
            }
            Writer::Background => {
                let background = self.background.clone().lock_owned().await;
                loop {
                    let lock = self.lock.clone().lock_owned().await;
                    let ingest_waiting = self.ingest_waiting.load(Ordering::SeqCst) > 0;
                    if self.usage().background_may_write(ingest_waiting) {
                        return Turn {
                            _lock: Some(lock),
                            _background: Some(background),
                            _held: self.held(writer),
                        };
                    }
                    // Over its share: the group commits queued behind it go first.
                    drop(lock);
                    tokio::time::sleep(RECHECK).await;
                }
            }
        }
    }

    fn held(&self, writer: Writer) -> Held {
        Held {
            usage: self.usage.clone(),
            writer,
            since: Instant::now(),
        }
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The recent share of the lock's time each kind of writer held.
#[derive(Debug, Default)]
struct Usage {
    ingest: Decaying,
    background: Decaying,
}

impl Usage {
    /// Under its share, a background writer writes. Over it, it writes only while no group
    /// commit waits and the receiver kept the lock less than busy.
    fn background_may_write(&self, ingest_waiting: bool) -> bool {
        let now = Instant::now();
        self.background.share(now) < BACKGROUND_SHARE
            || (!ingest_waiting && self.ingest.share(now) < BUSY)
    }

    fn add(&mut self, writer: Writer, since: Instant, now: Instant) {
        match writer {
            Writer::Ingest => self.ingest.add(since, now),
            Writer::Background => self.background.add(since, now),
        }
    }
}

/// Time held, decaying with [`WINDOW`] as its time constant: divided by the window, the
/// share of the recent past it was held.
#[derive(Debug, Default)]
struct Decaying {
    seconds: f64,
    at: Option<Instant>,
}

impl Decaying {
    fn decayed(&self, now: Instant) -> f64 {
        let Some(at) = self.at else { return 0.0 };
        let age = now.saturating_duration_since(at).as_secs_f64();
        self.seconds * (-age / WINDOW.as_secs_f64()).exp()
    }

    fn share(&self, now: Instant) -> f64 {
        self.decayed(now) / WINDOW.as_secs_f64()
    }

    fn add(&mut self, since: Instant, now: Instant) {
        self.seconds = self.decayed(now) + now.saturating_duration_since(since).as_secs_f64();
        self.at = Some(now);
    }
}

/// A turn's time at the lock, counted when the turn ends.
#[derive(Debug)]
struct Held {
    usage: Arc<std::sync::Mutex<Usage>>,
    writer: Writer,
    since: Instant,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        usage.add(self.writer, self.since, Instant::now());
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
    /// write of `first`, writes first, once background writes held the lock for
    /// `background_held` of the last moment.
    async fn order_behind(first: Writer, background_held: Duration) -> Vec<&'static str> {
        let gate = WriteGate::default();
        let now = Instant::now();
        gate.usage()
            .add(Writer::Background, now - background_held, now);
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

    #[tokio::test(start_paused = true)]
    async fn a_group_commit_goes_first_unless_the_background_is_under_its_share() {
        // Behind a background write, the next one waits for its turn among the background
        // writers, so a group commit goes first whatever the shares.
        let none = Duration::ZERO;
        let over = WINDOW / 2;
        assert_eq!(
            order_behind(Writer::Background, none).await,
            ["ingest", "background"]
        );
        // Behind a group commit, a background writer over its share lets the commit by; one
        // under it writes in turn, or a busy receiver would stop the hydrator for good.
        assert_eq!(
            order_behind(Writer::Ingest, over).await,
            ["ingest", "background"]
        );
        assert_eq!(
            order_behind(Writer::Ingest, none).await,
            ["background", "ingest"]
        );
    }

    /// The share of `run` each kind of writer held the lock, while a receiver commits (each
    /// commit holding it 8 ms, one every `every`, if given) and a background writer writes
    /// back to back, each write holding it 15 ms.
    async fn shares(every: Option<Duration>, run: Duration) -> (f64, f64) {
        let gate = WriteGate::default();
        let held = Arc::new(std::sync::Mutex::new([Duration::ZERO; 2]));
        let (shared_gate, shared_held) = (gate.clone(), held.clone());
        let hold = move |writer: Writer, hold: Duration, slot: usize| {
            let (gate, held) = (shared_gate.clone(), shared_held.clone());
            async move {
                let _turn = gate.turn(writer).await;
                tokio::time::sleep(hold).await;
                held.lock().expect("held")[slot] += hold;
            }
        };
        let background = tokio::spawn({
            let hold = hold.clone();
            async move {
                loop {
                    hold(Writer::Background, Duration::from_millis(15), 1).await;
                }
            }
        });
        let receiver = every.map(|every| {
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    hold(Writer::Ingest, Duration::from_millis(8), 0).await;
                }
            })
        });
        tokio::time::sleep(run).await;
        background.abort();
        receiver.iter().for_each(|r| r.abort());
        let held = *held.lock().expect("held");
        let share = |d: Duration| d.as_secs_f64() / run.as_secs_f64();
        (share(held[0]), share(held[1]))
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_receiver_leaves_the_background_its_share_and_a_lighter_one_the_rest() {
        let run = Duration::from_secs(20);
        let (ingest, background) = shares(Some(Duration::from_millis(8)), run).await;
        assert!(
            (0.85..=0.92).contains(&ingest),
            "at saturation the receiver held the lock {ingest:.3} of the time"
        );
        assert!(
            (0.07..=0.12).contains(&background),
            "at saturation background writes held it {background:.3} of the time"
        );
        let (ingest, background) = shares(Some(Duration::from_millis(16)), run).await;
        assert!(
            ingest > 0.4 && background > 0.4,
            "at half rate the receiver held the lock {ingest:.3} and the background {background:.3}"
        );
        let (_, alone) = shares(None, run).await;
        assert!(alone > 0.98, "alone, background writes held it {alone:.3}");
    }
}
