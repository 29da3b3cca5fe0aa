//! The SQL edge of a batch: load the links the batch touches with one query (the records named,
//! then the deals and contacts those link to, in the same statement) and write back the changed
//! links, the events and the entries with one multi-row statement per table (parallel arrays
//! through `unnest`). No per-event round trip.

use deadpool_postgres::Transaction;
use projector::ProjectionError;
use serde_json::Value;
use uuid::Uuid;

use crate::collection::{Collection, qualified};
use crate::fold::Batch;
use crate::links::{Link, Links};

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The links of `ids`, of the deals they link to, and of the contacts those and they link to.
pub(crate) async fn load_links(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
    position: u64,
) -> Result<Links, ProjectionError> {
    let links_table = qualified(schema, "links");
    let statement = transaction
        .prepare_cached(&format!(
            "WITH named AS (SELECT * FROM {links_table} WHERE id = ANY($1)), \
             deals AS (SELECT l.* FROM {links_table} l \
                 WHERE l.id IN (SELECT deal_id FROM named WHERE deal_id IS NOT NULL)), \
             contacts AS (SELECT l.* FROM {links_table} l WHERE l.id IN ( \
                 SELECT contact_id FROM named WHERE contact_id IS NOT NULL \
                 UNION SELECT contact_id FROM deals WHERE contact_id IS NOT NULL)) \
             SELECT id, collection, company_id, contact_id, deal_id, label, position FROM named \
             UNION SELECT id, collection, company_id, contact_id, deal_id, label, position \
                 FROM deals \
             UNION SELECT id, collection, company_id, contact_id, deal_id, label, position \
                 FROM contacts"
        ))
        .await?;
    let rows = transaction.query(&statement, &[&ids]).await?;
    let mut links = Links::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get(0)?;
        let collection: String = row.try_get(1)?;
        let collection = Collection::parse(&collection).ok_or_else(|| ProjectionError::Event {
            position,
            reason: format!("the stored links of {id} name no collection: {collection:?}"),
        })?;
        let stored_position: i64 = row.try_get(6)?;
        links.insert(
            id,
            Link {
                collection,
                company_id: row.try_get(2)?,
                contact_id: row.try_get(3)?,
                deal_id: row.try_get(4)?,
                label: row.try_get(5)?,
                position: u64::try_from(stored_position).unwrap_or(0),
            },
        );
    }
    Ok(links)
}

/// Writes the links of `batch.changed` with one statement.
pub(crate) async fn upsert_links(
    transaction: &Transaction<'_>,
    schema: &str,
    links: &Links,
    batch: &Batch<'_>,
) -> Result<(), ProjectionError> {
    let rows: Vec<(&Uuid, &Link)> = batch
        .changed
        .iter()
        .filter_map(|id| links.get(id).map(|link| (id, link)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|(id, _)| **id).collect();
    let collections: Vec<&str> = rows
        .iter()
        .map(|(_, link)| link.collection.as_str())
        .collect();
    let companies: Vec<Option<Uuid>> = rows.iter().map(|(_, link)| link.company_id).collect();
    let contacts: Vec<Option<Uuid>> = rows.iter().map(|(_, link)| link.contact_id).collect();
    let deals: Vec<Option<Uuid>> = rows.iter().map(|(_, link)| link.deal_id).collect();
    let labels: Vec<&str> = rows.iter().map(|(_, link)| link.label.as_str()).collect();
    let positions: Vec<i64> = rows.iter().map(|(_, link)| to_i64(link.position)).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, collection, company_id, contact_id, deal_id, label, position) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], \
                                  $6::text[], $7::bigint[]) \
             ON CONFLICT (id) DO UPDATE SET collection = excluded.collection, \
                 company_id = excluded.company_id, contact_id = excluded.contact_id, \
                 deal_id = excluded.deal_id, label = excluded.label, \
                 position = excluded.position",
            qualified(schema, "links")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids,
                &collections,
                &companies,
                &contacts,
                &deals,
                &labels,
                &positions,
            ],
        )
        .await?;
    Ok(())
}

/// Writes every event of `batch` once, with one statement.
pub(crate) async fn insert_events(
    transaction: &Transaction<'_>,
    schema: &str,
    batch: &Batch<'_>,
) -> Result<(), ProjectionError> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let events = &batch.events;
    let positions: Vec<i64> = events
        .iter()
        .map(|event| to_i64(event.item.meta.position))
        .collect();
    let collections: Vec<&str> = events
        .iter()
        .map(|event| event.collection.as_str())
        .collect();
    let record_ids: Vec<Uuid> = events.iter().map(|event| event.item.id).collect();
    let event_types: Vec<&str> = events
        .iter()
        .map(|event| event.item.meta.event_type.as_str())
        .collect();
    let event_names: Vec<&str> = events
        .iter()
        .map(|event| event.item.event.event_type())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    let occurred: Vec<_> = events
        .iter()
        .map(|event| event.item.meta.occurred_at)
        .collect();
    let recorded: Vec<_> = events
        .iter()
        .map(|event| event.item.meta.recorded_at)
        .collect();
    let actors: Vec<&str> = events
        .iter()
        .map(|event| event.item.meta.actor.as_str())
        .collect();
    let actor_ids: Vec<Option<Uuid>> = events
        .iter()
        .map(|event| event.item.meta.actor_id)
        .collect();
    let summaries: Vec<&str> = events.iter().map(|event| event.summary.as_str()).collect();
    let data: Vec<&Value> = events.iter().map(|event| &event.item.meta.data).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (position, collection, record_id, event_type, event_name, kind, \
                 occurred_at, recorded_at, actor, actor_id, summary, data) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::uuid[], \
                 $11::text[], $12::json[])",
            qualified(schema, "events")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &positions,
                &collections,
                &record_ids,
                &event_types,
                &event_names,
                &kinds,
                &occurred,
                &recorded,
                &actors,
                &actor_ids,
                &summaries,
                &data,
            ],
        )
        .await?;
    Ok(())
}

/// Writes every entry of `batch` (one per event and customer) with one statement.
pub(crate) async fn insert_entries(
    transaction: &Transaction<'_>,
    schema: &str,
    batch: &Batch<'_>,
) -> Result<(), ProjectionError> {
    let count = batch.entry_count();
    if count == 0 {
        return Ok(());
    }
    let mut kinds = Vec::with_capacity(count);
    let mut customer_ids = Vec::with_capacity(count);
    let mut positions = Vec::with_capacity(count);
    let mut ordinals = Vec::with_capacity(count);
    for event in &batch.events {
        for (ordinal, customer) in event.customers.iter().enumerate() {
            kinds.push(customer.kind());
            customer_ids.push(customer.id());
            positions.push(to_i64(event.item.meta.position));
            ordinals.push(i32::try_from(ordinal).unwrap_or(i32::MAX));
        }
    }
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (customer_kind, customer_id, position, ordinal) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::int[])",
            qualified(schema, "entries")
        ))
        .await?;
    transaction
        .execute(&statement, &[&kinds, &customer_ids, &positions, &ordinals])
        .await?;
    Ok(())
}
