//! The relay: publishes every committed event from the store to the JetStream stream, in
//! position order, so that the stream's sequence is the store's position.
//!
//! One relay leads at a time: leadership is a PostgreSQL advisory lock held by a dedicated owner
//! connection, which also LISTENs for the appender's commit notifications. A standby blocks on
//! the lock and takes over the moment the leader's connection closes.
//!
//! Every publish carries `Nats-Msg-Id` (the event id) and `Nats-Expected-Last-Sequence`
//! (position - 1), and every acknowledgement must carry the event's position as its sequence.
//! So a message can only ever land at its own position, and a publisher that is late, repeated
//! or racing another (a leader that has not yet noticed it lost its lock) cannot put the stream
//! out of order: the worst it gets is an error or a duplicate acknowledgement. After any error
//! the relay re-reads the stream's last sequence and continues from there, which is also how it
//! republishes a tail the NATS server lost.
//!
//! The leader also keeps the Merkle tree over the log ([`eventstore::tree::TreeWriter`]): the
//! chain hash of every event whose publication the stream acknowledged goes into its frontier,
//! the completed nodes are stored, and every N events or T seconds it signs a tree head (size,
//! chain hash, root, time, key) and publishes it on `<prefix>.checkpoints`. The tree resumes at
//! the latest signed tree head when leadership begins, and fills any gap from the store, so it
//! never depends on which relay published what.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{self, ContextBuilder};
use deadpool_postgres::Pool;
use eventstore::checkpoint::{Signer, latest_checkpoint};
use eventstore::merkle::Hash;
use eventstore::tree::TreeWriter;
use eventstore::{Reader, StoreError, StoreSettings};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::Envelope;
use crate::error::{LogError, describe};
use crate::settings::{NatsSettings, RelaySettings};
use crate::stream::{ensure_checkpoint_stream, ensure_stream, last_sequence, message_id_at};
use crate::subjects::Subjects;

/// The advisory lock whose holder is the leader ("crm_rela"); locks are per database.
pub const LEADER_LOCK_KEY: i64 = 0x6372_6d5f_7265_6c61;
/// How long a JetStream request or an acknowledgement may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A tree head that failed is tried again after this long at the earliest.
const CHECKPOINT_RETRY: Duration = Duration::from_secs(5);

/// What the relay is doing, for readiness checks and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// This relay holds the leader lock and publishes.
    pub leader: bool,
    /// The stream's last position as this relay last saw it (acknowledged, or read from the
    /// stream when leadership began or the stream was re-checked).
    pub published_position: u64,
    /// The store's last position as last seen.
    pub store_head: u64,
    /// Why the relay is not making progress, while it is not.
    pub last_error: Option<String>,
}

impl RelayStatus {
    /// Events committed but not yet seen published.
    pub fn lag(&self) -> u64 {
        self.store_head.saturating_sub(self.published_position)
    }
}

/// Publishes the store to the stream until told to stop. Run one per process; several
/// processes may run one each (one leads, the others stand by).
pub struct Relay {
    store: StoreSettings,
    pool: Pool,
    reader: Reader,
    client: async_nats::Client,
    nats: NatsSettings,
    settings: RelaySettings,
    signer: Arc<Signer>,
    subjects: Subjects,
    status: watch::Sender<RelayStatus>,
}

impl Relay {
    /// `store` is used for the leader connection (as the owner), `pool` (the application's role)
    /// for reading events and writing checkpoints, `client` (from [`connect`](crate::connect))
    /// for publishing; `signer` signs the checkpoints. Settings are checked when the relay runs.
    pub fn new(
        store: StoreSettings,
        pool: Pool,
        client: async_nats::Client,
        nats: NatsSettings,
        settings: RelaySettings,
        signer: Signer,
    ) -> Relay {
        Relay {
            store,
            reader: Reader::new(pool.clone()),
            pool,
            client,
            subjects: Subjects::new(&nats.subject_prefix),
            nats,
            settings,
            signer: Arc::new(signer),
            status: watch::Sender::new(RelayStatus::default()),
        }
    }

