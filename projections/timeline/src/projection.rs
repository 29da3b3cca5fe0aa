//! The projection the framework feeds: it reads every domain event, moves the link state on
//! and writes each event onto the timelines of the customers it concerns ([`crate::fold`]).
//! Events of users and username claims are not customer data and are passed over; any other
//! event that does not read as the domain's stops the projection there.

use eventlog::Envelope;
use projector::{Feed, Projection, ProjectionError};

use crate::decode::decode;
use crate::{fold, links, store, tables};

/// The projection's name: its schemas are `timeline_g<N>`.
pub const NAME: &str = "timeline";

/// The timeline read model, as a projection for [`projector::Projector`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline;

impl Projection for Timeline {
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
        let mut items = Vec::with_capacity(events.len());
        for envelope in events {
            let item = decode(envelope).map_err(|reason| ProjectionError::Event {
                position: envelope.position,
                reason,
            })?;
            items.extend(item);
        }
        let Some(first) = items.first() else {
            return Ok(());
        };
        let referenced = links::referenced(&items);
        let mut links =
            store::load_links(transaction, schema, &referenced, first.meta.position).await?;
        let batch = fold::fold(&items, &mut links)?;
        futures::try_join!(
            store::upsert_links(transaction, schema, &links, &batch),
            store::insert_events(transaction, schema, &batch),
            store::insert_entries(transaction, schema, &batch),
        )?;
        Ok(())
    }
}
