//! What a query of the scoring read model can fail with, each variant saying what the caller
//! can do: fix the request (the limit), or wait and retry (`is_transient`).

use std::error::Error as _;

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

impl From<tokio_postgres::Error> for ScoringError {
    fn from(error: tokio_postgres::Error) -> Self {
        ScoringError::Database {
            message: describe(&error),
            transient: postgres_transient(&error),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ScoringError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => ScoringError::Database {
                message: other.to_string(),
                transient: true,
            },
        }
    }
}

/// The server or connection went away, a race was lost, or the schema looked up a moment ago
/// was dropped by a rebuild's swap (the caller looks up the live schema again).
fn postgres_transient(error: &tokio_postgres::Error) -> bool {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let gone_schema = code == "3F000" || code == "42P01";
        let lost_race = code == "40001" || code == "40P01";
        let server_away = ["08", "53", "57P", "58"]
            .iter()
            .any(|class| code.starts_with(class));
        return gone_schema || lost_race || server_away;
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
    false
}

/// tokio-postgres prints only "db error" for a server's error; the message is in the source.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}
