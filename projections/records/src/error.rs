//! What a query of the read model can fail with, each variant saying what the caller can do:
//! fix the request (cursor, limit, search), or wait and retry (`is_transient`).

/// Why a query of the records read model did not answer.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The cursor is not one a page of this read model handed out.
    #[error("the cursor is not one this server handed out")]
    BadCursor,
    /// The page size is outside 1 to [`MAX_LIMIT`](crate::MAX_LIMIT).
    #[error("limit must be from 1 to {max}, not {0}", max = crate::MAX_LIMIT)]
    BadLimit(u32),
    /// The search text is longer than [`MAX_SEARCH_CHARS`](crate::MAX_SEARCH_CHARS).
    #[error("q must be at most {max} characters", max = crate::MAX_SEARCH_CHARS)]
    SearchTooLong,
    /// A filter the collection cannot take (a status it does not have, a link it never makes).
    #[error("{message}")]
    BadFilter {
        field: &'static str,
        message: String,
    },
    /// PostgreSQL did not answer, or refused the query; `transient` when a retry may succeed.
    #[error("the read model's database: {message}")]
    Database { message: String, transient: bool },
}

impl RecordsError {
    /// True when the same query may succeed later (the database was away or busy, or the
    /// generation it read was swapped out by a rebuild just then).
    pub fn is_transient(&self) -> bool {
        match self {
            RecordsError::Database { transient, .. } => *transient,
            RecordsError::BadCursor
            | RecordsError::BadLimit(_)
            | RecordsError::SearchTooLong
            | RecordsError::BadFilter { .. } => false,
        }
    }
}

impl From<projector::QueryFault> for RecordsError {
    fn from(fault: projector::QueryFault) -> Self {
        RecordsError::Database {
            message: fault.message,
            transient: fault.transient,
        }
    }
}

impl From<tokio_postgres::Error> for RecordsError {
    fn from(error: tokio_postgres::Error) -> Self {
        projector::QueryFault::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for RecordsError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        projector::QueryFault::from(error).into()
    }
}
