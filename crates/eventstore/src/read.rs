//! Reading the log: one aggregate's stream by version, the whole log by position, and the head.
//! Every read here is an index scan (`events_stream_version`, or the primary key on position).

use deadpool_postgres::Pool;
use tokio_postgres::Row;

use crate::error::StoreError;
use crate::model::{Appended, Category, StoredEvent, StreamRef};

pub(crate) const EVENT_COLUMNS: &str = "position, event_id, category, stream_type, stream_id, \
     stream_version, event_type, schema_version, occurred_at, recorded_at, actor, correlation_id, \
     causation_id, payload, hash";

/// The last committed position and the hash the next event will chain to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub position: u64,
    pub hash: [u8; 32],
}

/// Reads from the store through the application's pool.
#[derive(Clone)]
pub struct Reader {
    pool: Pool,
}

impl Reader {
    pub fn new(pool: Pool) -> Reader {
        Reader { pool }
    }

    /// The pool it reads through, for the checks that stream the whole log.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Up to `limit` events after `after` (exclusive), in position order.
    pub async fn read_from(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
            ))
            .await?;
        let rows = client
            .query(&statement, &[&to_i64(after)?, &i64::from(limit)])
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// As [`read_from`](Self::read_from), the events of `category` only.
    pub async fn read_category_from(
        &self,
        after: u64,
        limit: u32,
        category: Category,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 AND category = $3 \
                 ORDER BY position LIMIT $2"
            ))
            .await?;
        let rows = client
            .query(
                &statement,
                &[&to_i64(after)?, &i64::from(limit), &category.as_str()],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The domain events of one stream after `after_version` (0 for all), in version order.
    pub async fn load_stream(
        &self,
        stream: &StreamRef,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.load_stream_page(stream, after_version, None).await
    }

    /// As [`load_stream`](Self::load_stream), at most `limit` events (all when `None`).
    pub async fn load_stream_page(
        &self,
        stream: &StreamRef,
        after_version: u64,
        limit: Option<u32>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events \
                 WHERE category = 'events' AND stream_type = $1 AND stream_id = $2 AND stream_version > $3 \
                 ORDER BY stream_version LIMIT $4"
            ))
            .await?;
        let rows = client
            .query(
                &statement,
                &[
                    &stream.stream_type,
                    &stream.stream_id,
                    &to_i64(after_version)?,
                    &limit.map(i64::from),
                ],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The event at one position, if it exists.
    pub async fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position = $1"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&to_i64(position)?]).await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// The recorded result of an append made with this idempotency key, and the fingerprint of
    /// the content it was made with. Lets a caller answer a retry before deciding again (a
    /// second decision would see its own first effect and refuse).
    pub async fn recorded_append(
        &self,
        key: &str,
    ) -> Result<Option<([u8; 32], Appended)>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached("SELECT request_hash, result FROM idempotency_keys WHERE key = $1")
            .await?;
        let Some(row) = client.query_opt(&statement, &[&key]).await? else {
            return Ok(None);
        };
        let appended: Appended = serde_json::from_value(row.get(1))
            .map_err(|error| StoreError::Corrupt(format!("recorded append result: {error}")))?;
        Ok(Some((to_hash(row.get(0))?, appended)))
    }

    /// The last committed position and hash.
    pub async fn head(&self) -> Result<LogHead, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT position, hash FROM log_head", &[])
            .await?;
        Ok(LogHead {
            position: to_u64(row.get(0))?,
            hash: to_hash(row.get(1))?,
        })
    }
}

pub(crate) fn event_from_row(row: &Row) -> Result<StoredEvent, StoreError> {
    let category: &str = row.get(2);
    let version: Option<i64> = row.get(5);
    let schema_version: i32 = row.get(7);
    Ok(StoredEvent {
        position: to_u64(row.get(0))?,
        event_id: row.get(1),
        category: Category::parse(category)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown category {category:?}")))?,
        stream: StreamRef {
            stream_type: row.get(3),
            stream_id: row.get(4),
        },
        stream_version: version.map(to_u64).transpose()?,
        event_type: row.get(6),
        schema_version: u32::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {schema_version}")))?,
        occurred_at: row.get(8),
        recorded_at: row.get(9),
        actor: row.get(10),
        correlation_id: row.get(11),
        causation_id: row.get(12),
        payload: row.get(13),
        hash: to_hash(row.get(14))?,
    })
}

pub(crate) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} is out of range")))
}

pub(crate) fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative number {value}")))
}

pub(crate) fn to_hash(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a hash of {} bytes", bytes.len())))
}
