//! Group commit: every append in the process goes through a writer task, which takes all the
//! requests waiting at that moment and commits them in ONE transaction, so concurrent commands
//! share one fsync.
//!
//! Two writers take turns: while one transaction commits (the fsync), the other has already sent
//! its next batch's first statements and waits on the head lock, so the database goes straight
//! from one batch to the next instead of waiting for a round trip through this process.
//!
//! Inside the transaction the writer locks the single `log_head` row first. That lock orders all
//! appenders, in this process and in any other, so positions are handed out without gaps (a
//! rollback returns them), the hash chain has one order, and the version checks read a state no
//! one else can change before the commit. Each request is judged on its own: a conflict or an
//! idempotency mismatch fails that request only, and the others in the batch still commit.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BufMut;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::Statement;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use crate::chain;
use crate::error::StoreError;
use crate::model::{
    AppendRequest, Appended, Category, ExpectedVersion, StoredEvent, StreamRef, StreamVersion,
};
use crate::read::{to_hash, to_i64, to_u64};

/// The most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// The largest payload, in bytes of canonical JSON: well under NATS's default 1 MiB message limit,
/// so that every event the store accepts can be relayed (its envelope adds about 1 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
const MAX_NAME_LENGTH: usize = 64;
const MAX_ACTOR_LENGTH: usize = 200;
const MAX_KEY_LENGTH: usize = 200;

/// The handle every writer holds; cheap to clone.
#[derive(Clone)]
pub struct Appender {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    request: Checked,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// A request that passed validation, with its payloads already in canonical JSON (serialised on
/// the caller's task, not in the one writer every append waits for).
struct Checked {
    request: AppendRequest,
    payloads: Vec<Vec<u8>>,
}

impl Appender {
    /// Starts the writer tasks; they run until every handle is dropped.
    pub fn start(pool: Pool, batch_max: usize) -> Appender {
        let batch_max = batch_max.max(1);
        let (jobs, receiver) = mpsc::channel(batch_max * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), receiver.clone(), batch_max));
        }
        Appender { jobs }
    }

    /// Appends atomically: every stream in the request commits, or none does. Returns once the
    /// transaction has committed (on disk).
    pub async fn append(&self, mut request: AppendRequest) -> Result<Appended, StoreError> {
        let payloads = validate(&mut request)?;
        let request = Checked { request, payloads };
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the appender has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the appender stopped before answering".to_owned())
        })?
    }
}

/// Refuses what could fail inside the shared transaction, so one bad request never costs the
/// others in its batch their commit; truncates times to the microseconds PostgreSQL keeps.
/// Returns every event's payload in canonical JSON, in request order.
fn validate(request: &mut AppendRequest) -> Result<Vec<Vec<u8>>, StoreError> {
    let invalid = |message: String| Err(StoreError::Invalid(message));
    if request.streams.is_empty() {
        return invalid("an append needs at least one stream".to_owned());
    }
    let events: usize = request.streams.iter().map(|s| s.events.len()).sum();
    if events > MAX_EVENTS_PER_REQUEST {
        return invalid(format!(
            "{events} events in one append; at most {MAX_EVENTS_PER_REQUEST}"
        ));
    }
    check_text("actor", &request.metadata.actor, MAX_ACTOR_LENGTH)?;
    if let Some(idempotency) = &request.idempotency {
        check_text("idempotency key", &idempotency.key, MAX_KEY_LENGTH)?;
    }
    let mut seen = std::collections::HashSet::new();
    let mut payloads = Vec::with_capacity(events);
    for stream in &mut request.streams {
        check_name("stream type", &stream.stream.stream_type)?;
        if !seen.insert((stream.category, stream.stream.clone())) {
            return invalid(format!("stream {} appears twice", stream.stream));
        }
        if stream.events.is_empty() {
            return invalid(format!("no events for stream {}", stream.stream));
        }
        if stream.category == Category::Access && stream.expected != ExpectedVersion::Any {
            return invalid("record accesses take no expected version".to_owned());
        }
        for event in &mut stream.events {
            check_name("event type", &event.event_type)?;
            if event.schema_version == 0 || i32::try_from(event.schema_version).is_err() {
                return invalid(format!("schema version {}", event.schema_version));
            }
            event.occurred_at = truncate_to_micros(event.occurred_at);
            chain::normalise_payload(&mut event.payload)
                .map_err(|message| StoreError::Invalid(format!("payload: {message}")))?;
            let mut payload = Vec::with_capacity(256);
            chain::canonical_json(&event.payload, &mut payload);
            if payload.len() > MAX_PAYLOAD_BYTES {
                return invalid(format!(
                    "a payload of {} bytes; at most {MAX_PAYLOAD_BYTES}",
                    payload.len()
                ));
            }
            payloads.push(payload);
        }
    }
    Ok(payloads)
}

fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_LENGTH;
    if well_formed {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_LENGTH} of a-z, 0-9 and _, starting with a letter"
        )))
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), StoreError> {
    if text.is_empty() || text.len() > max || text.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {max} bytes without NUL characters"
        )));
    }
    Ok(())
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// Writers taking turns on the head lock; more than two only queue on it.
const WRITERS: usize = 2;

async fn write_batches(pool: Pool, receiver: Arc<Mutex<mpsc::Receiver<Job>>>, batch_max: usize) {
    loop {
        let mut waiting = Vec::with_capacity(batch_max);
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut waiting, batch_max).await == 0 {
                return;
            }
            gather_stragglers(&mut receiver, &mut waiting, batch_max).await;
        }
        let mut batch = waiting;
        while !batch.is_empty() {
            batch = commit_batch(&pool, batch).await;
        }
    }
}

/// The callers answered by the last commit are already preparing their next requests; a batch
/// taken the instant the first of them arrives would commit a handful and leave the rest for one
/// more transaction (and one more fsync). So, while yielding brings more requests in, keep
/// yielding: this costs microseconds when nobody else is coming.
async fn gather_stragglers(
    receiver: &mut mpsc::Receiver<Job>,
    waiting: &mut Vec<Job>,
    batch_max: usize,
) {
    const ROUNDS: usize = 16;
    for _ in 0..ROUNDS {
        if waiting.len() >= batch_max {
            return;
        }
        tokio::task::yield_now().await;
        let before = waiting.len();
        while waiting.len() < batch_max {
            match receiver.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        if waiting.len() == before {
            return;
        }
    }
}

/// Commits one batch and answers its requests; returns the requests that must wait for the next
/// transaction (a repeat of an idempotency key first seen in this same batch).
async fn commit_batch(pool: &Pool, jobs: Vec<Job>) -> Vec<Job> {
    let (requests, replies): (Vec<Checked>, Vec<_>) =
        jobs.into_iter().map(|job| (job.request, job.reply)).unzip();
    match write(pool, &requests).await {
        Ok(outcomes) => {
            let mut deferred = Vec::new();
            for ((request, reply), outcome) in requests.into_iter().zip(replies).zip(outcomes) {
                match outcome {
                    Outcome::Done(result) => {
                        let _ = reply.send(result);
                    }
                    Outcome::Deferred => deferred.push(Job { request, reply }),
                }
            }
            deferred
        }
        Err(error) => {
            let message = error.to_string();
            tracing::warn!(error = %message, requests = replies.len(), "append batch did not commit");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
            }
            Vec::new()
        }
    }
}

enum Outcome {
    Done(Result<Appended, StoreError>),
    Deferred,
}

/// The columns of the events inserted by one batch, as arrays for one `unnest` insert.
#[derive(Default)]
struct EventRows<'a> {
    position: Vec<i64>,
    event_id: Vec<Uuid>,
    category: Vec<&'static str>,
    stream_type: Vec<String>,
    stream_id: Vec<Uuid>,
    stream_version: Vec<Option<i64>>,
    event_type: Vec<String>,
    schema_version: Vec<i32>,
    occurred_at: Vec<DateTime<Utc>>,
    recorded_at: Vec<DateTime<Utc>>,
    actor: Vec<String>,
    correlation_id: Vec<Option<Uuid>>,
    causation_id: Vec<Option<Uuid>>,
    payload: Vec<CanonicalJsonb<'a>>,
    hash: Vec<Vec<u8>>,
}

