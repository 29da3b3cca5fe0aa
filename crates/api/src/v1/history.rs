//! The log itself, for analysts and auditors: one record's events in order
//! (`GET /v1/{collection}/{id}/history`) and the whole log page by page (`GET /v1/events`).
//! Both disclose customer data, so both are decided by the policy and logged like every read.

use accesslog::{Access, Withheld};
use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::{AccessAction, RecordRef};
use eventstore::{Category, StoredEvent, StreamRef};
use policy::{Action, Reach, Resource};
use records::{Collection, PastEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{reads::collection_of, resource_of};
use crate::access::Accessor;
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path, Query};
use crate::state::ApiState;

/// The most events one page of `/v1/events` or of a record's history holds.
pub const MAX_EVENTS_PAGE: u32 = 1_000;

/// An event as the log holds it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LoggedEvent {
    /// The global position: gapless, in commit order.
    pub position: u64,
    pub id: Uuid,
    /// `crm.<aggregate>.<event>.v<N>`, or `crm.access.record_accessed.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `<aggregate>/<id>`.
    pub subject: String,
    /// The aggregate's version after this event; absent for an access.
    pub version: Option<u64>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: serde_json::Value,
    /// The chained SHA-256, hex.
    pub hash: String,
}

impl From<StoredEvent> for LoggedEvent {
    fn from(event: StoredEvent) -> Self {
        LoggedEvent {
            position: event.position,
            id: event.event_id,
            event_type: event.public_type(),
            subject: format!("{}/{}", event.stream.stream_type, event.stream.stream_id),
            version: event.stream_version,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
            actor: event.actor,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            data: event.payload,
            hash: hex::encode(event.hash),
        }
    }
}

/// One record's events, oldest first, a page at a time.
#[derive(Debug, Serialize, JsonSchema)]
pub struct History {
    pub collection: String,
    pub id: Uuid,
    /// The record's events, oldest first.
    pub items: Vec<LoggedEvent>,
    /// The `after` of the next page (the version of this page's last event); absent at the end
    /// of the record's history as it stands.
    pub next_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Events after this version of the record (0, the default, for the first).
    pub after: Option<u64>,
    /// 1 to 1,000; 100 by default.
    pub limit: Option<u32>,
    /// Taken here so that it is no unknown parameter; [`MinPosition`] reads it, or the header.
    #[serde(rename = "min_position")]
    pub _min_position: Option<u64>,
}

/// The events of one record, in order, with who and when.
pub async fn record_history(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    Path(id): Path<Uuid>,
    query: Result<Query<HistoryQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::History);
    let collection = collection_of(&route)?;
    authorize_history(&api, &caller, &access, collection, id, min_position).await?;
    let Query(query) = query?;
    let limit = page_limit(query.limit)?;
    let after = query.after.unwrap_or(0);
    let stream = StreamRef::new(collection.stream_type(), id);
    let events = api
        .reader
        .load_stream_page(&stream, after, Some(limit))
        .await?;
    let exists = !events.is_empty()
        || (after > 0
            && !api
                .reader
                .load_stream_page(&stream, 0, Some(1))
                .await?
                .is_empty());
    if !exists {
        return Err(ApiError::NotFound("record"));
    }
    let next_after = (events.len() == limit as usize)
        .then(|| events.last().and_then(|event| event.stream_version))
        .flatten();
    let history = History {
        collection: collection.as_str().to_owned(),
        id,
        items: events.into_iter().map(LoggedEvent::from).collect(),
        next_after,
    };
    let history = api
        .disclose(&access, Withheld::new(history, asked(collection, id)))
        .await?;
    Ok(Json(history).into_response())
}

/// `GET /v1/<collection>/{id}?as_of=`: the record as the store knew it at `as_of`, rebuilt from
/// the events recorded until then; 404 if it did not exist yet.
pub(crate) async fn record_as_of(
    api: &ApiState,
    accessor: Accessor,
    min_position: MinPosition,
    collection: Collection,
    id: Uuid,
    as_of: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::History);
    authorize_history(api, &caller, &access, collection, id, min_position).await?;
    let events = api
        .reader
        .load_stream(&StreamRef::new(collection.stream_type(), id), 0)
        .await?;
    let past: Vec<PastEvent<'_>> = events
        .iter()
        .take_while(|event| event.recorded_at <= as_of)
        .map(|event| PastEvent {
            event_type: &event.event_type,
            schema_version: event.schema_version,
            version: event.stream_version.unwrap_or(0),
            payload: &event.payload,
        })
        .collect();
    let record = records::replay(collection, &past)
        .map_err(|error| ApiError::Internal(format!("replaying {collection}/{id}: {error}")))?
        .ok_or(ApiError::NotFound("record"))?;
    let record = api
        .disclose(&access, Withheld::new(record, asked(collection, id)))
        .await?;
    Ok(Json(record).into_response())
}

