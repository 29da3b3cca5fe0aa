//! The relay: catch-up of a filled store against raw pipelined JetStream publishing of the same
//! envelopes (same server, same run), then commit-to-JetStream lag at a fixed append rate, with
//! the peak memory of the `crm up` process that runs the relay.
//!
//! `cargo build --release -p crm && cargo run --release -p crm-benches --bin relay`

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use clap::Parser;
use crm_benches::{activity, new_histogram, peak_rss_mib, rate, summary};
use eventlog::{Envelope, NatsSettings};
use eventstore::{Appender, Reader, StreamRef};
use futures::StreamExt;
use testkit::{TestDatabase, TestStream};
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// Events in the store before the relay starts.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// The crm binary to run (build it with --release first).
    #[arg(long, default_value = "target/release/crm")]
    crm: PathBuf,
    /// Publishes awaiting acknowledgement at once in the raw baseline.
    #[arg(long, default_value_t = 1024)]
    window: usize,
    /// Appends per second in the lag phase.
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of the lag phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let database = TestDatabase::new().await;
    let stream = TestStream::new();
    let settings = database.store_settings();
    let pool = eventstore::connect(&settings).await?;
    let appender = Appender::start(pool.clone(), settings.batch_max);

    let filling = Instant::now();
    fill(&appender, options.events).await?;
    println!(
        "filled the store with {} events in {:.1} s",
        options.events,
        filling.elapsed().as_secs_f64()
    );

    let raw = raw_publish(&pool, &stream, options.events, options.window).await?;
    println!(
        "raw pipelined JetStream publish (window {}): {raw:.0} events/s",
        options.window
    );

    let data = tempfile_dir()?;
    let mut crm = Command::new(&options.crm)
        .arg("up")
        .env("CRM_DATABASE_URL", &database.url)
        .env("CRM_NATS_URL", &stream.url)
        .env("CRM_NATS_STREAM", &stream.stream)
        .env("CRM_NATS_SUBJECT_PREFIX", &stream.subject_prefix)
        .env("CRM_DATA_DIR", &data)
        .env(
            "CRM_API_LISTEN",
            format!("127.0.0.1:{}", testkit::free_port()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    let probe = eventlog::StreamProbe::new(stream.client().await, &nats_settings(&stream));
    while probe.last_sequence().await.unwrap_or(0) < options.events {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up = rate(options.events, started.elapsed());
    println!(
        "relay catch-up of {} events: {catch_up:.0} events/s = {:.0} % of raw",
        options.events,
        100.0 * catch_up / raw
    );

    let lag = lag_at_rate(&appender, &stream, options.rate, options.seconds).await?;
    println!(
        "commit-to-JetStream lag at {} events/s: {}",
        options.rate,
        summary(&lag)
    );
    println!(
        "crm up peak RSS: {:.0} MiB",
        peak_rss_mib(crm.id()).unwrap_or(f64::NAN)
    );
    let _ = crm.kill();
    let _ = crm.wait();
    let _ = std::fs::remove_dir_all(data);
    Ok(())
}

fn nats_settings(stream: &TestStream) -> NatsSettings {
    NatsSettings {
        url: stream.url.clone(),
        stream: stream.stream.clone(),
        subject_prefix: stream.subject_prefix.clone(),
        ..NatsSettings::default()
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("crm-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

/// Fills the store quickly: requests of 500 events over many streams, four at a time.
async fn fill(appender: &Appender, events: u64) -> anyhow::Result<()> {
    let per_request = 500u64;
    let requests = events.div_ceil(per_request);
    let results = futures::stream::iter(0..requests)
        .map(|index| {
            let appender = appender.clone();
            async move {
                let count = per_request.min(events - index * per_request) as usize;
                let stream = StreamRef::new("activity", Uuid::now_v7());
                appender.append(activity(&stream, count)).await
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for result in results {
        result?;
    }
    Ok(())
}

/// The relay's work without the relay: the same envelopes and headers, published pipelined to a
/// stream of their own. Reading and encoding happen before the clock starts.
async fn raw_publish(
    pool: &deadpool_postgres::Pool,
    stream: &TestStream,
    events: u64,
    window: usize,
) -> anyhow::Result<f64> {
    let reader = Reader::new(pool.clone());
    let prefix = format!("{}raw", stream.subject_prefix);
    let mut messages = Vec::with_capacity(events as usize);
    let mut after = 0;
    while after < events {
        for event in reader.read_from(after, 5_000).await? {
            after = event.position;
            let envelope = Envelope::from_stored(&event, "urn:crm");
            let subject = format!(
                "{prefix}.events.{}.{}",
                event.stream.stream_type, event.stream.stream_id
            );
            messages.push((subject, envelope.headers(), envelope.to_json()?));
        }
    }
    let context = jetstream::new(stream.client().await);
    context
        .create_stream(jetstream::stream::Config {
            name: format!("{}_RAW", stream.stream),
            subjects: vec![format!("{prefix}.>")],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::with_capacity(window);
    for (subject, headers, payload) in messages {
        if pending.len() == window
            && let Some(ack) = pending.pop_front()
        {
            let ack: jetstream::context::PublishAckFuture = ack;
            ack.await?;
        }
        pending.push_back(
            context
                .publish_with_headers(subject, headers, payload)
                .await?,
        );
    }
    for ack in pending {
        ack.await?;
    }
    let elapsed = started.elapsed();
    context
        .delete_stream(format!("{}_RAW", stream.stream))
        .await?;
    Ok(rate(events, elapsed))
}

/// Appends at a fixed rate while watching the stream: the time from an append's commit to its
/// event arriving from JetStream.
async fn lag_at_rate(
    appender: &Appender,
    stream: &TestStream,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let client = stream.client().await;
    let mut subscription = client
        .subscribe(format!("{}.events.>", stream.subject_prefix))
        .await?;
    client.flush().await?;
    let committed: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let arrived: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let total = rate * seconds;
    let watcher = {
        let arrived = arrived.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while seen < total {
                let Ok(Some(message)) =
                    tokio::time::timeout(Duration::from_secs(10), subscription.next()).await
                else {
                    break;
                };
                let position = message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get("Crm-Position"))
                    .and_then(|value| value.as_str().parse::<u64>().ok());
                if let (Some(position), Ok(mut arrived)) = (position, arrived.lock()) {
                    arrived.insert(position, Instant::now());
                    seen += 1;
                }
            }
        })
    };

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut appends = Vec::with_capacity(total as usize);
    for _ in 0..total {
        ticker.tick().await;
        let appender = appender.clone();
        let committed = committed.clone();
        appends.push(tokio::spawn(async move {
            let stream = StreamRef::new("activity", Uuid::now_v7());
            let appended = appender.append(activity(&stream, 1)).await?;
            if let Ok(mut committed) = committed.lock() {
                committed.insert(appended.last_position, Instant::now());
            }
            anyhow::Ok(())
        }));
    }
    for append in futures::future::join_all(appends).await {
        append??;
    }
    watcher.await?;

    let committed = committed.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let arrived = arrived.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut histogram = new_histogram();
    for (position, commit) in committed.iter() {
        let arrival = arrived
            .get(position)
            .ok_or_else(|| anyhow::anyhow!("event {position} never arrived"))?;
        histogram.record(
            arrival
                .saturating_duration_since(*commit)
                .as_micros()
                .max(1) as u64,
        )?;
    }
    Ok(histogram)
}
