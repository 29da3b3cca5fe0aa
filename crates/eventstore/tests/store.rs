//! The event store against a real PostgreSQL: each test in a database of its own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use eventstore::{
    AppendRequest, Appender, EventMatch, ExpectedVersion, Metadata, NewEvent, NoneSince,
    StoreError, StoreSettings, StreamAppend, StreamRef, VerifyFrom,
};
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;

fn event(name: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        event_type: name.to_owned(),
        schema_version: 1,
        occurred_at: Utc::now(),
        payload,
    }
}

fn append_to(stream: &StreamRef, expected: ExpectedVersion, count: usize) -> AppendRequest {
    let events = (0..count)
        .map(|index| event("noted", json!({"index": index, "text": "a note"})))
        .collect();
    AppendRequest::new(
        Metadata::actor("user:test"),
        vec![StreamAppend::events(stream.clone(), expected, events)],
    )
}

async fn start(database: &TestDatabase) -> (Appender, deadpool_postgres::Pool) {
    let pool = eventstore::connect(&database.store_settings())
        .await
        .expect("the application connects");
    (Appender::start(pool.clone(), 256), pool)
}

/// Every (position, stream, version) in the log, in position order.
async fn log(database: &TestDatabase) -> Vec<(i64, String, Uuid, Option<i64>)> {
    let client = database.owner_client().await;
    client
        .query(
            "SELECT position, stream_type, stream_id, stream_version FROM events ORDER BY position",
            &[],
        )
        .await
        .expect("the log reads")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

fn assert_gapless(log: &[(i64, String, Uuid, Option<i64>)], expected_events: usize) {
    let positions: Vec<i64> = log.iter().map(|row| row.0).collect();
    let expected: Vec<i64> = (1..=expected_events as i64).collect();
    assert_eq!(
        positions, expected,
        "positions are 1..N, no gap, no duplicate"
    );
    let mut versions: BTreeMap<(String, Uuid), Vec<i64>> = BTreeMap::new();
    for (_, stream_type, stream_id, version) in log {
        if let Some(version) = version {
            versions
                .entry((stream_type.clone(), *stream_id))
                .or_default()
                .push(*version);
        }
    }
    for (stream, versions) in versions {
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(
            versions, expected,
            "versions of {stream:?} are 1..n in position order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_appends_at_the_same_version_one_commits_one_conflicts() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("deal", Uuid::now_v7());
    appender
        .append(append_to(&stream, ExpectedVersion::NoStream, 1))
        .await
        .expect("the stream is created");

    let first = appender.append(append_to(&stream, ExpectedVersion::Exactly(1), 1));
    let second = appender.append(append_to(&stream, ExpectedVersion::Exactly(1), 1));
    let (first, second) = tokio::join!(first, second);

    let (won, lost) = match (first, second) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one append commits: {other:?}"),
    };
    assert_eq!(won.streams[0].version, Some(2));
    match lost {
        StoreError::Conflict {
            actual, expected, ..
        } => {
            assert_eq!(actual, Some(2));
            assert_eq!(expected, ExpectedVersion::Exactly(1));
        }
        other => panic!("the loser gets a conflict, not {other:?}"),
    }
    assert_gapless(&log(&database).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_fails_only_its_own_request_in_a_batch() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let contended = StreamRef::new("deal", Uuid::now_v7());
    let requests = (0..20).map(|index| {
        let appender = appender.clone();
        let contended = contended.clone();
        tokio::spawn(async move {
            if index % 2 == 0 {
                appender
                    .append(append_to(&contended, ExpectedVersion::NoStream, 1))
                    .await
            } else {
                let own = StreamRef::new("contact", Uuid::now_v7());
                appender
                    .append(append_to(&own, ExpectedVersion::NoStream, 2))
                    .await
            }
        })
    });
    let results = futures::future::join_all(requests).await;
    let (mut committed, mut conflicts) = (0, 0);
    for (index, result) in results.into_iter().enumerate() {
        match result.expect("the task ran") {
            Ok(_) if index % 2 == 1 => committed += 1,
            Ok(_) => committed += 1,
            Err(StoreError::Conflict { .. }) if index % 2 == 0 => conflicts += 1,
            Err(other) => panic!("request {index} failed with {other}"),
        }
    }
    assert_eq!(
        (committed, conflicts),
        (11, 9),
        "one creation of the contended stream wins"
    );
    assert_gapless(&log(&database).await, 1 + 10 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_appends_once_and_returns_the_first_result() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("contact", Uuid::now_v7());
    let request = || append_to(&stream, ExpectedVersion::NoStream, 2).idempotent("key-1", b"body");

    let first = appender
        .append(request())
        .await
        .expect("the first append commits");
    let retry = appender
        .append(request())
        .await
        .expect("the retry is answered");
    assert!(!first.replayed);
    assert!(retry.replayed);
    assert_eq!(
        (
            retry.first_position,
            retry.last_position,
            &retry.event_ids,
            &retry.streams
        ),
        (
            first.first_position,
            first.last_position,
            &first.event_ids,
            &first.streams
        )
    );

    let other_content =
        append_to(&stream, ExpectedVersion::NoStream, 2).idempotent("key-1", b"other");
    match appender.append(other_content).await {
        Err(StoreError::IdempotencyMismatch { key }) => assert_eq!(key, "key-1"),
        other => panic!("the same key with other content is refused: {other:?}"),
    }
    assert_eq!(
        log(&database).await.len(),
        2,
        "only the first append wrote events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_append_of_no_events_records_its_key_while_the_stream_holds() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("deal", Uuid::now_v7());
    appender
        .append(append_to(&stream, ExpectedVersion::NoStream, 2))
        .await
        .expect("the stream is created");
    let nothing = |version| {
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::unchanged(stream.clone(), version)],
        )
        .idempotent("no-change", b"body")
    };

    let first = appender
        .append(nothing(2))
        .await
        .expect("a change to nothing with a key is recorded");
    assert_eq!(
        (
            first.first_position,
            first.last_position,
            first.event_ids.len()
        ),
        (3, 2, 0),
        "no events: the log's position it was judged at"
    );
    assert_eq!(first.streams[0].version, Some(2));

    appender
        .append(append_to(&stream, ExpectedVersion::Exactly(2), 1))
        .await
        .expect("the stream moves on");
    let retry = appender
        .append(nothing(2))
        .await
        .expect("the retry is answered as recorded, though the stream moved");
    assert!(retry.replayed);
    assert_eq!(
        (retry.last_position, &retry.streams),
        (first.last_position, &first.streams)
    );

    match appender
        .append(nothing(2).idempotent("no-change-late", b"body"))
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, Some(3)),
        other => panic!("a new key is judged on the stream as it is: {other:?}"),
    }
    assert_gapless(&log(&database).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_key_append_once() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("lead", Uuid::now_v7());
    let retries = (0..16).map(|_| {
        let appender = appender.clone();
        let request = append_to(&stream, ExpectedVersion::Any, 1).idempotent("same", b"same");
        tokio::spawn(async move { appender.append(request).await })
    });
    let results: Vec<_> = futures::future::join_all(retries)
        .await
        .into_iter()
        .map(|result| {
            result
                .expect("the task ran")
                .expect("every retry is answered")
        })
        .collect();
    let positions: HashSet<u64> = results.iter().map(|r| r.first_position).collect();
    assert_eq!(positions.len(), 1, "all retries return the same position");
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    assert_eq!(log(&database).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_append_to_several_streams_commits_them_together() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let (contact, company, deal) = (
        StreamRef::new("contact", Uuid::now_v7()),
        StreamRef::new("company", Uuid::now_v7()),
        StreamRef::new("deal", Uuid::now_v7()),
    );
    appender
        .append(append_to(&deal, ExpectedVersion::NoStream, 1))
        .await
        .expect("the deal exists");

    // The deal's expected version is stale, so nothing of the conversion may commit.
    let conversion = |deal_expected| {
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![
                StreamAppend::events(
                    contact.clone(),
                    ExpectedVersion::NoStream,
                    vec![event("created", json!({}))],
                ),
                StreamAppend::events(
                    company.clone(),
                    ExpectedVersion::NoStream,
                    vec![event("created", json!({}))],
                ),
                StreamAppend::events(
                    deal.clone(),
                    deal_expected,
                    vec![event("opened", json!({}))],
                ),
            ],
        )
    };
    let refused = appender.append(conversion(ExpectedVersion::NoStream)).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(
        log(&database).await.len(),
        1,
        "nothing of the refused append was written"
    );

    let appended = appender
        .append(conversion(ExpectedVersion::Exactly(1)))
        .await
        .expect("the conversion commits");
    assert_eq!((appended.first_position, appended.last_position), (2, 4));
    let versions: Vec<Option<u64>> = appended.streams.iter().map(|s| s.version).collect();
    assert_eq!(versions, vec![Some(1), Some(1), Some(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_accesses_share_the_log_without_moving_versions() {
    let database = TestDatabase::new().await;
    let (appender, pool) = start(&database).await;
    let contact = StreamRef::new("contact", Uuid::now_v7());
    appender
        .append(append_to(&contact, ExpectedVersion::NoStream, 1))
        .await
        .expect("created");
    let read = AppendRequest::new(
        Metadata::actor("user:reader"),
        vec![StreamAppend::access(
            contact.clone(),
            vec![event("accessed", json!({"action": "read"}))],
        )],
    );
    let logged = appender.append(read).await.expect("the access is logged");
    assert_eq!(
        (logged.first_position, logged.streams[0].version),
        (2, None)
    );
    appender
        .append(append_to(&contact, ExpectedVersion::Exactly(1), 1))
        .await
        .expect("the access did not move the version");

    let reader = eventstore::Reader::new(pool);
    let loaded = reader.load_stream(&contact, 0).await.expect("loads");
    let versions: Vec<Option<u64>> = loaded.iter().map(|e| e.stream_version).collect();
    assert_eq!(
        versions,
        vec![Some(1), Some(2)],
        "loading a stream skips accesses"
    );
    assert_eq!(reader.head().await.expect("head").position, 3);
}

/// Each appender chains its next batch onto the head its own last one left and remembers the
/// versions it wrote; an appender of another process moves both behind its back. Every kind of
/// request must still be judged on the log as it is: a stale expectation conflicts, `Any` and a
/// new stream land after the other's events, and the chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_whose_head_and_versions_another_process_moved_judges_on_the_log() {
    let database = TestDatabase::new().await;
    let (mine, _) = start(&database).await;
    let (theirs, _) = start(&database).await;
    let deal = StreamRef::new("deal", Uuid::now_v7());
    let version = |appended: &eventstore::Appended| appended.streams[0].version;

    let created = mine
        .append(append_to(&deal, ExpectedVersion::NoStream, 1))
        .await
        .expect("created");
    assert_eq!(version(&created), Some(1));
    theirs
        .append(append_to(&deal, ExpectedVersion::Exactly(1), 1))
        .await
        .expect("the other process appends");

    let stale = mine
        .append(append_to(&deal, ExpectedVersion::Exactly(1), 1))
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                actual: Some(2),
                ..
            })
        ),
        "{stale:?}"
    );
    let any = mine
        .append(append_to(&deal, ExpectedVersion::Any, 1))
        .await
        .expect("appended after the other's event");
    assert_eq!((any.first_position, version(&any)), (3, Some(3)));

    theirs
        .append(append_to(&deal, ExpectedVersion::Exactly(3), 2))
        .await
        .expect("the other process appends again");
    let elsewhere = StreamRef::new("contact", Uuid::now_v7());
    let new_stream = mine
        .append(append_to(&elsewhere, ExpectedVersion::NoStream, 1))
        .await
        .expect("a new stream after the other's events");
    assert_eq!(new_stream.first_position, 6);
    let any = mine
        .append(append_to(&deal, ExpectedVersion::Any, 1))
        .await
        .expect("appended after the other's events");
    assert_eq!((any.first_position, version(&any)), (7, Some(6)));
    let current = mine
        .append(append_to(&deal, ExpectedVersion::Exactly(6), 1))
        .await
        .expect("its own last version is current again");
    assert_eq!(version(&current), Some(7));

    let theirs_alone = StreamRef::new("company", Uuid::now_v7());
    theirs
        .append(append_to(&theirs_alone, ExpectedVersion::NoStream, 1))
        .await
        .expect("the other process creates a stream");
    // Behind the other's append, so this one learns the head again; the stream stays unknown.
    mine.append(append_to(&elsewhere, ExpectedVersion::Exactly(1), 1))
        .await
        .expect("appended");
    let again = mine
        .append(append_to(&theirs_alone, ExpectedVersion::NoStream, 1))
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::Conflict {
                actual: Some(1),
                ..
            })
        ),
        "a stream another process created cannot be created again: {again:?}"
    );

    assert_gapless(&log(&database).await, 10);
    let mut client = database.owner_client().await;
    let verification = eventstore::verify(&mut client, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert!(verification.is_ok(), "{verification:?}");
}

