//! `crm up` on an empty store seeds the demo data through its own API, once: the binary as an
//! operator runs it, against the real PostgreSQL and NATS, on a database and stream of its own.

use std::process::Stdio;
use std::time::{Duration, Instant};

use testkit::{TestDatabase, TestStream};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct System {
    database: TestDatabase,
    stream: TestStream,
    data: tempfile::TempDir,
    port: u16,
}

impl System {
    async fn new() -> System {
        System {
            database: TestDatabase::empty().await,
            stream: TestStream::new(),
            data: tempfile::tempdir().expect("a data folder"),
            port: testkit::free_port(),
        }
    }

    /// `crm up` with no admin token configured, its stdout piped.
    fn up(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg("up")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("CRM_DATABASE_URL", &self.database.url)
            .env("CRM_NATS_URL", &self.stream.url)
            .env("CRM_NATS_STREAM", &self.stream.stream)
            .env("CRM_NATS_SUBJECT_PREFIX", &self.stream.subject_prefix)
            .env("CRM_DATA_DIR", self.data.path())
            .env("CRM_API_LISTEN", format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("crm up starts")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Domain events (not record accesses) in the store, of one stream type or of all.
    async fn events(&self, stream_type: Option<&str>) -> i64 {
        let client = self.database.owner_client().await;
        let row = client
            .query_one(
                "SELECT count(*) FROM events WHERE category = 'events'
                   AND ($1::text IS NULL OR stream_type = $1)",
                &[&stream_type],
            )
            .await
            .expect("counts");
        row.get(0)
    }
}

/// Reads `child`'s stdout until a line starts with `until` (or the output ends), with a limit.
async fn lines_until(child: &mut Child, until: &str, limit: Duration) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    let reading = async {
        while let Ok(Some(line)) = reader.next_line().await {
            let done = line.starts_with(until);
            lines.push(line);
            if done {
                break;
            }
        }
    };
    let finished = tokio::time::timeout(limit, reading).await;
    assert!(
        finished.is_ok(),
        "no line starting with {until:?} within {limit:?}; got {lines:#?}"
    );
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_on_an_empty_store_seeds_demo_data_once_and_prints_the_token_it_uses() {
    let system = System::new().await;
    let http = reqwest::Client::new();

    let mut first = system.up();
    let lines = lines_until(&mut first, "demo data:", Duration::from_secs(180)).await;
    let announced = lines
        .iter()
        .position(|line| line.starts_with("created the first admin"))
        .unwrap_or_else(|| panic!("the admin token is shown: {lines:#?}"));
    let token = lines[announced + 1].trim().to_owned();
    assert!(token.len() > 32, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("curl") && line.contains(&token)),
        "a curl line with the token: {lines:#?}"
    );
    let summary = lines.last().expect("the summary line");
    assert!(summary.contains("1000 activities"), "{summary}");

    // The companies reach the read model shortly after their events.
    let deadline = Instant::now() + Duration::from_secs(60);
    let companies = loop {
        let response = http
            .get(system.url("/v1/companies?limit=500"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the api answers");
        assert_eq!(response.status(), 200, "the printed token is the admin's");
        let body: serde_json::Value = response.json().await.expect("json");
        let count = body["items"].as_array().map_or(0, Vec::len);
        if count >= 50 || Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(companies >= 50, "{companies} companies listed");
    assert!(system.events(Some("activity")).await >= 1_000);
    assert!(system.events(Some("deal")).await >= 100);
    assert!(system.events(Some("contact")).await >= 200);
    assert!(system.events(Some("case")).await >= 25);
    let seeded = system.events(None).await;
    let _ = first.kill().await;

    let mut second = system.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(system.url("/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the second up answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A seeding would have begun by now: it starts as soon as the API listens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = second.kill().await;
    let output = lines_until(&mut second, "demo data:", Duration::from_secs(10)).await;
    assert!(
        output.is_empty(),
        "the second up prints nothing: {output:#?}"
    );
    assert_eq!(
        system.events(None).await,
        seeded,
        "nothing was seeded again"
    );
}
