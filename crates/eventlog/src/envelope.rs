//! The public event contract on the wire: a CloudEvents 1.0 envelope in JSON structured mode,
//! with our extension attributes (position, aggregate version, actor, correlation, chain hash).
//! Its JSON Schema is generated from this type and checked in as `schemas/envelope.v1.json`; a
//! test fails when the two differ.

use async_nats::HeaderMap;
use async_nats::header::{NATS_EXPECTED_LAST_SEQUENCE, NATS_MESSAGE_ID};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventstore::{Category, StoredEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::LogError;

/// The `Content-Type` of every message: a CloudEvent in JSON structured mode.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// Headers that repeat envelope attributes, so subscribers can route without parsing the body.
pub const HEADER_CE_ID: &str = "Ce-Id";
pub const HEADER_CE_TYPE: &str = "Ce-Type";
pub const HEADER_CE_SUBJECT: &str = "Ce-Subject";
pub const HEADER_CE_TIME: &str = "Ce-Time";
/// The event's global position, which is also its stream sequence.
pub const HEADER_POSITION: &str = "Crm-Position";
/// The version of the envelope contract this type writes (`schemas/envelope.v<N>.json`).
pub const ENVELOPE_VERSION: u32 = 1;

/// One stored event as every consumer receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "CRM event envelope v1",
    description = "A CloudEvents 1.0 event in JSON structured mode, carrying one event of the CRM \
                   event store. Published on <prefix>.events.<aggregate>.<id> (domain events) and \
                   <prefix>.access.<aggregate>.<id> (record accesses); the JetStream sequence of \
                   the message equals `position`."
)]
pub struct Envelope {
    /// The CloudEvents version: always "1.0".
    #[serde(rename = "specversion")]
    pub spec_version: SpecVersion,
    /// The event's id (UUIDv7), unique across the log; also the `Nats-Msg-Id` header.
    pub id: Uuid,
    /// Who produced the event: the installation, `urn:crm` unless configured otherwise.
    #[schemars(length(min = 1))]
    pub source: String,
    /// `crm.<aggregate>.<event>.v<N>`; a new schema version of an event is a new type.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^crm\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$"))]
    pub event_type: String,
    /// `<aggregate>/<id>`: the aggregate the event belongs to, or the record that was accessed.
    #[schemars(regex(
        pattern = r"^[a-z][a-z0-9_]*/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub subject: String,
    /// When the event happened (RFC 3339, UTC).
    #[serde(with = "rfc3339_micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub time: DateTime<Utc>,
    /// The media type of `data`: always "application/json".
    #[serde(rename = "datacontenttype")]
    pub data_content_type: DataContentType,
    /// The event's payload; its schema is that of `type` (schemas/events/).
    pub data: serde_json::Value,
    /// Extension: "events" for domain events, "access" for record accesses.
    #[schemars(with = "CategoryName")]
    pub category: Category,
    /// Extension: the event's position in the log (gapless, from 1); its JetStream sequence.
    #[schemars(range(min = 1))]
    pub position: u64,
    /// Extension: the aggregate's version after this event; absent for record accesses.
    #[serde(
        rename = "aggregateversion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1))]
    pub aggregate_version: Option<u64>,
    /// Extension: when the store recorded the event: the appending process's clock as it
    /// wrote the event's batch, just before the commit (RFC 3339, UTC). Order by `position`.
    #[serde(rename = "recordedtime", with = "rfc3339_micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub recorded_time: DateTime<Utc>,
    /// Extension: who caused the event (`user:<id>`, `system`, ...).
    #[schemars(length(min = 1))]
    pub actor: String,
    /// Extension: the id shared by everything one request caused.
    #[serde(
        rename = "correlationid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<Uuid>,
    /// Extension: the id of the message that caused this event.
    #[serde(
        rename = "causationid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub causation_id: Option<Uuid>,
    /// Extension: the event's SHA-256 chain hash (hex), linking it to every event before it.
    #[serde(with = "hex32")]
    #[schemars(with = "String", regex(pattern = r"^[0-9a-f]{64}$"))]
    pub hash: [u8; 32],
}

/// The CloudEvents specification version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SpecVersion {
    #[serde(rename = "1.0")]
    V1_0,
}

/// The media type of the envelope's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DataContentType {
    #[serde(rename = "application/json")]
    Json,
}

