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
    /// Events appended in each throughput phase of each round.
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
    /// Rounds of the two throughput phases, taken in turns.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
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

    // Warm up (connections, prepared statements, the table's first pages).
    let streams: Arc<Vec<StreamRef>> = Arc::new(
        (0..STREAMS)
            .map(|_| StreamRef::new("activity", Uuid::now_v7()))
            .collect(),
    );
    for stream in streams.iter().take(256) {
        appender.append(activity(stream, 1)).await?;
    }
    let mut raw = RawInsert::new(&owner, streams.clone()).await?;

    // The machine's speed drifts over seconds: the two are measured in turns, and the ratio of
    // each round's pair is reported with their median.
    let mut ratios = Vec::new();
    for round in 1..=options.rounds {
        let raw_rate = raw.insert(options.events, options.raw_batch).await?;
        let appender_rate =
            appender_throughput(&appender, &streams, options.writers, options.events).await?;
        let ratio = appender_rate / raw_rate;
        println!(
            "round {round}: raw batched INSERT ({} rows/transaction, 1 connection) {raw_rate:.0} events/s; \
             appender ({} writers x 1 event) {appender_rate:.0} events/s = {:.0} % of raw",
            options.raw_batch,
            options.writers,
            100.0 * ratio
        );
        ratios.push((ratio, appender_rate, raw_rate));
    }
    ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, appender_rate, raw_rate) = ratios[ratios.len() / 2];
    println!(
        "median round: appender {appender_rate:.0} events/s, raw {raw_rate:.0} events/s: {:.0} % of raw",
        100.0 * ratio
    );

    let latencies = latency_at_rate(&appender, &streams, options.rate, options.seconds).await?;
    println!(
        "append latency at {} events/s: {}",
        options.rate,
        summary(&latencies)
    );
    Ok(())
}

/// Streams the appends go to, in turns, as activities logged against deals would.
const STREAMS: usize = 1024;

async fn appender_throughput(
    appender: &Appender,
    streams: &Arc<Vec<StreamRef>>,
    writers: u64,
    events: u64,
) -> anyhow::Result<f64> {
    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writers = (0..writers).map(|writer| {
        let appender = appender.clone();
        let streams = streams.clone();
        let appended = appended.clone();
        tokio::spawn(async move {
            let mut index = writer as usize;
            while appended.fetch_add(1, Ordering::Relaxed) < events {
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
    Ok(rate(events, started.elapsed()))
}

/// The rows the appender writes (the same streams in turns, each at its next version, the same
/// payload, 32 bytes of hash each), inserted by `unnest` in transactions of `batch` rows into a table
/// shaped like `events` (same columns, keys and indexes; no triggers, no chain, no checks).
struct RawInsert<'a> {
    client: &'a tokio_postgres::Client,
    statement: tokio_postgres::Statement,
    streams: Arc<Vec<StreamRef>>,
    versions: Vec<i64>,
    position: i64,
}

impl<'a> RawInsert<'a> {
    async fn new(
        client: &'a tokio_postgres::Client,
        streams: Arc<Vec<StreamRef>>,
    ) -> anyhow::Result<RawInsert<'a>> {
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
        let versions = vec![0; streams.len()];
        Ok(RawInsert {
            client,
            statement,
            streams,
            versions,
            position: 0,
        })
    }

    async fn insert(&mut self, events: u64, batch: usize) -> anyhow::Result<f64> {
        let template = activity(&self.streams[0], 1);
        let payload = template.streams[0].events[0].payload.clone();
        let started = Instant::now();
        let mut left = events as usize;
        while left > 0 {
            let rows = batch.min(left);
            left -= rows;
            let positions: Vec<i64> = (self.position + 1..=self.position + rows as i64).collect();
            self.position += rows as i64;
            let mut stream_ids = Vec::with_capacity(rows);
            let mut versions = Vec::with_capacity(rows);
            for position in &positions {
                let index = *position as usize % self.streams.len();
                self.versions[index] += 1;
                stream_ids.push(self.streams[index].stream_id);
                versions.push(Some(self.versions[index]));
            }
            let now = chrono::Utc::now();
            let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
            let correlations: Vec<Option<Uuid>> = (0..rows).map(|_| Some(Uuid::now_v7())).collect();
            let hashes: Vec<Vec<u8>> = ids
                .iter()
                .map(|id| [id.as_bytes().as_slice(), id.as_bytes()].concat())
                .collect();
            self.client.batch_execute("BEGIN").await?;
            self.client
                .execute(
                    &self.statement,
                    &[
                        &positions,
                        &ids,
                        &vec!["events"; rows],
                        &vec!["activity"; rows],
                        &stream_ids,
                        &versions,
                        &vec!["logged"; rows],
                        &vec![1i32; rows],
                        &vec![now; rows],
                        &vec![now; rows],
                        &vec![template.metadata.actor.as_str(); rows],
                        &correlations,
                        &vec![None::<Uuid>; rows],
                        &vec![payload.clone(); rows],
                        &hashes,
                    ],
                )
                .await?;
            self.client.batch_execute("COMMIT").await?;
        }
        Ok(rate(events, started.elapsed()))
    }
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
