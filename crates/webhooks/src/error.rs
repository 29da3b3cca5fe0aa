//! Why a webhook's delivery stopped: all but a bad setting are waited out and retried.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("webhook {webhook}: {message}")]
    Settings { webhook: String, message: String },
    #[error("the receiver answered {status}")]
    Refused { status: u16 },
    #[error("the receiver could not be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Log(#[from] eventlog::LogError),
    #[error("logging the delivery: {0}")]
    Access(#[from] accesslog::AccessError),
    #[error("the webhooks' signing key: {0}")]
    SigningKey(#[from] eventstore::StoreError),
    #[error("the delivery position: {0}")]
    Database(String),
    #[error("another process delivers this webhook now")]
    NotLeader,
    #[error("the event stream ended")]
    Ended,
}

impl From<tokio_postgres::Error> for WebhookError {
    fn from(error: tokio_postgres::Error) -> Self {
        WebhookError::Database(error.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for WebhookError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        WebhookError::Database(error.to_string())
    }
}
