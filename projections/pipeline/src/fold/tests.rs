//! The fold without a database: stays opened and closed by stage changes, closing and
//! reopening; activity on a deal; refused gaps; and batch boundaries that change nothing.

use chrono::{Duration, TimeZone};
use domain::values::{Currency, Probability, StageKey};
use proptest::prelude::*;

use super::*;
use crate::totals::OpenTotals;

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("a time")
        + Duration::hours(hours)
}

fn key(text: &str) -> StageKey {
    StageKey::parse(text).expect("a key")
}

fn item(id: Uuid, version: u64, position: u64, hours: i64, change: Change) -> Item {
    Item {
        position,
        time: at(hours),
        id,
        version,
        change,
    }
}

fn created(id: Uuid, stage: &str) -> Change {
    Change::Deal(deal::Event::Created(deal::Created {
        id,
        title: domain::values::Name::parse("A deal").expect("a name"),
        pipeline_id: Uuid::nil(),
        stage: key(stage),
        probability: Probability::new(10).expect("a percentage"),
        amount: Money::new(1_000, Currency::parse("EUR").expect("a currency")),
        expected_close_on: None,
        owner_id: Uuid::nil(),
        team: None,
        company_id: None,
        contact_id: None,
    }))
}

fn moved(from: &str, to: &str) -> Change {
    Change::Deal(deal::Event::StageChanged(deal::StageChanged {
        from: key(from),
        to: key(to),
        probability: Probability::new(40).expect("a percentage"),
    }))
}

fn won(hours: i64) -> Change {
    Change::Deal(deal::Event::Won(deal::Closed {
        reason: None,
        closed_at: at(hours),
    }))
}

fn reopened() -> Change {
    Change::Deal(deal::Event::Reopened(deal::Reopened {}))
}

fn touchpoint(deal_id: Uuid, hours: i64) -> activity::Touchpoint {
    activity::Touchpoint {
        id: Uuid::now_v7(),
        kind: activity::ActivityKind::Call,
        subject: domain::values::Name::parse("Call").expect("a name"),
        body: None,
        direction: None,
        duration_minutes: None,
        outcome: None,
        occurred_at: at(hours),
        contact_id: None,
        company_id: None,
        deal_id: Some(deal_id),
    }
}

#[test]
fn a_deal_moved_on_and_back_has_a_stay_per_stage_entered() {
    let id = Uuid::now_v7();
    let mut rows = Rows::default();
    let items = [
        item(id, 1, 1, 0, created(id, "lead")),
        item(id, 2, 2, 10, moved("lead", "proposal")),
        item(id, 3, 3, 20, moved("proposal", "lead")),
    ];
    fold(&mut rows, &items).expect("folds");
    type Stay<'a> = (i32, &'a str, Option<DateTime<Utc>>, Option<&'a str>);
    let stays: Vec<Stay<'_>> = rows
        .stays
        .iter()
        .map(|((_, seq), s)| (*seq, s.stage.as_str(), s.left_at, s.left_to.as_deref()))
        .collect();
    assert_eq!(
        stays,
        [
            (1, "lead", Some(at(10)), Some("proposal")),
            (2, "proposal", Some(at(20)), Some("lead")),
            (3, "lead", None, None),
        ]
    );
    let deal = &rows.deals[&id];
    assert_eq!(
        (deal.stage.as_str(), deal.stays, deal.stage_entered_at),
        ("lead", 3, at(20))
    );
    assert_eq!(deal.probability, 40);
}

#[test]
fn winning_closes_the_current_stay_and_reopening_starts_another_in_the_same_stage() {
    let id = Uuid::now_v7();
    let mut rows = Rows::default();
    fold(&mut rows, &[item(id, 1, 1, 0, created(id, "lead"))]).expect("folds");
    // A later batch: the open stay comes from the deal's row, not from a load.
    let mut later = Rows {
        deals: rows.deals.clone(),
        ..Rows::default()
    };
    fold(
        &mut later,
        &[item(id, 2, 2, 5, won(6)), item(id, 3, 3, 9, reopened())],
    )
    .expect("folds");
    let first = &later.stays[&(id, 1)];
    assert_eq!((first.entered_at, first.left_at), (at(0), Some(at(6))));
    assert_eq!(first.closed_as, Some(Status::Won));
    let second = &later.stays[&(id, 2)];
    assert_eq!(
        (second.stage.as_str(), second.entered_at, second.left_at),
        ("lead", at(9), None)
    );
    let deal = &later.deals[&id];
    assert_eq!((deal.status, deal.closed_at), (Status::Open, None));
}

