//! Judging one batch on a given head: each request's idempotency key and expected versions, then
//! positions, versions and the hash chain for the requests that hold. Pure: what the versions and
//! keys are, and where the head is, comes from the caller (read under the head lock, or known to
//! this process), so the same judgement serves both ways of writing.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Checked;
use crate::chain;
use crate::error::StoreError;
use crate::model::{Appended, Category, ExpectedVersion, StoredEvent, StreamRef, StreamVersion};
use crate::read::to_i64;

/// The log's last position and the hash the next event chains to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub position: u64,
    pub hash: [u8; 32],
}

/// What one request gets once its batch has committed.
pub(super) enum Outcome {
    Done(Result<Appended, StoreError>),
    /// Repeats an idempotency key first seen earlier in the same batch: judged in the next one.
    Deferred,
}

impl Outcome {
    fn is_conflict(&self) -> bool {
        matches!(self, Outcome::Done(Err(StoreError::Conflict { .. })))
    }
}

/// The first result and fingerprint of each idempotency key already recorded.
pub(super) type RecordedKeys = HashMap<String, ([u8; 32], Appended)>;

/// A judged batch: the answer for each request, and the rows that make them true.
pub(super) struct Plan {
    pub outcomes: Vec<Outcome>,
    pub events: EventRows,
    pub keys: KeyRows,
    pub recorded_at: DateTime<Utc>,
    /// The head the batch chained onto, and where it leaves it.
    pub from: Head,
    pub to: Head,
    /// Each stream the batch appends domain events to, at its new version.
    pub versions: Vec<(StreamRef, u64)>,
}

impl Plan {
    /// True when some request was refused for a stream's version: such a refusal is only as
    /// good as the versions it was judged on.
    pub fn has_conflicts(&self) -> bool {
        self.outcomes.iter().any(Outcome::is_conflict)
    }

    pub fn writes_nothing(&self) -> bool {
        self.events.event_id.is_empty() && self.keys.key.is_empty()
    }
}

/// The columns of the events a batch inserts, as arrays for one `unnest`.
#[derive(Default)]
pub(super) struct EventRows {
    pub event_id: Vec<Uuid>,
    pub category: Vec<&'static str>,
    pub stream_type: Vec<String>,
    pub stream_id: Vec<Uuid>,
    pub stream_version: Vec<Option<i64>>,
    pub event_type: Vec<String>,
    pub schema_version: Vec<i32>,
    pub occurred_at: Vec<DateTime<Utc>>,
    pub actor: Vec<String>,
    pub correlation_id: Vec<Option<Uuid>>,
    pub causation_id: Vec<Option<Uuid>>,
    /// Canonical JSON, shared with the request (kept for a retry under the head lock).
    pub payload: Vec<Bytes>,
    pub hash: Vec<Vec<u8>>,
}

#[derive(Default)]
pub(super) struct KeyRows {
    pub key: Vec<String>,
    pub fingerprint: Vec<Vec<u8>>,
    pub result: Vec<serde_json::Value>,
}

