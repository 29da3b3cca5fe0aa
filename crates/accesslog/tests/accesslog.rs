//! The access log against the real PostgreSQL: an access commits before the data is released,
//! and when it cannot commit, nothing is released.

use accesslog::{Access, AccessError, AccessLog, Withheld};
use domain::access::{AccessAction, AccessOutcome, RecordAccessed, RecordRef};
use domain::values::Role;
use eventstore::{Appender, Category, Reader};
use testkit::{PrivatePostgres, TestDatabase};
use uuid::Uuid;

fn access(action: AccessAction) -> Access {
    Access {
        actor: "user:0192f0c4-5a6b-7c8d-9e0f-123456789abc".to_owned(),
        role: Some(Role::Support),
        action,
        route: "GET /v1/contacts/{id}".to_owned(),
        purpose: Some("customer called".to_owned()),
        request_id: Uuid::now_v7().to_string(),
        client: Some("127.0.0.1:4000".to_owned()),
    }
}

fn contact(id: Uuid) -> RecordRef {
    RecordRef {
        collection: "contacts".to_owned(),
        id,
    }
}

#[tokio::test]
async fn a_disclosed_read_is_in_the_log_under_the_record_read() {
    let database = TestDatabase::new().await;
    let pool = eventstore::connect(&database.store_settings())
        .await
        .unwrap();
    let log = AccessLog::new(Appender::start(pool.clone(), 64));
    let id = Uuid::now_v7();
    let read = access(AccessAction::Read);

    let data = log
        .disclose(&read, Withheld::new("the record", vec![contact(id)]))
        .await
        .expect("the access commits");
    assert_eq!(data, "the record");

    let events = Reader::new(pool).read_from(0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.category, Category::Access);
    assert_eq!(
        (event.stream.stream_type.as_str(), event.stream.stream_id),
        ("contact", id)
    );
    assert_eq!(event.stream_version, None);
    assert_eq!(event.actor, read.actor);
    let logged: RecordAccessed = serde_json::from_value(event.payload.clone()).unwrap();
    assert_eq!(logged.records, vec![contact(id)]);
    assert_eq!(logged.outcome, AccessOutcome::Allowed);
    assert_eq!(logged.purpose.as_deref(), Some("customer called"));
    assert_eq!(logged.request_id, read.request_id);
}

#[tokio::test]
async fn a_denied_attempt_is_logged_with_its_reason() {
    let database = TestDatabase::new().await;
    let pool = eventstore::connect(&database.store_settings())
        .await
        .unwrap();
    let log = AccessLog::new(Appender::start(pool.clone(), 64));
    let id = Uuid::now_v7();

    log.denied(
        &access(AccessAction::Read),
        vec![contact(id)],
        "another team's contact",
    )
    .await
    .unwrap();

    let events = Reader::new(pool).read_from(0, 10).await.unwrap();
    let logged: RecordAccessed = serde_json::from_value(events[0].payload.clone()).unwrap();
    assert_eq!(logged.outcome, AccessOutcome::Denied);
    assert_eq!(logged.reason.as_deref(), Some("another team's contact"));
}

#[tokio::test]
async fn no_data_is_released_when_the_access_cannot_commit() {
    let server = PrivatePostgres::start();
    let database = TestDatabase::empty_on(&server.admin_url()).await;
    let settings = database.store_settings();
    eventstore::migrate(&settings).await.unwrap();
    let pool = eventstore::connect(&settings).await.unwrap();
    let log = AccessLog::new(Appender::start(pool, 64));
    server.kill();

    let outcome = log
        .disclose(
            &access(AccessAction::Read),
            Withheld::new("secret", vec![contact(Uuid::now_v7())]),
        )
        .await;
    assert!(
        matches!(outcome, Err(AccessError::NotRecorded(_))),
        "{outcome:?}"
    );
}
