//! The Merkle tree in the store against a real PostgreSQL: proofs served from the node table and
//! the chain hashes verify with the RFC 9162 algorithms, a resumed tree is the uninterrupted one,
//! and the node table is append-only and checked.

use chrono::Utc;
use eventstore::checkpoint::Signer;
use eventstore::merkle::{self, Frontier, Hash};
use eventstore::tree::{self, TreeWriter};
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, StoreError, StreamAppend,
    StreamRef,
};
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;

struct Log {
    database: TestDatabase,
    pool: deadpool_postgres::Pool,
    signer: Signer,
}

impl Log {
    /// A store holding `events` events: streams of up to 97 events, every third request a record
    /// access, so the log is not one regular shape.
    async fn new(events: u64) -> Log {
        let database = TestDatabase::new().await;
        let pool = eventstore::connect(&database.store_settings())
            .await
            .expect("the application connects");
        let appender = Appender::start(pool.clone(), 64);
        let mut appended = 0;
        let mut request = 0_u64;
        while appended < events {
            let count = (events - appended).min(97 - request % 13);
            let new_events = (0..count)
                .map(|index| NewEvent {
                    event_type: "noted".to_owned(),
                    schema_version: 1,
                    occurred_at: Utc::now(),
                    payload: json!({"request": request, "index": index, "note": "ok é \"q\""}),
                })
                .collect();
            let stream = StreamRef::new("contact", Uuid::now_v7());
            let append = if request % 3 == 2 {
                StreamAppend::access(stream, new_events)
            } else {
                StreamAppend::events(stream, ExpectedVersion::NoStream, new_events)
            };
            appender
                .append(AppendRequest::new(
                    Metadata::actor("user:test"),
                    vec![append],
                ))
                .await
                .expect("appended");
            appended += count;
            request += 1;
        }
        let signer = Signer::from_secret([3; 32]);
        signer.register(&pool).await.expect("the key registers");
        Log {
            database,
            pool,
            signer,
        }
    }

    /// Every event's chain hash, in position order.
    async fn chain_hashes(&self) -> Vec<Hash> {
        let client = self.pool.get().await.expect("a connection");
        client
            .query("SELECT hash FROM events ORDER BY position", &[])
            .await
            .expect("reads")
            .iter()
            .map(|row| row.get::<_, &[u8]>(0).try_into().expect("32 bytes"))
            .collect()
    }

    /// Builds the tree and signs a tree head at each of `sizes` (ascending).
    async fn sign_heads(&self, sizes: &[u64]) -> TreeWriter {
        let mut writer = TreeWriter::new();
        for &size in sizes {
            writer.catch_up(&self.pool, size).await.expect("catches up");
            let head = writer.sign(&self.pool, &self.signer).await.expect("signs");
            assert_eq!(head.position, size);
            assert!(head.verify(&self.signer.public_key()));
        }
        writer
    }
}

