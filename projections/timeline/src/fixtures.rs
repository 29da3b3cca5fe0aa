//! Domain events and decoded items for the unit tests, with the few fields each test cares
//! about.

use chrono::{DateTime, Duration, Utc};
use domain::activity::{self, ActivityKind, Direction};
use domain::case::{self, CaseStatus, Priority};
use domain::values::{Currency, Money, Name, Probability, StageKey, Tags};
use domain::{AnyEvent, company, contact, deal, lead, task};
use serde_json::json;
use uuid::Uuid;

use crate::decode::{Item, Meta};

pub fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

pub fn at(position: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::minutes(position as i64)
}

pub fn item(position: u64, id: Uuid, event: AnyEvent) -> Item {
    Item {
        meta: Meta {
            position,
            occurred_at: at(position),
            recorded_at: at(position),
            actor: "system".to_owned(),
            actor_id: None,
            event_type: format!("crm.test.{}.v1", event.event_type()),
            data: json!({}),
        },
        id,
        event,
    }
}

pub fn company_created(id: Uuid, company_name: &str) -> AnyEvent {
    AnyEvent::Company(company::Event::Created(company::Created {
        id,
        name: name(company_name),
        domain: None,
        industry: None,
        value_class: None,
        tags: Tags::parse::<&str>(&[]).unwrap(),
        owner_id: None,
        team: None,
    }))
}

pub fn contact_created(id: Uuid, company_id: Option<Uuid>) -> AnyEvent {
    AnyEvent::Contact(contact::Event::Created(contact::Created {
        id,
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        emails: vec![],
        phones: vec![],
        title: None,
        company_id,
        tags: Tags::parse::<&str>(&[]).unwrap(),
        owner_id: None,
        team: None,
    }))
}

pub fn contact_moved(from: Option<Uuid>, to: Option<Uuid>) -> AnyEvent {
    AnyEvent::Contact(contact::Event::Moved(contact::Moved {
        from_company_id: from,
        to_company_id: to,
    }))
}

pub fn contact_renamed(first: &str, last: &str) -> AnyEvent {
    AnyEvent::Contact(contact::Event::Renamed(contact::Renamed {
        first_name: name(first),
        last_name: name(last),
    }))
}

pub fn deal_created(id: Uuid, company_id: Option<Uuid>, contact_id: Option<Uuid>) -> AnyEvent {
    AnyEvent::Deal(deal::Event::Created(deal::Created {
        id,
        title: name("Forty looms"),
        pipeline_id: Uuid::nil(),
        stage: StageKey::parse("lead").unwrap(),
        probability: Probability::new(10).unwrap(),
        amount: Money::new(125_000, Currency::parse("EUR").unwrap()),
        expected_close_on: None,
        owner_id: Uuid::nil(),
        team: None,
        company_id,
        contact_id,
    }))
}

pub fn stage_changed(from: &str, to: &str) -> AnyEvent {
    AnyEvent::Deal(deal::Event::StageChanged(deal::StageChanged {
        from: StageKey::parse(from).unwrap(),
        to: StageKey::parse(to).unwrap(),
        probability: Probability::new(40).unwrap(),
    }))
}

pub fn call_logged(
    id: Uuid,
    contact_id: Option<Uuid>,
    company_id: Option<Uuid>,
    deal_id: Option<Uuid>,
) -> AnyEvent {
    AnyEvent::Activity(activity::Event::Logged(activity::Touchpoint {
        id,
        kind: ActivityKind::Call,
        subject: name("Renewal"),
        body: None,
        direction: Some(Direction::Outbound),
        duration_minutes: Some(15),
        outcome: None,
        occurred_at: at(0),
        contact_id,
        company_id,
        deal_id,
    }))
}

pub fn activity_completed() -> AnyEvent {
    AnyEvent::Activity(activity::Event::Completed(activity::Completed {
        occurred_at: at(0),
        outcome: Some(name("Asked for a proposal")),
        duration_minutes: Some(75),
    }))
}

pub fn task_created(id: Uuid, contact_id: Option<Uuid>, deal_id: Option<Uuid>) -> AnyEvent {
    AnyEvent::Task(task::Event::Created(task::Created {
        id,
        title: name("Send the offer"),
        description: None,
        due_at: at(0),
        assignee_id: Uuid::nil(),
        team: None,
        contact_id,
        company_id: None,
        deal_id,
    }))
}

pub fn task_completed() -> AnyEvent {
    AnyEvent::Task(task::Event::Completed(task::Completed {
        completed_at: at(0),
    }))
}

pub fn case_created(id: Uuid, contact_id: Uuid) -> AnyEvent {
    AnyEvent::Case(case::Event::Created(case::Created {
        id,
        subject: name("Loom 7 stopped"),
        description: None,
        contact_id,
        priority: Priority::High,
        assignee_id: None,
        team: None,
    }))
}

pub fn case_status(from: CaseStatus, to: CaseStatus) -> AnyEvent {
    AnyEvent::Case(case::Event::StatusChanged(case::StatusChanged { from, to }))
}

pub fn lead_captured(id: Uuid) -> AnyEvent {
    AnyEvent::Lead(lead::Event::Captured(lead::Captured {
        id,
        name: name("Mary Somerville"),
        email: None,
        phone: None,
        company_name: None,
        source: name("web form"),
        campaign_id: None,
        owner_id: None,
        team: None,
    }))
}

pub fn lead_converted(contact_id: Uuid, company_id: Option<Uuid>) -> AnyEvent {
    AnyEvent::Lead(lead::Event::Converted(lead::Converted {
        contact_id,
        company_id,
        deal_id: None,
    }))
}
