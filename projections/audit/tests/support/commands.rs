//! Domain commands for the records the tests create, with the few fields each test cares about.

use chrono::{Duration, Utc};
use domain::activity::{self, ActivityKind, NewActivity};
use domain::case::{self, NewCase, Priority};
use domain::company::{self, NewCompany};
use domain::contact::{self, ContactChanges, NewContact};
use domain::values::{Email, Name, Tags};
use uuid::Uuid;

pub fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

pub fn email(text: &str) -> Email {
    Email::parse(text).expect("a valid address")
}

pub fn tags(list: &[&str]) -> Tags {
    Tags::parse(list).expect("valid tags")
}

pub fn create_company(id: Uuid, company_name: &str) -> company::Command {
    company::Command::Create(NewCompany {
        id,
        name: name(company_name),
        domain: None,
        industry: None,
        value_class: None,
        tags: tags(&[]),
        owner_id: None,
        team: None,
    })
}

pub fn create_contact(
    id: Uuid,
    first_name: &str,
    address: &str,
    company_id: Option<Uuid>,
) -> contact::Command {
    contact::Command::Create(NewContact {
        id,
        first_name: name(first_name),
        last_name: name("Lovelace"),
        emails: vec![email(address)],
        phones: vec![],
        title: None,
        company_id,
        tags: tags(&[]),
        owner_id: None,
        team: None,
    })
}

pub fn change_contact(first_name: &str, address: &str) -> contact::Command {
    contact::Command::Update(ContactChanges {
        first_name: Some(name(first_name)),
        emails: Some(vec![email(address)]),
        ..ContactChanges::default()
    })
}

pub fn log_call(id: Uuid, contact_id: Uuid, company_id: Option<Uuid>) -> activity::Command {
    activity::Command::Record(NewActivity {
        id,
        kind: ActivityKind::Call,
        subject: name("Discovery call"),
        body: None,
        direction: None,
        duration_minutes: Some(30),
        outcome: None,
        occurred_at: Utc::now() - Duration::hours(1),
        contact_id: Some(contact_id),
        company_id,
        deal_id: None,
    })
}

pub fn open_case(id: Uuid, contact_id: Uuid) -> case::Command {
    case::Command::Create(NewCase {
        id,
        subject: name("Loom 7 stopped"),
        description: None,
        contact_id,
        priority: Priority::High,
        assignee_id: None,
        team: None,
    })
}

pub fn capture_lead(id: Uuid) -> domain::lead::Command {
    domain::lead::Command::Capture(domain::lead::NewLead {
        id,
        name: name("Mary Somerville"),
        email: Some(email("mary@somerville.example")),
        phone: None,
        company_name: Some(name("Somerville Optics")),
        source: name("web form"),
        campaign_id: None,
        owner_id: None,
        team: None,
    })
}
