//! `/v1/audit`: the audit trail, for `auditor` and `admin` only. Who read or changed a record
//! (with field-level old and new values), everything one user read or changed, and the data
//! subject report of a contact (GDPR right of access); and the checks of the log itself: the
//! whole chain and tree verified, the latest signed tree head, inclusion and consistency
//! proofs. Every call is logged as an access (action `audit`) before it is answered. A trail
//! answers as of the request: it holds everything committed before it, or is a 504.

use audit::{AuditError, AuditFilter, PageRequest};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::{AccessAction, RecordRef};
use eventstore::checkpoint::TreeHead;
use eventstore::merkle;
use policy::{Action, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path, Query};
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

type AuditQueryResult = Result<Query<AuditQuery>, ApiError>;

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::BadCursor => ApiError::invalid("cursor", error.to_string()),
            AuditError::BadLimit(_) => ApiError::invalid("limit", error.to_string()),
            AuditError::UnknownCollection(_) => ApiError::NotFound("collection"),
            AuditError::UnknownContact(_) => ApiError::NotFound("contact"),
            AuditError::BadAction(_) => ApiError::invalid("action", error.to_string()),
            AuditError::BadRange => ApiError::invalid("to", error.to_string()),
            AuditError::Database { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

/// An audit trail question, let in: the audit read model's schema, the filters and the page.
struct Trail {
    access: accesslog::Access,
    schema: String,
    filter: AuditFilter,
    page: PageRequest,
}

impl Trail {
    /// Lets the caller into the audit trail about `asked` (or logs the refusal), then waits for
    /// the read model to reach the position the client named.
    async fn open(
        api: &ApiState,
        accessor: Accessor,
        min_position: MinPosition,
        query: AuditQueryResult,
        asked: RecordRef,
    ) -> Result<Trail, ApiError> {
        let Accessor { caller, access } = accessor.doing(AccessAction::Audit);
        // Refused before the query is read: a refusal is logged whatever the query says.
        api.authorize_any(&caller, &access, Resource::Audit, Action::Read, vec![asked])
            .await?;
        let Query(query) = query?;
        let (filter, page, wanted) = query.parts();
        // As of this request by default: the trail waits (bounded) for everything committed
        // before it, so a lagging read model answers 504, never a silently shorter trail. A
        // client that wants what it holds now asks for `min_position=0`.
        let wanted = match min_position.0.or(wanted) {
            Some(wanted) => wanted,
            None => api.reader.head().await?.position,
        };
        let schema = super::reads::schema_of(api, READ_MODEL, MinPosition(Some(wanted))).await?;
        Ok(Trail {
            access,
            schema,
            filter,
            page,
        })
    }

    /// Answers `found` once the audit read is logged.
    async fn answer<T: Serialize>(
        &self,
        api: &ApiState,
        found: accesslog::Withheld<T>,
    ) -> Result<Response, ApiError> {
        Ok(Json(api.disclose(&self.access, found).await?).into_response())
    }
}

fn asked(collection: &str, id: Uuid) -> RecordRef {
    RecordRef {
        collection: collection.to_owned(),
        id,
    }
}

/// Every read and every change of one record, newest first.
pub async fn record_trail(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    Path((collection, id)): Path<(String, Uuid)>,
    query: AuditQueryResult,
) -> Result<Response, ApiError> {
    let asked = asked(&collection, id);
    let trail = Trail::open(&api, accessor, min_position, query, asked).await?;
    let found = (api.audit)
        .record(
            &trail.schema,
            &collection,
            id,
            &trail.filter,
            trail.page.clone(),
        )
        .await?;
    trail.answer(&api, found).await
}

/// Everything one user read or changed, newest first.
pub async fn actor_trail(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    Path(user_id): Path<Uuid>,
    query: AuditQueryResult,
) -> Result<Response, ApiError> {
    let asked = asked("users", user_id);
    let trail = Trail::open(&api, accessor, min_position, query, asked).await?;
    let found = (api.audit)
        .actor(&trail.schema, user_id, &trail.filter, trail.page.clone())
        .await?;
    trail.answer(&api, found).await
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
    let asked = asked("contacts", contact_id);
    let trail = Trail::open(&api, accessor, min_position, query, asked).await?;
    let found = (api.audit)
        .subject(&trail.schema, contact_id, &trail.filter, trail.page.clone())
        .await?;
    trail.answer(&api, found).await
}

/// Opens the audit trail's checks of the log itself (no read model) to the caller, or logs the
/// refusal.
async fn open_log_checks(api: &ApiState, accessor: &Accessor) -> Result<(), ApiError> {
    api.authorize_any(
        &accessor.caller,
        &accessor.access,
        Resource::Audit,
        Action::Read,
        Vec::new(),
    )
    .await
}

/// The latest signed tree head, or 404 before the first.
async fn latest_head(api: &ApiState) -> Result<TreeHead, ApiError> {
    eventstore::tree::latest_tree_head(api.reader.pool())
        .await?
        .ok_or(ApiError::NotFound("signed tree head"))
}

/// Answers `value` once the audit call is logged.
async fn logged<T: serde::Serialize>(
    api: &ApiState,
    accessor: &Accessor,
    value: T,
) -> Result<Response, ApiError> {
    let value = api
        .disclose(
            &accessor.access,
            accesslog::Withheld::new(value, Vec::new()),
        )
        .await?;
    Ok(Json(value).into_response())
}

/// The hash chain and the Merkle tree recomputed from the first event, every signed tree head
/// checked: ok, or the first broken position and why.
pub async fn verify(State(api): State<ApiState>, accessor: Accessor) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    open_log_checks(&api, &accessor).await?;
    let report = eventstore::audit(api.reader.pool(), api.trusted_key).await?;
    logged(&api, &accessor, report).await
}