fn asked(collection: Collection, id: Uuid) -> Vec<RecordRef> {
    vec![RecordRef {
        collection: collection.as_str().to_owned(),
        id,
    }]
}

/// Lets the caller read the history of `collection/id`: the whole log's readers, or whoever
/// reaches both history and that record (as the records read model knows its owners).
async fn authorize_history(
    api: &ApiState,
    caller: &Caller,
    access: &Access,
    collection: Collection,
    id: Uuid,
    min_position: MinPosition,
) -> Result<(), ApiError> {
    api.authorize_any(
        caller,
        access,
        Resource::History,
        Action::Read,
        asked(collection, id),
    )
    .await?;
    if api
        .policy
        .reach(&caller.principal(), Resource::History, Action::Read)
        == Reach::All
    {
        return Ok(());
    }
    let schema = super::reads::live_schema(api, min_position).await?;
    let found = api.records.get(&schema, collection, id).await?;
    let found = found.ok_or(ApiError::NotFound("record"))?;
    for resource in [Resource::History, resource_of(collection)] {
        api.authorize(
            caller,
            access,
            resource,
            Action::Read,
            &found.ownership,
            asked(collection, id),
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this position (0, the default, for the first).
    pub after: Option<u64>,
    /// 1 to 1,000; 100 by default.
    pub limit: Option<u32>,
    /// Taken, as by every query ([`MinPosition`] reads it, or the header): this route reads the
    /// store itself, which holds every position it handed out; one beyond its head is a 504.
    #[serde(rename = "min_position")]
    pub _min_position: Option<u64>,
}

/// A page of the log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventsPage {
    /// The log's events in position order.
    pub items: Vec<LoggedEvent>,
    /// The `after` of the next page; absent at the end of the log as it stands.
    pub next_after: Option<u64>,
}

/// The raw log in position order: domain events, and the accesses too for a caller who reads
/// the whole audit trail (they are its entries; for anyone else the log skips them).
pub async fn events(
    State(api): State<ApiState>,
    accessor: Accessor,
    MinPosition(min_position): MinPosition,
    query: Result<Query<EventsQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::Export);
    // The raw log is every team's: only a reach of all of it lets a caller in (the settings
    // grant it whole or not at all).
    api.authorize(
        &caller,
        &access,
        Resource::Events,
        Action::Read,
        &policy::Ownership::default(),
        Vec::new(),
    )
    .await?;
    let Query(query) = query?;
    if let Some(wanted) = min_position {
        let reached = api.reader.head().await?.position;
        if reached < wanted {
            return Err(ApiError::NotYet { wanted, reached });
        }
    }
    let limit = page_limit(query.limit)?;
    let audits = api
        .policy
        .reach(&caller.principal(), Resource::Audit, Action::Read)
        == Reach::All;
    let after = query.after.unwrap_or(0);
    let events = if audits {
        api.reader.read_from(after, limit).await?
    } else {
        api.reader
            .read_category_from(after, limit, Category::Events)
            .await?
    };
    let disclosed = accesslog::disclosed_records(
        events
            .iter()
            .filter(|event| event.category == Category::Events)
            .map(|event| (event.stream.stream_type.as_str(), event.stream.stream_id)),
    );
    let next_after = (events.len() == limit as usize)
        .then(|| events.last().map(|event| event.position))
        .flatten();
    let page = EventsPage {
        items: events.into_iter().map(LoggedEvent::from).collect(),
        next_after,
    };
    let page = api
        .disclose(&access, accesslog::Withheld::new(page, disclosed))
        .await?;
    Ok(Json(page).into_response())
}

/// A page of events: 100 unless `limit` says otherwise, at most [`MAX_EVENTS_PAGE`].
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(100) {
        limit @ 1..=MAX_EVENTS_PAGE => Ok(limit),
        _ => Err(ApiError::invalid(
            "limit",
            format!("must be from 1 to {MAX_EVENTS_PAGE}"),
        )),
    }
}
