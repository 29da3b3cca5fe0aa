//! Reading an envelope as the timeline needs it: a domain event of a known stream, decoded by
//! the domain's catalog, with the facts every entry repeats (position, times, actor, type,
//! payload). Events of users and username claims are not customer data and are passed over
//! unread; anything else that does not read as the domain's is refused.

use chrono::{DateTime, Utc};
use domain::user::User;
use domain::username::UsernameClaim;
use domain::{Aggregate, AnyEvent};
use eventlog::Envelope;
use serde_json::Value;
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
    /// The envelope's public type, `crm.deal.stage_changed.v1`.
    pub event_type: String,
    /// The event's payload as stored.
    pub data: Value,
}

/// One domain event of the feed, decoded: the event of the record `id`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub meta: Meta,
    pub id: Uuid,
    pub event: AnyEvent,
}

/// Decodes `envelope`; `None` for the streams that are not customer data (users, username
/// claims), or says why it cannot be read.
pub(crate) fn decode(envelope: &Envelope) -> Result<Option<Item>, String> {
    let (stream_type, id) = envelope
        .stream()
        .ok_or_else(|| format!("the subject {:?} names no record", envelope.subject))?;
    if stream_type == User::STREAM_TYPE || stream_type == UsernameClaim::STREAM_TYPE {
        return Ok(None);
    }
    let (event_type, schema_version) = envelope.event_of(stream_type).ok_or_else(|| {
        format!(
            "the type {:?} is not an event of the subject's stream {stream_type}",
            envelope.event_type
        )
    })?;
    let event = AnyEvent::from_stored(stream_type, event_type, schema_version, &envelope.data)
        .map_err(|error| error.to_string())?;
    let meta = Meta {
        position: envelope.position,
        occurred_at: envelope.time,
        recorded_at: envelope.recorded_time,
        actor: envelope.actor.clone(),
        actor_id: envelope.actor_user(),
        event_type: envelope.event_type.clone(),
        data: envelope.data.clone(),
    };
    Ok(Some(Item { meta, id, event }))
}
