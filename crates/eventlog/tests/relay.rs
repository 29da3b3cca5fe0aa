//! The relay against real PostgreSQL and NATS servers: each test has a database and a stream of
//! its own; tests that stop NATS run a private nats-server.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use eventlog::{Envelope, LogError, NatsSettings, Relay, RelaySettings, RelayStatus, Subjects};
use eventstore::checkpoint::{Checkpoint, Signer, latest_checkpoint};
use eventstore::tree;
use eventstore::{AppendRequest, Appender, Metadata, NewEvent, Reader, StreamAppend, StreamRef};
use serde_json::json;
use testkit::{PrivateNats, PrivateNatsCluster, TestDatabase, TestStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(30);

/// A database with an appender, and the signing key folder the relays share.
struct Store {
    database: TestDatabase,
    pool: deadpool_postgres::Pool,
    appender: Appender,
    keys: tempfile::TempDir,
}

impl Store {
    async fn new() -> Store {
        trace_to_test_output();
        let database = TestDatabase::new().await;
        let pool = eventstore::connect(&database.store_settings())
            .await
            .expect("the application connects");
        Store {
            appender: Appender::start(pool.clone(), 256),
            pool,
            database,
            keys: tempfile::tempdir().expect("a key folder"),
        }
    }

    fn reader(&self) -> Reader {
        Reader::new(self.pool.clone())
    }

    fn signer(&self) -> Signer {
        Signer::load_or_create(self.keys.path()).expect("a signing key")
    }

    /// Appends `count` single-event requests from `tasks` concurrent tasks; every fourth is a
    /// record access, the rest create a contact.
    async fn append(&self, count: usize, tasks: usize) {
        let per_task = count / tasks;
        assert_eq!(per_task * tasks, count, "count divides among the tasks");
        let writers: Vec<_> = (0..tasks)
            .map(|task| {
                let appender = self.appender.clone();
                tokio::spawn(async move {
                    for index in 0..per_task {
                        let stream = StreamRef::new("contact", Uuid::now_v7());
                        let event = NewEvent {
                            event_type: if index % 4 == 3 { "viewed" } else { "created" }
                                .to_owned(),
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
                        let request =
                            AppendRequest::new(Metadata::actor("user:test"), vec![append]);
                        appender.append(request).await.expect("the append commits");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("the writer finishes");
        }
    }
}

/// Shows the relay's logs in a failing test's output; `RUST_LOG` picks what (default: warnings).
fn trace_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn nats_settings(url: &str, stream: &TestStream) -> NatsSettings {
    NatsSettings {
        url: url.to_owned(),
        stream: stream.stream.clone(),
        subject_prefix: stream.subject_prefix.clone(),
        ..NatsSettings::default()
    }
}

async fn relay(store: &Store, nats: &NatsSettings, settings: RelaySettings) -> Relay {
    let client = eventlog::connect(nats).await.expect("NATS answers");
    Relay::new(
        store.database.store_settings(),
        store.pool.clone(),
        client,
        nats.clone(),
        settings,
        store.signer(),
    )
}

fn relay_settings() -> RelaySettings {
    RelaySettings {
        batch: 500,
        publish_window: 128,
        checkpoint_every_events: 500,
        checkpoint_every_secs: 1,
        idle_check_secs: 1,
    }
}

/// A relay running in a task of its own until stopped.
struct RunningRelay {
    status: watch::Receiver<RelayStatus>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), LogError>>,
}

impl RunningRelay {
    async fn start(store: &Store, nats: &NatsSettings) -> RunningRelay {
        RunningRelay::start_with(store, nats, relay_settings()).await
    }

    async fn start_with(
        store: &Store,
        nats: &NatsSettings,
        settings: RelaySettings,
    ) -> RunningRelay {
        let relay = relay(store, nats, settings).await;
        let status = relay.status();
        let stop = CancellationToken::new();
        let task = tokio::spawn(relay.run(stop.clone()));
        RunningRelay { status, stop, task }
    }

    async fn wait_until(&mut self, what: &str, condition: impl Fn(&RelayStatus) -> bool) {
        let waited = tokio::time::timeout(WAIT, self.status.wait_for(|status| condition(status)))
            .await
            .map(|result| result.is_ok());
        assert!(
            waited == Ok(true),
            "the relay {what} within {WAIT:?}; status {:?}",
            *self.status.borrow()
        );
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

/// `url` may name several servers, comma-separated.
async fn jetstream_for(url: &str) -> jetstream::Context {
    let servers: Vec<&str> = url.split(',').collect();
    let client = async_nats::connect(servers).await.expect("NATS answers");
    jetstream::new(client)
}

/// Waits until the stream's last sequence is at least `count`.
async fn wait_for_messages(jetstream: &jetstream::Context, name: &str, count: u64) {
    let deadline = Instant::now() + WAIT;
    let mut last = 0;
    while Instant::now() < deadline {
        if let Ok(mut stream) = jetstream.get_stream(name).await
            && let Ok(info) = stream.info().await
        {
            last = info.state.last_sequence;
            if last >= count {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stream {name} reached {last} of {count} messages in {WAIT:?}");
}

/// The stream holds exactly the store's events 1..=count, each at its position, once.
async fn assert_stream_is_the_store(
    jetstream: &jetstream::Context,
    nats: &NatsSettings,
    reader: &Reader,
    count: u64,
) {
    let mut stream = jetstream
        .get_stream(&nats.stream)
        .await
        .expect("the stream exists");
    let state = stream.info().await.expect("stream info").state.clone();
    assert_eq!(
        state.messages, count,
        "the stream holds exactly {count} messages"
    );
    assert_eq!(state.first_sequence, 1);
    assert_eq!(state.last_sequence, count);
    let events = reader
        .read_from(0, u32::try_from(count + 1).expect("a small count"))
        .await
        .expect("the store reads");
    assert_eq!(events.len() as u64, count, "the store holds {count} events");
    let subjects = Subjects::new(&nats.subject_prefix);
    for event in &events {
        let message = stream
            .get_raw_message(event.position)
            .await
            .unwrap_or_else(|error| panic!("message {} reads: {error}", event.position));
        let message_id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|value| value.as_str().to_owned());
        assert_eq!(
            message_id,
            Some(event.event_id.to_string()),
            "sequence {} carries the event at that position",
            event.position
        );
        let envelope =
            Envelope::decode(Some(&message.headers), &message.payload).expect("a valid envelope");
        assert_eq!(envelope.position, event.position);
        assert_eq!(envelope, Envelope::from_stored(event, &nats.source));
        assert_eq!(
            message.subject.as_str(),
            subjects.event(event.category, &event.stream)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_appended_event_is_published_once_at_its_position() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;

    store.append(2000, 16).await;

    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 2000).await;
    relay
        .wait_until("reports its progress", |status| {
            status.published_position == 2000 && status.store_head == 2000 && status.lag() == 0
        })
        .await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 2000).await;

    // Signed checkpoints: stored, published on their own stream, verifiable.
    let signer = store.signer();
    let deadline = Instant::now() + WAIT;
    let checkpoint = loop {
        let latest = latest_checkpoint(&store.pool)
            .await
            .expect("checkpoints read");
        if let Some(checkpoint) = latest.filter(|checkpoint| checkpoint.position == 2000) {
            break checkpoint;
        }
        assert!(Instant::now() < deadline, "a checkpoint at 2000 in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(checkpoint.verify(&signer.public_key()));
    let event = store
        .reader()
        .event_at(2000)
        .await
        .expect("reads")
        .expect("event 2000");
    assert_eq!(checkpoint.hash, event.hash);
    let checkpoints = jetstream
        .get_stream(nats.checkpoint_stream())
        .await
        .expect("the checkpoint stream exists");
    let deadline = Instant::now() + WAIT;
    let published = loop {
        if let Ok(message) = checkpoints
            .get_last_raw_message_by_subject(&Subjects::new(&nats.subject_prefix).checkpoints())
            .await
        {
            let published: Checkpoint =
                serde_json::from_slice(&message.payload).expect("a checkpoint");
            if published.position == 2000 {
                break published;
            }
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint 2000 published in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(published, checkpoint);

    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_during_a_burst_loses_and_repeats_nothing() {
    let store = Store::new().await;
    let mut server = PrivateNats::start();
    let test_stream = TestStream::on(&server.url());
    let nats = nats_settings(&server.url(), &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;

    let burst = store.append(1000, 8);
    let outage = async {
        relay
            .wait_until("publishes some", |status| status.published_position >= 200)
            .await;
        server.kill();
        // Commands still commit while NATS is down: the store is the record.
        store.append(1000, 8).await;
        server.restart();
    };
    tokio::join!(burst, outage);

    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 2000).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 2000).await;
    // The tree kept up through the outage.
    wait_for_tree_head(&store, 2000).await;
    relay.stop().await;
    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
}

/// The stream's RAFT leader: the name of the node that holds it.
async fn stream_leader(jetstream: &jetstream::Context, name: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(mut stream) = jetstream.get_stream(name).await
            && let Ok(info) = stream.info().await
            && let Some(leader) = info
                .cluster
                .as_ref()
                .and_then(|cluster| cluster.leader.clone())
        {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "stream {name} has a leader in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_stream_loses_and_repeats_nothing_when_its_leader_node_is_killed() {
    let store = Store::new().await;
    let mut cluster = PrivateNatsCluster::start(3);
    let test_stream = TestStream::on(&cluster.url());
    let nats = NatsSettings {
        replicas: 3,
        ..nats_settings(&cluster.url(), &test_stream)
    };
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;
    let jetstream = jetstream_for(&nats.url).await;

    let burst = store.append(1000, 8);
    let crash = async {
        relay
            .wait_until("publishes some", |status| status.published_position >= 200)
            .await;
        let leader = stream_leader(&jetstream, &nats.stream).await;
        cluster.kill(&leader);
        // Appends go on while the two nodes left elect a new leader.
        store.append(1000, 8).await;
        leader
    };
    let ((), killed) = tokio::join!(burst, crash);

    wait_for_messages(&jetstream, &nats.stream, 2000).await;
    let mut stream = jetstream.get_stream(&nats.stream).await.expect("stream");
    let info = stream.info().await.expect("stream info");
    assert_eq!(info.config.num_replicas, 3);
    let leader = stream_leader(&jetstream, &nats.stream).await;
    assert_ne!(leader, killed, "a surviving node leads the stream");
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 2000).await;

    // The node comes back and catches up; the relay goes on publishing.
    cluster.restart(&killed);
    store.append(200, 4).await;
    wait_for_messages(&jetstream, &nats.stream, 2200).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 2200).await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_lost_its_tail_is_published_again() {
    let store = Store::new().await;
    let mut server = PrivateNats::start();
    let test_stream = TestStream::on(&server.url());
    let nats = nats_settings(&server.url(), &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;

    store.append(400, 8).await;
    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 400).await;
    server.kill();
    let snapshot = tempfile::tempdir().expect("a snapshot folder");
    server.snapshot(snapshot.path());
    server.restart();

    store.append(400, 8).await;
    wait_for_messages(&jetstream, &nats.stream, 800).await;
    server.kill();
    server.rewind_to(snapshot.path());
    server.restart();
    let rewound = jetstream_for(&nats.url)
        .await
        .get_stream(&nats.stream)
        .await
        .expect("the stream came back")
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    assert!(
        rewound <= 400,
        "the stream lost its tail: it ends at {rewound}"
    );

    // The stream now ends at 400 or before: the idle relay notices and publishes the rest again.
    wait_for_messages(&jetstream, &nats.stream, 800).await;
    store.append(200, 8).await;
    wait_for_messages(&jetstream, &nats.stream, 1000).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 1000).await;
    // The tree, which was ahead of the rewound stream, neither repeated nor skipped a leaf.
    let head = wait_for_tree_head(&store, 1000).await;
    assert_eq!(head.tree_root, Some(reference_root(&store, 1000).await));
    relay.stop().await;
    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_deleted_under_the_leader_is_made_again_and_published_again() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;

    store.append(320, 8).await;
    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 320).await;
    jetstream
        .delete_stream(&nats.stream)
        .await
        .expect("the stream is deleted");

    // Idle, the relay finds no stream; a new append finds none either. Both make it again.
    store.append(80, 8).await;
    wait_for_messages(&jetstream, &nats.stream, 400).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 400).await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_relay_waits_and_takes_over_when_the_leader_stops() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let mut first = RunningRelay::start(&store, &nats).await;
    let mut second = RunningRelay::start(&store, &nats).await;
    let deadline = Instant::now() + WAIT;
    while !first.status.borrow().leader && !second.status.borrow().leader {
        assert!(Instant::now() < deadline, "one relay leads in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if second.status.borrow().leader {
        std::mem::swap(&mut first, &mut second);
    }
    assert!(!second.status.borrow().leader, "only one relay leads");

    store.append(800, 16).await;
    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 800).await;
    assert!(!second.status.borrow().leader, "the standby still waits");

    first.stop().await;
    second
        .wait_until("takes over", |status| status.leader)
        .await;
    store.append(800, 16).await;
    wait_for_messages(&jetstream, &nats.stream, 1600).await;
    second
        .wait_until("publishes the rest", |status| {
            status.published_position == 1600
        })
        .await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 1600).await;
    wait_for_tree_head(&store, 1600).await;
    second.stop().await;
    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_started_together_publish_everything_once() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let first = RunningRelay::start(&store, &nats).await;
    let second = RunningRelay::start(&store, &nats).await;
    store.append(1600, 16).await;
    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 1600).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 1600).await;
    let leaders = [&first, &second]
        .iter()
        .filter(|relay| relay.status.borrow().leader)
        .count();
    assert_eq!(leaders, 1, "exactly one relay leads");
    wait_for_tree_head(&store, 1600).await;
    first.stop().await;
    second.stop().await;
    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
}

/// The backend holding the leader lock in the test's database, if any.
async fn leader_backend(client: &tokio_postgres::Client) -> Option<i32> {
    client
        .query_opt(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
            &[],
        )
        .await
        .expect("pg_locks reads")
        .map(|row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_leader_connection_dies_leads_again_on_a_new_one() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;
    store.append(200, 8).await;
    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 200).await;

    let owner = store.database.owner_client().await;
    let first = leader_backend(&owner)
        .await
        .expect("the relay holds the lock");
    owner
        .execute("SELECT pg_terminate_backend($1)", &[&first])
        .await
        .expect("the leader connection is terminated");
    let deadline = Instant::now() + WAIT;
    loop {
        match leader_backend(&owner).await {
            Some(pid) if pid != first => break,
            _ => {
                assert!(Instant::now() < deadline, "the relay leads again in time");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    store.append(200, 8).await;
    wait_for_messages(&jetstream, &nats.stream, 400).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 400).await;
    relay.stop().await;
}

/// Runs a relay expected to refuse to start, and returns its error.
async fn refusal(store: &Store, nats: &NatsSettings, settings: RelaySettings) -> LogError {
    let relay = relay(store, nats, settings).await;
    tokio::time::timeout(WAIT, relay.run(CancellationToken::new()))
        .await
        .expect("the relay gives up in time")
        .expect_err("the relay refuses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_configured_otherwise_is_refused_naming_the_setting() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let jetstream = jetstream_for(&nats.url).await;
    jetstream
        .create_stream(jetstream::stream::Config {
            name: nats.stream.clone(),
            subjects: vec![format!("{}.other.>", nats.subject_prefix)],
            ..Default::default()
        })
        .await
        .expect("a stream made by hand");

    let error = refusal(&store, &nats, relay_settings()).await;
    let message = error.to_string();
    assert!(
        message.starts_with("setting nats_subject_prefix:"),
        "{message}"
    );
    assert!(message.contains("subjects"), "{message}");
    let mut stream = jetstream
        .get_stream(&nats.stream)
        .await
        .expect("still there");
    let subjects = stream.info().await.expect("info").config.subjects.clone();
    assert_eq!(
        subjects,
        [format!("{}.other.>", nats.subject_prefix)],
        "left as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ahead_of_the_store_is_refused() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let jetstream = jetstream_for(&nats.url).await;
    eventlog::ensure_stream(&jetstream, &nats)
        .await
        .expect("the stream is created");
    jetstream
        .publish(
            format!("{}.events.contact.{}", nats.subject_prefix, Uuid::now_v7()),
            "{}".into(),
        )
        .await
        .expect("published")
        .await
        .expect("stored");

    let error = refusal(&store, &nats, relay_settings()).await;
    assert!(
        matches!(
            error,
            LogError::StreamAhead {
                stream_last: 1,
                store_head: 0,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_holding_other_events_is_refused() {
    let store = Store::new().await;
    store.append(4, 1).await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let jetstream = jetstream_for(&nats.url).await;
    eventlog::ensure_stream(&jetstream, &nats)
        .await
        .expect("the stream is created");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
    jetstream
        .publish_with_headers(
            format!("{}.events.contact.{}", nats.subject_prefix, Uuid::now_v7()),
            headers,
            "{}".into(),
        )
        .await
        .expect("published")
        .await
        .expect("stored");

    let error = refusal(&store, &nats, relay_settings()).await;
    assert!(
        matches!(error, LogError::ForeignStream { position: 1, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nats_is_reported_naming_the_setting() {
    let url = format!("nats://127.0.0.1:{}", testkit::free_port());
    let nats = NatsSettings {
        url: url.clone(),
        ..NatsSettings::default()
    };
    let started = Instant::now();
    let error = eventlog::connect(&nats)
        .await
        .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the wait is bounded"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("setting nats_url: cannot connect to {url}")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_settings_that_cannot_work_are_refused_naming_the_setting() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let settings = RelaySettings {
        batch: 0,
        ..relay_settings()
    };
    let error = refusal(&store, &nats, settings).await;
    assert!(
        error.to_string().starts_with("setting relay_batch:"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_event_the_store_accepts_is_relayed() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    // Escaped characters make the envelope's JSON longer than the canonical payload.
    let text = "\"quoted\"\n".repeat(eventstore::MAX_PAYLOAD_BYTES / 16);
    let request = AppendRequest::new(
        Metadata::actor("user:test"),
        vec![StreamAppend::events(
            StreamRef::new("note", Uuid::now_v7()),
            eventstore::ExpectedVersion::NoStream,
            vec![NewEvent {
                event_type: "written".to_owned(),
                schema_version: 1,
                occurred_at: Utc::now(),
                payload: json!({ "text": text }),
            }],
        )],
    );
    store
        .appender
        .append(request)
        .await
        .expect("the store accepts it");
    let relay = RunningRelay::start(&store, &nats).await;

    let jetstream = jetstream_for(&nats.url).await;
    wait_for_messages(&jetstream, &nats.stream, 1).await;
    assert_stream_is_the_store(&jetstream, &nats, &store.reader(), 1).await;
    relay.stop().await;
}

/// The root of the first `size` events, recomputed from the store's chain hashes without the
/// node table.
async fn reference_root(store: &Store, size: u64) -> [u8; 32] {
    let events = store
        .reader()
        .read_from(0, u32::try_from(size).expect("a small size"))
        .await
        .expect("reads");
    assert_eq!(events.len() as u64, size);
    let mut frontier = eventstore::merkle::Frontier::new();
    for event in &events {
        frontier.push(&event.hash);
    }
    frontier.root()
}

/// Waits until the store holds a signed tree head of exactly `size` events.
async fn wait_for_tree_head(store: &Store, size: u64) -> Checkpoint {
    let deadline = Instant::now() + WAIT;
    loop {
        let latest = tree::latest_tree_head(&store.pool)
            .await
            .expect("tree heads read");
        if let Some(head) = latest.filter(|head| head.position == size) {
            return head;
        }
        assert!(Instant::now() < deadline, "a tree head at {size} in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `crm verify`'s check against the relays' key.
async fn verify_store(store: &Store) -> eventstore::LogReport {
    let mut owner = store.database.owner_client().await;
    eventstore::verify_log(
        &mut owner,
        &eventstore::VerifyOptions {
            from_tree_head: false,
            trusted_key: Some(store.signer().public_key()),
        },
    )
    .await
    .expect("the check runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_heads_are_signed_over_the_merkle_root_stored_and_published() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    let mut relay = RunningRelay::start(&store, &nats).await;
    relay.wait_until("leads", |status| status.leader).await;

    store.append(1234, 2).await;
    let head = wait_for_tree_head(&store, 1234).await;
    let root = reference_root(&store, 1234).await;
    assert_eq!(head.tree_root, Some(root), "the signed root is the log's");
    assert!(head.verify(&store.signer().public_key()));
    let heads = tree::tree_heads(&store.pool, 0, 100).await.expect("reads");
    assert!(
        heads.len() >= 2,
        "every 500 events and at the end: {heads:?}"
    );
    for earlier in &heads {
        assert_eq!(
            earlier.tree_root,
            Some(reference_root(&store, earlier.position).await),
            "the head at {}",
            earlier.position
        );
    }

    // Published on <prefix>.checkpoints, root included.
    let jetstream = jetstream_for(&nats.url).await;
    let checkpoints = jetstream
        .get_stream(nats.checkpoint_stream())
        .await
        .expect("the checkpoint stream exists");
    let deadline = Instant::now() + WAIT;
    let published = loop {
        if let Ok(message) = checkpoints
            .get_last_raw_message_by_subject(&Subjects::new(&nats.subject_prefix).checkpoints())
            .await
        {
            let published: Checkpoint =
                serde_json::from_slice(&message.payload).expect("a tree head");
            if published.position == 1234 {
                break published;
            }
        }
        assert!(
            Instant::now() < deadline,
            "tree head 1234 published in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(published, head);

    // Proofs against it verify, from the nodes the relay wrote.
    for position in [1, 256, 257, 700, 1234] {
        let event = store
            .reader()
            .event_at(position)
            .await
            .expect("reads")
            .expect("the event");
        tree::inclusion_proof(&store.pool, position, 1234)
            .await
            .expect("a proof")
            .verify(&event.hash, &root)
            .unwrap_or_else(|error| panic!("inclusion of {position}: {error}"));
    }
    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.chain.tree_heads_checked, heads.len());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_builds_the_tree_over_what_was_published_without_one_and_resumes_it() {
    let store = Store::new().await;
    let test_stream = TestStream::new();
    let nats = nats_settings(&test_stream.url, &test_stream);
    // A checkpoint from before tree heads (no root) stays verifiable beside them.
    store.append(100, 1).await;
    let legacy = {
        let signer = store.signer();
        signer.register(&store.pool).await.expect("registers");
        let event = store
            .reader()
            .event_at(60)
            .await
            .expect("reads")
            .expect("event 60");
        let checkpoint = signer.sign(60, event.hash, Utc::now());
        let client = store.pool.get().await.expect("a connection");
        client
            .execute(
                "INSERT INTO checkpoints (position, hash, signed_at, key_id, signature) \
                 VALUES (60, $1, $2, $3, $4)",
                &[
                    &checkpoint.hash.as_slice(),
                    &checkpoint.signed_at,
                    &checkpoint.key_id,
                    &checkpoint.signature.as_slice(),
                ],
            )
            .await
            .expect("inserts");
        checkpoint
    };

    // A first relay publishes but never gets to sign a tree head.
    let quiet = RelaySettings {
        checkpoint_every_events: 1_000_000,
        checkpoint_every_secs: 3_600,
        ..relay_settings()
    };
    let mut first = RunningRelay::start_with(&store, &nats, quiet).await;
    store.append(600, 2).await;
    first
        .wait_until("publishes everything", |status| {
            status.published_position == 700
        })
        .await;
    first.stop().await;
    assert!(
        tree::latest_tree_head(&store.pool)
            .await
            .expect("reads")
            .is_none()
    );

    // The next leader builds the tree over those 700 from the store, then carries on.
    let mut second = RunningRelay::start(&store, &nats).await;
    second.wait_until("leads", |status| status.leader).await;
    store.append(300, 2).await;
    let head = wait_for_tree_head(&store, 1000).await;
    assert_eq!(head.tree_root, Some(reference_root(&store, 1000).await));
    second.stop().await;

    // And the one after resumes at that head.
    let mut third = RunningRelay::start(&store, &nats).await;
    third.wait_until("leads", |status| status.leader).await;
    store.append(100, 1).await;
    let head = wait_for_tree_head(&store, 1100).await;
    assert_eq!(head.tree_root, Some(reference_root(&store, 1100).await));
    third.stop().await;

    let report = verify_store(&store).await;
    assert!(report.is_ok(), "{report}");
    assert!(
        legacy.verify(&store.signer().public_key()),
        "the old checkpoint still verifies"
    );
    let latest = latest_checkpoint(&store.pool)
        .await
        .expect("reads")
        .expect("a checkpoint");
    assert_eq!(latest.position, 1100);
}
