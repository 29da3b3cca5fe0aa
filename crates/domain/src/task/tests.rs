//! Given/when/then tests of every task command, and the property that replaying a task's
//! stored events rebuilds its state.

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn due() -> DateTime<Utc> {
    now() + Duration::days(3)
}

fn new_task() -> NewTask {
    NewTask {
        id: id(11),
        title: name("Send the proposal"),
        description: None,
        due_at: due(),
        assignee_id: id(100),
        team: Some(team("Berlin")),
        contact_id: Some(id(2)),
        company_id: None,
        deal_id: Some(id(5)),
    }
}

fn created() -> Event {
    let new = new_task();
    Event::Created(Created {
        id: new.id,
        title: new.title,
        description: new.description,
        due_at: new.due_at,
        assignee_id: new.assignee_id,
        team: new.team,
        contact_id: new.contact_id,
        company_id: new.company_id,
        deal_id: new.deal_id,
    })
}

fn completed() -> Event {
    Event::Completed(Completed {
        completed_at: now(),
    })
}

#[test]
fn a_task_is_created() {
    let state = Task::given([])
        .when(Command::Create(new_task()))
        .then([created()]);
    assert_eq!(state.unwrap().completed_at, None);
    Task::given([created()])
        .when(Command::Create(new_task()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_task_are_not_found() {
    let commands = [
        Command::Complete,
        Command::Reassign {
            assignee_id: id(1),
            team: None,
        },
        Command::Reschedule { due_at: due() },
    ];
    for command in commands {
        Task::given([])
            .when(command)
            .then_error(DomainError::NotFound);
    }
}

#[test]
fn a_task_is_completed_once() {
    let state = Task::given([created()])
        .when(Command::Complete)
        .then([completed()]);
    assert_eq!(state.unwrap().completed_at, Some(now()));
    Task::given([created(), completed()])
        .when(Command::Complete)
        .then_conflict("already completed");
}

#[test]
fn a_task_is_reassigned_and_rescheduled_until_completed() {
    let state = Task::given([created()])
        .when(Command::Reassign {
            assignee_id: id(101),
            team: Some(team("Paris")),
        })
        .then([Event::Reassigned(Reassigned {
            from: id(100),
            to: id(101),
            team: Some(team("Paris")),
        })]);
    let task = state.unwrap();
    assert_eq!(task.assignee_id, id(101));
    assert_eq!(task.team, Some(team("Paris")));
    let later = due() + Duration::days(1);
    let state = Task::given([created()])
        .when(Command::Reschedule { due_at: later })
        .then([Event::Rescheduled(Rescheduled { due_at: later })]);
    assert_eq!(state.unwrap().due_at, later);
    Task::given([created(), completed()])
        .when(Command::Reassign {
            assignee_id: id(101),
            team: None,
        })
        .then_conflict("already completed");
    Task::given([created(), completed()])
        .when(Command::Reschedule { due_at: later })
        .then_conflict("already completed");
}

#[test]
fn reassigning_to_the_assignee_in_their_team_or_rescheduling_to_the_due_time_records_nothing() {
    Task::given([created()])
        .when(Command::Reassign {
            assignee_id: id(100),
            team: Some(team("Berlin")),
        })
        .then_nothing();
    Task::given([created()])
        .when(Command::Reassign {
            assignee_id: id(100),
            team: Some(team("Paris")),
        })
        .then([Event::Reassigned(Reassigned {
            from: id(100),
            to: id(100),
            team: Some(team("Paris")),
        })]);
    Task::given([created()])
        .when(Command::Reschedule { due_at: due() })
        .then_nothing();
}

fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Create(new_task())),
        Just(Command::Complete),
        (
            prop::sample::select(vec![100_u128, 101]),
            prop::sample::select(vec![None, Some("Berlin"), Some("Paris")])
        )
            .prop_map(|(n, name)| Command::Reassign {
                assignee_id: id(n),
                team: name.map(team),
            }),
        (0_i64..5).prop_map(|days| Command::Reschedule {
            due_at: now() + Duration::days(days)
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 10)) {
        replay_equals_steps::<Task>(commands)?;
    }
}
