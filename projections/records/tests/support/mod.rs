//! The system under test, as it runs in production: commands decided by the domain and appended
//! through the store's appender, the relay publishing them to a JetStream stream of the test's
//! own, and the records projector feeding its generation in a database of the test's own.

pub mod commands;

use std::time::Duration;

use accesslog::{Access, AccessLog};
use async_nats::jetstream;
use chrono::Utc;
use domain::access::AccessAction;
use domain::values::Role;
use domain::{Aggregate, Context, DomainEvent};
use eventlog::{NatsSettings, Relay, RelaySettings, RelayStatus};
use eventstore::checkpoint::Signer;
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, Reader, StreamAppend, StreamRef,
};
use projector::{ProjectionReader, Projector, ProjectorError, ProjectorStatus};
use records::{
    Collection, ListFilter, NAME, Page, PageRequest, Record, RecordQueries, Records, RecordsError,
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

    pub fn queries(&self) -> Queries {
        Queries {
            queries: RecordQueries::new(self.owner_pool.clone()),
            log: AccessLog::new(self.appender.clone()),
        }
    }

    pub fn reader(&self) -> ProjectionReader {
        ProjectionReader::new(self.owner_pool.clone())
    }

    /// Starts a records projector in a task of its own.
    pub fn start_projector(&self) -> RunningProjector {
        let projector = Projector::new(
            self.owner_pool.clone(),
            self.jetstream.clone(),
            &self.nats,
            Records,
        );
        let status = projector.status();
        let stop = CancellationToken::new();
        let task = tokio::spawn(projector.run(stop.clone()));
        RunningProjector { status, stop, task }
    }

    /// Waits until the live generation has applied `position`; returns its schema.
    pub async fn caught_up(&self, position: u64) -> String {
        self.reader()
            .wait_for(NAME, position, WAIT)
            .await
            .unwrap_or_else(|error| panic!("the read model reaches {position}: {error}"));
        let (schema, _) = self
            .reader()
            .live_schema(NAME)
            .await
            .expect("a live generation");
        schema
    }

    /// Decides `command` on the stream's current state (loaded from the store, as the API
    /// does) and appends the events as `self.actor`; returns the position of the last one.
    pub async fn execute<A: Aggregate>(&self, id: Uuid, command: A::Command) -> u64 {
        let stream = StreamRef::new(A::STREAM_TYPE, id);
        let stored = Reader::new(self.store_pool.clone())
            .load_stream(&stream, 0)
            .await
            .expect("the stream loads");
        let state = stored.iter().fold(A::State::default(), |state, event| {
            let event = A::Event::from_stored(
                &event.event_type,
                event.schema_version,
                event.payload.clone(),
            )
            .expect("a stored event reads");
            A::evolve(state, &event)
        });
        let events = A::decide(&state, command, &self.context()).expect("the command is accepted");
        let expected = match stored.len() {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exactly(version as u64),
        };
        self.append(StreamAppend::events(stream, expected, new_events(&events)))
            .await
    }

    /// Appends one request; returns the position of its last event.
    pub async fn append(&self, append: StreamAppend) -> u64 {
        self.append_all(vec![append]).await
    }

    /// Appends several streams atomically; returns the position of the last event.
    pub async fn append_all(&self, appends: Vec<StreamAppend>) -> u64 {
        let request = AppendRequest::new(Metadata::actor(format!("user:{}", self.actor)), appends);
        self.appender
            .append(request)
            .await
            .expect("the append commits")
            .last_position
    }

    pub fn context(&self) -> Context {
        Context {
            now: Utc::now(),
            actor_id: self.actor,
            actor_role: Role::Admin,
        }
    }

    /// Every row of every table of `schema`, as text, in id order: what two generations must
    /// agree on.
    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        let client = self.owner_pool.get().await.expect("a connection");
        let mut tables = Vec::new();
        for collection in records::Collection::ALL {
            let rows = client
                .query(
                    &format!(
                        "SELECT row_to_json(t)::text FROM \"{schema}\".{} t ORDER BY id",
                        collection.as_str()
                    ),
                    &[],
                )
                .await
                .expect("the table reads");
            let rows = rows.iter().map(|row| row.get::<_, String>(0)).collect();
            tables.push((collection.as_str().to_owned(), rows));
        }
        tables
    }

    pub async fn stop(self) {
        self.relay_stop.cancel();
        let stopped = tokio::time::timeout(WAIT, self.relay).await;
        assert!(stopped.is_ok(), "the relay stops in time");
    }
}

/// The store's form of domain events.
pub fn new_events<E: DomainEvent>(events: &[E]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            occurred_at: Utc::now(),
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

/// The read model's queries as the API makes them: every answer is logged as an access before
/// the test sees it.
#[derive(Clone)]
pub struct Queries {
    queries: RecordQueries,
    log: AccessLog,
}

impl Queries {
    fn access() -> Access {
        Access {
            actor: "system".to_owned(),
            role: Some(Role::Admin),
            action: AccessAction::Read,
            route: "records test".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        }
    }

    pub async fn get(
        &self,
        schema: &str,
        collection: Collection,
        id: Uuid,
    ) -> Result<Option<Record>, RecordsError> {
        let Some(found) = self.queries.get(schema, collection, id).await? else {
            return Ok(None);
        };
        let record = self
            .log
            .disclose(&Self::access(), found.record)
            .await
            .expect("the access commits");
        Ok(Some(record))
    }

    pub async fn list(
        &self,
        schema: &str,
        collection: Collection,
        filter: &ListFilter,
        page: PageRequest,
    ) -> Result<Page, RecordsError> {
        let page = self.queries.list(schema, collection, filter, page).await?;
        Ok(self
            .log
            .disclose(&Self::access(), page)
            .await
            .expect("the access commits"))
    }

    pub async fn open_deals_in_stage(
        &self,
        schema: &str,
        pipeline_id: Uuid,
        stage: &str,
    ) -> Result<u64, RecordsError> {
        self.queries
            .open_deals_in_stage(schema, pipeline_id, stage)
            .await
    }
}