/// A deal moved on a pipeline's stages: its append expects the pipeline unchanged.
fn move_expecting(deal: &StreamRef, pipeline: &StreamRef, pipeline_version: u64) -> AppendRequest {
    AppendRequest::new(
        Metadata::actor("user:test"),
        vec![
            StreamAppend::events(
                deal.clone(),
                ExpectedVersion::Any,
                vec![event("stage_changed", json!({"to": "won"}))],
            ),
            StreamAppend::unchanged(pipeline.clone(), pipeline_version),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_expecting_another_stream_unchanged_holds_only_while_it_is() {
    let database = TestDatabase::new().await;
    let (mine, _) = start(&database).await;
    let (theirs, _) = start(&database).await;
    let deal = StreamRef::new("deal", Uuid::now_v7());
    let pipeline = StreamRef::new("pipeline", Uuid::now_v7());

    // A stream that does not exist is at version 0, also when this process never saw it.
    let absent = mine.append(move_expecting(&deal, &pipeline, 0)).await;
    let appended = absent.expect("the pipeline is still absent");
    assert_eq!(
        appended.last_position, 1,
        "only the deal's event is written"
    );
    assert_eq!(appended.streams[1].version, None);
    theirs
        .append(append_to(&pipeline, ExpectedVersion::NoStream, 1))
        .await
        .expect("another process creates the pipeline");
    let stale = mine.append(move_expecting(&deal, &pipeline, 0)).await;
    assert!(
        matches!(&stale, Err(StoreError::Conflict { stream, actual: Some(1), .. }) if *stream == pipeline),
        "{stale:?}"
    );
    let current = mine
        .append(move_expecting(&deal, &pipeline, 1))
        .await
        .expect("the pipeline is at 1");
    assert_eq!(current.streams[1].version, Some(1));

    // Changed by this process, in a batch that may still be committing: known at once.
    let (changed, moved) = tokio::join!(
        mine.append(append_to(&pipeline, ExpectedVersion::Exactly(1), 1)),
        async {
            tokio::task::yield_now().await;
            mine.append(move_expecting(&deal, &pipeline, 1)).await
        }
    );
    changed.expect("the pipeline changes");
    match moved {
        Ok(appended) => assert!(
            appended.first_position < 5,
            "a move expecting version 1 committed after the change: {appended:?}"
        ),
        Err(StoreError::Conflict { stream, .. }) => assert_eq!(stream, pipeline),
        Err(other) => panic!("{other:?}"),
    }
    for _ in 0..20 {
        let late = mine.append(move_expecting(&deal, &pipeline, 1)).await;
        assert!(matches!(late, Err(StoreError::Conflict { .. })), "{late:?}");
    }

    // Nothing but events: an append that would write none is refused.
    let nothing = AppendRequest::new(
        Metadata::actor("user:test"),
        vec![StreamAppend::unchanged(pipeline.clone(), 2)],
    );
    assert!(matches!(
        mine.append(nothing).await,
        Err(StoreError::Invalid(_))
    ));
    let versions: Vec<Option<i64>> = log(&database)
        .await
        .into_iter()
        .filter(|(_, stream_type, _, _)| stream_type == "pipeline")
        .map(|(_, _, _, version)| version)
        .collect();
    assert_eq!(
        versions,
        [Some(1), Some(2)],
        "expecting a stream never writes it"
    );
}

/// A stage removed from a pipeline, unless a deal entered the stage after `after`.
fn removal_unless_entered_since(pipeline: &StreamRef, after: u64) -> AppendRequest {
    let mut request = append_to(pipeline, ExpectedVersion::Any, 1);
    request.none_since = Some(NoneSince {
        position: after,
        stream_type: "deal".to_owned(),
        matching: vec![EventMatch {
            event_type: "stage_changed".to_owned(),
            payload_contains: Some(json!({"to": "won"})),
        }],
    });
    request
}

fn deal_moved_to(stage: &str) -> AppendRequest {
    let mut request = append_to(
        &StreamRef::new("deal", Uuid::now_v7()),
        ExpectedVersion::Any,
        0,
    );
    request.streams[0].events = vec![event("stage_changed", json!({"to": stage, "from": "new"}))];
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_unless_an_event_came_after_a_position_is_judged_on_the_whole_log() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let pipeline = StreamRef::new("pipeline", Uuid::now_v7());
    let other_stage = appender.append(deal_moved_to("lost")).await.expect("moved");
    let entered = appender.append(deal_moved_to("won")).await.expect("moved");

    let refused = appender
        .append(removal_unless_entered_since(
            &pipeline,
            other_stage.last_position,
        ))
        .await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { position }) if position == entered.last_position),
        "{refused:?}"
    );
    appender
        .append(removal_unless_entered_since(
            &pipeline,
            entered.last_position,
        ))
        .await
        .expect("nothing matching came after");

    // Under a stream of pipelined appends, a conditional one that commits had no matching
    // event between its position and the one it names.
    let movers: Vec<_> = (0..4)
        .map(|_| {
            let appender = appender.clone();
            tokio::spawn(async move {
                for index in 0..150 {
                    let stage = if index % 3 == 0 { "won" } else { "lost" };
                    appender.append(deal_moved_to(stage)).await.expect("moved");
                }
            })
        })
        .collect();
    let (_, pool) = start(&database).await;
    let reader = eventstore::Reader::new(pool);
    let mut outcomes = Vec::new();
    for _ in 0..30 {
        let head = reader.head().await.expect("the head").position;
        let outcome = appender
            .append(removal_unless_entered_since(&pipeline, head))
            .await;
        outcomes.push((head, outcome));
    }
    for mover in movers {
        mover.await.expect("the mover finishes");
    }
    let client = database.owner_client().await;
    let won: Vec<i64> = client
        .query(
            "SELECT position FROM events WHERE event_type = 'stage_changed' AND payload @> '{\"to\": \"won\"}'",
            &[],
        )
        .await
        .expect("reads")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut committed = 0;
    for (after, outcome) in outcomes {
        match outcome {
            Ok(appended) => {
                committed += 1;
                let at = appended.first_position as i64;
                assert!(
                    !won.iter()
                        .any(|&position| position > after as i64 && position < at),
                    "committed at {at} though a deal entered the stage after {after}"
                );
            }
            Err(StoreError::ConditionFailed { position }) => {
                assert!(position > after && won.contains(&(position as i64)));
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(committed > 0, "some removals found nothing in their way");
    assert_gapless(&log(&database).await, 2 + 1 + 600 + committed);
}

/// When `CRM_TEST_APPEND_INTO` names a database, this test is one worker of
/// `appends_from_two_processes_share_one_gapless_log` and appends its share there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_appends_from_32_tasks_have_gapless_positions_and_versions() {
    let shared = std::env::var("CRM_TEST_APPEND_INTO").ok();
    let database = match &shared {
        Some(_) => None,
        None => Some(TestDatabase::new().await),
    };
    let settings = match (&shared, &database) {
        (Some(url), _) => StoreSettings {
            url: url.clone(),
            ..StoreSettings::default()
        },
        (None, Some(database)) => database.store_settings(),
        (None, None) => unreachable!("one of the two is set"),
    };
    let appends = if shared.is_some() { 5_000 } else { 10_000 };
    let pool = eventstore::connect(&settings).await.expect("connects");
    let appender = Appender::start(pool, 256);
    let streams: Arc<Vec<StreamRef>> = Arc::new(
        (0..64)
            .map(|index| StreamRef::new(["contact", "deal"][index % 2], Uuid::now_v7()))
            .collect(),
    );
    let tasks = (0..32).map(|task| {
        let appender = appender.clone();
        let streams = streams.clone();
        tokio::spawn(async move {
            let mut positions = Vec::new();
            for index in (task..appends).step_by(32) {
                let stream = &streams[index % streams.len()];
                let appended = appender
                    .append(append_to(stream, ExpectedVersion::Any, 1))
                    .await
                    .expect("every append commits");
                positions.push(appended.first_position);
            }
            positions
        })
    });
    let mut positions: Vec<u64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|task| task.expect("the task ran"))
        .collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        appends,
        "every append got a position of its own"
    );
    if let Some(database) = database {
        assert_gapless(&log(&database).await, appends);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_two_processes_share_one_gapless_log() {
    let database = TestDatabase::new().await;
    let this_test_binary = std::env::current_exe().expect("the test binary's path");
    let workers: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&this_test_binary)
                .args([
                    "--exact",
                    "ten_thousand_appends_from_32_tasks_have_gapless_positions_and_versions",
                ])
                .env("CRM_TEST_APPEND_INTO", &database.url)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a worker process starts")
        })
        .collect();
    for mut worker in workers {
        assert!(
            worker.wait().expect("the worker ends").success(),
            "the worker's appends all committed"
        );
    }
    assert_gapless(&log(&database).await, 10_000);
    let mut client = database.owner_client().await;
    let verification = eventstore::verify(&mut client, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert!(verification.is_ok(), "{verification:?}");
    assert_eq!(verification.checked, 10_000);
}

