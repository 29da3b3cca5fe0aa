//! `/v1/pipelines`: the business defines its own sales process.

use axum::extract::State;
use domain::deal::Deal;
use domain::pipeline::{Command, NewPipeline, Pipeline, Stage};
use domain::values::{Name, Probability, StageKey};
use domain::{Aggregate, Replace};
use eventstore::{EventMatch, NoneSince};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::command::{
    CommandMeta, Committed, Loaded, Reading, execute, execute_all, execute_reading,
    with_fresh_reads,
};
use crate::problem::ApiError;
use crate::request::{JsonBody, MinPosition, NoBody, Path};
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

/// Named fields change; absent ones stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePipeline {
    #[serde(default)]
    pub name: Replace<Name>,
}

/// Named fields of one stage change; absent ones stay. A new probability weighs the deals that
/// enter the stage from then on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStage {
    #[serde(default)]
    pub name: Replace<Name>,
    #[serde(default)]
    pub probability: Replace<Probability>,
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

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangePipeline>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let request = meta.request(&raw);
    execute_all::<Pipeline>(&api, &request, id, false, |_| {
        Ok(body
            .name
            .0
            .iter()
            .map(|name| Command::Rename { name: name.clone() })
            .collect())
    })
    .await
}

pub async fn change_stage(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path((id, key)): Path<(Uuid, String)>,
    JsonBody { value: body, raw }: JsonBody<ChangeStage>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let key = StageKey::parse(&key).map_err(|_| ApiError::NotFound("stage"))?;
    let request = meta.request(&raw);
    execute_all::<Pipeline>(&api, &request, id, false, |loaded| {
        known_stage(loaded, &key)?;
        let mut commands = Vec::new();
        if let Some(name) = &body.name.0 {
            commands.push(Command::RenameStage {
                key: key.clone(),
                name: name.clone(),
            });
        }
        if let Some(probability) = body.probability.0 {
            commands.push(Command::ChangeStageProbability {
                key: key.clone(),
                probability,
            });
        }
        Ok(commands)
    })
    .await
}

/// A stage is a resource of the path: one the pipeline lacks is not found.
fn known_stage(loaded: &Loaded<Pipeline>, key: &StageKey) -> Result<(), ApiError> {
    let known = loaded
        .state
        .as_ref()
        .is_some_and(|pipeline| pipeline.stages.iter().any(|stage| stage.key == *key));
    if known {
        Ok(())
    } else {
        Err(ApiError::NotFound("stage"))
    }
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
/// `X-Crm-Min-Position`, if later), so every deal move committed before the request counts; the
/// append is refused if a deal entered the stage after that head, and the count is made again.
pub async fn remove_stage(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path((id, key)): Path<(Uuid, String)>,
    min_position: MinPosition,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Pipelines).await?;
    let key = StageKey::parse(&key).map_err(|_| ApiError::NotFound("stage"))?;
    let request = meta.request(&[]);
    with_fresh_reads(|| async {
        let head = api.reader.head().await?.position;
        let wanted = MinPosition(Some(min_position.0.map_or(head, |asked| asked.max(head))));
        let schema = super::reads::schema_of(&api, pipeline::NAME, wanted).await?;
        let in_use = api
            .reports
            .open_deals_in_stage(&schema, id, key.as_str())
            .await?
            > 0;
        let reading = Reading {
            none_since: Some(deals_entering(id, &key, head)),
            ..Reading::default()
        };
        execute_reading::<Pipeline>(&api, &request, id, false, None, &reading, |loaded| {
            known_stage(loaded, &key)?;
            Ok(vec![Command::RemoveStage {
                key: key.clone(),
                stage_in_use: in_use,
            }])
        })
        .await
    })
    .await
}

/// Any deal created in, moved into or reopened (possibly in) stage `key` of pipeline
/// `pipeline_id` after `position`. A move names only its stages, not its pipeline, so a move into
/// a stage of that key in another pipeline counts too: the removal is only counted again.
fn deals_entering(pipeline_id: Uuid, key: &StageKey, position: u64) -> NoneSince {
    let matching = [
        (
            "created",
            Some(json!({"pipeline_id": pipeline_id, "stage": key.as_str()})),
        ),
        ("stage_changed", Some(json!({"to": key.as_str()}))),
        ("reopened", None),
    ];
    NoneSince {
        position,
        stream_type: Deal::STREAM_TYPE.to_owned(),
        matching: matching
            .into_iter()
            .map(|(event_type, payload_contains)| EventMatch {
                event_type: event_type.to_owned(),
                payload_contains,
            })
            .collect(),
    }
}
