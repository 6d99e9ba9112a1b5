//! WAL checkpoints off the commit path. SQLite's own checkpoint runs inside whichever
//! commit pushes the WAL past `wal_autocheckpoint` pages, so at 1,000 pages (the default)
//! a busy receiver's group commits each paid for copying pages into the database file
//! (measured: commits of 80–110 ms where most take 6). A task of the store's own copies
//! them every [`EVERY`] instead, with a passive checkpoint, which writers do not wait for;
//! the automatic one stays, at [`AUTOCHECKPOINT_PAGES`], only as the bound on the WAL's
//! size should this task fall behind.

use std::time::Duration;

use sqlx::SqlitePool;

use crate::upkeep::{self, Upkeep};

/// How often the WAL is copied into the database file.
const EVERY: Duration = Duration::from_millis(200);

/// WAL pages (4 KiB each) after which a commit checkpoints by itself: 64 MiB.
pub(crate) const AUTOCHECKPOINT_PAGES: &str = "16384";

/// Checkpoints `pool`'s database until the returned handle is dropped.
pub(crate) fn spawn(pool: SqlitePool) -> Upkeep {
    upkeep::every(EVERY, move || {
        let pool = pool.clone();
        async move {
            // A failed or partial checkpoint loses nothing: the frames stay in the WAL for
            // the next one, and the automatic checkpoint bounds the WAL meanwhile.
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
        }
    })
}