#[tokio::test]
async fn update_delete_and_truncate_are_refused_even_with_replication_role_replica() {
    let database = TestDatabase::new().await;
    let (appender, pool) = start(&database).await;
    let stream = StreamRef::new("contact", Uuid::now_v7());
    appender
        .append(append_to(&stream, ExpectedVersion::NoStream, 1))
        .await
        .expect("appended");

    let owner = database.owner_client().await;
    for role in ["origin", "replica"] {
        owner
            .batch_execute(&format!("SET session_replication_role = {role}"))
            .await
            .expect("the owner may set the replication role");
        for (table, column) in [
            ("events", "actor"),
            ("checkpoints", "key_id"),
            ("signing_keys", "key_id"),
            ("idempotency_keys", "key"),
        ] {
            for statement in [
                format!("UPDATE {table} SET {column} = {column}"),
                format!("DELETE FROM {table}"),
                format!("TRUNCATE {table} CASCADE"),
            ] {
                let error = owner
                    .batch_execute(&statement)
                    .await
                    .expect_err(&format!("{statement} is refused ({role})"));
                let message = error
                    .as_db_error()
                    .map(|e| e.message().to_owned())
                    .unwrap_or_default();
                assert!(message.contains("append-only"), "{statement}: {message}");
            }
        }
    }

    // The application's role has no right to change anything, whatever the triggers say.
    let app = pool.get().await.expect("an application connection");
    for statement in [
        "UPDATE events SET actor = 'x'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = app.batch_execute(statement).await.expect_err(statement);
        let code = error.as_db_error().map(|e| e.code().code().to_owned());
        assert_eq!(
            code.as_deref(),
            Some("42501"),
            "{statement}: permission denied"
        );
    }
    assert_eq!(log(&database).await.len(), 1);
}

