//! Given/when/then tests of every case command, and the property that replaying a case's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

use CaseStatus::*;

const STATUSES: [CaseStatus; 5] = [New, Open, Pending, Resolved, Closed];

fn new_case() -> NewCase {
    NewCase {
        id: id(12),
        subject: name("Export fails"),
        description: None,
        contact_id: id(2),
        priority: Priority::Normal,
        assignee_id: None,
        team: None,
    }
}

fn created() -> Event {
    let new = new_case();
    Event::Created(Created {
        id: new.id,
        subject: new.subject,
        description: new.description,
        contact_id: new.contact_id,
        priority: new.priority,
        assignee_id: new.assignee_id,
        team: new.team,
    })
}

/// A case that went the shortest allowed way to `status`.
fn case_in(status: CaseStatus) -> Vec<Event> {
    let path: &[CaseStatus] = match status {
        New => &[],
        Open => &[Open],
        Pending => &[Open, Pending],
        Resolved => &[Open, Pending, Resolved],
        Closed => &[Open, Pending, Resolved, Closed],
    };
    let mut events = vec![created()];
    let mut from = New;
    for &to in path {
        events.push(Event::StatusChanged(StatusChanged { from, to }));
        from = to;
    }
    events
}

#[test]
fn a_case_opens_as_new() {
    let state = Case::given([])
        .when(Command::Create(new_case()))
        .then([created()]);
    assert_eq!(state.unwrap().status, New);
    Case::given([created()])
        .when(Command::Create(new_case()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_case_are_not_found() {
    let commands = [
        Command::ChangeStatus { status: Open },
        Command::ChangePriority {
            priority: Priority::High,
        },
        Command::Assign {
            assignee_id: Some(id(1)),
            team: None,
        },
    ];
    for command in commands {
        Case::given([])
            .when(command)
            .then_error(DomainError::NotFound);
    }
}

#[test]
fn a_case_follows_its_path() {
    let allowed = [
        (New, Open),
        (Open, Pending),
        (Pending, Open),
        (Open, Resolved),
        (Pending, Resolved),
        (Resolved, Closed),
        (Resolved, Open),
    ];
    for (from, to) in allowed {
        let state = Case::given(case_in(from))
            .when(Command::ChangeStatus { status: to })
            .then([Event::StatusChanged(StatusChanged { from, to })]);
        assert_eq!(state.unwrap().status, to);
    }
}

#[test]
fn every_other_transition_is_a_conflict_naming_both_ends() {
    for from in STATUSES {
        for to in STATUSES {
            if from.can_become(to) {
                continue;
            }
            Case::given(case_in(from))
                .when(Command::ChangeStatus { status: to })
                .then_error(DomainError::Conflict(format!(
                    "a case cannot go from {} to {}",
                    from.as_str(),
                    to.as_str()
                )));
        }
    }
}

#[test]
fn the_priority_changes_until_the_case_is_closed() {
    let state = Case::given([created()])
        .when(Command::ChangePriority {
            priority: Priority::Urgent,
        })
        .then([Event::PriorityChanged(PriorityChanged {
            from: Priority::Normal,
            to: Priority::Urgent,
        })]);
    assert_eq!(state.unwrap().priority, Priority::Urgent);
    Case::given([created()])
        .when(Command::ChangePriority {
            priority: Priority::Normal,
        })
        .then_nothing();
    Case::given(case_in(Closed))
        .when(Command::ChangePriority {
            priority: Priority::Low,
        })
        .then_conflict("closed");
}

#[test]
fn the_assignee_changes_until_the_case_is_closed() {
    let assigned = Event::Assigned(Assigned {
        from: None,
        to: Some(id(103)),
        team: Some(team("Service")),
    });
    let state = Case::given([created()])
        .when(Command::Assign {
            assignee_id: Some(id(103)),
            team: Some(team("Service")),
        })
        .then([assigned.clone()]);
    let case = state.unwrap();
    assert_eq!(case.assignee_id, Some(id(103)));
    assert_eq!(case.team, Some(team("Service")));
    Case::given([created()])
        .when(Command::Assign {
            assignee_id: None,
            team: None,
        })
        .then_nothing();
    let state = Case::given([created(), assigned])
        .when(Command::Assign {
            assignee_id: None,
            team: None,
        })
        .then([Event::Assigned(Assigned {
            from: Some(id(103)),
            to: None,
            team: Some(team("Service")),
        })]);
    assert_eq!(
        state.unwrap().team,
        Some(team("Service")),
        "an unassigned case stays in its team's queue"
    );
    Case::given(case_in(Closed))
        .when(Command::Assign {
            assignee_id: Some(id(103)),
            team: None,
        })
        .then_conflict("closed");
}

fn any_command() -> impl Strategy<Value = Command> {
    let priorities = vec![
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];
    prop_oneof![
        1 => Just(Command::Create(new_case())),
        4 => prop::sample::select(STATUSES.to_vec())
            .prop_map(|status| Command::ChangeStatus { status }),
        1 => prop::sample::select(priorities)
            .prop_map(|priority| Command::ChangePriority { priority }),
        1 => prop::option::of(Just(id(103)))
            .prop_map(|assignee_id| Command::Assign {
                assignee_id,
                team: assignee_id.map(|_| team("Service")),
            }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 16)) {
        replay_equals_steps::<Case>(commands)?;
    }
}
