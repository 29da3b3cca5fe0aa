//! The deal's events, each a published contract (`crm.deal.<event>.v<N>`).

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Deal;
use crate::event::events;
use crate::values::{Money, Name, Probability, StageKey, Team, Text};

events! {
    /// Everything that can happen to a deal.
    pub enum Event for Deal {
        Created(Created) = "created", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000005",
            "title": "Acme: 40 seats",
            "pipeline_id": "0190a5e4-7c4b-7000-8000-000000000004",
            "stage": "qualified",
            "probability": 10,
            "amount": {"amount_minor": 4800000, "currency": "EUR"},
            "expected_close_on": "2025-09-30",
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "team": "Berlin",
            "company_id": "0190a5e4-7c4b-7000-8000-000000000001",
            "contact_id": "0190a5e4-7c4b-7000-8000-000000000002"
        });
        Renamed(Renamed) = "renamed", version 1, sample json!({"title": "Acme: 60 seats"});
        StageChanged(StageChanged) = "stage_changed", version 1,
            sample json!({"from": "qualified", "to": "proposal", "probability": 40});
        AmountChanged(AmountChanged) = "amount_changed", version 1, sample json!({
            "from": {"amount_minor": 4800000, "currency": "EUR"},
            "to": {"amount_minor": 7200000, "currency": "EUR"}
        });
        ExpectedCloseChanged(ExpectedCloseChanged) = "expected_close_changed", version 1,
            sample json!({"expected_close_on": null});
        Reassigned(Reassigned) = "reassigned", version 1, sample json!({
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a2",
            "team": null
        });
        Won(Closed) = "won", version 1, sample json!({
            "reason": "Best integration story",
            "closed_at": "2025-09-12T14:03:00Z"
        });
        Lost(Closed) = "lost", version 1,
            sample json!({"reason": null, "closed_at": "2025-09-12T14:03:00.250Z"});
        Reopened(Reopened) = "reopened", version 1, sample json!({});
    }
}

/// A deal was opened in a stage of its pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub title: Name,
    pub pipeline_id: Uuid,
    pub stage: StageKey,
    /// The stage's probability when the deal entered it.
    pub probability: Probability,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
    pub owner_id: Uuid,
    pub team: Option<Team>,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
}

/// The deal's title changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    pub title: Name,
}

/// The deal moved from one stage of its pipeline to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageChanged {
    pub from: StageKey,
    pub to: StageKey,
    /// The probability of the stage it moved to.
    pub probability: Probability,
}

/// The deal's amount changed, in the same currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountChanged {
    pub from: Money,
    pub to: Money,
}

/// The date the deal is expected to close changed (`null`: unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCloseChanged {
    pub expected_close_on: Option<NaiveDate>,
}

/// The deal's owner or team changed; both hold their new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassigned {
    pub owner_id: Uuid,
    pub team: Option<Team>,
}

/// The deal was won or lost (the event type says which).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    pub reason: Option<Text>,
    pub closed_at: DateTime<Utc>,
}

/// A closed deal was opened again, in the stage it closed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reopened {}
