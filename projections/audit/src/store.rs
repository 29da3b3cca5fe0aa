//! The batch's three statements: load the states of every record it touches (one query), insert
//! its entries (one multi-row insert) and write back the states it changed (one multi-row
//! upsert). The rows travel as parallel arrays unnested by PostgreSQL, so a batch of a thousand
//! events costs three round trips. The JSON columns are `json`, kept as sent: nothing queries
//! inside them, and PostgreSQL only checks such text rather than taking it apart into `jsonb`.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use projector::{ProjectionError, Slices};
use serde_json::Value;
use uuid::Uuid;

use crate::collection::{known_stream, qualified};
use crate::fold::{EntryRow, Key, StateRow};

/// The stored states of `keys` (records without one are absent).
pub(crate) async fn load_states(
    transaction: &Transaction<'_>,
    schema: &str,
    keys: &[Key],
    position: u64,
) -> Result<HashMap<Key, StateRow>, ProjectionError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let stream_types: Vec<&str> = keys.iter().map(|(stream_type, _)| *stream_type).collect();
    let ids: Vec<Uuid> = keys.iter().map(|(_, id)| *id).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT s.stream_type, s.id, s.collection, s.version, s.position, s.body, s.links \
             FROM unnest($1::text[], $2::uuid[]) AS k(stream_type, id) \
             JOIN {} s ON s.stream_type = k.stream_type AND s.id = k.id",
            qualified(schema, "states")
        ))
        .await?;
    let mut states = HashMap::with_capacity(keys.len());
    for row in transaction
        .query(&statement, &[&stream_types, &ids])
        .await?
    {
        let stream_type: String = row.try_get(0)?;
        let id: Uuid = row.try_get(1)?;
        let collection: String = row.try_get(2)?;
        let unknown = || ProjectionError::Event {
            position,
            reason: format!("the stored state of {stream_type}/{id} names no known collection"),
        };
        let stream_type = known_stream(&stream_type).ok_or_else(unknown)?;
        let collection = crate::collection::collection_of(stream_type)
            .filter(|known| *known == collection)
            .ok_or_else(unknown)?;
        let version: i64 = row.try_get(3)?;
        let stored_position: i64 = row.try_get(4)?;
        states.insert(
            (stream_type, id),
            StateRow {
                collection,
                version: u64::try_from(version).unwrap_or(0),
                position: u64::try_from(stored_position).unwrap_or(0),
                body: row.try_get(5)?,
                links: row.try_get(6)?,
                dirty: false,
            },
        );
    }
    Ok(states)
}

