//! The lead's events, each a published contract (`crm.lead.<event>.v<N>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Lead;
use crate::event::events;
use crate::values::{Email, Name, Phone, Team, Text};

events! {
    /// Everything that can happen to a lead.
    pub enum Event for Lead {
        Captured(Captured) = "captured", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000006",
            "name": "Grace Hopper",
            "email": "grace@navy.example",
            "phone": null,
            "company_name": "Navy Labs",
            "source": "Trade fair 2025",
            "campaign_id": "0190a5e4-7c4b-7000-8000-0000000000c1",
            "owner_id": null,
            "team": null
        });
        Qualified(Qualified) = "qualified", version 1, sample json!({});
        Disqualified(Disqualified) = "disqualified", version 1,
            sample json!({"reason": "Student project, no budget"});
        Converted(Converted) = "converted", version 1, sample json!({
            "contact_id": "0190a5e4-7c4b-7000-8000-000000000007",
            "company_id": "0190a5e4-7c4b-7000-8000-000000000008",
            "deal_id": null
        });
        Reassigned(Reassigned) = "reassigned", version 1, sample json!({
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a2",
            "team": "Berlin"
        });
    }
}

/// A lead was captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Captured {
    pub id: Uuid,
    pub name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company_name: Option<Name>,
    pub source: Name,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// The lead was found worth pursuing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Qualified {}

/// The lead was found not worth pursuing; it takes no more commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disqualified {
    pub reason: Option<Text>,
}

/// The lead became these records, created in the same transaction; it takes no more commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Converted {
    pub contact_id: Uuid,
    /// The company created for it, or the existing one it was linked to.
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

/// The lead was handed to someone; owner and team hold their new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassigned {
    pub owner_id: Uuid,
    pub team: Option<Team>,
}
