//! One error type for every backend; `From<sqlx::Error>` classifies once, so callers can
//! tell "try again later" (`Unavailable`, a `503` for HubSpot) from real faults.

/// What went wrong in the store. Texts never contain the database URL or a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already stored")]
    Duplicate,
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database schema is behind this build: run `spoke migrate`")]
    MigrationsPending,
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("database error")]
    Other(#[source] sqlx::Error),
    /// A value the database cannot store (PostgreSQL's data exceptions, SQLite's too big
    /// or mismatched values).
    #[error("the database refused the data")]
    RefusedData(#[source] sqlx::Error),
    /// A row holds a value this build cannot read (written by a newer version, or by hand).
    #[error("unexpected value in the database: {0}")]
    Invalid(#[from] crate::model::UnknownPortalState),
}

impl StoreError {
    /// Whether the database refused the data itself: the same data fails again, and
    /// other data would not.
    pub fn is_refused_data(&self) -> bool {
        matches!(self, Self::RefusedData(_))
    }

    /// Whether retrying later may succeed (connection lost, pool exhausted, database busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => Self::Duplicate,
            sqlx::Error::Database(db) if is_transient(db.as_ref()) => Self::Unavailable(error),
            sqlx::Error::Database(db) if is_refused_data(db.as_ref()) => Self::RefusedData(error),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error),
            _ => Self::Other(error),
        }
    }
}

/// Whether a database error means "not now" rather than "never".
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return is_transient_sqlstate(pg.code());
    }
    error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(is_transient_sqlite)
}

/// PostgreSQL's SQLSTATE class 22 (data exception); SQLite's TOOBIG (18), MISMATCH (20).
fn is_refused_data(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return pg.code().starts_with("22");
    }
    error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 18 | 20))
}

/// SQLite primary codes BUSY (5), LOCKED (6), IOERR (10), FULL (13), CANTOPEN (14); the
/// extended codes carry the primary one in their low byte.
fn is_transient_sqlite(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

/// PostgreSQL SQLSTATE class 08 (connection), 53 (resources), 57P01-57P03 (shutdown),
/// 40001/40P01 (serialization failure, deadlock).
fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
}

#[cfg(test)]
mod tests {
    use super::{is_transient_sqlite, is_transient_sqlstate};

    #[test]
    fn transient_sqlite_codes_include_extended_ones() {
        for code in [5, 517, 6, 10, 13, 14] {
            assert!(is_transient_sqlite(code), "{code}");
        }
        for code in [1, 19, 2067] {
            assert!(!is_transient_sqlite(code), "{code}");
        }
    }

    #[test]
    fn transient_sqlstates_are_connection_resource_and_shutdown_classes() {
        for code in ["08006", "53300", "57P01", "40001", "40P01"] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }
}
