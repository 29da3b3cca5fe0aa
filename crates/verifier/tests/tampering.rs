//! Ten ways to tamper with the log, each caught by the database's own check (`crm verify`'s
//! `verify_log`, with the installation's key) and by an auditor's offline check of an export
//! (`verifier::check`, what `crm-verify` runs), and an honest log passing both. Each test has a
//! database of its own; the table owner lifts the protections to tamper, as an attacker with the
//! owner's password could.

use chrono::Utc;
use eventstore::checkpoint::{Checkpoint, Signer};
use eventstore::tree::{self, TreeWriter};
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, LogReport, Metadata, NewEvent, Reader, StoredEvent,
    StreamAppend, StreamRef, VerifyOptions, chain,
};
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;
use verifier::{Expectations, Outcome, VerifyError};

const EVENTS: u64 = 600;
const HEAD_EVERY: u64 = 100;

/// A store of 600 events with a signed tree head every 100, and what an auditor kept from
/// before the tampering: the latest genuine tree head.
struct Scenario {
    database: TestDatabase,
    pool: deadpool_postgres::Pool,
    signer: Signer,
    kept_head: Checkpoint,
}

impl Scenario {
    async fn new() -> Scenario {
        let database = TestDatabase::new().await;
        let pool = eventstore::connect(&database.store_settings())
            .await
            .expect("the application connects");
        let appender = Appender::start(pool.clone(), 64);
        let mut appended = 0;
        let mut request = 0_u64;
        while appended < EVENTS {
            let count = (EVENTS - appended).min(1 + request % 17);
            let events = (0..count)
                .map(|index| NewEvent {
                    event_type: "noted".to_owned(),
                    schema_version: 1,
                    occurred_at: Utc::now(),
                    payload: json!({"request": request, "index": index, "note": "a note"}),
                })
                .collect();
            let stream = StreamRef::new("contact", Uuid::now_v7());
            let append = if request % 4 == 3 {
                StreamAppend::access(stream, events)
            } else {
                StreamAppend::events(stream, ExpectedVersion::NoStream, events)
            };
            appender
                .append(AppendRequest::new(
                    Metadata::actor("user:alice"),
                    vec![append],
                ))
                .await
                .expect("appended");
            appended += count;
            request += 1;
        }
        let signer = Signer::from_secret([11; 32]);
        let kept_head = sign_every(&pool, &signer, HEAD_EVERY).await;
        assert_eq!(kept_head.position, EVENTS);
        Scenario {
            database,
            pool,
            signer,
            kept_head,
        }
    }

    fn public_key(&self) -> [u8; 32] {
        self.signer.public_key()
    }

    /// Runs SQL as the table owner with every protection of the log's tables lifted.
    async fn tamper(&self, sql: &str) {
        let owner = self.database.owner_client().await;
        owner
            .batch_execute(&format!(
                "ALTER TABLE events DISABLE TRIGGER ALL;
                 ALTER TABLE checkpoints DISABLE TRIGGER ALL;
                 ALTER TABLE merkle_nodes DISABLE TRIGGER ALL;
                 {sql}"
            ))
            .await
            .unwrap_or_else(|error| panic!("the owner tampers: {error:?}"));
    }

    /// `crm verify`'s check, against the installation's key.
    async fn database_check(&self) -> LogReport {
        self.database_check_with(Some(self.public_key())).await
    }

    async fn database_check_with(&self, trusted_key: Option<[u8; 32]>) -> LogReport {
        let mut owner = self.database.owner_client().await;
        eventstore::verify_log(
            &mut owner,
            &VerifyOptions {
                from_tree_head: false,
                trusted_key,
            },
        )
        .await
        .expect("the check runs")
    }

    /// `crm export`: the whole log as JSON lines.
    async fn export(&self) -> String {
        let mut out = Vec::new();
        eventstore::export::write_events(&Reader::new(self.pool.clone()), 0, None, &mut out)
            .await
            .expect("exports");
        String::from_utf8(out).expect("UTF-8")
    }

