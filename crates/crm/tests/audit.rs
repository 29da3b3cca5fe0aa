//! `crm verify` and `crm export` as an operator and an auditor run them, against the real
//! PostgreSQL: the exports are what `crm-verify` (the `verifier` crate) checks offline.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::Utc;
use eventstore::checkpoint::Signer;
use eventstore::tree::TreeWriter;
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, StreamAppend, StreamRef,
};
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;
use verifier::Expectations;

fn crm(database: &TestDatabase, data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("CRM_DATABASE_URL", &database.url)
        .env("CRM_DATA_DIR", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("crm runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_verify_offline_and_crm_verify_checks_tree_heads_against_the_installation_key() {
    let database = TestDatabase::new().await;
    let data = tempfile::tempdir().expect("a data folder");
    let pool = eventstore::connect(&database.store_settings())
        .await
        .expect("the application connects");
    let appender = Appender::start(pool.clone(), 64);
    for index in 0..70 {
        let events = (0..10)
            .map(|n| NewEvent {
                event_type: "noted".to_owned(),
                schema_version: 1,
                occurred_at: Utc::now(),
                payload: json!({"batch": index, "n": n, "amount": 12.5}),
            })
            .collect();
        appender
            .append(AppendRequest::new(
                Metadata::actor("user:test"),
                vec![StreamAppend::events(
                    StreamRef::new("deal", Uuid::now_v7()),
                    ExpectedVersion::NoStream,
                    events,
                )],
            ))
            .await
            .expect("appended");
    }
    // The relay's key in the data folder, and tree heads at 500 and 700.
    let signer = Signer::load_or_create(data.path()).expect("a key");
    signer.register(&pool).await.expect("registers");
    let mut writer = TreeWriter::new();
    for size in [500, 700] {
        writer.catch_up(&pool, size).await.expect("catches up");
        writer.sign(&pool, &signer).await.expect("signs");
    }

    let verified = crm(&database, data.path(), &["verify"]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    assert!(
        text(&verified.stdout).starts_with("ok: 700 events verified, 2 tree heads agree"),
        "{}",
        text(&verified.stdout)
    );
    assert!(
        text(&verified.stderr).contains("against the key"),
        "{}",
        text(&verified.stderr)
    );
    let from_head = crm(&database, data.path(), &["verify", "--from-tree-head"]);
    assert!(
        text(&from_head.stdout)
            .starts_with("ok: 0 events verified after the signed checkpoint at 700"),
        "{}",
        text(&from_head.stdout)
    );

    // The auditor's files.
    let folder = tempfile::tempdir().expect("a folder");
    let file = |name: &str| folder.path().join(name);
    let exports: [(&str, &[&str]); 5] = [
        ("log.jsonl", &[]),
        ("head.json", &["--tree-head"]),
        ("old-head.json", &["--tree-head", "--tree-size", "500"]),
        ("inclusion.json", &["--inclusion", "321"]),
        ("consistency.json", &["--consistency", "500"]),
    ];
    for (name, options) in exports {
        let path = file(name).display().to_string();
        let mut args = vec!["export"];
        args.extend_from_slice(options);
        args.extend_from_slice(&["--out", &path]);
        let output = crm(&database, data.path(), &args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let read = |name: &str| std::fs::read_to_string(file(name)).expect(name);
    let log = read("log.jsonl");
    assert_eq!(log.lines().count(), 700);
    let expected = Expectations {
        public_key: signer.public_key(),
        tree_head: serde_json::from_str(&read("head.json")).expect("a tree head"),
        inclusion: Some(serde_json::from_str(&read("inclusion.json")).expect("a proof")),
        consistency: Some((
            serde_json::from_str(&read("consistency.json")).expect("a proof"),
            serde_json::from_str(&read("old-head.json")).expect("a head"),
        )),
    };
    let outcome = verifier::check(log.as_bytes(), &expected).expect("the export verifies");
    assert_eq!(outcome.tree_size, 700);
    assert!(outcome.root_recomputed);
    assert_eq!(outcome.inclusion, Some(321));
    assert_eq!(outcome.consistency, Some((500, 700)));

    // A page of the log on standard output.
    let page = crm(
        &database,
        data.path(),
        &["export", "--after", "100", "--limit", "10"],
    );
    assert!(page.status.success(), "{}", text(&page.stderr));
    let positions: Vec<u64> = text(&page.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("JSON")["position"]
                .as_u64()
                .expect("a position")
        })
        .collect();
    assert_eq!(positions, (101..=110).collect::<Vec<_>>());

    // Proofs past the latest tree head are refused, saying why.
    let refused = crm(&database, data.path(), &["export", "--inclusion", "701"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("position 701 is not in a tree of size 700"),
        "{}",
        text(&refused.stderr)
    );

    // Heads checked against another key than the one that signed them.
    let other = hex::encode(Signer::from_secret([9; 32]).public_key());
    let wrong_key = crm(&database, data.path(), &["verify", "--public-key", &other]);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(
        text(&wrong_key.stdout).starts_with("broken at position 500:"),
        "{}",
        text(&wrong_key.stdout)
    );

    // A changed event, found by both.
    let owner = database.owner_client().await;
    owner
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_append_only;
             UPDATE events SET payload = '{\"batch\": 1, \"n\": 1, \"amount\": 99}' WHERE position = 12;",
        )
        .await
        .expect("the owner tampers");
    let tampered = crm(&database, data.path(), &["verify"]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        text(&tampered.stdout).starts_with("broken at position 12:"),
        "{}",
        text(&tampered.stdout)
    );
    let exported = crm(&database, data.path(), &["export"]);
    let error = verifier::check(exported.stdout.as_slice(), &expected).expect_err("broken");
    assert!(
        error.to_string().starts_with("broken at position 12:"),
        "{error}"
    );
}