/// Whether the event is a domain event or a record access.
// The schema of `eventstore::Category`, which has no schema support of its own.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Category")]
#[allow(dead_code)]
enum CategoryName {
    Events,
    Access,
}

impl Envelope {
    /// The stream its subject names: `<stream_type>/<id>` read back.
    pub fn stream(&self) -> Option<(&str, Uuid)> {
        parse_subject(&self.subject)
    }

    /// The event's short type and schema version, when its public type is one of `stream_type`
    /// (`crm.<stream_type>.<event_type>.v<N>`).
    pub fn event_of(&self, stream_type: &str) -> Option<(&str, u32)> {
        parse_type(&self.event_type, stream_type)
    }

    /// The user behind an actor `user:<id>`; other actors (`system`, ...) are no one.
    pub fn actor_user(&self) -> Option<Uuid> {
        user_of_actor(&self.actor)
    }

    /// The envelope of a stored event, as `source` publishes it.
    pub fn from_stored(event: &StoredEvent, source: &str) -> Envelope {
        Envelope {
            spec_version: SpecVersion::V1_0,
            id: event.event_id,
            source: source.to_owned(),
            event_type: event.public_type(),
            subject: event.stream.to_string(),
            time: event.occurred_at,
            data_content_type: DataContentType::Json,
            data: event.payload.clone(),
            category: event.category,
            position: event.position,
            aggregate_version: event.stream_version,
            recorded_time: event.recorded_at,
            actor: event.actor.clone(),
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            hash: event.hash,
        }
    }

    /// The envelope as JSON (the message payload).
    pub fn to_json(&self) -> Result<Bytes, LogError> {
        serde_json::to_vec(self).map(Bytes::from).map_err(|error| {
            LogError::Envelope(format!("cannot serialise event {}: {error}", self.id))
        })
    }

    /// The headers of the message carrying this envelope: deduplication by event id, the
    /// expected last sequence (position - 1) that keeps the stream gapless and in order, the
    /// content type and the routing attributes.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let id = self.id.to_string();
        headers.insert(NATS_MESSAGE_ID, id.as_str());
        headers.insert(
            NATS_EXPECTED_LAST_SEQUENCE,
            self.position.saturating_sub(1).to_string().as_str(),
        );
        headers.insert("Content-Type", CONTENT_TYPE);
        headers.insert(HEADER_CE_ID, id.as_str());
        headers.insert(HEADER_CE_TYPE, self.event_type.as_str());
        headers.insert(HEADER_CE_SUBJECT, self.subject.as_str());
        headers.insert(HEADER_CE_TIME, rfc3339_micros::format(&self.time).as_str());
        headers.insert(HEADER_POSITION, self.position.to_string().as_str());
        headers
    }

    /// Parses an envelope from JSON, refusing unknown attributes.
    pub fn from_json(payload: &[u8]) -> Result<Envelope, LogError> {
        serde_json::from_slice(payload).map_err(|error| LogError::Envelope(error.to_string()))
    }

    /// Decodes a received message (from a subscription or a JetStream consumer): checks that it
    /// is a structured-mode CloudEvent and that its headers agree with its body.
    pub fn from_message(message: &async_nats::Message) -> Result<Envelope, LogError> {
        Envelope::decode(message.headers.as_ref(), &message.payload)
    }

    /// Decodes a message given as headers and payload (e.g. one read directly from the stream).
    pub fn decode(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<Envelope, LogError> {
        let header = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .map(|value| value.as_str())
        };
        if let Some(content_type) = header("Content-Type")
            && content_type != CONTENT_TYPE
        {
            return Err(LogError::Envelope(format!(
                "content type {content_type:?}, expected {CONTENT_TYPE:?}"
            )));
        }
        let envelope = Envelope::from_json(payload)?;
        let id = envelope.id.to_string();
        let position = envelope.position.to_string();
        let agreeing = [
            ("Nats-Msg-Id", id.as_str()),
            (HEADER_CE_ID, id.as_str()),
            (HEADER_CE_TYPE, envelope.event_type.as_str()),
            (HEADER_CE_SUBJECT, envelope.subject.as_str()),
            (HEADER_POSITION, position.as_str()),
        ];
        for (name, expected) in agreeing {
            if let Some(found) = header(name)
                && found != expected
            {
                return Err(LogError::Envelope(format!(
                    "header {name} is {found:?} but the envelope says {expected:?}"
                )));
            }
        }
        Ok(envelope)
    }
}

