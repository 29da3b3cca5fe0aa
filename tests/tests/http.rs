//! The HTTP server's own limits: a client that does not finish a request head or body in time,
//! or sits idle on a kept-alive connection, is disconnected; one that does is answered; and no
//! more connections than the limit are served at once.

use std::time::{Duration, Instant};

use system_tests::TestSystem;
use testkit::TestStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn until_closed(connection: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), connection.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("the connection reads");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_request_head_must_come_in_time_and_an_idle_connection_is_closed() {
    let settings = "[api]\nheader_timeout_ms = 500\n";
    let system = TestSystem::start_with(TestStream::new(), 1, settings).await;
    let address = system.base.trim_start_matches("http://").to_owned();

    // Half a request head, then nothing: the server gives up on it.
    let mut dribbling = TcpStream::connect(&address).await.expect("connects");
    dribbling
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: crm\r\n")
        .await
        .expect("writes");
    let (answer, waited) = until_closed(&mut dribbling).await;
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    assert!(!answer.contains("200 OK"), "{answer}");

    // A whole request is answered; the connection, kept alive, then closes once idle.
    let mut client = TcpStream::connect(&address).await.expect("connects");
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: crm\r\n\r\n")
        .await
        .expect("writes");
    let (answer, _) = until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    system.stop().await;
}

#[tokio::test]
async fn a_request_body_must_come_in_time_or_is_answered_408_and_nothing_is_written() {
    let settings = "[api]\nbody_timeout_ms = 500\n";
    let system = TestSystem::start_with(TestStream::new(), 1, settings).await;
    let address = system.base.trim_start_matches("http://").to_owned();

    // A whole head announcing a body, then only its first bytes.
    let mut dribbling = TcpStream::connect(&address).await.expect("connects");
    let head = format!(
        "POST /v1/companies HTTP/1.1\r\nHost: crm\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\": \"Ac",
        system.admin
    );
    dribbling.write_all(head.as_bytes()).await.expect("writes");
    let (answer, waited) = until_closed(&mut dribbling).await;
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("urn:crm:problem:request-timeout"),
        "{answer}"
    );

    let companies = system.get(&system.admin, "/v1/companies").await.expect(200);
    assert_eq!(companies.body["items"], serde_json::json!([]));
    system.stop().await;
}

/// Sends a request for `/healthz` on `connection` and reads the head of its answer.
async fn health(connection: &mut TcpStream) -> String {
    connection
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: crm\r\n\r\n")
        .await
        .expect("writes");
    let mut answer = vec![0; 1024];
    let read = connection.read(&mut answer).await.expect("reads");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn past_the_connection_limit_a_client_waits_until_a_connection_closes() {
    let settings = "[api]\nmax_connections = 2\n";
    let system = TestSystem::start_with(TestStream::new(), 1, settings).await;
    let address = system.base.trim_start_matches("http://").to_owned();

    let mut first = TcpStream::connect(&address).await.expect("connects");
    let mut second = TcpStream::connect(&address).await.expect("connects");
    assert!(health(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(health(&mut second).await.starts_with("HTTP/1.1 200"));

    // The third is in the listen backlog: its request waits...
    let mut third = TcpStream::connect(&address).await.expect("connects");
    let waiting = tokio::time::timeout(Duration::from_secs(1), health(&mut third)).await;
    assert!(waiting.is_err(), "answered past the limit: {waiting:?}");

    // ...until one of the others closes.
    drop(first);
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), third.read(&mut answer))
        .await
        .expect("answered once a connection closed")
        .expect("reads");
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    assert!(health(&mut second).await.starts_with("HTTP/1.1 200"));
    system.stop().await;
}
