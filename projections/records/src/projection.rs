//! The projection the framework feeds: it reads every domain event, keeps those of the eight
//! record streams, and folds them collection by collection ([`crate::fold`]). Events of users
//! and username claims are not records and are passed over; any other event that does not read
//! as the domain's (an unknown stream, type or version, a bad payload) stops the projection there.

use domain::user::User;
use domain::username::UsernameClaim;
use domain::{Aggregate, AnyEvent, activity, case, company, contact, deal, lead, pipeline, task};
use eventlog::Envelope;
use projector::{Feed, Projection, ProjectionError};
use uuid::Uuid;

use crate::fold::{Change, project};
use crate::index::Held;
use crate::tables;

/// The projection's name: its schemas are `records_g<N>`.
pub const NAME: &str = "records";

/// The records read model, as a projection for [`projector::Projector`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Records;

impl Projection for Records {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&self) -> Feed {
        Feed::Events
    }

    fn create_tables(&self, schema: &str) -> String {
        tables::create_tables(schema)
    }

    fn create_indexes(&self, schema: &str) -> String {
        tables::create_indexes(schema)
    }

    async fn apply(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        schema: &str,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut batch = Batch::default();
        for envelope in events {
            batch.add(envelope)?;
        }
        // The collections are independent: their statements go out together (the connection
        // pipelines them), so the database never waits on a round trip between two of them.
        futures::try_join!(
            project(transaction, schema, &batch.companies),
            project(transaction, schema, &batch.contacts),
            project(transaction, schema, &batch.leads),
            project(transaction, schema, &batch.pipelines),
            project(transaction, schema, &batch.deals),
            project(transaction, schema, &batch.activities),
            project(transaction, schema, &batch.tasks),
            project(transaction, schema, &batch.cases),
        )?;
        Ok(())
    }
}

/// A batch's events, decoded and sorted by collection, each list in position order.
#[derive(Default)]
struct Batch {
    companies: Vec<Change<company::Company>>,
    contacts: Vec<Change<contact::Contact>>,
    leads: Vec<Change<lead::Lead>>,
    pipelines: Vec<Change<pipeline::Pipeline>>,
    deals: Vec<Change<deal::Deal>>,
    activities: Vec<Change<activity::Activity>>,
    tasks: Vec<Change<task::Task>>,
    cases: Vec<Change<case::Case>>,
}

impl Batch {
    fn add(&mut self, envelope: &Envelope) -> Result<(), ProjectionError> {
        let refuse = |reason: String| ProjectionError::Event {
            position: envelope.position,
            reason,
        };
        let (stream_type, id) = envelope.stream().ok_or_else(|| {
            refuse(format!(
                "the subject {:?} names no record",
                envelope.subject
            ))
        })?;
        if stream_type == User::STREAM_TYPE || stream_type == UsernameClaim::STREAM_TYPE {
            return Ok(());
        }
        let (event_type, schema_version) = envelope.event_of(stream_type).ok_or_else(|| {
            refuse(format!(
                "the type {:?} is not an event of the subject's stream {stream_type}",
                envelope.event_type
            ))
        })?;
        let version = envelope
            .aggregate_version
            .ok_or_else(|| refuse("a domain event without an aggregate version".to_owned()))?;
        let event = AnyEvent::from_stored(stream_type, event_type, schema_version, &envelope.data)
            .map_err(|error| refuse(error.to_string()))?;
        let user_id = envelope.actor_user();
        let position = envelope.position;
        match event {
            AnyEvent::Company(event) => {
                push(&mut self.companies, id, version, position, user_id, event)
            }
            AnyEvent::Contact(event) => {
                push(&mut self.contacts, id, version, position, user_id, event)
            }
            AnyEvent::Lead(event) => push(&mut self.leads, id, version, position, user_id, event),
            AnyEvent::Pipeline(event) => {
                push(&mut self.pipelines, id, version, position, user_id, event)
            }
            AnyEvent::Deal(event) => push(&mut self.deals, id, version, position, user_id, event),
            AnyEvent::Activity(event) => {
                push(&mut self.activities, id, version, position, user_id, event)
            }
            AnyEvent::Task(event) => push(&mut self.tasks, id, version, position, user_id, event),
            AnyEvent::Case(event) => push(&mut self.cases, id, version, position, user_id, event),
            AnyEvent::User(_) | AnyEvent::Username(_) => {}
        }
        Ok(())
    }
}

fn push<A: Held>(
    changes: &mut Vec<Change<A>>,
    id: Uuid,
    version: u64,
    position: u64,
    user_id: Option<Uuid>,
    event: A::Event,
) {
    changes.push(Change {
        id,
        version,
        position,
        user_id,
        event,
    });
}
