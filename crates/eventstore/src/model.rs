//! What goes into the store and what comes out of it: the append request, its result and the
//! stored event row. Plain data; the appender and the readers give it meaning.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The log a stored event belongs to. Domain events move an aggregate's version; record accesses
/// are logged beside them (same positions, same chain) without touching any version, so a read
/// never causes a write conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Events,
    Access,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Events => "events",
            Category::Access => "access",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        match text {
            "events" => Some(Category::Events),
            "access" => Some(Category::Access),
            _ => None,
        }
    }
}

/// One aggregate's stream: its type (`contact`, `deal`, ...) and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamRef {
    pub stream_type: String,
    pub stream_id: Uuid,
}

impl StreamRef {
    pub fn new(stream_type: impl Into<String>, stream_id: Uuid) -> StreamRef {
        StreamRef {
            stream_type: stream_type.into(),
            stream_id,
        }
    }
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.stream_type, self.stream_id)
    }
}

/// What the writer believes the stream's version to be (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append after whatever is there.
    Any,
    /// The stream must not exist yet (creation).
    NoStream,
    /// The stream's last version must be exactly this.
    Exactly(u64),
}

/// An event as the domain produced it; the appender gives it an id, a position, a version and a hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Short name within the aggregate, e.g. `created`; the public type is
    /// `crm.<stream_type>.<event_type>.v<schema_version>`.
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// The events to append to one stream, or the accesses to log against one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamAppend {
    pub stream: StreamRef,
    pub category: Category,
    /// Must be [`ExpectedVersion::Any`] for [`Category::Access`].
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    pub fn events(stream: StreamRef, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        StreamAppend {
            stream,
            category: Category::Events,
            expected,
            events,
        }
    }

    /// Appends nothing to `stream`: the request holds only while `stream` is at `version` (0: it
    /// does not exist), for a decision that read another aggregate than the one it changes.
    pub fn unchanged(stream: StreamRef, version: u64) -> Self {
        StreamAppend {
            stream,
            category: Category::Events,
            expected: ExpectedVersion::Exactly(version),
            events: Vec::new(),
        }
    }

    pub fn access(record: StreamRef, events: Vec<NewEvent>) -> Self {
        StreamAppend {
            stream: record,
            category: Category::Access,
            expected: ExpectedVersion::Any,
            events,
        }
    }
}

/// Who caused the append and in answer to what; stored on every event of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `user:<uuid>`, `system`, ... : whoever issued the command or made the read.
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

impl Metadata {
    pub fn actor(actor: impl Into<String>) -> Metadata {
        Metadata {
            actor: actor.into(),
            correlation_id: None,
            causation_id: None,
        }
    }
}

/// One atomic append: every stream in it commits, or none does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendRequest {
    pub streams: Vec<StreamAppend>,
    pub metadata: Metadata,
    pub idempotency: Option<Idempotency>,
    /// Events that must not have been appended since a position, for a decision that counted
    /// records across streams (judged under the head lock).
    pub none_since: Option<NoneSince>,
}

impl AppendRequest {
    pub fn new(metadata: Metadata, streams: Vec<StreamAppend>) -> AppendRequest {
        AppendRequest {
            streams,
            metadata,
            idempotency: None,
            none_since: None,
        }
    }

    /// Makes the append idempotent under `key`; `content` is what a retry must repeat exactly.
    pub fn idempotent(mut self, key: impl Into<String>, content: &[u8]) -> AppendRequest {
        self.idempotency = Some(Idempotency::new(key, content));
        self
    }
}

/// The append holds only if no event after `position`, of a stream of `stream_type`, matches
/// one of `matching`: a decision on what a read model counted up to `position` stays true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoneSince {
    pub position: u64,
    pub stream_type: String,
    pub matching: Vec<EventMatch>,
}

/// An event type, and what its payload must contain (a JSON object's keys and values) to match;
/// every event of the type when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMatch {
    pub event_type: String,
    pub payload_contains: Option<serde_json::Value>,
}

/// A retry with the same key and the same fingerprint returns the first result and appends
/// nothing; the same key with another fingerprint is refused. The fingerprint is the caller's
/// (a digest of the request as the client sent it), because a re-decided command carries new
/// times and ids and would never match itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: [u8; 32],
}

impl Idempotency {
    pub fn new(key: impl Into<String>, content: &[u8]) -> Idempotency {
        use sha2::{Digest, Sha256};
        Idempotency {
            key: key.into(),
            fingerprint: Sha256::digest(content).into(),
        }
    }
}

/// What an append committed.
///
/// An idempotent request of no events (a command that changed nothing, recorded so that a retry
/// answers the same) commits only its key: its `last_position` is the log's position it was
/// judged at, and `first_position` one past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub first_position: u64,
    pub last_position: u64,
    /// Each stream's version after the append, in request order (access logs carry none).
    pub streams: Vec<StreamVersion>,
    /// The ids the appender gave the events, in request order.
    pub event_ids: Vec<Uuid>,
    /// True when this is the recorded result of an earlier append with the same idempotency key.
    #[serde(default)]
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamVersion {
    pub stream: StreamRef,
    pub version: Option<u64>,
}

/// An event as the store holds it: the unit that is chained, relayed and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub position: u64,
    pub event_id: Uuid,
    pub category: Category,
    pub stream: StreamRef,
    /// `None` for record accesses.
    pub stream_version: Option<u64>,
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub payload: serde_json::Value,
    /// SHA-256 over the previous event's hash and this event's canonical form (see `chain`).
    pub hash: [u8; 32],
}

impl StoredEvent {
    /// The public CloudEvents type: `crm.<aggregate>.<event>.v<N>` for a domain event,
    /// `crm.access.<event>.v<N>` for a record access (one contract whatever the record read).
    pub fn public_type(&self) -> String {
        let family = match self.category {
            Category::Events => self.stream.stream_type.as_str(),
            Category::Access => "access",
        };
        format!("crm.{family}.{}.v{}", self.event_type, self.schema_version)
    }
}
