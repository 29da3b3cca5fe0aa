//! One leader feeding one generation: take the generation's lock, start its consumer after the
//! registry's position, then fetch, apply and commit, batch after batch.
//!
//! Exactly once: a batch's events and the generation's new position commit in one transaction
//! that first locks the generation's row and checks the position is the one this leader left;
//! only then are the messages acknowledged. A crash before the commit applies nothing (the
//! consumer is started again after the position); a crash after it leaves messages that are
//! dropped as already applied. Each message must arrive as the consumer's next delivery, so a
//! message lost in transit ends the session rather than being skipped.
//!
//! A batch commits without waiting for its WAL flush (`synchronous_commit = off`): a read model
//! is derived, and its position commits in the same transaction, so a commit the database loses
//! in a crash loses the batch and its position together, and the next session, whose consumer
//! starts after the registry's position, applies that batch again.
//!
//! A projector that is behind fetches and decodes the next batch while one is applied; one that
//! keeps up gathers what arrives for a few milliseconds into each batch. A generation gets its
//! read indexes the first time it has caught up (nothing in flight); its tables are analysed as
//! they grow, and vacuumed once it has caught up on a large backlog (`maintenance`).

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{self, Message};
use deadpool_postgres::Pool;
use eventlog::{Envelope, NatsSettings};
use futures::TryStreamExt;
use tokio::sync::watch;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::backoff::Backoff;
use crate::consumer::{self, consumer_name};
use crate::error::{ProjectorError, describe};
use crate::leader::Leadership;
use crate::maintenance::{self, Care, VACUUM_AFTER_EVENTS};
use crate::projection::Projection;
use crate::registry::{self, Generation, State};
use crate::retire::clean_up_retired;
use crate::status::ProjectorStatus;

/// The most messages one fetch (and so one transaction) takes. A catch-up's batch waits on
/// round trips and on the projection's own work between its reads and its writes, with the
/// database idle meanwhile; 2,000 rather than 1,000 made scoring's catch-up a fifth faster.
const MAX_BATCH: usize = 2000;
/// How long an idle leader waits for the next message before it looks at the stream again (and
/// raises the watermark when other feeds' events went by).
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// While keeping up, the shortest time from one batch's start to the next: a batch's transaction
/// costs about the same for one event as for a hundred, and under a steady load many tiny
/// batches would take the processor from the commands. It adds at most this much to the lag.
const LINGER: Duration = Duration::from_millis(20);
/// Beyond a fetch's own wait, how long the client waits for the server's end of it (a request
/// lost while the connection was down is never answered).
const FETCH_GRACE: Duration = Duration::from_secs(6);

/// What a projector and a rebuild share: where things are, and whom to tell how it goes.
pub(crate) struct Resources<P> {
    pub pool: Pool,
    pub jetstream: jetstream::Context,
    pub nats: NatsSettings,
    pub projection: P,
    pub status: watch::Sender<ProjectorStatus>,
}

/// Why a session ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Shut down.
    Stopped,
    /// The generation is no longer in the state this leader fed it in (swapped or retired).
    Superseded,
    /// `apply` refused the event at `position`; nothing at or after it was applied.
    Failed { position: u64, message: String },
    /// Nothing pending, and at least as far as the live generation (asked for by rebuilds).
    CaughtUp,
}

