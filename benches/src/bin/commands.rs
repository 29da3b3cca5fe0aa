//! The command path in-process, without HTTP: load the aggregate, decide, append, through
//! `api::command::execute` on an `ApiState` built the way `crm up` builds it. The mix is a sales
//! team's day on its deals: 70 % activities logged against a deal (the deal is loaded to check it
//! exists, as `POST /v1/activities` does, then a new activity stream is created) and 30 % stage
//! changes (the deal and its pipeline are loaded, the deal decides, its stream grows), from 32
//! concurrent writers over 1,000 deals.
//!
//! The same mix runs twice: on fresh deals (a handful of events each), then on deals whose streams
//! were pre-filled to 1,000 events each. Without an aggregate cache every command replays the
//! whole stream, so the second figure falls with stream length; the target is that it stays at
//! 90 % or more of the first.
//!
//! `cargo run --release -p crm-benches --bin commands`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use api::auth::Caller;
use api::command::{CommandRequest, execute, load};
use api::request::{IdempotencyKey, IfMatch};
use chrono::Utc;
use clap::Parser;
use crm_benches::{new_histogram, rate, summary};
use domain::Aggregate;
use domain::activity::{self, Activity, ActivityKind, Direction, NewActivity};
use domain::deal::{self, Deal, NewDeal};
use domain::pipeline::{self, NewPipeline, Pipeline, PipelineStages, Stage};
use domain::values::{Currency, Money, Name, Probability, Role, StageKey, Text};
use eventstore::{
    AppendRequest, Appender, ExpectedVersion, Metadata, NewEvent, StreamAppend, StreamRef,
};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;

#[derive(Parser)]
struct Options {
    /// Deals the writers pick from (each phase has its own).
    #[arg(long, default_value_t = 1_000)]
    deals: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// Seconds each phase runs.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Events in each deal's stream before the second phase.
    #[arg(long, default_value_t = 1_000)]
    prefill: usize,
    /// Percent of commands that log an activity (the rest change a stage).
    #[arg(long, default_value_t = 70)]
    activities: u64,
}

const STAGES: [(&str, i64); 6] = [
    ("lead", 10),
    ("qualified", 20),
    ("demo", 40),
    ("proposal", 60),
    ("negotiation", 80),
    ("verbal", 90),
];

/// What one phase measured.
struct Phase {
    commands: u64,
    elapsed: Duration,
    all: Histogram<u64>,
    activities: Histogram<u64>,
    stage_changes: Histogram<u64>,
    errors: u64,
    /// Commands completed in each second of the phase.
    per_second: Vec<u64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        rate(self.commands, self.elapsed)
    }

    /// The rate over the second half of the phase, once every aggregate has been loaded once.
    fn steady_rate(&self) -> f64 {
        let half = &self.per_second[self.per_second.len() / 2..];
        half.iter().sum::<u64>() as f64 / half.len().max(1) as f64
    }

    fn print(&self, name: &str) {
        println!(
            "{name}: {:.0} commands/s ({} in {:.1} s, {} errors)",
            self.rate(),
            self.commands,
            self.elapsed.as_secs_f64(),
            self.errors
        );
        println!(
            "  second half:   {:.0} commands/s; per second: {:?}",
            self.steady_rate(),
            self.per_second
        );
        println!("  all:           {}", summary(&self.all));
        println!("  activities:    {}", summary(&self.activities));
        println!("  stage changes: {}", summary(&self.stage_changes));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let database = TestDatabase::empty().await;
    let settings = eventstore::StoreSettings {
        url: database.url.clone(),
        ..eventstore::StoreSettings::default()
    };
    eventstore::migrate(&settings).await?;
    projector::migrate(&settings).await?;

    // As application.rs builds the API's state.
    let pool = eventstore::connect(&settings).await?;
    let read_models = projector::connect(&settings).await?;
    let appender = Appender::start(pool.clone(), settings.batch_max);
    let reader = eventstore::Reader::new(pool.clone());
    let projections = projector::ProjectionReader::new(read_models.clone());
    let state = api::ApiState::new(
        &api::ApiSettings::default(),
        appender.clone(),
        reader,
        read_models,
        projections,
        policy::Policy::default(),
    );
    let caller = Caller {
        user_id: Uuid::now_v7(),
        username: "bench".to_owned(),
        role: Role::Admin,
        team: None,
        scopes: Vec::new(),
    };
    let bench = Arc::new(Bench { state, caller });

    let pipeline = bench.pipeline().await?;
    let fresh = bench.deals(&pipeline, options.deals).await?;
    println!(
        "{} deals, {} writers, {} % activities / {} % stage changes, {} s per phase",
        options.deals,
        options.writers,
        options.activities,
        100 - options.activities,
        options.seconds
    );
    let short = bench.run(&fresh, &options).await?;
    short.print("fresh streams");

    let long = bench.deals(&pipeline, options.deals).await?;
    let filling = Instant::now();
    prefill(&appender, &long, options.prefill).await?;
    println!(
        "pre-filled {} deal streams to {} events in {:.1} s",
        long.len(),
        options.prefill,
        filling.elapsed().as_secs_f64()
    );
    let filled = bench.run(&long, &options).await?;
    filled.print(&format!("streams of {} events", options.prefill));
    println!(
        "ratio: {:.0} % of the fresh rate over the whole phase, {:.0} % over its second half \
         (target >= 90 %)",
        100.0 * filled.rate() / short.rate(),
        100.0 * filled.steady_rate() / short.steady_rate()
    );
    Ok(())
}

