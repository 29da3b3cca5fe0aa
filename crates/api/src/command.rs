//! Running a command: load the aggregate from the store, decide on it (pure), append the events
//! expecting the version that was decided on. A lost race is decided again on fresh state, unless
//! the client pinned the version with `If-Match` (then 412). A retry with an `Idempotency-Key`
//! already recorded gets the first result without deciding again: a second decision would see
//! its own first effect and refuse.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use accesslog::Access;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::AccessAction;
use domain::{Aggregate, Context, DomainError, DomainEvent};
use eventstore::{
    AppendRequest, Appended, ExpectedVersion, Idempotency, Metadata, NewEvent, NoneSince,
    StoreError, StreamAppend, StreamRef,
};
use policy::{Action, Resource};
use serde::Serialize;
use uuid::Uuid;

use crate::access::access_of;
use crate::auth::Caller;
use crate::guard::{Guarded, Written, authorize_write};
use crate::problem::ApiError;

use crate::request::{IdempotencyKey, IfMatch};
use crate::state::ApiState;

/// How often a command lost to a concurrent writer is decided again before giving up.
const ATTEMPTS: usize = 8;

/// An aggregate as the store holds it now.
pub struct Loaded<A: Aggregate> {
    pub state: A::State,
    pub version: u64,
    /// The position of the stream's last event (0 when it has none).
    pub position: u64,
    /// The user whose command created the record, if a user's did.
    pub created_by: Option<Uuid>,
}

impl<A: Aggregate> Loaded<A> {
    /// A stream with no events.
    pub(crate) fn empty() -> Loaded<A> {
        Loaded {
            state: A::State::default(),
            version: 0,
            position: 0,
            created_by: None,
        }
    }
}

impl<A: Aggregate> Clone for Loaded<A> {
    fn clone(&self) -> Self {
        Loaded {
            state: self.state.clone(),
            ..*self
        }
    }
}

/// Commands on one aggregate take turns within this process: a burst of commands on one record
/// would otherwise all decide on the same version, all but one lose the race, and retry into the
/// same collision. Striped, so memory stays fixed however many aggregates there are; processes
/// still race each other, and the store's version check settles that.
#[derive(Clone)]
pub struct Turns {
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
}

const STRIPES: usize = 4096;

impl Turns {
    pub fn new() -> Turns {
        Turns {
            stripes: Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect()),
        }
    }

    /// Waits for this aggregate's turn; the turn lasts as long as the guard.
    pub async fn take(&self, stream: &StreamRef) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(stream);
        let index = usize::try_from(hash % STRIPES as u64).unwrap_or(0);
        self.stripes[index].lock().await
    }
}

impl Default for Turns {
    fn default() -> Self {
        Turns::new()
    }
}

/// Recently loaded aggregates, so that a command on a long stream reads only the events
/// appended since (never the whole stream again). Bounded by count; an entry is only ever a
/// starting point: every load still reads the store from the cached version on.
pub type AggregateCache = moka::future::Cache<StreamRef, Arc<dyn Any + Send + Sync>>;

const CACHED_AGGREGATES: u64 = 100_000;

pub fn aggregate_cache() -> AggregateCache {
    moka::future::Cache::builder()
        .max_capacity(CACHED_AGGREGATES)
        .build()
}

async fn cached<A: Aggregate>(api: &ApiState, stream: &StreamRef) -> Option<Arc<Loaded<A>>> {
    api.aggregates
        .get(stream)
        .await
        .and_then(|entry| entry.downcast::<Loaded<A>>().ok())
}

/// Whether the record exists. A record once created never stops existing (archiving keeps it),
/// so a cached state that exists answers without reading the store.
pub async fn exists<A: Aggregate>(api: &ApiState, id: Uuid) -> Result<bool, ApiError> {
    let cached = cached::<A>(api, &StreamRef::new(A::STREAM_TYPE, id)).await;
    if cached.is_some_and(|cached| A::exists(&cached.state)) {
        return Ok(true);
    }
    Ok(A::exists(&load::<A>(api, id).await?.state))
}

