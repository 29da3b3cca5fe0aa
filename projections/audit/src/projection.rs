//! The projection the framework feeds: every event of the log, domain events and record accesses
//! through one consumer, so the trail holds reads and changes in the order they committed. A
//! batch is decoded whole first, so an event the audit trail cannot read stops the projection
//! before anything of the batch is written.

use eventlog::Envelope;
use projector::{Feed, Projection, ProjectionError};

use crate::decode::decode;
use crate::fold::{fold, keys};
use crate::{store, tables};

/// The projection's name: its schemas are `audit_g<N>`.
pub const NAME: &str = "audit";

/// The audit trail read model, as a projection for [`projector::Projector`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Audit;

impl Projection for Audit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&self) -> Feed {
        Feed::Everything
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
        let Some(first) = events.first() else {
            return Ok(());
        };
        let items = events
            .iter()
            .map(|envelope| {
                decode(envelope).map_err(|reason| ProjectionError::Event {
                    position: envelope.position,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut states =
            store::load_states(transaction, schema, &keys(&items), first.position).await?;
        let entries = fold(&items, &mut states)?;
        futures::try_join!(
            store::insert_entries(transaction, schema, &entries),
            store::upsert_states(transaction, schema, &states),
        )?;
        Ok(())
    }
}
