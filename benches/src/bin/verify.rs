//! Tamper evidence at scale: `crm verify`'s check (chain, Merkle tree, tree heads, signatures)
//! against a raw binary `COPY` of the same rows, and inclusion and consistency proof latency from
//! the node table, on a log of `--events` events built straight into a fresh database.
//!
//! `cargo run --release -p crm-benches --bin verify -- --events 10000000`

use std::time::{Duration, Instant};

use clap::Parser;
use crm_benches::{cpu_seconds, cpu_seconds_named, new_histogram, rate, summary};
use eventstore::VerifyOptions;
use eventstore::chain::{self, EventFields};
use eventstore::checkpoint::Signer;
use eventstore::tree::{self, TreeWriter};
use futures::{StreamExt, pin_mut};
use testkit::TestDatabase;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// Events in the log.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// A signed tree head every this many events (the relay's default).
    #[arg(long, default_value_t = 10_000)]
    head_every: u64,
    /// Random proofs of each kind whose latency is measured.
    #[arg(long, default_value_t = 1_000)]
    proofs: u64,
    /// Keep the database afterwards (its URL is printed), e.g. to run `crm verify` against it.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    anyhow::ensure!(options.events > 0, "--events must be at least 1");
    let database = TestDatabase::new().await;
    let owner = database.owner_client().await;
    let pool = eventstore::connect(&database.store_settings()).await?;

    let started = Instant::now();
    build_log(&owner, options.events).await?;
    println!(
        "built {} events in {:.1} s ({:.0} events/s)",
        options.events,
        started.elapsed().as_secs_f64(),
        rate(options.events, started.elapsed())
    );

    // A throwaway key for this run (random UUIDs are random bytes enough).
    let mut secret = [0_u8; 32];
    secret[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    secret[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    let signer = Signer::from_secret(secret);
    signer.register(&pool).await?;
    let started = Instant::now();
    let mut tree = TreeWriter::new();
    let mut heads = 0;
    while tree.size() < options.events {
        let to = (tree.size() + options.head_every).min(options.events);
        tree.catch_up(&pool, to).await?;
        tree.sign(&pool, &signer).await?;
        heads += 1;
    }
    println!(
        "Merkle nodes and {heads} signed tree heads in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    owner.batch_execute("VACUUM ANALYZE").await?;

    let raw = raw_copy(&owner).await?;
    println!("raw binary COPY of the same rows (drained, nothing checked): {raw:.0} events/s");

    let verify_options = VerifyOptions {
        from_tree_head: false,
        trusted_key: Some(signer.public_key()),
    };
    let (own_cpu, server_cpu) = cpu_now();
    let started = Instant::now();
    // What `crm verify` runs: its own connection, driven by the checking task.
    let report = eventstore::verify_database(&database.store_settings(), &verify_options).await?;
    let elapsed = started.elapsed();
    let (own_after, server_after) = cpu_now();
    anyhow::ensure!(report.is_ok(), "the honest log must verify: {report}");
    let verify_rate = rate(report.chain.checked, elapsed);
    println!(
        "verify (chain, tree, {} tree heads, signatures): {} events in {:.1} s = {verify_rate:.0} \
         events/s = {:.0} % of raw (target >= 200,000 events/s)",
        report.chain.tree_heads_checked,
        report.chain.checked,
        elapsed.as_secs_f64(),
        100.0 * verify_rate / raw
    );
    println!(
        "  CPU while verifying: this process {:.1} s, postgres {:.1} s, over {:.1} s",
        own_after - own_cpu,
        server_after - server_cpu,
        elapsed.as_secs_f64()
    );

    let latest = tree::latest_tree_head(&pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tree head"))?;
    let root = latest
        .tree_root
        .ok_or_else(|| anyhow::anyhow!("the latest head has no root"))?;
    let size = latest.position;
    let mut random = Random::new(secret);
    let reader = eventstore::Reader::new(pool.clone());

    let mut inclusion = new_histogram();
    for _ in 0..options.proofs {
        let position = 1 + random.below(size);
        let started = Instant::now();
        let proof = tree::inclusion_proof(&pool, position, size).await?;
        inclusion.record(micros(started.elapsed()))?;
        let event = reader
            .event_at(position)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no event at {position}"))?;
        proof
            .verify(&event.hash, &root)
            .map_err(|error| anyhow::anyhow!("inclusion of {position} in {size}: {error}"))?;
    }
    println!(
        "inclusion proof at {size} events (target p99 < 5 ms): {}",
        summary(&inclusion)
    );

    let mut consistency = new_histogram();
    for _ in 0..options.proofs {
        let from = 1 + random.below(size);
        let started = Instant::now();
        let proof = tree::consistency_proof(&pool, from, size).await?;
        consistency.record(micros(started.elapsed()))?;
        let old_root = tree::root_at(&pool, from).await?;
        proof
            .verify(&old_root, &root)
            .map_err(|error| anyhow::anyhow!("consistency {from} -> {size}: {error}"))?;
    }
    println!(
        "consistency proof to {size} events: {}",
        summary(&consistency)
    );
    if options.keep {
        println!(
            "kept the database: CRM_DATABASE_URL={} (drop it by hand)",
            database.url
        );
        std::mem::forget(database);
    }
    Ok(())
}

/// CPU seconds used so far by this process and by the local PostgreSQL server.
fn cpu_now() -> (f64, f64) {
    (
        cpu_seconds(std::process::id()).unwrap_or(0.0),
        cpu_seconds_named("postgres"),
    )
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Writes `events` chained events with one binary `COPY` (as the owner, which may insert), about
/// 300 bytes of payload each, and moves the log head to the last.
async fn build_log(client: &tokio_postgres::Client, events: u64) -> anyhow::Result<()> {
    let sink = client
        .copy_in(
            "COPY events (position, event_id, category, stream_type, stream_id, stream_version, \
             event_type, schema_version, occurred_at, recorded_at, actor, correlation_id, \
             causation_id, payload, hash) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::INT8,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::UUID,
        Type::INT8,
        Type::TEXT,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::UUID,
        Type::UUID,
        Type::JSONB,
        Type::BYTEA,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let base = Uuid::now_v7().as_u128();
    let start = chrono::Utc::now() - chrono::Duration::days(365);
    let start_micros = start.timestamp_micros();
    let actor = "user:0190f0c2-7a51-7cc3-9d2b-4f6e0a1b2c3d";
    let mut previous = chain::GENESIS;
    let mut scratch = Vec::with_capacity(1024);
    let mut payload = String::with_capacity(512);
    for position in 1..=events {
        let event_id = Uuid::from_u128(base ^ u128::from(position));
        let stream_id = Uuid::from_u128(base.rotate_left(64) ^ u128::from(position));
        let correlation_id = Uuid::from_u128(base.rotate_left(32) ^ u128::from(position));
        let at = start_micros + i64::try_from(position)?;
        let time = chrono::DateTime::from_timestamp_micros(at)
            .ok_or_else(|| anyhow::anyhow!("a time out of range"))?;
        payload.clear();
        // Canonical JSON already (keys sorted, no white space), as the appender stores it.
        payload.push_str(&format!(
            "{{\"body\":\"Discussed volume discount; they want the revised quote by Friday.\",\
             \"contact_id\":\"{stream_id}\",\"direction\":\"outbound\",\"duration_minutes\":{},\
             \"kind\":\"call\",\"outcome\":\"interested\",\
             \"subject\":\"Follow-up on the renewal quote #{position}\"}}",
            12 + position % 30
        ));
        let fields = EventFields {
            position,
            event_id: event_id.as_bytes(),
            category: "events",
            stream_type: "activity",
            stream_id: stream_id.as_bytes(),
            stream_version: Some(1),
            event_type: "logged",
            schema_version: 1,
            occurred_at_micros: at,
            recorded_at_micros: at,
            actor,
            correlation_id: Some(correlation_id.as_bytes()),
            causation_id: None,
        };
        let hash = chain::fields_hash(&previous, &fields, payload.as_bytes(), &mut scratch);
        previous = hash;
        writer
            .as_mut()
            .write(&[
                &i64::try_from(position)?,
                &event_id,
                &"events",
                &"activity",
                &stream_id,
                &Some(1_i64),
                &"logged",
                &1_i32,
                &time,
                &time,
                &actor,
                &Some(correlation_id),
                &None::<Uuid>,
                &Jsonb(payload.as_bytes()),
                &hash.as_slice(),
            ])
            .await?;
    }
    writer.finish().await?;
    client
        .execute(
            "UPDATE log_head SET position = $1, hash = $2",
            &[&i64::try_from(events)?, &previous.as_slice()],
        )
        .await?;
    Ok(())
}

/// The rows `verify` reads, as it reads them, drained without looking at them.
async fn raw_copy(client: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let started = Instant::now();
    let stream = client
        .copy_out(
            "COPY (SELECT position, event_id, category, stream_type, stream_id, stream_version, \
             event_type, schema_version, occurred_at, recorded_at, actor, correlation_id, \
             causation_id, payload, hash FROM events ORDER BY position) TO STDOUT (FORMAT binary)",
        )
        .await?;
    pin_mut!(stream);
    let mut bytes = 0_u64;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len() as u64;
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await?
        .get(0);
    let elapsed = started.elapsed();
    println!(
        "  ({} MB in {:.1} s)",
        bytes / 1_000_000,
        elapsed.as_secs_f64()
    );
    Ok(rate(u64::try_from(rows)?, elapsed))
}

/// JSON text already in canonical form, sent as `jsonb` (version byte, then the text).
#[derive(Debug)]
struct Jsonb<'a>(&'a [u8]);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// xorshift64*: enough randomness to pick proof positions, seeded from the run's key.
struct Random(u64);

impl Random {
    fn new(seed: [u8; 32]) -> Random {
        let mut state = [0_u8; 8];
        state.copy_from_slice(&seed[..8]);
        Random(u64::from_le_bytes(state) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}