#[tokio::test]
async fn verify_passes_an_honest_log_and_names_the_altered_position() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    for _ in 0..10 {
        let stream = StreamRef::new("contact", Uuid::now_v7());
        appender
            .append(append_to(&stream, ExpectedVersion::NoStream, 3))
            .await
            .expect("appended");
    }
    let mut owner = database.owner_client().await;
    let honest = eventstore::verify(&mut owner, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert!(honest.is_ok(), "{honest:?}");
    assert_eq!((honest.checked, honest.position), (30, 30));

    owner
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_append_only;
             UPDATE events SET payload = '{\"index\": 99, \"text\": \"a note\"}' WHERE position = 17;
             ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only;",
        )
        .await
        .expect("the owner lifts the protection and alters a row");
    let tampered = eventstore::verify(&mut owner, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert_eq!(tampered.broken.map(|b| b.position), Some(17));
}

#[tokio::test]
async fn verify_finds_a_removed_tail() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("contact", Uuid::now_v7());
    appender
        .append(append_to(&stream, ExpectedVersion::NoStream, 5))
        .await
        .expect("appended");
    let mut owner = database.owner_client().await;
    owner
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_append_only;
             DELETE FROM events WHERE position > 3;",
        )
        .await
        .expect("the owner removes the tail");
    let verification = eventstore::verify(&mut owner, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert_eq!(verification.broken.map(|b| b.position), Some(4));
}