/// The roots of every tree size 0..=n, computed independently of the store.
fn reference_roots(chain_hashes: &[Hash]) -> Vec<Hash> {
    let mut frontier = Frontier::new();
    let mut roots = vec![frontier.root()];
    for hash in chain_hashes {
        frontier.push(hash);
        roots.push(frontier.root());
    }
    roots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_served_from_the_store_verify_for_many_positions_and_sizes() {
    let log = Log::new(1_300).await;
    let hashes = log.chain_hashes().await;
    assert_eq!(hashes.len(), 1_300);
    let roots = reference_roots(&hashes);
    let sizes = [
        1, 2, 3, 255, 256, 257, 511, 512, 700, 1024, 1025, 1299, 1300,
    ];
    let writer = log.sign_heads(&sizes).await;
    assert_eq!(writer.root(), roots[1300]);

    // Every size up to the latest head is served, multiples of 256 or not.
    let mut tested = 0;
    for size in (1..=1300_u64).step_by(37).chain(sizes) {
        assert_eq!(
            tree::root_at(&log.pool, size).await.expect("a root"),
            roots[size as usize],
            "root at {size}"
        );
        for position in [
            1,
            size / 3 + 1,
            size / 2 + 1,
            size.saturating_sub(1).max(1),
            size,
        ] {
            let proof = tree::inclusion_proof(&log.pool, position, size)
                .await
                .unwrap_or_else(|error| panic!("inclusion {position} in {size}: {error}"));
            assert_eq!((proof.leaf_index, proof.tree_size), (position - 1, size));
            merkle::verify_inclusion(
                &hashes[position as usize - 1],
                position - 1,
                size,
                &proof.audit_path,
                &roots[size as usize],
            )
            .unwrap_or_else(|error| panic!("inclusion {position} in {size}: {error}"));
            // Not for another leaf.
            let other = (position % size) as usize;
            if hashes[other] != hashes[position as usize - 1] {
                assert!(proof.verify(&hashes[other], &roots[size as usize]).is_err());
            }
            tested += 1;
        }
        for from in [1, size / 2 + 1, size.saturating_sub(1).max(1), size] {
            let proof = tree::consistency_proof(&log.pool, from, size)
                .await
                .unwrap_or_else(|error| panic!("consistency {from} to {size}: {error}"));
            merkle::verify_consistency(
                from,
                size,
                &roots[from as usize],
                &roots[size as usize],
                &proof.proof,
            )
            .unwrap_or_else(|error| panic!("consistency {from} to {size}: {error}"));
            tested += 1;
        }
    }
    assert!(tested > 300, "{tested} proofs");

    // Proofs serialise to the wire form an auditor gets, and still verify from it.
    let proof = tree::inclusion_proof(&log.pool, 777, 1300)
        .await
        .expect("a proof");
    let json = serde_json::to_string(&proof).expect("serialises");
    let back: merkle::InclusionProof = serde_json::from_str(&json).expect("deserialises");
    back.verify(&hashes[776], &roots[1300]).expect("verifies");
}

#[tokio::test]
async fn proofs_beyond_the_latest_tree_head_or_outside_the_tree_are_refused() {
    let log = Log::new(600).await;
    fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
        match result {
            Err(StoreError::NotCovered(message)) => message,
            other => panic!("refused as not covered, not {other:?}"),
        }
    }
    // No tree head yet: nothing is covered.
    let message = refused(tree::inclusion_proof(&log.pool, 1, 1).await);
    assert!(
        message.contains("beyond the latest signed tree head"),
        "{message}"
    );

    log.sign_heads(&[300]).await;
    assert_eq!(
        tree::latest_tree_head(&log.pool)
            .await
            .expect("reads")
            .map(|head| head.position),
        Some(300)
    );
    let message = refused(tree::inclusion_proof(&log.pool, 10, 301).await);
    assert!(message.contains("(300 events)"), "{message}");
    refused(tree::consistency_proof(&log.pool, 10, 400).await);
    refused(tree::root_at(&log.pool, 301).await);
    let message = refused(tree::inclusion_proof(&log.pool, 0, 300).await);
    assert!(message.contains("positions 1 to 300"), "{message}");
    refused(tree::inclusion_proof(&log.pool, 301, 300).await);
    refused(tree::consistency_proof(&log.pool, 0, 300).await);
    refused(tree::consistency_proof(&log.pool, 200, 100).await);
    tree::inclusion_proof(&log.pool, 300, 300)
        .await
        .expect("the head's own size is served");
    assert!(
        tree::tree_head_at(&log.pool, 299)
            .await
            .expect("reads")
            .is_none()
    );
    let heads = tree::tree_heads(&log.pool, 0, 10).await.expect("reads");
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].position, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_tree_equals_an_uninterrupted_one() {
    let log = Log::new(1_100).await;
    let hashes = log.chain_hashes().await;
    let mut uninterrupted = Frontier::new();
    let mut frontiers = vec![uninterrupted.clone()];
    for hash in &hashes {
        uninterrupted.push(hash);
        frontiers.push(uninterrupted.clone());
    }

    // Stop and resume at sizes on and off block boundaries; the last resumed writer finishes.
    let stops = [1, 7, 255, 256, 257, 300, 511, 512, 513, 768, 1000, 1023];
    let mut writer = TreeWriter::new();
    for &stop in &stops {
        writer.catch_up(&log.pool, stop).await.expect("catches up");
        writer.sign(&log.pool, &log.signer).await.expect("signs");
        let client = log.pool.get().await.expect("a connection");
        let resumed = tree::resume_frontier(&**client, stop)
            .await
            .expect("resumes");
        assert_eq!(resumed, frontiers[stop as usize], "frontier at {stop}");
        writer = TreeWriter::resume(&log.pool).await.expect("resumes");
        assert_eq!(writer.size(), stop);
        assert_eq!(writer.root(), frontiers[stop as usize].root());
    }
    // Events the writer learns of one by one (as the relay does), with repeats and a gap.
    for position in 1024..=1050_u64 {
        assert!(writer.push(position, &hashes[position as usize - 1]));
    }
    assert!(!writer.push(1040, &hashes[1039]), "a repeat is ignored");
    assert!(
        !writer.push(1060, &hashes[1059]),
        "a gap is not filled by guessing"
    );
    assert_eq!(writer.size(), 1050);
    writer
        .catch_up(&log.pool, 1100)
        .await
        .expect("fills the gap");
    let head = writer.sign(&log.pool, &log.signer).await.expect("signs");
    assert_eq!(head.tree_root, Some(uninterrupted.root()));

    // Every node a writer stored is the uninterrupted tree's, and no level below 8 is stored.
    let client = log.pool.get().await.expect("a connection");
    let rows = client
        .query("SELECT level, index, hash FROM merkle_nodes", &[])
        .await
        .expect("reads");
    let mut expected = std::collections::HashMap::new();
    let mut frontier = Frontier::new();
    for hash in &hashes {
        for (id, hash) in frontier.push(hash) {
            if id.level >= merkle::STORED_LEVEL {
                expected.insert((id.level, id.index), hash);
            }
        }
    }
    assert_eq!(rows.len(), expected.len(), "exactly the complete nodes");
    for row in rows {
        let level: i16 = row.get(0);
        let index: i64 = row.get(1);
        let stored: &[u8] = row.get(2);
        assert_eq!(
            Some(stored),
            expected
                .get(&(level as u32, index as u64))
                .map(|hash| hash.as_slice()),
            "node ({level}, {index})"
        );
    }

    // The database's own check agrees.
    let mut owner = log.database.owner_client().await;
    let report = eventstore::verify_log(
        &mut owner,
        &eventstore::VerifyOptions {
            from_tree_head: false,
            trusted_key: Some(log.signer.public_key()),
        },
    )
    .await
    .expect("verifies");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.chain.tree_heads_checked, stops.len() + 1);
    assert!(report.chain.nodes_checked >= 4, "{report:?}");
    assert_eq!(report.chain.root, uninterrupted.root());
    let from_head = eventstore::verify_log(
        &mut owner,
        &eventstore::VerifyOptions {
            from_tree_head: true,
            trusted_key: Some(log.signer.public_key()),
        },
    )
    .await
    .expect("verifies");
    assert!(from_head.is_ok(), "{from_head}");
    assert_eq!(from_head.started_at, Some(1100));
    assert_eq!(from_head.chain.checked, 0);
}