#[test]
fn a_win_stays_with_its_owner_when_the_deal_is_handed_over_and_a_reopening_clears_it() {
    let id = Uuid::now_v7();
    let new_owner = Uuid::now_v7();
    let handed_over = Change::Deal(deal::Event::Reassigned(deal::Reassigned {
        owner_id: new_owner,
        team: None,
    }));
    let mut rows = Rows::default();
    fold(
        &mut rows,
        &[
            item(id, 1, 1, 0, created(id, "lead")),
            item(id, 2, 2, 5, won(5)),
            item(id, 3, 3, 6, handed_over),
        ],
    )
    .expect("folds");
    let deal = &rows.deals[&id];
    let winner = Owner {
        id: Uuid::nil(),
        team: None,
    };
    assert_eq!((deal.owner_id, &deal.closed_by), (new_owner, &Some(winner)));
    fold(&mut rows, &[item(id, 4, 4, 9, reopened())]).expect("folds");
    assert_eq!(rows.deals[&id].closed_by, None);
}

#[test]
fn a_touchpoint_backdated_before_the_deal_opened_touches_it_when_it_opened() {
    let id = Uuid::now_v7();
    let mut rows = Rows::default();
    let items = [
        item(id, 1, 1, 100, created(id, "lead")),
        item(
            Uuid::now_v7(),
            1,
            2,
            101,
            Change::Activity(activity::Event::Logged(touchpoint(id, 10))),
        ),
    ];
    fold(&mut rows, &items).expect("folds");
    assert_eq!(rows.deals[&id].last_activity_at, Some(at(100)));
}

#[test]
fn logged_and_completed_touchpoints_keep_the_latest_activity_of_their_deal() {
    let id = Uuid::now_v7();
    let scheduled = Uuid::now_v7();
    let mut rows = Rows::default();
    let items = [
        item(id, 1, 1, 0, created(id, "lead")),
        item(
            Uuid::now_v7(),
            1,
            2,
            1,
            Change::Activity(activity::Event::Logged(touchpoint(id, 30))),
        ),
        item(
            Uuid::now_v7(),
            1,
            3,
            2,
            Change::Activity(activity::Event::Logged(touchpoint(id, 20))),
        ),
        item(
            scheduled,
            1,
            4,
            3,
            Change::Activity(activity::Event::Scheduled(touchpoint(id, 90))),
        ),
    ];
    fold(&mut rows, &items).expect("folds");
    assert_eq!(rows.deals[&id].last_activity_at, Some(at(30)));
    let completed = activity::Event::Completed(activity::Completed {
        occurred_at: at(50),
        outcome: None,
        duration_minutes: None,
    });
    fold(
        &mut rows,
        &[item(scheduled, 2, 5, 50, Change::Activity(completed))],
    )
    .expect("folds");
    assert_eq!(rows.deals[&id].last_activity_at, Some(at(50)));
}

#[test]
fn a_missing_version_or_an_event_before_creation_is_refused() {
    let id = Uuid::now_v7();
    let mut rows = Rows::default();
    let gap = [
        item(id, 1, 1, 0, created(id, "lead")),
        item(id, 3, 2, 1, moved("lead", "proposal")),
    ];
    assert!(matches!(
        fold(&mut rows, &gap),
        Err(ProjectionError::Event { position: 2, .. })
    ));
    let orphan = Uuid::now_v7();
    let mut rows = Rows::default();
    assert!(matches!(
        fold(
            &mut rows,
            &[item(orphan, 1, 7, 0, moved("lead", "proposal"))]
        ),
        Err(ProjectionError::Event { position: 7, .. })
    ));
}

