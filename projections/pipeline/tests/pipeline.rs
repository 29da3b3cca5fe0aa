//! The pipeline read model against the real PostgreSQL and NATS: domain commands appended
//! through the store (at chosen past times), relayed to a stream of the test's own, projected by
//! the `pipeline` projector, and read back through `ReportQueries` as the API reads them. The
//! numbers of the fixed scenarios were worked out by hand.

mod support;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use domain::activity::Activity;
use domain::deal::Deal;
use domain::lead::{self, Lead};
use domain::pipeline::Pipeline;
use pipeline::{Grouping, PipelineError, ReportScope, Window};
use policy::Visibility;
use proptest::prelude::*;
use support::World;
use support::commands::*;
use uuid::Uuid;

fn days(count: i64) -> Duration {
    Duration::days(count)
}

fn this_month(now: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("a month")
}

async fn new_pipeline(world: &World, at: DateTime<Utc>) -> (Uuid, u64) {
    let id = Uuid::now_v7();
    let position = world
        .execute_at::<Pipeline>(id, create_pipeline(id), at)
        .await;
    (id, position)
}

fn deal(pipeline_id: Uuid, stage: &'static str, amount: i64, currency: &str) -> DealSpec {
    DealSpec {
        pipeline_id,
        stage,
        amount: money(amount, currency),
        owner_id: Uuid::nil(),
        team: None,
        expected_close_on: None,
    }
}

