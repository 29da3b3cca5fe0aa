//! The one error type of the HTTP surface and its single mapping to `application/problem+json`
//! (RFC 9457). Every refusal a client can get is a variant here; handlers return `ApiError` and
//! never build an error response by hand.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use eventstore::StoreError;
use serde::Serialize;

/// One field that failed validation, named as the request named it (`stages[2].probability`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    Malformed(String),
    #[error("the request has invalid values")]
    Invalid(Vec<FieldError>),
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("this route does not take this method")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_version: Option<u64>,
    },
    /// The command no longer holds for the record as it is, at this version (a closed deal's
    /// stage change); unlike [`ApiError::Conflict`], not a lost race to retry.
    #[error("{detail}")]
    Refused {
        detail: String,
        current_version: u64,
    },
    /// Another record the decision read changed before its append committed.
    #[error("the {0} this command was decided on changed meanwhile; send it again")]
    ReadChanged(String),
    #[error("the record is at version {current}; If-Match asked for {expected}")]
    PreconditionFailed { expected: u64, current: u64 },
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive within `[api] body_timeout_ms`; the connection is closed.
    #[error("the request body did not arrive in time")]
    BodyTimedOut,
    #[error("this Idempotency-Key was first used with a different request")]
    IdempotencyMismatch,
    /// More of something at once than the server takes; try again after `retry_after`.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("the read model reached position {reached}, not {wanted}, in time")]
    NotYet { wanted: u64, reached: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// A command may or may not have been recorded: a retry must carry the same
    /// `Idempotency-Key`, or follow a read of the record.
    #[error(
        "{0}; send it again only with the same Idempotency-Key, or read first whether it was recorded"
    )]
    OutcomeUnknown(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::IdempotencyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::Refused { .. } | ApiError::ReadChanged(_) => {
                StatusCode::CONFLICT
            }
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimedOut => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotYet { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) | ApiError::OutcomeUnknown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed-json",
            ApiError::Invalid(_) => "invalid-values",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict { .. } | ApiError::Refused { .. } | ApiError::ReadChanged(_) => {
                "conflict"
            }
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::TooLarge(_) => "too-large",
            ApiError::BodyTimedOut => "request-timeout",
            ApiError::TooMany { .. } => "too-many",
            ApiError::IdempotencyMismatch => "idempotency-key-reused",
            ApiError::NotYet { .. } => "read-model-behind",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::OutcomeUnknown(_) => "outcome-unknown",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `urn:crm:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For 422: every field that failed, with the rule it broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 409: the record's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Not after an append of unknown outcome: a plain retry could record it twice.
        let retry_after = match &self {
            // Rounded up: a client that waits exactly this long is heard.
            ApiError::TooMany { retry_after, .. } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(seconds.max(1))
            }
            ApiError::OutcomeUnknown(_) => None,
            _ => (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let problem = Problem {
            kind: format!("urn:crm:problem:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            current_version: match &self {
                ApiError::Conflict {
                    current_version, ..
                } => *current_version,
                ApiError::Refused {
                    current_version, ..
                } => Some(*current_version),
                _ => None,
            },
            errors: match self {
                ApiError::Invalid(errors) => errors,
                _ => Vec::new(),
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come: this connection cannot carry another request.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid { field, message } => ApiError::invalid(field, message),
            DomainError::NotFound => ApiError::NotFound("record"),
            DomainError::AlreadyExists => ApiError::Conflict {
                detail: error.to_string(),
                current_version: None,
            },
            DomainError::Conflict(detail) => ApiError::Conflict {
                detail,
                current_version: None,
            },
            DomainError::Forbidden(detail) => ApiError::Forbidden(detail),
            DomainError::Decode { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::Unavailable(error.to_string()),
            StoreError::OutcomeUnknown(_) => ApiError::OutcomeUnknown(error.to_string()),
            StoreError::IdempotencyMismatch { .. } => ApiError::IdempotencyMismatch,
            StoreError::Conflict { actual, .. } => ApiError::Conflict {
                detail: error.to_string(),
                current_version: actual,
            },
            StoreError::Invalid(message) => ApiError::invalid("", message),
            StoreError::NotCovered(message) => ApiError::invalid("tree_size", message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// NATS is the only thing the API reads through the event log for (a followed stream): when it
/// does not answer, that is a 503 like a store that does not.
impl From<eventlog::LogError> for ApiError {
    fn from(error: eventlog::LogError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}