#[derive(Default)]
struct KeyRows {
    key: Vec<String>,
    fingerprint: Vec<Vec<u8>>,
    result: Vec<serde_json::Value>,
}

async fn write(pool: &Pool, batch: &[Checked]) -> Result<Vec<Outcome>, StoreError> {
    let requests: Vec<&AppendRequest> = batch.iter().map(|checked| &checked.request).collect();
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;

    let statements = Statements::prepare(&transaction).await?;
    // Sent together (one round trip); the server runs them in order, so both lookups see the
    // log as it stands once this transaction holds the head.
    let (head, recorded, mut versions) = tokio::try_join!(
        lock_head(&transaction, &statements),
        recorded_keys(&transaction, &statements, &requests),
        stream_versions(&transaction, &statements, &requests),
    )?;
    let (mut position, mut previous_hash) = head;

    let recorded_at = truncate_to_micros(Utc::now());
    let mut events = EventRows::default();
    let mut keys = KeyRows::default();
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut keys_in_batch = std::collections::HashSet::new();

    for Checked { request, payloads } in batch {
        if let Some(idempotency) = &request.idempotency {
            if let Some((fingerprint, first)) = recorded.get(&idempotency.key) {
                let outcome = if *fingerprint == idempotency.fingerprint {
                    Ok(Appended {
                        replayed: true,
                        ..first.clone()
                    })
                } else {
                    Err(StoreError::IdempotencyMismatch {
                        key: idempotency.key.clone(),
                    })
                };
                outcomes.push(Outcome::Done(outcome));
                continue;
            }
            if !keys_in_batch.insert(idempotency.key.as_str()) {
                outcomes.push(Outcome::Deferred);
                continue;
            }
        }
        if let Err(conflict) = check_versions(request, &versions) {
            if let Some(idempotency) = &request.idempotency {
                keys_in_batch.remove(idempotency.key.as_str());
            }
            outcomes.push(Outcome::Done(Err(conflict)));
            continue;
        }

        let first_position = position + 1;
        let mut appended_streams = Vec::with_capacity(request.streams.len());
        let mut event_ids = Vec::new();
        let mut payloads = payloads.iter();
        for stream in &request.streams {
            let mut version = match stream.category {
                Category::Events => Some(versions.get(&stream.stream).copied().unwrap_or(0)),
                Category::Access => None,
            };
            for new in &stream.events {
                position += 1;
                version = version.map(|v| v + 1);
                let event = StoredEvent {
                    position,
                    event_id: Uuid::now_v7(),
                    category: stream.category,
                    stream: stream.stream.clone(),
                    stream_version: version,
                    event_type: new.event_type.clone(),
                    schema_version: new.schema_version,
                    occurred_at: new.occurred_at,
                    recorded_at,
                    actor: request.metadata.actor.clone(),
                    correlation_id: request.metadata.correlation_id,
                    causation_id: request.metadata.causation_id,
                    payload: serde_json::Value::Null,
                    hash: chain::GENESIS,
                };
                let payload = payloads.next().ok_or_else(|| {
                    StoreError::Invalid("a request changed after validation".to_owned())
                })?;
                let hash = chain::chain_hash(&previous_hash, &event, payload);
                previous_hash = hash;
                event_ids.push(event.event_id);
                events.push(event, payload, hash)?;
            }
            if let Some(version) = version {
                versions.insert(stream.stream.clone(), version);
            }
            appended_streams.push(StreamVersion {
                stream: stream.stream.clone(),
                version,
            });
        }
        let appended = Appended {
            first_position,
            last_position: position,
            streams: appended_streams,
            event_ids,
            replayed: false,
        };
        if let Some(idempotency) = &request.idempotency {
            keys.key.push(idempotency.key.clone());
            keys.fingerprint.push(idempotency.fingerprint.to_vec());
            keys.result
                .push(serde_json::to_value(&appended).map_err(|error| {
                    StoreError::Invalid(format!("cannot record the result: {error}"))
                })?);
        }
        outcomes.push(Outcome::Done(Ok(appended)));
    }

    if !events.position.is_empty() {
        tokio::try_join!(
            insert_events(&transaction, &statements, &events),
            insert_keys(&transaction, &statements, &keys, recorded_at),
            advance_head(&transaction, &statements, position, &previous_hash),
        )?;
    }
    transaction.commit().await?;
    Ok(outcomes)
}