/// Folds one stream's stored events into its state, starting from the cached state if any.
pub async fn load<A: Aggregate>(api: &ApiState, id: Uuid) -> Result<Loaded<A>, ApiError> {
    let stream = StreamRef::new(A::STREAM_TYPE, id);
    let cached = cached::<A>(api, &stream).await;
    let mut loaded = cached.map_or_else(Loaded::empty, |cached| Loaded::clone(&cached));
    let stored = api.reader.load_stream(&stream, loaded.version).await?;
    let changed = !stored.is_empty();
    for event in stored {
        let decoded =
            A::Event::from_stored(&event.event_type, event.schema_version, &event.payload)?;
        loaded.state = A::evolve(loaded.state, &decoded);
        loaded.version = event.stream_version.unwrap_or(loaded.version);
        loaded.position = event.position;
        if loaded.version == 1 {
            loaded.created_by = eventlog::user_of_actor(&event.actor);
        }
    }
    if changed {
        api.aggregates
            .insert(stream, Arc::new(loaded.clone()))
            .await;
    }
    Ok(loaded)
}

/// Everything a command handler takes from a request besides its body: who calls, `If-Match`,
/// `Idempotency-Key`, and the route as the client named it (part of the idempotency fingerprint).
pub struct CommandMeta {
    pub caller: Caller,
    pub if_match: IfMatch,
    pub key: IdempotencyKey,
    pub route: String,
    /// The request as a refusal would be logged.
    pub access: Access,
}

impl axum::extract::FromRequestParts<ApiState> for CommandMeta {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        api: &ApiState,
    ) -> Result<CommandMeta, ApiError> {
        let caller = Caller::from_request_parts(parts, api).await?;
        let if_match = IfMatch::from_request_parts(parts, api).await?;
        let key = IdempotencyKey::from_request_parts(parts, api).await?;
        let route = format!("{} {}", parts.method, parts.uri.path());
        let access = access_of(parts, Some(&caller), AccessAction::Write);
        Ok(CommandMeta {
            caller,
            if_match,
            key,
            route,
            access,
        })
    }
}

impl CommandMeta {
    /// The command request for a body the client sent (`&[]` for none).
    pub fn request(&self, body: &[u8]) -> CommandRequest<'_> {
        CommandRequest::with_access(
            &self.caller,
            self.if_match,
            self.key.clone(),
            &self.route,
            body,
            self.access.clone(),
        )
    }

    /// Lets the caller change some records of `resource` at all, or logs the refusal (403).
    pub async fn may_write(&self, api: &ApiState, resource: Resource) -> Result<(), ApiError> {
        api.authorize_any(
            &self.caller,
            &self.access,
            resource,
            Action::Write,
            Vec::new(),
        )
        .await
    }
}

/// What the client sent with a command besides its body.
pub struct CommandRequest<'a> {
    pub caller: &'a Caller,
    pub if_match: IfMatch,
    pub idempotency: Option<Idempotency>,
    /// The request as a refusal is logged.
    pub access: Access,
}

