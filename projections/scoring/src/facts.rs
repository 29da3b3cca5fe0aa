//! The facts the projection stores about a customer (touchpoints, won deals, cases) and scores
//! are computed from: plain data, no scores, so that a score can change with the settings and
//! with time without a rebuild.

use chrono::{DateTime, Utc};
use domain::values::ValueClass;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which kind of customer a score is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    Contact,
    Company,
}

impl CustomerKind {
    /// The table value and the API's singular: `contact`, `company`.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerKind::Contact => "contact",
            CustomerKind::Company => "company",
        }
    }

    /// The record collection the access log names: `contacts`, `companies`.
    pub fn collection(self) -> &'static str {
        match self {
            CustomerKind::Contact => "contacts",
            CustomerKind::Company => "companies",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<CustomerKind> {
        match text {
            "contact" => Some(CustomerKind::Contact),
            "company" => Some(CustomerKind::Company),
            _ => None,
        }
    }
}

/// A customer: a contact or a company, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CustomerKey {
    pub kind: CustomerKind,
    pub id: Uuid,
}

/// What a touchpoint counts as for engagement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Call,
    Email,
    Meeting,
    Note,
    Message,
    Visit,
    /// An inbound e-mail or message.
    Reply,
    LinkClick,
}

impl Component {
    pub const ALL: [Component; 8] = [
        Component::Call,
        Component::Email,
        Component::Meeting,
        Component::Note,
        Component::Message,
        Component::Visit,
        Component::Reply,
        Component::LinkClick,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Call => "call",
            Component::Email => "email",
            Component::Meeting => "meeting",
            Component::Note => "note",
            Component::Message => "message",
            Component::Visit => "visit",
            Component::Reply => "reply",
            Component::LinkClick => "link_click",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Component> {
        Component::ALL
            .into_iter()
            .find(|component| component.as_str() == text)
    }

    /// Its index in [`Component::ALL`], the order of the stored decayed sums.
    pub(crate) fn index(self) -> usize {
        Component::ALL
            .iter()
            .position(|component| *component == self)
            .unwrap_or(0)
    }
}

/// The event a fact comes from, so a person can look it up in `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EventRef {
    /// The event's position in the log.
    pub position: u64,
    /// Its public type, `crm.activity.logged.v1`.
    pub event_type: String,
    /// When what it records happened.
    pub occurred_at: DateTime<Utc>,
}

/// A touchpoint with the customer: an activity that took place, or a tracked link click.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Touch {
    pub component: Component,
    pub occurred_at: DateTime<Utc>,
    pub minutes: u32,
    pub position: u64,
    pub event_type: String,
}

/// A deal won for the customer, at its amount when won.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Won {
    pub deal_id: Uuid,
    pub closed_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub currency: String,
    pub position: u64,
    pub event_type: String,
}

/// A service case the customer opened; `closed_at` is set while it is resolved or closed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseFact {
    pub case_id: Uuid,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub position: u64,
    pub event_type: String,
}

/// Everything the scores of one customer are computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub key: CustomerKey,
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    /// A contact's company now.
    pub company_id: Option<Uuid>,
    /// The class set on the company by hand.
    pub manual_class: Option<ValueClass>,
    pub touches: Vec<Touch>,
    pub won: Vec<Won>,
    pub cases: Vec<CaseFact>,
}

pub(crate) fn class_text(class: ValueClass) -> &'static str {
    match class {
        ValueClass::A => "A",
        ValueClass::B => "B",
        ValueClass::C => "C",
        ValueClass::D => "D",
    }
}

pub(crate) fn parse_class(text: &str) -> Option<ValueClass> {
    match text {
        "A" => Some(ValueClass::A),
        "B" => Some(ValueClass::B),
        "C" => Some(ValueClass::C),
        "D" => Some(ValueClass::D),
        _ => None,
    }
}
