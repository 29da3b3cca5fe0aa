//! The projection framework against real PostgreSQL and NATS servers: each test has a database
//! and a stream of its own, a relay publishing the store to the stream, and a small projection
//! (`Tally`) that records every position it applies under a primary key, so an event applied
//! twice fails loudly, and the order it applied them in.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use eventlog::{Envelope, LogError, NatsSettings, Relay, RelaySettings};
use eventstore::checkpoint::Signer;
use eventstore::{
    AppendRequest, Appender, Category, Metadata, NewEvent, Reader, StreamAppend, StreamRef,
};
use projector::{
    Feed, Projection, ProjectionError, ProjectionReader, Projector, ProjectorError,
    ProjectorStatus, WaitError,
};
use serde_json::json;
use testkit::{PrivateNats, PrivateNatsCluster, PrivatePostgres, TestDatabase, TestStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(60);
const NAME: &str = "tally";

/// Records each applied event's position (once: a primary key), stream type and category, in
/// the order applied; counts events per stream type; notes for each batch whether its read
/// index existed then. Refuses events whose payload says `"poison": true` unless told to accept
/// them, and can be held at a gate before applying.
#[derive(Clone)]
struct Tally {
    feed: Feed,
    refuse_poison: bool,
    gate: Option<watch::Receiver<bool>>,
}

impl Tally {
    fn of(feed: Feed) -> Tally {
        Tally {
            feed,
            refuse_poison: true,
            gate: None,
        }
    }
}

impl Projection for Tally {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&self) -> Feed {
        self.feed
    }

    fn create_tables(&self, schema: &str) -> String {
        format!(
            "CREATE TABLE {schema}.applied (
                 position      bigint PRIMARY KEY,
                 stream_type   text   NOT NULL,
                 category      text   NOT NULL,
                 applied_order bigserial NOT NULL UNIQUE
             );
             CREATE TABLE {schema}.counts (
                 stream_type text   PRIMARY KEY,
                 events      bigint NOT NULL
             );
             CREATE TABLE {schema}.batches (
                 first_position bigint  PRIMARY KEY,
                 indexed        boolean NOT NULL
             );"
        )
    }

    fn create_indexes(&self, schema: &str) -> String {
        format!("CREATE INDEX applied_by_category ON {schema}.applied (category, position);")
    }

    async fn apply(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        schema: &str,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        if let Some(gate) = &self.gate {
            let mut gate = gate.clone();
            let _ = gate.wait_for(|open| *open).await;
        }
        let last: Option<i64> = transaction
            .query_one(&format!("SELECT max(position) FROM {schema}.applied"), &[])
            .await?
            .get(0);
        let mut previous = last.unwrap_or(0);
        let mut positions = Vec::with_capacity(events.len());
        let mut stream_types = Vec::with_capacity(events.len());
        let mut categories = Vec::with_capacity(events.len());
        for event in events {
            let position = i64::try_from(event.position).expect("a small position");
            if position <= previous {
                return Err(ProjectionError::Event {
                    position: event.position,
                    reason: format!("out of order: {position} after {previous}"),
                });
            }
            if self.refuse_poison && event.data.get("poison") == Some(&json!(true)) {
                return Err(ProjectionError::Event {
                    position: event.position,
                    reason: "poisoned".to_owned(),
                });
            }
            previous = position;
            positions.push(position);
            let stream_type = event.subject.split('/').next().unwrap_or_default();
            stream_types.push(stream_type.to_owned());
            categories.push(event.category.as_str().to_owned());
        }
        transaction
            .execute(
                &format!(
                    "INSERT INTO {schema}.applied (position, stream_type, category)
                     SELECT p, s, c FROM unnest($1::bigint[], $2::text[], $3::text[])
                         WITH ORDINALITY AS u(p, s, c, n) ORDER BY n"
                ),
                &[&positions, &stream_types, &categories],
            )
            .await?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {schema}.counts (stream_type, events)
                     SELECT s, count(*) FROM unnest($1::text[]) AS u(s) GROUP BY s
                     ON CONFLICT (stream_type) DO UPDATE SET events = counts.events + excluded.events"
                ),
                &[&stream_types],
            )
            .await?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {schema}.batches (first_position, indexed) \
                     VALUES ($1, to_regclass('{schema}.applied_by_category') IS NOT NULL)"
                ),
                &[&positions[0]],
            )
            .await?;
        Ok(())
    }
}

