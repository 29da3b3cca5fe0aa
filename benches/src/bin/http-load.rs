//! The whole system under a sales team's load over HTTP: `crm up` (started here on a fresh
//! database and stream, or one already running with `--url`), 64 keep-alive connections, each
//! sending one request after the other: 60 % activities logged on a deal, 20 % deal stage
//! changes, 10 % creations (companies, contacts, deals in turn), 10 % reads of a record by id,
//! over deals and contacts created beforehand.
//!
//! Reports the commands per second sustained, p50/p99/max latency per kind, how far the read
//! models trail the store while the load runs (polling `/readyz`, the slowest of them at each
//! poll: in events, and in time: how long until it reaches the position the store had at a
//! sample), and the peak RSS of the `crm` process. Targets: >= 5,000 commands/s, p99 command
//! latency < 50 ms, read model lag p99 < 200 ms.
//!
//! `cargo build --release -p crm && cargo run --release -p crm-benches --bin http-load`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Parser;
use crm_benches::system::{Client, readiness, start, start_on, wait_for_projection};
use crm_benches::{
    cpu_seconds, cpu_seconds_named, decided, new_histogram, peak_rss_mib, rate, summary,
};
use domain::Context;
use domain::company::{self, Company, NewCompany};
use domain::values::{Name, Role, Tags};
use eventstore::Appender;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use testkit::TestDatabase;
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// The crm binary to start (build it with --release first); ignored with --url.
    #[arg(long, default_value = "target/release/crm")]
    crm: PathBuf,
    /// A running system to load instead of starting one (needs --token; --pid for its RSS).
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// An admin token of the system at --url.
    #[arg(long)]
    token: Option<String>,
    /// The process id of the system at --url, for its peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Companies written into the store before `crm up` starts (decided by the domain, appended
    /// straight through the appender, then relayed and projected by `crm up`), so the peak RSS
    /// is that of a system holding this many aggregates. Ignored with --url.
    #[arg(long, default_value_t = 0)]
    aggregates: u64,
    #[arg(long, default_value_t = 200)]
    companies: usize,
    #[arg(long, default_value_t = 1_000)]
    contacts: usize,
    #[arg(long, default_value_t = 1_000)]
    deals: usize,
}

const STAGES: [(&str, u8); 6] = [
    ("lead", 10),
    ("qualified", 20),
    ("demo", 40),
    ("proposal", 60),
    ("negotiation", 80),
    ("verbal", 90),
];

/// The kinds of request in the mix, with their share in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Activity,
    Stage,
    Create,
    Read,
}

const MIX: [(Kind, u64); 4] = [
    (Kind::Activity, 60),
    (Kind::Stage, 20),
    (Kind::Create, 10),
    (Kind::Read, 10),
];

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Activity => "activity",
            Kind::Stage => "stage change",
            Kind::Create => "creation",
            Kind::Read => "read by id",
        }
    }
}

/// What the load works on.
struct World {
    pipeline: String,
    companies: Vec<String>,
    /// (contact, its company).
    contacts: Vec<(String, String)>,
    /// (deal, its company, its contact).
    deals: Vec<(String, String, String)>,
    /// Each deal's next stage index, so a stage change moves it on.
    stages: Vec<AtomicUsize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let target = if options.aggregates > 0 && options.url.is_none() {
        let writing = Instant::now();
        let database = prefilled(options.aggregates).await?;
        println!(
            "wrote {} companies into the store in {:.1} s",
            options.aggregates,
            writing.elapsed().as_secs_f64()
        );
        start_on(&options.crm, database).await?
    } else {
        start(
            &options.crm,
            options.url.as_deref(),
            options.token.as_deref(),
            options.pid,
        )
        .await?
    };
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

    let setting_up = Instant::now();
    let world = Arc::new(setup(&client, &options).await?);
    // Five read models catch up on a prefilled store at a few thousand events/s each.
    let catch_up = Duration::from_secs(120 + options.aggregates / 2_000);
    wait_for_projection(&client, catch_up).await?;
    println!(
        "setup: {} companies, {} contacts, {} deals in {:.1} s (projected)",
        world.companies.len(),
        world.contacts.len(),
        world.deals.len(),
        setting_up.elapsed().as_secs_f64()
    );

    let outcome = load(&client, &world, &options, target.pid).await?;
    outcome.print(&options);
    match target.pid.and_then(peak_rss_mib) {
        Some(rss) => println!("crm peak RSS (VmHWM): {rss:.0} MiB"),
        None => println!("crm peak RSS: unknown (pass --pid with --url)"),
    }
    Ok(())
}