#[tokio::test]
async fn a_stored_node_that_differs_from_the_events_is_corruption() {
    let log = Log::new(520).await;
    let owner = log.database.owner_client().await;
    // A node for leaves 256..512 that is not theirs, written before the writer gets there.
    owner
        .execute(
            "INSERT INTO merkle_nodes (level, index, hash) VALUES (8, 1, $1)",
            &[&[7_u8; 32].as_slice()],
        )
        .await
        .expect("the owner inserts");
    let mut writer = TreeWriter::new();
    let error = writer
        .catch_up(&log.pool, 520)
        .await
        .expect_err("the differing node is noticed");
    assert!(
        matches!(&error, StoreError::Corrupt(message) if message.contains("(level 8, index 1)")),
        "{error}"
    );
}

#[tokio::test]
async fn the_node_table_is_append_only_like_the_log() {
    let log = Log::new(300).await;
    log.sign_heads(&[300]).await;
    let owner = log.database.owner_client().await;
    for role in ["origin", "replica"] {
        owner
            .batch_execute(&format!("SET session_replication_role = {role}"))
            .await
            .expect("the owner may set the replication role");
        for statement in [
            "UPDATE merkle_nodes SET hash = hash",
            "DELETE FROM merkle_nodes",
            "TRUNCATE merkle_nodes",
            "UPDATE checkpoints SET tree_root = tree_root",
        ] {
            let error = owner
                .batch_execute(statement)
                .await
                .expect_err(&format!("{statement} is refused ({role})"));
            let message = error
                .as_db_error()
                .map(|e| e.message().to_owned())
                .unwrap_or_default();
            assert!(message.contains("append-only"), "{statement}: {message}");
        }
    }
    let app = log.pool.get().await.expect("an application connection");
    for statement in [
        "UPDATE merkle_nodes SET hash = hash",
        "DELETE FROM merkle_nodes",
        "TRUNCATE merkle_nodes",
    ] {
        let error = app.batch_execute(statement).await.expect_err(statement);
        let code = error.as_db_error().map(|e| e.code().code().to_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}");
    }
    let error = app
        .batch_execute("INSERT INTO merkle_nodes (level, index, hash) VALUES (3, 0, '\\x00')")
        .await
        .expect_err("a node below the stored level, or not a hash, is refused");
    assert_eq!(
        error
            .as_db_error()
            .map(|e| e.code().code().to_owned())
            .as_deref(),
        Some("23514"),
        "a check constraint"
    );
}
