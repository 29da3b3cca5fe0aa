//! The projection the framework feeds: domain events, decoded whole first (an event it cannot
//! read stops the batch before anything is written), then the rows they touch loaded, folded in
//! memory and written back, one statement per table.

use std::collections::BTreeSet;

use eventlog::Envelope;
use projector::{Feed, Projection, ProjectionError};

use crate::config::ScoringConfig;
use crate::decode::decode;
use crate::facts::{CustomerKey, CustomerKind};
use crate::fold::{State, customers_needed, fold, needs, won_needed};
use crate::{store, tables};

/// The projection's name: its schemas are `scoring_g<N>`.
pub const NAME: &str = "scoring";

/// The scoring read model, as a projection for [`projector::Projector`]. It stores facts, not
/// scores; the one setting it reads is `engagement.half_life_days` (the decayed sums the ranked
/// list orders by), so changing that one needs a rebuild.
#[derive(Debug, Clone)]
pub struct Scoring {
    half_life_seconds: f64,
}

impl Scoring {
    pub fn new(config: &ScoringConfig) -> Scoring {
        Scoring {
            half_life_seconds: config.engagement.half_life_seconds(),
        }
    }
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring::new(&ScoringConfig::default())
    }
}

impl Projection for Scoring {
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
        let Some(first) = items.first().map(|item| item.meta.position) else {
            return Ok(());
        };
        let mut needed = needs(&items);
        let scheduled =
            store::load_scheduled(transaction, schema, &needed.activities, first).await?;
        // A planned activity that takes place now counts for its deal's customers too.
        needed
            .deals
            .extend(scheduled.values().filter_map(|activity| activity.deal_id));
        needed.deals.sort_unstable();
        needed.deals.dedup();
        let (deals, cases) = futures::try_join!(
            store::load_deals(transaction, schema, &needed.deals),
            store::load_cases(transaction, schema, &needed.cases),
        )?;
        let mut state = State {
            deals,
            cases,
            scheduled,
            ..State::default()
        };
        let keys = customers_needed(&items, &state);
        state.customers = store::load_customers(transaction, schema, &keys, first).await?;
        let companies: BTreeSet<CustomerKey> = state
            .customers
            .values()
            .filter_map(|customer| customer.company_id)
            .map(|id| CustomerKey {
                kind: CustomerKind::Company,
                id,
            })
            .filter(|key| !keys.contains(key))
            .collect();
        let more = store::load_customers(transaction, schema, &companies, first).await?;
        state.customers.extend(more);
        state.won =
            store::load_won(transaction, schema, &won_needed(&items, &state), first).await?;
        let added = fold(&items, &mut state, self.half_life_seconds)
            .map_err(|(position, reason)| ProjectionError::Event { position, reason })?;
        store::write(transaction, schema, &state, &added).await
    }
}
