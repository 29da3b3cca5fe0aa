//! The scores, as a pure function of a customer's facts, the settings and `now`: no I/O, no
//! clock. Scores decay without new events, and changing a weight changes the next answer.
//!
//! The ranked list orders in SQL by the same formulas over stored summaries (`queries`); these
//! functions are the reference it is tested against.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use domain::values::ValueClass;

use crate::config::{ChurnConfig, EngagementConfig, ScoringConfig, TouchConfig, ValueConfig};
use crate::facts::{Component, EventRef, Facts, Touch};
use crate::model::{
    ChurnReason, ChurnRisk, CustomerScore, EngagementComponent, EngagementScore, MonetaryTotal,
    MonthMinutes, TouchCost, ValueScore,
};

/// How many events each component names.
pub const EVENTS_PER_COMPONENT: usize = 5;

const DAY_SECONDS: f64 = 86_400.0;

/// Every score of the customer whose facts these are, at `now`.
pub(crate) fn score(facts: &Facts, config: &ScoringConfig, now: DateTime<Utc>) -> CustomerScore {
    CustomerScore {
        kind: facts.key.kind,
        id: facts.key.id,
        owner_id: facts.owner_id,
        team: facts.team.clone(),
        value: value(facts, &config.value, &config.touch, now),
        engagement: engagement(&facts.touches, &config.engagement, now),
        touch_cost: touch_cost(facts, &config.touch, now),
        churn_risk: churn_risk(facts, &config.churn, now),
    }
}

/// The weight of a touchpoint of `component` happening now (never negative).
pub(crate) fn weight(config: &EngagementConfig, component: Component) -> f64 {
    let weight = match component {
        Component::Call => config.call,
        Component::Email => config.email,
        Component::Meeting => config.meeting,
        Component::Note => config.note,
        Component::Message => config.message,
        Component::Visit => config.visit,
        Component::Reply => config.reply,
        Component::LinkClick => config.link_click,
    };
    if weight.is_finite() {
        weight.max(0.0)
    } else {
        0.0
    }
}

/// The time in half-lives since the Unix epoch: a touchpoint at `at` contributes
/// 2^(exponent(at) − exponent(now)).
pub(crate) fn exponent(at: DateTime<Utc>, half_life_seconds: f64) -> f64 {
    at.timestamp_millis() as f64 / 1000.0 / half_life_seconds
}

/// log2(2^sum + 2^exponent), without overflow: how the stored decayed sums grow.
pub(crate) fn add_to_log_sum(sum: Option<f64>, exponent: f64) -> f64 {
    match sum {
        None => exponent,
        Some(sum) => {
            let (high, low) = if sum >= exponent {
                (sum, exponent)
            } else {
                (exponent, sum)
            };
            high + (1.0 + (low - high).exp2()).log2()
        }
    }
}

fn engagement(touches: &[Touch], config: &EngagementConfig, now: DateTime<Utc>) -> EngagementScore {
    let half_life = config.half_life_seconds();
    let now_exponent = exponent(now, half_life);
    let mut components: Vec<EngagementComponent> = Vec::new();
    let mut contributions: Vec<(f64, &Touch)> = Vec::with_capacity(touches.len());
    for touch in touches {
        let weight = weight(config, touch.component);
        let contribution = weight * (exponent(touch.occurred_at, half_life) - now_exponent).exp2();
        contributions.push((contribution, touch));
        match components
            .iter_mut()
            .find(|component| component.component == touch.component)
        {
            Some(component) => {
                component.count += 1;
                component.score += contribution;
            }
            None => components.push(EngagementComponent {
                component: touch.component,
                weight,
                count: 1,
                score: contribution,
            }),
        }
    }
    components.sort_by_key(|component| component.component);
    let score = components.iter().map(|component| component.score).sum();
    contributions.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.position.cmp(&a.1.position)));
    let events = contributions
        .iter()
        .filter(|(contribution, _)| *contribution > 0.0)
        .take(EVENTS_PER_COMPONENT)
        .map(|(_, touch)| touch_ref(touch))
        .collect();
    EngagementScore {
        score,
        components,
        events,
        half_life_days: half_life / DAY_SECONDS,
    }
}