    /// `crm export --tree-head --tree-size <size>`, as the database now holds it.
    async fn exported_head(&self, size: u64) -> Checkpoint {
        tree::tree_head_at(&self.pool, size)
            .await
            .expect("reads")
            .unwrap_or_else(|| panic!("a tree head of size {size}"))
    }

    /// The auditor's check of `log` against `head` with the installation's key.
    fn audit(&self, log: &str, head: &Checkpoint) -> Result<Outcome, VerifyError> {
        verifier::check(
            log.as_bytes(),
            &Expectations {
                public_key: self.public_key(),
                tree_head: head.clone(),
                inclusion: None,
                consistency: None,
            },
        )
    }

    async fn events(&self) -> Vec<StoredEvent> {
        Reader::new(self.pool.clone())
            .read_from(0, 10_000)
            .await
            .expect("reads")
    }
}

/// Builds the tree and signs a head every `every` events with `signer`; returns the last head.
async fn sign_every(pool: &deadpool_postgres::Pool, signer: &Signer, every: u64) -> Checkpoint {
    signer.register(pool).await.expect("the key registers");
    let head = Reader::new(pool.clone()).head().await.expect("the head");
    let mut writer = TreeWriter::new();
    let mut last = None;
    while writer.size() < head.position {
        let to = (writer.size() + every).min(head.position);
        writer.catch_up(pool, to).await.expect("catches up");
        last = Some(writer.sign(pool, signer).await.expect("signs"));
    }
    last.expect("at least one head")
}

/// The first problem the database's check reports.
fn first_problem(report: &LogReport) -> (u64, String) {
    let problem = report
        .first_problem()
        .unwrap_or_else(|| panic!("tampering is detected: {report}"));
    (problem.position, problem.reason.clone())
}

#[track_caller]
fn assert_broken(result: Result<Outcome, VerifyError>, position: u64, reason: &str) {
    match result {
        Err(VerifyError::Broken {
            position: at,
            reason: why,
        }) => {
            assert_eq!(at, position, "broken at {position}: {why}");
            assert!(why.contains(reason), "{why:?} mentions {reason:?}");
        }
        other => panic!("the auditor finds the tampering at {position}, not {other:?}"),
    }
}

