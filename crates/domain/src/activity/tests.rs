//! Given/when/then tests of every activity command, and the property that replaying an activity's
//! stored events rebuilds its state.

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn call_at(occurred_at: DateTime<Utc>) -> NewActivity {
    NewActivity {
        id: id(9),
        kind: ActivityKind::Call,
        subject: name("Discovery call"),
        body: None,
        direction: Some(Direction::Outbound),
        duration_minutes: Some(25),
        outcome: None,
        occurred_at,
        contact_id: Some(id(2)),
        company_id: None,
        deal_id: None,
    }
}

fn touchpoint(new: NewActivity) -> Touchpoint {
    Touchpoint {
        id: new.id,
        kind: new.kind,
        subject: new.subject,
        body: new.body,
        direction: new.direction,
        duration_minutes: new.duration_minutes,
        outcome: new.outcome,
        occurred_at: new.occurred_at,
        contact_id: new.contact_id,
        company_id: new.company_id,
        deal_id: new.deal_id,
    }
}

fn tomorrow() -> DateTime<Utc> {
    now() + Duration::days(1)
}

fn scheduled() -> Event {
    Event::Scheduled(touchpoint(call_at(tomorrow())))
}

fn complete_now() -> Command {
    Command::Complete {
        occurred_at: None,
        outcome: Some(name("Interested")),
        duration_minutes: None,
    }
}

#[test]
fn an_activity_that_happened_is_logged() {
    let past = now() - Duration::hours(1);
    let state = Activity::given([])
        .when(Command::Record(call_at(past)))
        .then([Event::Logged(touchpoint(call_at(past)))]);
    assert_eq!(state.unwrap().status, ActivityStatus::Logged);
    Activity::given([])
        .when(Command::Record(call_at(now())))
        .then([Event::Logged(touchpoint(call_at(now())))]);
}

#[test]
fn an_activity_in_the_future_is_scheduled() {
    let state = Activity::given([])
        .when(Command::Record(call_at(tomorrow())))
        .then([scheduled()]);
    assert_eq!(state.unwrap().status, ActivityStatus::Scheduled);
}

#[test]
fn recording_an_existing_activity_is_refused() {
    Activity::given([scheduled()])
        .when(Command::Record(call_at(now())))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn an_activity_concerns_a_contact_a_company_or_a_deal() {
    let unlinked = NewActivity {
        contact_id: None,
        ..call_at(now())
    };
    Activity::given([])
        .when(Command::Record(unlinked))
        .then_invalid("contact_id");
    for linked in [
        NewActivity {
            contact_id: None,
            company_id: Some(id(1)),
            ..call_at(now())
        },
        NewActivity {
            contact_id: None,
            deal_id: Some(id(5)),
            ..call_at(now())
        },
    ] {
        Activity::given([])
            .when(Command::Record(linked.clone()))
            .then([Event::Logged(touchpoint(linked))]);
    }
}

#[test]
fn an_activity_lasts_at_most_a_day() {
    let long = NewActivity {
        duration_minutes: Some(1441),
        ..call_at(now())
    };
    Activity::given([])
        .when(Command::Record(long))
        .then_invalid("duration_minutes");
    let day = NewActivity {
        duration_minutes: Some(1440),
        ..call_at(now())
    };
    Activity::given([])
        .when(Command::Record(day.clone()))
        .then([Event::Logged(touchpoint(day))]);
    Activity::given([scheduled()])
        .when(Command::Complete {
            occurred_at: None,
            outcome: None,
            duration_minutes: Some(2000),
        })
        .then_invalid("duration_minutes");
}

#[test]
fn a_scheduled_activity_is_completed_and_then_logged() {
    let state = Activity::given([scheduled()])
        .when(complete_now())
        .then([Event::Completed(Completed {
            occurred_at: now(),
            outcome: Some(name("Interested")),
            duration_minutes: None,
        })]);
    let activity = state.unwrap();
    assert_eq!(activity.status, ActivityStatus::Logged);
    assert_eq!(activity.occurred_at, now());
    assert_eq!(activity.duration_minutes, Some(25));
    assert_eq!(activity.outcome, Some(name("Interested")));
}

#[test]
fn a_completion_in_the_future_is_invalid() {
    Activity::given([scheduled()])
        .when(Command::Complete {
            occurred_at: Some(tomorrow()),
            outcome: None,
            duration_minutes: None,
        })
        .then_invalid("occurred_at");
}

#[test]
fn a_scheduled_activity_is_cancelled() {
    let reason = Some(text("customer ill"));
    let state = Activity::given([scheduled()])
        .when(Command::Cancel {
            reason: reason.clone(),
        })
        .then([Event::Cancelled(Cancelled {
            reason: reason.clone(),
        })]);
    let activity = state.unwrap();
    assert_eq!(activity.status, ActivityStatus::Cancelled);
    assert_eq!(activity.cancel_reason, reason);
}

#[test]
fn only_a_scheduled_activity_is_completed_or_cancelled() {
    let logged = Event::Logged(touchpoint(call_at(now())));
    let cancelled = Event::Cancelled(Cancelled { reason: None });
    for command in [complete_now(), Command::Cancel { reason: None }] {
        Activity::given([])
            .when(command.clone())
            .then_error(DomainError::NotFound);
        Activity::given([logged.clone()])
            .when(command.clone())
            .then_conflict("already logged");
        Activity::given([scheduled(), cancelled.clone()])
            .when(command)
            .then_conflict("cancelled");
    }
}

fn any_command() -> impl Strategy<Value = Command> {
    let hours = -48_i64..48;
    prop_oneof![
        2 => (hours.clone(), prop::option::of(0_u16..1500)).prop_map(|(offset, duration_minutes)| {
            Command::Record(NewActivity {
                duration_minutes,
                ..call_at(now() + Duration::hours(offset))
            })
        }),
        2 => (prop::option::of(hours), prop::option::of(0_u16..1500)).prop_map(
            |(offset, duration_minutes)| Command::Complete {
                occurred_at: offset.map(|hours| now() + Duration::hours(hours)),
                outcome: Some(name("Done")),
                duration_minutes,
            }
        ),
        1 => Just(Command::Cancel { reason: None }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 8)) {
        replay_equals_steps::<Activity>(commands)?;
    }
}