/// A database with an appender, a stream with a relay feeding it, and the projectors' pool.
struct World {
    database: TestDatabase,
    appender: Appender,
    reader: Reader,
    owner: deadpool_postgres::Pool,
    nats: NatsSettings,
    relay: RunningRelay,
    _keys: tempfile::TempDir,
    _stream: TestStream,
}

impl World {
    async fn new() -> World {
        World::on(TestStream::new()).await
    }

    async fn on(test_stream: TestStream) -> World {
        World::with(test_stream, TestDatabase::new().await).await
    }

    /// A world whose database lives on the server `admin_url` names.
    async fn on_server(admin_url: &str) -> World {
        let database = TestDatabase::empty_on(admin_url).await;
        eventstore::migrate(&database.store_settings())
            .await
            .expect("the store migrates");
        World::with(TestStream::new(), database).await
    }

    async fn with(test_stream: TestStream, database: TestDatabase) -> World {
        World::replicated(test_stream, database, 1).await
    }

    /// A world whose stream keeps `replicas` copies of each message (on a cluster).
    async fn replicated(test_stream: TestStream, database: TestDatabase, replicas: usize) -> World {
        trace_to_test_output();
        let settings = database.store_settings();
        projector::migrate(&settings)
            .await
            .expect("the registry migrates");
        let pool = eventstore::connect(&settings)
            .await
            .expect("the application connects");
        let owner = projector::connect(&settings)
            .await
            .expect("the owner connects");
        let nats = NatsSettings {
            url: test_stream.url.clone(),
            stream: test_stream.stream.clone(),
            subject_prefix: test_stream.subject_prefix.clone(),
            replicas,
            ..NatsSettings::default()
        };
        let keys = tempfile::tempdir().expect("a key folder");
        let client = eventlog::connect(&nats).await.expect("NATS answers");
        let relay = Relay::new(
            settings,
            pool.clone(),
            client,
            nats.clone(),
            RelaySettings {
                batch: 500,
                publish_window: 128,
                checkpoint_every_events: 100_000,
                checkpoint_every_secs: 3600,
                idle_check_secs: 1,
            },
            Signer::load_or_create(keys.path()).expect("a signing key"),
        );
        World {
            appender: Appender::start(pool.clone(), 256),
            reader: Reader::new(pool),
            relay: RunningRelay::start(relay),
            database,
            owner,
            nats,
            _keys: keys,
            _stream: test_stream,
        }
    }

