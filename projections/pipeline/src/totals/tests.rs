//! The batch's net change to the summary rows, worked out by hand.

use chrono::{DateTime, TimeZone, Utc};
use domain::values::Money;

use super::*;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .single()
        .expect("a time")
}

fn deal(stage: &str, amount: i64, currency: &str, probability: u8) -> DealState {
    DealState {
        version: 1,
        position: 1,
        pipeline_id: Uuid::nil(),
        stage: stage.to_owned(),
        probability,
        amount: Money::new(amount, Currency::parse(currency).expect("a currency")),
        expected_close_on: None,
        owner_id: Uuid::nil(),
        team: None,
        status: Status::Open,
        opened_at: at(1, 9),
        stage_entered_at: at(2, 0),
        closed_at: None,
        closed_by: None,
        last_activity_at: None,
        stays: 1,
    }
}

fn key(stage: &str, day: u32) -> GroupKey {
    GroupKey {
        pipeline_id: Uuid::nil(),
        stage: stage.to_owned(),
        currency: Currency::parse("EUR").expect("a currency"),
        owner_id: Uuid::nil(),
        team: String::new(),
        touched_on: at(day, 0).date_naive(),
    }
}

#[test]
fn a_deal_moved_on_leaves_one_group_for_another_and_a_won_deal_leaves_altogether() {
    let before = [deal("lead", 1_000, "EUR", 10), deal("lead", 333, "EUR", 10)];
    let mut after = before.clone();
    after[0].stage = "proposal".to_owned();
    after[0].probability = 40;
    after[0].stage_entered_at = at(3, 0);
    after[0].last_activity_at = Some(at(3, 12));
    after[1].status = Status::Won;

    let mut totals = OpenTotals::default();
    totals.remove(&before);
    totals.add(&after);
    let changes = totals.changes(9).expect("in range");
    let entered = |day| at(day, 0).timestamp_millis();
    assert_eq!(
        changes,
        [
            (
                &key("lead", 1),
                Change {
                    deals: -2,
                    total_minor: -1_333,
                    weighted_percent_minor: -13_330,
                    entered_ms: -2 * entered(2),
                }
            ),
            (
                &key("proposal", 3),
                Change {
                    deals: 1,
                    total_minor: 1_000,
                    weighted_percent_minor: 40_000,
                    entered_ms: entered(3),
                }
            ),
        ]
    );
}

#[test]
fn a_deal_the_batch_left_as_it_was_changes_nothing() {
    let deals = [deal("lead", 1_000, "EUR", 10)];
    let mut totals = OpenTotals::default();
    totals.remove(&deals);
    totals.add(&deals);
    assert!(totals.changes(1).expect("in range").is_empty());
}

#[test]
fn a_change_beyond_a_bigint_is_refused_at_the_batch_position() {
    let deals = [deal("lead", i64::MAX, "EUR", 50)];
    let mut totals = OpenTotals::default();
    totals.add(&deals);
    assert!(matches!(
        totals.changes(42),
        Err(ProjectionError::Event { position: 42, .. })
    ));
}
