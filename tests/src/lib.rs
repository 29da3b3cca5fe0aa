//! A whole `crm` (every role in one process) on its own database, stream and port, and an HTTP
//! client to talk to it the way a client would. Each test starts its own; nothing is shared.
//! Every answer is checked against `schemas/openapi.json` (`contract`).

mod contract;
mod events;

pub use events::{EventStream, StreamedEvent};

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use testkit::{TestDatabase, TestStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The settings file each system is started with, in its data folder.
const SETTINGS_FILE: &str = "crm.toml";

pub struct TestSystem {
    pub database: TestDatabase,
    pub stream: TestStream,
    replicas: usize,
    data: tempfile::TempDir,
    pub base: String,
    pub admin: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<()>>,
}

/// One HTTP answer: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `X-Crm-Position` header.
    pub fn position(&self) -> u64 {
        self.headers
            .get("x-crm-position")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no X-Crm-Position in {self:?}"))
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_else(|| panic!("no id in {self:?}"))
    }

    /// Asserts the status, showing the whole reply when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "{self:#?}");
        self
    }

    /// The `field` of the first validation error.
    pub fn invalid_field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap_or_default()
    }
}

impl TestSystem {
    pub async fn start() -> TestSystem {
        TestSystem::start_on(TestStream::new(), 1).await
    }

    /// A system whose stream is on `stream`'s NATS (every node of a cluster, comma-separated)
    /// with `replicas` copies of each message.
    pub async fn start_on(stream: TestStream, replicas: usize) -> TestSystem {
        TestSystem::start_with(stream, replicas, "").await
    }

    /// A system with `settings_file` (TOML) beside the test's own variables.
    pub async fn start_with(
        stream: TestStream,
        replicas: usize,
        settings_file: &str,
    ) -> TestSystem {
        let database = TestDatabase::empty().await;
        let data = tempfile::tempdir().expect("a data folder");
        std::fs::write(data.path().join(SETTINGS_FILE), settings_file).expect("a settings file");
        let admin = format!("test-admin-{}", Uuid::now_v7().simple());
        let mut system = TestSystem {
            database,
            stream,
            replicas,
            data,
            base: String::new(),
            admin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an http client"),
            stop: None,
            running: None,
        };
        system.launch().await;
        system
    }

    /// Stops the system and starts it again on the same database, stream and data folder.
    pub async fn restart(&mut self) {
        self.halt().await;
        self.launch().await;
    }

    /// The data folder (the tree-head signing key lives there).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    async fn launch(&mut self) {
        let variables = [
            ("CRM_DATABASE_URL", self.database.url.clone()),
            ("CRM_NATS_URL", self.stream.url.clone()),
            ("CRM_NATS_STREAM", self.stream.stream.clone()),
            (
                "CRM_NATS_SUBJECT_PREFIX",
                self.stream.subject_prefix.clone(),
            ),
            ("CRM_NATS_REPLICAS", self.replicas.to_string()),
            ("CRM_DATA_DIR", self.data_dir().display().to_string()),
            ("CRM_API_LISTEN", "127.0.0.1:0".to_owned()),
            ("CRM_ADMIN_TOKEN", self.admin.clone()),
            // Tree heads often enough that a test's log has some.
            ("CRM_RELAY_CHECKPOINT_EVERY_EVENTS", "5".to_owned()),
        ];
        let settings = crm::Settings::load(
            Some(&self.data_dir().join(SETTINGS_FILE)),
            variables.map(|(name, value)| (name.to_owned(), value)),
        )
        .expect("settings");
        crm::migrate(&settings).await.expect("migrations");
        let application = crm::Application::build(&settings, &crm::Role::ALL)
            .await
            .expect("the system starts");
        let port = application.api_port().expect("the api listens");
        let (stop, stopped) = oneshot::channel();
        let running = tokio::spawn(async move {
            application
                .run_until_stopped(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the system runs");
        });
        self.base = format!("http://127.0.0.1:{port}");
        self.stop = Some(stop);
        self.running = Some(running);
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.expect("the system stops cleanly");
        }
    }

    pub async fn stop(mut self) {
        self.halt().await;
    }

    pub async fn send(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.expect("the api answers");
        let status = response.status();
        let headers = response.headers().clone();
        let media_type = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_owned();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if media_type.ends_with("json") || bytes.is_empty() {
            contract::check(&method, path, status.as_u16(), &headers, &media_type, &body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        let body = serde_json::to_vec(&body).expect("json");
        self.send(Method::POST, Some(token), path, &[], Some(&body))
            .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Reply {
        let body = serde_json::to_vec(&body).expect("json");
        self.send(Method::PATCH, Some(token), path, &[], Some(&body))
            .await
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(Method::GET, Some(token), path, &[], None).await
    }

    /// Opens `GET path` as an event stream; the reply instead when it is not one (an error).
    /// A 503 is asked again for a while: the relay makes the stream once it has started.
    pub async fn follow(
        &self,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<EventStream, Reply> {
        let mut attempts = 0;
        let response = loop {
            let mut request = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.expect("the api answers");
            attempts += 1;
            if response.status() != StatusCode::SERVICE_UNAVAILABLE || attempts == 100 {
                break response;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let media_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if response.status().is_success() && media_type.starts_with("text/event-stream") {
            return Ok(EventStream::new(response));
        }
        let media_type = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        contract::check(
            &Method::GET,
            path,
            status.as_u16(),
            &headers,
            &media_type,
            &body,
        );
        Err(Reply {
            status,
            headers,
            body,
        })
    }

    /// A pipeline of one stage, `new` (10 %), made by the admin.
    pub async fn one_stage_pipeline(&self) -> Uuid {
        self.post(
            &self.admin,
            "/v1/pipelines",
            serde_json::json!({"name": "Sales", "stages": [{"key": "new", "name": "New", "probability": 10}]}),
        )
        .await
        .expect(201)
        .id()
    }

    /// A new user with `role` (and `team`), returning its id and token.
    pub async fn user(&self, username: &str, role: &str, team: Option<&str>) -> (Uuid, String) {
        let reply = self
            .post(
                &self.admin,
                "/v1/users",
                serde_json::json!({"username": username, "role": role, "team": team}),
            )
            .await
            .expect(201);
        let token = reply.body["token"].as_str().expect("a token").to_owned();
        (reply.id(), token)
    }
}
