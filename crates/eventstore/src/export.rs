//! The export an auditor verifies without our database: the log as JSON lines, one stored event
//! per line with every field the chain hash covers and the hash itself; tree heads and proofs
//! are the JSON of [`crate::checkpoint::Checkpoint`] and of `merkle`'s proof types.
//! `docs/verifying.md` documents the formats and the byte layouts behind them, so a verifier in
//! another language can check an export too; `crm-verify` (crate `verifier`) is ours.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::checkpoint::hex_bytes;
use crate::error::StoreError;
use crate::model::{Category, StoredEvent, StreamRef};
use crate::read::Reader;

/// Events read from the store per query while exporting.
const PAGE: u32 = 5_000;

/// One line of a log export: a stored event, flat, in the order of its canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    pub position: u64,
    pub event_id: Uuid,
    /// `"events"` or `"access"`.
    pub category: Category,
    pub stream_type: String,
    pub stream_id: Uuid,
    /// `null` for record accesses.
    pub stream_version: Option<u64>,
    pub event_type: String,
    pub schema_version: u32,
    /// RFC 3339 in UTC with exactly six fractional digits (the chain uses microseconds).
    #[serde(with = "rfc3339_micros")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "rfc3339_micros")]
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The payload; the chain hashes its canonical form (`chain::canonical_json`).
    pub payload: serde_json::Value,
    /// The event's chain hash, 64 lowercase hex digits.
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

impl From<&StoredEvent> for ExportedEvent {
    fn from(event: &StoredEvent) -> Self {
        ExportedEvent {
            position: event.position,
            event_id: event.event_id,
            category: event.category,
            stream_type: event.stream.stream_type.clone(),
            stream_id: event.stream.stream_id,
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
            actor: event.actor.clone(),
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            payload: event.payload.clone(),
            hash: event.hash,
        }
    }
}

impl From<ExportedEvent> for StoredEvent {
    fn from(event: ExportedEvent) -> Self {
        StoredEvent {
            position: event.position,
            event_id: event.event_id,
            category: event.category,
            stream: StreamRef {
                stream_type: event.stream_type,
                stream_id: event.stream_id,
            },
            stream_version: event.stream_version,
            event_type: event.event_type,
            schema_version: event.schema_version,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
            actor: event.actor,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            payload: event.payload,
            hash: event.hash,
        }
    }
}

/// The export line of `event` (without the line feed).
pub fn to_line(event: &StoredEvent) -> String {
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_string(&ExportedEvent::from(event)).unwrap_or_default()
}

/// The stored event an export line describes.
pub fn from_line(line: &str) -> Result<StoredEvent, serde_json::Error> {
    serde_json::from_str::<ExportedEvent>(line).map(StoredEvent::from)
}

/// Writes the events after position `after` (up to `limit` of them, or all), one line each;
/// returns how many were written.
pub async fn write_events(
    reader: &Reader,
    after: u64,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let mut position = after;
    loop {
        let left = limit.map_or(u64::from(PAGE), |limit| limit - written);
        if left == 0 {
            break;
        }
        let page = u32::try_from(left.min(u64::from(PAGE))).unwrap_or(PAGE);
        let events = reader.read_from(position, page).await?;
        for event in &events {
            if event.position != position + 1 {
                return Err(StoreError::Corrupt(format!(
                    "event {} is missing (next is {})",
                    position + 1,
                    event.position
                )));
            }
            writeln!(out, "{}", to_line(event)).map_err(export_error)?;
            position = event.position;
        }
        written += events.len() as u64;
        if events.len() < page as usize {
            break;
        }
    }
    out.flush().map_err(export_error)?;
    Ok(written)
}

fn export_error(error: std::io::Error) -> StoreError {
    StoreError::Export(error.to_string())
}

/// Times as RFC 3339 in UTC with exactly six fractional digits.
mod rfc3339_micros {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain;
    use chrono::TimeZone;
    use serde_json::json;

    fn event() -> StoredEvent {
        let mut event = StoredEvent {
            position: 1,
            event_id: Uuid::from_u128(1),
            category: Category::Access,
            stream: StreamRef::new("contact", Uuid::from_u128(2)),
            stream_version: None,
            event_type: "viewed".to_owned(),
            schema_version: 1,
            occurred_at: Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
            recorded_at: Utc.timestamp_opt(1_700_000_001, 0).unwrap(),
            actor: "user:42".to_owned(),
            correlation_id: None,
            causation_id: Some(Uuid::from_u128(3)),
            payload: json!({"why": "support case", "fields": ["email"], "n": 1.5}),
            hash: [0; 32],
        };
        event.hash = chain::event_hash(&chain::GENESIS, &event);
        event
    }

    #[test]
    fn a_line_is_flat_json_that_reads_back_to_the_same_event_and_hash() {
        let event = event();
        let line = to_line(&event);
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["occurred_at"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(json["recorded_at"], "2023-11-14T22:13:21.000000Z");
        assert_eq!(json["category"], "access");
        assert_eq!(json["hash"], hex::encode(event.hash));
        assert_eq!(json["stream_version"], serde_json::Value::Null);
        let back = from_line(&line).unwrap();
        assert_eq!(back, event);
        assert_eq!(chain::event_hash(&chain::GENESIS, &back), event.hash);
    }

    #[test]
    fn a_line_with_an_unknown_field_is_refused() {
        let mut json: serde_json::Value = serde_json::from_str(&to_line(&event())).unwrap();
        json["extra"] = json!(1);
        assert!(from_line(&json.to_string()).is_err());
    }
}
