//! Given/when/then tests of every company command, and the property that replaying a company's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn acme() -> NewCompany {
    NewCompany {
        id: id(1),
        name: name("Acme"),
        domain: Some(Domain::parse("acme.example").unwrap()),
        industry: None,
        value_class: Some(ValueClass::B),
        tags: tags(&["partner"]),
        owner_id: Some(id(100)),
        team: Some(team("Berlin")),
    }
}

fn created() -> Event {
    let new = acme();
    Event::Created(Created {
        id: new.id,
        name: new.name,
        domain: new.domain,
        industry: new.industry,
        value_class: new.value_class,
        tags: new.tags,
        owner_id: new.owner_id,
        team: new.team,
    })
}

#[test]
fn a_company_is_created_with_the_id_the_caller_chose() {
    let state = Company::given([])
        .when(Command::Create(acme()))
        .then([created()]);
    let company = state.unwrap();
    assert_eq!(company.id, id(1));
    assert_eq!(company.name, name("Acme"));
    assert!(!company.archived);
}

#[test]
fn creating_an_existing_company_is_refused() {
    Company::given([created()])
        .when(Command::Create(acme()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_company_are_not_found() {
    Company::given([])
        .when(Command::Update(CompanyChanges::default()))
        .then_error(DomainError::NotFound);
    Company::given([])
        .when(Command::Archive)
        .then_error(DomainError::NotFound);
}

#[test]
fn a_patch_records_one_event_per_kind_of_change() {
    let changes = CompanyChanges {
        name: Some(name("Acme Holding")),
        domain: Patch::Clear,
        industry: Patch::Set(name("Retail")),
        value_class: Patch::Set(ValueClass::A),
        tags: Some(tags(&["key_account"])),
        owner_id: Patch::Set(id(101)),
        team: Patch::Keep,
    };
    let state = Company::given([created()])
        .when(Command::Update(changes))
        .then([
            Event::Renamed(Renamed {
                name: name("Acme Holding"),
            }),
            Event::ProfileChanged(ProfileChanged {
                domain: None,
                industry: Some(name("Retail")),
            }),
            Event::Retagged(Retagged {
                tags: tags(&["key_account"]),
            }),
            Event::Reclassified(Reclassified {
                value_class: Some(ValueClass::A),
            }),
            Event::Reassigned(Reassigned {
                owner_id: Some(id(101)),
                team: Some(team("Berlin")),
            }),
        ]);
    let company = state.unwrap();
    assert_eq!(company.domain, None);
    assert_eq!(company.owner_id, Some(id(101)));
    assert_eq!(company.value_class, Some(ValueClass::A));
}

#[test]
fn a_patch_that_changes_nothing_records_nothing() {
    let same = CompanyChanges {
        name: Some(name("Acme")),
        domain: Patch::Set(Domain::parse("acme.example").unwrap()),
        industry: Patch::Clear,
        value_class: Patch::Keep,
        tags: Some(tags(&["Partner"])),
        owner_id: Patch::Set(id(100)),
        team: Patch::Keep,
    };
    Company::given([created()])
        .when(Command::Update(same))
        .then_nothing();
    Company::given([created()])
        .when(Command::Update(CompanyChanges::default()))
        .then_nothing();
}

#[test]
fn clearing_the_class_and_the_team_is_recorded() {
    let changes = CompanyChanges {
        value_class: Patch::Clear,
        team: Patch::Clear,
        ..CompanyChanges::default()
    };
    Company::given([created()])
        .when(Command::Update(changes))
        .then([
            Event::Reclassified(Reclassified { value_class: None }),
            Event::Reassigned(Reassigned {
                owner_id: Some(id(100)),
                team: None,
            }),
        ]);
}

#[test]
fn an_archived_company_takes_no_more_commands() {
    let archived = [created(), Event::Archived(Archived {})];
    let state = Company::given([created()])
        .when(Command::Archive)
        .then([Event::Archived(Archived {})]);
    assert!(state.unwrap().archived);
    Company::given(archived.clone())
        .when(Command::Archive)
        .then_conflict("archived");
    Company::given(archived.clone())
        .when(Command::Update(CompanyChanges {
            name: Some(name("New")),
            ..CompanyChanges::default()
        }))
        .then_conflict("archived");
    Company::given(archived)
        .when(Command::Create(acme()))
        .then_error(DomainError::AlreadyExists);
}

fn any_command() -> impl Strategy<Value = Command> {
    let names = prop::sample::select(vec!["Acme", "Acme Holding", "Globex"]);
    let patch_class = prop_oneof![
        Just(Patch::Keep),
        Just(Patch::Clear),
        Just(Patch::Set(ValueClass::A)),
        Just(Patch::Set(ValueClass::D)),
    ];
    let patch_owner = prop_oneof![
        Just(Patch::Keep),
        Just(Patch::Clear),
        Just(Patch::Set(id(100))),
        Just(Patch::Set(id(101))),
    ];
    let patch_industry = prop_oneof![
        Just(Patch::Keep),
        Just(Patch::Clear),
        Just(Patch::Set(name("Retail")))
    ];
    let changes = (
        prop::option::of(names),
        patch_industry,
        patch_class,
        prop::option::of(prop::sample::select(vec![
            vec![],
            vec!["a"],
            vec!["a", "b"],
        ])),
        patch_owner,
    )
        .prop_map(|(name_text, industry, value_class, tag_list, owner_id)| {
            Command::Update(CompanyChanges {
                name: name_text.map(name),
                industry,
                value_class,
                tags: tag_list.map(|list| tags(&list)),
                owner_id,
                ..CompanyChanges::default()
            })
        });
    prop_oneof![
        1 => Just(Command::Create(acme())),
        6 => changes,
        1 => Just(Command::Archive),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 12)) {
        replay_equals_steps::<Company>(commands)?;
    }
}
