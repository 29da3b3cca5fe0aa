//! The system under test, as it runs in production: commands decided by the domain and accesses
//! as the access log writes them, appended through the store's appender, the relay publishing
//! them to a JetStream stream of the test's own, and the audit projector feeding its generation
//! in a database of the test's own.

pub mod commands;

use std::time::Duration;

use async_nats::jetstream;
use audit::{Audit, AuditQueries, NAME};
use chrono::{DateTime, Utc};
use domain::access::{
    AccessAction, AccessOutcome, QUERY_STREAM, RECORD_ACCESSED, RecordAccessed, RecordRef,
};
use domain::values::Role;
use domain::{Aggregate, Context, DomainEvent};
use eventlog::{NatsSettings, Relay, RelaySettings, RelayStatus};
use eventstore::checkpoint::Signer;
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, Reader, StreamAppend, StreamRef,
};
use projector::{ProjectionReader, Projector, ProjectorError, ProjectorStatus};
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
    /// The user every command and access is made as, unless a test says otherwise.
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

    pub fn queries(&self) -> AuditQueries {
        AuditQueries::new(self.owner_pool.clone())
    }

    pub fn reader(&self) -> ProjectionReader {
        ProjectionReader::new(self.owner_pool.clone())
    }

    /// Starts an audit projector in a task of its own.
    pub fn start_projector(&self) -> RunningProjector {
        let projector = Projector::new(
            self.owner_pool.clone(),
            self.jetstream.clone(),
            &self.nats,
            Audit,
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
        self.execute_as::<A>(self.actor, id, command).await
    }

    /// [`World::execute`] as the user `actor`.
    pub async fn execute_as<A: Aggregate>(
        &self,
        actor: Uuid,
        id: Uuid,
        command: A::Command,
    ) -> u64 {
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
        self.append_as(
            &format!("user:{actor}"),
            vec![StreamAppend::events(stream, expected, new_events(&events))],
        )
        .await
    }

    /// Logs an access as the access log does (on the record for one record, on the request
    /// for a list or several), as the user `actor`; returns its position.
    pub async fn access_as(&self, actor: Uuid, access: Accessed) -> u64 {
        let stream = match access.records.as_slice() {
            [record] if access.action != AccessAction::List => StreamRef::new(
                accesslog::stream_type_of(&record.collection).expect("a record's collection"),
                record.id,
            ),
            _ => StreamRef::new(QUERY_STREAM, Uuid::now_v7()),
        };
        let payload = RecordAccessed {
            action: access.action,
            role: Some(Role::Sales),
            route: access.route.to_owned(),
            records: access.records,
            purpose: access.purpose.map(str::to_owned),
            request_id: Uuid::now_v7().to_string(),
            client: Some("10.0.0.7:51234".to_owned()),
            outcome: access.outcome,
            reason: (access.outcome != AccessOutcome::Allowed).then(|| "not yours".to_owned()),
        };
        let event = NewEvent {
            event_type: RECORD_ACCESSED.to_owned(),
            schema_version: RecordAccessed::SCHEMA_VERSION,
            occurred_at: access.at.unwrap_or_else(Utc::now),
            payload: serde_json::to_value(&payload).expect("an access serialises"),
        };
        self.append_as(
            &format!("user:{actor}"),
            vec![StreamAppend::access(stream, vec![event])],
        )
        .await
    }

    /// Appends several streams atomically as `actor`; returns the position of the last event.
    pub async fn append_as(&self, actor: &str, appends: Vec<StreamAppend>) -> u64 {
        let request = AppendRequest::new(Metadata::actor(actor), appends);
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

    /// Every row of both tables of `schema`, as text, in key order: what two generations must
    /// agree on.
    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        let client = self.owner_pool.get().await.expect("a connection");
        let mut tables = Vec::new();
        for (table, order) in [
            ("entries", "position, ordinal"),
            ("states", "stream_type, id"),
        ] {
            let rows = client
                .query(
                    &format!(
                        "SELECT row_to_json(t)::text FROM \"{schema}\".{table} t ORDER BY {order}"
                    ),
                    &[],
                )
                .await
                .expect("the table reads");
            let rows = rows.iter().map(|row| row.get::<_, String>(0)).collect();
            tables.push((table.to_owned(), rows));
        }
        tables
    }

    pub async fn stop(self) {
        self.relay_stop.cancel();
        let stopped = tokio::time::timeout(WAIT, self.relay).await;
        assert!(stopped.is_ok(), "the relay stops in time");
    }
}

/// An access to log: what the tests vary.
pub struct Accessed {
    pub action: AccessAction,
    pub route: &'static str,
    pub records: Vec<RecordRef>,
    pub purpose: Option<&'static str>,
    pub outcome: AccessOutcome,
    /// When it happened; now unless given.
    pub at: Option<DateTime<Utc>>,
}

impl Accessed {
    /// An allowed read of one record.
    pub fn read(collection: &str, id: Uuid, purpose: &'static str) -> Accessed {
        Accessed {
            action: AccessAction::Read,
            route: "GET /v1/{collection}/{id}",
            records: vec![record(collection, id)],
            purpose: Some(purpose),
            outcome: AccessOutcome::Allowed,
            at: None,
        }
    }

    /// An allowed list that disclosed `records`.
    pub fn list(records: Vec<RecordRef>) -> Accessed {
        Accessed {
            action: AccessAction::List,
            route: "GET /v1/contacts",
            records,
            purpose: None,
            outcome: AccessOutcome::Allowed,
            at: None,
        }
    }
}

pub fn record(collection: &str, id: Uuid) -> RecordRef {
    RecordRef {
        collection: collection.to_owned(),
        id,
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

/// Opens an answer of the audit trail the way the API must: by logging the audit read (as
/// `auditor`, an `audit` access naming the records it discloses) first.
pub async fn disclose<T>(world: &World, auditor: Uuid, withheld: accesslog::Withheld<T>) -> T {
    disclose_logged(world, auditor, withheld).await.0
}

/// [`disclose`], also returning the position of the audit read it logged.
pub async fn disclose_logged<T>(
    world: &World,
    auditor: Uuid,
    withheld: accesslog::Withheld<T>,
) -> (T, u64) {
    let access = accesslog::Access {
        actor: format!("user:{auditor}"),
        role: Some(Role::Auditor),
        action: AccessAction::Audit,
        route: "GET /v1/audit/records/{collection}/{id}".to_owned(),
        purpose: Some("quarterly audit".to_owned()),
        request_id: Uuid::now_v7().to_string(),
        client: None,
    };
    let log = accesslog::AccessLog::new(world.appender.clone());
    let proof = log
        .record(&access, &withheld)
        .await
        .expect("the audit read is logged");
    let position = proof.position();
    let value = withheld.release(proof).expect("the proof opens it");
    (value, position)
}
