//! The user's events, each a published contract (`crm.user.<event>.v<N>`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::User;
use crate::event::events;
use crate::values::{Role, Team, TokenHash, Username};

events! {
    /// Everything that can happen to a user.
    pub enum Event for User {
        Created(Created) = "created", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "username": "ada.l",
            "role": "sales",
            "team": "Berlin"
        });
        TokenIssued(TokenIssued) = "token_issued", version 1, sample json!({
            "token_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "issued_at": "2025-06-02T08:00:00Z"
        });
        TokenRevoked(TokenRevoked) = "token_revoked", version 1, sample json!({
            "token_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        });
        RoleChanged(RoleChanged) = "role_changed", version 1,
            sample json!({"from": "sales", "to": "manager"});
        TeamChanged(TeamChanged) = "team_changed", version 1, sample json!({"team": null});
        Deactivated(Deactivated) = "deactivated", version 1, sample json!({});
    }
}

/// A user was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    /// For the `service` role: what its tokens may reach (`contacts:read`, `deals:write`,
    /// `*:read`). Absent before scopes existed, which reads as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// A token now authenticates the user; only its SHA-256 is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    pub token_hash: TokenHash,
    pub issued_at: DateTime<Utc>,
}

/// A token no longer authenticates the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    pub token_hash: TokenHash,
}

/// The user's role changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChanged {
    pub from: Role,
    pub to: Role,
}

/// The user's team changed (`null`: no team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamChanged {
    pub team: Option<Team>,
}

/// The user was deactivated: every token is revoked and it takes no more commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deactivated {}
