//! Durable appends: the appender with many concurrent writers against a raw batched INSERT of the
//! same rows, measured in the same run on the same server; then latency at a fixed rate.
//!
//! `cargo run --release -p crm-benches --bin store-append -- --events 200000`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use crm_benches::{activity, new_histogram, rate, summary};
use eventstore::{Appender, StreamRef};
use testkit::TestDatabase;
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// Events appended in each throughput phase.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Concurrent writers, each appending one event at a time.
    #[arg(long, default_value_t = 256)]
    writers: u64,
    /// Rows per transaction of the raw baseline.
    #[arg(long, default_value_t = 256)]
    raw_batch: usize,
    /// Appends per second in the latency phase.
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    crm_benches::log_from_env();
    let database = TestDatabase::new().await;
    let owner = database.owner_client().await;
    let settings = database.store_settings();
    let pool = eventstore::connect(&settings).await?;
    let appender = Appender::start(pool.clone(), settings.batch_max);

    // Warm up (connections, prepared statements, the table's first pages) and keep the rows as
    // the raw baseline's template.
    let streams: Arc<Vec<StreamRef>> = Arc::new(
        (0..1024)
            .map(|_| StreamRef::new("activity", Uuid::now_v7()))
            .collect(),
    );
    for stream in streams.iter().take(256) {
        appender.append(activity(stream, 1)).await?;
    }

    let raw = raw_batched_insert(&owner, options.events, options.raw_batch).await?;
    println!(
        "raw batched INSERT ({} rows/transaction, 1 connection): {:.0} events/s",
        options.raw_batch, raw
    );

    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writers = (0..options.writers).map(|writer| {
        let appender = appender.clone();
        let streams = streams.clone();
        let appended = appended.clone();
        let total = options.events;
        tokio::spawn(async move {
            let mut index = writer as usize;
            while appended.fetch_add(1, Ordering::Relaxed) < total {
                let stream = &streams[index % streams.len()];
                appender.append(activity(stream, 1)).await?;
                index += 7;
            }
            anyhow::Ok(())
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer??;
    }
    let appender_rate = rate(options.events, started.elapsed());
    println!(
        "appender, {} writers x 1 event: {:.0} events/s = {:.0} % of raw",
        options.writers,
        appender_rate,
        100.0 * appender_rate / raw
    );

    let latencies = latency_at_rate(&appender, &streams, options.rate, options.seconds).await?;
    println!(
        "append latency at {} events/s: {}",
        options.rate,
        summary(&latencies)
    );
    Ok(())
}

/// The same rows the appender writes, inserted by `unnest` in transactions of `batch` rows into a
/// table shaped like `events` (same columns, keys and indexes; no triggers, no chain).
async fn raw_batched_insert(
    client: &tokio_postgres::Client,
    events: u64,
    batch: usize,
) -> anyhow::Result<f64> {
    client
        .batch_execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .await?;
    let statement = client
        .prepare(
            "INSERT INTO raw_events SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], \
             $4::text[], $5::uuid[], $6::bigint[], $7::text[], $8::integer[], $9::timestamptz[], \
             $10::timestamptz[], $11::text[], $12::uuid[], $13::uuid[], $14::jsonb[], $15::bytea[])",
        )
        .await?;
    let template = activity(&StreamRef::new("activity", Uuid::now_v7()), 1);
    let payload = template.streams[0].events[0].payload.clone();
    let started = Instant::now();
    let mut position = 0i64;
    while (position as u64) < events {
        let rows = batch.min((events - position as u64) as usize);
        let positions: Vec<i64> = (position + 1..=position + rows as i64).collect();
        position += rows as i64;
        let now = chrono::Utc::now();
        let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
        client.batch_execute("BEGIN").await?;
        client
            .execute(
                &statement,
                &[
                    &positions,
                    &ids,
                    &vec!["events"; rows],
                    &vec!["activity"; rows],
                    &ids,
                    &vec![Some(1i64); rows],
                    &vec!["logged"; rows],
                    &vec![1i32; rows],
                    &vec![now; rows],
                    &vec![now; rows],
                    &vec![template.metadata.actor.as_str(); rows],
                    &vec![template.metadata.correlation_id; rows],
                    &vec![None::<Uuid>; rows],
                    &vec![payload.clone(); rows],
                    &vec![vec![0u8; 32]; rows],
                ],
            )
            .await?;
        client.batch_execute("COMMIT").await?;
    }
    Ok(rate(events, started.elapsed()))
}

/// Open loop: one append started every 1/rate seconds, whatever the earlier ones are doing.
async fn latency_at_rate(
    appender: &Appender,
    streams: &Arc<Vec<StreamRef>>,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = rate * seconds;
    for index in 0..total {
        ticker.tick().await;
        let appender = appender.clone();
        let stream = streams[index as usize % streams.len()].clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = appender.append(activity(&stream, 1)).await;
            let _ = sender.send(outcome.map(|_| started.elapsed()));
        });
    }
    drop(sender);
    let mut histogram = new_histogram();
    while let Some(outcome) = receiver.recv().await {
        histogram.record(outcome?.as_micros() as u64)?;
    }
    Ok(histogram)
}
