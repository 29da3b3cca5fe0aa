//! `/v1/pipelines`: the business defines its own sales process.

use axum::extract::State;
use domain::pipeline::{Command, NewPipeline, Pipeline, Stage};
use domain::values::{Name, Probability, StageKey};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use crate::command::{CommandMeta, Committed, execute};
use crate::problem::ApiError;
use crate::request::{JsonBody, MinPosition, Path};
use crate::state::ApiState;
use policy::Resource;

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
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<CreatePipeline>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let request = meta.request(&raw);
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
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<AddStage>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let request = meta.request(&raw);
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
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ReorderStages>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let request = meta.request(&raw);
    execute::<Pipeline>(&api, &request, id, false, |_| {
        Ok(Command::ReorderStages {
            keys: body.keys.clone(),
        })
    })
    .await
}

/// Removes a stage no open deal is in. Whether one is comes from the pipeline read model, once
/// it has reached the log's head as this request found it (or the caller's
/// `X-Crm-Min-Position`, if later): every deal move committed before the request counts.
pub async fn remove_stage(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path((id, key)): Path<(Uuid, String)>,
    min_position: MinPosition,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let key = StageKey::parse(&key).map_err(|error| error.within("key"))?;
    let request = meta.request(&[]);
    let head = api.reader.head().await?.position;
    let wanted = MinPosition(Some(min_position.0.map_or(head, |asked| asked.max(head))));
    let schema = super::reads::schema_of(&api, pipeline::NAME, wanted).await?;
    let in_use = api
        .reports
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
