//! Liveness of the database itself, written once for both engines: an engine is its pool
//! and the migrations embedded for it ([`Migrated`]).

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Type};

use crate::{migrations, StoreError};

#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when the database answers and every embedded migration is applied.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Applies the migrations this build embeds that the database does not have yet.
    async fn migrate(&self) -> Result<(), StoreError>;
}

/// An engine's pool, and the migrations this build embeds for it.
pub(crate) trait Migrated: Send + Sync {
    type Db: Database;

    fn pool(&self) -> &Pool<Self::Db>;

    fn migrator() -> &'static Migrator;
}

#[async_trait]
impl<S> Health for S
where
    S: Migrated,
    <S::Db as Database>::Connection: Migrate,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'q> <S::Db as Database>::Arguments<'q>: IntoArguments<'q, S::Db>,
    i64: Type<S::Db> + for<'r> Decode<'r, S::Db>,
    usize: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn ready(&self) -> Result<(), StoreError> {
        let applied = migrations::applied_or_pending(
            sqlx::query_scalar(migrations::APPLIED_VERSIONS)
                .fetch_all(self.pool())
                .await,
        )?;
        migrations::check_applied(S::migrator(), &applied)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrations::run(S::migrator(), self.pool()).await
    }
}
