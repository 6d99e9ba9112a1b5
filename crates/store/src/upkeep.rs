//! Upkeep a store does on its own database, on a timer (SQLite's WAL checkpoints,
//! PostgreSQL's queue statistics): a task that runs until the store's last clone is gone.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

/// A store's upkeep task: it stops when this is dropped, with the store's last clone.
#[derive(Debug)]
pub(crate) struct Upkeep {
    _stop: oneshot::Sender<()>,
}

/// Runs `task` every `every` (a late one delays the next rather than bunching up) until
/// the returned handle is dropped.
pub(crate) fn every<F, T>(every: Duration, mut task: F) -> Upkeep
where
    F: FnMut() -> T + Send + 'static,
    T: Future<Output = ()> + Send,
{
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticks.tick() => {}
            }
            task().await;
        }
    });
    Upkeep { _stop: stop }
}
