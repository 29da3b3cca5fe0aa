//! What a query of the scoring read model can fail with, each variant saying what the caller
//! can do: fix the request (the limit), or wait and retry (`is_transient`).

/// Why a query of the scoring read model did not answer.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// The ranked list's size is outside 1 to [`MAX_LIMIT`](crate::MAX_LIMIT).
    #[error("limit must be from 1 to {max}, not {0}", max = crate::MAX_LIMIT)]
    BadLimit(u32),
    /// A stored row does not read back (a bug, or a table changed by hand).
    #[error("the read model holds a row it cannot read: {0}")]
    Unreadable(String),
    /// PostgreSQL did not answer, or refused the query; `transient` when a retry may succeed.
    #[error("the read model's database: {message}")]
    Database { message: String, transient: bool },
}

impl ScoringError {
    /// True when the same query may succeed later (the database was away or busy, or the
    /// generation it read was swapped out by a rebuild just then).
    pub fn is_transient(&self) -> bool {
        match self {
            ScoringError::Database { transient, .. } => *transient,
            ScoringError::BadLimit(_) | ScoringError::Unreadable(_) => false,
        }
    }
}

impl From<projector::QueryFault> for ScoringError {
    fn from(fault: projector::QueryFault) -> Self {
        ScoringError::Database {
            message: fault.message,
            transient: fault.transient,
        }
    }
}

impl From<tokio_postgres::Error> for ScoringError {
    fn from(error: tokio_postgres::Error) -> Self {
        projector::QueryFault::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for ScoringError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        projector::QueryFault::from(error).into()
    }
}
