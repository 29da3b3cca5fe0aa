//! What the timeline answers, as the API serialises it: snake_case fields, times in RFC 3339
//! (UTC, microseconds, as the log keeps them). Every answer reaches the caller sealed in a
//! [`Withheld`](accesslog::Withheld), since it discloses what the records held.

use chrono::{DateTime, Utc};
use domain::access::RecordRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Whose timeline: a contact's or a company's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Customer {
    Contact(Uuid),
    Company(Uuid),
}

impl Customer {
    /// `contact` or `company`, as the entries table keeps it.
    pub fn kind(self) -> &'static str {
        match self {
            Customer::Contact(_) => "contact",
            Customer::Company(_) => "company",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Customer::Contact(id) | Customer::Company(id) => id,
        }
    }

    /// The customer's own record: `contacts/<id>` or `companies/<id>`.
    pub fn record(self) -> RecordRef {
        let collection = match self {
            Customer::Contact(_) => "contacts",
            Customer::Company(_) => "companies",
        };
        RecordRef {
            collection: collection.to_owned(),
            id: self.id(),
        }
    }
}

/// What an entry is: an interaction with the customer, or a change of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An interaction: an activity logged or completed, a tracked link clicked.
    Touchpoint,
    /// Any other change of the customer or of its deals, tasks, cases and activities.
    Change,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Touchpoint => "touchpoint",
            EntryKind::Change => "change",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        match text {
            "touchpoint" => Some(EntryKind::Touchpoint),
            "change" => Some(EntryKind::Change),
            _ => None,
        }
    }
}

/// One event on one customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineEntry {
    /// The event's position in the log: entries are listed newest (highest) first.
    pub position: u64,
    /// Whose timeline the entry is on.
    pub customer: Customer,
    /// The record the event is about: the customer itself, or one of its deals, activities,
    /// tasks, cases, or the lead it was converted from.
    pub record: RecordRef,
    /// The event's public type, `crm.deal.stage_changed.v1`.
    pub event_type: String,
    /// The event's short name, `stage_changed`.
    pub event: String,
    /// `touchpoint` or `change`.
    pub kind: EntryKind,
    /// When it happened.
    #[serde(with = "rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub occurred_at: DateTime<Utc>,
    /// When the store committed it.
    #[serde(with = "rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub recorded_at: DateTime<Utc>,
    /// Who: `user:<id>` or `system`.
    pub actor: String,
    /// The user's id when a user did it.
    pub actor_id: Option<Uuid>,
    /// One line for people: `Stage changed from qualified to proposal`.
    pub summary: String,
    /// The event's payload, for clients that want the detail.
    pub data: Value,
}

/// One page of a timeline, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelinePage {
    /// The entries of this page, newest first.
    pub items: Vec<TimelineEntry>,
    /// The cursor of the next (older) page, if there is one.
    pub next_cursor: Option<String>,
}

/// Times as RFC 3339 in UTC with microseconds, `2025-01-02T03:04:05.678901Z`; any RFC 3339 time
/// reads back.
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time: {error}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_serialises_with_snake_case_fields_and_rfc3339_times() {
        let time = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        let entry = TimelineEntry {
            position: 7,
            customer: Customer::Company(id),
            record: RecordRef {
                collection: "deals".to_owned(),
                id,
            },
            event_type: "crm.deal.stage_changed.v1".to_owned(),
            event: "stage_changed".to_owned(),
            kind: EntryKind::Change,
            occurred_at: time,
            recorded_at: time,
            actor: "system".to_owned(),
            actor_id: None,
            summary: "Stage changed from lead to proposal".to_owned(),
            data: json!({"from": "lead", "to": "proposal", "probability": 70}),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["occurred_at"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(json["customer"], json!({"kind": "company", "id": id}));
        assert_eq!(json["kind"], "change");
        assert_eq!(json["record"]["collection"], "deals");
        let back: TimelineEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn kinds_read_back_from_their_names_and_customers_name_their_record() {
        for kind in [EntryKind::Touchpoint, EntryKind::Change] {
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EntryKind::parse("read"), None);
        let id = Uuid::now_v7();
        assert_eq!(Customer::Contact(id).kind(), "contact");
        assert_eq!(Customer::Company(id).kind(), "company");
        assert_eq!(Customer::Contact(id).record().collection, "contacts");
        assert_eq!(Customer::Company(id).record().collection, "companies");
    }
}
