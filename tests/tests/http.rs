//! The HTTP server's own limits: a client that does not finish a request head in time, or sits
//! idle on a kept-alive connection, is disconnected; one that does is answered.

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