    /// A cheap handle on the relay's progress; it keeps the last status after the relay stops.
    pub fn status(&self) -> watch::Receiver<RelayStatus> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` is cancelled (then returns `Ok`), or until an error that needs
    /// someone to act (a setting, a stream that belongs elsewhere), which is returned for the
    /// caller to report. NATS or PostgreSQL being away is waited out, not returned.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), LogError> {
        let span = tracing::info_span!("relay", stream = %self.nats.stream);
        self.run_until(shutdown.cancelled_owned())
            .instrument(span)
            .await
    }

    async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), LogError> {
        self.nats.validate()?;
        self.settings.validate()?;
        let mut shutdown = pin!(shutdown);
        let jetstream = ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .ack_timeout(REQUEST_TIMEOUT)
            .max_ack_inflight(self.settings.publish_window.saturating_mul(4).max(64))
            .build(self.client.clone());
        let mut backoff = Backoff::new();
        loop {
            let leader = tokio::select! {
                () = &mut shutdown => return Ok(()),
                leader = self.connect_leader() => leader,
            };
            let Leader {
                client,
                mut connection,
                mut notified,
            } = match leader {
                Ok(leader) => leader,
                Err(error) => {
                    self.report(&error);
                    if sleep_or(&mut shutdown, backoff.next()).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let locked = tokio::select! {
                () = &mut shutdown => {
                    // Do not leave a backend waiting for the lock on our behalf.
                    let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
                    connection.abort();
                    return Ok(());
                }
                locked = take_lock(&client) => locked,
            };
            if let Err(error) = locked {
                connection.abort();
                self.report(&error);
                if sleep_or(&mut shutdown, backoff.next()).await {
                    return Ok(());
                }
                continue;
            }
            backoff.reset();
            tracing::info!("leading: this relay publishes the store to the stream");
            self.status.send_modify(|status| status.leader = true);
            let outcome = tokio::select! {
                () = &mut shutdown => Ok(()),
                reason = watch_leader(&client, &mut connection, self.settings.idle_check()) => {
                    Err(LogError::LeadershipLost(reason))
                }
                result = self.lead(&jetstream, &mut notified) => result.map(|never| match never {}),
            };
            self.status.send_modify(|status| status.leader = false);
            // Closing the connection releases the lock for a standby.
            connection.abort();
            drop(client);
            match outcome {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() => {
                    self.report(&error);
                    if sleep_or(&mut shutdown, backoff.next()).await {
                        return Ok(());
                    }
                }
                Err(error) => {
                    self.status
                        .send_modify(|status| status.last_error = Some(error.to_string()));
                    return Err(error);
                }
            }
        }
    }

    /// Publishes while leader; returns only an error (transient ones are retried here, except a
    /// closed leader connection).
    async fn lead(
        &self,
        jetstream: &jetstream::Context,
        notified: &mut watch::Receiver<u64>,
    ) -> Result<Infallible, LogError> {
        let mut backoff = Backoff::new();
        let (mut stream, mut next) = self.retry(&mut backoff, || self.prepare(jetstream)).await?;
        let mut checkpoints = self
            .retry(&mut backoff, || self.checkpoint_plan(next))
            .await?;
        self.recovered();
        tracing::info!(
            position = next - 1,
            "resuming after the stream's last message"
        );
        loop {
            notified.borrow_and_update();
            let before = next;
            match self
                .publish_available(jetstream, &stream, &mut next, &mut checkpoints)
                .await
            {
                Ok(()) => {
                    if next > before {
                        backoff.reset();
                        self.recovered();
                    }
                    self.maybe_checkpoint(jetstream, next - 1, &mut checkpoints)
                        .await;
                    let idle = tokio::select! {
                        changed = notified.changed() => {
                            if changed.is_err() {
                                return Err(LogError::LeadershipLost("the leader connection closed".to_owned()));
                            }
                            let head = *notified.borrow();
                            self.status.send_if_modified(|status| raise(&mut status.store_head, head));
                            false
                        }
                        () = tokio::time::sleep(self.settings.idle_check()) => true,
                    };
                    if idle {
                        let resume;
                        (stream, resume) =
                            self.retry(&mut backoff, || self.streams(jetstream)).await?;
                        self.recovered();
                        warn_if_rewound(resume, next);
                        next = resume;
                    }
                }
                Err(error) if error.is_transient() => {
                    self.report(&error);
                    tokio::time::sleep(backoff.next()).await;
                    let resume;
                    (stream, resume) = self.retry(&mut backoff, || self.streams(jetstream)).await?;
                    warn_if_rewound(resume, next);
                    next = resume;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// What a leader does first: the streams (see [`streams`](Self::streams)), and the key
    /// registered.
    async fn prepare(&self, jetstream: &jetstream::Context) -> Result<(Stream, u64), LogError> {
        let found = self.streams(jetstream).await?;
        self.signer.register(&self.pool).await?;
        Ok(found)
    }

    /// Makes sure both streams exist as configured (NATS may have come back without them);
    /// returns the event stream and the next position to publish.
    async fn streams(&self, jetstream: &jetstream::Context) -> Result<(Stream, u64), LogError> {
        let stream = ensure_stream(jetstream, &self.nats).await?;
        ensure_checkpoint_stream(jetstream, &self.nats).await?;
        let next = self.resume_point(&stream).await?;
        Ok((stream, next))
    }

    /// The position after the stream's last message, once that message is known to be the
    /// store's event at that position.
    async fn resume_point(&self, stream: &Stream) -> Result<u64, LogError> {
        // The stream first: the store's head only grows, so the stream can never look ahead of
        // it by a race.
        let stream_last = last_sequence(stream).await?;
        let head = self.reader.head().await?.position;
        self.status.send_modify(|status| {
            raise(&mut status.store_head, head);
            status.published_position = stream_last;
        });
        if stream_last > head {
            return Err(LogError::StreamAhead {
                stream: self.nats.stream.clone(),
                stream_last,
                store_head: head,
            });
        }
        if stream_last > 0 {
            let found = message_id_at(stream, stream_last).await?;
            let event = self.reader.event_at(stream_last).await?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "no event at position {stream_last}, below the head {head}"
                ))
            })?;
            if found.as_deref() != Some(event.event_id.to_string().as_str()) {
                return Err(LogError::ForeignStream {
                    stream: self.nats.stream.clone(),
                    position: stream_last,
                    expected: event.event_id,
                    found,
                });
            }
        }
        Ok(stream_last + 1)
    }

    /// Publishes everything the store holds from `*next` on, advancing `*next` past each event
    /// the stream acknowledges (at its position). Keeps up to `publish_window` acknowledgements
    /// outstanding across batches, and reads the next batch while publishing this one, so the
    /// pipeline never drains until the store has nothing more. Checkpoints as it goes.
    async fn publish_available(
        &self,
        jetstream: &jetstream::Context,
        stream: &Stream,
        next: &mut u64,
        checkpoints: &mut CheckpointPlan,
    ) -> Result<(), LogError> {
        let stream_name = &stream.cached_info().config.name;
        let limit = self.settings.batch;
        let mut pending: VecDeque<(u64, Hash, PublishAckFuture)> =
            VecDeque::with_capacity(self.settings.publish_window);
        let mut due = *next;
        let mut batch = self.reader.read_from(due - 1, limit).await?;
        while let Some(last) = batch.last().map(|event| event.position) {
            self.status
                .send_if_modified(|status| raise(&mut status.store_head, last));
            let reader = self.reader.clone();
            let prefetch = tokio::spawn(async move { reader.read_from(last, limit).await });
            for (expected, event) in (due..).zip(&batch) {
                if event.position != expected {
                    return Err(StoreError::Corrupt(format!(
                        "read position {} where {expected} was due",
                        event.position
                    ))
                    .into());
                }
                if pending.len() >= self.settings.publish_window
                    && let Some((position, hash, ack)) = pending.pop_front()
                {
                    check_ack(position, stream_name, ack.await)?;
                    *next = position + 1;
                    checkpoints.published(position, &hash);
                }
                pending.push_back((
                    event.position,
                    event.hash,
                    self.publish(jetstream, event).await?,
                ));
            }
            due = last + 1;
            self.status
                .send_modify(|status| status.published_position = *next - 1);
            tracing::debug!(position = last, count = batch.len(), "published a batch");
            self.maybe_checkpoint(jetstream, *next - 1, checkpoints)
                .await;
            batch = prefetch.await.map_err(|error| {
                StoreError::Unavailable(format!("reading the next batch failed: {error}"))
            })??;
        }
        while let Some((position, hash, ack)) = pending.pop_front() {
            check_ack(position, stream_name, ack.await)?;
            *next = position + 1;
            checkpoints.published(position, &hash);
        }
        self.status
            .send_modify(|status| status.published_position = *next - 1);
        Ok(())
    }

    /// Sends one event (without waiting for its acknowledgement).
    async fn publish(
        &self,
        jetstream: &jetstream::Context,
        event: &eventstore::StoredEvent,
    ) -> Result<PublishAckFuture, LogError> {
        let envelope = Envelope::from_stored(event, &self.nats.source);
        let message = PublishMessage::build()
            .headers(envelope.headers())
            .payload(envelope.to_json()?);
        let subject = self.subjects.event(event.category, &event.stream);
        let what = format!("publishing event {}", event.position);
        tokio::time::timeout(REQUEST_TIMEOUT, jetstream.send_publish(subject, message))
            .await
            .map_err(|_| LogError::nats(&what, "timed out"))?
            .map_err(|error| match error.kind() {
                PublishErrorKind::MaxPayloadExceeded => LogError::nats(
                    &what,
                    format!(
                        "the message is larger than the server's max_payload ({} bytes): raise \
                         max_payload in the nats-server configuration",
                        self.client.server_info().max_payload
                    ),
                ),
                _ => LogError::nats(&what, describe(&error)),
            })
    }

    /// Where tree heads stand when leadership starts: the tree resumed at the latest signed tree
    /// head and caught up with what the stream already holds (`next - 1`); events published
    /// since the latest stored checkpoint count towards the next.
    async fn checkpoint_plan(&self, next: u64) -> Result<CheckpointPlan, LogError> {
        let latest = latest_checkpoint(&self.pool)
            .await?
            .map_or(0, |checkpoint| checkpoint.position);
        let mut tree = TreeWriter::resume(&self.pool).await?;
        if tree.size() + 1 < next {
            tracing::info!(
                from = tree.size(),
                to = next - 1,
                "building the Merkle tree over events already published"
            );
            tree.catch_up(&self.pool, next - 1).await?;
        }
        Ok(CheckpointPlan {
            published: (next - 1).saturating_sub(latest),
            last_at: Instant::now(),
            retry_at: None,
            tree,
        })
    }

    /// Signs and publishes a tree head at `position` (or where the tree already is, if further)
    /// when enough events or time have passed; writes completed Merkle nodes when many wait. A
    /// failure is reported and tried again later; it never holds up the events.
    async fn maybe_checkpoint(
        &self,
        jetstream: &jetstream::Context,
        position: u64,
        plan: &mut CheckpointPlan,
    ) {
        let due = plan.published >= self.settings.checkpoint_every_events
            || (plan.published > 0
                && plan.last_at.elapsed() >= self.settings.checkpoint_interval());
        let waiting = plan.retry_at.is_some_and(|at| Instant::now() < at);
        if waiting || position == 0 {
            return;
        }
        if !due {
            if plan.tree.should_flush()
                && let Err(error) = plan.tree.flush(&self.pool).await
            {
                self.report(&error.into());
                plan.retry_at = Some(Instant::now() + CHECKPOINT_RETRY);
            }
            return;
        }
        match self.checkpoint(jetstream, position, &mut plan.tree).await {
            Ok(()) => {
                plan.published = 0;
                plan.last_at = Instant::now();
                plan.retry_at = None;
            }
            Err(error) => {
                self.report(&error);
                plan.retry_at = Some(Instant::now() + CHECKPOINT_RETRY);
            }
        }
    }

    /// Brings the tree to `position` (from the store, for events whose acknowledgement this
    /// relay did not see), writes its nodes, signs and stores the tree head, and publishes it.
    async fn checkpoint(
        &self,
        jetstream: &jetstream::Context,
        position: u64,
        tree: &mut TreeWriter,
    ) -> Result<(), LogError> {
        if tree.size() < position {
            tree.catch_up(&self.pool, position).await?;
        }
        let checkpoint = tree.sign(&self.pool, &self.signer).await?;
        let position = checkpoint.position;
        let payload = serde_json::to_vec(&checkpoint).map_err(|error| {
            LogError::Envelope(format!("cannot serialise checkpoint {position}: {error}"))
        })?;
        let message = PublishMessage::build()
            .message_id(format!("checkpoint-{position}"))
            .header("Content-Type", "application/json")
            .payload(payload.into());
        let what = format!("publishing checkpoint {position}");
        let ack = tokio::time::timeout(
            REQUEST_TIMEOUT,
            jetstream.send_publish(self.subjects.checkpoints(), message),
        )
        .await
        .map_err(|_| LogError::nats(&what, "timed out"))?
        .map_err(|error| LogError::nats(&what, describe(&error)))?;
        ack.await
            .map_err(|error| LogError::nats(&what, describe(&error)))?;
        tracing::info!(
            position,
            key_id = %checkpoint.key_id,
            root = %checkpoint.tree_root.map(hex::encode).unwrap_or_default(),
            "published a signed tree head"
        );
        Ok(())
    }

    /// Opens the leader connection and starts forwarding its notifications.
    async fn connect_leader(&self) -> Result<Leader, LogError> {
        let (client, mut connection) = eventstore::connect_owner(&self.store)
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let (sender, notified) = watch::channel(0_u64);
        let connection = tokio::spawn(async move {
            let mut messages =
                futures::stream::poll_fn(move |context| connection.poll_message(context));
            loop {
                match messages.next().await {
                    Some(Ok(AsyncMessage::Notification(notification))) => {
                        if let Ok(position) = notification.payload().parse::<u64>() {
                            sender.send_if_modified(|latest| raise(latest, position));
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        return format!("the leader connection failed: {}", describe(&error));
                    }
                    None => return "the leader connection closed".to_owned(),
                }
            }
        });
        Ok(Leader {
            client,
            connection,
            notified,
        })
    }

    /// Runs `attempt` until it succeeds or fails for good, waiting between transient failures.
    async fn retry<T, F, Fut>(&self, backoff: &mut Backoff, mut attempt: F) -> Result<T, LogError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LogError>>,
    {
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() => {
                    self.report(&error);
                    tokio::time::sleep(backoff.next()).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Records why the relay is not progressing; logs it when it is new (not at every retry).
    fn report(&self, error: &LogError) {
        let message = error.to_string();
        let repeated = self.status.borrow().last_error.as_deref() == Some(message.as_str());
        if repeated {
            tracing::debug!(error = %message, "still retrying");
        } else {
            tracing::warn!(error = %message, "relay cannot make progress; retrying");
            self.status
                .send_modify(|status| status.last_error = Some(message));
        }
    }

    fn recovered(&self) {
        self.status.send_if_modified(|status| {
            if status.last_error.take().is_some() {
                tracing::info!(position = status.published_position, "relay recovered");
                return true;
            }
            false
        });
    }
}

/// The leader connection: its client, the task driving it (ending with the reason it closed),
/// and the highest position the appender notified.
struct Leader {
    client: tokio_postgres::Client,
    connection: JoinHandle<String>,
    notified: watch::Receiver<u64>,
}

struct CheckpointPlan {
    /// Events published since the last checkpoint.
    published: u64,
    last_at: Instant,
    retry_at: Option<Instant>,
    /// The Merkle tree over the events published so far.
    tree: TreeWriter,
}

impl CheckpointPlan {
    /// The stream acknowledged the event at `position` with chain hash `hash`.
    fn published(&mut self, position: u64, hash: &Hash) {
        self.published += 1;
        self.tree.push(position, hash);
    }
}

/// Blocks until this connection holds the leader lock, then listens for commits.
async fn take_lock(client: &tokio_postgres::Client) -> Result<(), LogError> {
    let statements = [
        "SET application_name = 'crm relay'".to_owned(),
        format!("SELECT pg_advisory_lock({LEADER_LOCK_KEY})"),
        format!("LISTEN \"{}\"", eventstore::NOTIFY_CHANNEL),
    ];
    for statement in statements {
        client
            .batch_execute(&statement)
            .await
            .map_err(|error| LogError::Store(StoreError::Unavailable(describe(&error))))?;
    }
    Ok(())
}

/// Returns why leadership is lost: the connection closed, or stopped answering.
async fn watch_leader(
    client: &tokio_postgres::Client,
    connection: &mut JoinHandle<String>,
    every: Duration,
) -> String {
    loop {
        tokio::select! {
            reason = &mut *connection => {
                return reason.unwrap_or_else(|error| format!("the leader connection task ended: {error}"));
            }
            () = tokio::time::sleep(every) => {
                match tokio::time::timeout(REQUEST_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return format!("the leader connection failed: {}", describe(&error)),
                    Err(_) => return format!("the leader connection did not answer within {REQUEST_TIMEOUT:?}"),
                }
            }
        }
    }
}

fn check_ack(
    position: u64,
    stream: &str,
    result: Result<PublishAck, async_nats::jetstream::context::PublishError>,
) -> Result<(), LogError> {
    let what = format!("publishing event {position}");
    match result {
        Ok(ack) if ack.sequence == position && ack.stream == stream => Ok(()),
        Ok(ack) if ack.stream != stream => Err(LogError::Settings {
            setting: "nats_subject_prefix",
            message: format!(
                "event {position} was stored by stream {}, not {stream}",
                ack.stream
            ),
        }),
        Ok(ack) => Err(LogError::Sequence {
            position,
            sequence: ack.sequence,
        }),
        Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
            // The server's own description says where the stream ends.
            let detail = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), ToString::to_string);
            Err(LogError::nats(
                &what,
                format!(
                    "the stream's last message is not {} ({detail})",
                    position - 1
                ),
            ))
        }
        Err(error) => Err(LogError::nats(&what, describe(&error))),
    }
}

/// Everything before `next` was acknowledged; a stream that now ends before it lost its tail
/// (a NATS server that crashed before writing it to disk, or was restored from a backup).
fn warn_if_rewound(resume: u64, next: u64) {
    if resume < next {
        tracing::warn!(
            position = resume - 1,
            published = next - 1,
            "the stream lost its tail; publishing again from its last message"
        );
    }
}

/// Sleeps, unless `shutdown` completes first; true when it did.
async fn sleep_or(
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    duration: Duration,
) -> bool {
    tokio::select! {
        () = shutdown.as_mut() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

/// Sets `value` to `candidate` if larger; true when it changed.
fn raise(value: &mut u64, candidate: u64) -> bool {
    if candidate > *value {
        *value = candidate;
        return true;
    }
    false
}

/// 100 ms, doubling up to 2 s; back to 100 ms after a success.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_two_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..7).map(|_| backoff.next()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[6], Duration::from_secs(2));
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(100));
    }

    #[test]
    fn an_ack_at_another_sequence_is_an_error() {
        let ack = PublishAck {
            stream: "S".to_owned(),
            sequence: 5,
            ..PublishAck::default()
        };
        assert!(check_ack(5, "S", Ok(ack.clone())).is_ok());
        let error = check_ack(6, "S", Ok(ack)).expect_err("refused");
        assert!(matches!(
            error,
            LogError::Sequence {
                position: 6,
                sequence: 5
            }
        ));
        assert!(error.is_transient());
    }
}