async fn open(world: &World, spec: &DealSpec, at: DateTime<Utc>) -> (Uuid, u64) {
    let id = Uuid::now_v7();
    let position = world.execute_at::<Deal>(id, open_deal(id, spec), at).await;
    (id, position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deals_in_two_currencies_give_per_currency_totals_ages_and_one_stalled_deal() {
    let world = World::new().await;
    let projector = world.start_projector();
    let now = Utc::now();
    let (pipeline_id, _) = new_pipeline(&world, now - days(40)).await;
    let owner = Uuid::now_v7();
    let spec = |stage, amount, currency| DealSpec {
        owner_id: owner,
        ..deal(pipeline_id, stage, amount, currency)
    };
    // Qualified for 20 days, no activity: stalled.
    open(&world, &spec("qualified", 100_000, "EUR"), now - days(20)).await;
    // Opened 30 days ago in lead, in proposal for 6 days, called 2 days ago.
    let (moved, _) = open(&world, &spec("lead", 50_000, "EUR"), now - days(30)).await;
    world
        .execute_at::<Deal>(moved, move_deal(pipeline_id, "proposal"), now - days(6))
        .await;
    let call = Uuid::now_v7();
    world
        .execute_at::<Activity>(call, call_on(call, moved, now - days(2)), now - days(2))
        .await;
    // Qualified for 4 days.
    open(&world, &spec("qualified", 20_000, "USD"), now - days(4)).await;
    // Someone else's deal, outside the owner's scope.
    let other = DealSpec {
        owner_id: Uuid::now_v7(),
        ..deal(pipeline_id, "qualified", 999, "EUR")
    };
    let (_, last) = open(&world, &other, now - days(1)).await;
    let schema = world.caught_up(last).await;

    let scope = ReportScope {
        visibility: Visibility::Some {
            owner_ids: vec![owner],
            teams: vec![],
        },
        owner_id: None,
        team: None,
    };
    let withheld = world
        .reports()
        .pipeline(&schema, pipeline_id, &scope, now)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    assert_eq!(withheld.records().len(), 1);
    assert_eq!(withheld.records()[0].collection, "pipelines");
    let report = world.disclose(withheld).await;

    let keys: Vec<&str> = report.stages.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["lead", "qualified", "proposal"]);
    let [lead, qualified, proposal] = &report.stages[..] else {
        panic!("three stages");
    };
    assert_eq!(lead.open_deals, 0);
    assert!(lead.totals.is_empty());
    assert_eq!(lead.average_days_in_stage, None);

    assert_eq!(qualified.open_deals, 2);
    assert_eq!(qualified.stalled_deals, 1);
    let totals: Vec<(String, u64, i64, i64)> = qualified
        .totals
        .iter()
        .map(|t| {
            (
                t.currency.to_string(),
                t.deals,
                t.total_minor,
                t.weighted_minor,
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            ("EUR".to_owned(), 1, 100_000, 40_000),
            ("USD".to_owned(), 1, 20_000, 8_000)
        ]
    );
    let close = |actual: Option<f64>, expected: f64| {
        actual.is_some_and(|actual| (actual - expected).abs() < 0.01)
    };
    assert!(
        close(qualified.average_days_in_stage, 12.0),
        "{qualified:?}"
    );
    assert!(close(qualified.oldest_days_in_stage, 20.0), "{qualified:?}");

    assert_eq!(proposal.open_deals, 1);
    assert_eq!(proposal.stalled_deals, 0);
    assert_eq!(proposal.totals[0].weighted_minor, 35_000);
    assert!(close(proposal.average_days_in_stage, 6.0), "{proposal:?}");

    let totals: Vec<(String, u64, i64, i64)> = report
        .totals
        .iter()
        .map(|t| {
            (
                t.currency.to_string(),
                t.deals,
                t.total_minor,
                t.weighted_minor,
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            ("EUR".to_owned(), 2, 150_000, 75_000),
            ("USD".to_owned(), 1, 20_000, 8_000)
        ]
    );
    // Rows: lead alone, qualified in two currencies, proposal in one.
    assert_eq!(report.rows().len(), 4);

    let unknown = world
        .reports()
        .pipeline(&schema, Uuid::now_v7(), &scope, now)
        .await
        .expect("the report answers");
    assert!(unknown.is_none());

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_is_stalled_from_fourteen_days_after_its_last_touch_to_the_millisecond() {
    let world = World::new().await;
    let projector = world.start_projector();
    // The last noon (UTC), so that the cutoff's own day holds touches on both sides of it.
    let mut now = Utc::now()
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_utc();
    if now > Utc::now() {
        now -= days(1);
    }
    let cutoff = now - days(14);
    let hour = Duration::hours(1);
    let (pipeline_id, _) = new_pipeline(&world, now - days(40)).await;
    let lead = |amount| deal(pipeline_id, "lead", amount, "EUR");
    // Opened on the cutoff's day, an hour before it: stalled.
    open(&world, &lead(100), cutoff - hour).await;
    // Opened on the cutoff's day, an hour after it: not stalled yet.
    open(&world, &lead(200), cutoff + hour).await;
    // Opened a month ago, called a day before the cutoff: stalled.
    let (called_before, _) = open(&world, &lead(300), now - days(30)).await;
    let call = Uuid::now_v7();
    let at = cutoff - days(1);
    world
        .execute_at::<Activity>(call, call_on(call, called_before, at), at)
        .await;
    // Opened a month ago, called a day after the cutoff: not stalled.
    let (called_after, _) = open(&world, &lead(400), now - days(30)).await;
    let call = Uuid::now_v7();
    let at = cutoff + days(1);
    let last = world
        .execute_at::<Activity>(call, call_on(call, called_after, at), at)
        .await;
    let schema = world.caught_up(last).await;

    let report_at = |now| {
        let world = &world;
        let schema = &schema;
        async move {
            let withheld = world
                .reports()
                .pipeline(schema, pipeline_id, &ReportScope::everything(), now)
                .await
                .expect("the report answers")
                .expect("the pipeline exists");
            world.disclose(withheld).await.stages[0].clone()
        }
    };
    let stage = report_at(now).await;
    assert_eq!((stage.open_deals, stage.stalled_deals), (4, 2));
    let close = |actual: Option<f64>, expected: f64| {
        actual.is_some_and(|actual| (actual - expected).abs() < 1e-6)
    };
    // In the stage for 14 days and an hour, 14 days less an hour, 30 days and 30 days.
    assert!(close(stage.average_days_in_stage, 22.0), "{stage:?}");
    assert!(close(stage.oldest_days_in_stage, 30.0), "{stage:?}");

    let stage = report_at(now + hour).await;
    assert_eq!(
        stage.stalled_deals, 2,
        "not stalled at fourteen days exactly"
    );
    let stage = report_at(now + hour + Duration::milliseconds(1)).await;
    assert_eq!(stage.stalled_deals, 3, "stalled a millisecond later");

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_moved_back_a_stage_and_won_counts_once_per_stage_with_its_cycle_length() {
    let world = World::new().await;
    let projector = world.start_projector();
    let now = Utc::now();
    let (pipeline_id, _) = new_pipeline(&world, now - days(50)).await;
    let seller = Uuid::now_v7();
    let other_seller = Uuid::now_v7();
    let spec = |stage, owner_id| DealSpec {
        owner_id,
        team: Some(if owner_id == seller { "north" } else { "south" }),
        ..deal(pipeline_id, stage, 10_000, "EUR")
    };
    // A: lead -40, qualified -30, proposal -20, back to qualified -15, won -10: 30 days.
    let (a, _) = open(&world, &spec("lead", seller), now - days(40)).await;
    for (stage, at) in [("qualified", 30), ("proposal", 20), ("qualified", 15)] {
        world
            .execute_at::<Deal>(a, move_deal(pipeline_id, stage), now - days(at))
            .await;
    }
    world.execute_at::<Deal>(a, win(), now - days(10)).await;
    // B: lead -40, lost -35.
    let (b, _) = open(&world, &spec("lead", seller), now - days(40)).await;
    world.execute_at::<Deal>(b, lose(), now - days(35)).await;
    // C: qualified -25, still open.
    open(&world, &spec("qualified", other_seller), now - days(25)).await;
    // B handed to the other seller and their team after it was lost: still the seller's loss.
    let handed_over = domain::deal::Command::Reassign {
        owner_id: other_seller,
        team: Some(domain::values::Team::parse("south").expect("a team")),
    };
    let last = world
        .execute_at::<Deal>(b, handed_over, now - days(5))
        .await;
    let schema = world.caught_up(last).await;

    let window = Window {
        from: now - days(60),
        to: now + days(1),
    };
    let scope = ReportScope::everything();
    let withheld = world
        .reports()
        .velocity(&schema, pipeline_id, &scope, window, Grouping::Total)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    let report = world.disclose(withheld).await;
    assert_eq!(report.groups.len(), 1);
    let total = &report.groups[0];
    let figures: Vec<(&str, u64, u64, u64)> = total
        .stages
        .iter()
        .map(|s| (s.key.as_str(), s.entered, s.advanced, s.stays_ended))
        .collect();
    assert_eq!(
        figures,
        [
            ("lead", 2, 1, 2),
            ("qualified", 2, 1, 2),
            ("proposal", 1, 1, 1)
        ]
    );
    assert_eq!(total.stages[0].conversion_rate, Some(0.5));
    assert_eq!(total.stages[2].conversion_rate, Some(1.0));
    let close = |actual: Option<f64>, expected: f64| {
        actual.is_some_and(|actual| (actual - expected).abs() < 0.001)
    };
    assert!(
        close(total.stages[0].average_days_in_stage, 7.5),
        "{total:?}"
    );
    assert!(
        close(total.stages[1].average_days_in_stage, 7.5),
        "{total:?}"
    );
    assert!(
        close(total.stages[2].average_days_in_stage, 5.0),
        "{total:?}"
    );
    assert_eq!((total.won_deals, total.lost_deals), (1, 1));
    assert_eq!(total.win_rate, Some(0.5));
    assert!(close(total.average_cycle_days, 30.0), "{total:?}");
    assert_eq!(report.rows().len(), 3);

    let by_owner = world
        .reports()
        .velocity(&schema, pipeline_id, &scope, window, Grouping::Owner)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    // Figures per person name each person to the access log, beside the pipeline.
    let named: Vec<(&str, Uuid)> = by_owner
        .records()
        .iter()
        .map(|record| (record.collection.as_str(), record.id))
        .collect();
    for owner in [seller, other_seller] {
        assert!(named.contains(&("users", owner)), "{named:?}");
    }
    assert!(named.contains(&("pipelines", pipeline_id)), "{named:?}");
    let by_owner = world.disclose(by_owner).await;
    let seller_group = by_owner
        .groups
        .iter()
        .find(|group| group.owner_id == Some(seller))
        .expect("the seller's group");
    assert_eq!(seller_group.stages[1].entered, 1);
    assert_eq!((seller_group.won_deals, seller_group.lost_deals), (1, 1));
    let other_group = by_owner
        .groups
        .iter()
        .find(|group| group.owner_id == Some(other_seller))
        .expect("the other seller's group");
    assert_eq!(
        (
            other_group.stages[1].entered,
            other_group.stages[1].advanced
        ),
        (1, 0)
    );
    assert_eq!(other_group.win_rate, None);
    let by_team = world
        .reports()
        .velocity(&schema, pipeline_id, &scope, window, Grouping::Team)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    let by_team = world.disclose(by_team).await;
    let outcomes: Vec<(Option<&str>, u64, u64)> = by_team
        .groups
        .iter()
        .map(|group| (group.team.as_deref(), group.won_deals, group.lost_deals))
        .collect();
    assert!(outcomes.contains(&(Some("north"), 1, 1)), "{outcomes:?}");
    assert!(outcomes.contains(&(Some("south"), 0, 0)), "{outcomes:?}");
    let souths = ReportScope {
        team: Some("south".to_owned()),
        ..ReportScope::everything()
    };
    let south = world
        .reports()
        .velocity(&schema, pipeline_id, &souths, window, Grouping::Total)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    let south = world.disclose(south).await;
    assert_eq!(
        (south.groups[0].won_deals, south.groups[0].lost_deals),
        (0, 0)
    );

    // A window that has not started yet counts nothing; a reversed one is refused.
    let later = Window {
        from: now + days(2),
        to: now + days(3),
    };
    let empty = world
        .reports()
        .velocity(&schema, pipeline_id, &scope, later, Grouping::Total)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    let empty = world.disclose(empty).await;
    assert!(
        empty.groups[0]
            .stages
            .iter()
            .all(|stage| stage.entered == 0)
    );
    let reversed = Window {
        from: later.to,
        to: later.from,
    };
    let refused = world
        .reports()
        .velocity(&schema, pipeline_id, &scope, reversed, Grouping::Total)
        .await;
    assert!(matches!(
        refused,
        Err(PipelineError::Invalid { field: "to", .. })
    ));

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_weighs_open_deals_by_close_month_beside_what_was_won() {
    let world = World::new().await;
    let projector = world.start_projector();
    let now = Utc::now();
    let first = this_month(now);
    let next = first + chrono::Months::new(1);
    let (pipeline_id, _) = new_pipeline(&world, now - days(5)).await;
    let closing = |stage, amount, currency, on: Option<NaiveDate>| DealSpec {
        expected_close_on: on,
        ..deal(pipeline_id, stage, amount, currency)
    };
    let mid_next = next + days(14);
    for spec in [
        closing("qualified", 100_000, "EUR", Some(mid_next)),
        closing("proposal", 30_000, "EUR", Some(next)),
        closing("qualified", 50_000, "USD", Some(first)),
        closing("qualified", 10_000, "EUR", Some(first - days(10))),
        closing("lead", 7_000, "USD", None),
        // Beyond the three months asked for: not in the forecast.
        closing("lead", 1_000, "EUR", Some(first + chrono::Months::new(5))),
    ] {
        open(&world, &spec, now - days(1)).await;
    }
    let (won, _) = open(
        &world,
        &closing("proposal", 80_000, "EUR", None),
        now - days(1),
    )
    .await;
    let last = world.execute_at::<Deal>(won, win(), now).await;
    let schema = world.caught_up(last).await;
    for (stage, open_deals) in [("qualified", 3), ("proposal", 1), ("lead", 2)] {
        let found = world
            .reports()
            .open_deals_in_stage(&schema, pipeline_id, stage)
            .await
            .expect("the count answers");
        assert_eq!(found, open_deals, "{stage}: the won deal is closed");
    }

    let scope = ReportScope::everything();
    let withheld = world
        .reports()
        .forecast(&schema, pipeline_id, &scope, first, 3)
        .await
        .expect("the report answers")
        .expect("the pipeline exists");
    let report = world.disclose(withheld).await;
    let months: Vec<NaiveDate> = report.months.iter().map(|m| m.month).collect();
    assert_eq!(months, [first, next, next + chrono::Months::new(1)]);
    let expected = |index: usize| -> Vec<(String, u64, i64, i64)> {
        report.months[index]
            .expected
            .iter()
            .map(|t| {
                (
                    t.currency.to_string(),
                    t.deals,
                    t.weighted_minor,
                    t.best_case_minor,
                )
            })
            .collect()
    };
    assert_eq!(expected(0), [("USD".to_owned(), 1, 20_000, 50_000)]);
    assert_eq!(expected(1), [("EUR".to_owned(), 2, 61_000, 130_000)]);
    assert!(expected(2).is_empty());
    let won_this_month: Vec<(String, u64, i64)> = report.months[0]
        .won
        .iter()
        .map(|w| (w.currency.to_string(), w.deals, w.won_minor))
        .collect();
    assert_eq!(won_this_month, [("EUR".to_owned(), 1, 80_000)]);
    assert_eq!(report.overdue.len(), 1);
    assert_eq!(
        (
            report.overdue[0].weighted_minor,
            report.overdue[0].best_case_minor
        ),
        (4_000, 10_000)
    );
    assert_eq!(report.without_date.len(), 1);
    assert_eq!(report.without_date[0].weighted_minor, 700);
    // This month in USD (expected) and EUR (won), next month in EUR, the third empty; then
    // overdue and undated.
    assert_eq!(report.rows().len(), 6);

    let refused = world
        .reports()
        .forecast(&schema, pipeline_id, &scope, first, 37)
        .await;
    assert!(matches!(
        refused,
        Err(PipelineError::Invalid {
            field: "months",
            ..
        })
    ));
    let refused = world
        .reports()
        .forecast(&schema, pipeline_id, &scope, first + days(1), 3)
        .await;
    assert!(matches!(
        refused,
        Err(PipelineError::Invalid {
            field: "from_month",
            ..
        })
    ));

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_ranks_owners_by_deals_won_with_their_value_per_currency() {
    let world = World::new().await;
    let projector = world.start_projector();
    let now = Utc::now();
    let (pipeline_id, _) = new_pipeline(&world, now - days(5)).await;
    let first = Uuid::now_v7();
    let second = Uuid::now_v7();
    let mut won_deals = Vec::new();
    for (owner_id, amount, currency, won) in [
        (first, 1_000, "EUR", true),
        (first, 2_000, "EUR", true),
        (first, 500, "USD", true),
        (first, 9_000, "EUR", false),
        (second, 4_000, "EUR", true),
    ] {
        let spec = DealSpec {
            owner_id,
            ..deal(pipeline_id, "proposal", amount, currency)
        };
        let (id, _) = open(&world, &spec, now - days(1)).await;
        world
            .execute_at::<Deal>(id, if won { win() } else { lose() }, now)
            .await;
        if won {
            won_deals.push(id);
        }
    }
    // A won deal handed to someone else afterwards stays the win of whoever won it.
    let handed_over = domain::deal::Command::Reassign {
        owner_id: second,
        team: None,
    };
    let last = world
        .execute_at::<Deal>(won_deals[0], handed_over, now)
        .await;
    let schema = world.caught_up(last).await;

    let withheld = world
        .reports()
        .leaderboard(&schema, &ReportScope::everything(), this_month(now), 1)
        .await
        .expect("the report answers");
    let mut named: Vec<Uuid> = withheld.records().iter().map(|r| r.id).collect();
    named.sort();
    let mut owners = vec![first, second];
    owners.sort();
    assert_eq!(named, owners);
    assert!(withheld.records().iter().all(|r| r.collection == "users"));
    let board = world.disclose(withheld).await;
    let month = &board.months[0];
    let ranked: Vec<(Uuid, u64)> = month
        .owners
        .iter()
        .map(|o| (o.owner_id, o.won_deals))
        .collect();
    assert_eq!(ranked, [(first, 3), (second, 1)]);
    let won: Vec<(String, u64, i64)> = month.owners[0]
        .won
        .iter()
        .map(|w| (w.currency.to_string(), w.deals, w.won_minor))
        .collect();
    assert_eq!(
        won,
        [("EUR".to_owned(), 2, 3_000), ("USD".to_owned(), 1, 500)]
    );
    assert_eq!(board.rows().len(), 3);

    let firsts = ReportScope {
        owner_id: Some(first),
        ..ReportScope::everything()
    };
    let withheld = world
        .reports()
        .leaderboard(&schema, &firsts, this_month(now), 1)
        .await
        .expect("the report answers");
    let board = world.disclose(withheld).await;
    let ranked: Vec<(Uuid, u64)> = board.months[0]
        .owners
        .iter()
        .map(|o| (o.owner_id, o.won_deals))
        .collect();
    assert_eq!(ranked, [(first, 3)]);

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_sources_and_campaigns_show_enquiries_prospects_and_sales() {
    let world = World::new().await;
    let projector = world.start_projector();
    let now = Utc::now();
    let (pipeline_id, _) = new_pipeline(&world, now - days(10)).await;
    let owner = Uuid::now_v7();
    let campaign = Uuid::now_v7();
    // Web form, campaign: qualified, converted with a deal that is won.
    let sold = Uuid::now_v7();
    world
        .execute_at::<Lead>(
            sold,
            capture_lead(sold, "Web form", Some(campaign), owner),
            now - days(5),
        )
        .await;
    world
        .execute_at::<Lead>(sold, lead::Command::Qualify, now - days(4))
        .await;
    let deal_id = Uuid::now_v7();
    world
        .convert_lead(
            sold,
            Some((deal_id, pipeline_id, money(5_000, "EUR"))),
            now - days(3),
        )
        .await;
    world
        .execute_at::<Deal>(deal_id, win(), now - days(1))
        .await;
    // Web form, no campaign: disqualified.
    let dropped = Uuid::now_v7();
    world
        .execute_at::<Lead>(
            dropped,
            capture_lead(dropped, "Web form", None, owner),
            now - days(5),
        )
        .await;
    world
        .execute_at::<Lead>(
            dropped,
            lead::Command::Disqualify { reason: None },
            now - days(4),
        )
        .await;
    // Trade fair, campaign: converted without a deal.
    let met = Uuid::now_v7();
    world
        .execute_at::<Lead>(
            met,
            capture_lead(met, "Trade fair", Some(campaign), owner),
            now - days(5),
        )
        .await;
    let last = world.convert_lead(met, None, now - days(2)).await;
    // Captured before the window.
    let old = Uuid::now_v7();
    let last = last.max(
        world
            .execute_at::<Lead>(
                old,
                capture_lead(old, "Web form", None, owner),
                now - days(40),
            )
            .await,
    );
    let schema = world.caught_up(last).await;

    let window = Window {
        from: now - days(30),
        to: now,
    };
    let withheld = world
        .reports()
        .sources(&schema, &ReportScope::everything(), window)
        .await
        .expect("the report answers");
    assert!(withheld.records().is_empty());
    let report = world.disclose(withheld).await;
    let funnels: Vec<(&str, u64, u64, u64, u64, u64)> = report
        .sources
        .iter()
        .map(|s| {
            let f = &s.funnel;
            (
                s.source.as_str(),
                f.captured,
                f.qualified,
                f.converted,
                f.deals_opened,
                f.deals_won,
            )
        })
        .collect();
    assert_eq!(
        funnels,
        [("Trade fair", 1, 1, 1, 0, 0), ("Web form", 2, 1, 1, 1, 1)]
    );
    assert_eq!(report.sources[1].funnel.won[0].won_minor, 5_000);
    assert_eq!(report.campaigns.len(), 1);
    let by_campaign = &report.campaigns[0];
    assert_eq!(by_campaign.campaign_id, campaign);
    let f = &by_campaign.funnel;
    assert_eq!(
        (
            f.captured,
            f.qualified,
            f.converted,
            f.deals_opened,
            f.deals_won
        ),
        (2, 2, 2, 1, 1)
    );
    assert_eq!(f.won[0].currency.to_string(), "EUR");

    let nobody = ReportScope {
        visibility: Visibility::Nothing,
        ..ReportScope::everything()
    };
    let hidden = world
        .reports()
        .sources(&schema, &nobody, window)
        .await
        .expect("the report answers");
    assert!(world.disclose(hidden).await.sources.is_empty());

    projector.stop().await;
    world.stop().await;
}

/// One step of a random workload on a few deals of one pipeline.
#[derive(Debug, Clone)]
enum Step {
    Move { deal: usize, stage: usize },
    Win { deal: usize },
    Lose { deal: usize },
    Reopen { deal: usize },
    Call { deal: usize },
    Amount { deal: usize, amount: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    let deal = 0..4usize;
    prop_oneof![
        (deal.clone(), 0..3usize).prop_map(|(deal, stage)| Step::Move { deal, stage }),
        deal.clone().prop_map(|deal| Step::Win { deal }),
        deal.clone().prop_map(|deal| Step::Lose { deal }),
        deal.clone().prop_map(|deal| Step::Reopen { deal }),
        deal.clone().prop_map(|deal| Step::Call { deal }),
        (deal, 1..1_000_000i64).prop_map(|(deal, amount)| Step::Amount { deal, amount }),
    ]
}

const STAGES: [&str; 3] = ["lead", "qualified", "proposal"];

/// Runs `steps` as valid commands (a step the deal's state does not allow is left out);
/// returns the last position.
async fn run_workload(world: &World, steps: &[Step]) -> u64 {
    let now = Utc::now();
    let (pipeline_id, mut last) = new_pipeline(world, now - days(100)).await;
    let currencies = ["EUR", "USD", "EUR", "JPY"];
    let mut deals = Vec::new();
    for (index, currency) in currencies.iter().enumerate() {
        let spec = DealSpec {
            owner_id: Uuid::from_u128(index as u128 % 2 + 1),
            ..deal(pipeline_id, "lead", 1_000, currency)
        };
        let (id, position) = open(world, &spec, now - days(90)).await;
        last = position;
        // (id, open, stage, currency)
        deals.push((id, true, 0usize, *currency));
    }
    for (offset, step) in steps.iter().enumerate() {
        let at = now - days(80) + Duration::hours(offset as i64 * 7);
        let (id, is_open, stage, currency) = match step {
            Step::Move { deal, .. }
            | Step::Win { deal }
            | Step::Lose { deal }
            | Step::Reopen { deal }
            | Step::Call { deal }
            | Step::Amount { deal, .. } => &mut deals[*deal],
        };
        let command = match step {
            Step::Move { stage: to, .. } if *is_open && *to != *stage => {
                *stage = *to;
                move_deal(pipeline_id, STAGES[*to])
            }
            Step::Win { .. } if *is_open => {
                *is_open = false;
                win()
            }
            Step::Lose { .. } if *is_open => {
                *is_open = false;
                lose()
            }
            Step::Reopen { .. } if !*is_open => {
                *is_open = true;
                reopen(pipeline_id)
            }
            Step::Amount { amount, .. } if *is_open => domain::deal::Command::ChangeAmount {
                amount: money(*amount, currency),
            },
            Step::Call { .. } => {
                let call = Uuid::now_v7();
                last = world
                    .execute_at::<Activity>(call, call_on(call, *id, at), at)
                    .await;
                continue;
            }
            _ => continue,
        };
        last = world.execute_at::<Deal>(*id, command, at).await;
    }
    last
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn a_rebuild_from_the_first_event_equals_the_live_generation(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let world = World::new().await;
            let projector = world.start_projector();
            let last = run_workload(&world, &steps).await;
            let live = world.caught_up(last).await;
            world.assert_open_totals_sum_the_open_deals(&live).await;
            let live_rows = world.rows(&live).await;
            projector.stop().await;
            let rebuilt = world.rebuild().await;
            assert_ne!(live, rebuilt, "the rebuild made a new generation");
            let rebuilt_rows = world.rows(&rebuilt).await;
            for ((table, live), (_, rebuilt)) in live_rows.iter().zip(&rebuilt_rows) {
                assert!(live == rebuilt, "table {table}: the live and the rebuilt rows differ");
            }
            world.stop().await;
        });
    }
}

/// Opens `count` deals and moves each on once; returns the last position.
async fn write_deals(world: &World, pipeline_id: Uuid, count: usize) -> u64 {
    let mut last = 0;
    for _ in 0..count {
        let (id, _) = open(world, &deal(pipeline_id, "lead", 500, "EUR"), Utc::now()).await;
        last = world
            .execute::<Deal>(id, move_deal(pipeline_id, "qualified"))
            .await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_and_restarted_equals_a_rebuild_from_the_first_event() {
    let world = World::new().await;
    let (pipeline_id, _) = new_pipeline(&world, Utc::now()).await;
    let mut first = world.start_projector();
    let writing = async {
        let (a, b, c) = tokio::join!(
            write_deals(&world, pipeline_id, 60),
            write_deals(&world, pipeline_id, 60),
            write_deals(&world, pipeline_id, 60)
        );
        a.max(b).max(c)
    };
    let killing = async move {
        first
            .wait_until("applies part of the stream", |status| status.position >= 40)
            .await;
        first.kill().await;
    };
    let (written, ()) = tokio::join!(writing, killing);
    let last = write_deals(&world, pipeline_id, 10).await.max(written);

    let second = world.start_projector();
    let live = world.caught_up(last).await;
    second.stop().await;
    world.assert_open_totals_sum_the_open_deals(&live).await;
    let restarted = world.rows(&live).await;
    let count = |table: &str| {
        restarted
            .iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, rows)| rows.len())
    };
    assert_eq!(count("deals"), 190);
    assert_eq!(count("stage_stays"), 380);

    let rebuilt = world.rebuild().await;
    assert_ne!(rebuilt, live, "the rebuild made a new generation");
    let rebuilt_rows = world.rows(&rebuilt).await;
    for ((table, restarted), (_, rebuilt)) in restarted.iter().zip(&rebuilt_rows) {
        assert!(
            restarted == rebuilt,
            "table {table}: the restarted projector and the rebuild disagree"
        );
    }
    world.stop().await;
}
