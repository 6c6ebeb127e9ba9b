//! [`DbError`]: what a PostgreSQL store returns, classified once so that callers decide by
//! kind (unreachable, a named unique violation, anything else) rather than by driver error.

use crate::error::ApiError;
use tokio_postgres::error::SqlState;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection: the pool could not give one (server down, pool exhausted or closed),
    /// or the server closed ours (shut down, restarted, terminated the backend). Retrying
    /// later may succeed: 503.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// A unique constraint (SQLSTATE 23505) refused the write; the caller names the
    /// conflict by `constraint`. Unnamed by the caller it is our fault: 500.
    #[error("unique constraint {constraint:?} violated")]
    UniqueViolation {
        constraint: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A row that does not hold what the code expects (an unknown enum value, bad JSON).
    #[error("a stored row could not be read")]
    Decode(#[source] BoxError),
    /// Any other failure of a statement: 500.
    #[error("a database statement failed")]
    Other(#[source] tokio_postgres::Error),
}

impl DbError {
    /// True when the database could not be reached: the work can be retried later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// True for a unique violation of the named constraint.
    pub fn is_unique_violation(&self, name: &str) -> bool {
        matches!(self, Self::UniqueViolation { constraint, .. } if constraint == name)
    }

    /// A row that could not be turned into a value.
    pub fn decode(cause: impl Into<BoxError>) -> Self {
        Self::Decode(cause.into())
    }
}

/// SQLSTATEs that mean the connection is gone rather than the statement wrong: class 08
/// (connection exception), 57P01 admin_shutdown (the server stopping, or the backend
/// terminated), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting or stopping).
pub fn is_connection_lost(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .contains(code)
}

impl From<tokio_postgres::Error> for DbError {
    /// A closed connection, a failure without a SQLSTATE (I/O, TLS) or a connection-class
    /// SQLSTATE is [`DbError::Unavailable`]; 23505 is [`DbError::UniqueViolation`].
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() || e.code().is_none_or(is_connection_lost) {
            return Self::Unavailable(e.into());
        }
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            let constraint = e
                .as_db_error()
                .and_then(|db| db.constraint())
                .unwrap_or_default()
                .to_owned();
            return Self::UniqueViolation {
                constraint,
                source: e,
            };
        }
        Self::Other(e)
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbError::from(e).into()
    }
}

#[cfg(test)]
mod tests;