impl<'a> EventRows<'a> {
    fn push(
        &mut self,
        event: StoredEvent,
        payload: &'a [u8],
        hash: [u8; 32],
    ) -> Result<(), StoreError> {
        self.position.push(to_i64(event.position)?);
        self.event_id.push(event.event_id);
        self.category.push(event.category.as_str());
        self.stream_type.push(event.stream.stream_type);
        self.stream_id.push(event.stream.stream_id);
        self.stream_version
            .push(event.stream_version.map(to_i64).transpose()?);
        self.event_type.push(event.event_type);
        self.schema_version
            .push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
        self.occurred_at.push(event.occurred_at);
        self.recorded_at.push(event.recorded_at);
        self.actor.push(event.actor);
        self.correlation_id.push(event.correlation_id);
        self.causation_id.push(event.causation_id);
        self.payload.push(CanonicalJsonb(payload));
        self.hash.push(hash.to_vec());
        Ok(())
    }
}

/// Every statement of the write path, prepared once per connection (cached by the pool), so
/// that the statements sent together below go out in the order they are written.
struct Statements {
    lock_head: Statement,
    advance_head: Statement,
    recorded_keys: Statement,
    stream_versions: Statement,
    insert_events: Statement,
    insert_keys: Statement,
}

impl Statements {
    async fn prepare(
        transaction: &deadpool_postgres::Transaction<'_>,
    ) -> Result<Statements, StoreError> {
        Ok(Statements {
            lock_head: transaction.prepare_cached(LOCK_HEAD).await?,
            advance_head: transaction.prepare_cached(ADVANCE_HEAD).await?,
            recorded_keys: transaction.prepare_cached(RECORDED_KEYS).await?,
            stream_versions: transaction.prepare_cached(STREAM_VERSIONS).await?,
            insert_events: transaction.prepare_cached(INSERT_EVENTS).await?,
            insert_keys: transaction.prepare_cached(INSERT_KEYS).await?,
        })
    }
}

const LOCK_HEAD: &str = "SELECT position, hash FROM log_head FOR UPDATE";

const ADVANCE_HEAD: &str = "WITH head AS (UPDATE log_head SET position = $1, hash = $2 RETURNING position) \
     SELECT pg_notify($3, position::text) FROM head";

const RECORDED_KEYS: &str =
    "SELECT key, request_hash, result FROM idempotency_keys WHERE key = ANY($1)";

const STREAM_VERSIONS: &str = "SELECT s.stream_type, s.stream_id, \
     (SELECT e.stream_version FROM events e \
     WHERE e.category = 'events' AND e.stream_type = s.stream_type \
     AND e.stream_id = s.stream_id \
     ORDER BY e.stream_version DESC LIMIT 1) \
     FROM unnest($1::text[], $2::uuid[]) AS s(stream_type, stream_id)";

const INSERT_EVENTS: &str = "INSERT INTO events (position, event_id, category, stream_type, stream_id, stream_version, \
     event_type, schema_version, occurred_at, recorded_at, actor, correlation_id, \
     causation_id, payload, hash) \
     SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], \
     $6::bigint[], $7::text[], $8::integer[], $9::timestamptz[], $10::timestamptz[], \
     $11::text[], $12::uuid[], $13::uuid[], $14::jsonb[], $15::bytea[])";

const INSERT_KEYS: &str = "INSERT INTO idempotency_keys (key, request_hash, result, recorded_at) \
     SELECT key, request_hash, result, $4 \
     FROM unnest($1::text[], $2::bytea[], $3::jsonb[]) AS k(key, request_hash, result)";

async fn lock_head(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
) -> Result<(u64, [u8; 32]), StoreError> {
    let head = transaction.query_one(&statements.lock_head, &[]).await?;
    Ok((to_u64(head.get(0))?, to_hash(head.get(1))?))
}

