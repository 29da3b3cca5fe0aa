//! Reading an envelope as the audit trail needs it: a domain event of a known stream, decoded by
//! the domain's catalog, or a record access, decoded as the access log's `RecordAccessed`. The
//! audit trail is the record of everything, so anything it cannot read is refused (the projector
//! stops there), never passed over.

use chrono::{DateTime, Utc};
use domain::AnyEvent;
use domain::access::{RECORD_ACCESSED, RecordAccessed};
use eventlog::Envelope;
use eventstore::Category;
use serde::Deserialize;
use uuid::Uuid;

/// What every entry of an event shares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    pub position: u64,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    /// The user behind an actor `user:<id>`; `None` for `system` and other actors.
    pub actor_id: Option<Uuid>,
    /// The envelope's public type, `crm.contact.renamed.v1`.
    pub event_type: String,
}

/// One event of the feed, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A domain event of the record `id`, bringing it to `version`.
    Change {
        meta: Meta,
        id: Uuid,
        version: u64,
        event: AnyEvent,
    },
    /// A record access, logged on the stream `stream_type/stream_id`.
    Access {
        meta: Meta,
        stream_type: String,
        stream_id: Uuid,
        access: RecordAccessed,
    },
}

/// The public type of every access event.
fn access_type() -> String {
    format!(
        "crm.access.{RECORD_ACCESSED}.v{}",
        RecordAccessed::SCHEMA_VERSION
    )
}

/// Decodes `envelope`, or says why it cannot be read.
pub(crate) fn decode(envelope: &Envelope) -> Result<Item, String> {
    let (stream_type, stream_id) = envelope
        .stream()
        .ok_or_else(|| format!("the subject {:?} names no record", envelope.subject))?;
    let meta = Meta {
        position: envelope.position,
        occurred_at: envelope.time,
        recorded_at: envelope.recorded_time,
        actor: envelope.actor.clone(),
        actor_id: envelope.actor_user(),
        event_type: envelope.event_type.clone(),
    };
    match envelope.category {
        Category::Access => {
            if envelope.event_type != access_type() {
                return Err(format!(
                    "the access type {:?} is not {:?}",
                    envelope.event_type,
                    access_type()
                ));
            }
            let access = RecordAccessed::deserialize(&envelope.data)
                .map_err(|error| format!("the access does not read: {error}"))?;
            Ok(Item::Access {
                meta,
                stream_type: stream_type.to_owned(),
                stream_id,
                access,
            })
        }
        Category::Events => {
            let (event_type, schema_version) = envelope.event_of(stream_type).ok_or_else(|| {
                format!(
                    "the type {:?} is not an event of the subject's stream {stream_type}",
                    envelope.event_type
                )
            })?;
            let version = envelope
                .aggregate_version
                .ok_or_else(|| "a domain event without an aggregate version".to_owned())?;
            let event =
                AnyEvent::from_stored(stream_type, event_type, schema_version, &envelope.data)
                    .map_err(|error| error.to_string())?;
            Ok(Item::Change {
                meta,
                id: stream_id,
                version,
                event,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_have_one_public_type() {
        assert_eq!(access_type(), "crm.access.record_accessed.v1");
    }
}