fn value(
    facts: &Facts,
    config: &ValueConfig,
    touch: &TouchConfig,
    now: DateTime<Utc>,
) -> ValueScore {
    let last_won = facts.won.iter().map(|won| won.closed_at).max();
    let recency_days = last_won.map(|last| days_between(last, now));
    let recency_score = recency_days.map_or(0, |days| recency_score(config, days));
    let frequency = u32::try_from(facts.won.len()).unwrap_or(u32::MAX);
    let frequency_score = frequency_score(config, frequency);
    let mut monetary: Vec<MonetaryTotal> = Vec::new();
    for won in &facts.won {
        match monetary
            .iter_mut()
            .find(|total| total.currency == won.currency)
        {
            Some(total) => total.amount_minor = total.amount_minor.saturating_add(won.amount_minor),
            None => monetary.push(MonetaryTotal {
                currency: won.currency.clone(),
                amount_minor: won.amount_minor,
                score: None,
            }),
        }
    }
    monetary.sort_by(|a, b| a.currency.cmp(&b.currency));
    for total in &mut monetary {
        total.score = config
            .monetary_minor
            .get(&total.currency)
            .map(|thresholds| monetary_score(thresholds, total.amount_minor));
    }
    let monetary_score = monetary
        .iter()
        .filter_map(|total| total.score)
        .max()
        .unwrap_or(0);
    let score = recency_score + frequency_score + monetary_score;
    let minutes = total_minutes(facts, touch);
    let cost = i64::from(minutes).saturating_mul(config.cost_per_minute_minor.max(0));
    let earned = monetary
        .iter()
        .find(|total| total.currency == config.cost_currency)
        .map_or(0, |total| total.amount_minor);
    // Money won in another currency cannot be weighed against the cost: such a customer earns
    // something, so it is never D for costing more than the nothing won in the cost currency.
    let won_elsewhere = monetary
        .iter()
        .any(|total| total.currency != config.cost_currency);
    let costs_more = cost > earned && !won_elsewhere;
    let computed_class = if costs_more {
        ValueClass::D
    } else if score >= config.class_a_min {
        ValueClass::A
    } else if score >= config.class_b_min {
        ValueClass::B
    } else {
        ValueClass::C
    };
    let unscored: Vec<&str> = monetary
        .iter()
        .filter(|total| total.score.is_none())
        .map(|total| total.currency.as_str())
        .collect();
    let mut explanation = format!(
        "R {recency_score} + F {frequency_score} + M {monetary_score} = {score} over {frequency} \
         won deal(s); A from {}, B from {}",
        config.class_a_min, config.class_b_min
    );
    if !unscored.is_empty() {
        explanation.push_str(&format!(
            "; {} reported but not scored (no thresholds)",
            unscored.join(", ")
        ));
    }
    if costs_more {
        explanation.push_str(&format!(
            "; D: {minutes} minutes cost {cost} {currency} minor units, more than the {earned} \
             won in {currency}",
            currency = config.cost_currency
        ));
    }
    if let Some(manual) = facts.manual_class {
        explanation.push_str(&format!("; the class {manual:?} set by hand is in force"));
    }
    let mut won: Vec<_> = facts.won.iter().collect();
    won.sort_by(|a, b| {
        b.closed_at
            .cmp(&a.closed_at)
            .then(b.position.cmp(&a.position))
    });
    let events = won
        .iter()
        .take(EVENTS_PER_COMPONENT)
        .map(|won| EventRef {
            position: won.position,
            event_type: won.event_type.clone(),
            occurred_at: won.closed_at,
        })
        .collect();
    ValueScore {
        class: facts.manual_class.unwrap_or(computed_class),
        computed_class,
        manual_class: facts.manual_class,
        score,
        recency_days,
        frequency: Some(frequency),
        monetary,
        recency_score,
        frequency_score,
        monetary_score,
        explanation,
        events,
    }
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub(crate) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().div_euclid(86_400)
}

fn recency_score(config: &ValueConfig, days: i64) -> u32 {
    let mut score = 5;
    for limit in config.recency_days {
        if days <= i64::from(limit) {
            return score;
        }
        score -= 1;
    }
    1
}

