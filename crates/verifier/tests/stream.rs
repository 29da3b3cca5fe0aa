//! An auditor who follows JetStream instead of asking us for an export: the envelopes on the event
//! stream and the tree heads on `<prefix>.checkpoints` are enough to check the log offline, and
//! an event a relay left out is named.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use eventlog::{Envelope, NatsSettings, Relay, RelaySettings, Subjects};
use eventstore::checkpoint::{Checkpoint, Signer};
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, StoredEvent, StreamAppend,
    StreamRef,
};
use serde_json::json;
use testkit::{TestDatabase, TestStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use verifier::{Expectations, VerifyError};

const WAIT: Duration = Duration::from_secs(30);

/// The stored event an envelope carries (the envelope holds every field the chain covers).
fn stored_from(envelope: Envelope) -> StoredEvent {
    let (stream_type, stream_id) = envelope
        .subject
        .split_once('/')
        .expect("subject is <type>/<id>");
    let public = envelope
        .event_type
        .strip_prefix("crm.")
        .expect("a crm type");
    let (rest, version) = public.rsplit_once(".v").expect("a versioned type");
    let (_, event_type) = rest.split_once('.').expect("<family>.<event>");
    StoredEvent {
        position: envelope.position,
        event_id: envelope.id,
        category: envelope.category,
        stream: StreamRef::new(stream_type, stream_id.parse().expect("a uuid")),
        stream_version: envelope.aggregate_version,
        event_type: event_type.to_owned(),
        schema_version: version.parse().expect("a number"),
        occurred_at: envelope.time,
        recorded_at: envelope.recorded_time,
        actor: envelope.actor,
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
        payload: envelope.data,
        hash: envelope.hash,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_following_the_stream_verifies_it_and_finds_an_event_a_relay_left_out() {
    let database = TestDatabase::new().await;
    let pool = eventstore::connect(&database.store_settings())
        .await
        .expect("the application connects");
    let test_stream = TestStream::new();
    let nats = NatsSettings {
        url: test_stream.url.clone(),
        stream: test_stream.stream.clone(),
        subject_prefix: test_stream.subject_prefix.clone(),
        ..NatsSettings::default()
    };
    let signer = Signer::from_secret([21; 32]);
    let public_key = signer.public_key();
    let relay = Relay::new(
        database.store_settings(),
        pool.clone(),
        eventlog::connect(&nats).await.expect("NATS answers"),
        nats.clone(),
        RelaySettings {
            checkpoint_every_events: 100,
            checkpoint_every_secs: 1,
            idle_check_secs: 1,
            ..RelaySettings::default()
        },
        signer,
    );
    let stop = CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));

    let appender = Appender::start(pool.clone(), 64);
    for index in 0..250_u64 {
        let stream = StreamRef::new("contact", Uuid::now_v7());
        let event = NewEvent {
            event_type: if index % 5 == 4 { "viewed" } else { "created" }.to_owned(),
            schema_version: 1,
            occurred_at: Utc::now(),
            payload: json!({"index": index, "name": format!("Contact {index}")}),
        };
        let append = if index % 5 == 4 {
            StreamAppend::access(stream, vec![event])
        } else {
            StreamAppend::events(stream, ExpectedVersion::NoStream, vec![event])
        };
        appender
            .append(AppendRequest::new(
                Metadata::actor("user:bob"),
                vec![append],
            ))
            .await
            .expect("appended");
    }

    // The auditor's side: only NATS.
    let client = async_nats::connect(&nats.url).await.expect("NATS answers");
    let jetstream = jetstream::new(client);
    let checkpoints = Subjects::new(&nats.subject_prefix).checkpoints();
    let deadline = Instant::now() + WAIT;
    let head: Checkpoint = loop {
        if let Ok(stream) = jetstream.get_stream(nats.checkpoint_stream()).await
            && let Ok(message) = stream.get_last_raw_message_by_subject(&checkpoints).await
        {
            let head: Checkpoint = serde_json::from_slice(&message.payload).expect("a tree head");
            if head.position == 250 {
                break head;
            }
        }
        assert!(Instant::now() < deadline, "a tree head of 250 in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events = jetstream
        .get_stream(&nats.stream)
        .await
        .expect("the event stream");
    let mut lines = Vec::new();
    for sequence in 1..=250 {
        let message = events.get_raw_message(sequence).await.expect("the message");
        let envelope =
            Envelope::decode(Some(&message.headers), &message.payload).expect("an envelope");
        lines.push((
            sequence,
            eventstore::export::to_line(&stored_from(envelope)),
        ));
    }
    stop.cancel();
    running
        .await
        .expect("the relay task ends")
        .expect("the relay stops cleanly");
    assert!(
        lines
            .iter()
            .any(|(_, line)| line.contains("\"category\":\"access\"")),
        "record accesses are in the log too"
    );

    let expected = Expectations {
        public_key,
        tree_head: head,
        inclusion: None,
        consistency: None,
    };
    let whole: String = lines.iter().map(|(_, line)| format!("{line}\n")).collect();
    let outcome = verifier::check(whole.as_bytes(), &expected).expect("the stream verifies");
    assert!(outcome.root_recomputed, "{outcome}");

    let skipped: String = lines
        .iter()
        .filter(|(sequence, _)| *sequence != 123)
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    match verifier::check(skipped.as_bytes(), &expected) {
        Err(VerifyError::Broken { position, reason }) => {
            assert_eq!(position, 123, "{reason}");
            assert!(reason.contains("skipped or deleted"), "{reason}");
        }
        other => panic!("the skipped event is named, not {other:?}"),
    }
}
