//! A record as it stood at a past time (`GET /v1/<collection>/{id}?as_of=`), rebuilt from its
//! stored events with the domain's own `evolve`, the fold this read model keeps current, so
//! the past state and the present one can never be computed two ways.

use domain::DomainEvent;
use domain::activity::Activity;
use domain::case::Case;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::lead::Lead;
use domain::pipeline::Pipeline;
use domain::task::Task;
use serde_json::Value;

use crate::Collection;
use crate::index::Held;

/// One stored event of a record, as the store holds it.
#[derive(Debug, Clone, Copy)]
pub struct PastEvent<'a> {
    pub event_type: &'a str,
    pub schema_version: u32,
    /// The aggregate's version after this event.
    pub version: u64,
    pub payload: &'a Value,
}

/// The record that `events` (its first events, in order) leave, as the read model would hold
/// it (with its `version`); `None` when they leave none. An event that does not read as the
/// collection's is an error naming it.
pub fn replay(collection: Collection, events: &[PastEvent<'_>]) -> Result<Option<Value>, String> {
    match collection {
        Collection::Companies => fold::<Company>(events),
        Collection::Contacts => fold::<Contact>(events),
        Collection::Leads => fold::<Lead>(events),
        Collection::Pipelines => fold::<Pipeline>(events),
        Collection::Deals => fold::<Deal>(events),
        Collection::Activities => fold::<Activity>(events),
        Collection::Tasks => fold::<Task>(events),
        Collection::Cases => fold::<Case>(events),
    }
}

fn fold<A: Held>(events: &[PastEvent<'_>]) -> Result<Option<Value>, String> {
    let mut record: Option<A> = None;
    let mut version = 0;
    for event in events {
        let decoded = A::Event::from_stored(event.event_type, event.schema_version, event.payload)
            .map_err(|error| format!("{} event {}: {error}", A::STREAM_TYPE, event.version))?;
        record = A::evolve(record, &decoded);
        version = event.version;
    }
    let Some(record) = record else {
        return Ok(None);
    };
    let mut body = serde_json::to_value(&record).map_err(|error| error.to_string())?;
    if let Value::Object(fields) = &mut body {
        fields.insert("version".to_owned(), Value::from(version));
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::company::{Created, Event, Renamed};
    use domain::values::{Name, Tags};
    use uuid::Uuid;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap()
    }

    #[test]
    fn a_record_replayed_to_a_past_version_is_as_it_was_then() {
        let id = Uuid::now_v7();
        let created = Event::Created(Created {
            id,
            name: name("Acme"),
            domain: None,
            industry: None,
            value_class: None,
            tags: Tags::default(),
            owner_id: None,
            team: None,
        });
        let renamed = Event::Renamed(Renamed {
            name: name("Acme Group"),
        });
        let payloads = [created.to_payload(), renamed.to_payload()];
        let events: Vec<PastEvent<'_>> = [&created, &renamed]
            .iter()
            .zip(&payloads)
            .enumerate()
            .map(|(index, (event, payload))| PastEvent {
                event_type: event.event_type(),
                schema_version: event.schema_version(),
                version: index as u64 + 1,
                payload,
            })
            .collect();

        let then = replay(Collection::Companies, &events[..1])
            .unwrap()
            .unwrap();
        assert_eq!(then["name"], "Acme");
        assert_eq!(then["version"], 1);
        let now = replay(Collection::Companies, &events).unwrap().unwrap();
        assert_eq!(now["name"], "Acme Group");
        assert_eq!(now["version"], 2);
        assert_eq!(replay(Collection::Companies, &[]).unwrap(), None);
    }

    #[test]
    fn an_event_of_another_collection_is_refused() {
        let payload = serde_json::json!({});
        let events = [PastEvent {
            event_type: "stage_changed",
            schema_version: 1,
            version: 1,
            payload: &payload,
        }];
        assert!(replay(Collection::Companies, &events).is_err());
    }
}