/// A fresh, migrated database holding `count` company aggregates, one created event each.
async fn prefilled(count: u64) -> anyhow::Result<TestDatabase> {
    const WRITERS: u64 = 128;
    let database = TestDatabase::new().await;
    let settings = database.store_settings();
    let pool = eventstore::connect(&settings).await?;
    let appender = Appender::start(pool, settings.batch_max);
    let context = Context {
        now: Utc::now(),
        actor_id: Uuid::now_v7(),
        actor_role: Role::Admin,
    };
    let writers = (0..WRITERS).map(|writer| {
        let appender = appender.clone();
        async move {
            let mut n = writer;
            while n < count {
                let id = Uuid::now_v7();
                let command = company::Command::Create(NewCompany {
                    id,
                    name: Name::parse(&format!("Stored Company {n}"))?,
                    domain: None,
                    industry: None,
                    value_class: None,
                    tags: Tags::default(),
                    owner_id: Some(context.actor_id),
                    team: None,
                });
                appender
                    .append(decided::<Company>(&None, id, command, &context, 0)?)
                    .await?;
                n += WRITERS;
            }
            anyhow::Ok(())
        }
    });
    futures::future::try_join_all(writers).await?;
    Ok(database)
}

fn company_body(n: u64) -> Value {
    let value_class = ["A", "B", "C", "D"][(n % 4) as usize];
    json!({
        "name": format!("Bench Company {n}"),
        "domain": format!("bench-{n}.example.com"),
        "industry": "Software",
        "value_class": value_class,
        "tags": ["bench"],
    })
}

fn contact_body(n: u64, company: &str) -> Value {
    json!({
        "first_name": "Bench",
        "last_name": format!("Contact {n}"),
        "email": format!("contact{n}@bench.example.com"),
        "phone": "+49 30 5550 1234",
        "company_id": company,
        "title": "Head of Operations",
    })
}

fn deal_body(n: u64, pipeline: &str, company: &str, contact: &str) -> Value {
    json!({
        "title": format!("Bench deal {n}"),
        "pipeline_id": pipeline,
        "stage": STAGES[0].0,
        "amount": {"amount_minor": 4_800_000 + 100 * n, "currency": "EUR"},
        "company_id": company,
        "contact_id": contact,
        "expected_close_on": "2030-06-30",
    })
}

fn activity_body(deal: &(String, String, String)) -> Value {
    json!({
        "kind": "call",
        "subject": "Follow-up on the renewal quote",
        "body": "Discussed volume discount; they want the revised quote by Friday.",
        "occurred_at": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        "duration_minutes": 12,
        "direction": "outbound",
        "outcome": "interested",
        "deal_id": deal.0,
        "company_id": deal.1,
        "contact_id": deal.2,
    })
}

/// The pipeline, companies, contacts and deals the load works on, created over HTTP.
async fn setup(client: &Client, options: &Options) -> anyhow::Result<World> {
    let parallel = options.connections;
    let stages: Vec<Value> = STAGES
        .iter()
        .map(|(key, probability)| json!({"key": key, "name": key, "probability": probability}))
        .collect();
    let pipeline = client
        .create(
            "/v1/pipelines",
            json!({"name": "New business", "stages": stages}),
        )
        .await?;
    let companies: Vec<String> = futures::stream::iter(0..options.companies as u64)
        .map(|n| client.create("/v1/companies", company_body(n)))
        .buffered(parallel)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let companies_ref = &companies;
    let contacts: Vec<(String, String)> = futures::stream::iter(0..options.contacts as u64)
        .map(|n| async move {
            let company = companies_ref[n as usize % companies_ref.len()].clone();
            let contact = client
                .create("/v1/contacts", contact_body(n, &company))
                .await?;
            anyhow::Ok((contact, company))
        })
        .buffered(parallel)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let contacts_ref = &contacts;
    let pipeline_ref = &pipeline;
    let deals: Vec<(String, String, String)> = futures::stream::iter(0..options.deals as u64)
        .map(|n| async move {
            let (contact, company) = contacts_ref[n as usize % contacts_ref.len()].clone();
            let deal = client
                .create("/v1/deals", deal_body(n, pipeline_ref, &company, &contact))
                .await?;
            anyhow::Ok((deal, company, contact))
        })
        .buffered(parallel)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let stages = deals.iter().map(|_| AtomicUsize::new(1)).collect();
    Ok(World {
        pipeline,
        companies,
        contacts,
        deals,
        stages,
    })
}

