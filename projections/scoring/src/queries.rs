//! What the API asks of the scoring read model: one customer's scores, and a ranked page. Both
//! load the customers' facts and compute the scores with the pure [`crate::score`] at the `now`
//! the caller passes; answers come out sealed ([`Withheld`]), naming every customer disclosed.

use std::collections::HashMap;

use accesslog::Withheld;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::access::RecordRef;
use domain::values::ValueClass;
use policy::Visibility;
use uuid::Uuid;

use crate::config::ScoringConfig;
use crate::facts::{CaseFact, Component, CustomerKey, CustomerKind, Facts, Touch};
use crate::model::{CustomerScore, RankedScores, ScoreOrder};
use crate::rank::{Narrowing, ranked_statement};
use crate::score::score;
use crate::store::{customer_columns, customer_of, won_of};
use crate::tables::qualified;
use crate::{MAX_LIMIT, ScoringError};

/// The record reference the access log names for a customer.
pub fn customer_ref(kind: CustomerKind, id: Uuid) -> RecordRef {
    RecordRef {
        collection: kind.collection().to_owned(),
        id,
    }
}

/// Reads the scoring read model through a pool of the database's owner
/// ([`projector::connect`]), with the organisation's settings.
#[derive(Clone)]
pub struct ScoreQueries {
    pool: Pool,
    config: ScoringConfig,
}

impl std::fmt::Debug for ScoreQueries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ScoreQueries")
            .finish_non_exhaustive()
    }
}

impl ScoreQueries {
    pub fn new(pool: Pool, config: ScoringConfig) -> ScoreQueries {
        ScoreQueries { pool, config }
    }