fn frequency_score(config: &ValueConfig, count: u32) -> u32 {
    if count == 0 {
        return 0;
    }
    let mut score = 5;
    for least in config.frequency_counts {
        if count >= least {
            return score;
        }
        score -= 1;
    }
    1
}

fn monetary_score(thresholds: &[i64; 4], amount_minor: i64) -> u32 {
    let mut score = 5;
    for least in thresholds {
        if amount_minor >= *least {
            return score;
        }
        score -= 1;
    }
    1
}

/// Every minute spent on the customer: activity durations and the minutes counted per case.
fn total_minutes(facts: &Facts, touch: &TouchConfig) -> u32 {
    let activity: u32 = facts
        .touches
        .iter()
        .map(|t| t.minutes)
        .fold(0, u32::saturating_add);
    let cases = u32::try_from(facts.cases.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(touch.case_minutes);
    activity.saturating_add(cases)
}

/// The first day of the month `at` falls in (UTC).
pub(crate) fn month_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive().with_day(1).unwrap_or(NaiveDate::MIN)
}

fn touch_cost(facts: &Facts, config: &TouchConfig, now: DateTime<Utc>) -> TouchCost {
    let current = month_of(now);
    let shown = config.months_shown.max(1);
    let mut months: Vec<MonthMinutes> = (0..shown)
        .filter_map(|back| current.checked_sub_months(Months::new(back)))
        .map(|month| MonthMinutes {
            month,
            activity_minutes: 0,
            cases_opened: 0,
            case_minutes: 0,
            minutes: 0,
        })
        .collect();
    let mut this_month: Vec<(u32, EventRef)> = Vec::new();
    for touch in &facts.touches {
        let month = month_of(touch.occurred_at);
        if let Some(entry) = months.iter_mut().find(|entry| entry.month == month) {
            entry.activity_minutes = entry.activity_minutes.saturating_add(touch.minutes);
        }
        if month == current && touch.minutes > 0 {
            this_month.push((touch.minutes, touch_ref(touch)));
        }
    }
    for case in &facts.cases {
        let month = month_of(case.opened_at);
        if let Some(entry) = months.iter_mut().find(|entry| entry.month == month) {
            entry.cases_opened += 1;
        }
        if month == current {
            this_month.push((
                config.case_minutes,
                EventRef {
                    position: case.position,
                    event_type: case.event_type.clone(),
                    occurred_at: case.opened_at,
                },
            ));
        }
    }
    for entry in &mut months {
        entry.case_minutes = entry.cases_opened.saturating_mul(config.case_minutes);
        entry.minutes = entry.activity_minutes.saturating_add(entry.case_minutes);
    }
    let minutes_this_month = months.first().map_or(0, |entry| entry.minutes);
    this_month.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.position.cmp(&a.1.position)));
    TouchCost {
        minutes_this_month,
        high_touch: minutes_this_month > config.high_touch_minutes_per_month,
        explanation: format!(
            "activity durations plus {} minutes per case opened (cases carry no duration); \
             high-touch above {} minutes a month",
            config.case_minutes, config.high_touch_minutes_per_month
        ),
        months,
        events: this_month
            .into_iter()
            .take(EVENTS_PER_COMPONENT)
            .map(|(_, event)| event)
            .collect(),
    }
}

/// How far past its usual interval a gap is: 0 up to the interval, 1 from four intervals.
pub(crate) fn overdue(gap_days: f64, usual_days: f64) -> f64 {
    ((gap_days / usual_days.max(1.0) - 1.0) / 3.0).clamp(0.0, 1.0)
}