/// The envelope's JSON Schema, pretty-printed with a final newline: the content of
/// `schemas/envelope.v1.json`.
pub fn envelope_schema() -> String {
    let schema = schemars::schema_for!(Envelope);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|error| {
        // A schema is plain JSON values; serialising it cannot fail.
        format!("{{\"error\": \"{error}\"}}")
    });
    text.push('\n');
    text
}

/// Times as RFC 3339 in UTC with microseconds (what the store keeps): `2025-01-02T03:04:05.678901Z`.
/// Any RFC 3339 time is accepted when reading.
mod rfc3339_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(time: &DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time: {error}"))
            })
    }
}

/// A 32-byte hash as 64 lowercase hex digits.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text.as_ref(), &mut bytes).map_err(|error| {
            serde::de::Error::custom(format!("expected 64 hex digits: {error}"))
        })?;
        Ok(bytes)
    }
}

/// `<stream_type>/<id>` read back.
fn parse_subject(subject: &str) -> Option<(&str, Uuid)> {
    let (stream_type, id) = subject.split_once('/')?;
    Some((stream_type, Uuid::parse_str(id).ok()?))
}

/// `crm.<stream_type>.<event_type>.v<N>` read back into the event type and `N`, when its stream
/// type is `stream_type`.
fn parse_type<'a>(public_type: &'a str, stream_type: &str) -> Option<(&'a str, u32)> {
    let rest = public_type
        .strip_prefix("crm.")?
        .strip_prefix(stream_type)?;
    let (event_type, version) = rest.strip_prefix('.')?.rsplit_once(".v")?;
    Some((event_type, version.parse().ok()?))
}

