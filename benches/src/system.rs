//! A whole `crm up` for the HTTP benchmarks: started on a fresh database and stream (or one
//! already running, given by URL), and a keep-alive client that talks to it as an admin.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use testkit::{TestDatabase, TestStream};
use uuid::Uuid;

/// The system under load: one started here (dropped with it), or one given.
pub struct Target {
    pub base: String,
    pub token: String,
    pub pid: Option<u32>,
    _system: Option<Started>,
}

struct Started {
    child: Child,
    data: PathBuf,
    database: TestDatabase,
    _stream: TestStream,
}

impl Target {
    /// The database of a system started here.
    pub fn database_url(&self) -> Option<String> {
        self._system
            .as_ref()
            .map(|system| system.database.url.clone())
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Starts `crm up` on a fresh database and stream, or takes the system at `--url`.
pub async fn start(
    crm: &Path,
    url: Option<&str>,
    token: Option<&str>,
    pid: Option<u32>,
) -> anyhow::Result<Target> {
    if let (Some(url), Some(token)) = (url, token) {
        return Ok(Target {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            pid,
            _system: None,
        });
    }
    start_on(crm, TestDatabase::empty().await).await
}

/// Starts `crm up` on `database` (empty, or holding a store written beforehand) and a fresh
/// stream.
pub async fn start_on(crm: &Path, database: TestDatabase) -> anyhow::Result<Target> {
    let stream = TestStream::new();
    let data = std::env::temp_dir().join(format!("crm-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data)?;
    let port = testkit::free_port();
    let token = format!("bench-admin-{}", Uuid::new_v4().simple());
    let child = Command::new(crm)
        .arg("up")
        .env("CRM_DATABASE_URL", &database.url)
        .env("CRM_NATS_URL", &stream.url)
        .env("CRM_NATS_STREAM", &stream.stream)
        .env("CRM_NATS_SUBJECT_PREFIX", &stream.subject_prefix)
        .env("CRM_DATA_DIR", &data)
        .env("CRM_API_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_ADMIN_TOKEN", &token)
        .env("CRM_DEMO_SEED", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", crm.display()))?;
    let pid = child.id();
    let started = Started {
        child,
        data,
        database,
        _stream: stream,
    };
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = reqwest::Client::new();
    while probe.get(format!("{base}/healthz")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("crm up did not answer on {base} within a minute");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Target {
        base,
        token,
        pid: Some(pid),
        _system: Some(started),
    })
}

/// An admin's keep-alive HTTP client.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    /// Sends one request; `Ok` with the JSON answer on 2xx, `Err` naming the status otherwise.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn create(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let answer = self.post(path, body).await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no id in {answer}"))
    }
}

/// `/readyz` as the poller reads it: the store's position and that of the read model furthest
/// behind it (records, audit, pipeline, scoring, timeline: every one must keep up).
pub async fn readiness(client: &Client) -> anyhow::Result<(u64, u64)> {
    let response = client
        .http
        .get(format!("{}/readyz", client.base))
        .send()
        .await?;
    let body: Value = response.json().await?;
    let store = body["store"]["position"]
        .as_u64()
        .with_context(|| format!("no store position in {body}"))?;
    let slowest = body["projections"]
        .as_array()
        .and_then(|projections| {
            projections
                .iter()
                .map(|projection| projection["position"].as_u64())
                .collect::<Option<Vec<u64>>>()
        })
        .and_then(|positions| positions.into_iter().min())
        .with_context(|| format!("no read model positions in {body}"))?;
    Ok((store, slowest))
}

/// Waits until every read model has reached the store's position.
pub async fn wait_for_projection(client: &Client, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok((store, slowest)) = readiness(client).await
            && slowest >= store
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the read models did not catch up within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
