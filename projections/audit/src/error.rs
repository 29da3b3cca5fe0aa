//! What a query of the audit trail can fail with, each variant saying what the caller can do:
//! fix the request (cursor, limit, collection, action, time range), or wait and retry
//! (`is_transient`).

/// Why a query of the audit trail did not answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The cursor is not one a page of this read model handed out.
    #[error("the cursor is not one this server handed out")]
    BadCursor,
    /// The page size is outside 1 to [`MAX_LIMIT`](crate::MAX_LIMIT).
    #[error("limit must be from 1 to {max}, not {0}", max = crate::MAX_LIMIT)]
    BadLimit(u32),
    /// The collection is none the audit trail follows.
    #[error("{0:?} is not a collection of the audit trail")]
    UnknownCollection(String),
    /// The action filter is none of [`ACTIONS`](crate::ACTIONS).
    #[error("action must be one of {actions}, not {0:?}", actions = crate::ACTIONS.join(", "))]
    BadAction(String),
    /// The data subject report was asked of an id the trail holds no contact for.
    #[error("the audit trail holds no contact {0}")]
    UnknownContact(uuid::Uuid),
    /// `from` is after `to`.
    #[error("the time range ends before it starts")]
    BadRange,
    /// PostgreSQL did not answer, or refused the query; `transient` when a retry may succeed.
    #[error("the read model's database: {message}")]
    Database { message: String, transient: bool },
}

impl AuditError {
    /// True when the same query may succeed later (the database was away or busy, or the
    /// generation it read was swapped out by a rebuild just then).
    pub fn is_transient(&self) -> bool {
        match self {
            AuditError::Database { transient, .. } => *transient,
            AuditError::BadCursor
            | AuditError::BadLimit(_)
            | AuditError::UnknownCollection(_)
            | AuditError::UnknownContact(_)
            | AuditError::BadAction(_)
            | AuditError::BadRange => false,
        }
    }
}

impl From<projector::QueryFault> for AuditError {
    fn from(fault: projector::QueryFault) -> Self {
        AuditError::Database {
            message: fault.message,
            transient: fault.transient,
        }
    }
}

impl From<tokio_postgres::Error> for AuditError {
    fn from(error: tokio_postgres::Error) -> Self {
        projector::QueryFault::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for AuditError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        projector::QueryFault::from(error).into()
    }
}
