//! The pipeline report laid out from its SQL groups: stage order, per-currency totals, ages.

use domain::values::{Name, Probability, StageKey};
use proptest::prelude::*;

use super::*;

fn pipeline() -> Pipeline {
    let stage = |key: &str, percent| domain::pipeline::Stage {
        key: StageKey::parse(key).expect("a key"),
        name: Name::parse(key).expect("a name"),
        probability: Probability::new(percent).expect("a percentage"),
    };
    Pipeline {
        id: Uuid::nil(),
        name: Name::parse("Sales").expect("a name"),
        stages: vec![stage("lead", 10), stage("won_soon", 90)],
    }
}

fn group(stage: &str, currency: &str, deals: u64, total: i64) -> OpenGroup {
    OpenGroup {
        stage: stage.to_owned(),
        currency: Currency::parse(currency).expect("a currency"),
        deals,
        total_minor: total,
        weighted_minor: total / 10,
        age_seconds_sum: deals as f64 * SECONDS_PER_DAY,
        age_seconds_max: 2.0 * SECONDS_PER_DAY,
        stalled: 1,
    }
}

#[test]
fn stages_keep_the_pipeline_order_and_a_removed_stage_with_deals_comes_last() {
    let groups = [
        group("won_soon", "USD", 1, 500),
        group("gone", "EUR", 2, 100),
        group("won_soon", "EUR", 3, 900),
    ];
    let report = assemble(&pipeline(), Utc::now(), 14, &groups);
    let keys: Vec<(&str, bool, u64)> = report
        .stages
        .iter()
        .map(|s| (s.key.as_str(), s.in_pipeline, s.open_deals))
        .collect();
    assert_eq!(
        keys,
        [("lead", true, 0), ("won_soon", true, 4), ("gone", false, 2)]
    );
    let currencies: Vec<String> = report.stages[1]
        .totals
        .iter()
        .map(|t| t.currency.to_string())
        .collect();
    assert_eq!(currencies, ["EUR", "USD"]);
    assert_eq!(report.stages[1].average_days_in_stage, Some(1.0));
    assert_eq!(report.stages[1].oldest_days_in_stage, Some(2.0));
    assert_eq!(report.stages[1].stalled_deals, 2);
    assert_eq!(report.rows().len(), 4);
}

proptest! {
    #[test]
    fn report_totals_are_the_stages_totals_per_currency(
        groups in proptest::collection::vec(
            (0..3usize, 0..3usize, 1..50u64, 0..1_000_000i64), 0..12)
    ) {
        let stages = ["lead", "won_soon", "gone"];
        let currencies = ["EUR", "USD", "JPY"];
        let mut seen = std::collections::BTreeSet::new();
        let groups: Vec<OpenGroup> = groups
            .into_iter()
            .filter(|(stage, currency, _, _)| seen.insert((*stage, *currency)))
            .map(|(stage, currency, deals, total)| group(stages[stage], currencies[currency], deals, total))
            .collect();
        let report = assemble(&pipeline(), Utc::now(), 14, &groups);
        for total in &report.totals {
            let from_stages: i64 = report.stages.iter()
                .flat_map(|s| &s.totals)
                .filter(|t| t.currency == total.currency)
                .map(|t| t.total_minor)
                .sum();
            prop_assert_eq!(from_stages, total.total_minor);
        }
        let deals: u64 = report.stages.iter().map(|s| s.open_deals).sum();
        prop_assert_eq!(deals, groups.iter().map(|g| g.deals).sum::<u64>());
    }
}
