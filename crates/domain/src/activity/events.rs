//! The activity's events, each a published contract (`crm.activity.<event>.v<N>`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Activity, ActivityKind, Direction};
use crate::event::events;
use crate::values::{Name, Text};

events! {
    /// Everything that can happen to an activity.
    pub enum Event for Activity {
        Logged(Touchpoint) = "logged", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000009",
            "kind": "call",
            "subject": "Discovery call",
            "body": "Wants SSO and audit export.\nCall back after the board meeting.",
            "direction": "outbound",
            "duration_minutes": 25,
            "outcome": "Interested",
            "occurred_at": "2025-06-02T09:30:00Z",
            "contact_id": "0190a5e4-7c4b-7000-8000-000000000002",
            "company_id": "0190a5e4-7c4b-7000-8000-000000000001",
            "deal_id": null
        });
        Scheduled(Touchpoint) = "scheduled", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-00000000000a",
            "kind": "meeting",
            "subject": "Demo with the IT team",
            "body": null,
            "direction": null,
            "duration_minutes": 60,
            "outcome": null,
            "occurred_at": "2025-06-10T13:00:00Z",
            "contact_id": null,
            "company_id": null,
            "deal_id": "0190a5e4-7c4b-7000-8000-000000000005"
        });
        Completed(Completed) = "completed", version 1, sample json!({
            "occurred_at": "2025-06-10T13:05:00Z",
            "outcome": "Asked for a proposal",
            "duration_minutes": 75
        });
        Cancelled(Cancelled) = "cancelled", version 1, sample json!({"reason": null});
    }
}

/// An activity that happened (`logged`) or is planned (`scheduled`, `occurred_at` in the future).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Touchpoint {
    pub id: Uuid,
    pub kind: ActivityKind,
    pub subject: Name,
    pub body: Option<Text>,
    pub direction: Option<Direction>,
    #[schemars(range(max = 1440))]
    pub duration_minutes: Option<u16>,
    pub outcome: Option<Name>,
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

/// A scheduled activity took place; it is now logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Completed {
    pub occurred_at: DateTime<Utc>,
    pub outcome: Option<Name>,
    #[schemars(range(max = 1440))]
    pub duration_minutes: Option<u16>,
}

/// A scheduled activity will not take place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancelled {
    pub reason: Option<Text>,
}