struct Bench {
    state: api::ApiState,
    caller: Caller,
}

impl Bench {
    fn request(&self, route: &str) -> CommandRequest<'_> {
        CommandRequest::new(
            &self.caller,
            IfMatch(None),
            IdempotencyKey(None),
            route,
            &[],
        )
    }

    async fn pipeline(&self) -> anyhow::Result<PipelineStages> {
        let id = Uuid::now_v7();
        let stages = STAGES
            .iter()
            .map(|(key, probability)| {
                Ok(Stage {
                    key: StageKey::parse(key)?,
                    name: Name::parse(key)?,
                    probability: Probability::new(*probability)?,
                })
            })
            .collect::<Result<Vec<_>, domain::DomainError>>()?;
        let new = NewPipeline {
            id,
            name: Name::parse("New business")?,
            stages,
        };
        execute::<Pipeline>(
            &self.state,
            &self.request("POST /v1/pipelines"),
            id,
            true,
            |_| Ok(pipeline::Command::Create(new.clone())),
        )
        .await?;
        let loaded = load::<Pipeline>(&self.state, id).await?;
        loaded
            .state
            .map(|pipeline| pipeline.stages_snapshot())
            .context("the pipeline exists")
    }

    /// `count` new deals in the first stage, created through the command path.
    async fn deals(&self, pipeline: &PipelineStages, count: usize) -> anyhow::Result<Vec<Uuid>> {
        let results = futures::stream::iter(0..count)
            .map(|index| async move {
                let id = Uuid::now_v7();
                let new = NewDeal {
                    id,
                    title: Name::parse(&format!("Deal {index}"))?,
                    pipeline: pipeline.clone(),
                    stage: StageKey::parse(STAGES[0].0)?,
                    amount: Money::new(4_800_000, Currency::parse("EUR")?),
                    expected_close_on: None,
                    owner_id: self.caller.user_id,
                    team: None,
                    company_id: None,
                    contact_id: None,
                };
                execute::<Deal>(
                    &self.state,
                    &self.request("POST /v1/deals"),
                    id,
                    true,
                    |_| Ok(deal::Command::Create(new.clone())),
                )
                .await?;
                anyhow::Ok(id)
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        results.into_iter().collect()
    }

    /// As `POST /v1/activities` with a `deal_id`: the deal must exist, then a new activity.
    async fn log_activity(&self, deal_id: Uuid) -> anyhow::Result<()> {
        let deal = load::<Deal>(&self.state, deal_id).await?;
        anyhow::ensure!(Deal::exists(&deal.state), "no deal {deal_id}");
        let id = Uuid::now_v7();
        let new = NewActivity {
            id,
            kind: ActivityKind::Call,
            subject: Name::parse("Follow-up on the renewal quote")?,
            body: Some(Text::parse(
                "Discussed volume discount; they want the revised quote by Friday.",
            )?),
            direction: Some(Direction::Outbound),
            duration_minutes: Some(12),
            outcome: Some(Name::parse("interested")?),
            occurred_at: Utc::now() - chrono::Duration::hours(1),
            contact_id: None,
            company_id: None,
            deal_id: Some(deal_id),
        };
        execute::<Activity>(
            &self.state,
            &self.request("POST /v1/activities"),
            id,
            true,
            |_| Ok(activity::Command::Record(new.clone())),
        )
        .await?;
        Ok(())
    }

    /// As `POST /v1/deals/{id}/stage`: the deal names its pipeline, the pipeline is loaded, the
    /// deal moves to the stage after its current one.
    async fn change_stage(&self, deal_id: Uuid) -> anyhow::Result<()> {
        let deal = load::<Deal>(&self.state, deal_id).await?;
        let pipeline_id = deal
            .state
            .as_ref()
            .map(|deal| deal.pipeline_id)
            .context("the deal exists")?;
        let pipeline = load::<Pipeline>(&self.state, pipeline_id)
            .await?
            .state
            .map(|pipeline| pipeline.stages_snapshot())
            .context("the pipeline exists")?;
        execute::<Deal>(
            &self.state,
            &self.request("POST /v1/deals/{id}/stage"),
            deal_id,
            false,
            |loaded| {
                let current = loaded
                    .state
                    .as_ref()
                    .map(|deal| deal.stage.clone())
                    .ok_or(api::problem::ApiError::NotFound("deal"))?;
                let at = pipeline
                    .stages
                    .iter()
                    .position(|stage| stage.key == current)
                    .unwrap_or(0);
                let next = pipeline.stages[(at + 1) % pipeline.stages.len()]
                    .key
                    .clone();
                Ok(deal::Command::ChangeStage {
                    stage: next,
                    pipeline: pipeline.clone(),
                })
            },
        )
        .await?;
        Ok(())
    }

    async fn run(self: &Arc<Self>, deals: &[Uuid], options: &Options) -> anyhow::Result<Phase> {
        let deals: Arc<[Uuid]> = deals.into();
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut writers = Vec::new();
        for writer in 0..options.writers {
            let bench = self.clone();
            let deals = deals.clone();
            let stop = stop.clone();
            let share = options.activities;
            let seconds = options.seconds as usize;
            writers.push(tokio::spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (writer as u64 + 1);
                let mut activities = new_histogram();
                let mut stages = new_histogram();
                let mut errors = 0u64;
                let mut first_error = None;
                let mut per_second = vec![0u64; seconds];
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let deal = deals[(rng % deals.len() as u64) as usize];
                    let activity = (rng >> 32) % 100 < share;
                    let began = Instant::now();
                    let outcome = if activity {
                        bench.log_activity(deal).await
                    } else {
                        bench.change_stage(deal).await
                    };
                    let micros = began.elapsed().as_micros().max(1) as u64;
                    if outcome.is_ok()
                        && let Some(count) =
                            per_second.get_mut(started.elapsed().as_secs() as usize)
                    {
                        *count += 1;
                    }
                    match outcome {
                        Ok(()) if activity => activities.record(micros)?,
                        Ok(()) => stages.record(micros)?,
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert(error);
                        }
                    }
                }
                anyhow::Ok((activities, stages, errors, first_error, per_second))
            }));
        }
        tokio::time::sleep(Duration::from_secs(options.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut phase = Phase {
            commands: 0,
            elapsed: Duration::ZERO,
            all: new_histogram(),
            activities: new_histogram(),
            stage_changes: new_histogram(),
            errors: 0,
            per_second: vec![0; options.seconds as usize],
        };
        for writer in writers {
            let (activities, stages, errors, first_error, per_second) = writer.await??;
            for (total, count) in phase.per_second.iter_mut().zip(per_second) {
                *total += count;
            }
            if let Some(error) = first_error {
                eprintln!("a writer's first error: {error:#}");
            }
            phase.activities.add(&activities)?;
            phase.stage_changes.add(&stages)?;
            phase.errors += errors;
        }
        phase.elapsed = started.elapsed();
        phase.all.add(&phase.activities)?;
        phase.all.add(&phase.stage_changes)?;
        phase.commands = phase.all.len();
        Ok(phase)
    }
}

