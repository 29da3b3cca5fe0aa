//! What a query of the timeline can fail with, each variant saying what the caller can do: fix
//! the request (cursor, limit, time range), or wait and retry (`is_transient`).

/// Why a query of the timeline did not answer.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The cursor is not one a page of this read model handed out.
    #[error("the cursor is not one this server handed out")]
    BadCursor,
    /// The page size is outside 1 to [`MAX_LIMIT`](crate::MAX_LIMIT).
    #[error("limit must be from 1 to {max}, not {0}", max = crate::MAX_LIMIT)]
    BadLimit(u32),
    /// `from` is after `to`.
    #[error("the time range ends before it starts")]
    BadRange,
    /// PostgreSQL did not answer, or refused the query; `transient` when a retry may succeed.
    #[error("the read model's database: {message}")]
    Database { message: String, transient: bool },
}

impl TimelineError {
    /// True when the same query may succeed later (the database was away or busy, or the
    /// generation it read was swapped out by a rebuild just then).
    pub fn is_transient(&self) -> bool {
        match self {
            TimelineError::Database { transient, .. } => *transient,
            TimelineError::BadCursor | TimelineError::BadLimit(_) | TimelineError::BadRange => {
                false
            }
        }
    }
}

impl From<projector::QueryFault> for TimelineError {
    fn from(fault: projector::QueryFault) -> Self {
        TimelineError::Database {
            message: fault.message,
            transient: fault.transient,
        }
    }
}

impl From<tokio_postgres::Error> for TimelineError {
    fn from(error: tokio_postgres::Error) -> Self {
        projector::QueryFault::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for TimelineError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        projector::QueryFault::from(error).into()
    }
}
