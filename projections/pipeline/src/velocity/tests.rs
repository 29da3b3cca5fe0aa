//! Velocity figures from counts: rates, days, and groups.

use domain::values::{Name, Probability, StageKey};

use super::*;

fn pipeline() -> Pipeline {
    let stage = |key: &str| domain::pipeline::Stage {
        key: StageKey::parse(key).expect("a key"),
        name: Name::parse(key).expect("a name"),
        probability: Probability::new(50).expect("a percentage"),
    };
    Pipeline {
        id: Uuid::nil(),
        name: Name::parse("Sales").expect("a name"),
        stages: vec![stage("lead"), stage("proposal")],
    }
}

fn window() -> Window {
    Window {
        from: DateTime::UNIX_EPOCH,
        to: Utc::now(),
    }
}

#[test]
fn the_total_is_always_one_group_even_without_deals() {
    let report = assemble(&pipeline(), window(), Grouping::Total, &[], &[], &[]);
    assert_eq!(report.groups.len(), 1);
    assert!(
        report.groups[0]
            .stages
            .iter()
            .all(|s| s.conversion_rate.is_none())
    );
    assert_eq!(report.rows().len(), 2);
}

#[test]
fn counts_become_rates_and_days_per_owner() {
    let owner = Some(Uuid::from_u128(7));
    let conversions = [Conversion {
        group: (owner, None),
        stage: "lead".to_owned(),
        entered: 4,
        advanced: 1,
    }];
    let stays = [StayLengths {
        group: (owner, None),
        stage: "proposal".to_owned(),
        ended: 2,
        average_seconds: 3.0 * SECONDS_PER_DAY,
    }];
    let outcomes = [Outcomes {
        group: (owner, None),
        won: 3,
        lost: 1,
        average_cycle_seconds: Some(SECONDS_PER_DAY / 2.0),
    }];
    let report = assemble(
        &pipeline(),
        window(),
        Grouping::Owner,
        &conversions,
        &stays,
        &outcomes,
    );
    assert_eq!(report.groups.len(), 1);
    let group = &report.groups[0];
    assert_eq!(group.owner_id, owner);
    assert_eq!(group.stages[0].conversion_rate, Some(0.25));
    assert_eq!(group.stages[1].average_days_in_stage, Some(3.0));
    assert_eq!(group.win_rate, Some(0.75));
    assert_eq!(group.average_cycle_days, Some(0.5));
}

#[test]
fn a_rate_needs_a_whole() {
    assert_eq!(rate(0, 0), None);
    assert_eq!(rate(1, 4), Some(0.25));
}
