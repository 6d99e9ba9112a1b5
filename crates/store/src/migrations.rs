//! Which migrations this build embeds, and whether a database has them all.

use std::collections::HashSet;

use sqlx::migrate::Migrator;

use crate::StoreError;

pub(crate) static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Lists the versions a database recorded as applied.
pub(crate) const APPLIED_VERSIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

/// `Ok` when every migration of `migrator` is among `applied`.
pub(crate) fn check_applied(migrator: &Migrator, applied: &[i64]) -> Result<(), StoreError> {
    let applied: HashSet<i64> = applied.iter().copied().collect();
    if migrator.iter().all(|m| applied.contains(&m.version)) {
        Ok(())
    } else {
        Err(StoreError::MigrationsPending)
    }
}

/// Reading the bookkeeping table of a database never migrated fails; that means "pending".
pub(crate) fn applied_or_pending(
    result: Result<Vec<i64>, sqlx::Error>,
) -> Result<Vec<i64>, StoreError> {
    match result {
        Ok(versions) => Ok(versions),
        Err(sqlx::Error::Database(db))
            if db.code().as_deref() == Some("42P01") || db.message().contains("no such table") =>
        {
            Ok(Vec::new())
        }
        Err(other) => Err(other.into()),
    }
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => e.into(),
        other => StoreError::Config(format!("migration failed: {other}")),
    }
}

pub(crate) async fn run<'a, A>(migrator: &Migrator, conn: A) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator.run(conn).await.map_err(migrate_error)
}