impl<'a> CommandRequest<'a> {
    /// A command the system itself sends (no HTTP request behind it). The key is scoped to the
    /// caller, so two clients cannot collide; the fingerprint covers the route and the body
    /// exactly as sent.
    pub fn new(
        caller: &'a Caller,
        if_match: IfMatch,
        key: IdempotencyKey,
        route: &str,
        body: &[u8],
    ) -> CommandRequest<'a> {
        let access = Access {
            actor: caller.actor(),
            role: Some(caller.role),
            action: AccessAction::Write,
            route: route.to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        };
        CommandRequest::with_access(caller, if_match, key, route, body, access)
    }

    /// A command as an HTTP request sent it, logged as `access` if it is refused.
    fn with_access(
        caller: &'a Caller,
        if_match: IfMatch,
        key: IdempotencyKey,
        route: &str,
        body: &[u8],
        access: Access,
    ) -> CommandRequest<'a> {
        let idempotency = key.0.map(|key| {
            let mut content = route.as_bytes().to_vec();
            content.push(0);
            content.extend_from_slice(body);
            Idempotency::new(format!("{}:{key}", caller.user_id), &content)
        });
        CommandRequest {
            caller,
            if_match,
            idempotency,
            access,
        }
    }

    /// Refuses the command when `If-Match` named another version than the record's.
    pub fn check_version(&self, current: u64) -> Result<(), ApiError> {
        match self.if_match.0 {
            Some(expected) if expected != current => {
                Err(ApiError::PreconditionFailed { expected, current })
            }
            _ => Ok(()),
        }
    }

    pub fn context(&self) -> Context {
        Context {
            now: Utc::now(),
            actor_id: self.caller.user_id,
            actor_role: self.caller.role,
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            actor: self.caller.actor(),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
        }
    }

    /// The recorded result of this request's key, if it was already used.
    async fn recorded(&self, api: &ApiState) -> Result<Option<Appended>, ApiError> {
        let Some(idempotency) = &self.idempotency else {
            return Ok(None);
        };
        match api.reader.recorded_append(&idempotency.key).await? {
            Some((fingerprint, appended)) if fingerprint == idempotency.fingerprint => {
                Ok(Some(appended))
            }
            Some(_) => Err(ApiError::IdempotencyMismatch),
            None => Ok(None),
        }
    }

    /// Appends `streams` atomically under this request's metadata and key.
    pub async fn append(
        &self,
        api: &ApiState,
        streams: Vec<StreamAppend>,
    ) -> Result<Appended, StoreError> {
        self.append_unless(api, streams, None).await
    }

    /// [`append`](Self::append), refused if an event `none_since` names came in the meantime.
    pub async fn append_unless(
        &self,
        api: &ApiState,
        streams: Vec<StreamAppend>,
        none_since: Option<NoneSince>,
    ) -> Result<Appended, StoreError> {
        let mut request = AppendRequest::new(self.metadata(), streams);
        request.idempotency = self.idempotency.clone();
        request.none_since = none_since;
        api.appender.append(request).await
    }
}

/// What one attempt at a command came to.
pub enum Attempt {
    Appended(Appended),
    /// The command changed nothing: no events, the record stays at this version and position.
    Unchanged {
        version: u64,
        position: u64,
    },
}

/// Runs `attempt` until it does not lose a race, at most [`ATTEMPTS`] times. `attempt` decides
/// afresh each time; a recorded idempotent result is answered first.
pub async fn retrying<F, Fut>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    mut attempt: F,
) -> Result<Attempt, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt, ApiError>>,
{
    if let Some(appended) = request.recorded(api).await? {
        return Ok(Attempt::Appended(appended));
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Err(ApiError::Conflict {
                current_version, ..
            }) if request.if_match.0.is_none() && current_version.is_some() => {
                last = current_version;
            }
            other => return other,
        }
    }
    Err(ApiError::Conflict {
        detail: format!("the record kept changing; gave up after {ATTEMPTS} attempts"),
        current_version: last,
    })
}

/// Runs `attempt` (which reads what its decision needs, then executes it) again while what it
/// read changes before its append commits, at most [`ATTEMPTS`] times.
pub async fn with_fresh_reads<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    for _ in 1..ATTEMPTS {
        match attempt().await {
            Err(ApiError::ReadChanged(_)) => continue,
            other => return other,
        }
    }
    attempt().await
}

/// Decides `command` on aggregate `id` and appends its events. `create` says whether the command
/// makes the stream (it must not exist) or addresses an existing one (it must).
pub async fn execute<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    create: bool,
    command: impl Fn(&Loaded<A>) -> Result<A::Command, ApiError>,
) -> Result<Committed, ApiError> {
    execute_all::<A>(api, request, id, create, |loaded| {
        Ok(vec![command(loaded)?])
    })
    .await
}

