//! The log's domain events as they are committed, for services that subscribe over HTTP
//! (`GET /v1/events/stream`, server-sent events): what a service on NATS gets, for one that
//! cannot reach NATS. Each event is its CloudEvents envelope exactly as published, under its
//! position as the event id, so a client that reconnects with `Last-Event-ID` goes on after the
//! last one it took, missing nothing and taking nothing twice.
//!
//! It reads JetStream, like every subscriber. Each batch of events that arrive together is
//! logged as one access (naming every record it shows) before any of it is written: if the log
//! cannot commit, the stream ends instead, and the client resumes from its last id.

use std::convert::Infallible;
use std::time::Duration;

use accesslog::{Access, Withheld};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::access::{AccessAction, RecordRef};
use eventlog::Followed;
use eventstore::Category;
use futures::{Stream, StreamExt};
use policy::{Action, Resource};
use serde::Deserialize;

use super::history::collection_named;
use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::Query;
use crate::state::ApiState;

/// The most events one access covers: a catch-up from position 0 is logged in batches of this.
const MAX_BATCH: usize = 500;
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this position (0: from the first event); without it (and without
    /// `Last-Event-ID`), with the first event committed after the request.
    pub after: Option<u64>,
    /// Only this aggregate's events: `company`, `contact`, `lead`, `pipeline`, `deal`,
    /// `activity`, `task`, `case` or `user`.
    pub aggregate: Option<String>,
}

/// `GET /v1/events/stream`: every domain event from a position on, as it is committed.
pub async fn stream(
    State(api): State<ApiState>,
    accessor: Accessor,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::Export);
    // As `/v1/events`: the log is every team's, so only a reach of all of it lets a caller in.
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
    let follower = api.follower.as_ref().ok_or_else(|| {
        ApiError::Unavailable("this process does not follow the event stream".to_owned())
    })?;
    let filter = match &query.aggregate {
        None => follower.subjects().events_filter(),
        Some(aggregate) if collection_named(aggregate).is_some() => follower
            .subjects()
            .aggregate_filter(Category::Events, aggregate),
        Some(_) => {
            return Err(ApiError::invalid(
                "aggregate",
                "must be one of company, contact, lead, pipeline, deal, activity, task, case, user",
            ));
        }
    };
    let after = match last_event_id(&headers)?.or(query.after) {
        Some(position) => position,
        None => api.reader.head().await?.position,
    };
    let followed = follower.follow(filter, after).await?;
    let events = logged(api, access, followed)
        .flat_map(|batch| futures::stream::iter(batch.into_iter().map(Ok::<_, Infallible>)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// `Last-Event-ID`, which a client reconnecting sends: the position it took last.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID", "must be a position the stream sent")
                })
        })
        .transpose()
}

/// The followed events in the batches they arrive in, each batch released only once its access
/// is committed. Ends at the first failure, to read or to log.
fn logged(
    api: ApiState,
    access: Access,
    followed: impl Stream<Item = Result<Followed, eventlog::LogError>> + Send + 'static,
) -> impl Stream<Item = Vec<Event>> + Send + 'static {
    let batches = followed.ready_chunks(MAX_BATCH).boxed();
    futures::stream::unfold(Some(batches), move |batches| {
        let api = api.clone();
        let access = access.clone();
        async move {
            let mut batches = batches?;
            let batch = batches.next().await?;
            match release(&api, &access, batch).await {
                Ok(events) => Some((events, Some(batches))),
                Err(error) => {
                    tracing::warn!(error = %error, request = %access.request_id, "an event stream ends");
                    None
                }
            }
        }
    })
}

/// Logs the access to the batch's records and answers its events: those before a failure to
/// read, which ends the stream.
async fn release(
    api: &ApiState,
    access: &Access,
    batch: Vec<Result<Followed, eventlog::LogError>>,
) -> Result<Vec<Event>, ApiError> {
    let messages: Vec<Followed> = batch
        .into_iter()
        .map_while(|item| {
            item.map_err(|error| {
                tracing::warn!(error = %error, request = %access.request_id, "an event stream ends");
            })
            .ok()
        })
        .collect();
    let mut records: Vec<RecordRef> = Vec::new();
    for message in &messages {
        if let Some((stream_type, id)) = message.envelope.stream()
            && let Some(collection) = collection_named(stream_type)
        {
            let record = RecordRef {
                collection: collection.to_owned(),
                id,
            };
            if !records.contains(&record) {
                records.push(record);
            }
        }
    }
    let messages = api
        .disclose(access, Withheld::new(messages, records))
        .await?;
    messages
        .iter()
        .map(|message| {
            let data = std::str::from_utf8(&message.payload)
                .map_err(|error| ApiError::Internal(format!("an envelope: {error}")))?;
            Ok(Event::default()
                .id(message.envelope.position.to_string())
                .event(message.envelope.event_type.as_str())
                .data(data))
        })
        .collect()
}
