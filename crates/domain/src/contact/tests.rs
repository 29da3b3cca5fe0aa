//! Given/when/then tests of every contact command, and the property that replaying a contact's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::DomainEvent;
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

fn url(text: &str) -> TrackedUrl {
    TrackedUrl::parse(text).unwrap()
}

fn click(clicked_at: chrono::DateTime<chrono::Utc>) -> Command {
    Command::RecordLinkClick {
        url: url("https://acme.example/pricing"),
        campaign_id: Some(id(700)),
        clicked_at,
    }
}

#[test]
fn a_link_click_is_recorded_without_changing_the_contact() {
    let before = Contact::given([created()])
        .when(Command::Update(ContactChanges::default()))
        .then([]);
    let clicked_at = now() - chrono::Duration::minutes(5);
    let after = Contact::given([created()])
        .when(click(clicked_at))
        .then([Event::LinkClicked(LinkClicked {
            url: url("https://acme.example/pricing"),
            campaign_id: Some(id(700)),
            clicked_at,
        })]);
    assert_eq!(after, before);
}

#[test]
fn a_link_click_on_a_missing_contact_is_not_found() {
    Contact::given([])
        .when(click(now()))
        .then_error(DomainError::NotFound);
}

#[test]
fn a_link_click_in_the_future_is_refused() {
    Contact::given([created()])
        .when(click(now() + chrono::Duration::seconds(1)))
        .then_invalid("clicked_at");
}

#[test]
fn a_tracked_url_is_an_absolute_http_url_of_at_most_two_thousand_characters() {
    for good in [
        "https://acme.example",
        "http://acme.example:8080/a?b=c#d",
        "  HTTPS://user@acme.example/x  ",
    ] {
        assert!(TrackedUrl::parse(good).is_ok(), "{good:?}");
    }
    assert_eq!(url(" https://a.example/x ").as_str(), "https://a.example/x");
    let long = format!("https://acme.example/{}", "a".repeat(2_000));
    for bad in [
        "",
        "acme.example",
        "ftp://acme.example",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://acme .example",
        "https://acme.example/\u{7}",
        long.as_str(),
    ] {
        assert!(TrackedUrl::parse(bad).is_err(), "{bad:?}");
    }
    // A stored click whose URL grows past the bound once encoded still reads back; a new one
    // is refused.
    let grown = format!("https://shop.example/{}", "\u{436}".repeat(400));
    let stored = serde_json::json!({"url": grown, "campaign_id": null,
        "clicked_at": "2025-06-02T09:41:07Z"});
    assert!(Event::from_stored("link_clicked", 1, &stored).is_ok());
    Contact::given([created()])
        .when(Command::RecordLinkClick {
            url: url(&grown),
            campaign_id: None,
            clicked_at: now(),
        })
        .then_invalid("url");
    // What a URI may not hold is percent-encoded, once.
    let encoded = url("https://shop.example/\u{fc}ber?q=a|b");
    assert_eq!(encoded.as_str(), "https://shop.example/%C3%BCber?q=a%7Cb");
    assert_eq!(url(encoded.as_str()), encoded);
    let stored = serde_json::json!({"url": "mailto:a@b.example", "campaign_id": null,
        "clicked_at": "2025-06-02T09:41:07Z"});
    assert!(Event::from_stored("link_clicked", 1, &stored).is_err());
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
    let clicks = (-3_i64..=3).prop_map(|hours| click(now() + chrono::Duration::hours(hours)));
    prop_oneof![1 => Just(Command::Create(ada())), 6 => changes, 2 => clicks]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 12)) {
        replay_equals_steps::<Contact>(commands)?;
    }
}
