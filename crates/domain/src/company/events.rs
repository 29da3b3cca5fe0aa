//! The company's events, each a published contract (`crm.company.<event>.v<N>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Company;
use crate::event::events;
use crate::values::{Domain, Name, Tags, Team, ValueClass};

events! {
    /// Everything that can happen to a company.
    pub enum Event for Company {
        Created(Created) = "created", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000001",
            "name": "Acme GmbH",
            "domain": "acme.example",
            "industry": "Manufacturing",
            "value_class": "B",
            "tags": ["manufacturing", "partner"],
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "team": "Berlin"
        });
        Renamed(Renamed) = "renamed", version 1, sample json!({"name": "Acme Holding GmbH"});
        ProfileChanged(ProfileChanged) = "profile_changed", version 1, sample json!({
            "domain": "acme-holding.example",
            "industry": null
        });
        Retagged(Retagged) = "retagged", version 1, sample json!({"tags": ["key_account"]});
        Reclassified(Reclassified) = "reclassified", version 1,
            sample json!({"value_class": "A"});
        Reassigned(Reassigned) = "reassigned", version 1, sample json!({
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a2",
            "team": null
        });
        Archived(Archived) = "archived", version 1, sample json!({});
    }
}

/// A company was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub name: Name,
    pub domain: Option<Domain>,
    pub industry: Option<Name>,
    pub value_class: Option<ValueClass>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// The company's name changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    pub name: Name,
}

/// The company's website domain or industry changed; both hold their new values (`null`:
/// cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanged {
    pub domain: Option<Domain>,
    pub industry: Option<Name>,
}

/// The company's tags were replaced by this set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retagged {
    pub tags: Tags,
}

/// The company's ABCD value class changed (`null`: no class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reclassified {
    pub value_class: Option<ValueClass>,
}

/// The company's owner or team changed; both hold their new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassigned {
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// The company was archived: it takes no more changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Archived {}
