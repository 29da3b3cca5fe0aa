//! Access-logged reads: `crm up` (started here on a fresh database and stream, or one given with
//! `--url`), 64 keep-alive connections each reading one contact after the other by id
//! (`GET /v1/contacts/{id}`: authenticate, decide on the owner, query the read model, commit the
//! `record_accessed` event, answer). In the same run, the baseline: the same read-model query
//! (`RecordQueries::get`, the statement the API runs) made by the bench itself at the same
//! concurrency, without logging and without HTTP.
//!
//! Targets: >= 5,000 logged reads/s with p99 < 30 ms, and >= 0.6 of the baseline.
//!
//! `cargo build --release -p crm && cargo run --release -p crm-benches --bin reads`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use crm_benches::system::{Client, start, wait_for_projection};
use crm_benches::{cpu_seconds, cpu_seconds_named, new_histogram, peak_rss_mib, rate, summary};
use hdrhistogram::Histogram;
use records::{Collection, RecordQueries};
use serde_json::json;
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// The crm binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/crm")]
    crm: PathBuf,
    /// Keep-alive connections (and baseline tasks), each with one read in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of each measured phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Contacts to read among.
    #[arg(long, default_value_t = 1_000)]
    contacts: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let target = start(&options.crm, None, None, None).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let client = Arc::new(Client {
        http,
        base: target.base.clone(),
        token: target.token.clone(),
    });

    let mut contacts = Vec::with_capacity(options.contacts);
    for n in 0..options.contacts {
        let id = client
            .create(
                "/v1/contacts",
                json!({"first_name": format!("Reader{n}"), "last_name": "Bench",
                       "email": format!("reader{n}@bench.example"), "tags": ["bench"]}),
            )
            .await?;
        contacts.push(Uuid::parse_str(&id)?);
    }
    wait_for_projection(&client, Duration::from_secs(120)).await?;
    let contacts = Arc::new(contacts);
    println!("setup: {} contacts (projected)", contacts.len());

    // Warm up the server's caches and connections.
    let _ = logged_reads(
        &client,
        &contacts,
        options.connections,
        Duration::from_secs(2),
    )
    .await?;
    let crm_cpu = target.pid.and_then(cpu_seconds);
    let postgres_cpu = cpu_seconds_named("postgres");
    let (logged, latencies) = logged_reads(
        &client,
        &contacts,
        options.connections,
        Duration::from_secs(options.seconds),
    )
    .await?;
    let crm_cpu = target
        .pid
        .and_then(cpu_seconds)
        .zip(crm_cpu)
        .map(|(after, before)| (after - before) / options.seconds as f64);
    let postgres_cpu = (cpu_seconds_named("postgres") - postgres_cpu) / options.seconds as f64;
    println!(
        "logged reads over HTTP, {} connections: {logged:.0} reads/s, latency {}",
        options.connections,
        summary(&latencies)
    );
    println!(
        "  cores busy: crm {}, postgres {postgres_cpu:.2}",
        crm_cpu.map_or("?".to_owned(), |cpu| format!("{cpu:.2}"))
    );

    let baseline = read_model_queries(
        &target
            .database_url()
            .context("the bench started the system")?,
        &contacts,
        options.connections,
        Duration::from_secs(options.seconds),
    )
    .await?;
    println!(
        "baseline: the same read-model query by the bench, no log, no HTTP: {baseline:.0} reads/s"
    );
    println!("ratio logged / baseline: {:.2}", logged / baseline);
    match target.pid.and_then(peak_rss_mib) {
        Some(rss) => println!("crm peak RSS (VmHWM): {rss:.0} MiB"),
        None => println!("crm peak RSS: unknown"),
    }
    Ok(())
}

/// Reads contacts by id over HTTP from `connections` tasks for `length`.
async fn logged_reads(
    client: &Arc<Client>,
    contacts: &Arc<Vec<Uuid>>,
    connections: usize,
    length: Duration,
) -> anyhow::Result<(f64, Histogram<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|task| {
            let (client, contacts, stop, done) =
                (client.clone(), contacts.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut histogram = new_histogram();
                let mut index = task * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let id = contacts[index % contacts.len()];
                    index += 13;
                    let sent = Instant::now();
                    client.get(&format!("/v1/contacts/{id}")).await?;
                    histogram.record(sent.elapsed().as_micros() as u64)?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(histogram)
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies = new_histogram();
    for task in tasks {
        latencies.add(task.await??)?;
    }
    Ok((rate(done.load(Ordering::Relaxed), elapsed), latencies))
}

/// The API's read-model query, made directly at the same concurrency; the answer stays sealed.
async fn read_model_queries(
    database_url: &str,
    contacts: &Arc<Vec<Uuid>>,
    connections: usize,
    length: Duration,
) -> anyhow::Result<f64> {
    // As many database connections as the API's read pool has, beside the running system's
    // (one per task would pass the server's connection limit).
    let settings = eventstore::StoreSettings {
        url: database_url.to_owned(),
        pool_size: connections.min(eventstore::StoreSettings::default().pool_size),
        ..eventstore::StoreSettings::default()
    };
    let pool = projector::connect(&settings).await?;
    let projections = projector::ProjectionReader::new(pool.clone());
    let (schema, _) = projections.live_schema(records::NAME).await?;
    let queries = RecordQueries::new(pool);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|task| {
            let (queries, schema, contacts, stop, done) = (
                queries.clone(),
                schema.clone(),
                contacts.clone(),
                stop.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                let mut index = task * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let id = contacts[index % contacts.len()];
                    index += 13;
                    let found = queries.get(&schema, Collection::Contacts, id).await?;
                    anyhow::ensure!(found.is_some(), "contact {id} is in the read model");
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for task in tasks {
        task.await??;
    }
    Ok(rate(done.load(Ordering::Relaxed), elapsed))
}
