//! What the API asks of the timeline: one customer's entries, newest first, filtered and paged.
//! Each query reads the generation in `schema`, the one the registry says is live, and hands its
//! answer out sealed, naming the customer and every record its entries disclose: the API must
//! log the access before it can send it.

use std::collections::HashMap;
use std::future::Future;

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
        let everything = |records| std::future::ready(Ok::<_, TimelineError>(records));
        self.readable_timeline(schema, customer, filter, page, everything)
            .await
    }

    /// As [`timeline`](Self::timeline), holding only the entries of the records `readable`
    /// keeps of those it is given. The others are passed over as if they were not there, so
    /// neither a page's length nor its cursor says anything about them.
    pub async fn readable_timeline<E, Judge, Judged>(
        &self,
        schema: &str,
        customer: Customer,
        filter: &TimelineFilter,
        page: PageRequest,
        mut readable: Judge,
    ) -> Result<Withheld<TimelinePage>, E>
    where
        E: From<TimelineError>,
        Judge: FnMut(Vec<RecordRef>) -> Judged,
        Judged: Future<Output = Result<Vec<RecordRef>, E>>,
    {
        let keyset = page.keyset()?;
        filter.check()?;
        let limit = usize::try_from(keyset.limit).unwrap_or(usize::MAX);
        let mut before = keyset.before.unwrap_or(EntryKey {
            position: i64::MAX,
            ordinal: i32::MAX,
        });
        let mut judged: HashMap<RecordRef, bool> = HashMap::new();
        // One more than a page, to tell whether another follows.
        let mut kept: Vec<(EntryKey, TimelineEntry)> = Vec::with_capacity(limit + 1);
        while kept.len() <= limit {
            let rows = self
                .rows(schema, customer, filter, before, keyset.limit)
                .await?;
            let exhausted = rows.len() <= limit;
            let mut unjudged = Vec::new();
            for (_, entry) in &rows {
                if !judged.contains_key(&entry.record) && !unjudged.contains(&entry.record) {
                    unjudged.push(entry.record.clone());
                }
            }
            if !unjudged.is_empty() {
                let keep = readable(unjudged.clone()).await?;
                for record in unjudged {
                    let readable = keep.contains(&record);
                    judged.insert(record, readable);
                }
            }
            for (key, entry) in rows {
                before = key;
                if judged.get(&entry.record).copied().unwrap_or(false) {
                    kept.push((key, entry));
                    if kept.len() > limit {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let next_cursor = (kept.len() > limit).then(|| encode_cursor(kept[limit - 1].0));
        kept.truncate(limit);
        let entries: Vec<TimelineEntry> = kept.into_iter().map(|(_, entry)| entry).collect();
        let records = disclosed(customer, &entries);
        Ok(Withheld::new(
            TimelinePage {
                items: entries,
                next_cursor,
            },
            records,
        ))
    }

    /// Up to `limit` + 1 entries of the timeline below `before`, newest first, with their keys.
    async fn rows(
        &self,
        schema: &str,
        customer: Customer,
        filter: &TimelineFilter,
        before: EntryKey,
        limit: u32,
    ) -> Result<Vec<(EntryKey, TimelineEntry)>, TimelineError> {
        let kind = filter.kind.map(EntryKind::as_str);
        let one_more = i64::from(limit) + 1;
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
        rows.iter()
            .map(|row| {
                let key = EntryKey {
                    position: row.try_get(0)?,
                    ordinal: row.try_get(1)?,
                };
                Ok((key, to_entry(customer, row)?))
            })
            .collect()
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
