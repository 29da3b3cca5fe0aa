//! The framework's one error type, the error a projection's `apply` returns, and the error of a
//! reader's wait. Each variant says what the caller can do: wait it out (`is_transient`), fix a
//! setting, or fix the projection.

use std::error::Error as _;

/// Why a projector, a rebuild or a reader could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// Settings that cannot work, named by the setting: fix the setting (or the server).
    #[error("setting {setting}: {message}")]
    Settings {
        setting: &'static str,
        message: String,
    },
    /// The projection itself is unusable (its name, or its DDL failed): fix the projection.
    #[error("projection {projection}: {message}")]
    Projection {
        projection: &'static str,
        message: String,
    },
    /// `apply` refused the event at `position` (or the event could not be decoded); nothing at
    /// or after it was applied. Fix the projection, then restart or rebuild.
    #[error("projection {projection} failed at position {position}: {message}")]
    Apply {
        projection: &'static str,
        position: u64,
        message: String,
    },
    /// The projection has no live generation (its projector never ran).
    #[error("projection {0} has no live generation yet (its projector has not started)")]
    NoLiveGeneration(String),
    /// PostgreSQL cannot be reached or did not answer; retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL refused a statement of the framework (a bug, or the registry was not migrated).
    #[error("database: {0}")]
    Database(String),
    /// NATS did not answer, refused a request, or delivered out of order; retried.
    #[error("nats: {0}")]
    Nats(String),
    /// Another projector applied to this generation, or the leader connection died; retried.
    #[error("leadership lost: {0}")]
    LeadershipLost(String),
    #[error("migrating the projection registry failed: {0}")]
    Migration(String),
    /// Shut down before the work was done (a rebuild resumes where it stopped when run again).
    #[error("stopped before it finished")]
    Stopped,
}

impl ProjectorError {
    /// True for failures that go away by themselves (a server down or slow, a lost race).
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectorError::Unavailable(_)
            | ProjectorError::Nats(_)
            | ProjectorError::LeadershipLost(_) => true,
            ProjectorError::Settings { .. }
            | ProjectorError::Projection { .. }
            | ProjectorError::Apply { .. }
            | ProjectorError::NoLiveGeneration(_)
            | ProjectorError::Database(_)
            | ProjectorError::Migration(_)
            | ProjectorError::Stopped => false,
        }
    }

    pub(crate) fn nats(what: &str, error: impl std::fmt::Display) -> ProjectorError {
        ProjectorError::Nats(format!("{what}: {error}"))
    }
}

impl From<tokio_postgres::Error> for ProjectorError {
    fn from(error: tokio_postgres::Error) -> Self {
        if postgres_transient(&error) {
            ProjectorError::Unavailable(describe_postgres(&error))
        } else {
            ProjectorError::Database(describe_postgres(&error))
        }
    }
}

impl From<deadpool_postgres::PoolError> for ProjectorError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => ProjectorError::Unavailable(other.to_string()),
        }
    }
}

/// What a projection's `apply` may fail with. A failure that is not transient stops the
/// projector at that event (it is never skipped); a transient one is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A statement failed: transient when the database is unreachable, otherwise a bug in the
    /// projection or data it cannot hold.
    #[error("database: {}", describe_postgres(.0))]
    Database(#[from] tokio_postgres::Error),
    /// A payload the projection cannot read.
    #[error("unreadable payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// An event the projection refuses, with the reason.
    #[error("event at position {position}: {reason}")]
    Event { position: u64, reason: String },
}

impl ProjectionError {
    /// True when retrying the same events later may succeed (the database was away).
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Database(error) => postgres_transient(error),
            ProjectionError::Payload(_) | ProjectionError::Event { .. } => false,
        }
    }
}

/// Why `ProjectionReader::wait_for` returned without the projection reaching the position.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The bound passed; the projection had reached `reached`.
    #[error("the read model reached position {reached} only, within the time allowed")]
    TimedOut { reached: u64 },
    #[error(transparent)]
    Projector(#[from] ProjectorError),
}

/// A read model query that the database did not answer, classified once for every read model:
/// what happened, and whether the same query may succeed later (the server or connection went
/// away, a race was lost, the generation's schema looked up a moment ago was dropped by a
/// rebuild's swap, so the caller looks up the live schema again, or the live generation is of
/// an older version and lacks a table or column until its replacement is swapped in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFault {
    pub message: String,
    pub transient: bool,
}

impl From<tokio_postgres::Error> for QueryFault {
    fn from(error: tokio_postgres::Error) -> Self {
        // A schema, table or column missing: the generation read was swapped out just then, or
        // is being replaced by one of this version.
        let gone_generation = error
            .as_db_error()
            .is_some_and(|db| matches!(db.code().code(), "3F000" | "42P01" | "42703"));
        QueryFault {
            message: describe_postgres(&error),
            transient: gone_generation || postgres_transient(&error),
        }
    }
}

impl From<deadpool_postgres::PoolError> for QueryFault {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => QueryFault {
                message: other.to_string(),
                transient: true,
            },
        }
    }
}

/// A failure that says nothing about the statement: the server or the connection went away,
/// or a transaction lost a race it may win next time.
pub(crate) fn postgres_transient(error: &tokio_postgres::Error) -> bool {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        return ["08", "53", "57P", "58"]
            .iter()
            .any(|class| code.starts_with(class))
            || code == "40001"
            || code == "40P01";
    }
    if error.is_closed() {
        return true;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    let text = error.to_string();
    text.starts_with("error connecting") || text.starts_with("timeout")
}

/// tokio-postgres prints only "db error" for server errors; the message is in the source.
pub(crate) fn describe_postgres(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => describe(error),
    }
}

/// An error with its sources, which async-nats and tokio-postgres keep out of the top line.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