#[tokio::test]
async fn payloads_of_any_shape_read_back_to_the_same_hash() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let payloads = [
        json!({"b": 1, "a": [1.5, -0.0, 1e300, 18446744073709551615u64, -9223372036854775808i64]}),
        json!({"unicode": "Zoë — 東京 😀", "escapes": "quote \" backslash \\ tab \t newline \n"}),
        json!({"nested": {"z": {"y": {"x": [null, true, false, {}]}}}, "": "empty key"}),
        json!(0.30000000000000004),
        json!(-5.449687745019645e224),
        json!([
            1e16,
            1.5e17,
            -1e17,
            1e19,
            1.8446744073709552e19,
            -1e19,
            123456789012345.5
        ]),
        json!([]),
        json!("text"),
        (0..eventstore::MAX_PAYLOAD_DEPTH).fold(json!("deepest"), |inner, _| json!([inner])),
    ];
    for payload in payloads {
        let stream = StreamRef::new("note", Uuid::now_v7());
        let request = AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::events(
                stream,
                ExpectedVersion::NoStream,
                vec![event("noted", payload)],
            )],
        );
        appender.append(request).await.expect("appended");
    }
    let mut owner = database.owner_client().await;
    let verification = eventstore::verify(&mut owner, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert!(verification.is_ok(), "{verification:?}");
    assert_eq!(verification.checked, 9);
}