fn churn_risk(facts: &Facts, config: &ChurnConfig, now: DateTime<Utc>) -> ChurnRisk {
    let positive = |weight: f64| {
        if weight.is_finite() {
            weight.max(0.0)
        } else {
            0.0
        }
    };
    let mut reasons = Vec::new();
    let mut events = Vec::new();
    let first_touch = facts.touches.iter().map(|t| t.occurred_at).min();
    let last = facts
        .touches
        .iter()
        .max_by_key(|t| (t.occurred_at, t.position));
    match (first_touch, last) {
        (Some(first), Some(last)) => {
            let count = facts.touches.len();
            let rhythm = if count >= 2 {
                seconds(last.occurred_at - first) / DAY_SECONDS / (count - 1) as f64
            } else {
                config.default_rhythm_days
            };
            let silent = seconds(now - last.occurred_at) / DAY_SECONDS;
            let weight = positive(config.silence) * overdue(silent, rhythm);
            events.push(touch_ref(last));
            if weight > 0.0 {
                reasons.push(ChurnReason {
                    reason: "silence".to_owned(),
                    weight,
                    detail: format!(
                        "{silent:.0} days since the last touchpoint; usually every {:.1} days",
                        rhythm.max(1.0)
                    ),
                });
            }
        }
        _ => {
            let weight = positive(config.silence);
            if weight > 0.0 {
                reasons.push(ChurnReason {
                    reason: "silence".to_owned(),
                    weight,
                    detail: "no touchpoint on record".to_owned(),
                });
            }
        }
    }
    let open: Vec<_> = facts
        .cases
        .iter()
        .filter(|c| c.closed_at.is_none())
        .collect();
    let full = f64::from(config.open_cases_full.max(1));
    let weight = positive(config.open_cases) * (open.len() as f64 / full).min(1.0);
    if weight > 0.0 {
        reasons.push(ChurnReason {
            reason: "open_cases".to_owned(),
            weight,
            detail: format!("{} open case(s)", open.len()),
        });
        events.extend(open.iter().take(EVENTS_PER_COMPONENT).map(|case| EventRef {
            position: case.position,
            event_type: case.event_type.clone(),
            occurred_at: case.opened_at,
        }));
    }
    let first_won = facts.won.iter().map(|w| w.closed_at).min();
    let last_won = facts.won.iter().max_by_key(|w| (w.closed_at, w.position));
    if let (Some(first), Some(last)) = (first_won, last_won)
        && facts.won.len() >= 2
    {
        let interval = seconds(last.closed_at - first) / DAY_SECONDS / (facts.won.len() - 1) as f64;
        let since = seconds(now - last.closed_at) / DAY_SECONDS;
        let weight = positive(config.falling_purchases) * overdue(since, interval);
        if weight > 0.0 {
            reasons.push(ChurnReason {
                reason: crate::model::FALLING_PURCHASES.to_owned(),
                weight,
                detail: format!(
                    "{since:.0} days since the last won deal; usually every {:.1} days",
                    interval.max(1.0)
                ),
            });
            events.push(EventRef {
                position: last.position,
                event_type: last.event_type.clone(),
                occurred_at: last.closed_at,
            });
        }
    }
    let total: f64 = reasons.iter().map(|reason| reason.weight).sum();
    ChurnRisk {
        risk: total.clamp(0.0, 100.0).round() as u32,
        reasons,
        events,
    }
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_milliseconds() as f64 / 1000.0
}