#[track_caller]
fn assert_database_broken(report: &LogReport, position: u64, reason: &str) {
    let (at, why) = first_problem(report);
    assert_eq!(at, position, "broken at {position}: {why}");
    assert!(why.contains(reason), "{why:?} mentions {reason:?}");
    assert!(
        report
            .to_string()
            .starts_with(&format!("broken at position {position}:")),
        "{report}"
    );
    let summary = report.summary();
    assert!(!summary.ok);
    assert_eq!(summary.broken.map(|broken| broken.position), Some(position));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_log_passes_both_checks_with_its_proofs() {
    let scenario = Scenario::new().await;
    let report = scenario.database_check().await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.chain.checked, EVENTS);
    assert_eq!(report.chain.tree_heads_checked, 6);
    assert_eq!(report.signatures_checked, 6);
    assert_eq!(report.latest_tree_head.map(|(size, _)| size), Some(EVENTS));
    assert!(
        report.to_string().starts_with("ok: 600 events verified"),
        "{report}"
    );
    let summary = report.summary();
    assert!(summary.ok && summary.broken.is_none());
    assert_eq!(summary.count, EVENTS);
    let json = serde_json::to_value(&summary).expect("serialises");
    assert_eq!(json["ok"], true);

    // The API's entry point says the same.
    let audit = eventstore::audit(&scenario.pool, Some(scenario.public_key()))
        .await
        .expect("runs");
    assert_eq!(audit, summary);

    let log = scenario.export().await;
    assert_eq!(log.lines().count() as u64, EVENTS);
    let inclusion = tree::inclusion_proof(&scenario.pool, 345, EVENTS)
        .await
        .expect("a proof");
    let consistency = tree::consistency_proof(&scenario.pool, 300, EVENTS)
        .await
        .expect("a proof");
    let old_head = scenario.exported_head(300).await;
    let outcome = verifier::check(
        log.as_bytes(),
        &Expectations {
            public_key: scenario.public_key(),
            tree_head: scenario.kept_head.clone(),
            inclusion: Some(inclusion),
            consistency: Some((consistency, old_head)),
        },
    )
    .expect("the honest export verifies");
    assert_eq!(
        (outcome.first, outcome.last, outcome.events),
        (1, EVENTS, EVENTS)
    );
    assert!(outcome.root_recomputed);
    assert_eq!(outcome.inclusion, Some(345));
    assert_eq!(outcome.consistency, Some((300, EVENTS)));
    assert!(
        outcome.to_string().starts_with("ok: 600 events"),
        "{outcome}"
    );

    // A segment that starts later is chained from its first event; the proof still binds it.
    let segment: String = log
        .lines()
        .skip(299)
        .map(|line| format!("{line}\n"))
        .collect();
    let outcome = verifier::check(
        segment.as_bytes(),
        &Expectations {
            public_key: scenario.public_key(),
            tree_head: scenario.kept_head.clone(),
            inclusion: Some(
                tree::inclusion_proof(&scenario.pool, 512, EVENTS)
                    .await
                    .expect("a proof"),
            ),
            consistency: None,
        },
    )
    .expect("the later segment verifies");
    assert_eq!((outcome.first, outcome.chained), (300, EVENTS - 300));
    assert!(!outcome.root_recomputed);
    assert_eq!(outcome.signed_through, Some(EVENTS));

    // Its first event's hash cannot be recomputed, so no proof may rest on it: a forger could
    // change its fields and keep its hash.
    let first_of_segment = verifier::check(
        segment.as_bytes(),
        &Expectations {
            public_key: scenario.public_key(),
            tree_head: scenario.kept_head.clone(),
            inclusion: Some(
                tree::inclusion_proof(&scenario.pool, 300, EVENTS)
                    .await
                    .expect("a proof"),
            ),
            consistency: None,
        },
    );
    match first_of_segment {
        Err(VerifyError::Input(message)) => {
            assert!(message.contains("one position earlier"), "{message}")
        }
        other => panic!("the first event of a segment carries no proof: {other:?}"),
    }

    // Against an older tree head, the events after it are chained but vouched for by nothing
    // signed, and the summary says so.
    let outcome = verifier::check(
        log.as_bytes(),
        &Expectations {
            public_key: scenario.public_key(),
            tree_head: scenario.exported_head(300).await,
            inclusion: None,
            consistency: None,
        },
    )
    .expect("the log verifies against its older head");
    assert_eq!(outcome.signed_through, Some(300));
    assert!(
        outcome
            .to_string()
            .contains("positions 301 to 600 are chained but no signed tree head covers them"),
        "{outcome}"
    );
}

#[tokio::test]
async fn a_changed_payload_is_detected() {
    let scenario = Scenario::new().await;
    scenario
        .tamper(
            "UPDATE events SET payload = jsonb_set(payload, '{note}', '\"a better note\"') \
             WHERE position = 150;",
        )
        .await;
    assert_database_broken(
        &scenario.database_check().await,
        150,
        "the stored hash does not match the event",
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.kept_head),
        150,
        "chain hash does not follow",
    );
}

#[tokio::test]
async fn a_changed_actor_is_detected() {
    let scenario = Scenario::new().await;
    scenario
        .tamper("UPDATE events SET actor = 'user:mallory' WHERE position = 333;")
        .await;
    assert_database_broken(
        &scenario.database_check().await,
        333,
        "the stored hash does not match the event",
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.kept_head),
        333,
        "chain hash does not follow",
    );
}

