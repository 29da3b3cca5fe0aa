//! The task's events, each a published contract (`crm.task.<event>.v<N>`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Task;
use crate::event::{events, team_added_in_v2};
use crate::values::{Name, Team, Text};

events! {
    /// Everything that can happen to a task.
    pub enum Event for Task {
        Created(Created) = "created", version 2, upcast team_added_in_v2, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-00000000000b",
            "title": "Send the proposal",
            "description": null,
            "due_at": "2025-06-06T16:00:00Z",
            "assignee_id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "team": "Berlin",
            "contact_id": "0190a5e4-7c4b-7000-8000-000000000002",
            "company_id": null,
            "deal_id": "0190a5e4-7c4b-7000-8000-000000000005"
        });
        Completed(Completed) = "completed", version 1,
            sample json!({"completed_at": "2025-06-05T11:20:00Z"});
        Reassigned(Reassigned) = "reassigned", version 2, upcast team_added_in_v2, sample json!({
            "from": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "to": "0190a5e4-7c4b-7000-8000-0000000000a2",
            "team": "Paris"
        });
        Rescheduled(Rescheduled) = "rescheduled", version 1,
            sample json!({"due_at": "2025-06-09T16:00:00Z"});
    }
}

/// A task was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub title: Name,
    pub description: Option<Text>,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Uuid,
    /// The assignee's team when the task was given to them: the task is in that team's reach.
    pub team: Option<Team>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

/// The task was done; it takes no more changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Completed {
    pub completed_at: DateTime<Utc>,
}

/// The task passed from one person to another (or moved with its assignee to another team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassigned {
    pub from: Uuid,
    pub to: Uuid,
    /// The new assignee's team.
    pub team: Option<Team>,
}

/// The task's due time changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rescheduled {
    pub due_at: DateTime<Utc>,
}
