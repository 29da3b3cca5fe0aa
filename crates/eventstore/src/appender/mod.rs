//! Group commit: every append in the process goes through a writer task, which takes all the
//! requests waiting at that moment and commits them in ONE transaction, so concurrent commands
//! share one fsync.
//!
//! Every batch moves the single `log_head` row, whose lock orders all appenders, in this process
//! and in any other: positions are handed out without gaps (a rollback returns them), the hash
//! chain has one order, and versions are judged on a state no one else can change before the
//! commit. Each request is judged on its own: a conflict or an idempotency mismatch fails that
//! request only, and the others in the batch still commit.
//!
//! While one batch commits, the next is judged and chained onto the head the first will leave
//! ([`sequencer`]) and sent behind it on the same connection as one statement ([`writer`]), so
//! the database goes from one batch's fsync straight to the next, and the head is never held
//! while this process works. A batch whose assumptions did not hold is refused whole by the
//! database and judged again under the head lock ([`write`]).

mod plan;
mod sequencer;
mod write;
mod writer;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use crate::chain;
use crate::error::StoreError;
use crate::model::{AppendRequest, Appended, Category, ExpectedVersion};

/// The most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// The largest payload, in bytes of canonical JSON: well under NATS's default 1 MiB message limit,
/// so that every event the store accepts can be relayed (its envelope adds about 1 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
const MAX_NAME_LENGTH: usize = 64;
const MAX_ACTOR_LENGTH: usize = 200;
/// Room for the API's longest key (200 characters) behind the caller's id that scopes it.
const MAX_KEY_LENGTH: usize = 256;

/// The handle every writer holds; cheap to clone.
#[derive(Clone)]
pub struct Appender {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    request: Checked,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// A request that passed validation, with its payloads already in canonical JSON (serialised on
/// the caller's task, not in the one writer every append waits for).
struct Checked {
    request: AppendRequest,
    payloads: Vec<Bytes>,
}

impl Appender {
    /// Starts the writer task; it runs until every handle is dropped.
    pub fn start(pool: Pool, batch_max: usize) -> Appender {
        let batch_max = batch_max.max(1);
        let (jobs, receiver) = mpsc::channel(batch_max * 4);
        tokio::spawn(writer::run(pool, receiver, batch_max));
        Appender { jobs }
    }

    /// Appends atomically: every stream in the request commits, or none does. Returns once the
    /// transaction has committed (on disk).
    pub async fn append(&self, mut request: AppendRequest) -> Result<Appended, StoreError> {
        let payloads = validate(&mut request)?;
        let request = Checked { request, payloads };
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the appender has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the appender stopped before answering".to_owned())
        })?
    }
}

/// Refuses what could fail inside the shared transaction, so one bad request never costs the
/// others in its batch their commit; truncates times to the microseconds PostgreSQL keeps.
/// Returns every event's payload in canonical JSON, in request order.
fn validate(request: &mut AppendRequest) -> Result<Vec<Bytes>, StoreError> {
    let invalid = |message: String| Err(StoreError::Invalid(message));
    if request.streams.is_empty() {
        return invalid("an append needs at least one stream".to_owned());
    }
    let events: usize = request.streams.iter().map(|s| s.events.len()).sum();
    if events == 0 && request.idempotency.is_none() {
        return invalid(
            "an append needs at least one event, or an idempotency key to record".to_owned(),
        );
    }
    if events > MAX_EVENTS_PER_REQUEST {
        return invalid(format!(
            "{events} events in one append; at most {MAX_EVENTS_PER_REQUEST}"
        ));
    }
    check_text("actor", &request.metadata.actor, MAX_ACTOR_LENGTH)?;
    if let Some(condition) = &request.none_since {
        check_name("stream type", &condition.stream_type)?;
        if condition.matching.is_empty() {
            return invalid("a condition needs at least one event type to look for".to_owned());
        }
        for matching in &condition.matching {
            check_name("event type", &matching.event_type)?;
            if matching
                .payload_contains
                .as_ref()
                .is_some_and(|contains| !contains.is_object())
            {
                return invalid("a condition's payload must be a JSON object".to_owned());
            }
        }
    }
    if let Some(idempotency) = &request.idempotency {
        check_text("idempotency key", &idempotency.key, MAX_KEY_LENGTH)?;
    }
    let mut seen = std::collections::HashSet::new();
    let mut payloads = Vec::with_capacity(events);
    for stream in &mut request.streams {
        check_name("stream type", &stream.stream.stream_type)?;
        if !seen.insert((stream.category, stream.stream.clone())) {
            return invalid(format!("stream {} appears twice", stream.stream));
        }
        let checks_only = stream.category == Category::Events
            && matches!(stream.expected, ExpectedVersion::Exactly(_));
        if stream.events.is_empty() && !checks_only {
            return invalid(format!("no events for stream {}", stream.stream));
        }
        if stream.category == Category::Access && stream.expected != ExpectedVersion::Any {
            return invalid("record accesses take no expected version".to_owned());
        }
        for event in &mut stream.events {
            check_name("event type", &event.event_type)?;
            if event.schema_version == 0 || i32::try_from(event.schema_version).is_err() {
                return invalid(format!("schema version {}", event.schema_version));
            }
            event.occurred_at = truncate_to_micros(event.occurred_at);
            chain::normalise_payload(&mut event.payload)
                .map_err(|message| StoreError::Invalid(format!("payload: {message}")))?;
            let mut payload = Vec::with_capacity(256);
            chain::canonical_json(&event.payload, &mut payload);
            if payload.len() > MAX_PAYLOAD_BYTES {
                return invalid(format!(
                    "a payload of {} bytes; at most {MAX_PAYLOAD_BYTES}",
                    payload.len()
                ));
            }
            payloads.push(Bytes::from(payload));
        }
    }
    Ok(payloads)
}

fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_LENGTH;
    if well_formed {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_LENGTH} of a-z, 0-9 and _, starting with a letter"
        )))
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), StoreError> {
    if text.is_empty() || text.len() > max || text.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {max} bytes without NUL characters"
        )));
    }
    Ok(())
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}