/// The rows a database would hold after folding `batches` one by one, each loading only what
/// it names, and the open totals changed batch by batch as the projection changes them.
fn fold_in_batches(batches: &[&[Item]]) -> (Rows, OpenTotals) {
    let mut stored = Rows::default();
    let mut totals = OpenTotals::default();
    for batch in batches {
        let wanted = wanted(batch);
        let activities: BTreeMap<Uuid, Uuid> = wanted
            .activities
            .iter()
            .filter_map(|id| stored.activities.get(id).map(|deal| (*id, *deal)))
            .collect();
        let mut rows = Rows {
            deals: deals_wanted(&wanted, &activities)
                .iter()
                .filter_map(|id| stored.deals.get(id).map(|row| (*id, row.clone())))
                .collect(),
            activities,
            ..Rows::default()
        };
        totals.remove(rows.deals.values());
        fold(&mut rows, batch).expect("folds");
        totals.add(rows.deals.values());
        stored.deals.extend(rows.deals);
        stored.stays.extend(rows.stays);
        stored.activities.extend(rows.activities);
    }
    (stored, totals)
}

/// A valid history of three deals from a list of (deal, action) steps.
fn history(steps: &[(usize, u8)]) -> Vec<Item> {
    let ids = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
    let mut items = Vec::new();
    let mut versions = [0u64; 3];
    let mut open = [true; 3];
    let mut stage = ["lead"; 3];
    let mut scheduled: Vec<(Uuid, usize)> = Vec::new();
    for (hours, &(deal, action)) in (1..).zip(steps) {
        let id = ids[deal];
        let push = |items: &mut Vec<Item>, versions: &mut [u64; 3], change: Change| {
            versions[deal] += 1;
            let position = items.len() as u64 + 1;
            items.push(item(id, versions[deal], position, hours, change));
        };
        if versions[deal] == 0 {
            push(&mut items, &mut versions, created(id, "lead"));
            continue;
        }
        match action % 5 {
            0 | 1 if open[deal] => {
                let to = if stage[deal] == "lead" {
                    "proposal"
                } else {
                    "lead"
                };
                push(&mut items, &mut versions, moved(stage[deal], to));
                stage[deal] = to;
            }
            2 if open[deal] => {
                push(&mut items, &mut versions, won(hours));
                open[deal] = false;
            }
            2 => {
                push(&mut items, &mut versions, reopened());
                open[deal] = true;
            }
            3 => {
                let activity = Uuid::now_v7();
                scheduled.push((activity, deal));
                let position = items.len() as u64 + 1;
                let event = activity::Event::Scheduled(touchpoint(id, hours));
                items.push(item(activity, 1, position, hours, Change::Activity(event)));
            }
            _ => {
                if let Some((activity, _)) = scheduled.pop() {
                    let position = items.len() as u64 + 1;
                    let event = activity::Event::Completed(activity::Completed {
                        occurred_at: at(hours),
                        outcome: None,
                        duration_minutes: None,
                    });
                    items.push(item(activity, 2, position, hours, Change::Activity(event)));
                }
            }
        }
    }
    items
}

proptest! {
    #[test]
    fn where_the_batches_break_changes_no_row(
        steps in proptest::collection::vec((0..3usize, any::<u8>()), 1..60),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let items = history(&steps);
        let (whole, whole_totals) = fold_in_batches(&[&items]);
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(items.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut batches = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([items.len()]) {
            batches.push(&items[start..cut]);
            start = cut;
        }
        let (split, split_totals) = fold_in_batches(&batches);
        prop_assert_eq!(&split, &whole);
        // The totals changed batch by batch are those of the deals the batches leave.
        let mut fresh = OpenTotals::default();
        fresh.add(whole.deals.values());
        let fresh = fresh.changes(0).expect("in range");
        prop_assert_eq!(split_totals.changes(0).expect("in range"), fresh.clone());
        prop_assert_eq!(whole_totals.changes(0).expect("in range"), fresh);
        // Every deal's stays are numbered from 1 without gaps, and only an open deal has an
        // open stay (its last).
        for (id, deal) in &whole.deals {
            let stays: Vec<&StayState> = (1..=deal.stays)
                .map(|seq| &whole.stays[&(*id, seq)])
                .collect();
            let open: Vec<bool> = stays.iter().map(|s| s.left_at.is_none()).collect();
            let expect_open = deal.status == Status::Open;
            prop_assert_eq!(open.last().copied(), Some(expect_open));
            prop_assert!(open.iter().rev().skip(1).all(|open| !open));
        }
    }
}
