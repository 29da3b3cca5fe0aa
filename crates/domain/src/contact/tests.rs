//! Given/when/then tests of every contact command, and the property that replaying a contact's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn phone(text: &str) -> Phone {
    Phone::parse(text).unwrap()
}

fn ada() -> NewContact {
    NewContact {
        id: id(2),
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        emails: vec![email("ada@acme.example")],
        phones: vec![],
        title: None,
        company_id: Some(id(1)),
        tags: tags(&[]),
        owner_id: Some(id(100)),
        team: None,
    }
}

fn created() -> Event {
    let new = ada();
    Event::Created(Created {
        id: new.id,
        first_name: new.first_name,
        last_name: new.last_name,
        emails: new.emails,
        phones: new.phones,
        title: new.title,
        company_id: new.company_id,
        tags: new.tags,
        owner_id: new.owner_id,
        team: new.team,
    })
}

#[test]
fn a_contact_is_created() {
    let state = Contact::given([])
        .when(Command::Create(ada()))
        .then([created()]);
    assert_eq!(state.unwrap().company_id, Some(id(1)));
}

#[test]
fn creating_an_existing_contact_is_refused() {
    Contact::given([created()])
        .when(Command::Create(ada()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn updating_a_missing_contact_is_not_found() {
    Contact::given([])
        .when(Command::Update(ContactChanges::default()))
        .then_error(DomainError::NotFound);
}

#[test]
fn the_same_address_twice_is_refused() {
    let new = NewContact {
        emails: vec![email("ada@acme.example"), email("ada@ACME.example")],
        ..ada()
    };
    Contact::given([])
        .when(Command::Create(new))
        .then_invalid("emails[1]");
    let new = NewContact {
        phones: vec![phone("112"), phone("110"), phone("112")],
        ..ada()
    };
    Contact::given([])
        .when(Command::Create(new))
        .then_invalid("phones[2]");
    Contact::given([created()])
        .when(Command::Update(ContactChanges {
            phones: Some(vec![phone("112"), phone("112")]),
            ..ContactChanges::default()
        }))
        .then_invalid("phones[1]");
}

#[test]
fn at_most_ten_addresses() {
    let emails: Vec<Email> = (0..11)
        .map(|n| email(&format!("ada{n}@acme.example")))
        .collect();
    Contact::given([created()])
        .when(Command::Update(ContactChanges {
            emails: Some(emails),
            ..ContactChanges::default()
        }))
        .then_invalid("emails");
}

#[test]
fn moving_a_contact_says_from_which_company_to_which() {
    let state = Contact::given([created()])
        .when(Command::Update(ContactChanges {
            company_id: Patch::Set(id(3)),
            ..ContactChanges::default()
        }))
        .then([Event::Moved(Moved {
            from_company_id: Some(id(1)),
            to_company_id: Some(id(3)),
        })]);
    assert_eq!(state.unwrap().company_id, Some(id(3)));
    Contact::given([created()])
        .when(Command::Update(ContactChanges {
            company_id: Patch::Clear,
            ..ContactChanges::default()
        }))
        .then([Event::Moved(Moved {
            from_company_id: Some(id(1)),
            to_company_id: None,
        })]);
}

#[test]
fn a_patch_records_one_event_per_kind_of_change() {
    let changes = ContactChanges {
        last_name: Some(name("King")),
        emails: Some(vec![]),
        phones: Some(vec![phone("+44 20 7946 0000")]),
        title: Patch::Set(name("CTO")),
        company_id: Patch::Set(id(1)),
        tags: Some(tags(&["VIP"])),
        owner_id: Patch::Keep,
        team: Patch::Set(team("London")),
        ..ContactChanges::default()
    };
    Contact::given([created()])
        .when(Command::Update(changes))
        .then([
            Event::Renamed(Renamed {
                first_name: name("Ada"),
                last_name: name("King"),
            }),
            Event::EmailsChanged(EmailsChanged { emails: vec![] }),
            Event::PhonesChanged(PhonesChanged {
                phones: vec![phone("+44 20 7946 0000")],
            }),
            Event::TitleChanged(TitleChanged {
                title: Some(name("CTO")),
            }),
            Event::Retagged(Retagged {
                tags: tags(&["vip"]),
            }),
            Event::Reassigned(Reassigned {
                owner_id: Some(id(100)),
                team: Some(team("London")),
            }),
        ]);
}

#[test]
fn a_patch_that_changes_nothing_records_nothing() {
    let same = ContactChanges {
        first_name: Some(name("Ada")),
        emails: Some(vec![email("ada@acme.example")]),
        title: Patch::Clear,
        company_id: Patch::Set(id(1)),
        ..ContactChanges::default()
    };
    Contact::given([created()])
        .when(Command::Update(same))
        .then_nothing();
}

fn any_command() -> impl Strategy<Value = Command> {
    let companies = prop_oneof![
        Just(Patch::Keep),
        Just(Patch::Clear),
        Just(Patch::Set(id(1))),
        Just(Patch::Set(id(3))),
    ];
    let emails = prop::option::of(prop::sample::select(vec![
        vec![],
        vec!["a@x.example"],
        vec!["a@x.example", "b@x.example"],
        vec!["a@x.example", "a@x.example"],
    ]));
    let changes = (
        prop::option::of(prop::sample::select(vec!["Ada", "Grace"])),
        emails,
        companies,
        prop::option::of(prop::sample::select(vec![vec![], vec!["vip"]])),
        prop_oneof![
            Just(Patch::Keep),
            Just(Patch::Clear),
            Just(Patch::Set(id(100)))
        ],
    )
        .prop_map(|(first, emails, company_id, tag_list, owner_id)| {
            Command::Update(ContactChanges {
                first_name: first.map(name),
                emails: emails.map(|list| list.into_iter().map(email).collect()),
                company_id,
                tags: tag_list.map(|list| tags(&list)),
                owner_id,
                ..ContactChanges::default()
            })
        });
    prop_oneof![1 => Just(Command::Create(ada())), 6 => changes]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 12)) {
        replay_equals_steps::<Contact>(commands)?;
    }
}