/// Leads `generation` (expected in `state`) until shut down, superseded, failed, caught up (when
/// `until_caught_up`) or an error.
pub(crate) async fn lead<P: Projection>(
    resources: &Resources<P>,
    generation: &Generation,
    state: State,
    until_caught_up: bool,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<Ended, ProjectorError> {
    let name = resources.projection.name();
    let Some(leadership) =
        Leadership::acquire(&resources.pool, &generation.schema, shutdown.cancelled()).await?
    else {
        return Ok(Ended::Stopped);
    };
    // Read under the row lock: a commit of a leader that just died lands before this read.
    let current = {
        let mut client = resources.pool.get().await?;
        let transaction = client.transaction().await?;
        let current = registry::lock(&transaction, name, generation.generation).await?;
        transaction.commit().await?;
        current
    };
    if current.state != state {
        return Ok(Ended::Superseded);
    }
    let stream = resources
        .jetstream
        .get_stream(&resources.nats.stream)
        .await
        .map_err(|error| {
            ProjectorError::nats(
                &format!(
                    "opening stream {} (the relay creates it)",
                    resources.nats.stream
                ),
                describe(&error),
            )
        })?;
    if state == State::Live {
        clean_up_retired(resources, &leadership, &stream).await;
    }
    let filter = resources
        .projection
        .feed()
        .filter_subject(&resources.nats.subject_prefix);
    let consumer_name = consumer_name(&resources.nats.stream, name, current.generation);
    let (consumer, info) =
        consumer::prepare(&stream, &consumer_name, &filter, current.position).await?;
    tracing::info!(
        generation = current.generation,
        position = current.position,
        watermark = current.watermark,
        consumer = %consumer_name,
        "leading the generation"
    );
    let mut session = Session {
        resources,
        state,
        next_delivery: info.delivered.consumer_sequence + 1,
        pending: info.num_pending,
        applied_since_vacuum: 0,
        next_analysis: maintenance::next_analysis(current.position),
        tending: None,
        generation: current,
        stream,
        consumer,
    };
    session.publish_status();
    tokio::select! {
        () = shutdown.cancelled() => Ok(Ended::Stopped),
        reason = leadership.lost() => Err(ProjectorError::LeadershipLost(reason)),
        ended = session.run(until_caught_up, backoff) => ended,
    }
}

struct Session<'a, P> {
    resources: &'a Resources<P>,
    /// The state the generation must stay in for this leader to feed it.
    state: State,
    generation: Generation,
    stream: Stream,
    consumer: PullConsumer,
    /// The consumer sequence the next message must carry.
    next_delivery: u64,
    pending: u64,
    applied_since_vacuum: u64,
    /// The position at which the tables are next analysed.
    next_analysis: u64,
    /// The analysis or vacuum of the tables, while it runs.
    tending: Option<AbortOnDropHandle<()>>,
}

/// How a batch's transaction ended.
enum Commit {
    Applied,
    Superseded,
    Refused(String),
}

