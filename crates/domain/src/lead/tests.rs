//! Given/when/then tests of every lead command, and the property that replaying a lead's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn new_lead() -> NewLead {
    NewLead {
        id: id(6),
        name: name("Grace Hopper"),
        email: Some(Email::parse("grace@navy.example").unwrap()),
        phone: None,
        company_name: Some(name("Navy Labs")),
        source: name("Trade fair"),
        campaign_id: Some(id(60)),
        owner_id: Some(id(100)),
        team: Some(team("Berlin")),
    }
}

fn captured() -> Event {
    let new = new_lead();
    Event::Captured(Captured {
        id: new.id,
        name: new.name,
        email: new.email,
        phone: new.phone,
        company_name: new.company_name,
        source: new.source,
        campaign_id: new.campaign_id,
        owner_id: new.owner_id,
        team: new.team,
    })
}

fn converted() -> Event {
    Event::Converted(Converted {
        contact_id: id(7),
        company_id: None,
        deal_id: None,
    })
}

#[test]
fn a_lead_is_captured() {
    let state = Lead::given([])
        .when(Command::Capture(new_lead()))
        .then([captured()]);
    assert_eq!(state.unwrap().status, LeadStatus::New);
}

#[test]
fn capturing_an_existing_lead_is_refused() {
    Lead::given([captured()])
        .when(Command::Capture(new_lead()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_lead_are_not_found() {
    Lead::given([])
        .when(Command::Qualify)
        .then_error(DomainError::NotFound);
    Lead::given([])
        .when(Command::Disqualify { reason: None })
        .then_error(DomainError::NotFound);
}

#[test]
fn a_lead_is_qualified_once() {
    let state = Lead::given([captured()])
        .when(Command::Qualify)
        .then([Event::Qualified(Qualified {})]);
    assert_eq!(state.unwrap().status, LeadStatus::Qualified);
    Lead::given([captured(), Event::Qualified(Qualified {})])
        .when(Command::Qualify)
        .then_nothing();
}

#[test]
fn a_new_or_qualified_lead_is_disqualified() {
    let reason = Some(text("no budget"));
    let state = Lead::given([captured(), Event::Qualified(Qualified {})])
        .when(Command::Disqualify {
            reason: reason.clone(),
        })
        .then([Event::Disqualified(Disqualified {
            reason: reason.clone(),
        })]);
    let lead = state.unwrap();
    assert_eq!(lead.status, LeadStatus::Disqualified);
    assert_eq!(lead.disqualification_reason, reason);
}

#[test]
fn a_disqualified_lead_takes_no_more_commands() {
    let disqualified = [
        captured(),
        Event::Disqualified(Disqualified { reason: None }),
    ];
    for command in [Command::Qualify, Command::Disqualify { reason: None }] {
        Lead::given(disqualified.clone())
            .when(command)
            .then_conflict("disqualified");
    }
}

#[test]
fn a_lead_is_handed_to_sales_with_its_team() {
    let to_munich = Command::Reassign {
        owner_id: id(101),
        team: Some(team("Munich")),
    };
    let state = Lead::given([captured()])
        .when(to_munich.clone())
        .then([Event::Reassigned(Reassigned {
            owner_id: id(101),
            team: Some(team("Munich")),
        })])
        .unwrap();
    assert_eq!(
        (state.owner_id, state.team),
        (Some(id(101)), Some(team("Munich")))
    );
    let reassigned = Event::Reassigned(Reassigned {
        owner_id: id(101),
        team: Some(team("Munich")),
    });
    Lead::given([captured(), reassigned])
        .when(to_munich.clone())
        .then_nothing();
    Lead::given([captured(), converted()])
        .when(to_munich)
        .then_conflict("already converted");
}

#[test]
fn a_converted_lead_takes_no_more_commands() {
    for command in [Command::Qualify, Command::Disqualify { reason: None }] {
        Lead::given([captured(), converted()])
            .when(command)
            .then_conflict("already converted");
    }
    Lead::given([captured(), converted()])
        .when(Command::Capture(new_lead()))
        .then_error(DomainError::AlreadyExists);
}

fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Capture(new_lead())),
        Just(Command::Qualify),
        prop::option::of(Just(text("no budget"))).prop_map(|reason| Command::Disqualify { reason }),
        (100u128..103).prop_map(|owner| Command::Reassign {
            owner_id: id(owner),
            team: Some(team("Munich")),
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 8)) {
        replay_equals_steps::<Lead>(commands)?;
    }
}