/// Decides several commands on one aggregate, each on the state the previous one left, and
/// appends all their events at once: a PATCH of several fields is one change, or none.
pub async fn execute_all<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    create: bool,
    commands: impl Fn(&Loaded<A>) -> Result<Vec<A::Command>, ApiError>,
) -> Result<Committed, ApiError> {
    // A new record's id was just made here, so its stream cannot exist: the first attempt
    // decides on the empty state without reading it (the store's "no stream" check still
    // holds); a retry reads it.
    let first = create.then(Loaded::empty);
    execute_reading::<A>(
        api,
        request,
        id,
        create,
        first,
        &Reading::default(),
        commands,
    )
    .await
}

/// What a decision read besides the record it changes, as conditions on its append: if one no
/// longer holds when the append is judged, nothing is written and the answer is
/// [`ApiError::ReadChanged`], for the caller to read again ([`with_fresh_reads`]).
#[derive(Debug, Default)]
pub struct Reading {
    /// Other records, each expected still at the version read ([`StreamAppend::unchanged`]): a
    /// deal's stages are its pipeline's.
    pub unchanged: Vec<StreamAppend>,
    /// Events that must not have come after what a read model counted: a stage removed as empty.
    pub none_since: Option<NoneSince>,
}

impl Reading {
    /// A decision that read one other record, at the version in `read`.
    pub fn of(read: StreamAppend) -> Reading {
        Reading {
            unchanged: vec![read],
            none_since: None,
        }
    }

    /// What the caller is told when the append was refused: [`ApiError::ReadChanged`] when what
    /// was read no longer holds, otherwise as for any command ([`conflict_or`]).
    pub fn refusal(&self, error: StoreError, if_match: IfMatch) -> ApiError {
        match error {
            StoreError::Conflict { stream, .. }
                if self.unchanged.iter().any(|read| read.stream == stream) =>
            {
                ApiError::ReadChanged(stream.stream_type)
            }
            StoreError::ConditionFailed { .. } => {
                ApiError::ReadChanged(self.none_since.as_ref().map_or_else(String::new, |since| {
                    format!("{} records", since.stream_type)
                }))
            }
            error => conflict_or(error, if_match),
        }
    }
}