/// Grows every deal's stream to `events` with stage changes, straight through the appender (the
/// same events the command path appends, many per request, so filling takes seconds). Each
/// deal's requests go one after the other; eight deals at once.
async fn prefill(appender: &Appender, deals: &[Uuid], events: usize) -> anyhow::Result<()> {
    const PER_REQUEST: usize = 500;
    let results = futures::stream::iter(deals.iter().copied())
        .map(|deal| {
            let appender = appender.clone();
            async move {
                // The stream holds its creation (stage 0); event n moves from stage n-1 to n.
                for from in (1..events).step_by(PER_REQUEST) {
                    let batch = (from..(from + PER_REQUEST).min(events))
                        .map(|n| {
                            let (from_stage, _) = STAGES[(n - 1) % STAGES.len()];
                            let (to_stage, probability) = STAGES[n % STAGES.len()];
                            NewEvent {
                                event_type: "stage_changed".to_owned(),
                                schema_version: 1,
                                occurred_at: Utc::now(),
                                payload: json!({
                                    "from": from_stage,
                                    "to": to_stage,
                                    "probability": probability,
                                }),
                            }
                        })
                        .collect();
                    appender
                        .append(AppendRequest::new(
                            Metadata::actor("user:bench"),
                            vec![StreamAppend::events(
                                StreamRef::new(Deal::STREAM_TYPE, deal),
                                ExpectedVersion::Exactly(from as u64),
                                batch,
                            )],
                        ))
                        .await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect()
}
