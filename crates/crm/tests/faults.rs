//! Faults a customer's data must survive, with the real binary: `crm up` killed (SIGKILL) while
//! lead conversions are in flight leaves every lead either fully converted (lead, contact,
//! company and deal, in one transaction) or not converted at all, and the restarted system
//! carries on.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{TestDatabase, TestStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEADS: usize = 1_000;
const ADMIN: &str = "faults-admin-token-0123456789";

struct System {
    database: TestDatabase,
    stream: TestStream,
    data: tempfile::TempDir,
    port: u16,
}

impl System {
    fn start(&self) -> Child {
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
            .env("CRM_ADMIN_TOKEN", ADMIN)
            .env("CRM_DEMO_SEED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crm up starts")
    }

    /// Sends one request; `None` when the connection fails (the server is down or dies).
    async fn request(&self, method: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
        let body = serde_json::to_string(body).ok()?;
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             authorization: Bearer {ADMIN}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        socket.read_to_string(&mut response).await.ok()?;
        let status = response.get(9..12)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self
            .request("GET", "/healthz", &Value::Null)
            .await
            .is_none()
        {
            assert!(Instant::now() < deadline, "crm up answers");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.database
            .owner_client()
            .await
            .query_one(sql, &[])
            .await
            .expect("the store answers")
            .get(0)
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_lead_conversions_leaves_each_lead_converted_whole_or_not_at_all() {
    let system = System {
        database: TestDatabase::empty().await,
        stream: TestStream::new(),
        data: tempfile::tempdir().expect("a data folder"),
        port: testkit::free_port(),
    };
    let mut crm = system.start();
    system.wait_until_up().await;

    let (status, pipeline) = system
        .request(
            "POST",
            "/v1/pipelines",
            &json!({"name": "Sales", "stages": [{"key": "new", "name": "New", "probability": 10}]}),
        )
        .await
        .expect("the api answers");
    assert_eq!(status, 201, "{pipeline}");
    let system = std::sync::Arc::new(system);
    let captures: Vec<_> = (0..LEADS)
        .map(|index| {
            let system = system.clone();
            tokio::spawn(async move {
                let lead = json!({"name": format!("Lead Person{index}"),
                                  "company_name": format!("Company {index}"), "source": "web"});
                system.request("POST", "/v1/leads", &lead).await
            })
        })
        .collect();
    let mut leads = Vec::new();
    for capture in futures::future::join_all(captures).await {
        let (status, lead) = capture.expect("a capture").expect("the api answers");
        assert_eq!(status, 201, "{lead}");
        leads.push(lead["id"].as_str().expect("an id").to_owned());
    }

    let convert = json!({"company": {}, "deal": {"title": "First order", "pipeline_id": pipeline["id"],
                         "stage": "new", "amount": {"amount_minor": 50000, "currency": "EUR"}}});
    let conversions: Vec<_> = leads
        .iter()
        .map(|lead| {
            let system = system.clone();
            let path = format!("/v1/leads/{lead}/convert");
            let convert = convert.clone();
            tokio::spawn(async move { system.request("POST", &path, &convert).await })
        })
        .collect();
    // Kill as soon as some conversions have committed and others are still in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while system
        .count(
            "SELECT count(*) FROM events WHERE stream_type = 'lead' AND event_type = 'converted'",
        )
        .await
        < 1
    {
        assert!(Instant::now() < deadline, "conversions commit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut crm);
    let answered = futures::future::join_all(conversions).await;
    let unanswered = answered
        .iter()
        .filter(|answer| !matches!(answer, Ok(Some((200, _)))))
        .count();

    let converted = system
        .count(
            "SELECT count(*) FROM events WHERE stream_type = 'lead' AND event_type = 'converted'",
        )
        .await;
    assert!(
        unanswered > 0 && converted < LEADS as i64,
        "the kill came mid-way ({converted} converted)"
    );
    for stream_type in ["contact", "company", "deal"] {
        let created = system
            .count(&format!(
                "SELECT count(*) FROM events WHERE stream_type = '{stream_type}' AND event_type = 'created'"
            ))
            .await;
        assert_eq!(
            created, converted,
            "one {stream_type} per converted lead, no more, no less"
        );
    }
    let orphans = system
        .count(
            "SELECT count(*) FROM events c WHERE c.stream_type = 'contact' AND NOT EXISTS \
             (SELECT 1 FROM events l WHERE l.stream_type = 'lead' AND l.event_type = 'converted' \
              AND (l.payload->>'contact_id')::uuid = c.stream_id)",
        )
        .await;
    assert_eq!(orphans, 0, "every contact belongs to a recorded conversion");

    // The restarted system finishes the rest; a converted lead refuses a second conversion.
    let mut crm = system.start();
    system.wait_until_up().await;
    for lead in &leads {
        let (status, body) = system
            .request("POST", &format!("/v1/leads/{lead}/convert"), &convert)
            .await
            .expect("the api answers");
        assert!(status == 200 || status == 409, "{status} {body}");
    }
    kill(&mut crm);
    assert_eq!(
        system
            .count(
                "SELECT count(*) FROM events WHERE stream_type = 'deal' AND event_type = 'created'"
            )
            .await,
        LEADS as i64
    );
}
