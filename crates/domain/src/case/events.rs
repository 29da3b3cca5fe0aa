//! The case's events, each a published contract (`crm.case.<event>.v<N>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Case, CaseStatus, Priority};
use crate::event::{events, team_added_in_v2};
use crate::values::{Name, Team, Text};

events! {
    /// Everything that can happen to a case.
    pub enum Event for Case {
        Created(Created) = "created", version 2, upcast team_added_in_v2, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-00000000000c",
            "subject": "Export fails for large accounts",
            "description": "The CSV export stops after 10,000 rows.",
            "contact_id": "0190a5e4-7c4b-7000-8000-000000000002",
            "priority": "high",
            "assignee_id": null,
            "team": null
        });
        StatusChanged(StatusChanged) = "status_changed", version 1,
            sample json!({"from": "new", "to": "open"});
        PriorityChanged(PriorityChanged) = "priority_changed", version 1,
            sample json!({"from": "high", "to": "urgent"});
        Assigned(Assigned) = "assigned", version 2, upcast team_added_in_v2, sample json!({
            "from": null,
            "to": "0190a5e4-7c4b-7000-8000-0000000000a3",
            "team": "Service"
        });
    }
}

/// A case was opened; it starts as new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub subject: Name,
    pub description: Option<Text>,
    pub contact_id: Uuid,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    /// The assignee's team: the case is in that team's reach (and its contact's).
    pub team: Option<Team>,
}

/// The case moved along its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChanged {
    pub from: CaseStatus,
    pub to: CaseStatus,
}

/// The case's priority changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityChanged {
    pub from: Priority,
    pub to: Priority,
}

/// The case passed from one person to another (`null`: nobody), or moved with its assignee to
/// another team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assigned {
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
    /// The new assignee's team.
    pub team: Option<Team>,
}