struct Outcome {
    elapsed: Duration,
    latency: Vec<Histogram<u64>>,
    errors: Vec<u64>,
    first_errors: Vec<String>,
    /// (when, store position, records position) during the measured load.
    samples: Vec<(Instant, u64, u64)>,
    /// CPU seconds used during the measured load by crm (when its pid is known) and by this
    /// load generator: both share the machine.
    crm_cpu: Option<f64>,
    own_cpu: Option<f64>,
    /// The same for the local PostgreSQL and NATS servers (0 when they run elsewhere; a process
    /// that ended meanwhile is not counted).
    postgres_cpu: f64,
    nats_cpu: f64,
}

/// Runs the mix on every connection; measures after the warm-up, for `seconds`.
async fn load(
    client: &Arc<Client>,
    world: &Arc<World>,
    options: &Options,
    pid: Option<u32>,
) -> anyhow::Result<Outcome> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicU64::new(1_000_000));
    let mut workers = Vec::new();
    for connection in 0..options.connections {
        let client = client.clone();
        let world = world.clone();
        let measuring = measuring.clone();
        let stop = stop.clone();
        let created = created.clone();
        workers.push(tokio::spawn(async move {
            let mut latency: Vec<Histogram<u64>> = MIX.iter().map(|_| new_histogram()).collect();
            let mut errors = vec![0u64; MIX.len()];
            let mut first_errors = vec![String::new(); MIX.len()];
            let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((connection as u64 + 1) << 17);
            while !stop.load(Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let mut roll = rng % 100;
                let kind = MIX
                    .iter()
                    .find(|(_, share)| {
                        let hit = roll < *share;
                        roll = roll.saturating_sub(*share);
                        hit
                    })
                    .map_or(Kind::Read, |(kind, _)| *kind);
                let pick = (rng >> 20) as usize;
                let began = Instant::now();
                let outcome = one(&client, &world, kind, pick, &created).await;
                let micros = began.elapsed().as_micros().max(1) as u64;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match outcome {
                    Ok(()) => latency[kind.index()].record(micros)?,
                    Err(error) => {
                        errors[kind.index()] += 1;
                        if first_errors[kind.index()].is_empty() {
                            first_errors[kind.index()] = format!("{error:#}");
                        }
                    }
                }
            }
            anyhow::Ok((latency, errors, first_errors))
        }));
    }
    let poller = {
        let client = client.clone();
        let stop = stop.clone();
        let measuring = measuring.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut caught_up_at = None;
            loop {
                let stopped = stop.load(Ordering::Relaxed);
                if (measuring.load(Ordering::Relaxed) || stopped)
                    && let Ok((store, records)) = readiness(&client).await
                {
                    samples.push((Instant::now(), store, records));
                    // After the load, poll on until the projection has caught up.
                    if stopped && records >= store {
                        caught_up_at.get_or_insert(Instant::now());
                    }
                }
                if caught_up_at.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            samples
        })
    };

    tokio::time::sleep(Duration::from_secs(options.warmup)).await;
    let crm_before = pid.and_then(cpu_seconds);
    let own_before = cpu_seconds(std::process::id());
    let postgres_before = cpu_seconds_named("postgres");
    let nats_before = cpu_seconds_named("nats-server");
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let used = |before: Option<f64>, pid: Option<u32>| Some(pid.and_then(cpu_seconds)? - before?);
    let crm_cpu = used(crm_before, pid);
    let own_cpu = used(own_before, Some(std::process::id()));
    let postgres_cpu = (cpu_seconds_named("postgres") - postgres_before).max(0.0);
    let nats_cpu = (cpu_seconds_named("nats-server") - nats_before).max(0.0);
    stop.store(true, Ordering::Relaxed);

    let mut latency: Vec<Histogram<u64>> = MIX.iter().map(|_| new_histogram()).collect();
    let mut errors = vec![0u64; MIX.len()];
    let mut first_errors = vec![String::new(); MIX.len()];
    for worker in workers {
        let (histograms, counts, firsts) = worker.await??;
        for index in 0..MIX.len() {
            latency[index].add(&histograms[index])?;
            errors[index] += counts[index];
            if first_errors[index].is_empty() {
                first_errors[index] = firsts[index].clone();
            }
        }
    }
    let samples = tokio::time::timeout(Duration::from_secs(60), poller)
        .await
        .context("the read models did not catch up within a minute of the load")??;
    Ok(Outcome {
        elapsed,
        latency,
        errors,
        first_errors,
        samples,
        crm_cpu,
        own_cpu,
        postgres_cpu,
        nats_cpu,
    })
}

