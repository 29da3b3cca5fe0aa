//! Given/when/then tests of every deal command, and three properties: replaying a deal's stored
//! events rebuilds its state, its money never mixes currencies, and a closed deal never changes
//! stage.

use proptest::prelude::*;

use super::*;
use crate::DomainEvent;
use crate::pipeline::PipelineStages;
use crate::testing::*;

fn new_deal() -> NewDeal {
    NewDeal {
        id: id(5),
        title: name("Acme: 40 seats"),
        pipeline: sales_pipeline(),
        stage: key("qualified"),
        amount: money(4_800_000, "EUR"),
        expected_close_on: NaiveDate::from_ymd_opt(2025, 9, 30),
        owner_id: id(100),
        team: Some(team("Berlin")),
        company_id: Some(id(1)),
        contact_id: Some(id(2)),
    }
}

fn created() -> Event {
    Event::Created(Created {
        id: id(5),
        title: name("Acme: 40 seats"),
        pipeline_id: id(4),
        stage: key("qualified"),
        probability: Probability::new(10).unwrap(),
        amount: money(4_800_000, "EUR"),
        expected_close_on: NaiveDate::from_ymd_opt(2025, 9, 30),
        owner_id: id(100),
        team: Some(team("Berlin")),
        company_id: Some(id(1)),
        contact_id: Some(id(2)),
    })
}

fn won() -> Event {
    Event::Won(Closed {
        reason: None,
        closed_at: now(),
    })
}

fn lost() -> Event {
    Event::Lost(Closed {
        reason: Some(text("budget cut")),
        closed_at: now(),
    })
}

fn reopen() -> Command {
    Command::Reopen {
        pipeline: sales_pipeline(),
    }
}

fn to_stage(stage: &str) -> Command {
    Command::ChangeStage {
        stage: key(stage),
        pipeline: sales_pipeline(),
    }
}

#[test]
fn a_deal_opens_in_a_stage_of_its_pipeline() {
    let state = Deal::given([])
        .when(Command::Create(new_deal()))
        .then([created()]);
    let deal = state.unwrap();
    assert_eq!(deal.status, DealStatus::Open);
    assert_eq!(deal.probability.percent(), 10);
}

#[test]
fn creating_an_existing_deal_is_refused() {
    Deal::given([created()])
        .when(Command::Create(new_deal()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn a_deal_in_a_stage_its_pipeline_lacks_is_invalid() {
    let new = NewDeal {
        stage: key("won"),
        ..new_deal()
    };
    Deal::given([])
        .when(Command::Create(new))
        .then_invalid("stage");
}

#[test]
fn a_negative_amount_is_invalid() {
    let new = NewDeal {
        amount: money(-1, "EUR"),
        ..new_deal()
    };
    Deal::given([])
        .when(Command::Create(new))
        .then_invalid("amount.amount_minor");
    Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(-5, "EUR"),
        })
        .then_invalid("amount.amount_minor");
}

#[test]
fn an_amount_beyond_the_bound_is_invalid_and_the_bound_itself_is_not() {
    let new = NewDeal {
        amount: money(super::MAX_AMOUNT_MINOR + 1, "EUR"),
        ..new_deal()
    };
    Deal::given([])
        .when(Command::Create(new))
        .then_invalid("amount.amount_minor");
    Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(i64::MAX, "EUR"),
        })
        .then_invalid("amount.amount_minor");
    Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(super::MAX_AMOUNT_MINOR, "EUR"),
        })
        .then([Event::AmountChanged(AmountChanged {
            from: money(4_800_000, "EUR"),
            to: money(super::MAX_AMOUNT_MINOR, "EUR"),
        })]);
}

#[test]
fn commands_to_a_missing_deal_are_not_found() {
    for command in [
        to_stage("proposal"),
        Command::Win { reason: None },
        reopen(),
    ] {
        Deal::given([])
            .when(command)
            .then_error(DomainError::NotFound);
    }
}

