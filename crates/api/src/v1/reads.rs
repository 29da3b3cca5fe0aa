//! Reads of the records read model: one record by id, and the filtered lists. A query that
//! names a position (`X-Crm-Min-Position`) waits until the read model has reached it, so a
//! client reads its own writes; a wait that runs out is 504.
//!
//! Every read is decided by the access policy (a record of another team is 403, and a list only
//! ever holds what the caller may see) and logged before its data goes out.

use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::AccessAction;
use policy::Action;
use projector::WaitError;
use records::{Collection, ListFilter, PageRequest, RecordsError, Visibility, record_ref};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::resource_of;
use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path, Query};
use crate::state::ApiState;

const READ_MODEL: &str = "records";

/// Waits for the records read model to reach the position the client asked for, then names
/// the schema to query.
pub(crate) async fn live_schema(
    api: &ApiState,
    min_position: MinPosition,
) -> Result<String, ApiError> {
    schema_of(api, READ_MODEL, min_position).await
}

/// Waits for `read_model` to reach the position the client asked for, then names the schema
/// to query.
pub(crate) async fn schema_of(
    api: &ApiState,
    read_model: &str,
    min_position: MinPosition,
) -> Result<String, ApiError> {
    if let Some(wanted) = min_position.0 {
        let reached = api
            .projections
            .wait_for(read_model, wanted, api.min_position_wait)
            .await
            .map_err(|error| match error {
                WaitError::TimedOut { reached } => ApiError::NotYet { wanted, reached },
                other => ApiError::Unavailable(other.to_string()),
            })?;
        if let Some(schema) = reached {
            return Ok(schema);
        }
    }
    // On a fresh system the projector creates the read model's first generation moments after
    // start; a read in those moments waits for it (bounded) rather than failing.
    let deadline = tokio::time::Instant::now() + api.min_position_wait;
    loop {
        match api.projections.serving_schema(read_model).await {
            Ok(schema) => return Ok(schema),
            Err(projector::ProjectorError::NoLiveGeneration(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(error) => return Err(ApiError::Unavailable(error.to_string())),
        }
    }
}

/// Refuses a filter value holding a control character (PostgreSQL takes no NUL in text, and no
/// name, tag or address holds one).
fn plain_text(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    if value.is_some_and(|value| value.chars().any(char::is_control)) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl From<RecordsError> for ApiError {
    fn from(error: RecordsError) -> Self {
        match error {
            RecordsError::BadCursor => ApiError::invalid("cursor", error.to_string()),
            RecordsError::BadLimit(_) => ApiError::invalid("limit", error.to_string()),
            RecordsError::SearchTooLong => ApiError::invalid("q", error.to_string()),
            RecordsError::BadFilter { field, ref message } => {
                ApiError::invalid(field, message.clone())
            }
            RecordsError::Database { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

/// The collection a route serves: `/v1/<collection>/...`.
pub(crate) fn collection_of(route: &MatchedPath) -> Result<Collection, ApiError> {
    route
        .as_str()
        .split('/')
        .nth(2)
        .and_then(Collection::parse)
        .ok_or(ApiError::NotFound("collection"))
}

/// What a read of one record may ask besides its id.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// The record as it was at this time (RFC 3339), rebuilt from its events.
    pub as_of: Option<DateTime<Utc>>,
    pub min_position: Option<u64>,
}

/// One record, with its version (also as `ETag`, for `If-Match`); with `as_of`, as it was then.
pub async fn get_record(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    Path(id): Path<Uuid>,
    query: Result<Query<RecordQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let collection = collection_of(&route)?;
    let Query(query) = query?;
    let min_position = MinPosition(min_position.0.or(query.min_position));
    if let Some(as_of) = query.as_of {
        return super::history::record_as_of(&api, accessor, min_position, collection, id, as_of)
            .await;
    }
    let Accessor { caller, access } = accessor;
    let resource = resource_of(collection);
    let asked = || vec![record_ref(collection, id)];
    api.authorize_any(&caller, &access, resource, Action::Read, asked())
        .await?;
    let schema = live_schema(&api, min_position).await?;
    let found = api
        .records
        .get(&schema, collection, id)
        .await?
        .ok_or(ApiError::NotFound("record"))?;
    api.authorize(
        &caller,
        &access,
        resource,
        Action::Read,
        &found.ownership,
        asked(),
    )
    .await?;
    let record = api.disclose(&access, found.record).await?;
    let mut response = Json(record.body).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", record.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The filters and page of a list, as the query string names them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub tag: Option<String>,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub q: Option<String>,
    pub status: Option<String>,
    pub contact_id: Option<Uuid>,
    pub due_before: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub min_position: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ListPage {
    pub items: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

pub async fn list_records(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    query: Result<Query<ListQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::List);
    let collection = collection_of(&route)?;
    let resource = resource_of(collection);
    api.authorize_any(&caller, &access, resource, Action::Read, Vec::new())
        .await?;
    let Query(query) = query?;
    plain_text("tag", query.tag.as_deref())?;
    plain_text("q", query.q.as_deref())?;
    let min_position = MinPosition(min_position.0.or(query.min_position));
    let schema = live_schema(&api, min_position).await?;
    let visible_to = match api.policy.visibility(&caller.principal(), resource) {
        policy::Visibility::Everything => None,
        policy::Visibility::Nothing => Some(Visibility::default()),
        policy::Visibility::Some { owner_ids, teams } => Some(Visibility { owner_ids, teams }),
    };
    let filter = ListFilter {
        tag: query.tag,
        owner_id: query.owner_id,
        company_id: query.company_id,
        q: query.q,
        status: query.status,
        contact_id: query.contact_id,
        due_before: query.due_before,
        visible_to,
    };
    let page = PageRequest {
        limit: query.limit.unwrap_or(records::DEFAULT_LIMIT),
        cursor: query.cursor,
    };
    let page = api.records.list(&schema, collection, &filter, page).await?;
    let page = api.disclose(&access, page).await?;
    Ok((
        StatusCode::OK,
        Json(ListPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }),
    )
        .into_response())
}
