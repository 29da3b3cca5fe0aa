//! The log's domain events as they are committed, for services that subscribe over HTTP
//! (`GET /v1/events/stream`, server-sent events): what a service on NATS gets, for one that
//! cannot reach NATS. Each event is its CloudEvents envelope exactly as published, under its
//! position as the event id, so a client that reconnects with `Last-Event-ID` goes on after the
//! last one it took, missing nothing and taking nothing twice.
//!
//! It reads JetStream, like every subscriber. Each batch of events that arrive together is
//! logged as one access (naming every record it shows) before any of it is written, and only
//! while the caller's token still holds and still reaches the whole log: otherwise, or if the
//! log cannot commit, the stream ends, and the client resumes from its last id. A stream also
//! ends after [`MAX_LIFETIME`], so nothing lives on an old decision; and a process serves at
//! most [`MAX_STREAMS`] of them, [`MAX_STREAMS_PER_USER`] per user (each costs a consumer, and
//! an access logged per batch).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accesslog::{Access, Withheld};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::access::AccessAction;
use eventlog::Followed;
use eventstore::Category;
use futures::{Stream, StreamExt};
use policy::{Action, Reach, Resource};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::Query;
use crate::state::ApiState;

/// The most events one access covers: a catch-up from position 0 is logged in batches of this.
const MAX_BATCH: usize = 500;
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long one stream lasts before the client must reconnect (with `Last-Event-ID`).
pub const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Streams open at once in one process, and for one user.
pub const MAX_STREAMS: usize = 64;
pub const MAX_STREAMS_PER_USER: usize = 4;

/// The streams open in this process, per user.
#[derive(Clone, Default)]
pub struct OpenStreams(Arc<Mutex<HashMap<Uuid, usize>>>);

/// One open stream, counted until it is dropped.
struct Opened {
    streams: OpenStreams,
    user_id: Uuid,
}

impl OpenStreams {
    fn open(&self, user_id: Uuid) -> Result<Opened, ApiError> {
        let mut open = self
            .0
            .lock()
            .map_err(|_| ApiError::Internal("the open streams' count".to_owned()))?;
        let all: usize = open.values().sum();
        let mine = open.get(&user_id).copied().unwrap_or(0);
        if all >= MAX_STREAMS || mine >= MAX_STREAMS_PER_USER {
            return Err(ApiError::TooMany {
                message: format!(
                    "{mine} of at most {MAX_STREAMS_PER_USER} event streams open for this user, \
                     {all} of {MAX_STREAMS} in all"
                ),
                retry_after: std::time::Duration::from_secs(1),
            });
        }
        *open.entry(user_id).or_default() += 1;
        Ok(Opened {
            streams: self.clone(),
            user_id,
        })
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.0.lock()
            && let Some(count) = open.get_mut(&self.user_id)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

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
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::auth::bearer_token)
        .map(|token| token.trim().to_owned())
        .ok_or(ApiError::Unauthenticated)?;
    let Query(query) = query?;
    let follower = api.follower.as_ref().ok_or_else(|| {
        ApiError::Unavailable("this process does not follow the event stream".to_owned())
    })?;
    let filter = match &query.aggregate {
        None => follower.subjects().events_filter(),
        Some(aggregate) if accesslog::collection_of(aggregate).is_some() => follower
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
    let opened = api.streams.open(caller.user_id)?;
    let followed = follower.follow(filter, after).await?;
    let reader = Reader {
        api,
        access,
        token,
        _opened: opened,
    };
    let events = logged(reader, followed)
        .flat_map(|batch| futures::stream::iter(batch.into_iter().map(Ok::<_, Infallible>)))
        .take_until(tokio::time::sleep(MAX_LIFETIME));
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

/// Who a stream is for, held for as long as it is open.
struct Reader {
    api: ApiState,
    access: Access,
    token: String,
    _opened: Opened,
}

impl Reader {
    /// Whether the caller's token still authenticates a caller who reaches the whole log (a
    /// deactivated user, a revoked token or a changed role ends the stream).
    async fn still_allowed(&self) -> bool {
        match crate::auth::authenticate(&self.api, &self.token).await {
            Ok(caller) => {
                self.api
                    .policy
                    .reach(&caller.principal(), Resource::Events, Action::Read)
                    == Reach::All
            }
            Err(_) => false,
        }
    }
}

/// The followed events in the batches they arrive in, each batch released only once its access
/// is committed, and only while the caller may still read them. Ends at the first failure, to
/// read or to log, or once the caller may not.
fn logged(
    reader: Reader,
    followed: impl Stream<Item = Result<Followed, eventlog::LogError>> + Send + 'static,
) -> impl Stream<Item = Vec<Event>> + Send + 'static {
    let batches = followed.ready_chunks(MAX_BATCH).boxed();
    futures::stream::unfold((batches, reader), |(mut batches, reader)| async move {
        let batch = batches.next().await?;
        let request = &reader.access.request_id;
        if !reader.still_allowed().await {
            tracing::info!(%request, "an event stream ends: its caller may no longer read the log");
            return None;
        }
        match release(&reader.api, &reader.access, batch).await {
            Ok(events) => Some((events, (batches, reader))),
            Err(error) => {
                tracing::warn!(%error, %request, "an event stream ends");
                None
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
    let records = accesslog::disclosed_records(
        messages
            .iter()
            .filter_map(|message| message.envelope.stream()),
    );
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