/// [`execute_all`] for a decision that also read other records, held to [`Reading`]. The first
/// attempt decides on `first` when given (a state the handler has just loaded), every other on
/// the stream as the store holds it.
pub async fn execute_reading<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    create: bool,
    first: Option<Loaded<A>>,
    reading: &Reading,
    commands: impl Fn(&Loaded<A>) -> Result<Vec<A::Command>, ApiError>,
) -> Result<Committed, ApiError> {
    let stream = StreamRef::new(A::STREAM_TYPE, id);
    let _turn = api.turns.take(&stream).await;
    let first = std::sync::Mutex::new(first);
    let attempt = retrying(api, request, || async {
        let seeded = first.lock().ok().and_then(|mut first| first.take());
        let loaded = match seeded {
            Some(loaded) => loaded,
            None => load::<A>(api, id).await?,
        };
        if !create && !A::exists(&loaded.state) {
            return Err(ApiError::NotFound(A::STREAM_TYPE));
        }
        if !create {
            authorize_write::<A>(api, request, id, Written::Changed(&loaded)).await?;
            request.check_version(loaded.version)?;
        }
        let context = request.context();
        let mut state = loaded.state.clone();
        let mut events = Vec::new();
        for command in commands(&loaded)? {
            let decided = match A::decide(&state, command, &context) {
                Ok(decided) => decided,
                // A rule of the domain on who may (a reopen): refused and logged as any 403.
                Err(DomainError::Forbidden(reason)) => {
                    let record = domain::access::RecordRef {
                        collection: A::RESOURCE.as_str().to_owned(),
                        id,
                    };
                    return Err(api.refuse(&request.access, vec![record], reason).await);
                }
                // The command no longer holds. A keyed request may be the retry of one that
                // another process has just committed: that one's answer, not this refusal.
                Err(refused @ (DomainError::Conflict(_) | DomainError::AlreadyExists)) => {
                    if let Some(appended) = request.recorded(api).await? {
                        return Ok(Attempt::Appended(appended));
                    }
                    return Err(ApiError::Refused {
                        detail: refused.to_string(),
                        current_version: loaded.version,
                    });
                }
                Err(refused) => return Err(refused.into()),
            };
            state = decided.iter().fold(state, A::evolve);
            events.extend(decided);
        }
        if create {
            authorize_write::<A>(api, request, id, Written::Created(&state)).await?;
        }
        if events.is_empty() && request.idempotency.is_none() {
            return Ok(Attempt::Unchanged {
                version: loaded.version,
                position: loaded.position,
            });
        }
        // A change to nothing with a key is still appended (no events, the record expected
        // where it is) so that its key is recorded: a retry after the record moved on must
        // answer this, not decide again.
        let expected = if create {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exactly(loaded.version)
        };
        let mut streams = vec![StreamAppend::events(
            stream.clone(),
            expected,
            new_events(&events, request),
        )];
        streams.extend_from_slice(&reading.unchanged);
        request
            .append_unless(api, streams, reading.none_since.clone())
            .await
            .map(Attempt::Appended)
            .map_err(|error| reading.refusal(error, request.if_match))
    })
    .await?;
    Ok(match attempt {
        Attempt::Appended(appended) => Committed::of(&appended, &stream, create),
        Attempt::Unchanged { version, position } => Committed {
            id,
            version,
            position,
            created: false,
        },
    })
}

/// A lost race on a pinned version is a failed precondition, not a conflict.
pub fn conflict_or(error: StoreError, if_match: IfMatch) -> ApiError {
    match (error, if_match.0) {
        (StoreError::Conflict { actual, .. }, Some(expected)) => ApiError::PreconditionFailed {
            expected,
            current: actual.unwrap_or(0),
        },
        (error, _) => error.into(),
    }
}

/// The domain's events as the store takes them.
pub fn new_events<E: DomainEvent>(events: &[E], request: &CommandRequest<'_>) -> Vec<NewEvent> {
    new_events_at(events, request.context().now)
}

/// The domain's events as the store takes them, occurring at `occurred_at`.
pub fn new_events_at<E: DomainEvent>(events: &[E], occurred_at: DateTime<Utc>) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            occurred_at,
            payload: event.to_payload(),
        })
        .collect()
}

/// The answer to every command: the record, its version after the command and the position of
/// the command's last event (`X-Crm-Position`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Committed {
    pub id: Uuid,
    pub version: u64,
    pub position: u64,
    #[serde(skip)]
    pub created: bool,
}

impl Committed {
    pub fn of(appended: &Appended, stream: &StreamRef, created: bool) -> Committed {
        // A replayed creation names the record the first request created, not this one's
        // fresh id.
        let appended_stream = appended
            .streams
            .iter()
            .find(|appended| appended.stream == *stream)
            .or_else(|| {
                appended
                    .streams
                    .iter()
                    .find(|appended| appended.stream.stream_type == stream.stream_type)
            });
        let version = appended_stream.and_then(|s| s.version).unwrap_or(0);
        Committed {
            id: appended_stream.map_or(stream.stream_id, |s| s.stream.stream_id),
            version,
            position: appended.last_position,
            created,
        }
    }
}

impl IntoResponse for Committed {
    fn into_response(self) -> Response {
        let status = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        with_position(status, self.position, axum::Json(self))
    }
}

/// A response carrying `X-Crm-Position`, the position a later query can wait for.
pub fn with_position(status: StatusCode, position: u64, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
        response.headers_mut().insert("x-crm-position", value);
    }
    response
}
