//! Webhooks over real HTTP: a receiver of the test's own gets the customer events of the log,
//! in order, signed with the installation's key, each once, again after it failed, and across a
//! restart; users' events never leave; each delivery is logged as an export.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use system_tests::TestSystem;
use testkit::TestStream;

/// What the receiver accepted, and how many requests it will still fail.
#[derive(Default)]
struct Received {
    accepted: Vec<(HeaderMap, Bytes)>,
    failures_left: u32,
    /// The `webhook-id` of each request it failed.
    failed: Vec<String>,
}

/// A receiver on a port of its own; its URL.
async fn receiver(received: Arc<Mutex<Received>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                let mut received = received.lock().expect("the receiver's state");
                if received.failures_left > 0 {
                    received.failures_left -= 1;
                    let id = headers["webhook-id"]
                        .to_str()
                        .unwrap_or_default()
                        .to_owned();
                    received.failed.push(id);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                received.accepted.push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hook")
}

/// The events the receiver accepted, in the order it took them, once `position` is among them.
async fn delivered_through(received: &Arc<Mutex<Received>>, position: u64) -> Vec<Value> {
    for _ in 0..300 {
        let events: Vec<Value> = received
            .lock()
            .expect("the receiver's state")
            .accepted
            .iter()
            .flat_map(|(_, body)| {
                serde_json::from_slice::<Vec<Value>>(body).expect("a CloudEvents batch")
            })
            .collect();
        if events
            .iter()
            .any(|event| event["position"] == json!(position))
        {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("position {position} was not delivered within 30 s");
}

fn positions(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|event| event["position"].as_u64().expect("a position"))
        .collect()
}

#[tokio::test]
async fn a_webhook_gets_each_customer_event_once_in_order_signed_after_failures_and_a_restart() {
    let received = Arc::new(Mutex::new(Received {
        failures_left: 2,
        ..Received::default()
    }));
    let url = receiver(received.clone()).await;
    let settings = format!("[[webhooks]]\nname = \"sink\"\nurl = \"{url}\"\nfrom = \"start\"\n");
    let mut system = TestSystem::start_with(TestStream::new(), 1, &settings).await;
    let admin = system.admin.clone();
    let company = system
        .post(&admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201);
    // While the receiver fails, readiness says since when and why.
    let mut failing = Value::Null;
    for _ in 0..60 {
        failing = system.get(&admin, "/readyz").await.body["webhooks"][0].clone();
        if !failing["failing_since"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        failing["last_error"], "the receiver answered 503",
        "{failing}"
    );
    system
        .post(
            &admin,
            "/v1/users",
            json!({"username": "eve", "role": "sales"}),
        )
        .await
        .expect(201);
    let contact = system
        .post(
            &admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "company_id": company.id()}),
        )
        .await
        .expect(201);

    let events = delivered_through(&received, contact.position()).await;
    {
        let received = received.lock().unwrap();
        let first_accepted = received.accepted[0].0["webhook-id"].to_str().unwrap();
        assert_eq!(
            received.failed,
            vec![first_accepted.to_owned(); 2],
            "the batch that failed twice is sent again as it was"
        );
    }
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().expect("a type"))
        .collect();
    assert!(types.contains(&"crm.company.created.v1"), "{types:?}");
    assert!(types.contains(&"crm.contact.created.v1"), "{types:?}");
    assert!(
        types
            .iter()
            .all(|kind| !kind.starts_with("crm.user.") && !kind.starts_with("crm.username.")),
        "no user's event leaves: {types:?}"
    );
    let seen = positions(&events);
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "in order, each once: {seen:?}"
    );

    let key_file = system.data_dir().join(webhooks::PUBLIC_KEY_FILE);
    let key = crm::parse_key(&std::fs::read_to_string(key_file).expect("the webhooks' public key"))
        .expect("a public key");
    for (headers, body) in &received.lock().unwrap().accepted {
        let header = |name: &str| headers[name].to_str().expect("a header").to_owned();
        assert_eq!(header("content-type"), "application/cloudevents-batch+json");
        let timestamp: i64 = header("webhook-timestamp").parse().expect("a timestamp");
        assert!(
            webhooks::signature::verify(
                &key,
                "sink",
                &header("webhook-id"),
                timestamp,
                body,
                &header("webhook-signature")
            ),
            "a delivery verifies with the webhooks' key"
        );
    }

    // Across a restart it goes on after the last delivery, sending nothing twice.
    system.restart().await;
    let deal_pipeline = system.one_stage_pipeline().await;
    let later = system
        .patch(
            &admin,
            &format!("/v1/companies/{}", company.id()),
            json!({"industry": "Looms"}),
        )
        .await
        .expect(200);
    let events = delivered_through(&received, later.position()).await;
    let seen = positions(&events);
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "each once, in order: {seen:?}"
    );
    assert!(
        events.iter().any(
            |event| event["subject"] == json!(format!("pipeline/{deal_pipeline}"))
                || event["type"] == "crm.pipeline.created.v1"
        ),
        "the pipeline made after the restart is delivered"
    );

    // Readiness shows how far it delivered (the position moves just after the receiver's 2xx).
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = system.get(&admin, "/readyz").await.body["webhooks"].clone();
        if shown[0]["position"].as_u64() >= Some(later.position()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown[0]["name"], "sink", "{shown}");
    assert_eq!(shown[0]["failing_since"], Value::Null, "{shown}");
    assert!(
        shown[0]["position"].as_u64() >= Some(later.position()),
        "{shown}"
    );

    let exports = access_exports(&system).await;
    assert!(!exports.is_empty(), "each delivery is logged as an export");
    let named: Vec<&Value> = exports
        .iter()
        .flat_map(|payload| payload["records"].as_array().unwrap().iter())
        .collect();
    assert!(named.contains(&&json!({"collection": "companies", "id": company.id()})));
    assert!(named.contains(&&json!({"collection": "contacts", "id": contact.id()})));
    system.stop().await;
}

/// The access events of webhook deliveries.
async fn access_exports(system: &TestSystem) -> Vec<Value> {
    let (client, connection) = tokio_postgres::connect(&system.database.url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
        .query(
            "SELECT payload FROM events WHERE category = 'access' \
             AND payload->>'route' = 'POST webhook sink' ORDER BY position",
            &[],
        )
        .await
        .expect("the log reads")
        .iter()
        .map(|row| row.get(0))
        .collect()
}
