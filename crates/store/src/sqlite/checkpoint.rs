//! WAL checkpoints off the commit path. SQLite's own checkpoint runs inside whichever
//! commit pushes the WAL past `wal_autocheckpoint` pages, so at 1,000 pages (the default)
//! a busy receiver's group commits each paid for copying pages into the database file
//! (measured: commits of 80–110 ms where most take 6). A task of the store's own copies
//! them every [`EVERY`] instead, with a passive checkpoint, which writers do not wait for;
//! the automatic one stays, at [`AUTOCHECKPOINT_PAGES`], only as the bound on the WAL's
//! size should this task fall behind.

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::oneshot;

/// How often the WAL is copied into the database file.
const EVERY: Duration = Duration::from_millis(200);

/// WAL pages (4 KiB each) after which a commit checkpoints by itself: 64 MiB.
pub(crate) const AUTOCHECKPOINT_PAGES: &str = "16384";

/// The checkpointing task of a store: it stops when this is dropped, with the store's
/// last clone.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    _stop: oneshot::Sender<()>,
}

/// Checkpoints `pool`'s database until the returned handle is dropped.
pub(crate) fn spawn(pool: SqlitePool) -> Checkpoints {
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = every.tick() => {}
            }
            // A failed or partial checkpoint loses nothing: the frames stay in the WAL for
            // the next one, and the automatic checkpoint bounds the WAL meanwhile.
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
        }
    });
    Checkpoints { _stop: stop }
}