    async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(eventlog::connect(&self.nats).await.expect("NATS answers"))
    }

    async fn projector(&self, projection: Tally) -> RunningProjector {
        let projector = Projector::new(
            self.owner.clone(),
            self.jetstream().await,
            &self.nats,
            projection,
        );
        RunningProjector::start(projector)
    }

    fn projections(&self) -> ProjectionReader {
        ProjectionReader::new(self.owner.clone())
    }

    /// Appends `count` single-event requests from `tasks` concurrent tasks; every fourth is a
    /// record access, the rest create a contact.
    async fn append(&self, count: usize, tasks: usize) {
        append(&self.appender, count, tasks).await;
    }

    /// Appends one event of `category` with `payload`; returns its position.
    async fn append_one(&self, category: Category, payload: serde_json::Value) -> u64 {
        let stream = StreamRef::new("deal", Uuid::now_v7());
        let event = NewEvent {
            event_type: "noted".to_owned(),
            schema_version: 1,
            occurred_at: Utc::now(),
            payload,
        };
        let append = match category {
            Category::Events => {
                StreamAppend::events(stream, eventstore::ExpectedVersion::NoStream, vec![event])
            }
            Category::Access => StreamAppend::access(stream, vec![event]),
        };
        self.appender
            .append(AppendRequest::new(
                Metadata::actor("user:test"),
                vec![append],
            ))
            .await
            .expect("the append commits")
            .last_position
    }

    async fn head(&self) -> u64 {
        self.reader.head().await.expect("the store reads").position
    }

    /// The positions of the store's events that `feed` carries, in order.
    async fn expected(&self, feed: Feed) -> Vec<i64> {
        let head = self.head().await;
        let events = self
            .reader
            .read_from(0, u32::try_from(head + 1).expect("a small log"))
            .await
            .expect("the store reads");
        events
            .iter()
            .filter(|event| match feed {
                Feed::Events => event.category == Category::Events,
                Feed::Access => event.category == Category::Access,
                Feed::Everything => true,
            })
            .map(|event| i64::try_from(event.position).expect("a small position"))
            .collect()
    }

    /// The positions a generation's table holds, in the order they were applied.
    async fn applied(&self, schema: &str) -> Vec<i64> {
        let client = self.database.owner_client().await;
        client
            .query(
                &format!("SELECT position FROM {schema}.applied ORDER BY applied_order"),
                &[],
            )
            .await
            .expect("the read model reads")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// The live generation's schema.
    async fn live_schema(&self) -> String {
        let (schema, _) = self
            .projections()
            .live_schema(NAME)
            .await
            .expect("a live generation");
        schema
    }

    /// Waits until the live generation has reached `position`.
    async fn wait_for(&self, position: u64) {
        let result = self.projections().wait_for(NAME, position, WAIT).await;
        assert!(
            result.is_ok(),
            "the projection reaches {position}: {result:?}"
        );
    }

    /// (generation, state, position, watermark, failed_position, failure) of every generation.
    async fn registry(&self) -> Vec<(i32, String, i64, i64, Option<i64>, Option<String>)> {
        let client = self.database.owner_client().await;
        client
            .query(
                "SELECT generation, state, position, watermark, failed_position, failure \
                 FROM projection_generations WHERE projection = $1 ORDER BY generation",
                &[&NAME],
            )
            .await
            .expect("the registry reads")
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                )
            })
            .collect()
    }

    /// (first position, whether the read index existed) of every batch applied to `schema`.
    async fn batches(&self, schema: &str) -> Vec<(i64, bool)> {
        let client = self.database.owner_client().await;
        client
            .query(
                &format!("SELECT first_position, indexed FROM {schema}.batches ORDER BY 1"),
                &[],
            )
            .await
            .expect("the read model reads")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Whether the registry says `generation` has its read indexes.
    async fn indexed(&self, generation: i32) -> bool {
        let client = self.database.owner_client().await;
        client
            .query_one(
                "SELECT indexed FROM projection_generations \
                 WHERE projection = $1 AND generation = $2",
                &[&NAME, &generation],
            )
            .await
            .expect("the registry reads")
            .get(0)
    }

    /// Waits until the relay has published everything up to `position`.
    async fn wait_for_stream(&self, position: u64) {
        let mut stream = self
            .jetstream()
            .await
            .get_stream(&self.nats.stream)
            .await
            .expect("the stream exists");
        let deadline = Instant::now() + WAIT;
        while stream
            .info()
            .await
            .expect("the stream answers")
            .state
            .last_sequence
            < position
        {
            assert!(Instant::now() < deadline, "the relay publishes {position}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn schema_exists(&self, schema: &str) -> bool {
        let client = self.database.owner_client().await;
        client
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await
            .expect("the catalog reads")
            .is_some()
    }

    async fn stop(self) {
        self.relay.stop().await;
    }
}

async fn append(appender: &Appender, count: usize, tasks: usize) {
    let per_task = count / tasks;
    assert_eq!(per_task * tasks, count, "count divides among the tasks");
    let writers: Vec<_> = (0..tasks)
        .map(|task| {
            let appender = appender.clone();
            tokio::spawn(async move {
                for index in 0..per_task {
                    let stream = StreamRef::new("contact", Uuid::now_v7());
                    let event = NewEvent {
                        event_type: if index % 4 == 3 { "viewed" } else { "created" }.to_owned(),
                        schema_version: 1,
                        occurred_at: Utc::now(),
                        payload: json!({"task": task, "index": index}),
                    };
                    let append = if index % 4 == 3 {
                        StreamAppend::access(stream, vec![event])
                    } else {
                        StreamAppend::events(
                            stream,
                            eventstore::ExpectedVersion::NoStream,
                            vec![event],
                        )
                    };
                    let request = AppendRequest::new(Metadata::actor("user:test"), vec![append]);
                    appender.append(request).await.expect("the append commits");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("the writer finishes");
    }
}

/// Shows the logs in a failing test's output; `RUST_LOG` picks what (default: warnings).
fn trace_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

struct RunningRelay {
    stop: CancellationToken,
    task: JoinHandle<Result<(), LogError>>,
}

impl RunningRelay {
    fn start(relay: Relay) -> RunningRelay {
        let stop = CancellationToken::new();
        let task = tokio::spawn(relay.run(stop.clone()));
        RunningRelay { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the relay stops in time")
            .expect("the relay task does not panic");
        result.expect("the relay stops without error");
    }
}

/// A projector running in a task of its own until stopped (or aborted).
struct RunningProjector {
    status: watch::Receiver<ProjectorStatus>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), ProjectorError>>,
}

impl RunningProjector {
    fn start(projector: Projector<Tally>) -> RunningProjector {
        let status = projector.status();
        let stop = CancellationToken::new();
        let task = tokio::spawn(projector.run(stop.clone()));
        RunningProjector { status, stop, task }
    }

    async fn wait_until(&mut self, what: &str, condition: impl Fn(&ProjectorStatus) -> bool) {
        let waited = tokio::time::timeout(WAIT, self.status.wait_for(|status| condition(status)))
            .await
            .map(|result| result.is_ok());
        assert!(
            waited == Ok(true),
            "the projector {what} within {WAIT:?}; status {:?}",
            *self.status.borrow()
        );
    }

    /// Like a crash: the task is dropped wherever it is.
    async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    async fn stop(self) -> Result<(), ProjectorError> {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the projector stops in time")
            .expect("the projector task does not panic")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_the_feed_is_applied_once_in_position_order() {
    let world = World::new().await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    world.append(1200, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;

    let expected = world.expected(Feed::Everything).await;
    assert_eq!(expected.len(), 1200);
    assert_eq!(world.applied("tally_g1").await, expected);
    let client = world.database.owner_client().await;
    let counted: i64 = client
        .query_one(
            "SELECT events FROM tally_g1.counts WHERE stream_type = 'contact'",
            &[],
        )
        .await
        .expect("the counts read")
        .get(0);
    assert_eq!(counted, 1200);
    wait_until_analysed(&client, "tally_g1").await;
    let registry = world.registry().await;
    assert_eq!(registry.len(), 1, "{registry:?}");
    let (generation, state, position, _, failed, _) = &registry[0];
    assert_eq!((*generation, state.as_str()), (1, "live"));
    assert_eq!(*position, i64::try_from(head).expect("small"));
    assert_eq!(*failed, None);
    let batches = world.batches("tally_g1").await;
    assert!(
        batches.iter().skip(1).all(|(_, indexed)| *indexed),
        "a generation keeping up gets its read index after its first batch: {batches:?}"
    );
    projector
        .wait_until("reports its position", |status| {
            status.generation == 1 && status.position == head && status.failure.is_none()
        })
        .await;
    let (schema, reached) = world
        .projections()
        .live_schema(NAME)
        .await
        .expect("a live generation");
    assert_eq!((schema.as_str(), reached), ("tally_g1", head));

    // Migrating again changes nothing.
    projector::migrate(&world.database.store_settings())
        .await
        .expect("migrating again is harmless");
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

/// Waits (at most 30 s) until every table of `schema` has been analysed: a projector that has
/// passed a thousand events analyses its tables, so plans made when they were empty do not stay.
async fn wait_until_analysed(client: &tokio_postgres::Client, schema: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unanalysed: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables t LEFT JOIN pg_stat_user_tables s \
                 ON s.schemaname = t.schemaname AND s.relname = t.tablename \
                 WHERE t.schemaname = $1 AND coalesce(s.analyze_count, 0) = 0",
                &[&schema],
            )
            .await
            .expect("the statistics read")
            .get(0);
        if unanalysed == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{unanalysed} tables of {schema} were never analysed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_started_on_a_backlog_gets_its_read_indexes_once_caught_up() {
    let world = World::new().await;
    world.append(2400, 8).await;
    let head = world.head().await;
    world.wait_for_stream(head).await;
    let projector = world.projector(Tally::of(Feed::Everything)).await;
    world.wait_for(head).await;
    world.append(40, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;

    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );
    let batches = world.batches("tally_g1").await;
    assert_eq!(
        batches.first(),
        Some(&(1, false)),
        "the backlog is applied without the read index: {batches:?}"
    );
    assert!(
        batches.last().is_some_and(|(_, indexed)| *indexed),
        "the read index exists once caught up: {batches:?}"
    );
    assert!(world.indexed(1).await, "the registry records it");
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_aborted_mid_stream_again_and_again_loses_and_doubles_nothing() {
    let world = World::new().await;
    let appending = {
        let appender = world.appender.clone();
        tokio::spawn(async move { append(&appender, 4000, 8).await })
    };
    for round in 0..6_u64 {
        let projector = world.projector(Tally::of(Feed::Events)).await;
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        projector.abort().await;
    }
    appending.await.expect("the appends finish");
    let projector = world.projector(Tally::of(Feed::Events)).await;
    let head = world.head().await;
    world.wait_for(head).await;

    let expected = world.expected(Feed::Events).await;
    assert_eq!(expected.len(), 3000);
    assert_eq!(world.applied("tally_g1").await, expected);
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_waiting_for_an_access_event_returns_through_the_watermark() {
    let world = World::new().await;
    let mut projector = world.projector(Tally::of(Feed::Events)).await;
    let event = world.append_one(Category::Events, json!({"n": 1})).await;
    world.wait_for(event).await;
    projector
        .wait_until("idles", |status| status.position == event)
        .await;

    let access = world.append_one(Category::Access, json!({"n": 2})).await;
    let started = Instant::now();
    let waited = world
        .projections()
        .wait_for(NAME, access, Duration::from_secs(10))
        .await;
    assert!(waited.is_ok(), "the wait returns: {waited:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the watermark moved within {:?}",
        started.elapsed()
    );
    let registry = world.registry().await;
    let (_, _, position, watermark, _, _) = &registry[0];
    assert_eq!(*position, i64::try_from(event).expect("small"));
    assert!(*watermark >= i64::try_from(access).expect("small"));
    assert_eq!(
        world.applied("tally_g1").await,
        [i64::try_from(event).expect("small")]
    );

    let beyond = world
        .projections()
        .wait_for(NAME, access + 1000, Duration::from_millis(200))
        .await;
    assert!(
        matches!(beyond, Err(WaitError::TimedOut { reached }) if reached >= access),
        "{beyond:?}"
    );
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_projection_refuses_stops_it_there_with_the_failure_recorded() {
    let world = World::new().await;
    world.append(40, 4).await;
    let poison = world
        .append_one(Category::Events, json!({"poison": true}))
        .await;
    world.append(40, 4).await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    projector
        .wait_until("stops at the refused event", |status| {
            status.failure.is_some()
        })
        .await;
    let failure = projector.status.borrow().failure.clone();
    let (failed_at, message) = failure.expect("a failure");
    assert_eq!(failed_at, poison);
    assert!(message.contains("poisoned"), "{message}");

    let before: Vec<i64> = (1..i64::try_from(poison).expect("small")).collect();
    assert_eq!(
        world.applied("tally_g1").await,
        before,
        "everything before it, nothing after"
    );
    let registry = world.registry().await;
    let (_, _, position, _, failed_position, failure) = &registry[0];
    assert_eq!(*position, i64::try_from(poison - 1).expect("small"));
    assert_eq!(
        *failed_position,
        Some(i64::try_from(poison).expect("small"))
    );
    assert!(
        failure
            .as_deref()
            .is_some_and(|text| text.contains("poisoned")),
        "{failure:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !projector.task.is_finished(),
        "the projector waits, it does not end"
    );
    assert_eq!(
        world.applied("tally_g1").await,
        before,
        "still nothing after it"
    );
    projector
        .stop()
        .await
        .expect("a stopped projector stops cleanly");

    // A fixed projection resumes at the refused event and clears the failure.
    let mut fixed = world
        .projector(Tally {
            refuse_poison: false,
            ..Tally::of(Feed::Everything)
        })
        .await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );
    fixed
        .wait_until("clears the failure", |status| {
            status.failure.is_none() && status.position == head
        })
        .await;
    let registry = world.registry().await;
    assert_eq!(
        (registry[0].4.as_ref(), registry[0].5.as_ref()),
        (None, None)
    );
    fixed.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_builds_beside_the_live_generation_then_swaps_it_in() {
    let world = World::new().await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    world.append(1000, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );

    // The rebuild is held at its first batch while g1 keeps serving.
    let (open_gate, gate) = watch::channel(false);
    let rebuilding = {
        let owner = world.owner.clone();
        let jetstream = world.jetstream().await;
        let nats = world.nats.clone();
        let projection = Tally {
            gate: Some(gate),
            ..Tally::of(Feed::Everything)
        };
        tokio::spawn(async move {
            projector::rebuild(
                owner,
                jetstream,
                &nats,
                projection,
                CancellationToken::new(),
            )
            .await
        })
    };
    let deadline = Instant::now() + WAIT;
    while world.registry().await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the rebuild registers generation 2"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    world.append(400, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;
    let schema = world.live_schema().await;
    assert_eq!(schema, "tally_g1", "g1 serves while g2 is built");
    let states: Vec<_> = world
        .registry()
        .await
        .into_iter()
        .map(|row| (row.0, row.1))
        .collect();
    assert_eq!(states, [(1, "live".to_owned()), (2, "building".to_owned())]);
    let g1 = world.applied("tally_g1").await;
    assert_eq!(g1, world.expected(Feed::Everything).await);
    // A reader that named g1 a moment before the swap.
    let reader = world.projections();
    assert_eq!(
        reader
            .serving_schema(NAME)
            .await
            .expect("a live generation"),
        "tally_g1"
    );

    open_gate.send_replace(true);
    let report = tokio::time::timeout(WAIT, rebuilding)
        .await
        .expect("the rebuild finishes in time")
        .expect("the rebuild does not panic")
        .expect("the rebuild succeeds");
    assert_eq!((report.retired_generation, report.live_generation), (1, 2));
    assert!(report.position >= head, "{report:?}");
    // Waiting for a position names the generation that reached it, not the one it named before.
    let waited = reader.wait_for(NAME, report.position, WAIT).await;
    assert_eq!(waited.expect("reached"), Some("tally_g2".to_owned()));
    assert_eq!(
        reader
            .serving_schema(NAME)
            .await
            .expect("a live generation"),
        "tally_g2"
    );
    assert!(report.retired_schema_dropped, "{report:?}");

    projector
        .wait_until("moves to generation 2", |status| {
            status.generation == 2 && status.reach() >= head
        })
        .await;
    world.append(200, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g2").await,
        world.expected(Feed::Everything).await
    );
    assert!(
        world.applied("tally_g2").await.starts_with(&g1),
        "g2 holds what g1 held"
    );
    let states: Vec<_> = world
        .registry()
        .await
        .into_iter()
        .map(|row| (row.0, row.1))
        .collect();
    assert_eq!(states, [(1, "retired".to_owned()), (2, "live".to_owned())]);
    let batches = world.batches("tally_g2").await;
    assert_eq!(batches.first(), Some(&(1, false)), "{batches:?}");
    assert!(
        batches.last().is_some_and(|(_, indexed)| *indexed) && world.indexed(2).await,
        "the rebuild is swapped in with its read index: {batches:?}"
    );
    assert!(
        !world.schema_exists("tally_g1").await,
        "g1's schema is dropped"
    );
    let stream = world
        .jetstream()
        .await
        .get_stream(&world.nats.stream)
        .await
        .expect("the stream exists");
    let old_consumer = format!("{}_tally_g1", world.nats.stream);
    assert!(
        stream.consumer_info(&old_consumer).await.is_err(),
        "g1's consumer is deleted"
    );
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_ends_while_events_keep_coming() {
    let world = World::new().await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    world.append(800, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;

    // Writers that never let the feed fall quiet while the rebuild runs.
    let writing = CancellationToken::new();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let appender = world.appender.clone();
            let writing = writing.clone();
            tokio::spawn(async move {
                while !writing.is_cancelled() {
                    append(&appender, 8, 8).await;
                }
            })
        })
        .collect();
    let rebuilt = projector::rebuild(
        world.owner.clone(),
        world.jetstream().await,
        &world.nats,
        Tally::of(Feed::Everything),
        CancellationToken::new(),
    );
    // A liveness bound, not a speed target: the catch-up takes a second or two. Before the
    // rebuild compared itself with the live generation after busy batches too, it ended only
    // when the writers happened to leave the feed idle (11 to 33 s here, or never).
    let report = tokio::time::timeout(Duration::from_secs(20), rebuilt)
        .await
        .expect("the rebuild ends though the feed is never idle")
        .expect("the rebuild succeeds");
    writing.cancel();
    for writer in writers {
        writer.await.expect("the writer stops");
    }
    assert_eq!(report.live_generation, 2);

    projector
        .wait_until("moves to generation 2", |status| status.generation == 2)
        .await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g2").await,
        world.expected(Feed::Everything).await,
        "each event applied once, none missed"
    );
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projectors_at_once_apply_each_event_once() {
    let world = World::new().await;
    let first = world.projector(Tally::of(Feed::Everything)).await;
    let second = world.projector(Tally::of(Feed::Everything)).await;
    world.append(1600, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );
    for projector in [&first, &second] {
        assert_eq!(projector.status.borrow().failure, None);
    }

    // Whichever leads stops; the other takes over.
    let (leader, mut standby) = if first.status.borrow().position > 0 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(standby.status.borrow().position, 0, "only one leads");
    leader.stop().await.expect("the leader stops cleanly");
    world.append(400, 8).await;
    let head = world.head().await;
    world.wait_for(head).await;
    standby
        .wait_until("takes over", |status| status.position == head)
        .await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );
    standby.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_that_loses_acknowledged_batches_loses_and_doubles_nothing() {
    // Batches commit without waiting for their WAL flush, so a crash can lose the last ones the
    // projector had acknowledged; the next session must apply them again, and nothing else twice.
    // The WAL writer waits its longest, so the commits of the last seconds are still in the
    // server's memory when it is killed.
    let server = PrivatePostgres::start_with(&[
        ("wal_writer_delay", "10s"),
        ("wal_writer_flush_after", "0"),
    ]);
    let world = World::on_server(&server.admin_url()).await;
    world.append(4000, 8).await;
    let head = world.head().await;
    world.wait_for_stream(head).await;
    let projector = world.projector(Tally::of(Feed::Everything)).await;
    world.wait_for(head).await;
    server.kill();
    server.restart();
    let deadline = Instant::now() + WAIT;
    let expected = loop {
        if let Ok(events) = world.reader.read_from(0, 4001).await {
            break events;
        }
        assert!(Instant::now() < deadline, "the store answers again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(expected.len(), 4000);
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Everything).await
    );
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_and_doubles_nothing() {
    let mut server = PrivateNats::start();
    let world = World::on(TestStream::on(&server.url())).await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    let burst = world.append(1000, 8);
    let outage = async {
        projector
            .wait_until("applies some", |status| status.position >= 200)
            .await;
        server.kill();
        // Commands still commit while NATS is down.
        world.append(1000, 8).await;
        server.restart();
    };
    tokio::join!(burst, outage);
    every_event_applied_once_then_stop(world, projector, 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_a_cluster_killed_mid_stream_loses_and_doubles_nothing() {
    let mut cluster = PrivateNatsCluster::start(3);
    let world =
        World::replicated(TestStream::on(&cluster.url()), TestDatabase::new().await, 3).await;
    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    let burst = world.append(1000, 8);
    let crash = async {
        projector
            .wait_until("applies some", |status| status.position >= 200)
            .await;
        // The node leading the projector's consumer, which the stream's leader may or may not be.
        let consumer = format!("{}_{NAME}_g1", world.nats.stream);
        let leader = world
            .jetstream()
            .await
            .get_stream(&world.nats.stream)
            .await
            .expect("the stream")
            .consumer_info(&consumer)
            .await
            .expect("the consumer")
            .cluster
            .and_then(|cluster| cluster.leader)
            .expect("a replicated consumer has a leader");
        cluster.kill(&leader);
        world.append(1000, 8).await;
        cluster.restart(&leader);
    };
    tokio::join!(burst, crash);
    every_event_applied_once_then_stop(world, projector, 2000).await;
}

/// Waits until the projector has reached the store's head, checks that it applied each of the
/// `count` events once in position order, and stops both.
async fn every_event_applied_once_then_stop(
    world: World,
    projector: RunningProjector,
    count: usize,
) {
    let head = world.head().await;
    world.wait_for(head).await;
    let expected = world.expected(Feed::Everything).await;
    assert_eq!(expected.len(), count);
    assert_eq!(world.applied("tally_g1").await, expected);
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_left_configured_otherwise_is_made_again_as_the_projector_needs() {
    let world = World::new().await;
    world.append(4, 1).await;
    let jetstream = world.jetstream().await;
    let deadline = Instant::now() + WAIT;
    let stream = loop {
        if let Ok(stream) = jetstream.get_stream(&world.nats.stream).await {
            break stream;
        }
        assert!(Instant::now() < deadline, "the relay creates the stream");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let name = format!("{}_tally_g1", world.nats.stream);
    stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: format!("{}.access.>", world.nats.subject_prefix),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("a consumer made by hand");

    let projector = world.projector(Tally::of(Feed::Events)).await;
    let head = world.head().await;
    world.wait_for(head).await;
    assert_eq!(
        world.applied("tally_g1").await,
        world.expected(Feed::Events).await
    );
    let config = stream
        .consumer_info(&name)
        .await
        .expect("the generation's consumer")
        .config
        .clone();
    assert_eq!(
        config.filter_subject,
        format!("{}.events.>", world.nats.subject_prefix)
    );
    assert_eq!(config.ack_policy, jetstream::consumer::AckPolicy::All);
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_generation_whose_tables_another_version_made_is_rebuilt_before_it_is_fed() {
    let world = World::new().await;
    let projector = world.projector(Tally::of(Feed::Everything)).await;
    world.append(400, 8).await;
    world.wait_for(world.head().await).await;
    projector.stop().await.expect("the projector stops cleanly");

    // As an earlier version left it: made before digests were kept, and an interrupted rebuild
    // of yet another version beside it.
    let client = world.database.owner_client().await;
    client
        .execute(
            "UPDATE projection_generations SET tables_digest = NULL WHERE projection = $1",
            &[&NAME],
        )
        .await
        .expect("the registry updates");
    client
        .batch_execute(
            "CREATE SCHEMA tally_g2; \
             INSERT INTO projection_generations \
                 (projection, generation, schema_name, state, tables_digest) \
             VALUES ('tally', 2, 'tally_g2', 'building', 'another version')",
        )
        .await
        .expect("a stale rebuild registers");

    let mut projector = world.projector(Tally::of(Feed::Everything)).await;
    projector
        .wait_until("feeds a generation of its own tables", |status| {
            status.generation == 3
        })
        .await;
    world.append(100, 4).await;
    let head = world.head().await;
    world.wait_for(head).await;
    let schema = world.live_schema().await;
    assert_eq!(schema, "tally_g3");
    assert_eq!(
        world.applied("tally_g3").await,
        world.expected(Feed::Everything).await
    );
    let states: Vec<(i32, String)> = world
        .registry()
        .await
        .into_iter()
        .map(|(generation, state, ..)| (generation, state))
        .collect();
    assert_eq!(
        states,
        [
            (1, "retired".to_owned()),
            (2, "retired".to_owned()),
            (3, "live".to_owned())
        ]
    );
    let deadline = Instant::now() + WAIT;
    while world.schema_exists("tally_g1").await || world.schema_exists("tally_g2").await {
        assert!(Instant::now() < deadline, "the retired schemas are dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    projector.stop().await.expect("the projector stops cleanly");
    world.stop().await;
}
