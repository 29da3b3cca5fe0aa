//! The one error type of the store. Each variant says what the caller can do about it.

use crate::model::{ExpectedVersion, StreamRef};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved on. Re-decide on fresh state, or report a conflict.
    #[error("stream {stream} is at version {actual:?}, the append expected {expected:?}")]
    Conflict {
        stream: StreamRef,
        expected: ExpectedVersion,
        actual: Option<u64>,
    },
    /// An event the append's `none_since` excludes was appended at `position`: decide again
    /// on what the log holds now.
    #[error("the event at position {position} changed what the append was decided on")]
    ConditionFailed { position: u64 },
    /// The idempotency key was first used with other content.
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyMismatch { key: String },
    /// The request itself is malformed; nothing was written.
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The database cannot be reached or the transaction did not commit; nothing was written.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The connection failed after the append was sent, and whether it committed cannot be
    /// found out now: it may have been written. Send it again only with the same idempotency
    /// key, or after reading whether it was.
    #[error("the event store did not confirm the append: {0}")]
    OutcomeUnknown(String),
    /// Settings that cannot work, named by the setting.
    #[error("setting {setting}: {message}")]
    Settings {
        setting: &'static str,
        message: String,
    },
    #[error("migrating the event store failed: {0}")]
    Migration(String),
    #[error("signing key in {path}: {message}")]
    SigningKey { path: String, message: String },
    /// A proof, root or tree head for a position or size the log, or its latest signed tree
    /// head, does not cover (or sizes that name no proof). Ask for a covered size.
    #[error("{0}")]
    NotCovered(String),
    /// An export could not be written (its file or pipe).
    #[error("writing the export: {0}")]
    Export(String),
    /// Stored data that breaks an invariant the store itself keeps (a sign of tampering or a bug).
    #[error("corrupt event store: {0}")]
    Corrupt(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Unavailable(describe_pg_error(&error))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// tokio-postgres prints only "db error" for server errors; the message is in the source.
pub(crate) fn describe_pg_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}