#[tokio::test]
async fn a_deleted_row_is_detected() {
    let scenario = Scenario::new().await;
    scenario
        .tamper("DELETE FROM events WHERE position = 222;")
        .await;
    assert_database_broken(
        &scenario.database_check().await,
        222,
        "event 222 is missing",
    );
    // The export refuses to skip over the hole; an auditor given the rows around it (as a
    // dump would hold them) finds it.
    let mut out = Vec::new();
    let error =
        eventstore::export::write_events(&Reader::new(scenario.pool.clone()), 0, None, &mut out)
            .await
            .expect_err("the export stops at the hole");
    assert!(
        error.to_string().contains("event 222 is missing"),
        "{error}"
    );
    let rows: String = scenario
        .events()
        .await
        .iter()
        .map(|event| format!("{}\n", eventstore::export::to_line(event)))
        .collect();
    assert_broken(
        scenario.audit(&rows, &scenario.kept_head),
        222,
        "event 222 is missing",
    );
}

#[tokio::test]
async fn an_inserted_row_is_detected() {
    let scenario = Scenario::new().await;
    // Make room at 410 and put in an event chained correctly to 409.
    let events = scenario.events().await;
    let mut forged = events[409].clone();
    forged.position = 410;
    forged.event_id = Uuid::now_v7();
    forged.stream = StreamRef::new("contact", Uuid::now_v7());
    forged.stream_version = forged.stream_version.map(|_| 1);
    forged.actor = "user:mallory".to_owned();
    forged.hash = chain::event_hash(&events[408].hash, &forged);
    scenario
        .tamper(
            "UPDATE events SET position = position + 1000000 WHERE position >= 410;
             UPDATE events SET position = position - 999999 WHERE position > 1000000;",
        )
        .await;
    let owner = scenario.database.owner_client().await;
    owner
        .execute(
            "INSERT INTO events (position, event_id, category, stream_type, stream_id, \
             stream_version, event_type, schema_version, occurred_at, recorded_at, actor, \
             correlation_id, causation_id, payload, hash) \
             VALUES (410, $1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &forged.event_id,
                &forged.category.as_str(),
                &forged.stream.stream_type,
                &forged.stream.stream_id,
                &forged.stream_version.map(|version| version as i64),
                &forged.event_type,
                &forged.occurred_at,
                &forged.recorded_at,
                &forged.actor,
                &forged.correlation_id,
                &forged.causation_id,
                &forged.payload,
                &forged.hash.as_slice(),
            ],
        )
        .await
        .expect("the owner inserts");
    // The forged event itself chains; the one it displaced no longer does.
    assert_database_broken(
        &scenario.database_check().await,
        411,
        "the stored hash does not match the event",
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.kept_head),
        411,
        "chain hash does not follow",
    );
}

#[tokio::test]
async fn two_reordered_rows_are_detected() {
    let scenario = Scenario::new().await;
    scenario
        .tamper(
            "UPDATE events SET position = 1000000 WHERE position = 250;
             UPDATE events SET position = 250 WHERE position = 251;
             UPDATE events SET position = 251 WHERE position = 1000000;",
        )
        .await;
    assert_database_broken(
        &scenario.database_check().await,
        250,
        "the stored hash does not match the event",
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.kept_head),
        250,
        "chain hash does not follow",
    );
}

#[tokio::test]
async fn a_truncated_tail_is_detected() {
    let scenario = Scenario::new().await;
    // The events and the head go; the tree heads still cover them.
    scenario
        .tamper(
            "DELETE FROM events WHERE position > 550;
             UPDATE log_head SET position = 550, hash = (SELECT hash FROM events WHERE position = 550);",
        )
        .await;
    assert_database_broken(
        &scenario.database_check().await,
        551,
        "a signed tree head covers position 600, the log ends at 550",
    );
    // A thorough attacker removes the heads and nodes past the end too: the database now looks
    // like a shorter honest log, and only the head the auditor kept shows what is missing.
    scenario
        .tamper(
            "DELETE FROM checkpoints WHERE position > 550;
             DELETE FROM merkle_nodes WHERE (index + 1) * (1::bigint << level) > 550;",
        )
        .await;
    let report = scenario.database_check().await;
    assert!(
        report.is_ok(),
        "a consistent prefix passes on its own: {report}"
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.kept_head),
        551,
        "events were removed from the end",
    );
}

