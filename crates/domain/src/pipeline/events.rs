//! The pipeline's events, each a published contract (`crm.pipeline.<event>.v<N>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Pipeline, Stage};
use crate::event::events;
use crate::values::{Name, Probability, StageKey};

events! {
    /// Everything that can happen to a pipeline.
    pub enum Event for Pipeline {
        Created(Created) = "created", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000004",
            "name": "New business",
            "stages": [
                {"key": "qualified", "name": "Qualified", "probability": 10},
                {"key": "proposal", "name": "Proposal sent", "probability": 40},
                {"key": "negotiation", "name": "Negotiation", "probability": 70}
            ]
        });
        Renamed(Renamed) = "renamed", version 1, sample json!({"name": "Enterprise"});
        StageAdded(StageAdded) = "stage_added", version 1, sample json!({
            "stage": {"key": "demo", "name": "Demo", "probability": 25},
            "position": 1
        });
        StageRenamed(StageRenamed) = "stage_renamed", version 1,
            sample json!({"key": "proposal", "name": "Offer sent"});
        StageProbabilityChanged(StageProbabilityChanged) = "stage_probability_changed",
            version 1, sample json!({"key": "proposal", "probability": 50});
        StagesReordered(StagesReordered) = "stages_reordered", version 1,
            sample json!({"keys": ["qualified", "negotiation", "proposal"]});
        StageRemoved(StageRemoved) = "stage_removed", version 1, sample json!({"key": "demo"});
    }
}

/// A pipeline was created with these stages, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub name: Name,
    pub stages: Vec<Stage>,
}

/// The pipeline's name changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    pub name: Name,
}

/// A stage was inserted at `position` (0-based); the stages from there on moved one down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageAdded {
    pub stage: Stage,
    pub position: usize,
}

/// A stage's name changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRenamed {
    pub key: StageKey,
    pub name: Name,
}

/// A stage's probability of winning changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageProbabilityChanged {
    pub key: StageKey,
    pub probability: Probability,
}

/// The stages were put in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StagesReordered {
    pub keys: Vec<StageKey>,
}

/// A stage that held no deals was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRemoved {
    pub key: StageKey,
}
