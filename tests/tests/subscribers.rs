//! Services that subscribe over HTTP: `GET /v1/events/stream` carries each committed domain
//! event as its CloudEvents envelope, under its position, from where the subscriber asks or
//! left off, and logs each batch it sends as an access.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::TestSystem;
use uuid::Uuid;

#[tokio::test]
async fn a_subscriber_follows_the_log_and_resumes_after_the_last_event_it_took() {
    let system = TestSystem::start().await;
    let (_, sales) = system.user("sal", "sales", Some("Berlin")).await;
    let first = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201);

    let mut stream = system
        .follow(
            &system.admin,
            "/v1/events/stream?after=0&aggregate=company",
            &[("x-crm-purpose", "billing sync")],
        )
        .await
        .unwrap_or_else(|reply| panic!("a stream: {reply:?}"));
    let event = stream.next().await;
    assert_eq!(event.id, first.position(), "the id is the position");
    assert_eq!(event.event, "crm.company.created.v1");
    assert_eq!(event.data["specversion"], "1.0");
    assert_eq!(event.data["subject"], format!("company/{}", first.id()));
    assert_eq!(event.data["position"], json!(first.position()));
    assert_eq!(event.data["data"]["name"], "Acme");

    // Live: only companies, as they are committed.
    system
        .post(
            &system.admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace"}),
        )
        .await
        .expect(201);
    let second = system
        .post(&system.admin, "/v1/companies", json!({"name": "Globex"}))
        .await
        .expect(201);
    let event = stream.next().await;
    assert_eq!(
        event.id,
        second.position(),
        "the contact is not a company's event"
    );
    drop(stream);

    // Reconnecting after the last event taken: what came since, nothing twice.
    let third = system
        .post(&system.admin, "/v1/companies", json!({"name": "Initech"}))
        .await
        .expect(201);
    let last = second.position().to_string();
    let mut resumed = system
        .follow(
            &system.admin,
            "/v1/events/stream?aggregate=company",
            &[("last-event-id", &last)],
        )
        .await
        .unwrap_or_else(|reply| panic!("a stream: {reply:?}"));
    assert_eq!(resumed.next().await.id, third.position());

    // Each batch sent was logged as an export of the records it showed, with the purpose.
    let log = system
        .get(&system.admin, "/v1/events?limit=1000")
        .await
        .expect(200);
    let exports: Vec<&Value> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|event| event["data"]["route"] == "GET /v1/events/stream")
        .collect();
    let shown = |id: Uuid| {
        exports.iter().any(|event| {
            event["data"]["action"] == "export"
                && event["data"]["purpose"] == "billing sync"
                && event["data"]["records"].as_array().is_some_and(|records| {
                    records.contains(&json!({"collection": "companies", "id": id}))
                })
        })
    };
    assert!(shown(first.id()) && shown(second.id()), "{exports:?}");

    // Not for every role, nor every start or filter.
    let refused = system
        .follow(&sales, "/v1/events/stream", &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status.as_u16(), 403);
    let unknown = system
        .follow(&system.admin, "/v1/events/stream?aggregate=planet", &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(unknown.status.as_u16(), 422);
    assert_eq!(unknown.invalid_field(), "aggregate");
    let bad = system
        .follow(
            &system.admin,
            "/v1/events/stream",
            &[("last-event-id", "yesterday")],
        )
        .await
        .err()
        .expect("refused");
    assert_eq!(bad.invalid_field(), "Last-Event-ID");

    // An open stream does not hold up the server's shutdown: it ends.
    let stopping = tokio::spawn(system.stop());
    assert!(
        resumed.ends_within(Duration::from_secs(10)).await,
        "the stream ends"
    );
    stopping.await.expect("the system stops");
}

#[tokio::test]
async fn a_stream_from_now_carries_only_what_is_committed_after_it_opened() {
    let system = TestSystem::start().await;
    system
        .post(&system.admin, "/v1/companies", json!({"name": "Before"}))
        .await
        .expect(201);
    let mut stream = system
        .follow(&system.admin, "/v1/events/stream", &[])
        .await
        .unwrap_or_else(|reply| panic!("a stream: {reply:?}"));
    let after = system
        .post(&system.admin, "/v1/companies", json!({"name": "After"}))
        .await
        .expect(201);
    let event = stream.next().await;
    assert_eq!(event.id, after.position(), "{event:?}");
    system.stop().await;
}

#[tokio::test]
async fn a_stream_ends_once_its_caller_may_no_longer_read_the_log() {
    let system = TestSystem::start().await;
    let (leaver, leaver_token) = system.user("leaver", "analyst", None).await;
    let (mover, mover_token) = system.user("mover", "analyst", None).await;
    let mut streams = Vec::new();
    for token in [&leaver_token, &mover_token] {
        let stream = system
            .follow(token, "/v1/events/stream?aggregate=company", &[])
            .await
            .unwrap_or_else(|reply| panic!("a stream: {reply:?}"));
        streams.push(stream);
    }
    let seen = system
        .post(&system.admin, "/v1/companies", json!({"name": "Seen"}))
        .await
        .expect(201);
    for stream in &mut streams {
        assert_eq!(stream.next().await.id, seen.position());
    }

    // One leaves, the other moves to a role that does not read the log: neither stream sends
    // what comes next.
    system
        .post(
            &system.admin,
            &format!("/v1/users/{leaver}/deactivate"),
            json!({}),
        )
        .await
        .expect(200);
    system
        .patch(
            &system.admin,
            &format!("/v1/users/{mover}"),
            json!({"role": "sales"}),
        )
        .await
        .expect(200);
    system
        .post(&system.admin, "/v1/companies", json!({"name": "Unseen"}))
        .await
        .expect(201);
    for mut stream in streams {
        assert!(
            stream.ends_within(Duration::from_secs(10)).await,
            "the stream ends"
        );
    }
    system.stop().await;
}

#[tokio::test]
async fn a_user_holds_at_most_four_streams_at_once() {
    let system = TestSystem::start().await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(
            system
                .follow(&system.admin, "/v1/events/stream", &[])
                .await
                .unwrap_or_else(|reply| panic!("a stream: {reply:?}")),
        );
    }
    let refused = system
        .follow(&system.admin, "/v1/events/stream", &[])
        .await
        .err()
        .expect("a fifth is refused");
    assert_eq!(refused.status.as_u16(), 429);
    assert!(refused.headers.contains_key("retry-after"), "{refused:?}");

    // A stream its client left is counted until the server finds it gone: at the next event.
    drop(open.pop());
    system
        .post(
            &system.admin,
            "/v1/companies",
            json!({"name": "Wakes them"}),
        )
        .await
        .expect(201);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match system.follow(&system.admin, "/v1/events/stream", &[]).await {
            Ok(_) => break,
            Err(reply) if reply.status.as_u16() == 429 => {
                assert!(std::time::Instant::now() < deadline, "the place is freed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(reply) => panic!("{reply:?}"),
        }
    }
    system.stop().await;
}
