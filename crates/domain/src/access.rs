//! The record of a record access: who read (or tried to read) which customer records, when, why
//! and with what outcome. It is an event of the same log as every change, so the proof that the
//! log is intact covers reads too, but it lives under its own subjects (`crm.access.<aggregate>.
//! <id>`) and never moves an aggregate's version.
//!
//! The stream of an access is the record read (`contact/<id>`), or `query/<request id>` when one
//! request disclosed several records (a list, a search, an export), or `user/<id>` for a failed
//! authentication with a known user's token. Every disclosed record is named in `records`, so the
//! audit trail answers "who saw this record" for lists as well.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::EventSchema;
use crate::values::Role;

/// The event type of every access, at schema version [`RecordAccessed::SCHEMA_VERSION`].
pub const RECORD_ACCESSED: &str = "record_accessed";

/// The stream type of an access that disclosed several records at once.
pub const QUERY_STREAM: &str = "query";

/// One access, as stored and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAccessed {
    pub action: AccessAction,
    /// The caller's role at the time; absent when authentication failed.
    pub role: Option<Role>,
    /// The route as the router knows it, e.g. `GET /v1/contacts/{id}`.
    pub route: String,
    /// Every record whose data the response carried (or, when denied, the record asked for).
    pub records: Vec<RecordRef>,
    /// Why, as the caller said in `X-Crm-Purpose`.
    pub purpose: Option<String>,
    /// The request's id (`X-Request-Id`, or one the server gave it).
    pub request_id: String,
    /// The client's network address as the server saw it.
    pub client: Option<String>,
    pub outcome: AccessOutcome,
    /// Why the access was refused, for `denied` and `unauthenticated`.
    pub reason: Option<String>,
}

impl RecordAccessed {
    pub const SCHEMA_VERSION: u32 = 1;

    /// Its schema and golden sample, for the public event catalog.
    pub(crate) fn catalog() -> Vec<EventSchema> {
        vec![EventSchema::of::<RecordAccessed>(
            "access",
            RECORD_ACCESSED,
            Self::SCHEMA_VERSION,
            json!({
                "action": "read",
                "role": "sales",
                "route": "GET /v1/contacts/{id}",
                "records": [{"collection": "contacts", "id": "0192f0c4-5a6b-7c8d-9e0f-123456789abc"}],
                "purpose": "customer called about an invoice",
                "request_id": "0192f0c4-5a6b-7c8d-9e0f-000000000001",
                "client": "10.0.0.7:51234",
                "outcome": "allowed",
                "reason": null
            }),
        )]
    }
}

/// A record named by its collection (`contacts`) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRef {
    pub collection: String,
    pub id: Uuid,
}

/// What kind of read it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    /// One record by id.
    Read,
    /// A filtered list or a search.
    List,
    /// A record's events, or the record as it was at a past time.
    History,
    /// A customer's timeline.
    Timeline,
    /// An export or a report.
    Export,
    /// A call to the audit trail.
    Audit,
    /// Presenting a token.
    Authenticate,
    /// A command; logged when refused (an accepted command is recorded by its own events).
    Write,
}

impl AccessAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessAction::Read => "read",
            AccessAction::List => "list",
            AccessAction::History => "history",
            AccessAction::Timeline => "timeline",
            AccessAction::Export => "export",
            AccessAction::Audit => "audit",
            AccessAction::Authenticate => "authenticate",
            AccessAction::Write => "write",
        }
    }
}

/// Whether data left the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessOutcome {
    /// The records named were disclosed (after this event committed).
    Allowed,
    /// Refused by the access rules (403): nothing was disclosed.
    Denied,
    /// A token naming a known user failed to authenticate (401).
    Unauthenticated,
}

impl AccessOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessOutcome::Allowed => "allowed",
            AccessOutcome::Denied => "denied",
            AccessOutcome::Unauthenticated => "unauthenticated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_reads_back_as_the_type() {
        let catalog = RecordAccessed::catalog();
        let access: RecordAccessed =
            serde_json::from_value(catalog[0].sample.clone()).expect("the sample parses");
        assert_eq!(access.outcome, AccessOutcome::Allowed);
        assert_eq!(catalog[0].public_type, "crm.access.record_accessed.v1");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut sample = RecordAccessed::catalog()[0].sample.clone();
        sample["extra"] = json!(1);
        assert!(serde_json::from_value::<RecordAccessed>(sample).is_err());
    }
}
