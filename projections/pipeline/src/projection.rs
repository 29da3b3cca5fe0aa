//! The projection the framework feeds: every domain event; those of pipelines, deals, leads and
//! activities are folded, the rest passed over. A batch is decoded whole first, so an event the
//! read model cannot read stops the projection before anything of the batch is written.

use eventlog::Envelope;
use projector::{Feed, Projection, ProjectionError};

use crate::decode::decode;
use crate::fold::{fold, wanted};
use crate::totals::OpenTotals;
use crate::{store, tables};

/// The projection's name: its schemas are `pipeline_g<N>`.
pub const NAME: &str = "pipeline";

/// The sales pipeline read model, as a projection for [`projector::Projector`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SalesPipeline;

impl SalesPipeline {
    /// The tables of a generation, for comparing a live one with a rebuild.
    pub const TABLES: [&'static str; 6] = tables::TABLES;
}

impl Projection for SalesPipeline {
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
        let mut rows = store::load(transaction, schema, &wanted(&items), first.position).await?;
        let mut totals = OpenTotals::default();
        totals.remove(rows.deals.values());
        fold(&mut rows, &items)?;
        totals.add(rows.deals.values());
        let last = items.last().map_or(first.position, |item| item.position);
        store::write(transaction, schema, &rows, &totals.changes(last)?).await
    }
}