    /// The scores of the customer `kind/id` at `now`; `None` when the read model holds no such
    /// customer.
    pub async fn score(
        &self,
        schema: &str,
        kind: CustomerKind,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Withheld<CustomerScore>>, ScoringError> {
        let key = CustomerKey { kind, id };
        let Some(facts) = self.facts(schema, &[key]).await?.pop() else {
            return Ok(None);
        };
        let scores = score(&facts, &self.config, now);
        Ok(Some(Withheld::new(scores, vec![customer_ref(kind, id)])))
    }

    /// The top `limit` (1 to [`MAX_LIMIT`]) customers of `kind` by `order` at `now`, among
    /// those `visibility` lets through (by the customer's owner and team, or a contact's
    /// company's), of the value class `class` in force when given.
    #[allow(clippy::too_many_arguments)]
    pub async fn ranked(
        &self,
        schema: &str,
        kind: CustomerKind,
        order: ScoreOrder,
        visibility: &Visibility,
        class: Option<ValueClass>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Withheld<RankedScores>, ScoringError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ScoringError::BadLimit(limit));
        }
        let owner_ids = match visibility {
            Visibility::Nothing => {
                let empty = RankedScores {
                    order,
                    items: Vec::new(),
                };
                return Ok(Withheld::new(empty, Vec::new()));
            }
            Visibility::Everything => None,
            Visibility::Some { owner_ids, teams } => Some((owner_ids.as_slice(), teams.as_slice())),
        };
        let statement = ranked_statement(
            schema,
            kind,
            order,
            &Narrowing { owner_ids, class },
            limit,
            &self.config,
            now,
        );
        let client = self.pool.get().await?;
        let prepared = client.prepare_cached(&statement.sql).await?;
        let rows = client.query(&prepared, &statement.parameters()).await?;
        drop(client);
        let keys = rows
            .iter()
            .map(|row| row.try_get(0).map(|id| CustomerKey { kind, id }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut items: Vec<CustomerScore> = self
            .facts(schema, &keys)
            .await?
            .iter()
            .map(|facts| score(facts, &self.config, now))
            .collect();
        sort(&mut items, order);
        let disclosed = items
            .iter()
            .map(|item| customer_ref(kind, item.id))
            .collect();
        Ok(Withheld::new(RankedScores { order, items }, disclosed))
    }

    /// The facts of each of `keys` the read model holds as created customers, in `keys`' order.
    async fn facts(&self, schema: &str, keys: &[CustomerKey]) -> Result<Vec<Facts>, ScoringError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<&str> = keys.iter().map(|key| key.kind.as_str()).collect();
        let ids: Vec<Uuid> = keys.iter().map(|key| key.id).collect();
        let client = self.pool.get().await?;
        let customers = client
            .prepare_cached(&format!(
                "SELECT c.kind, c.id, {} FROM {} c \
                 JOIN unnest($1::text[], $2::uuid[]) AS k(kind, id) \
                     ON k.kind = c.kind AND k.id = c.id \
                 WHERE c.created",
                customer_columns()
                    .split(", ")
                    .map(|column| format!("c.{column}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                qualified(schema, "customers")
            ))
            .await?;
        let mut found: HashMap<CustomerKey, Facts> = HashMap::new();
        for row in client.query(&customers, &[&kinds, &ids]).await? {
            let key = key_of(&row)?;
            let customer = customer_of(&row, 2)?.map_err(ScoringError::Unreadable)?;
            found.insert(
                key,
                Facts {
                    key,
                    owner_id: customer.owner_id,
                    team: customer.team,
                    company_id: customer.company_id,
                    manual_class: customer.manual_class,
                    touches: Vec::new(),
                    won: Vec::new(),
                    cases: Vec::new(),
                },
            );
        }
        let touches = client
            .prepare_cached(&format!(
                "SELECT t.kind, t.customer_id, t.component, t.occurred_at, t.minutes, \
                        t.position, t.event_type \
                 FROM {} t JOIN unnest($1::text[], $2::uuid[]) AS k(kind, id) \
                     ON k.kind = t.kind AND k.id = t.customer_id \
                 ORDER BY t.position",
                qualified(schema, "touchpoints")
            ))
            .await?;
        for row in client.query(&touches, &[&kinds, &ids]).await? {
            let key = key_of(&row)?;
            let component: String = row.try_get(2)?;
            let component = Component::parse(&component)
                .ok_or_else(|| ScoringError::Unreadable(format!("component {component:?}")))?;
            let minutes: i32 = row.try_get(4)?;
            let position: i64 = row.try_get(5)?;
            if let Some(facts) = found.get_mut(&key) {
                facts.touches.push(Touch {
                    component,
                    occurred_at: row.try_get(3)?,
                    minutes: u32::try_from(minutes).unwrap_or(0),
                    position: u64::try_from(position).unwrap_or(0),
                    event_type: row.try_get(6)?,
                });
            }
        }
        let won = client
            .prepare_cached(&format!(
                "SELECT w.kind, w.customer_id, w.deal_id, w.closed_at, w.amount_minor, \
                        w.currency, w.position, w.event_type \
                 FROM {} w JOIN unnest($1::text[], $2::uuid[]) AS k(kind, id) \
                     ON k.kind = w.kind AND k.id = w.customer_id \
                 ORDER BY w.position, w.deal_id",
                qualified(schema, "won_deals")
            ))
            .await?;
        for row in client.query(&won, &[&kinds, &ids]).await? {
            let key = key_of(&row)?;
            let deal = won_of(&row, 2)?;
            if let Some(facts) = found.get_mut(&key) {
                facts.won.push(deal);
            }
        }
        let contacts: Vec<Uuid> = keys
            .iter()
            .filter(|key| key.kind == CustomerKind::Contact)
            .map(|key| key.id)
            .collect();
        let companies: Vec<Uuid> = keys
            .iter()
            .filter(|key| key.kind == CustomerKind::Company)
            .map(|key| key.id)
            .collect();
        let cases = client
            .prepare_cached(&format!(
                "SELECT id, contact_id, company_id, opened_at, closed_at, position, event_type \
                 FROM {} WHERE contact_id = ANY($1) OR company_id = ANY($2) ORDER BY position",
                qualified(schema, "cases")
            ))
            .await?;
        for row in client.query(&cases, &[&contacts, &companies]).await? {
            let position: i64 = row.try_get(5)?;
            let case = CaseFact {
                case_id: row.try_get(0)?,
                opened_at: row.try_get(3)?,
                closed_at: row.try_get(4)?,
                position: u64::try_from(position).unwrap_or(0),
                event_type: row.try_get(6)?,
            };
            let contact: Uuid = row.try_get(1)?;
            let company: Option<Uuid> = row.try_get(2)?;
            let owners = [
                Some(CustomerKey {
                    kind: CustomerKind::Contact,
                    id: contact,
                }),
                company.map(|id| CustomerKey {
                    kind: CustomerKind::Company,
                    id,
                }),
            ];
            for key in owners.into_iter().flatten() {
                if let Some(facts) = found.get_mut(&key) {
                    facts.cases.push(case.clone());
                }
            }
        }
        Ok(keys.iter().filter_map(|key| found.remove(key)).collect())
    }
}

fn key_of(row: &tokio_postgres::Row) -> Result<CustomerKey, ScoringError> {
    let kind: String = row.try_get(0)?;
    let kind = CustomerKind::parse(&kind)
        .ok_or_else(|| ScoringError::Unreadable(format!("customer kind {kind:?}")))?;
    Ok(CustomerKey {
        kind,
        id: row.try_get(1)?,
    })
}

/// Orders a page by its exact scores, highest first (a stable sort: ties keep SQL's order).
fn sort(items: &mut [CustomerScore], order: ScoreOrder) {
    match order {
        ScoreOrder::Value => items.sort_by(|a, b| {
            a.value
                .class
                .cmp(&b.value.class)
                .then(b.value.score.cmp(&a.value.score))
        }),
        ScoreOrder::Engagement => {
            items.sort_by(|a, b| b.engagement.score.total_cmp(&a.engagement.score))
        }
        ScoreOrder::TouchCost => {
            items.sort_by_key(|item| std::cmp::Reverse(item.touch_cost.minutes_this_month))
        }
        ScoreOrder::ChurnRisk => items.sort_by_key(|item| std::cmp::Reverse(item.churn_risk.risk)),
    }
}
