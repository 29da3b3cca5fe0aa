//! What a killed test leaves behind (its database, its streams) is removed by a later test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testkit::{TestDatabase, TestStream, admin_url};
use tokio_postgres::NoTls;

/// A name token as `unique_name` made it `hours` ago.
fn made_hours_ago(hours: u64) -> String {
    let then = SystemTime::now() - Duration::from_secs(hours * 3600);
    let seconds = then
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, seconds, 0);
    uuid::Uuid::new_v7(timestamp).simple().to_string()
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&admin_url(), NoTls)
        .await
        .expect("the shared server answers");
    tokio::spawn(connection);
    client
}

async fn database_exists(client: &tokio_postgres::Client, name: &str) -> bool {
    client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("pg_database reads")
        .is_some()
}

#[tokio::test]
async fn a_killed_tests_database_is_dropped_by_the_next_test_and_a_recent_one_is_kept() {
    let client = admin().await;
    let leftover = format!("crm_test_{}", made_hours_ago(2));
    let recent = format!("crm_test_{}", made_hours_ago(0));
    for name in [&leftover, &recent] {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("created");
    }

    let database = TestDatabase::empty().await;

    assert!(!database_exists(&client, &leftover).await);
    assert!(database_exists(&client, &recent).await);
    client
        .batch_execute(&format!("DROP DATABASE {recent}"))
        .await
        .expect("dropped");
    drop(database);
}

#[tokio::test]
async fn a_killed_tests_streams_are_deleted_by_the_next_test_and_a_recent_one_is_kept() {
    let leftover = format!("CRM_T{}", made_hours_ago(2).to_uppercase());
    let recent = format!("CRM_T{}", made_hours_ago(0).to_uppercase());
    let names = [
        leftover.clone(),
        format!("{leftover}_CHECKPOINTS"),
        recent.clone(),
    ];
    let stream = TestStream::new();
    let jetstream = async_nats::jetstream::new(stream.client().await);
    for name in &names {
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.>", name.to_lowercase())],
                ..Default::default()
            })
            .await
            .expect("created");
    }

    drop(stream);

    for (name, kept) in names.iter().zip([false, false, true]) {
        assert_eq!(jetstream.get_stream(name).await.is_ok(), kept, "{name}");
    }
    jetstream.delete_stream(&recent).await.expect("deleted");
}