#[test]
fn a_deal_moves_between_stages_of_its_pipeline() {
    let state = Deal::given([created()])
        .when(to_stage("proposal"))
        .then([Event::StageChanged(StageChanged {
            from: key("qualified"),
            to: key("proposal"),
            probability: Probability::new(40).unwrap(),
        })]);
    let deal = state.unwrap();
    assert_eq!(deal.stage, key("proposal"));
    assert_eq!(deal.probability.percent(), 40);
}

#[test]
fn moving_to_the_same_stage_records_nothing() {
    Deal::given([created()])
        .when(to_stage("qualified"))
        .then_nothing();
}

#[test]
fn a_stage_change_to_an_unknown_stage_or_another_pipeline_is_invalid() {
    Deal::given([created()])
        .when(to_stage("won"))
        .then_invalid("stage");
    let other_pipeline = PipelineStages {
        pipeline_id: id(44),
        stages: sales_stages(),
    };
    Deal::given([created()])
        .when(Command::ChangeStage {
            stage: key("proposal"),
            pipeline: other_pipeline,
        })
        .then_invalid("pipeline_id");
}

#[test]
fn a_closed_deal_takes_no_stage_change() {
    Deal::given([created(), won()])
        .when(to_stage("proposal"))
        .then_conflict("won");
    Deal::given([created(), lost()])
        .when(to_stage("proposal"))
        .then_conflict("lost");
}

#[test]
fn a_closed_deal_keeps_its_amount_and_expected_close() {
    Deal::given([created(), won()])
        .when(Command::ChangeAmount {
            amount: money(1, "EUR"),
        })
        .then_conflict("won");
    Deal::given([created(), lost()])
        .when(Command::ChangeExpectedClose {
            expected_close_on: None,
        })
        .then_conflict("lost");
}

#[test]
fn the_amount_changes_in_the_same_currency() {
    let state = Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(7_200_000, "EUR"),
        })
        .then([Event::AmountChanged(AmountChanged {
            from: money(4_800_000, "EUR"),
            to: money(7_200_000, "EUR"),
        })]);
    assert_eq!(state.unwrap().amount, money(7_200_000, "EUR"));
    Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(4_800_000, "EUR"),
        })
        .then_nothing();
}

#[test]
fn money_never_changes_currency() {
    Deal::given([created()])
        .when(Command::ChangeAmount {
            amount: money(4_800_000, "USD"),
        })
        .then_invalid("amount.currency");
}

#[test]
fn title_close_date_and_owner_change() {
    Deal::given([created()])
        .when(Command::Rename {
            title: name("Acme: 60 seats"),
        })
        .then([Event::Renamed(Renamed {
            title: name("Acme: 60 seats"),
        })]);
    Deal::given([created()])
        .when(Command::Rename {
            title: name("Acme: 40 seats"),
        })
        .then_nothing();
    Deal::given([created()])
        .when(Command::ChangeExpectedClose {
            expected_close_on: None,
        })
        .then([Event::ExpectedCloseChanged(ExpectedCloseChanged {
            expected_close_on: None,
        })]);
    Deal::given([created()])
        .when(Command::ChangeExpectedClose {
            expected_close_on: NaiveDate::from_ymd_opt(2025, 9, 30),
        })
        .then_nothing();
    let state = Deal::given([created(), won()])
        .when(Command::Reassign {
            owner_id: id(101),
            team: None,
        })
        .then([Event::Reassigned(Reassigned {
            owner_id: id(101),
            team: None,
        })]);
    assert_eq!(state.unwrap().owner_id, id(101));
    Deal::given([created()])
        .when(Command::Reassign {
            owner_id: id(100),
            team: Some(team("Berlin")),
        })
        .then_nothing();
}

#[test]
fn a_deal_is_won_or_lost_once() {
    let state = Deal::given([created()])
        .when(Command::Win { reason: None })
        .then([won()]);
    let deal = state.unwrap();
    assert_eq!(deal.status, DealStatus::Won);
    assert_eq!(deal.closed_at, Some(now()));
    let state = Deal::given([created()])
        .when(Command::Lose {
            reason: Some(text("budget cut")),
        })
        .then([lost()]);
    assert_eq!(state.unwrap().close_reason, Some(text("budget cut")));
    Deal::given([created(), won()])
        .when(Command::Lose { reason: None })
        .then_conflict("won");
    Deal::given([created(), lost()])
        .when(Command::Win { reason: None })
        .then_conflict("lost");
}

