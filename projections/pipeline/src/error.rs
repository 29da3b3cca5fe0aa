//! What a report query can fail with, each variant saying what the caller can do: fix the
//! request (a bad window or month range), or wait and retry (`is_transient`).

/// Why a report of the pipeline read model did not answer.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// PostgreSQL did not answer, or refused the query; `transient` when a retry may succeed.
    #[error("the read model's database: {message}")]
    Database { message: String, transient: bool },
    /// A parameter of the request is out of range; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl PipelineError {
    /// True when the same query may succeed later (the database was away or busy, or the
    /// generation it read was swapped out by a rebuild just then).
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Database { transient, .. } => *transient,
            PipelineError::Invalid { .. } => false,
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> PipelineError {
        PipelineError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A stored value the read model should never hold (a bug, not the caller's doing).
    pub(crate) fn corrupt(message: impl Into<String>) -> PipelineError {
        PipelineError::Database {
            message: message.into(),
            transient: false,
        }
    }
}

impl From<projector::QueryFault> for PipelineError {
    fn from(fault: projector::QueryFault) -> Self {
        PipelineError::Database {
            message: fault.message,
            transient: fault.transient,
        }
    }
}

impl From<tokio_postgres::Error> for PipelineError {
    fn from(error: tokio_postgres::Error) -> Self {
        projector::QueryFault::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for PipelineError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        projector::QueryFault::from(error).into()
    }
}
