//! `/v1/pipelines`: the business defines its own sales process.

use axum::extract::State;
use domain::pipeline::{Command, NewPipeline, Pipeline, Stage};
use domain::values::{Name, Probability, StageKey};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::DEFINE_PIPELINES;
use crate::auth::Caller;
use crate::command::{CommandRequest, Committed, execute};
use crate::problem::ApiError;
use crate::request::{IdempotencyKey, IfMatch, JsonBody, MinPosition, Path};
use crate::state::ApiState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    pub name: Name,
    /// In the order deals move through them.
    pub stages: Vec<Stage>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStage {
    pub key: StageKey,
    pub name: Name,
    pub probability: Probability,
    /// Insert before the stage at this index (0-based); at the end when absent.
    pub position: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderStages {
    pub keys: Vec<StageKey>,
}

pub async fn create(
    State(api): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    JsonBody { value: body, raw }: JsonBody<CreatePipeline>,
) -> Result<Committed, ApiError> {
    caller.require(DEFINE_PIPELINES)?;
    let request = CommandRequest::new(&caller, IfMatch(None), key, "POST /v1/pipelines", &raw);
    let id = Uuid::now_v7();
    let new = NewPipeline {
        id,
        name: body.name,
        stages: body.stages,
    };
    execute::<Pipeline>(&api, &request, id, true, |_| {
        Ok(Command::Create(new.clone()))
    })
    .await
}

pub async fn add_stage(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    if_match: IfMatch,
    key: IdempotencyKey,
    JsonBody { value: body, raw }: JsonBody<AddStage>,
) -> Result<Committed, ApiError> {
    caller.require(DEFINE_PIPELINES)?;
    let route = format!("POST /v1/pipelines/{id}/stages");
    let request = CommandRequest::new(&caller, if_match, key, &route, &raw);
    execute::<Pipeline>(&api, &request, id, false, |_| {
        Ok(Command::AddStage {
            stage: Stage {
                key: body.key.clone(),
                name: body.name.clone(),
                probability: body.probability,
            },
            position: body.position,
        })
    })
    .await
}

pub async fn reorder_stages(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    if_match: IfMatch,
    key: IdempotencyKey,
    JsonBody { value: body, raw }: JsonBody<ReorderStages>,
) -> Result<Committed, ApiError> {
    caller.require(DEFINE_PIPELINES)?;
    let route = format!("POST /v1/pipelines/{id}/stages/order");
    let request = CommandRequest::new(&caller, if_match, key, &route, &raw);
    execute::<Pipeline>(&api, &request, id, false, |_| {
        Ok(Command::ReorderStages {
            keys: body.keys.clone(),
        })
    })
    .await
}

/// Removes a stage no open deal is in. Whether one is comes from the records read model (at
/// least as fresh as the caller's own writes when `X-Crm-Min-Position` is given).
pub async fn remove_stage(
    State(api): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(Uuid, String)>,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
    min_position: MinPosition,
) -> Result<Committed, ApiError> {
    caller.require(DEFINE_PIPELINES)?;
    let key = StageKey::parse(&key).map_err(|error| error.within("key"))?;
    let route = format!("DELETE /v1/pipelines/{id}/stages/{}", key.as_str());
    let request = CommandRequest::new(&caller, if_match, idempotency, &route, &[]);
    let schema = super::reads::live_schema(&api, min_position).await?;
    let in_use = api
        .records
        .open_deals_in_stage(&schema, id, key.as_str())
        .await?
        > 0;
    execute::<Pipeline>(&api, &request, id, false, |_| {
        Ok(Command::RemoveStage {
            key: key.clone(),
            stage_in_use: in_use,
        })
    })
    .await
}