#[test]
fn a_manager_or_an_admin_reopens_a_closed_deal() {
    for role in [Role::Manager, Role::Admin] {
        let state = Deal::given([created(), won()])
            .by(role)
            .when(reopen())
            .then([Event::Reopened(Reopened {})]);
        let deal = state.unwrap();
        assert_eq!(deal.status, DealStatus::Open);
        assert_eq!(deal.stage, key("qualified"));
        assert_eq!(deal.closed_at, None);
    }
}

#[test]
fn no_other_role_reopens_a_deal() {
    for role in Role::ALL {
        if matches!(role, Role::Manager | Role::Admin) {
            continue;
        }
        Deal::given([created(), lost()])
            .by(role)
            .when(reopen())
            .then_error(DomainError::Forbidden(
                "only a manager or an admin reopens a deal".to_owned(),
            ));
    }
}

#[test]
fn a_deal_is_not_reopened_in_a_stage_removed_from_its_pipeline() {
    let mut pipeline = sales_pipeline();
    pipeline
        .stages
        .retain(|stage| stage.key != key("qualified"));
    Deal::given([created(), won()])
        .by(Role::Manager)
        .when(Command::Reopen { pipeline })
        .then_conflict("removed");
}

#[test]
fn an_open_deal_is_not_reopened() {
    Deal::given([created()])
        .when(reopen())
        .then_conflict("open");
}

fn any_command() -> impl Strategy<Value = Command> {
    let stages = prop::sample::select(vec!["qualified", "proposal", "negotiation", "won"]);
    let currencies = prop::sample::select(vec!["EUR", "EUR", "USD", "JPY"]);
    let reason = prop::option::of(Just(text("because")));
    prop_oneof![
        1 => Just(Command::Create(new_deal())),
        1 => (currencies.clone(), 0_i64..10_000_000).prop_map(|(currency, amount)| {
            Command::Create(NewDeal { amount: money(amount, currency), ..new_deal() })
        }),
        4 => stages.prop_map(to_stage),
        3 => (currencies, -10_i64..10_000_000)
            .prop_map(|(currency, amount)| Command::ChangeAmount { amount: money(amount, currency) }),
        1 => prop::option::of(Just(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()))
            .prop_map(|expected_close_on| Command::ChangeExpectedClose { expected_close_on }),
        1 => Just(Command::Reassign { owner_id: id(101), team: None }),
        2 => reason.clone().prop_map(|reason| Command::Win { reason }),
        2 => reason.prop_map(|reason| Command::Lose { reason }),
        2 => Just(reopen()),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 16)) {
        replay_equals_steps::<Deal>(commands)?;
    }

    #[test]
    fn money_never_mixes_currencies_on_a_deal(commands in steps(any_command(), 16)) {
        let (state, accepted) = run::<Deal>(commands);
        let mut opened_in = None;
        for event in accepted.iter().flatten() {
            match event {
                Event::Created(created) => opened_in = Some(created.amount.currency),
                Event::AmountChanged(changed) => {
                    prop_assert_eq!(changed.from.currency, changed.to.currency);
                    prop_assert_eq!(Some(changed.to.currency), opened_in);
                }
                _ => {}
            }
        }
        prop_assert_eq!(state.map(|deal| deal.amount.currency), opened_in);
    }

    #[test]
    fn a_closed_deal_never_changes_stage(commands in steps(any_command(), 16)) {
        let mut state: Option<Deal> = None;
        for (command, context) in commands {
            let closed_before = state.as_ref().is_some_and(|deal| deal.status != DealStatus::Open);
            let stage_before = state.as_ref().map(|deal| deal.stage.clone());
            if let Ok(events) = Deal::decide(&state, command, &context) {
                if closed_before {
                    prop_assert!(events.iter().all(|event| event.event_type() != "stage_changed"));
                }
                state = events.iter().fold(state, Deal::evolve);
            }
            if closed_before {
                prop_assert_eq!(state.as_ref().map(|deal| deal.stage.clone()), stage_before);
            }
        }
    }
}
