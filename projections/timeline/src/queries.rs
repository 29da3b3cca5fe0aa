//! What the API asks of the timeline: one customer's entries, newest first, filtered and paged.
//! Each query reads the generation in `schema`, the one the registry says is live, and hands its
//! answer out sealed, naming the customer and every record its entries disclose: the API must
//! log the access before it can send it.

use accesslog::Withheld;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::access::RecordRef;
use tokio_postgres::Row;

use crate::collection::qualified;
use crate::page::{EntryKey, encode_cursor};
use crate::{
    Customer, EntryKind, PageRequest, TimelineEntry, TimelineError, TimelineFilter, TimelinePage,
};

/// Reads the timeline through a pool of the database's owner ([`projector::connect`]), which
/// can read every generation's schema.
#[derive(Clone)]
pub struct TimelineQueries {
    pool: Pool,
}

impl std::fmt::Debug for TimelineQueries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TimelineQueries")
            .finish_non_exhaustive()
    }
}

impl TimelineQueries {
    pub fn new(pool: Pool) -> TimelineQueries {
        TimelineQueries { pool }
    }

    /// The entries of `customer`'s timeline that `filter` selects, newest first, one page.
    pub async fn timeline(
        &self,
        schema: &str,
        customer: Customer,
        filter: &TimelineFilter,
        page: PageRequest,
    ) -> Result<Withheld<TimelinePage>, TimelineError> {
        let keyset = page.keyset()?;
        filter.check()?;
        let before = keyset.before.unwrap_or(EntryKey {
            position: i64::MAX,
            ordinal: i32::MAX,
        });
        let kind = filter.kind.map(EntryKind::as_str);
        let one_more = i64::from(keyset.limit) + 1;
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT e.position, e.ordinal, v.collection, v.record_id, v.event_type, \
                     v.event_name, v.kind, v.occurred_at, v.recorded_at, v.actor, v.actor_id, \
                     v.summary, v.data \
                 FROM {} e JOIN {} v ON v.position = e.position \
                 WHERE e.customer_kind = $1 AND e.customer_id = $2 \
                   AND (e.position, e.ordinal) < ($3, $4) \
                   AND v.collection = ANY($5) \
                   AND ($6::timestamptz IS NULL OR v.occurred_at >= $6) \
                   AND ($7::timestamptz IS NULL OR v.occurred_at < $7) \
                   AND ($8::text IS NULL OR v.kind = $8) \
                 ORDER BY e.position DESC, e.ordinal DESC LIMIT $9",
                qualified(schema, "entries"),
                qualified(schema, "events"),
            ))
            .await?;
        let rows = client
            .query(
                &statement,
                &[
                    &customer.kind(),
                    &customer.id(),
                    &before.position,
                    &before.ordinal,
                    &filter.collections,
                    &filter.from,
                    &filter.to,
                    &kind,
                    &one_more,
                ],
            )
            .await?;
        let limit = usize::try_from(keyset.limit).unwrap_or(usize::MAX);
        let mut entries = Vec::with_capacity(rows.len().min(limit));
        let mut last = None;
        for row in rows.iter().take(limit) {
            last = Some(EntryKey {
                position: row.try_get(0)?,
                ordinal: row.try_get(1)?,
            });
            entries.push(to_entry(customer, row)?);
        }
        let next_cursor = if rows.len() > limit {
            last.map(encode_cursor)
        } else {
            None
        };
        let records = disclosed(customer, &entries);
        Ok(Withheld::new(
            TimelinePage {
                items: entries,
                next_cursor,
            },
            records,
        ))
    }
}

/// The customer's record, then each distinct record of `entries`, in the order they appear.
fn disclosed(customer: Customer, entries: &[TimelineEntry]) -> Vec<RecordRef> {
    let mut records = vec![customer.record()];
    for entry in entries {
        if !records.contains(&entry.record) {
            records.push(entry.record.clone());
        }
    }
    records
}

/// An entry of `customer`'s timeline from a row of the query's columns.
fn to_entry(customer: Customer, row: &Row) -> Result<TimelineEntry, TimelineError> {
    let position: i64 = row.try_get(0)?;
    let kind: String = row.try_get(6)?;
    let kind = EntryKind::parse(&kind).ok_or_else(|| TimelineError::Database {
        message: format!("the entry at position {position} has the kind {kind:?}"),
        transient: false,
    })?;
    let occurred_at: DateTime<Utc> = row.try_get(7)?;
    Ok(TimelineEntry {
        position: u64::try_from(position).unwrap_or(0),
        customer,
        record: RecordRef {
            collection: row.try_get(2)?,
            id: row.try_get(3)?,
        },
        event_type: row.try_get(4)?,
        event: row.try_get(5)?,
        kind,
        occurred_at,
        recorded_at: row.try_get(8)?,
        actor: row.try_get(9)?,
        actor_id: row.try_get(10)?,
        summary: row.try_get(11)?,
        data: row.try_get(12)?,
    })
}
