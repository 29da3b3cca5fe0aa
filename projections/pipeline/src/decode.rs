//! Reading an envelope as the pipeline read model needs it: a domain event decoded by the
//! domain's catalog, kept when it is one of a pipeline, a deal, a lead or an activity. Events of
//! the other streams are passed over; anything that does not read as the domain's stops the
//! projection.

use chrono::{DateTime, Utc};
use domain::{AnyEvent, activity, deal, lead, pipeline};
use eventlog::Envelope;
use uuid::Uuid;

/// One event the read model folds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub position: u64,
    /// When it occurred (the envelope's `time`).
    pub time: DateTime<Utc>,
    /// The record whose stream it is on.
    pub id: Uuid,
    /// The aggregate's version after this event.
    pub version: u64,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Pipeline(pipeline::Event),
    Deal(deal::Event),
    Lead(lead::Event),
    Activity(activity::Event),
}

/// Decodes `envelope`: `Ok(None)` for an event of a stream the read model does not follow.
pub(crate) fn decode(envelope: &Envelope) -> Result<Option<Item>, String> {
    let (stream_type, id) = envelope
        .stream()
        .ok_or_else(|| format!("the subject {:?} names no record", envelope.subject))?;
    let (event_type, schema_version) = envelope.event_of(stream_type).ok_or_else(|| {
        format!(
            "the type {:?} is not an event of the subject's stream {stream_type}",
            envelope.event_type
        )
    })?;
    let version = envelope
        .aggregate_version
        .ok_or_else(|| "a domain event without an aggregate version".to_owned())?;
    let event = AnyEvent::from_stored(stream_type, event_type, schema_version, &envelope.data)
        .map_err(|error| error.to_string())?;
    let change = match event {
        AnyEvent::Pipeline(event) => Change::Pipeline(event),
        AnyEvent::Deal(event) => Change::Deal(event),
        AnyEvent::Lead(event) => Change::Lead(event),
        AnyEvent::Activity(event) => Change::Activity(event),
        AnyEvent::Company(_)
        | AnyEvent::Contact(_)
        | AnyEvent::Task(_)
        | AnyEvent::Case(_)
        | AnyEvent::User(_)
        | AnyEvent::Username(_) => return Ok(None),
    };
    Ok(Some(Item {
        position: envelope.position,
        time: envelope.time,
        id,
        version,
        change,
    }))
}
