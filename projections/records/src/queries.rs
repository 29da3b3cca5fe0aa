//! What the API asks of the read model: one record, a filtered page of a collection, and how
//! many open deals sit in a pipeline's stage (a stage that holds some may not be removed). Each
//! query reads the generation in `schema`, the one the registry says is live.
//!
//! Customer data comes out sealed ([`Withheld`], naming the records it holds): the API can send
//! it only after the access log has recorded the read. A single record comes with who owns it
//! and the records it links to, which the access policy decides on before anything is logged.

use std::collections::HashMap;

use accesslog::Withheld;
use deadpool_postgres::Pool;
use domain::access::RecordRef;
use policy::Ownership;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::collection::qualified_table;
use crate::filter::list_statement;
use crate::page::encode_cursor;
use crate::{Collection, ListFilter, Page, PageRequest, RecordsError};

/// A record found by id: whom it belongs to, in the clear, and its data, sealed.
pub struct Found {
    pub ownership: Ownership,
    pub record: Withheld<Record>,
}

/// The record reference the access log names for a record of `collection`.
pub fn record_ref(collection: Collection, id: Uuid) -> RecordRef {
    RecordRef {
        collection: collection.as_str().to_owned(),
        id,
    }
}

/// A record as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: Uuid,
    /// The aggregate's version after the last event folded in.
    pub version: u64,
    /// The log position of that event.
    pub position: u64,
    /// The domain's record as JSON, plus `"version"`.
    pub body: Value,
}

/// Reads the records read model through a pool of the database's owner
/// ([`projector::connect`]), which can read every generation's schema.
#[derive(Clone)]
pub struct RecordQueries {
    pool: Pool,
}

impl std::fmt::Debug for RecordQueries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RecordQueries")
            .finish_non_exhaustive()
    }
}

/// The owner and team of a record `r` and of the company `c`, contact `p` and deal `d` it links
/// to, as [`ownership`] reads them.
const OWNERS: &str =
    "r.owner_id, r.team, c.owner_id, c.team, p.owner_id, p.team, d.owner_id, d.team";

/// `collection`'s table as `r`, joined to the records it links to ([`OWNERS`]).
fn with_links(schema: &str, collection: Collection) -> String {
    format!(
        "{table} r \
         LEFT JOIN {companies} c ON c.id = r.company_id \
         LEFT JOIN {contacts} p ON p.id = (r.body ->> 'contact_id')::uuid \
         LEFT JOIN {deals} d ON d.id = (r.body ->> 'deal_id')::uuid",
        table = qualified_table(schema, collection),
        companies = qualified_table(schema, Collection::Companies),
        contacts = qualified_table(schema, Collection::Contacts),
        deals = qualified_table(schema, Collection::Deals),
    )
}

/// The ownership in the [`OWNERS`] columns of `row`, from column `first`.
fn ownership(row: &Row, first: usize) -> Result<Ownership, RecordsError> {
    let mut links = Vec::new();
    for column in [first + 2, first + 4, first + 6] {
        let owner_id: Option<Uuid> = row.try_get(column)?;
        let team: Option<String> = row.try_get(column + 1)?;
        if owner_id.is_some() || team.is_some() {
            links.push(Ownership {
                owner_id,
                team,
                links: Vec::new(),
            });
        }
    }
    Ok(Ownership {
        owner_id: row.try_get(first)?,
        team: row.try_get(first + 1)?,
        links,
    })
}

impl RecordQueries {
    pub fn new(pool: Pool) -> RecordQueries {
        RecordQueries { pool }
    }

    /// The record `id` of `collection`, if the read model holds it, with its owner and the
    /// owners of the company, contact and deal it links to.
    pub async fn get(
        &self,
        schema: &str,
        collection: Collection,
        id: Uuid,
    ) -> Result<Option<Found>, RecordsError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT r.version, r.position, r.body, {OWNERS} FROM {} WHERE r.id = $1",
                with_links(schema, collection)
            ))
            .await?;
        let Some(row) = client.query_opt(&statement, &[&id]).await? else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0)?;
        let position: i64 = row.try_get(1)?;
        let record = Record {
            id,
            version: u64::try_from(version).unwrap_or(0),
            position: u64::try_from(position).unwrap_or(0),
            body: row.try_get(2)?,
        };
        Ok(Some(Found {
            ownership: ownership(&row, 3)?,
            record: Withheld::new(record, vec![record_ref(collection, id)]),
        }))
    }

    /// The owners (with those of the records they link to) of the records `ids` of `collection`
    /// the read model holds, in one query: what a page gathered from elsewhere is judged by.
    pub async fn ownerships(
        &self,
        schema: &str,
        collection: Collection,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Ownership>, RecordsError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT r.id, {OWNERS} FROM {} WHERE r.id = ANY($1)",
                with_links(schema, collection)
            ))
            .await?;
        client
            .query(&statement, &[&ids])
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, ownership(row, 1)?)))
            .collect()
    }

    /// The page of `collection` that `filter` and `page` select, in id (creation) order.
    pub async fn list(
        &self,
        schema: &str,
        collection: Collection,
        filter: &ListFilter,
        page: PageRequest,
    ) -> Result<Withheld<Page>, RecordsError> {
        let keyset = page.keyset()?;
        let statement = list_statement(schema, collection, filter, keyset)?;
        let client = self.pool.get().await?;
        let prepared = client.prepare_cached(&statement.sql).await?;
        let rows = client.query(&prepared, &statement.parameters()).await?;
        let limit = usize::try_from(keyset.limit).unwrap_or(usize::MAX);
        let mut last_id = None;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut disclosed = Vec::with_capacity(items.capacity());
        for row in rows.iter().take(limit) {
            let id = row.try_get::<_, Uuid>(0)?;
            last_id = Some(id);
            disclosed.push(record_ref(collection, id));
            items.push(row.try_get::<_, Value>(1)?);
        }
        let next_cursor = if rows.len() > limit {
            last_id.map(encode_cursor)
        } else {
            None
        };
        Ok(Withheld::new(Page { items, next_cursor }, disclosed))
    }
}