/// Inserts every entry with one statement.
pub(crate) async fn insert_entries(
    transaction: &Transaction<'_>,
    schema: &str,
    entries: &[EntryRow],
) -> Result<(), ProjectionError> {
    if entries.is_empty() {
        return Ok(());
    }
    let column = |pick: fn(&EntryRow) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(pick).collect()
    };
    let positions: Vec<i64> = entries.iter().map(|e| to_sql(e.position)).collect();
    let ordinals: Vec<i32> = entries.iter().map(|e| e.ordinal).collect();
    let occurred: Vec<_> = entries.iter().map(|e| e.occurred_at).collect();
    let recorded: Vec<_> = entries.iter().map(|e| e.recorded_at).collect();
    let actors = column(|e| Some(e.actor.clone()));
    let actor_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.actor_id).collect();
    let kinds = column(|e| Some(e.kind.clone()));
    let collections = column(|e| e.collection.clone());
    let record_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.record_id).collect();
    let event_types = column(|e| Some(e.event_type.clone()));
    let outcomes = column(|e| Some(e.outcome.clone()));
    let roles = column(|e| e.role.clone());
    let routes = column(|e| e.route.clone());
    let purposes = column(|e| e.purpose.clone());
    let request_ids = column(|e| e.request_id.clone());
    let clients = column(|e| e.client.clone());
    let reasons = column(|e| e.reason.clone());
    let changes: Vec<&Value> = entries.iter().map(|e| &e.changes).collect();
    let subjects: Slices<Uuid> = entries.iter().map(|e| e.subjects.iter().copied()).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (position, ordinal, occurred_at, recorded_at, actor, actor_id, kind, \
                 collection, record_id, event_type, outcome, role, route, purpose, request_id, \
                 client, reason, changes, subjects) \
             SELECT r.position, r.ordinal, r.occurred_at, r.recorded_at, r.actor, r.actor_id, \
                 r.kind, r.collection, r.record_id, r.event_type, r.outcome, r.role, r.route, \
                 r.purpose, r.request_id, r.client, r.reason, r.changes, \
                 ($21::uuid[])[r.subjects_from:r.subjects_to] \
             FROM unnest($1::bigint[], $2::integer[], $3::timestamptz[], $4::timestamptz[], \
                 $5::text[], $6::uuid[], $7::text[], $8::text[], $9::uuid[], $10::text[], \
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], \
                 $17::text[], $18::json[], $19::integer[], $20::integer[]) \
                 AS r(position, ordinal, occurred_at, recorded_at, actor, actor_id, kind, \
                 collection, record_id, event_type, outcome, role, route, purpose, request_id, \
                 client, reason, changes, subjects_from, subjects_to)",
            qualified(schema, "entries")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &positions,
                &ordinals,
                &occurred,
                &recorded,
                &actors,
                &actor_ids,
                &kinds,
                &collections,
                &record_ids,
                &event_types,
                &outcomes,
                &roles,
                &routes,
                &purposes,
                &request_ids,
                &clients,
                &reasons,
                &changes,
                &subjects.from,
                &subjects.to,
                &subjects.items,
            ],
        )
        .await?;
    Ok(())
}

/// Writes back every state the batch changed, with one statement.
pub(crate) async fn upsert_states(
    transaction: &Transaction<'_>,
    schema: &str,
    states: &HashMap<Key, StateRow>,
) -> Result<(), ProjectionError> {
    let mut written: Vec<(&Key, &StateRow)> = states.iter().filter(|(_, row)| row.dirty).collect();
    if written.is_empty() {
        return Ok(());
    }
    // A fixed order, so two writers of one generation could never deadlock on the rows.
    written.sort_by_key(|((stream_type, id), _)| (*stream_type, *id));
    let stream_types: Vec<&str> = written.iter().map(|((s, _), _)| *s).collect();
    let ids: Vec<Uuid> = written.iter().map(|((_, id), _)| *id).collect();
    let collections: Vec<&str> = written.iter().map(|(_, row)| row.collection).collect();
    let versions: Vec<i64> = written.iter().map(|(_, row)| to_sql(row.version)).collect();
    let positions: Vec<i64> = written
        .iter()
        .map(|(_, row)| to_sql(row.position))
        .collect();
    let bodies: Vec<&Value> = written.iter().map(|(_, row)| &row.body).collect();
    let links: Slices<Uuid> = written
        .iter()
        .map(|(_, row)| row.links.iter().copied())
        .collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (stream_type, id, collection, version, position, body, links) \
             SELECT r.stream_type, r.id, r.collection, r.version, r.position, r.body, \
                 ($9::uuid[])[r.links_from:r.links_to] \
             FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::bigint[], \
                 $6::json[], $7::integer[], $8::integer[]) \
                 AS r(stream_type, id, collection, version, position, body, links_from, links_to) \
             ON CONFLICT (stream_type, id) DO UPDATE SET collection = excluded.collection, \
                 version = excluded.version, position = excluded.position, \
                 body = excluded.body, links = excluded.links",
            qualified(schema, "states")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &stream_types,
                &ids,
                &collections,
                &versions,
                &positions,
                &bodies,
                &links.from,
                &links.to,
                &links.items,
            ],
        )
        .await?;
    Ok(())
}

fn to_sql(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}