#[tokio::test]
async fn invalid_appends_are_refused_before_anything_is_written() {
    let database = TestDatabase::new().await;
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("contact", Uuid::now_v7());
    let cases = [
        AppendRequest::new(Metadata::actor("user:test"), vec![]),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::unchanged(stream.clone(), 0)],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::events(
                StreamRef::new("Bad Type", Uuid::now_v7()),
                ExpectedVersion::Any,
                vec![event("x", json!({}))],
            )],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::events(
                stream.clone(),
                ExpectedVersion::Any,
                vec![event("noted", json!({"a": "nul\u{0}"}))],
            )],
        ),
        AppendRequest::new(
            Metadata::actor(""),
            vec![StreamAppend::events(
                stream.clone(),
                ExpectedVersion::Any,
                vec![event("noted", json!({}))],
            )],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![
                StreamAppend::events(
                    stream.clone(),
                    ExpectedVersion::Any,
                    vec![event("noted", json!({}))],
                ),
                StreamAppend::events(
                    stream.clone(),
                    ExpectedVersion::Any,
                    vec![event("noted", json!({}))],
                ),
            ],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend {
                expected: ExpectedVersion::Exactly(3),
                ..StreamAppend::access(stream.clone(), vec![event("accessed", json!({}))])
            }],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::events(
                stream.clone(),
                ExpectedVersion::Any,
                vec![event(
                    "noted",
                    json!({"big": "x".repeat(eventstore::MAX_PAYLOAD_BYTES)}),
                )],
            )],
        ),
        AppendRequest::new(
            Metadata::actor("user:test"),
            vec![StreamAppend::events(
                stream.clone(),
                ExpectedVersion::Any,
                vec![event(
                    "noted",
                    (0..=eventstore::MAX_PAYLOAD_DEPTH).fold(json!(1), |inner, _| json!([inner])),
                )],
            )],
        ),
    ];
    for (index, request) in cases.into_iter().enumerate() {
        let result = appender.append(request).await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "case {index}: {result:?}"
        );
    }
    assert!(log(&database).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_that_names_the_setting() {
    let settings = StoreSettings {
        url: format!("postgres://postgres@127.0.0.1:{}/crm", testkit::free_port()),
        ..StoreSettings::default()
    };
    let error = eventstore::connect(&settings)
        .await
        .expect_err("no pool without a database");
    let message = error.to_string();
    assert!(message.starts_with("setting database_url:"), "{message}");
    let error = eventstore::migrate(&settings)
        .await
        .expect_err("no migration without a database");
    assert!(
        error.to_string().starts_with("setting database_url:"),
        "{error}"
    );

    let settings = StoreSettings {
        url: "not a url".to_owned(),
        ..StoreSettings::default()
    };
    let error = eventstore::connect(&settings)
        .await
        .expect_err("a malformed URL is refused");
    assert!(
        error.to_string().starts_with("setting database_url:"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_fails_pending_appends_cleanly_and_appending_resumes_after_restart() {
    let server = testkit::PrivatePostgres::start();
    let database = TestDatabase::empty_on(&server.admin_url()).await;
    eventstore::migrate(&database.store_settings())
        .await
        .expect("migrates");
    let (appender, _) = start(&database).await;
    let stream = StreamRef::new("contact", Uuid::now_v7());
    appender
        .append(append_to(&stream, ExpectedVersion::NoStream, 1))
        .await
        .expect("appended before the crash");

    server.kill();
    // Refused before it was sent, or (sent on the connection the crash broke) of an outcome
    // that cannot be told while the server is down: never reported as unwritten when it may
    // have been written.
    let during = appender
        .append(append_to(&stream, ExpectedVersion::Exactly(1), 1))
        .await;
    assert!(
        matches!(
            during,
            Err(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_))
        ),
        "{during:?}"
    );

    server.restart();
    let mut after = None;
    for _ in 0..50 {
        match appender
            .append(append_to(&stream, ExpectedVersion::Exactly(1), 1))
            .await
        {
            Ok(appended) => {
                after = Some(appended);
                break;
            }
            Err(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(other) => panic!("after the restart: {other}"),
        }
    }
    let after = after.expect("appends resume once the database is back");
    assert_eq!(
        (after.first_position, after.streams[0].version),
        (2, Some(2))
    );
    let mut owner = database.owner_client().await;
    let verification = eventstore::verify(&mut owner, VerifyFrom::Genesis)
        .await
        .expect("verifies");
    assert!(verification.is_ok(), "{verification:?}");
    assert_eq!(verification.checked, 2);
}

/// Where a [`Proxy`] cuts the next connection that carries something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The server's answer that ends a transaction (it ends in `ReadyForQuery`): what the
    /// client sent was committed, and the client never hears of it.
    AnswerAfterCommit,
    /// The client's request: the server never gets it.
    Request,
}

/// Whether the server's bytes end with `ReadyForQuery` ('Z', length 5, a status byte).
fn ends_a_transaction(bytes: &[u8]) -> bool {
    matches!(bytes, [.., b'Z', 0, 0, 0, 5, b'I' | b'T' | b'E'])
}

/// A TCP proxy in front of the database's server that cuts a connection when asked.
struct Proxy {
    port: u16,
    armed: Arc<std::sync::Mutex<Option<Cut>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy listens");
        let port = listener.local_addr().expect("an address").port();
        let armed = Arc::new(std::sync::Mutex::new(None));
        let task = {
            let armed = armed.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    tokio::spawn(pipe(client, server, armed.clone()));
                }
            })
        };
        Proxy {
            port,
            armed,
            _task: task,
        }
    }

    fn arm(&self, cut: Cut) {
        *self.armed.lock().expect("the lock") = Some(cut);
    }

    /// `database`'s settings, connecting through the proxy.
    fn settings(&self, database: &TestDatabase) -> StoreSettings {
        let settings = database.store_settings();
        let (scheme, rest) = settings.url.split_once("://").expect("a URL");
        let (authority, path) = rest.split_once('/').expect("a database name");
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"));
        StoreSettings {
            url: format!(
                "{scheme}://{}127.0.0.1:{}/{path}",
                user.unwrap_or_default(),
                self.port
            ),
            ..settings
        }
    }
}

