//! One collection's share of a batch: load the current rows of every record the batch touches
//! (one query), fold each record's events into it with the domain's `evolve`, and write the rows
//! back (one multi-row upsert). A record touched by many events of the batch is read and written
//! once.
//!
//! Each event must carry the version after the row's: a gap or a repeat means the feed lost or
//! doubled an event, and the batch is refused rather than folded into a wrong record.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use projector::{ProjectionError, Slices};
use serde_json::Value;
use uuid::Uuid;

use crate::collection::qualified_table;
use crate::index::Held;

/// One decoded event of a record of collection `A`, with where it stands in the log.
#[derive(Debug, Clone)]
pub(crate) struct Change<A: Held> {
    pub id: Uuid,
    /// The aggregate's version after this event.
    pub version: u64,
    pub position: u64,
    /// The user who caused the event, if a user did.
    pub user_id: Option<Uuid>,
    pub event: A::Event,
}

/// A record's row as it is being folded.
struct Row<A> {
    record: Option<A>,
    version: u64,
    position: u64,
    created_by: Option<Uuid>,
}

/// Folds `changes` (in position order) into their rows of `A`'s table in `schema`.
pub(crate) async fn project<A: Held>(
    transaction: &Transaction<'_>,
    schema: &str,
    changes: &[Change<A>],
) -> Result<(), ProjectionError> {
    let Some(first) = changes.first() else {
        return Ok(());
    };
    let table = qualified_table(schema, A::COLLECTION);
    let mut touched: Vec<Uuid> = Vec::new();
    for change in changes {
        if !touched.contains(&change.id) {
            touched.push(change.id);
        }
    }
    let mut rows = load::<A>(transaction, &table, &touched, first.position).await?;
    for change in changes {
        let row = rows.entry(change.id).or_insert(Row {
            record: None,
            version: 0,
            position: 0,
            created_by: None,
        });
        if change.version != row.version + 1 {
            return Err(ProjectionError::Event {
                position: change.position,
                reason: format!(
                    "{}/{} is at version {}, the event brings version {}: an event is missing \
                     or repeated",
                    A::STREAM_TYPE,
                    change.id,
                    row.version,
                    change.version
                ),
            });
        }
        row.record = A::evolve(row.record.take(), &change.event);
        row.version = change.version;
        row.position = change.position;
        if change.version == 1 {
            row.created_by = change.user_id;
        }
    }
    let written: Vec<(Uuid, &Row<A>)> = touched
        .iter()
        .filter_map(|id| rows.get(id).map(|row| (*id, row)))
        .collect();
    upsert(transaction, &table, &written).await
}

async fn load<A: Held>(
    transaction: &Transaction<'_>,
    table: &str,
    ids: &[Uuid],
    position: u64,
) -> Result<HashMap<Uuid, Row<A>>, ProjectionError> {
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, version, position, created_by, body FROM {table} WHERE id = ANY($1)"
        ))
        .await?;
    let mut rows = HashMap::with_capacity(ids.len());
    for row in transaction.query(&statement, &[&ids]).await? {
        let id: Uuid = row.try_get(0)?;
        let body: Value = row.try_get(4)?;
        let record = serde_json::from_value::<A>(body).map_err(|error| ProjectionError::Event {
            position,
            reason: format!(
                "the stored row of {}/{id} does not read as a record: {error}",
                A::STREAM_TYPE
            ),
        })?;
        let version: i64 = row.try_get(1)?;
        let stored_position: i64 = row.try_get(2)?;
        rows.insert(
            id,
            Row {
                record: Some(record),
                version: u64::try_from(version).unwrap_or(0),
                position: u64::try_from(stored_position).unwrap_or(0),
                created_by: row.try_get(3)?,
            },
        );
    }
    Ok(rows)
}

/// Writes every row with one statement: the columns travel as parallel arrays.
async fn upsert<A: Held>(
    transaction: &Transaction<'_>,
    table: &str,
    rows: &[(Uuid, &Row<A>)],
) -> Result<(), ProjectionError> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut versions = Vec::with_capacity(rows.len());
    let mut positions = Vec::with_capacity(rows.len());
    let mut bodies = Vec::with_capacity(rows.len());
    let mut created_by = Vec::with_capacity(rows.len());
    let mut owners = Vec::with_capacity(rows.len());
    let mut teams = Vec::with_capacity(rows.len());
    let mut companies = Vec::with_capacity(rows.len());
    let mut tags = Slices::default();
    let mut searches = Vec::with_capacity(rows.len());
    for (id, row) in rows {
        let Some(record) = &row.record else {
            return Err(ProjectionError::Event {
                position: row.position,
                reason: format!(
                    "the events of {}/{id} leave no record (an event before its creation)",
                    A::STREAM_TYPE
                ),
            });
        };
        let mut body = serde_json::to_value(record)?;
        if let Value::Object(fields) = &mut body {
            fields.insert("version".to_owned(), Value::from(row.version));
        }
        let index = record.index(row.created_by);
        ids.push(*id);
        versions.push(i64::try_from(row.version).unwrap_or(i64::MAX));
        positions.push(i64::try_from(row.position).unwrap_or(i64::MAX));
        bodies.push(body);
        created_by.push(row.created_by);
        owners.push(index.owner_id);
        teams.push(index.team);
        companies.push(index.company_id);
        tags.push(index.tags);
        searches.push(index.search);
    }
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {table} \
                 (id, version, position, body, created_by, owner_id, team, company_id, tags, search) \
             SELECT r.id, r.version, r.position, r.body, r.created_by, r.owner_id, r.team, \
                    r.company_id, ($11::text[])[r.tags_from:r.tags_to], \
                    to_tsvector('simple', r.search) \
             FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::jsonb[], $5::uuid[], \
                         $6::uuid[], $7::text[], $8::uuid[], $9::integer[], $10::integer[], \
                         $12::text[]) \
                 AS r(id, version, position, body, created_by, owner_id, team, company_id, \
                      tags_from, tags_to, search) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 position = excluded.position, body = excluded.body, \
                 created_by = excluded.created_by, owner_id = excluded.owner_id, \
                 team = excluded.team, company_id = excluded.company_id, tags = excluded.tags, \
                 search = excluded.search"
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids,
                &versions,
                &positions,
                &bodies,
                &created_by,
                &owners,
                &teams,
                &companies,
                &tags.from,
                &tags.to,
                &tags.items,
                &searches,
            ],
        )
        .await?;
    Ok(())
}