impl<P: Projection> Session<'_, P> {
    /// Behind (a full batch came): fetches and decodes the next batch while this one is applied,
    /// so JetStream, the decoding and PostgreSQL work at once. Keeping up: starts a batch at most
    /// every LINGER, so that what arrives meanwhile shares one transaction.
    async fn run(
        &mut self,
        until_caught_up: bool,
        backoff: &mut Backoff,
    ) -> Result<Ended, ProjectorError> {
        let mut ahead: Option<AbortOnDropHandle<Fetched>> = None;
        let mut checked = Instant::now();
        loop {
            let started = Instant::now();
            let mut deliveries = match ahead.take() {
                Some(fetching) => joined(fetching.await)?,
                None => fetch(self.consumer.clone(), MAX_BATCH, None).await?,
            };
            backoff.reset();
            if deliveries.is_empty() {
                if let Some(ended) = self.index_when_missing().await? {
                    return Ok(ended);
                }
                // The checks run at most every IDLE_WAIT: under a steady trickle of events not
                // after every batch, and when the feed is quiet once per IDLE_WAIT of silence.
                if checked.elapsed() >= IDLE_WAIT {
                    checked = Instant::now();
                    if let Some(ended) = self.idle(until_caught_up).await? {
                        return Ok(ended);
                    }
                }
                deliveries = fetch(self.consumer.clone(), 1, Some(IDLE_WAIT)).await?;
                if deliveries.is_empty() {
                    continue;
                }
                tokio::time::sleep(LINGER).await;
                deliveries.extend(fetch(self.consumer.clone(), MAX_BATCH - 1, None).await?);
            }
            let behind = deliveries.len() >= MAX_BATCH;
            if behind {
                ahead = Some(AbortOnDropHandle::new(tokio::spawn(fetch(
                    self.consumer.clone(),
                    MAX_BATCH,
                    None,
                ))));
            }
            if let Some(ended) = self.process(deliveries).await? {
                return Ok(ended);
            }
            if !behind {
                if let Some(ended) = self.index_when_missing().await? {
                    return Ok(ended);
                }
                if until_caught_up && self.caught_up_with_live().await? {
                    return Ok(Ended::CaughtUp);
                }
                tokio::time::sleep_until((started + LINGER).into()).await;
            }
        }
    }

    /// Applies a fetched batch (dropping what was applied before), then acknowledges it.
    async fn process(
        &mut self,
        deliveries: Vec<Delivery>,
    ) -> Result<Option<Ended>, ProjectorError> {
        let last_message = deliveries.last().map(|last| last.message.clone());
        let mut events = Vec::with_capacity(deliveries.len());
        let mut undecodable = None;
        let mut last_sequence = self.generation.position;
        for delivery in deliveries {
            if delivery.consumer_sequence != self.next_delivery || delivery.attempt != 1 {
                return Err(ProjectorError::Nats(format!(
                    "the consumer delivered its message {} (attempt {}) where {} was due: a \
                     message went astray; starting again after position {}",
                    delivery.consumer_sequence,
                    delivery.attempt,
                    self.next_delivery,
                    self.generation.position
                )));
            }
            self.next_delivery += 1;
            self.pending = delivery.pending;
            let sequence = delivery.stream_sequence;
            if sequence <= self.generation.position {
                continue;
            }
            if sequence <= last_sequence {
                return Err(ProjectorError::Nats(format!(
                    "stream sequence {sequence} was delivered after {last_sequence}"
                )));
            }
            last_sequence = sequence;
            match delivery.event {
                Ok(envelope) => events.push(envelope),
                Err(reason) => {
                    undecodable = Some((sequence, reason));
                    break;
                }
            }
        }
        if !events.is_empty()
            && let Some(ended) = self.apply(&events).await?
        {
            return Ok(Some(ended));
        }
        if let Some((position, reason)) = undecodable {
            return self
                .fail(position, format!("cannot decode the event: {reason}"))
                .await
                .map(Some);
        }
        if let Some(last) = last_message {
            last.double_ack().await.map_err(|error| {
                ProjectorError::nats("acknowledging a batch", describe(&*error))
            })?;
        }
        self.publish_status();
        Ok(None)
    }

    /// Applies `events` in one transaction; if the projection refuses them, applies them one by
    /// one to find, and stop at, the event it refuses.
    async fn apply(&mut self, events: &[Envelope]) -> Result<Option<Ended>, ProjectorError> {
        let message = match self.commit(events).await? {
            Commit::Applied => return Ok(None),
            Commit::Superseded => return Ok(Some(Ended::Superseded)),
            Commit::Refused(message) => message,
        };
        if let [event] = events {
            return self.fail(event.position, message).await.map(Some);
        }
        for event in events {
            match self.commit(std::slice::from_ref(event)).await? {
                Commit::Applied => {}
                Commit::Superseded => return Ok(Some(Ended::Superseded)),
                Commit::Refused(message) => {
                    return self.fail(event.position, message).await.map(Some);
                }
            }
        }
        Ok(None)
    }

    /// One transaction: lock the generation's row, check nobody else advanced it, apply, record
    /// the new position, commit.
    async fn commit(&mut self, events: &[Envelope]) -> Result<Commit, ProjectorError> {
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(Commit::Applied);
        };
        let name = self.resources.projection.name();
        let mut client = self.resources.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
        let row = registry::lock(&transaction, name, self.generation.generation).await?;
        if row.state != self.state {
            return Ok(Commit::Superseded);
        }
        if row.position != self.generation.position {
            return Err(ProjectorError::LeadershipLost(format!(
                "generation {} is at position {}, this leader left it at {}",
                row.generation, row.position, self.generation.position
            )));
        }
        let applied = self
            .resources
            .projection
            .apply(&transaction, &self.generation.schema, events)
            .await;
        if let Err(error) = applied {
            if error.is_transient() {
                return Err(ProjectorError::Unavailable(error.to_string()));
            }
            transaction.rollback().await?;
            return Ok(Commit::Refused(error.to_string()));
        }
        registry::advance(&transaction, name, self.generation.generation, last).await?;
        transaction.commit().await?;
        self.generation.position = last;
        self.applied_since_vacuum += events.len() as u64;
        if last >= self.next_analysis && self.tend(Care::Analyze) {
            self.next_analysis = maintenance::next_analysis(last);
        }
        self.generation.watermark = self.generation.watermark.max(last);
        if self
            .generation
            .failure
            .as_ref()
            .is_some_and(|(failed, _)| *failed <= last)
        {
            self.generation.failure = None;
        }
        Ok(Commit::Applied)
    }

    /// Caught up, with nothing in flight: creates the read indexes if the generation lacks them.
    /// Applying waits meanwhile (creating an index locks out writes to its table); readers do not.
    async fn index_when_missing(&mut self) -> Result<Option<Ended>, ProjectorError> {
        if self.generation.indexed {
            return Ok(None);
        }
        let name = self.resources.projection.name();
        let started = Instant::now();
        let mut client = self.resources.pool.get().await?;
        let transaction = client.transaction().await?;
        let row = registry::lock(&transaction, name, self.generation.generation).await?;
        if row.state != self.state {
            return Ok(Some(Ended::Superseded));
        }
        if !row.indexed {
            registry::create_indexes(&transaction, &self.resources.projection, &row).await?;
            transaction.commit().await?;
            tracing::info!(
                generation = row.generation,
                position = row.position,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "created the generation's read indexes"
            );
        }
        self.generation.indexed = true;
        Ok(None)
    }

    /// Records the refused event in the registry and the status, and ends the session there.
    async fn fail(&mut self, position: u64, message: String) -> Result<Ended, ProjectorError> {
        let client = self.resources.pool.get().await?;
        registry::record_failure(
            &client,
            self.resources.projection.name(),
            self.generation.generation,
            self.generation.position,
            position,
            &message,
        )
        .await?;
        tracing::error!(
            generation = self.generation.generation,
            position,
            error = %message,
            "the projection refused an event; it stops there until the projection is fixed"
        );
        self.generation.failure = Some((position, message.clone()));
        self.publish_status();
        Ok(Ended::Failed { position, message })
    }

    /// Nothing was waiting: checks the generation is still ours, and raises the watermark to the
    /// stream's end when nothing of the feed is pending (the stream's end is read first, so
    /// anything after it cannot be missed).
    async fn idle(&mut self, until_caught_up: bool) -> Result<Option<Ended>, ProjectorError> {
        let stream_last = self
            .stream
            .get_info()
            .await
            .map_err(|error| ProjectorError::nats("reading the stream's state", describe(&error)))?
            .state
            .last_sequence;
        let info = self.consumer.get_info().await.map_err(|error| {
            ProjectorError::nats("reading the consumer's state", describe(&error))
        })?;
        if info.delivered.consumer_sequence + 1 != self.next_delivery {
            return Err(ProjectorError::Nats(format!(
                "the consumer delivered up to its message {}, this leader received up to {}",
                info.delivered.consumer_sequence,
                self.next_delivery - 1
            )));
        }
        self.pending = info.num_pending;
        let nothing_pending = info.num_pending == 0 && info.num_ack_pending == 0;
        let name = self.resources.projection.name();
        let client = self.resources.pool.get().await?;
        let row = registry::get(&client, name, self.generation.generation).await?;
        if row.state != self.state {
            return Ok(Some(Ended::Superseded));
        }
        if row.position != self.generation.position {
            return Err(ProjectorError::LeadershipLost(format!(
                "generation {} is at position {}, this leader left it at {}",
                row.generation, row.position, self.generation.position
            )));
        }
        if nothing_pending
            && stream_last > self.generation.watermark
            && registry::raise_watermark(
                &client,
                name,
                self.generation.generation,
                self.generation.position,
                stream_last,
            )
            .await?
        {
            self.generation.watermark = stream_last;
        }
        drop(client);
        self.publish_status();
        if until_caught_up {
            if nothing_pending && self.caught_up_with_live().await? {
                return Ok(Some(Ended::CaughtUp));
            }
        } else if nothing_pending
            && self.applied_since_vacuum >= VACUUM_AFTER_EVENTS
            && self.tend(Care::VacuumAnalyze)
        {
            self.applied_since_vacuum = 0;
        }
        Ok(None)
    }

    /// Whether a generation being built has reached the live one, made ready to serve first
    /// (vacuumed and analysed) if so. Asked when the feed is idle, and after every batch that
    /// did not fill: under a steady stream of events the feed is never idle, and a rebuild must
    /// still end.
    async fn caught_up_with_live(&mut self) -> Result<bool, ProjectorError> {
        let client = self.resources.pool.get().await?;
        let live = registry::live(&client, self.resources.projection.name()).await?;
        if self.generation.reach() < live.map_or(0, |live| live.reach()) {
            return Ok(false);
        }
        if self.applied_since_vacuum >= VACUUM_AFTER_EVENTS {
            self.applied_since_vacuum = 0;
            if let Some(tending) = self.tending.take() {
                let _ = tending.await;
            }
            maintenance::tend(
                self.resources.pool.clone(),
                self.generation.schema.clone(),
                Care::VacuumAnalyze,
            )
            .await;
        }
        Ok(true)
    }

    /// Starts `care` on the generation's tables in the background unless a pass still runs;
    /// whether it started.
    fn tend(&mut self, care: Care) -> bool {
        if self
            .tending
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return false;
        }
        let pass = maintenance::tend(
            self.resources.pool.clone(),
            self.generation.schema.clone(),
            care,
        );
        self.tending = Some(AbortOnDropHandle::new(tokio::spawn(pass)));
        true
    }

    fn publish_status(&self) {
        let generation = &self.generation;
        let pending = self.pending;
        self.resources.status.send_modify(|status| {
            status.generation = generation.generation;
            status.position = generation.position;
            status.watermark = generation.watermark;
            status.pending = pending;
            status.failure = generation.failure.clone();
        });
    }
}