/// The latest signed tree head: size, chain hash, Merkle root, time, key and signature.
pub async fn tree_head(
    State(api): State<ApiState>,
    accessor: Accessor,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    open_log_checks(&api, &accessor).await?;
    let head = latest_head(&api).await?;
    logged(&api, &accessor, head).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The event's position.
    pub position: u64,
    /// The size of a signed tree head; the latest by default.
    pub tree_size: Option<u64>,
}

/// An inclusion proof and the signed tree head it leads to.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Inclusion {
    pub position: u64,
    pub proof: merkle::InclusionProof,
    pub tree_head: TreeHead,
}

/// Proof that the event at `position` is in the tree of `tree_size` events (RFC 6962).
pub async fn inclusion(
    State(api): State<ApiState>,
    accessor: Accessor,
    query: Result<Query<InclusionQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    open_log_checks(&api, &accessor).await?;
    let Query(query) = query?;
    let tree_head = head_of_size(&api, query.tree_size).await?;
    let proof =
        eventstore::tree::inclusion_proof(api.reader.pool(), query.position, tree_head.position)
            .await?;
    let answer = Inclusion {
        position: query.position,
        proof,
        tree_head,
    };
    logged(&api, &accessor, answer).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The size of the earlier tree.
    pub from: u64,
    /// The size of a signed tree head; the latest by default.
    pub to: Option<u64>,
}

/// A consistency proof and the signed tree head it leads to.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Consistency {
    pub proof: merkle::ConsistencyProof,
    pub tree_head: TreeHead,
}

/// Proof that the tree of `from` events is a prefix of the tree of `to` events (RFC 6962): the
/// log was only appended to in between.
pub async fn consistency(
    State(api): State<ApiState>,
    accessor: Accessor,
    query: Result<Query<ConsistencyQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let accessor = accessor.doing(AccessAction::Audit);
    open_log_checks(&api, &accessor).await?;
    let Query(query) = query?;
    let tree_head = head_of_size(&api, query.to).await?;
    let proof =
        eventstore::tree::consistency_proof(api.reader.pool(), query.from, tree_head.position)
            .await?;
    logged(&api, &accessor, Consistency { proof, tree_head }).await
}

/// The signed tree head of `size` events, or the latest.
async fn head_of_size(api: &ApiState, size: Option<u64>) -> Result<TreeHead, ApiError> {
    match size {
        None => latest_head(api).await,
        Some(size) => eventstore::tree::tree_head_at(api.reader.pool(), size)
            .await?
            .ok_or_else(|| ApiError::invalid("tree_size", "no signed tree head of this size")),
    }
}
