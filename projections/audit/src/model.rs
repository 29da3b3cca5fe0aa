//! What the audit trail answers, as the API serialises it: snake_case fields, times in RFC 3339
//! (UTC, microseconds, as the log keeps them). Every answer reaches the caller sealed in a
//! [`Withheld`](accesslog::Withheld), since it discloses what the records held.

use chrono::{DateTime, Utc};
use domain::access::RecordRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::diff::FieldChange;

/// One read or change of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// The event's position in the log: entries are listed newest (highest) first.
    pub position: u64,
    /// When it happened.
    #[serde(with = "rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub occurred_at: DateTime<Utc>,
    /// When the store committed it.
    #[serde(with = "rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub recorded_at: DateTime<Utc>,
    /// Who: `user:<id>`, `system`, ...
    pub actor: String,
    /// The user's id when a user did it.
    pub actor_id: Option<Uuid>,
    /// `change`, or the access's action: read, list, history, timeline, export, audit,
    /// authenticate.
    pub action: String,
    /// The record concerned; `None` for an access that named none.
    pub record: Option<RecordRef>,
    /// The event's type, `crm.contact.renamed.v1` or `crm.access.record_accessed.v1`.
    pub event_type: String,
    /// `recorded` for a change; allowed, denied or unauthenticated for an access.
    pub outcome: String,
    /// The reader's role at the time (accesses).
    pub role: Option<String>,
    /// The route read, `GET /v1/contacts/{id}` (accesses).
    pub route: Option<String>,
    /// Why, as the reader said (accesses).
    pub purpose: Option<String>,
    pub request_id: Option<String>,
    /// The reader's network address (accesses).
    pub client: Option<String>,
    /// Why an access was refused.
    pub reason: Option<String>,
    /// What a change did to the record's top-level fields; empty for an access.
    pub changes: Vec<FieldChange>,
}

/// One page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// The cursor of the next (older) page, if there is one.
    pub next_cursor: Option<String>,
}

/// Everything the organisation recorded about one contact and every access to it: what a person
/// may ask for under the GDPR's right of access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubjectReport {
    pub contact_id: Uuid,
    /// The contact as it is now.
    pub contact: Value,
    /// Changes and accesses of the contact and of every record linked to it (its activities,
    /// tasks, cases, deals, leads), newest first.
    pub items: Vec<AuditEntry>,
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
        let entry = AuditEntry {
            position: 7,
            occurred_at: time,
            recorded_at: time,
            actor: format!("user:{id}"),
            actor_id: Some(id),
            action: "change".to_owned(),
            record: Some(RecordRef {
                collection: "contacts".to_owned(),
                id,
            }),
            event_type: "crm.contact.renamed.v1".to_owned(),
            outcome: "recorded".to_owned(),
            role: None,
            route: None,
            purpose: None,
            request_id: None,
            client: None,
            reason: None,
            changes: vec![FieldChange {
                field: "first_name".to_owned(),
                old: json!("Ada"),
                new: json!("Augusta Ada"),
            }],
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["occurred_at"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(json["actor_id"], id.to_string());
        assert_eq!(json["record"]["collection"], "contacts");
        assert_eq!(json["changes"][0]["old"], "Ada");
        let back: AuditEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }
}