/// One message as fetched: where the consumer and the stream say it stands, and the event it
/// carries (or why it carries none), decoded off the apply path.
struct Delivery {
    message: Message,
    consumer_sequence: u64,
    /// How many times the consumer has delivered this message.
    attempt: i64,
    stream_sequence: u64,
    /// The consumer's messages still to deliver after this one.
    pending: u64,
    event: Result<Envelope, String>,
}

type Fetched = Result<Vec<Delivery>, ProjectorError>;

/// Up to `max` messages: those already there, or (with `wait`) the first to arrive within it.
/// Reads the fetch to its end, so no message is left in flight to an abandoned inbox.
async fn fetch(consumer: PullConsumer, max: usize, wait: Option<Duration>) -> Fetched {
    let batch = match wait {
        // No expiry: nats-server 2.9 takes `no_wait` with an expiry as "wait for the first".
        None => consumer.fetch().max_messages(max).messages().await,
        Some(wait) => {
            consumer
                .batch()
                .max_messages(max)
                .expires(wait)
                .messages()
                .await
        }
    }
    .map_err(|error| ProjectorError::nats("fetching messages", describe(&error)))?;
    let limit = wait.unwrap_or_default() + FETCH_GRACE;
    let messages = tokio::time::timeout(limit, batch.try_collect::<Vec<_>>())
        .await
        .map_err(|_| ProjectorError::nats("fetching messages", "timed out"))?
        .map_err(|error| ProjectorError::nats("fetching messages", describe(&*error)))?;
    messages.into_iter().map(Delivery::read).collect()
}

impl Delivery {
    fn read(message: Message) -> Result<Delivery, ProjectorError> {
        let info = message
            .info()
            .map_err(|error| ProjectorError::nats("reading a message's metadata", error))?;
        let (consumer_sequence, attempt, stream_sequence, pending) = (
            info.consumer_sequence,
            info.delivered,
            info.stream_sequence,
            info.pending,
        );
        let event = decode(&message, stream_sequence);
        Ok(Delivery {
            message,
            consumer_sequence,
            attempt,
            stream_sequence,
            pending,
            event,
        })
    }
}

/// The outcome of a fetch that ran as a task of its own.
fn joined(outcome: Result<Fetched, JoinError>) -> Fetched {
    outcome.map_err(|error| ProjectorError::Nats(format!("the fetch task ended: {error}")))?
}

/// The envelope a message carries, which must be the event at its stream sequence.
fn decode(message: &Message, sequence: u64) -> Result<Envelope, String> {
    let envelope = Envelope::decode(message.headers.as_ref(), &message.payload)
        .map_err(|error| error.to_string())?;
    if envelope.position != sequence {
        return Err(format!(
            "the envelope says position {}, the stream sequence is {sequence}",
            envelope.position
        ));
    }
    Ok(envelope)
}