#[tokio::test]
async fn a_replaced_tree_head_is_detected() {
    let scenario = Scenario::new().await;
    // The head at 300 is replaced by one signed with another key over another root.
    let mallory = Signer::from_secret([66; 32]);
    mallory.register(&scenario.pool).await.expect("registers");
    let genuine = scenario.exported_head(300).await;
    let replaced = mallory.sign_tree_head(300, genuine.hash, [1; 32], Utc::now());
    scenario
        .tamper("DELETE FROM checkpoints WHERE position = 300;")
        .await;
    let owner = scenario.database.owner_client().await;
    owner
        .execute(
            "INSERT INTO checkpoints (position, hash, tree_root, signed_at, key_id, signature) \
             VALUES (300, $1, $2, $3, $4, $5)",
            &[
                &replaced.hash.as_slice(),
                &replaced.tree_root.map(|root| root.to_vec()),
                &replaced.signed_at,
                &replaced.key_id,
                &replaced.signature.as_slice(),
            ],
        )
        .await
        .expect("the owner inserts");
    assert_database_broken(&scenario.database_check().await, 300, "not the trusted key");
    // Even with no key to trust, the replaced head's root is not the events'.
    assert_database_broken(
        &scenario.database_check_with(None).await,
        300,
        "Merkle root disagrees with the events",
    );
    let log = scenario.export().await;
    assert_broken(
        scenario.audit(&log, &scenario.exported_head(300).await),
        300,
        "not by the given public key",
    );
}