fn upstream_of(database: &TestDatabase) -> String {
    let config: tokio_postgres::Config = database.url.parse().expect("a URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the test database is not on TCP: {other:?}"),
    };
    format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(5432)
    )
}

/// Passes bytes both ways until one side closes, or until it is armed to cut the direction that
/// carries something next: then it drops both sockets instead of passing that on.
async fn pipe(
    mut client: tokio::net::TcpStream,
    mut server: tokio::net::TcpStream,
    armed: Arc<std::sync::Mutex<Option<Cut>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cut_now = |direction: Cut| {
        let mut armed = armed.lock().expect("the lock");
        let cut = *armed == Some(direction);
        if cut {
            *armed = None;
        }
        cut
    };
    let (mut from_client, mut from_server) = (vec![0u8; 65536], vec![0u8; 65536]);
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let Ok(n @ 1..) = read else { return };
                if cut_now(Cut::Request) || server.write_all(&from_client[..n]).await.is_err() {
                    return;
                }
            }
            read = server.read(&mut from_server) => {
                let Ok(n @ 1..) = read else { return };
                let answer = &from_server[..n];
                if (ends_a_transaction(answer) && cut_now(Cut::AnswerAfterCommit))
                    || client.write_all(answer).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_connection_fails_is_answered_as_it_turned_out() {
    let database = TestDatabase::new().await;
    let proxy = Proxy::start(upstream_of(&database)).await;
    let pool = eventstore::connect(&proxy.settings(&database))
        .await
        .expect("the application connects through the proxy");
    let appender = Appender::start(pool, 256);
    let stream = &StreamRef::new("contact", Uuid::now_v7());
    let appender = &appender;
    let append = |version| async move {
        let expected = match version {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exactly(version),
        };
        appender.append(append_to(stream, expected, 1)).await
    };
    // The first append is written under the head lock, the next on the connection batches are
    // chained on: the cuts below must find it made, to cut the append itself.
    for version in 0..2 {
        append(version).await.expect("appends commit");
    }

    // The server committed, and its answer was lost with the connection: the append is
    // answered as committed, not as failed (a client told it failed would send it again).
    proxy.arm(Cut::AnswerAfterCommit);
    let lost_answer = append(2).await.expect("answered as committed");
    assert_eq!(
        (lost_answer.first_position, lost_answer.streams[0].version),
        (3, Some(3))
    );
    // As at the start: under the head lock, then on a new connection.
    for version in 3..5 {
        append(version).await.expect("appends go on");
    }

    // The request was lost with the connection: nothing was written, and it says so.
    proxy.arm(Cut::Request);
    let lost_request = append(5).await;
    assert!(
        matches!(lost_request, Err(StoreError::Unavailable(_))),
        "{lost_request:?}"
    );

    let after = append(5).await.expect("appends go on");
    assert_eq!(after.first_position, 6);
    let log = log(&database).await;
    assert_gapless(&log, 6);
}