/// Moves the head to the batch's last event and wakes the relays (delivered at commit).
async fn advance_head(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
    position: u64,
    hash: &[u8; 32],
) -> Result<(), StoreError> {
    transaction
        .execute(
            &statements.advance_head,
            &[&to_i64(position)?, &hash.as_slice(), &crate::NOTIFY_CHANNEL],
        )
        .await?;
    Ok(())
}

/// The first result and fingerprint of every idempotency key in the batch that is already recorded.
async fn recorded_keys(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
    requests: &[&AppendRequest],
) -> Result<HashMap<String, ([u8; 32], Appended)>, StoreError> {
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|request| request.idempotency.as_ref().map(|i| i.key.as_str()))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = transaction
        .query(&statements.recorded_keys, &[&keys])
        .await?;
    rows.iter()
        .map(|row| {
            let result: serde_json::Value = row.get(2);
            let appended: Appended = serde_json::from_value(result)
                .map_err(|error| StoreError::Corrupt(format!("recorded append result: {error}")))?;
            Ok((row.get(0), (to_hash(row.get(1))?, appended)))
        })
        .collect()
}

/// The current version of every stream the batch appends domain events to (absent: no stream).
async fn stream_versions(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
    requests: &[&AppendRequest],
) -> Result<HashMap<StreamRef, u64>, StoreError> {
    let mut types = Vec::new();
    let mut ids = Vec::new();
    for stream in requests.iter().flat_map(|request| &request.streams) {
        if stream.category == Category::Events {
            types.push(stream.stream.stream_type.as_str());
            ids.push(stream.stream.stream_id);
        }
    }
    if types.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = transaction
        .query(&statements.stream_versions, &[&types, &ids])
        .await?;
    let mut versions = HashMap::with_capacity(rows.len());
    for row in rows {
        if let Some(version) = row.get::<_, Option<i64>>(2) {
            versions.insert(
                StreamRef::new(row.get::<_, String>(0), row.get(1)),
                to_u64(version)?,
            );
        }
    }
    Ok(versions)
}

fn check_versions(
    request: &AppendRequest,
    versions: &HashMap<StreamRef, u64>,
) -> Result<(), StoreError> {
    for stream in &request.streams {
        if stream.category == Category::Access {
            continue;
        }
        let actual = versions.get(&stream.stream).copied();
        let holds = match stream.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream | ExpectedVersion::Exactly(0) => actual.is_none(),
            ExpectedVersion::Exactly(expected) => actual == Some(expected),
        };
        if !holds {
            return Err(StoreError::Conflict {
                stream: stream.stream.clone(),
                expected: stream.expected,
                actual,
            });
        }
    }
    Ok(())
}

async fn insert_events(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
    rows: &EventRows<'_>,
) -> Result<(), StoreError> {
    transaction
        .execute(
            &statements.insert_events,
            &[
                &rows.position,
                &rows.event_id,
                &rows.category,
                &rows.stream_type,
                &rows.stream_id,
                &rows.stream_version,
                &rows.event_type,
                &rows.schema_version,
                &rows.occurred_at,
                &rows.recorded_at,
                &rows.actor,
                &rows.correlation_id,
                &rows.causation_id,
                &rows.payload,
                &rows.hash,
            ],
        )
        .await?;
    Ok(())
}

async fn insert_keys(
    transaction: &deadpool_postgres::Transaction<'_>,
    statements: &Statements,
    rows: &KeyRows,
    recorded_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if rows.key.is_empty() {
        return Ok(());
    }
    transaction
        .execute(
            &statements.insert_keys,
            &[&rows.key, &rows.fingerprint, &rows.result, &recorded_at],
        )
        .await?;
    Ok(())
}

/// A payload already in canonical JSON, sent as `jsonb` without serialising it a second time.
#[derive(Debug)]
struct CanonicalJsonb<'a>(&'a [u8]);

impl ToSql for CanonicalJsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // The jsonb binary format: a version byte (1), then the JSON text.
        out.put_u8(1);
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}
