//! The system a read model's tests run against, as it runs in production: commands decided by
//! the domain and appended through the store's appender, the relay publishing them to a
//! JetStream stream of the test's own, and projectors feeding generations in a database of the
//! test's own. Every projection's integration tests share it, so each tests its fold and its
//! queries, not a copy of the wiring.

use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use domain::values::Role;
use domain::{Aggregate, Context, DomainEvent};
use eventlog::{NatsSettings, Relay, RelaySettings, RelayStatus};
use eventstore::checkpoint::Signer;
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, Reader, StreamAppend, StreamRef,
};
use projector::{
    Projection, ProjectionReader, Projector, ProjectorError, ProjectorStatus, RebuildReport,
};
use testkit::{TestDatabase, TestStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// A store, a relay and the read side, each isolated to this test.
pub struct World {
    /// Dropped with the world: the database and the stream are removed.
    _database: TestDatabase,
    _stream: TestStream,
    pub nats: NatsSettings,
    /// The application's pool (the appender's role).
    pub store_pool: deadpool_postgres::Pool,
    /// The owner's pool: projectors and read-model queries.
    pub owner_pool: deadpool_postgres::Pool,
    pub appender: Appender,
    pub jetstream: jetstream::Context,
    /// The user every command of [`World::execute`] is recorded as.
    pub actor: Uuid,
    relay_stop: CancellationToken,
    relay: JoinHandle<Result<(), eventlog::LogError>>,
    _keys: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        trace_to_test_output();
        let database = TestDatabase::new().await;
        let settings = database.store_settings();
        projector::migrate(&settings)
            .await
            .expect("the registry migrates");
        let store_pool = eventstore::connect(&settings)
            .await
            .expect("the application connects");
        let owner_pool = projector::connect(&settings)
            .await
            .expect("the owner connects");
        let stream = TestStream::new();
        let nats = NatsSettings {
            url: stream.url.clone(),
            stream: stream.stream.clone(),
            subject_prefix: stream.subject_prefix.clone(),
            ..NatsSettings::default()
        };
        let keys = tempfile::tempdir().expect("a key folder");
        let signer = Signer::load_or_create(keys.path()).expect("a signing key");
        let client = eventlog::connect(&nats).await.expect("NATS answers");
        let relay = Relay::new(
            settings,
            store_pool.clone(),
            client.clone(),
            nats.clone(),
            RelaySettings {
                idle_check_secs: 1,
                ..RelaySettings::default()
            },
            signer,
        );
        let mut relay_status = relay.status();
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(relay.run(relay_stop.clone()));
        tokio::time::timeout(
            WAIT,
            relay_status.wait_for(|status: &RelayStatus| status.leader),
        )
        .await
        .expect("the relay leads in time")
        .expect("the relay runs");
        World {
            appender: Appender::start(store_pool.clone(), 64),
            jetstream: jetstream::new(client),
            actor: Uuid::now_v7(),
            _database: database,
            _stream: stream,
            nats,
            store_pool,
            owner_pool,
            relay_stop,
            relay,
            _keys: keys,
        }
    }

    pub fn reader(&self) -> ProjectionReader {
        ProjectionReader::new(self.owner_pool.clone())
    }

    /// Starts a projector of `projection` in a task of its own.
    pub fn start_projector<P: Projection>(&self, projection: P) -> RunningProjector {
        let projector = Projector::new(
            self.owner_pool.clone(),
            self.jetstream.clone(),
            &self.nats,
            projection,
        );
        let status = projector.status();
        let stop = CancellationToken::new();
        let task = tokio::spawn(projector.run(stop.clone()));
        RunningProjector { status, stop, task }
    }

    /// Waits until the live generation of the read model `name` has applied `position`;
    /// returns its schema.
    pub async fn caught_up(&self, name: &str, position: u64) -> String {
        self.reader()
            .wait_for(name, position, WAIT)
            .await
            .unwrap_or_else(|error| panic!("{name} reaches {position}: {error}"));
        let (schema, _) = self
            .reader()
            .live_schema(name)
            .await
            .expect("a live generation");
        schema
    }

    /// Builds a new generation of `projection` from the first event and swaps it in; returns
    /// the report and the new live schema.
    pub async fn rebuild<P: Projection>(&self, projection: P) -> (RebuildReport, String) {
        let name = projection.name();
        let report = projector::rebuild(
            self.owner_pool.clone(),
            self.jetstream.clone(),
            &self.nats,
            projection,
            CancellationToken::new(),
        )
        .await
        .expect("the rebuild completes");
        let (schema, _) = self
            .reader()
            .live_schema(name)
            .await
            .expect("a live generation");
        (report, schema)
    }

    /// Decides `command` on the stream's current state (loaded from the store, as the API
    /// does) and appends the events as `self.actor`, now; returns the position of the last one.
    pub async fn execute<A: Aggregate>(&self, id: Uuid, command: A::Command) -> u64 {
        self.execute_at::<A>(id, command, Utc::now()).await
    }

    /// [`World::execute`] as if the clock said `now`: the decision's context and the events'
    /// occurrence time are `now` (for read models that measure ages and recency).
    pub async fn execute_at<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        now: DateTime<Utc>,
    ) -> u64 {
        self.decide_and_append::<A>(self.actor, id, command, now)
            .await
    }

    /// [`World::execute`] as the user `actor`.
    pub async fn execute_as<A: Aggregate>(
        &self,
        actor: Uuid,
        id: Uuid,
        command: A::Command,
    ) -> u64 {
        self.decide_and_append::<A>(actor, id, command, Utc::now())
            .await
    }

    async fn decide_and_append<A: Aggregate>(
        &self,
        actor: Uuid,
        id: Uuid,
        command: A::Command,
        now: DateTime<Utc>,
    ) -> u64 {
        let stream = StreamRef::new(A::STREAM_TYPE, id);
        let stored = Reader::new(self.store_pool.clone())
            .load_stream(&stream, 0)
            .await
            .expect("the stream loads");
        let state = stored.iter().fold(A::State::default(), |state, event| {
            let event =
                A::Event::from_stored(&event.event_type, event.schema_version, &event.payload)
                    .expect("a stored event reads");
            A::evolve(state, &event)
        });
        let context = Context {
            now,
            actor_id: actor,
            ..self.context()
        };
        let events = A::decide(&state, command, &context).expect("the command is accepted");
        let expected = match stored.len() {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exactly(version as u64),
        };
        let append = StreamAppend::events(stream, expected, new_events_at(&events, now));
        self.append_as(&format!("user:{actor}"), vec![append]).await
    }

    /// Appends one request; returns the position of its last event.
    pub async fn append(&self, append: StreamAppend) -> u64 {
        self.append_all(vec![append]).await
    }

    /// Appends several streams atomically; returns the position of the last event.
    pub async fn append_all(&self, appends: Vec<StreamAppend>) -> u64 {
        self.append_as(&format!("user:{}", self.actor), appends)
            .await
    }

    /// Appends several streams atomically as `actor` (`user:<id>`, `system`); returns the
    /// position of the last event.
    pub async fn append_as(&self, actor: &str, appends: Vec<StreamAppend>) -> u64 {
        let request = AppendRequest::new(Metadata::actor(actor), appends);
        self.appender
            .append(request)
            .await
            .expect("the append commits")
            .last_position
    }

    /// The context commands of `self.actor` are decided in, now.
    pub fn context(&self) -> Context {
        Context {
            now: Utc::now(),
            actor_id: self.actor,
            actor_role: Role::Admin,
        }
    }

    /// Every row of each of `tables` in `schema`, as JSON text in a stable order: what two
    /// generations of a read model must agree on.
    pub async fn rows(&self, schema: &str, tables: &[&str]) -> Vec<(String, Vec<String>)> {
        let client = self.owner_pool.get().await.expect("a connection");
        let mut all = Vec::new();
        for table in tables {
            let rows = client
                .query(
                    &format!(
                        "SELECT row_to_json(t)::text AS row FROM \"{schema}\".{table} t ORDER BY 1"
                    ),
                    &[],
                )
                .await
                .unwrap_or_else(|error| panic!("the table {table} reads: {error}"));
            let rows = rows.iter().map(|row| row.get::<_, String>(0)).collect();
            all.push(((*table).to_owned(), rows));
        }
        all
    }

    pub async fn stop(self) {
        self.relay_stop.cancel();
        let stopped = tokio::time::timeout(WAIT, self.relay).await;
        assert!(stopped.is_ok(), "the relay stops in time");
    }
}