#[tokio::test]
async fn a_forged_signature_is_detected() {
    let scenario = Scenario::new().await;
    scenario
        .tamper(
            "UPDATE checkpoints SET signature = set_byte(signature, 6, get_byte(signature, 6) # 1) \
             WHERE position = 500;",
        )
        .await;
    assert_database_broken(&scenario.database_check().await, 500, "invalid signature");
    assert_database_broken(
        &scenario.database_check_with(None).await,
        500,
        "invalid signature",
    );
    assert_broken(
        scenario.audit(&scenario.export().await, &scenario.exported_head(500).await),
        500,
        "signature does not verify",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_chain_with_forged_heads_is_detected() {
    let scenario = Scenario::new().await;
    // Change event 120, recompute every chain hash after it, rebuild the tree and sign new heads
    // with a key of the attacker's own: the database is consistent again.
    let mut events = scenario.events().await;
    events[119].payload = json!({"request": 0, "index": 0, "note": "rewritten"});
    let mut previous = events[118].hash;
    for event in &mut events[119..] {
        event.hash = chain::event_hash(&previous, event);
        previous = event.hash;
    }
    scenario
        .tamper("DELETE FROM checkpoints; DELETE FROM merkle_nodes;")
        .await;
    let owner = scenario.database.owner_client().await;
    let statement = owner
        .prepare("UPDATE events SET payload = $2, hash = $3 WHERE position = $1")
        .await
        .expect("prepares");
    for event in &events[119..] {
        owner
            .execute(
                &statement,
                &[
                    &(event.position as i64),
                    &event.payload,
                    &event.hash.as_slice(),
                ],
            )
            .await
            .expect("the owner rewrites");
    }
    owner
        .execute("UPDATE log_head SET hash = $1", &[&previous.as_slice()])
        .await
        .expect("the owner moves the head");
    let mallory = Signer::from_secret([66; 32]);
    let forged_head = sign_every(&scenario.pool, &mallory, HEAD_EVERY).await;

    // Without the installation's key the rewritten store is consistent...
    let report = scenario.database_check_with(None).await;
    assert!(report.is_ok(), "only a trusted key tells: {report}");
    // ... with it, the first forged head gives it away.
    assert_database_broken(&scenario.database_check().await, 100, "not the trusted key");
    let log = scenario.export().await;
    // The auditor checks the export against the forged head with the real public key...
    assert_broken(
        scenario.audit(&log, &forged_head),
        EVENTS,
        "not by the given public key",
    );
    // ... or against the genuine head they kept: the chain there is another.
    assert_broken(
        scenario.audit(&log, &scenario.kept_head),
        EVENTS,
        "chain hash differs",
    );
}

#[tokio::test]
async fn an_event_a_relay_skipped_is_detected() {
    let scenario = Scenario::new().await;
    // What an auditor receives through a relay that left out event 444 (whatever it renumbers,
    // the chain would give away; here it simply skips).
    let log: String = scenario
        .export()
        .await
        .lines()
        .filter(|line| !line.starts_with("{\"position\":444,"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(log.lines().count() as u64, EVENTS - 1);
    assert_broken(
        scenario.audit(&log, &scenario.kept_head),
        444,
        "event 444 is missing from the log",
    );
    // The database itself was never missing it.
    assert!(scenario.database_check().await.is_ok());
}

#[tokio::test]
async fn the_crm_verify_binary_says_ok_or_names_the_problem_with_its_exit_status() {
    let scenario = Scenario::new().await;
    let folder = tempfile::tempdir().expect("a folder");
    let write = |name: &str, text: String| {
        let path = folder.path().join(name);
        std::fs::write(&path, text).expect("writes");
        path
    };
    let log = write("log.jsonl", scenario.export().await);
    let head = write(
        "head.json",
        serde_json::to_string_pretty(&scenario.kept_head).expect("serialises"),
    );
    let inclusion = write(
        "inclusion.json",
        serde_json::to_string(
            &tree::inclusion_proof(&scenario.pool, 42, EVENTS)
                .await
                .expect("a proof"),
        )
        .expect("serialises"),
    );
    let consistency = write(
        "consistency.json",
        serde_json::to_string(
            &tree::consistency_proof(&scenario.pool, 200, EVENTS)
                .await
                .expect("a proof"),
        )
        .expect("serialises"),
    );
    let old = write(
        "old.json",
        serde_json::to_string(&scenario.exported_head(200).await).expect("serialises"),
    );
    let key = hex::encode(scenario.public_key());
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crm-verify"))
            .args(args)
            .env_clear()
            .output()
            .expect("crm-verify runs")
    };
    let ok = run(&[
        "--log".as_ref(),
        log.as_os_str(),
        "--tree-head".as_ref(),
        head.as_os_str(),
        "--public-key".as_ref(),
        key.as_ref(),
        "--inclusion".as_ref(),
        inclusion.as_os_str(),
        "--consistency".as_ref(),
        consistency.as_os_str(),
        "--old-head".as_ref(),
        old.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.starts_with("ok: 600 events"), "{stdout}");
    assert!(
        stdout.contains("inclusion of position 42 verified"),
        "{stdout}"
    );
    assert!(
        stdout.contains("consistency from size 200 to 600 verified"),
        "{stdout}"
    );

    scenario
        .tamper("UPDATE events SET actor = 'user:mallory' WHERE position = 17;")
        .await;
    let tampered = write("tampered.jsonl", scenario.export().await);
    let broken = run(&[
        "--log".as_ref(),
        tampered.as_os_str(),
        "--tree-head".as_ref(),
        head.as_os_str(),
        "--public-key".as_ref(),
        key.as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("broken at position 17:"), "{stdout}");

    let unreadable = run(&[
        "--log".as_ref(),
        folder.path().join("absent.jsonl").as_os_str(),
        "--tree-head".as_ref(),
        head.as_os_str(),
        "--public-key".as_ref(),
        key.as_ref(),
    ]);
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unreadable.stderr).contains("absent.jsonl"),
        "{}",
        String::from_utf8_lossy(&unreadable.stderr)
    );
}
