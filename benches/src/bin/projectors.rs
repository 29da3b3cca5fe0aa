//! Each read model's catch-up from the first event over a realistic log, against a raw `COPY`
//! of the same rows into PostgreSQL (same server, same run); then `GET /v1/reports/pipeline`'s
//! query over the open deals the log leaves.
//!
//! The log is made of real domain events, decided by the domain on the states the generator
//! keeps (so every projector accepts it): one pipeline of six stages; per 100 events about 1
//! company, 4 contacts, 10 deals opened, 10 stage changes, 60 activities on deals, 5 leads
//! captured, 5 cases opened. Appended through the appender, published by the relay, then each
//! projector runs alone from position 1 until it has applied every event.
//!
//! `cargo run --release -p crm-benches --bin projectors -- --events 1000000`

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream;
use chrono::{Duration as Days, Utc};
use clap::Parser;
use crm_benches::{decided, new_histogram, rate, request, summary};
use domain::activity::{self, ActivityKind, Direction, NewActivity};
use domain::case::{self, NewCase, Priority};
use domain::company::{self, NewCompany};
use domain::contact::{self, NewContact};
use domain::deal::{self, NewDeal};
use domain::lead::{self, NewLead};
use domain::pipeline::{NewPipeline, PipelineStages, Stage};
use domain::values::{Currency, Money, Name, Probability, Role, StageKey, Tags, Team};
use domain::{Aggregate, Context};
use eventlog::{NatsSettings, Relay, RelaySettings};
use eventstore::checkpoint::Signer;
use eventstore::{AppendRequest, Appender, StreamRef};
use futures::StreamExt;
use projector::{Projection, ProjectionReader, Projector};
use testkit::{TestDatabase, TestStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// Events in the log.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Appends in flight while the log is written.
    #[arg(long, default_value_t = 128)]
    writers: usize,
    /// Pipeline report queries timed.
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Only these read models catch up (all when empty), e.g. `--only records,audit`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const STAGES: [(&str, i64); 6] = [
    ("lead", 10),
    ("qualified", 20),
    ("demo", 40),
    ("proposal", 60),
    ("negotiation", 80),
    ("commit", 90),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    crm_benches::log_from_env();
    let database = TestDatabase::new().await;
    let stream = TestStream::new();
    let settings = database.store_settings();
    projector::migrate(&settings).await?;
    let pool = eventstore::connect(&settings).await?;
    let owner = projector::connect(&settings).await?;
    let nats = NatsSettings {
        url: stream.url.clone(),
        stream: stream.stream.clone(),
        subject_prefix: stream.subject_prefix.clone(),
        ..NatsSettings::default()
    };
    let appender = Appender::start(pool.clone(), settings.batch_max);

    let writing = Instant::now();
    let (events, open_deals, pipeline_id) = write_log(&appender, &options).await?;
    println!(
        "wrote {events} domain events ({open_deals} deals) in {:.1} s",
        writing.elapsed().as_secs_f64()
    );

    let keys = tempfile::tempdir()?;
    let client = eventlog::connect(&nats).await?;
    let relay = Relay::new(
        settings.clone(),
        pool.clone(),
        client.clone(),
        nats.clone(),
        RelaySettings::default(),
        Signer::load_or_create(keys.path())?,
    );
    let relay_stop = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(relay_stop.clone()));
    let probe = eventlog::StreamProbe::new(client.clone(), &nats);
    let publishing = Instant::now();
    while probe.last_sequence().await.unwrap_or(0) < events {
        if publishing.elapsed() > Duration::from_secs(600) {
            bail!("the relay did not publish the log within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the relay published them in {:.1} s",
        publishing.elapsed().as_secs_f64()
    );

    let copy = raw_copy(&owner, events).await?;
    println!("raw COPY of the same rows (position, stream, type, data): {copy:.0} events/s");

    let jetstream = jetstream::new(client);
    let chosen = |name: &str| options.only.is_empty() || options.only.iter().any(|n| n == name);
    for name in ["records", "audit", "pipeline", "timeline", "scoring"] {
        if !chosen(name) {
            continue;
        }
        let rate = match name {
            "records" => catch_up(&owner, &jetstream, &nats, records::Records, events).await?,
            "audit" => catch_up(&owner, &jetstream, &nats, audit::Audit, events).await?,
            "pipeline" => {
                catch_up(&owner, &jetstream, &nats, pipeline::SalesPipeline, events).await?
            }
            "timeline" => catch_up(&owner, &jetstream, &nats, timeline::Timeline, events).await?,
            _ => {
                let scoring = scoring::Scoring::default();
                catch_up(&owner, &jetstream, &nats, scoring, events).await?
            }
        };
        println!(
            "{name:>9} projector catch-up from position 1: {rate:>7.0} events/s ({:.2} of raw COPY)",
            rate / copy
        );
    }
    if !chosen("pipeline") {
        relay_stop.cancel();
        let _ = relay_task.await;
        return Ok(());
    }

    let reports = pipeline::ReportQueries::new(owner.clone());
    let (schema, _) = ProjectionReader::new(owner.clone())
        .live_schema(pipeline::NAME)
        .await?;
    let scope = pipeline::ReportScope {
        visibility: policy::Visibility::Everything,
        owner_id: None,
        team: None,
    };
    let mut latencies = new_histogram();
    for _ in 0..options.queries {
        let started = Instant::now();
        let report = reports
            .pipeline(&schema, pipeline_id, &scope, Utc::now())
            .await?
            .context("the pipeline is in the read model")?;
        latencies.record(started.elapsed().as_micros() as u64)?;
        drop(report);
    }
    println!(
        "pipeline report over {open_deals} deals ({} queries): {}",
        options.queries,
        summary(&latencies)
    );

    relay_stop.cancel();
    let _ = relay_task.await;
    Ok(())
}

/// Runs a projector of `projection` alone from position 1 until it has applied `events`.
async fn catch_up<P: Projection>(
    owner: &deadpool_postgres::Pool,
    jetstream: &jetstream::Context,
    nats: &NatsSettings,
    projection: P,
    events: u64,
) -> anyhow::Result<f64> {
    let name = projection.name();
    let projector = Projector::new(owner.clone(), jetstream.clone(), nats, projection);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(projector.run(stop.clone()));
    ProjectionReader::new(owner.clone())
        .wait_for(name, events, Duration::from_secs(1800))
        .await
        .with_context(|| format!("the {name} projector catches up"))?;
    wait_for_indexes(owner, name).await?;
    let elapsed = started.elapsed();
    if events >= projector::VACUUM_AFTER_EVENTS {
        settle(owner, name).await?;
    }
    stop.cancel();
    task.await??;
    Ok(rate(events, elapsed))
}

/// Waits for the read indexes a projector creates once it has caught up: the read model serves
/// its queries only then, so their time counts in the catch-up.
async fn wait_for_indexes(owner: &deadpool_postgres::Pool, name: &str) -> anyhow::Result<()> {
    let client = owner.get().await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let indexed: bool = client
            .query_one(
                "SELECT indexed FROM projection_generations WHERE projection = $1 AND state = 'live'",
                &[&name],
            )
            .await?
            .get(0);
        if indexed {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} made no read indexes in ten minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most two minutes) for the vacuum a projector runs after a large catch-up, so what is
/// measured next sees the tables as a running system would.
async fn settle(owner: &deadpool_postgres::Pool, name: &str) -> anyhow::Result<()> {
    let client = owner.get().await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let unvacuumed: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_user_tables \
                 WHERE schemaname LIKE $1 || '\\_g%' AND last_vacuum IS NULL",
                &[&name],
            )
            .await?
            .get(0);
        if unvacuumed == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("({name}: the vacuum after the catch-up did not end within two minutes)");
    Ok(())
}

/// The baseline: the log's rows as a projector receives them (position, stream, type, data),
/// written with one binary-free text `COPY` into an unindexed table.
async fn raw_copy(owner: &deadpool_postgres::Pool, events: u64) -> anyhow::Result<f64> {
    let client = owner.get().await?;
    client
        .batch_execute(
            "CREATE TABLE bench_copy (position bigint, stream_type text, stream_id uuid, \
             event_type text, data jsonb)",
        )
        .await?;
    let rows = client
        .query(
            "SELECT position, stream_type, stream_id::text, event_type, payload::text \
             FROM events ORDER BY position",
            &[],
        )
        .await?;
    let mut text = Vec::with_capacity(rows.len() * 400);
    for row in &rows {
        let position: i64 = row.get(0);
        let stream_type: &str = row.get(1);
        let stream_id: &str = row.get(2);
        let event_type: &str = row.get(3);
        let payload: &str = row.get(4);
        let escaped = payload.replace('\\', "\\\\");
        text.extend_from_slice(
            format!("{position}\t{stream_type}\t{stream_id}\t{event_type}\t{escaped}\n").as_bytes(),
        );
    }
    let started = Instant::now();
    let sink = client.copy_in("COPY bench_copy FROM STDIN").await?;
    futures::pin_mut!(sink);
    use futures::SinkExt;
    for chunk in text.chunks(1 << 20) {
        sink.send(bytes::Bytes::copy_from_slice(chunk)).await?;
    }
    let copied = sink.finish().await?;
    let elapsed = started.elapsed();
    if copied != events {
        bail!("the COPY wrote {copied} rows, not {events}");
    }
    client.batch_execute("DROP TABLE bench_copy").await?;
    Ok(rate(events, elapsed))
}

/// The generator's view of the business: what it made, so each command is decided on the
/// state the domain would load.
struct Book {
    context: Context,
    pipeline: PipelineStages,
    owners: Vec<(Uuid, Team)>,
    companies: Vec<Uuid>,
    contacts: Vec<(Uuid, Uuid)>,
    deals: Vec<(Uuid, Option<deal::Deal>, u64)>,
}

fn name(text: &str) -> anyhow::Result<Name> {
    Ok(Name::parse(text)?)
}

/// Writes about `options.events` events; returns how many, the deals opened and the pipeline.
async fn write_log(appender: &Appender, options: &Options) -> anyhow::Result<(u64, usize, Uuid)> {
    let pipeline_id = Uuid::now_v7();
    let stages = STAGES
        .iter()
        .map(|(key, percent)| {
            Ok(Stage {
                key: StageKey::parse(key)?,
                name: name(key)?,
                probability: Probability::new(*percent)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut book = Book {
        context: Context {
            now: Utc::now(),
            actor_id: Uuid::now_v7(),
            actor_role: Role::Admin,
        },
        pipeline: PipelineStages {
            pipeline_id,
            stages: stages.clone(),
        },
        owners: (0..20)
            .map(|index| Ok((Uuid::now_v7(), Team::parse(&format!("team-{}", index % 4))?)))
            .collect::<anyhow::Result<Vec<_>>>()?,
        companies: Vec::new(),
        contacts: Vec::new(),
        deals: Vec::new(),
    };
    let mut requests = vec![decided::<domain::pipeline::Pipeline>(
        &None,
        pipeline_id,
        domain::pipeline::Command::Create(NewPipeline {
            id: pipeline_id,
            name: name("New business")?,
            stages,
        }),
        &book.context,
        0,
    )?];
    let mut written = 1;
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut busy: std::collections::HashSet<StreamRef> = std::collections::HashSet::new();
    let mut step: u64 = 0;
    while written < options.events {
        let request = next_request(&mut book, step)?;
        step += 1;
        written += request.1;
        requests.push(request.0);
        for request in requests.drain(..) {
            // A stream's appends go one after another: the next expects the version the
            // previous one made.
            let streams: Vec<StreamRef> =
                request.streams.iter().map(|s| s.stream.clone()).collect();
            while streams.iter().any(|stream| busy.contains(stream))
                || in_flight.len() >= options.writers
            {
                let Some((done, result)) = in_flight.next().await else {
                    break;
                };
                result?;
                for stream in &done {
                    busy.remove(stream);
                }
            }
            busy.extend(streams.iter().cloned());
            in_flight.push(async move {
                let result = appender.append(request).await;
                (streams, result)
            });
        }
    }
    while let Some((_, result)) = in_flight.next().await {
        result?;
    }
    Ok((written, book.deals.len(), pipeline_id))
}

/// The next command of the mix, decided, as an append request with its event count.
fn next_request(book: &mut Book, step: u64) -> anyhow::Result<(AppendRequest, u64)> {
    let (owner_id, team) = book.owners[(step % 20) as usize].clone();
    let slot = step % 100;
    let context = book.context;
    let back = Days::days((step % 120) as i64);
    if slot == 0 || book.companies.is_empty() {
        let id = Uuid::now_v7();
        book.companies.push(id);
        let command = company::Command::Create(NewCompany {
            id,
            name: name(&format!("Company {step}"))?,
            domain: None,
            industry: None,
            value_class: None,
            tags: Tags::default(),
            owner_id: Some(owner_id),
            team: Some(team),
        });
        return Ok((
            decided::<company::Company>(&None, id, command, &context, 0)?,
            1,
        ));
    }
    let company_id = book.companies[(step as usize * 7) % book.companies.len()];
    if slot < 5 || book.contacts.is_empty() {
        let id = Uuid::now_v7();
        book.contacts.push((id, company_id));
        let command = contact::Command::Create(NewContact {
            id,
            first_name: name("Ada")?,
            last_name: name(&format!("Lovelace {step}"))?,
            emails: Vec::new(),
            phones: Vec::new(),
            title: None,
            company_id: Some(company_id),
            tags: Tags::default(),
            owner_id: Some(owner_id),
            team: Some(team),
        });
        return Ok((
            decided::<contact::Contact>(&None, id, command, &context, 0)?,
            1,
        ));
    }
    let (contact_id, contact_company) = book.contacts[(step as usize * 13) % book.contacts.len()];
    if slot < 15 || book.deals.is_empty() {
        let id = Uuid::now_v7();
        let currency = if step.is_multiple_of(3) { "USD" } else { "EUR" };
        let command = deal::Command::Create(NewDeal {
            id,
            title: name(&format!("Deal {step}"))?,
            pipeline: book.pipeline.clone(),
            stage: StageKey::parse("lead")?,
            amount: Money::new(
                100_000 + (step % 97) as i64 * 1_000,
                Currency::parse(currency)?,
            ),
            expected_close_on: Some(
                (context.now + Days::days(30 + (step % 180) as i64)).date_naive(),
            ),
            owner_id,
            team: Some(team),
            company_id: Some(contact_company),
            contact_id: Some(contact_id),
        });
        let events = deal::Deal::decide(&None, command, &context)?;
        let state = events.iter().fold(None, deal::Deal::evolve);
        book.deals.push((id, state, events.len() as u64));
        return Ok((request::<deal::Deal>(id, 0, &events, context.now), 1));
    }
    let index = (step as usize * 31) % book.deals.len();
    if slot < 25 {
        let (id, state, version) = book.deals[index].clone();
        let Some(current) = &state else {
            bail!("a deal without state");
        };
        let at = STAGES
            .iter()
            .position(|(key, _)| *key == current.stage.as_str())
            .unwrap_or(0);
        let next = STAGES[(at + 1) % STAGES.len()].0;
        let command = deal::Command::ChangeStage {
            stage: StageKey::parse(next)?,
            pipeline: book.pipeline.clone(),
        };
        let events = deal::Deal::decide(&state, command, &context)?;
        let state = events.iter().fold(state, deal::Deal::evolve);
        let count = events.len() as u64;
        book.deals[index] = (id, state, version + count);
        return Ok((
            request::<deal::Deal>(id, version, &events, context.now),
            count,
        ));
    }
    if slot < 85 {
        let (deal_id, _, _) = book.deals[index];
        let id = Uuid::now_v7();
        let kind = [
            ActivityKind::Call,
            ActivityKind::Email,
            ActivityKind::Meeting,
        ][(step % 3) as usize];
        let command = activity::Command::Record(NewActivity {
            id,
            kind,
            subject: name("Follow-up on the renewal quote")?,
            body: None,
            direction: Some(Direction::Outbound),
            duration_minutes: Some(5 + (step % 40) as u16),
            outcome: None,
            occurred_at: context.now - back,
            contact_id: Some(contact_id),
            company_id: Some(contact_company),
            deal_id: Some(deal_id),
        });
        return Ok((
            decided::<activity::Activity>(&None, id, command, &context, 0)?,
            1,
        ));
    }
    if slot < 90 {
        let id = Uuid::now_v7();
        let command = lead::Command::Capture(NewLead {
            id,
            name: name(&format!("Enquiry {step}"))?,
            email: None,
            phone: None,
            company_name: None,
            source: name(["web", "fair", "referral"][(step % 3) as usize])?,
            campaign_id: None,
            owner_id: Some(owner_id),
            team: Some(team),
        });
        return Ok((decided::<lead::Lead>(&None, id, command, &context, 0)?, 1));
    }
    let id = Uuid::now_v7();
    let command = case::Command::Create(NewCase {
        id,
        subject: name("The invoice is wrong")?,
        description: None,
        contact_id,
        priority: Priority::Normal,
        assignee_id: Some(owner_id),
        team: None,
    });
    Ok((decided::<case::Case>(&None, id, command, &context, 0)?, 1))
}
