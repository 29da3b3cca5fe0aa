//! The `crm` binary as an operator runs it, against the real PostgreSQL and NATS: each test with
//! its own database, stream and data folder.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, StreamAppend, StreamRef,
};
use serde_json::json;
use testkit::{TestDatabase, TestStream};
use uuid::Uuid;

/// The environment one system under test runs with.
struct System {
    database: TestDatabase,
    stream: TestStream,
    data: tempfile::TempDir,
}

impl System {
    async fn new() -> System {
        System {
            database: TestDatabase::new().await,
            stream: TestStream::new(),
            data: tempfile::tempdir().expect("a data folder"),
        }
    }

    fn crm(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("CRM_DATABASE_URL", &self.database.url)
            .env("CRM_NATS_URL", &self.stream.url)
            .env("CRM_NATS_STREAM", &self.stream.stream)
            .env("CRM_NATS_SUBJECT_PREFIX", &self.stream.subject_prefix)
            .env("CRM_DATA_DIR", self.data.path())
            .env("CRM_RELAY_CHECKPOINT_EVERY_EVENTS", "500")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts `crm serve api` with `settings`, creates a company with `token` once it answers,
    /// stops it, and returns the answer.
    async fn api_answers(&self, settings: &[(&str, &str)], token: &str) -> String {
        let port = testkit::free_port();
        let mut api = self.crm(&["serve", "api"]);
        api.env("CRM_API_LISTEN", format!("127.0.0.1:{port}"))
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut api = api.spawn().expect("crm serve api starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        let answer = loop {
            if let Ok(answer) = http_post_with_token(port, "/v1/companies", token).await {
                break answer;
            }
            assert!(Instant::now() < deadline, "the api answers");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        kill(&mut api);
        answer
    }

    fn run(&self, args: &[&str]) -> Output {
        self.crm(args).output().expect("crm runs")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.crm(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crm starts")
    }

    async fn appender(&self) -> Appender {
        let pool = eventstore::connect(&self.database.store_settings())
            .await
            .expect("connects");
        Appender::start(pool, 256)
    }

    async fn stream_last_sequence(&self) -> u64 {
        let client = self.stream.client().await;
        let jetstream = async_nats::jetstream::new(client);
        match jetstream.get_stream(&self.stream.stream).await {
            Ok(mut stream) => stream
                .info()
                .await
                .map(|info| info.state.last_sequence)
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Waits until the stream's last sequence reaches `position`.
    async fn wait_for_stream(&self, position: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.stream_last_sequence().await;
            if last >= position {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the stream reached {last}, not {position}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Nats-Msg-Id of every message on the stream, in sequence order, checking sequence = position.
    async fn stream_ids(&self) -> Vec<String> {
        let client = self.stream.client().await;
        let jetstream = async_nats::jetstream::new(client);
        let stream = jetstream
            .get_stream(&self.stream.stream)
            .await
            .expect("the stream exists");
        let last = self.stream_last_sequence().await;
        let mut ids = Vec::new();
        for sequence in 1..=last {
            let message = stream
                .get_raw_message(sequence)
                .await
                .expect("the message exists");
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .map(|value| value.to_string())
                .expect("every message has an id");
            ids.push(id);
        }
        ids
    }

    async fn store_ids(&self) -> Vec<String> {
        let client = self.database.owner_client().await;
        client
            .query("SELECT event_id FROM events ORDER BY position", &[])
            .await
            .expect("reads")
            .iter()
            .map(|row| row.get::<_, Uuid>(0).to_string())
            .collect()
    }
}

fn note(stream: &StreamRef) -> AppendRequest {
    AppendRequest::new(
        Metadata::actor("user:test"),
        vec![StreamAppend::events(
            stream.clone(),
            ExpectedVersion::Any,
            vec![NewEvent {
                event_type: "noted".to_owned(),
                schema_version: 1,
                occurred_at: Utc::now(),
                payload: json!({"text": "called back"}),
            }],
        )],
    )
}

/// `count` appends of one event each from 32 concurrent tasks.
async fn burst(appender: &Appender, count: usize) {
    let tasks = (0..32).map(|task| {
        let appender = appender.clone();
        tokio::spawn(async move {
            let stream = StreamRef::new("contact", Uuid::now_v7());
            for _ in (task..count).step_by(32) {
                appender.append(note(&stream)).await.expect("appends");
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.expect("the task ran");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_says_ok_on_an_honest_log_and_names_the_altered_position() {
    let system = System::new().await;
    burst(&system.appender().await, 40).await;

    let honest = system.run(&["verify"]);
    assert!(honest.status.success(), "{}", text(&honest.stderr));
    assert!(
        text(&honest.stdout).starts_with("ok: 40 events verified"),
        "{}",
        text(&honest.stdout)
    );

    let owner = system.database.owner_client().await;
    owner
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_append_only;
             UPDATE events SET actor = 'user:someone-else' WHERE position = 23;",
        )
        .await
        .expect("the owner lifts the protection");
    let tampered = system.run(&["verify"]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        text(&tampered.stdout).starts_with("broken at position 23:"),
        "{}",
        text(&tampered.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_appends_reach_the_stream_once_in_order_though_the_relay_is_killed_mid_burst()
{
    let system = System::new().await;
    let appender = system.appender().await;
    let mut relay = system.spawn(&["serve", "relay"]);

    let writing = tokio::spawn({
        let appender = appender.clone();
        async move { burst(&appender, 10_000).await }
    });
    system.wait_for_stream(500, Duration::from_secs(30)).await;
    assert!(
        !writing.is_finished(),
        "the relay is killed while the burst goes on"
    );
    kill(&mut relay);
    let mut relay = system.spawn(&["serve", "relay"]);
    writing.await.expect("the burst ends");

    system
        .wait_for_stream(10_000, Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        system.stream_last_sequence().await,
        10_000,
        "nothing published twice"
    );
    assert_eq!(
        system.stream_ids().await,
        system.store_ids().await,
        "sequence i is position i"
    );

    let verified = system.run(&["verify", "--from-checkpoint"]);
    kill(&mut relay);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    assert!(
        text(&verified.stdout).contains("after the signed checkpoint"),
        "{}",
        text(&verified.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_health_readiness_and_metrics() {
    let system = System::new().await;
    // `up` on a store without an admin creates one: the user (created, token issued) and the
    // claim of its username. (No synthetic events here: the projectors `up` runs would rightly
    // stop at an event the domain does not know, and readiness would say so.)
    let events = 3;
    let port = testkit::free_port();
    let mut crm = system.crm(&["up"]);
    // Demo data would be appended while the counts below are read.
    crm.env("CRM_API_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_DEMO_SEED", "false")
        .env("CRM_RELAY_CHECKPOINT_EVERY_EVENTS", events.to_string());
    let mut crm = crm
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("crm up starts");

    system
        .wait_for_stream(events, Duration::from_secs(30))
        .await;
    let get = |path: &str| {
        let path = path.to_owned();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(response) = http_get(port, &path).await {
                    return response;
                }
                assert!(Instant::now() < deadline, "the API answers {path}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let health = get("/healthz").await;
    let ready = get("/readyz").await;
    // The relay signs a tree head over the three events soon after it carried them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let metrics = get("/metrics").await;
        if metrics.contains(&format!("crm_tree_head_size {events}")) || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    kill(&mut crm);

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        ready.contains(&format!(r#""store":{{"position":{events}}}"#)),
        "{ready}"
    );
    assert!(
        metrics.contains(&format!("crm_store_position {events}")),
        "{metrics}"
    );
    assert!(metrics.contains("crm_relay_lag_events 0"), "{metrics}");
    assert!(
        metrics.contains(&format!("crm_tree_head_size {events}"))
            && metrics.contains("crm_unsigned_events 0")
            && metrics.contains("crm_tree_head_age_seconds"),
        "{metrics}"
    );
}

/// A minimal HTTP/1.1 GET, enough to read a status line and a body.
async fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn bad_settings_are_errors_that_name_the_setting() {
    let system = System::new().await;
    let nowhere = testkit::free_port();

    let database_down = system
        .crm(&["serve", "relay"])
        .env(
            "CRM_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{nowhere}/crm"),
        )
        .output()
        .expect("crm runs");
    assert_eq!(database_down.status.code(), Some(1));
    assert!(
        text(&database_down.stderr).contains("setting database_url: cannot connect"),
        "{}",
        text(&database_down.stderr)
    );

    let nats_down = system
        .crm(&["serve", "relay"])
        .env("CRM_NATS_URL", format!("nats://127.0.0.1:{nowhere}"))
        .output()
        .expect("crm runs");
    assert_eq!(nats_down.status.code(), Some(1));
    assert!(
        text(&nats_down.stderr).contains("setting nats_url:"),
        "{}",
        text(&nats_down.stderr)
    );

    let not_a_number = system
        .crm(&["serve", "api"])
        .env("CRM_DATABASE_POOL_SIZE", "lots")
        .output()
        .expect("crm runs");
    assert_eq!(not_a_number.status.code(), Some(1));
    assert!(
        text(&not_a_number.stderr).contains("setting database_pool_size:"),
        "{}",
        text(&not_a_number.stderr)
    );

    // A stream that exists with other subjects is refused, not silently used.
    let jetstream = async_nats::jetstream::new(system.stream.client().await);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: system.stream.stream.clone(),
            subjects: vec![format!("{}.other.>", system.stream.subject_prefix)],
            ..Default::default()
        })
        .await
        .expect("a stream with other subjects");
    let foreign = system.run(&["serve", "relay"]);
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        text(&foreign.stderr).contains("setting nats_"),
        "{}",
        text(&foreign.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_prints_a_token_that_authenticates_on_an_api_started_without_nats() {
    let system = System::new().await;
    let added = system.run(&["user", "add", "sally", "--role", "sales", "--team", "north"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let token = text(&added.stdout)
        .lines()
        .last()
        .expect("the token line")
        .trim()
        .to_owned();
    assert!(token.starts_with("crm_"), "{token}");

    let taken = system.run(&["user", "add", "sally", "--role", "sales"]);
    assert!(!taken.status.success());
    assert!(
        text(&taken.stderr).contains("taken"),
        "{}",
        text(&taken.stderr)
    );
    let bad_role = system.run(&["user", "add", "bob", "--role", "wizard"]);
    assert!(!bad_role.status.success());
    assert!(
        text(&bad_role.stderr).contains("role"),
        "{}",
        text(&bad_role.stderr)
    );

    // The API commits commands without NATS, so it starts without it too.
    let nowhere = format!("nats://127.0.0.1:{}", testkit::free_port());
    let answer = system
        .api_answers(&[("CRM_NATS_URL", nowhere.as_str())], &token)
        .await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_admin_token_replaces_the_old_one_at_the_next_start() {
    let system = System::new().await;
    assert!(system.run(&["migrate"]).status.success());
    let old = "old-admin-token-0123456789";
    let new = "new-admin-token-0123456789";
    let system = &system;
    let answer = |token: &'static str, with: &'static str| async move {
        system
            .api_answers(&[("CRM_ADMIN_TOKEN", token)], with)
            .await
    };
    assert!(answer(old, old).await.starts_with("HTTP/1.1 201"));
    assert!(answer(new, new).await.starts_with("HTTP/1.1 201"));
    let replaced = answer(new, old).await;
    assert!(replaced.starts_with("HTTP/1.1 401"), "{replaced}");
    // A token revoked once is not brought back by a start that still names it.
    let revived = answer(old, old).await;
    assert!(revived.starts_with("HTTP/1.1 401"), "{revived}");
    assert!(answer(old, new).await.starts_with("HTTP/1.1 201"));
}

/// Creates a company named "Acme" with `token`.
async fn http_post_with_token(port: u16, path: &str, token: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    socket
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
                 authorization: Bearer {token}\r\ncontent-type: application/json\r\n\
                 content-length: 15\r\n\r\n{{\"name\":\"Acme\"}}"
            )
            .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_the_stores_signing_key_refuses_to_make_another() {
    let system = System::new().await;
    let mut relay = system.spawn(&["serve", "relay"]);
    let owner = system.database.owner_client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let keys: i64 = owner
            .query_one("SELECT count(*) FROM signing_keys", &[])
            .await
            .expect("the keys read")
            .get(0);
        if keys > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the relay registers its key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(&mut relay);

    let elsewhere = tempfile::tempdir().expect("another data folder");
    let refused = system
        .crm(&["serve", "relay"])
        .env("CRM_DATA_DIR", elsewhere.path())
        .output()
        .expect("crm runs");
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(
        message.contains("checkpoint-signing.key") && message.contains("CRM_DATA_DIR"),
        "{message}"
    );
    assert!(
        !elsewhere.path().join("checkpoint-signing.key").exists(),
        "no new key was made"
    );
}
