//! The two ways a batch reaches the log. Both end in the database function `append_batch`
//! (migration V3), which moves the head, inserts the events and the idempotency keys and wakes
//! the relays in one statement.
//!
//! - **On the known head** (the usual way): the batch is judged on what the [`Sequencer`] knows,
//!   chained onto the head this process's last batch leaves, and sent as one statement that
//!   commits on its own. The head is locked only while the server runs it.
//! - **Under the head lock**: when nothing is known yet, when the known head turned out wrong,
//!   or when a request looks like a conflict. The head, the streams' versions and the keys are
//!   read in a transaction that holds the head, so the judgement is final.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use deadpool_postgres::{GenericClient, Object, Pool};
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::Checked;
use super::plan::{EventRows, Head, KeyRows, Outcome, Plan, RecordedKeys, plan};
use super::sequencer::Sequencer;
use crate::error::StoreError;
use crate::model::{Appended, Category, ExpectedVersion, NoneSince, StreamAppend, StreamRef};
use crate::read::{to_hash, to_i64, to_u64};

/// What judging a batch on the tip came to.
pub(super) enum Judged {
    /// It must be judged under the head lock; nothing was chained.
    UnderLock,
    /// It writes nothing: each request's answer.
    Answered(Vec<Outcome>),
    /// Chained onto the tip: the statement's arguments, and each request's answer once it has
    /// committed.
    Chained(Box<AppendArgs>, Vec<Outcome>),
}

/// Judges `batch` on what the sequencer knows, reading only the versions and keys it does not
/// know (no connection at all when there are none), and chains it onto the tip.
pub(super) async fn judge_on_tip(
    pool: &Pool,
    sequencer: &mut Sequencer,
    batch: &[Checked],
) -> Result<Judged, StoreError> {
    let Some(tip) = sequencer.tip() else {
        return Ok(Judged::UnderLock);
    };
    // A stream expected not to exist needs no read when the batch writes it: "no version" is
    // the lowest bound there is, and if the stream does exist, writing its first version again is
    // refused. A stream the request only expects is written by no one, so it is always read.
    let unknown: Vec<&StreamRef> = domain_appends(batch)
        .filter(|append| {
            let expected_absent = matches!(
                append.expected,
                ExpectedVersion::NoStream | ExpectedVersion::Exactly(0)
            );
            (!expected_absent || append.events.is_empty())
                && sequencer.version(&append.stream).is_none()
        })
        .map(|append| &append.stream)
        .collect();
    let has_keys = batch
        .iter()
        .any(|checked| checked.request.idempotency.is_some());
    let (recorded, read) = if unknown.is_empty() && !has_keys {
        (HashMap::new(), HashMap::new())
    } else {
        let client = pool.get().await?;
        let statements = Statements::prepare(&client).await?;
        tokio::try_join!(
            recorded_keys(&client, &statements, batch),
            stream_versions(&client, &statements, &unknown),
        )?
    };
    sequencer.learn(read);
    let versions = domain_appends(batch)
        .filter_map(|append| {
            let stream = &append.stream;
            let version = sequencer.version(stream);
            version.map(|version| (stream.clone(), version))
        })
        .collect();
    let mut plan = plan(batch, tip, versions, &recorded, now())?;
    if plan.has_conflicts() {
        return Ok(Judged::UnderLock);
    }
    if plan.writes_nothing() {
        return Ok(Judged::Answered(plan.outcomes));
    }
    sequencer.chain(plan.to, std::mem::take(&mut plan.versions));
    let (args, outcomes) = AppendArgs::of(plan)?;
    Ok(Judged::Chained(Box::new(args), outcomes))
}

/// Sends `append_batch` (on the first poll) and waits for its answer.
pub(super) async fn send(
    client: Arc<Object>,
    statement: Statement,
    args: Box<AppendArgs>,
) -> Result<u64, tokio_postgres::Error> {
    client.execute(&statement, &args.params()).await
}

/// True when the database refused a batch chained onto the tip, having written nothing: the
/// head had moved, or a stream version or idempotency key it wrote exists.
pub(super) fn refused(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| *code == SqlState::UNIQUE_VIOLATION || code.code() == HEAD_MOVED)
}

/// The SQLSTATE `append_batch` raises when the head is not where the batch was chained.
const HEAD_MOVED: &str = "CR001";