/// One request of `kind`; `pick` chooses the record.
async fn one(
    client: &Client,
    world: &World,
    kind: Kind,
    pick: usize,
    created: &AtomicU64,
) -> anyhow::Result<()> {
    match kind {
        Kind::Activity => {
            let deal = &world.deals[pick % world.deals.len()];
            client.post("/v1/activities", activity_body(deal)).await?;
        }
        Kind::Stage => {
            let index = pick % world.deals.len();
            let next = world.stages[index].fetch_add(1, Ordering::Relaxed) % STAGES.len();
            client
                .post(
                    &format!("/v1/deals/{}/stage", world.deals[index].0),
                    json!({"stage": STAGES[next].0}),
                )
                .await?;
        }
        Kind::Create => {
            let n = created.fetch_add(1, Ordering::Relaxed);
            match n % 3 {
                0 => {
                    client.post("/v1/companies", company_body(n)).await?;
                }
                1 => {
                    let company = &world.companies[pick % world.companies.len()];
                    client
                        .post("/v1/contacts", contact_body(n, company))
                        .await?;
                }
                _ => {
                    let (contact, company) = &world.contacts[pick % world.contacts.len()];
                    client
                        .post("/v1/deals", deal_body(n, &world.pipeline, company, contact))
                        .await?;
                }
            }
        }
        Kind::Read => {
            if pick.is_multiple_of(2) {
                let deal = &world.deals[pick % world.deals.len()];
                client.get(&format!("/v1/deals/{}", deal.0)).await?;
            } else {
                let contact = &world.contacts[pick % world.contacts.len()];
                client.get(&format!("/v1/contacts/{}", contact.0)).await?;
            }
        }
    }
    Ok(())
}

impl Outcome {
    fn print(&self, options: &Options) {
        let mut commands = new_histogram();
        for (kind, _) in MIX.iter().filter(|(kind, _)| *kind != Kind::Read) {
            let _ = commands.add(&self.latency[kind.index()]);
        }
        let reads = &self.latency[Kind::Read.index()];
        println!(
            "load: {} connections for {:.1} s: {:.0} commands/s (target >= 5,000), {:.0} reads/s",
            options.connections,
            self.elapsed.as_secs_f64(),
            rate(commands.len(), self.elapsed),
            rate(reads.len(), self.elapsed),
        );
        println!(
            "  all commands   {} (target p99 < 50 ms)",
            summary(&commands)
        );
        for (kind, share) in MIX {
            println!(
                "  {:<14} {} [{share} %, {} errors]",
                kind.name(),
                summary(&self.latency[kind.index()]),
                self.errors[kind.index()]
            );
            if !self.first_errors[kind.index()].is_empty() {
                println!("    first error: {}", self.first_errors[kind.index()]);
            }
        }

        let cores = |cpu: Option<f64>| {
            cpu.map_or("unknown".to_owned(), |cpu| {
                format!("{:.2} cores", cpu / self.elapsed.as_secs_f64())
            })
        };
        println!(
            "  CPU while measuring: crm {}, PostgreSQL {}, NATS {}, this load generator {} ({} \
             cores online)",
            cores(self.crm_cpu),
            cores(Some(self.postgres_cpu)),
            cores(Some(self.nats_cpu)),
            cores(self.own_cpu),
            std::thread::available_parallelism().map_or(0, usize::from)
        );

        let mut events = new_histogram();
        let mut millis = new_histogram();
        // For each sample, how long until the projection reached the store's position then.
        let mut reached = 0;
        for (index, (when, store, _)) in self.samples.iter().enumerate() {
            let _ = events.record(store.saturating_sub(self.samples[index].2));
            reached = reached.max(index);
            while reached < self.samples.len() && self.samples[reached].2 < *store {
                reached += 1;
            }
            if let Some((then, _, _)) = self.samples.get(reached) {
                let _ = millis.record(then.saturating_duration_since(*when).as_millis() as u64);
            }
        }
        println!(
            "read model lag (the slowest of records, audit, pipeline, scoring and timeline at each poll, every 25 ms; {} samples): events p50 {}, p99 {}, max {}; \
             time p50 {} ms, p99 {} ms, max {} ms (target p99 < 200 ms; resolution ~ the poll)",
            self.samples.len(),
            events.value_at_quantile(0.5),
            events.value_at_quantile(0.99),
            events.max(),
            millis.value_at_quantile(0.5),
            millis.value_at_quantile(0.99),
            millis.max(),
        );
    }
}