fn touch_ref(touch: &Touch) -> EventRef {
    EventRef {
        position: touch.position,
        event_type: touch.event_type.clone(),
        occurred_at: touch.occurred_at,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::facts::{CaseFact, CustomerKey, CustomerKind, Won};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 20, 12, 0, 0).unwrap()
    }

    fn company() -> Facts {
        Facts {
            key: CustomerKey {
                kind: CustomerKind::Company,
                id: Uuid::from_u128(1),
            },
            owner_id: None,
            team: None,
            company_id: None,
            manual_class: None,
            touches: Vec::new(),
            won: Vec::new(),
            cases: Vec::new(),
        }
    }

    fn touch(component: Component, days_ago: i64, minutes: u32, position: u64) -> Touch {
        Touch {
            component,
            occurred_at: now() - Duration::days(days_ago),
            minutes,
            position,
            event_type: "crm.activity.logged.v1".to_owned(),
        }
    }

    fn won(days_ago: i64, amount_minor: i64, currency: &str, position: u64) -> Won {
        Won {
            deal_id: Uuid::from_u128(u128::from(position)),
            closed_at: now() - Duration::days(days_ago),
            amount_minor,
            currency: currency.to_owned(),
            position,
            event_type: "crm.deal.won.v1".to_owned(),
        }
    }

    fn case(days_ago: i64, open: bool, position: u64) -> CaseFact {
        CaseFact {
            case_id: Uuid::from_u128(u128::from(position)),
            opened_at: now() - Duration::days(days_ago),
            closed_at: (!open).then(now),
            position,
            event_type: "crm.case.created.v1".to_owned(),
        }
    }

    #[test]
    fn three_won_deals_in_two_currencies_score_per_currency() {
        let facts = Facts {
            won: vec![
                won(100, 3_000_000, "EUR", 10),
                won(40, 2_500_000, "EUR", 20),
                won(10, 500_000, "USD", 30),
            ],
            ..company()
        };
        let value = score(&facts, &ScoringConfig::default(), now()).value;
        assert_eq!(value.recency_days, Some(10));
        assert_eq!(value.recency_score, 5);
        assert_eq!(value.frequency, Some(3));
        assert_eq!(value.frequency_score, 3);
        assert_eq!(
            value.monetary,
            vec![
                MonetaryTotal {
                    currency: "EUR".to_owned(),
                    amount_minor: 5_500_000,
                    score: Some(4),
                },
                MonetaryTotal {
                    currency: "USD".to_owned(),
                    amount_minor: 500_000,
                    score: Some(2),
                },
            ]
        );
        assert_eq!(value.monetary_score, 4);
        assert_eq!(value.score, 12);
        assert_eq!(value.class, ValueClass::A);
        assert_eq!(value.computed_class, ValueClass::A);
        let positions: Vec<u64> = value.events.iter().map(|event| event.position).collect();
        assert_eq!(positions, [30, 20, 10]);
    }

    #[test]
    fn a_currency_without_thresholds_is_reported_but_not_scored() {
        let facts = Facts {
            won: vec![won(5, 900_000_000, "JPY", 1)],
            ..company()
        };
        let value = score(&facts, &ScoringConfig::default(), now()).value;
        assert_eq!(value.monetary[0].score, None);
        assert_eq!(value.monetary_score, 0);
        assert!(value.explanation.contains("JPY reported but not scored"));
    }

    #[test]
    fn a_manual_class_wins_and_both_are_shown() {
        let facts = Facts {
            manual_class: Some(ValueClass::D),
            won: vec![won(1, 50_000_000, "EUR", 1)],
            ..company()
        };
        let value = score(&facts, &ScoringConfig::default(), now()).value;
        assert_eq!(value.score, 11);
        assert_eq!(value.class, ValueClass::D);
        assert_eq!(value.computed_class, ValueClass::B);
        assert_eq!(value.manual_class, Some(ValueClass::D));
        assert!(value.explanation.contains("set by hand"));
    }

    #[test]
    fn a_customer_costing_more_than_it_earns_is_d() {
        let facts = Facts {
            touches: vec![touch(Component::Meeting, 3, 600, 1)],
            won: vec![won(2, 50_000, "EUR", 2)],
            ..company()
        };
        let value = score(&facts, &ScoringConfig::default(), now()).value;
        assert_eq!(value.computed_class, ValueClass::D);
        assert!(
            value.explanation.contains("600 minutes"),
            "{}",
            value.explanation
        );
    }

    #[test]
    fn a_customer_who_won_in_another_currency_is_not_d_for_its_cost() {
        let facts = Facts {
            touches: vec![touch(Component::Meeting, 3, 600, 1)],
            won: vec![won(2, 20_000_000, "USD", 2)],
            ..company()
        };
        let value = score(&facts, &ScoringConfig::default(), now()).value;
        assert_ne!(value.computed_class, ValueClass::D, "{}", value.explanation);
    }

    #[test]
    fn a_meeting_outweighs_an_email_and_both_halve_after_one_half_life() {
        let config = ScoringConfig::default();
        let facts = Facts {
            touches: vec![
                touch(Component::Meeting, 0, 0, 1),
                touch(Component::Email, 0, 0, 2),
            ],
            ..company()
        };
        let fresh = score(&facts, &config, now()).engagement;
        let share = |engagement: &EngagementScore, component: Component| {
            engagement
                .components
                .iter()
                .find(|share| share.component == component)
                .map(|share| share.score)
                .unwrap()
        };
        assert!((share(&fresh, Component::Meeting) - 5.0).abs() < 1e-9);
        assert!((share(&fresh, Component::Email) - 1.0).abs() < 1e-9);
        assert_eq!(fresh.events[0].position, 1);
        let later = score(&facts, &config, now() + Duration::days(30)).engagement;
        assert!((share(&later, Component::Meeting) - 2.5).abs() < 1e-9);
        assert!((share(&later, Component::Email) - 0.5).abs() < 1e-9);
        assert!((later.score - fresh.score / 2.0).abs() < 1e-9);
    }

    #[test]
    fn activity_and_case_minutes_add_up_per_month_and_flag_high_touch() {
        let config = ScoringConfig::default();
        let facts = Facts {
            touches: vec![
                touch(Component::Meeting, 1, 120, 1),
                touch(Component::Call, 2, 45, 2),
                touch(Component::Call, 40, 30, 3),
            ],
            cases: vec![case(3, true, 4), case(4, false, 5), case(5, false, 6)],
            ..company()
        };
        let cost = score(&facts, &config, now()).touch_cost;
        assert_eq!(cost.months.len(), 6);
        assert_eq!(
            cost.months[0],
            MonthMinutes {
                month: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
                activity_minutes: 165,
                cases_opened: 3,
                case_minutes: 90,
                minutes: 255,
            }
        );
        assert_eq!(cost.months[1].minutes, 30);
        assert_eq!(cost.minutes_this_month, 255);
        assert!(cost.high_touch);
        assert!(cost.explanation.contains("30 minutes per case"));
        assert_eq!(cost.events[0].position, 1);
        let lighter = Facts {
            cases: Vec::new(),
            ..facts
        };
        assert!(!score(&lighter, &config, now()).touch_cost.high_touch);
    }

    #[test]
    fn weekly_contact_then_sixty_days_of_silence_is_a_high_churn_risk() {
        let config = ScoringConfig::default();
        let weekly: Vec<Touch> = (0..10)
            .map(|week| touch(Component::Call, 60 + 7 * week, 0, 100 - week as u64))
            .collect();
        let silent = Facts {
            touches: weekly,
            ..company()
        };
        let risk = score(&silent, &config, now()).churn_risk;
        assert_eq!(risk.risk, 50);
        assert_eq!(risk.reasons[0].reason, "silence");
        assert!(
            risk.reasons[0].detail.contains("60 days"),
            "{}",
            risk.reasons[0].detail
        );
        assert_eq!(risk.events[0].position, 100);
        let recent = Facts {
            touches: vec![
                touch(Component::Call, 8, 0, 1),
                touch(Component::Call, 1, 0, 2),
            ],
            ..company()
        };
        let risk = score(&recent, &config, now()).churn_risk;
        assert_eq!(risk.risk, 0);
        assert!(risk.reasons.is_empty());
    }

    #[test]
    fn open_cases_and_falling_purchases_add_to_the_risk() {
        let facts = Facts {
            touches: vec![touch(Component::Call, 1, 0, 1)],
            cases: vec![case(2, true, 2), case(3, false, 3)],
            won: vec![
                won(400, 1, "EUR", 4),
                won(370, 1, "EUR", 5),
                won(340, 1, "EUR", 6),
            ],
            ..company()
        };
        let risk = score(&facts, &ScoringConfig::default(), now()).churn_risk;
        let reasons: Vec<&str> = risk.reasons.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons, ["open_cases", "falling_purchases"]);
        assert_eq!(risk.risk, 33);
    }

    fn any_component() -> impl Strategy<Value = Component> {
        prop::sample::select(Component::ALL.to_vec())
    }

    fn any_facts() -> impl Strategy<Value = Facts> {
        let touches = prop::collection::vec((any_component(), 0_i64..400, 0_u32..300), 0..12);
        let won_deals = prop::collection::vec(
            (
                0_i64..800,
                0_i64..20_000_000,
                prop::sample::select(vec!["EUR", "USD", "JPY"]),
            ),
            0..6,
        );
        let cases = prop::collection::vec((0_i64..200, any::<bool>()), 0..5);
        let class = prop::option::of(prop::sample::select(vec![
            ValueClass::A,
            ValueClass::B,
            ValueClass::C,
            ValueClass::D,
        ]));
        (touches, won_deals, cases, class).prop_map(|(touches, won_deals, cases, manual_class)| {
            Facts {
                touches: touches
                    .into_iter()
                    .enumerate()
                    .map(|(n, (c, days, minutes))| touch(c, days, minutes, n as u64 + 1))
                    .collect(),
                won: won_deals
                    .into_iter()
                    .enumerate()
                    .map(|(n, (days, amount, currency))| {
                        won(days, amount, currency, n as u64 + 100)
                    })
                    .collect(),
                cases: cases
                    .into_iter()
                    .enumerate()
                    .map(|(n, (days, open))| case(days, open, n as u64 + 200))
                    .collect(),
                manual_class,
                ..company()
            }
        })
    }

    proptest! {
        #[test]
        fn engagement_is_never_negative_and_decays_with_time(
            facts in any_facts(), later in 0_i64..1000,
        ) {
            let config = ScoringConfig::default();
            let now_score = score(&facts, &config, now()).engagement.score;
            let later_score = score(&facts, &config, now() + Duration::days(later)).engagement.score;
            prop_assert!(now_score >= 0.0);
            prop_assert!(later_score <= now_score + 1e-12);
        }

        #[test]
        fn a_new_touchpoint_never_lowers_engagement(
            facts in any_facts(), component in any_component(), days in 0_i64..400,
        ) {
            let config = ScoringConfig::default();
            let before = score(&facts, &config, now()).engagement.score;
            let mut more = facts.clone();
            more.touches.push(touch(component, days, 0, 999));
            prop_assert!(score(&more, &config, now()).engagement.score >= before - 1e-12);
        }

        #[test]
        fn risk_stays_within_zero_and_a_hundred(facts in any_facts(), days in -30_i64..2000) {
            let risk = score(&facts, &ScoringConfig::default(), now() + Duration::days(days))
                .churn_risk;
            prop_assert!(risk.risk <= 100);
            for reason in &risk.reasons {
                prop_assert!(reason.weight > 0.0);
            }
        }

        #[test]
        fn a_manual_class_always_wins(facts in any_facts()) {
            let value = score(&facts, &ScoringConfig::default(), now()).value;
            prop_assert_eq!(value.class, facts.manual_class.unwrap_or(value.computed_class));
            prop_assert!(value.score <= 15);
        }

        #[test]
        fn monetary_totals_never_mix_currencies(facts in any_facts()) {
            let value = score(&facts, &ScoringConfig::default(), now()).value;
            for total in &value.monetary {
                let expected: i64 = facts.won.iter()
                    .filter(|won| won.currency == total.currency)
                    .map(|won| won.amount_minor)
                    .sum();
                prop_assert_eq!(total.amount_minor, expected);
            }
            let currencies: std::collections::BTreeSet<&str> =
                facts.won.iter().map(|won| won.currency.as_str()).collect();
            prop_assert_eq!(value.monetary.len(), currencies.len());
            prop_assert!(value.monetary.iter()
                .all(|total| (total.currency == "JPY") == total.score.is_none()));
        }

        #[test]
        fn the_stored_log_sum_gives_the_same_engagement(facts in any_facts()) {
            let config = ScoringConfig::default();
            let half_life = config.engagement.half_life_seconds();
            let mut sums = [None; 8];
            for touch in &facts.touches {
                let sum = &mut sums[touch.component.index()];
                *sum = Some(add_to_log_sum(*sum, exponent(touch.occurred_at, half_life)));
            }
            let now_exponent = exponent(now(), half_life);
            let from_sums: f64 = Component::ALL.iter()
                .zip(sums)
                .filter_map(|(component, sum)| {
                    sum.map(|sum| weight(&config.engagement, *component)
                        * (sum - now_exponent).exp2())
                })
                .sum();
            let exact = score(&facts, &config, now()).engagement.score;
            prop_assert!((from_sums - exact).abs() <= 1e-9 * exact.max(1.0));
        }
    }
}