/// Judges and writes `batch` in a transaction that holds the head: the judgement is final, and
/// the sequencer learns the head it leaves. Nothing else of this writer may be in flight.
pub(super) async fn under_lock(
    client: &mut Object,
    sequencer: &mut Sequencer,
    batch: &[Checked],
) -> Result<Vec<Outcome>, Unwritten> {
    let statements = Statements::prepare(client).await?;
    let transaction = client.transaction().await?;
    let streams: Vec<&StreamRef> = domain_appends(batch).map(|append| &append.stream).collect();
    // Sent together (one round trip); the server runs them in order, so both lookups see the
    // log as it stands once this transaction holds the head.
    let ((head, backend), recorded, versions) = tokio::try_join!(
        lock_head(&transaction, &statements),
        recorded_keys(&transaction, &statements, batch),
        stream_versions(&transaction, &statements, &streams),
    )?;
    if let Some(failed) = failed_condition(&transaction, &statements, batch, &recorded).await? {
        transaction.commit().await?;
        sequencer.committed_at(head, Vec::new());
        return Ok(vec![Outcome::Done(Err(failed))]);
    }
    let mut plan = plan(batch, head, versions, &recorded, now())?;
    let writes = !plan.writes_nothing();
    let to = plan.to;
    let appended = std::mem::take(&mut plan.versions);
    let (args, outcomes) = AppendArgs::of(plan)?;
    if !writes {
        transaction.commit().await?;
        sequencer.committed_at(to, appended);
        return Ok(outcomes);
    }
    let marker = args.marker();
    let written = async {
        transaction
            .execute(&statements.append_batch, &args.params())
            .await?;
        transaction.commit().await
    }
    .await;
    match written {
        Ok(()) => {
            sequencer.committed_at(to, appended);
            Ok(outcomes)
        }
        Err(error) => Err(Unwritten::after_sending(error, backend, marker, outcomes)),
    }
}

/// Why a batch was not answered as written.
pub(super) enum Unwritten {
    /// Nothing of it was written.
    Failed(StoreError),
    /// The connection failed once it was sent: it may have committed ([`committed`] tells).
    Unknown { error: StoreError, sent: Sent },
}

/// A batch sent on a connection that then failed: enough to find out whether it committed, and
/// its outcomes if it did.
pub(super) struct Sent {
    /// The server process of that connection: until it is gone, the batch may still commit.
    pub backend: i32,
    pub marker: Marker,
    pub outcomes: Vec<Outcome>,
}

/// Something the batch writes, to look for: its first event, or (a batch of keys only) its
/// first idempotency key.
pub(super) enum Marker {
    Event(uuid::Uuid),
    Key(String),
}

impl Unwritten {
    /// The failure of a batch already sent: a refusal by the server wrote nothing, while a lost
    /// connection leaves the outcome to be found out.
    pub(super) fn after_sending(
        error: tokio_postgres::Error,
        backend: i32,
        marker: Option<Marker>,
        outcomes: Vec<Outcome>,
    ) -> Unwritten {
        let Some(marker) = marker.filter(|_| error.as_db_error().is_none()) else {
            return Unwritten::Failed(error.into());
        };
        Unwritten::Unknown {
            error: error.into(),
            sent: Sent {
                backend,
                marker,
                outcomes,
            },
        }
    }
}

impl From<StoreError> for Unwritten {
    fn from(error: StoreError) -> Self {
        Unwritten::Failed(error)
    }
}

impl From<tokio_postgres::Error> for Unwritten {
    fn from(error: tokio_postgres::Error) -> Self {
        Unwritten::Failed(error.into())
    }
}