/// The user behind an event's actor `user:<id>`; other actors (`system`, ...) are no one.
pub fn user_of_actor(actor: &str) -> Option<Uuid> {
    Uuid::parse_str(actor.strip_prefix("user:")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_type_reads_back_only_under_its_own_stream() {
        assert_eq!(
            parse_type("crm.contact.emails_changed.v2", "contact"),
            Some(("emails_changed", 2))
        );
        assert_eq!(parse_type("crm.contact.created.v1", "company"), None);
        assert_eq!(parse_type("crm.contacts.created.v1", "contact"), None);
        assert_eq!(parse_type("crm.contact.created", "contact"), None);
        assert_eq!(parse_type("crm.contact.created.vx", "contact"), None);
    }

    #[test]
    fn a_subject_names_a_stream_and_an_id() {
        let id = Uuid::now_v7();
        assert_eq!(parse_subject(&format!("deal/{id}")), Some(("deal", id)));
        assert_eq!(parse_subject("deal"), None);
        assert_eq!(parse_subject("deal/42"), None);
    }
    use eventstore::StreamRef;
    use std::path::PathBuf;

    fn stored(category: Category) -> StoredEvent {
        StoredEvent {
            position: 7,
            event_id: Uuid::now_v7(),
            category,
            stream: StreamRef::new("contact", Uuid::now_v7()),
            stream_version: (category == Category::Events).then_some(3),
            event_type: "renamed".to_owned(),
            schema_version: 2,
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("a time"),
            recorded_at: DateTime::from_timestamp_micros(1_700_000_001_000_000).expect("a time"),
            actor: "user:42".to_owned(),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
            payload: serde_json::json!({"name": "Ada", "tags": ["a", "b"]}),
            hash: [0xab; 32],
        }
    }

    #[test]
    fn an_envelope_carries_the_stored_event() {
        let event = stored(Category::Events);
        let envelope = Envelope::from_stored(&event, "urn:crm");
        let json = serde_json::to_value(&envelope).expect("serialises");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], event.event_id.to_string());
        assert_eq!(json["type"], "crm.contact.renamed.v2");
        assert_eq!(
            json["subject"],
            format!("contact/{}", event.stream.stream_id)
        );
        assert_eq!(json["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["category"], "events");
        assert_eq!(json["position"], 7);
        assert_eq!(json["aggregateversion"], 3);
        assert_eq!(json["hash"], "ab".repeat(32));
        assert!(json.get("causationid").is_none());
    }

    #[test]
    fn only_user_actors_name_a_user() {
        let mut envelope = Envelope::from_stored(&stored(Category::Events), "urn:crm");
        let id = Uuid::now_v7();
        envelope.actor = format!("user:{id}");
        assert_eq!(envelope.actor_user(), Some(id));
        envelope.actor = "system".to_owned();
        assert_eq!(envelope.actor_user(), None);
        envelope.actor = "user:nobody".to_owned();
        assert_eq!(envelope.actor_user(), None);
    }

    #[test]
    fn an_envelope_round_trips_through_a_message() {
        for category in [Category::Events, Category::Access] {
            let envelope = Envelope::from_stored(&stored(category), "urn:crm");
            let headers = envelope.headers();
            let payload = envelope.to_json().expect("serialises");
            let back = Envelope::decode(Some(&headers), &payload).expect("decodes");
            assert_eq!(back, envelope);
            assert_eq!(
                headers
                    .get("Nats-Expected-Last-Sequence")
                    .map(|v| v.as_str()),
                Some("6")
            );
            assert_eq!(headers.get(HEADER_POSITION).map(|v| v.as_str()), Some("7"));
        }
    }

    #[test]
    fn unknown_attributes_are_refused() {
        let envelope = Envelope::from_stored(&stored(Category::Access), "urn:crm");
        let mut json = serde_json::to_value(&envelope).expect("serialises");
        json["extra"] = serde_json::json!(1);
        let error = Envelope::from_json(json.to_string().as_bytes()).expect_err("refused");
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn another_spec_version_is_refused() {
        let envelope = Envelope::from_stored(&stored(Category::Events), "urn:crm");
        let mut json = serde_json::to_value(&envelope).expect("serialises");
        json["specversion"] = serde_json::json!("0.3");
        assert!(Envelope::from_json(json.to_string().as_bytes()).is_err());
    }

    #[test]
    fn headers_that_disagree_with_the_body_are_refused() {
        let envelope = Envelope::from_stored(&stored(Category::Events), "urn:crm");
        let mut headers = envelope.headers();
        headers.insert(HEADER_POSITION, "8");
        let payload = envelope.to_json().expect("serialises");
        let error = Envelope::decode(Some(&headers), &payload).expect_err("refused");
        assert!(error.to_string().contains(HEADER_POSITION), "{error}");
    }

    #[test]
    fn every_envelope_is_valid_under_the_published_schema() {
        let schema: serde_json::Value = serde_json::from_str(&envelope_schema()).expect("JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        for category in [Category::Events, Category::Access] {
            let envelope = Envelope::from_stored(&stored(category), "urn:crm");
            let json: serde_json::Value =
                serde_json::from_slice(&envelope.to_json().expect("serialises")).expect("JSON");
            if let Err(error) = validator.validate(&json) {
                panic!("{category:?}: {error} at {}", error.instance_path());
            }
        }
    }

    /// `schemas/envelope.v1.json` is generated from [`Envelope`]; run with `CRM_BLESS=1` to
    /// rewrite it after a change of its descriptions. What a published version accepts never
    /// changes, blessed or not: such a change is a new version.
    #[test]
    fn the_checked_in_envelope_schema_is_the_generated_one() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas")
            .join(format!("envelope.v{ENVELOPE_VERSION}.json"));
        let generated = envelope_schema();
        let checked_in = std::fs::read_to_string(&path).ok();
        if let Some(published) = &checked_in {
            let published: serde_json::Value = serde_json::from_str(published).expect("JSON");
            let current: serde_json::Value = serde_json::from_str(&generated).expect("JSON");
            let changes = domain::breaking_schema_changes(&published, &current);
            assert!(
                changes.is_empty(),
                "envelope v{ENVELOPE_VERSION} is published and must keep accepting exactly what \
                 it accepted; make the change a new version: {changes:?}"
            );
        }
        if std::env::var_os("CRM_BLESS").is_some_and(|value| value == "1") {
            std::fs::create_dir_all(path.parent().expect("a parent folder"))
                .expect("create schemas/");
            std::fs::write(&path, &generated).expect("write the schema");
            return;
        }
        assert!(
            checked_in.as_deref() == Some(generated.as_str()),
            "{} differs from the schema generated from Envelope; if the change is intended, \
             run `CRM_BLESS=1 cargo test -p eventlog` and commit the file",
            path.display()
        );
    }
}