/// Judges `batch` in order on `head`, with `versions` holding the current version of the
/// streams it appends to (absent: no stream) and `recorded` its keys already recorded.
pub(super) fn plan(
    batch: &[Checked],
    head: Head,
    mut versions: HashMap<StreamRef, u64>,
    recorded: &RecordedKeys,
    recorded_at: DateTime<Utc>,
) -> Result<Plan, StoreError> {
    let mut position = head.position;
    let mut previous_hash = head.hash;
    let mut events = EventRows::default();
    let mut keys = KeyRows::default();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut keys_in_batch = HashSet::new();
    let mut appended_streams = HashSet::new();

    for Checked { request, payloads } in batch {
        if let Some(idempotency) = &request.idempotency {
            if let Some((fingerprint, first)) = recorded.get(&idempotency.key) {
                let outcome = if *fingerprint == idempotency.fingerprint {
                    Ok(Appended {
                        replayed: true,
                        ..first.clone()
                    })
                } else {
                    Err(StoreError::IdempotencyMismatch {
                        key: idempotency.key.clone(),
                    })
                };
                outcomes.push(Outcome::Done(outcome));
                continue;
            }
            if !keys_in_batch.insert(idempotency.key.as_str()) {
                outcomes.push(Outcome::Deferred);
                continue;
            }
        }
        if let Err(conflict) = check_versions(request, &versions) {
            if let Some(idempotency) = &request.idempotency {
                keys_in_batch.remove(idempotency.key.as_str());
            }
            outcomes.push(Outcome::Done(Err(conflict)));
            continue;
        }

        let first_position = position + 1;
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        let mut event_ids = Vec::new();
        let mut payloads = payloads.iter();
        for stream in &request.streams {
            let mut version = match stream.category {
                Category::Events => Some(versions.get(&stream.stream).copied().unwrap_or(0)),
                Category::Access => None,
            };
            for new in &stream.events {
                position += 1;
                version = version.map(|v| v + 1);
                let event = StoredEvent {
                    position,
                    event_id: Uuid::now_v7(),
                    category: stream.category,
                    stream: stream.stream.clone(),
                    stream_version: version,
                    event_type: new.event_type.clone(),
                    schema_version: new.schema_version,
                    occurred_at: new.occurred_at,
                    recorded_at,
                    actor: request.metadata.actor.clone(),
                    correlation_id: request.metadata.correlation_id,
                    causation_id: request.metadata.causation_id,
                    payload: serde_json::Value::Null,
                    hash: chain::GENESIS,
                };
                let payload = payloads.next().ok_or_else(|| {
                    StoreError::Invalid("a request changed after validation".to_owned())
                })?;
                let hash = chain::chain_hash(&previous_hash, &event, payload);
                previous_hash = hash;
                event_ids.push(event.event_id);
                events.push(event, payload.clone(), hash)?;
            }
            // A stream the request only expects at its version keeps it (and stays unknown
            // if it does not exist).
            if stream.events.is_empty() {
                version = versions.get(&stream.stream).copied();
            } else if let Some(version) = version {
                versions.insert(stream.stream.clone(), version);
                appended_streams.insert(stream.stream.clone());
            }
            stream_versions.push(StreamVersion {
                stream: stream.stream.clone(),
                version,
            });
        }
        let appended = Appended {
            first_position,
            last_position: position,
            streams: stream_versions,
            event_ids,
            replayed: false,
        };
        if let Some(idempotency) = &request.idempotency {
            keys.key.push(idempotency.key.clone());
            keys.fingerprint.push(idempotency.fingerprint.to_vec());
            keys.result
                .push(serde_json::to_value(&appended).map_err(|error| {
                    StoreError::Invalid(format!("cannot record the result: {error}"))
                })?);
        }
        outcomes.push(Outcome::Done(Ok(appended)));
    }

    let versions = appended_streams
        .into_iter()
        .filter_map(|stream| {
            let version = versions.get(&stream).copied();
            version.map(|version| (stream, version))
        })
        .collect();
    Ok(Plan {
        outcomes,
        events,
        keys,
        recorded_at,
        from: head,
        to: Head {
            position,
            hash: previous_hash,
        },
        versions,
    })
}

impl EventRows {
    fn push(
        &mut self,
        event: StoredEvent,
        payload: Bytes,
        hash: [u8; 32],
    ) -> Result<(), StoreError> {
        self.event_id.push(event.event_id);
        self.category.push(event.category.as_str());
        self.stream_type.push(event.stream.stream_type);
        self.stream_id.push(event.stream.stream_id);
        self.stream_version
            .push(event.stream_version.map(to_i64).transpose()?);
        self.event_type.push(event.event_type);
        self.schema_version
            .push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
        self.occurred_at.push(event.occurred_at);
        self.actor.push(event.actor);
        self.correlation_id.push(event.correlation_id);
        self.causation_id.push(event.causation_id);
        self.payload.push(payload);
        self.hash.push(hash.to_vec());
        Ok(())
    }
}

fn check_versions(
    request: &crate::model::AppendRequest,
    versions: &HashMap<StreamRef, u64>,
) -> Result<(), StoreError> {
    for stream in &request.streams {
        if stream.category == Category::Access {
            continue;
        }
        let actual = versions.get(&stream.stream).copied();
        let holds = match stream.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream | ExpectedVersion::Exactly(0) => actual.is_none(),
            ExpectedVersion::Exactly(expected) => actual == Some(expected),
        };
        if !holds {
            return Err(StoreError::Conflict {
                stream: stream.stream.clone(),
                expected: stream.expected,
                actual,
            });
        }
    }
    Ok(())
}
