//! `/v1/audit`: the audit trail, for `auditor` and `admin` only. Who read or changed a record
//! (with field-level old and new values), everything one user read or changed, and the data
//! subject report of a contact (GDPR right of access). These reads are customer data too: each
//! is logged as an access (action `audit`) before it is answered.

use audit::{AuditError, AuditFilter, PageRequest};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::{AccessAction, RecordRef};
use policy::{Action, Resource};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path};
use crate::state::ApiState;

const READ_MODEL: &str = "audit";

/// The filters and page of an audit query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub to: Option<DateTime<Utc>>,
    /// `change`, `read`, `list`, `history`, `timeline`, `export`, `audit`, `authenticate` or
    /// `write`.
    pub action: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub min_position: Option<u64>,
}

impl AuditQuery {
    fn parts(self) -> (AuditFilter, PageRequest, Option<u64>) {
        (
            AuditFilter {
                from: self.from,
                to: self.to,
                action: self.action,
            },
            PageRequest {
                limit: self.limit.unwrap_or(audit::DEFAULT_LIMIT),
                cursor: self.cursor,
            },
            self.min_position,
        )
    }
}

type AuditQueryResult = Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>;

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::BadCursor => ApiError::invalid("cursor", error.to_string()),
            AuditError::BadLimit(_) => ApiError::invalid("limit", error.to_string()),
            AuditError::UnknownCollection(_) => ApiError::NotFound("collection"),
            AuditError::BadAction(_) => ApiError::invalid("action", error.to_string()),
            AuditError::BadRange => ApiError::invalid("to", error.to_string()),
            AuditError::Database { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

/// Lets the caller into the audit trail (or logs the refusal), then waits for the read model.
async fn open(
    api: &ApiState,
    accessor: &Accessor,
    asked: RecordRef,
    min_position: MinPosition,
) -> Result<String, ApiError> {
    api.authorize_any(
        &accessor.caller,
        &accessor.access,
        Resource::Audit,
        Action::Read,
        vec![asked],
    )
    .await?;
    super::reads::schema_of(api, READ_MODEL, min_position).await
}

fn query_of(query: AuditQueryResult) -> Result<AuditQuery, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::invalid("", rejection.body_text()))?;
    Ok(query)
}

/// Every read and every change of one record, newest first.
pub async fn record_trail(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    Path((collection, id)): Path<(String, Uuid)>,
    query: AuditQueryResult,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    let (filter, page, wanted) = query_of(query)?.parts();
    let asked = RecordRef {
        collection: collection.clone(),
        id,
    };
    let schema = open(
        &api,
        &accessor,
        asked,
        MinPosition(min_position.0.or(wanted)),
    )
    .await?;
    let page = api
        .audit
        .record(&schema, &collection, id, &filter, page)
        .await?;
    let page = api.disclose(&accessor.access, page).await?;
    Ok(Json(page).into_response())
}

/// Everything one user read or changed, newest first.
pub async fn actor_trail(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    Path(user_id): Path<Uuid>,
    query: AuditQueryResult,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    let (filter, page, wanted) = query_of(query)?.parts();
    let asked = RecordRef {
        collection: "users".to_owned(),
        id: user_id,
    };
    let schema = open(
        &api,
        &accessor,
        asked,
        MinPosition(min_position.0.or(wanted)),
    )
    .await?;
    let page = api.audit.actor(&schema, user_id, &filter, page).await?;
    let page = api.disclose(&accessor.access, page).await?;
    Ok(Json(page).into_response())
}

/// The data subject report of a contact: the contact as it is, and every change and access of
/// it and of the records linked to it, with dates and purposes.
pub async fn subject_report(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    Path(contact_id): Path<Uuid>,
    query: AuditQueryResult,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    let (filter, page, wanted) = query_of(query)?.parts();
    let asked = RecordRef {
        collection: "contacts".to_owned(),
        id: contact_id,
    };
    let schema = open(
        &api,
        &accessor,
        asked,
        MinPosition(min_position.0.or(wanted)),
    )
    .await?;
    let report = api
        .audit
        .subject(&schema, contact_id, &filter, page)
        .await?;
    let report = api.disclose(&accessor.access, report).await?;
    Ok(Json(report).into_response())
}