/// The store's form of domain events, occurring now.
pub fn new_events<E: DomainEvent>(events: &[E]) -> Vec<NewEvent> {
    new_events_at(events, Utc::now())
}

/// The store's form of domain events, occurring at `occurred_at`.
pub fn new_events_at<E: DomainEvent>(events: &[E], occurred_at: DateTime<Utc>) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            occurred_at,
            payload: event.to_payload(),
        })
        .collect()
}

/// A projector running in a task of its own.
pub struct RunningProjector {
    pub status: watch::Receiver<ProjectorStatus>,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), ProjectorError>>,
}

impl RunningProjector {
    pub async fn wait_until(&mut self, what: &str, condition: impl Fn(&ProjectorStatus) -> bool) {
        let waited = tokio::time::timeout(WAIT, self.status.wait_for(|status| condition(status)))
            .await
            .map(|result| result.is_ok());
        assert!(
            waited == Ok(true),
            "the projector {what} within {WAIT:?}; status {:?}",
            *self.status.borrow()
        );
    }

    /// Kills it mid-flight, as a crash would: whatever batch it was applying never commits.
    pub async fn kill(self) {
        self.task.abort();
        let aborted = self.task.await;
        assert!(
            aborted.is_err_and(|error| error.is_cancelled()),
            "the projector was killed"
        );
    }

    /// Stops it the polite way.
    pub async fn stop(self) {
        self.stop.cancel();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the projector stops in time")
            .expect("the projector task does not panic");
        result.expect("the projector stops without error");
    }
}

/// Shows the services' logs in a failing test's output; `RUST_LOG` picks what (default: warnings).
fn trace_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