/// How long the server may take to end the session of a connection that failed under a batch
/// (it notices within about 30 s, `detect_dead_peers`).
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether the batch `sent` committed, once the server process it was sent to has ended (so it
/// can commit nothing more); an error when that cannot be known (the server does not answer, or
/// the process lives on).
pub(super) async fn committed(
    pool: &deadpool_postgres::Pool,
    sent: &Sent,
) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let deadline = std::time::Instant::now() + SETTLE_WAIT;
    while client
        .query_opt(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND pid <> pg_backend_pid()",
            &[&sent.backend],
        )
        .await?
        .is_some()
    {
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "server process {} still runs the batch",
                sent.backend
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let found = match &sent.marker {
        Marker::Event(id) => {
            client
                .query_opt("SELECT 1 FROM events WHERE event_id = $1", &[id])
                .await?
        }
        Marker::Key(key) => {
            client
                .query_opt("SELECT 1 FROM idempotency_keys WHERE key = $1", &[key])
                .await?
        }
    };
    Ok(found.is_some())
}

/// The refusal of a request whose `none_since` an event in the log breaks. Such a request is
/// always alone in its batch (the writer sees to it), so the log as the head lock left it is all
/// that came before it; a replay of its idempotency key is answered as recorded instead.
async fn failed_condition(
    client: &impl GenericClient,
    statements: &Statements,
    batch: &[Checked],
    recorded: &RecordedKeys,
) -> Result<Option<StoreError>, StoreError> {
    let conditional: Vec<&NoneSince> = batch
        .iter()
        .filter_map(|checked| checked.request.none_since.as_ref())
        .collect();
    let [condition] = conditional.as_slice() else {
        if conditional.is_empty() {
            return Ok(None);
        }
        return Err(StoreError::Invalid(
            "a request with a condition was batched with others".to_owned(),
        ));
    };
    let replayed = batch[0]
        .request
        .idempotency
        .as_ref()
        .is_some_and(|idempotency| recorded.contains_key(&idempotency.key));
    if replayed {
        return Ok(None);
    }
    let event_types: Vec<&str> = condition
        .matching
        .iter()
        .map(|matching| matching.event_type.as_str())
        .collect();
    let contains: Vec<Option<&serde_json::Value>> = condition
        .matching
        .iter()
        .map(|matching| matching.payload_contains.as_ref())
        .collect();
    let found = client
        .query_opt(
            &statements.first_match,
            &[
                &to_i64(condition.position)?,
                &condition.stream_type,
                &event_types,
                &contains,
            ],
        )
        .await?;
    match found {
        Some(row) => Ok(Some(StoreError::ConditionFailed {
            position: to_u64(row.get(0))?,
        })),
        None => Ok(None),
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    super::truncate_to_micros(chrono::Utc::now())
}

/// The batch's appends of domain events (record accesses have no versions).
fn domain_appends(batch: &[Checked]) -> impl Iterator<Item = &StreamAppend> {
    batch
        .iter()
        .flat_map(|checked| &checked.request.streams)
        .filter(|append| append.category == Category::Events)
}

/// Every statement of the write path, prepared once per connection (cached by the pool), so
/// that the statements sent together go out in the order they are written.
pub(super) struct Statements {
    lock_head: Statement,
    first_match: Statement,
    recorded_keys: Statement,
    stream_versions: Statement,
    pub append_batch: Statement,
}

impl Statements {
    pub async fn prepare(client: &Object) -> Result<Statements, StoreError> {
        Ok(Statements {
            lock_head: client.prepare_cached(LOCK_HEAD).await?,
            first_match: client.prepare_cached(FIRST_MATCH).await?,
            recorded_keys: client.prepare_cached(RECORDED_KEYS).await?,
            stream_versions: client.prepare_cached(STREAM_VERSIONS).await?,
            append_batch: client.prepare_cached(APPEND_BATCH).await?,
        })
    }
}

const LOCK_HEAD: &str = "SELECT position, hash, pg_backend_pid() FROM log_head FOR UPDATE";

/// The first event after `$1` of a `$2` stream that matches one of the (type, contained payload)
/// pairs: a short range of the primary key, since `$1` is a recent head.
const FIRST_MATCH: &str = "SELECT e.position FROM events e \
     JOIN unnest($3::text[], $4::jsonb[]) AS m(event_type, contains) \
     ON e.event_type = m.event_type AND (m.contains IS NULL OR e.payload @> m.contains) \
     WHERE e.position > $1 AND e.category = 'events' AND e.stream_type = $2 \
     ORDER BY e.position LIMIT 1";

const RECORDED_KEYS: &str =
    "SELECT key, request_hash, result FROM idempotency_keys WHERE key = ANY($1)";

const STREAM_VERSIONS: &str = "SELECT s.stream_type, s.stream_id, \
     (SELECT e.stream_version FROM events e \
     WHERE e.category = 'events' AND e.stream_type = s.stream_type \
     AND e.stream_id = s.stream_id \
     ORDER BY e.stream_version DESC LIMIT 1) \
     FROM unnest($1::text[], $2::uuid[]) AS s(stream_type, stream_id)";

const APPEND_BATCH: &str = "SELECT append_batch($1::bigint, $2::bytea, $3::bytea, $4::text, \
     $5::timestamptz, $6::uuid[], $7::text[], $8::text[], $9::uuid[], $10::bigint[], \
     $11::text[], $12::integer[], $13::timestamptz[], $14::text[], $15::uuid[], $16::uuid[], \
     $17::jsonb[], $18::bytea[], $19::text[], $20::bytea[], $21::jsonb[])";

/// The head, locked, and the server process that holds it.
async fn lock_head(
    client: &impl GenericClient,
    statements: &Statements,
) -> Result<(Head, i32), StoreError> {
    let head = client.query_one(&statements.lock_head, &[]).await?;
    let locked = Head {
        position: to_u64(head.get(0))?,
        hash: to_hash(head.get(1))?,
    };
    Ok((locked, head.get(2)))
}

/// The first result and fingerprint of every idempotency key in the batch that is recorded.
async fn recorded_keys(
    client: &impl GenericClient,
    statements: &Statements,
    batch: &[Checked],
) -> Result<RecordedKeys, StoreError> {
    let keys: Vec<&str> = batch
        .iter()
        .filter_map(|checked| checked.request.idempotency.as_ref())
        .map(|idempotency| idempotency.key.as_str())
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = client.query(&statements.recorded_keys, &[&keys]).await?;
    rows.iter()
        .map(|row| {
            let result: serde_json::Value = row.get(2);
            let appended: Appended = serde_json::from_value(result)
                .map_err(|error| StoreError::Corrupt(format!("recorded append result: {error}")))?;
            Ok((row.get(0), (to_hash(row.get(1))?, appended)))
        })
        .collect()
}

/// The current version of each of `streams` that exists.
async fn stream_versions(
    client: &impl GenericClient,
    statements: &Statements,
    streams: &[&StreamRef],
) -> Result<HashMap<StreamRef, u64>, StoreError> {
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    let types: Vec<&str> = streams.iter().map(|s| s.stream_type.as_str()).collect();
    let ids: Vec<uuid::Uuid> = streams.iter().map(|s| s.stream_id).collect();
    let rows = client
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

/// The arguments of `append_batch`, owned, so that the statement can be in flight while the
/// writer goes on.
pub(super) struct AppendArgs {
    from: i64,
    from_hash: Vec<u8>,
    to_hash: Vec<u8>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    events: EventRows,
    payloads: Vec<CanonicalJsonb>,
    keys: KeyRows,
}

impl AppendArgs {
    fn of(plan: Plan) -> Result<(AppendArgs, Vec<Outcome>), StoreError> {
        let Plan {
            outcomes,
            mut events,
            keys,
            recorded_at,
            from,
            to,
            ..
        } = plan;
        let payloads = std::mem::take(&mut events.payload)
            .into_iter()
            .map(CanonicalJsonb)
            .collect();
        let args = AppendArgs {
            from: to_i64(from.position)?,
            from_hash: from.hash.to_vec(),
            to_hash: to.hash.to_vec(),
            recorded_at,
            events,
            payloads,
            keys,
        };
        Ok((args, outcomes))
    }

    /// What to look for to know whether the batch committed (`None`: it writes nothing).
    pub(super) fn marker(&self) -> Option<Marker> {
        match (self.events.event_id.first(), self.keys.key.first()) {
            (Some(id), _) => Some(Marker::Event(*id)),
            (None, Some(key)) => Some(Marker::Key(key.clone())),
            (None, None) => None,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        let events = &self.events;
        let keys = &self.keys;
        [
            &self.from,
            &self.from_hash,
            &self.to_hash,
            &crate::NOTIFY_CHANNEL,
            &self.recorded_at,
            &events.event_id,
            &events.category,
            &events.stream_type,
            &events.stream_id,
            &events.stream_version,
            &events.event_type,
            &events.schema_version,
            &events.occurred_at,
            &events.actor,
            &events.correlation_id,
            &events.causation_id,
            &self.payloads,
            &events.hash,
            &keys.key,
            &keys.fingerprint,
            &keys.result,
        ]
    }
}

/// A payload already in canonical JSON, sent as `jsonb` without serialising it a second time.
#[derive(Debug)]
struct CanonicalJsonb(Bytes);

impl ToSql for CanonicalJsonb {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // The jsonb binary format: a version byte (1), then the JSON text.
        out.put_u8(1);
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}
