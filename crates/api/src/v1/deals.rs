//! `/v1/deals`: open deals in a pipeline, move them through its stages, win, lose, reopen.

use axum::extract::State;
use chrono::NaiveDate;
use domain::Aggregate;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::{Command, Deal, NewDeal};
use domain::pipeline::{Pipeline, PipelineStages};
use domain::values::{Money, Name, StageKey, Team, Text};
use domain::{Patch, Replace};
use eventstore::{StreamAppend, StreamRef};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::{NewOwner, owner_and_team};
use crate::command::{
    CommandMeta, CommandRequest, Committed, Loaded, Reading, execute, execute_all, execute_reading,
    load, with_fresh_reads,
};
use crate::guard::ensure_linked;
use crate::problem::ApiError;
use crate::request::{JsonBody, NoBody, Path};
use crate::state::ApiState;
use policy::Resource;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDeal {
    pub title: Name,
    pub pipeline_id: Uuid,
    /// The key of a stage of the pipeline.
    pub stage: StageKey,
    pub amount: Money,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
    pub expected_close_on: Option<NaiveDate>,
}

/// Named fields change; `null` clears an optional one and is refused for a required one;
/// absent fields stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeDeal {
    #[serde(default)]
    pub title: Replace<Name>,
    /// In the deal's currency.
    #[serde(default)]
    pub amount: Replace<Money>,
    #[serde(default)]
    pub expected_close_on: Patch<NaiveDate>,
    #[serde(default)]
    pub owner_id: Replace<Uuid>,
    #[serde(default)]
    pub team: Patch<Team>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveStage {
    pub stage: StageKey,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Close {
    pub reason: Option<Text>,
}

/// The stages of pipeline `pipeline_id` as the store holds them now, and the expectation that
/// keeps a decision on them true: the pipeline still at that version when the deal's events
/// commit (so a deal never enters a stage removed meanwhile).
pub(crate) async fn stages_of(
    api: &ApiState,
    pipeline_id: Uuid,
    field: &str,
) -> Result<(PipelineStages, StreamAppend), ApiError> {
    let loaded = load::<Pipeline>(api, pipeline_id).await?;
    let stages = loaded
        .state
        .as_ref()
        .map(|pipeline| pipeline.stages_snapshot())
        .ok_or_else(|| ApiError::invalid(field, "no such pipeline"))?;
    let unchanged = StreamAppend::unchanged(
        StreamRef::new(Pipeline::STREAM_TYPE, pipeline_id),
        loaded.version,
    );
    Ok((stages, unchanged))
}

pub async fn open(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<OpenDeal>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let request = meta.request(&raw);
    if let Some(company_id) = body.company_id {
        ensure_linked::<Company>(&api, &request, company_id, "company_id").await?;
    }
    if let Some(contact_id) = body.contact_id {
        ensure_linked::<Contact>(&api, &request, contact_id, "contact_id").await?;
    }
    let (owner_id, team) = owner_and_team(&api, &meta.caller, body.owner_id, body.team).await?;
    let id = Uuid::now_v7();
    with_fresh_reads(|| async {
        let (pipeline, unchanged) = stages_of(&api, body.pipeline_id, "pipeline_id").await?;
        let new = NewDeal {
            id,
            title: body.title.clone(),
            pipeline,
            stage: body.stage.clone(),
            amount: body.amount,
            expected_close_on: body.expected_close_on,
            owner_id,
            team: team.clone(),
            company_id: body.company_id,
            contact_id: body.contact_id,
        };
        let first = Some(Loaded::empty());
        execute_reading::<Deal>(
            &api,
            &request,
            id,
            true,
            first,
            &Reading::of(unchanged),
            |_| Ok(vec![Command::Create(new.clone())]),
        )
        .await
    })
    .await
}

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeDeal>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let request = meta.request(&raw);
    let new_owner = NewOwner::load(&api, body.owner_id.0).await?;
    execute_all::<Deal>(&api, &request, id, false, |deal| {
        let current = deal.state.as_ref().ok_or(ApiError::NotFound("deal"))?;
        let mut commands = Vec::new();
        if let Some(title) = &body.title.0 {
            commands.push(Command::Rename {
                title: title.clone(),
            });
        }
        if let Some(amount) = body.amount.0 {
            commands.push(Command::ChangeAmount { amount });
        }
        if body.expected_close_on.is_given() {
            commands.push(Command::ChangeExpectedClose {
                expected_close_on: body.expected_close_on.apply(&current.expected_close_on),
            });
        }
        if let Some(owner) = &new_owner {
            commands.push(Command::Reassign {
                owner_id: owner.id,
                team: owner
                    .team(Some(current.owner_id), &body.team)
                    .apply(&current.team),
            });
        } else if body.team.is_given() {
            commands.push(Command::Reassign {
                owner_id: current.owner_id,
                team: body.team.apply(&current.team),
            });
        }
        Ok(commands)
    })
    .await
}

pub async fn move_stage(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<MoveStage>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let request = meta.request(&raw);
    execute_on_stages(&api, &request, id, |pipeline| Command::ChangeStage {
        stage: body.stage.clone(),
        pipeline,
    })
    .await
}

/// Decides `command` on deal `id` with its pipeline's stages as the store holds them now, and
/// appends it held to the pipeline staying unchanged until then.
async fn execute_on_stages(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    command: impl Fn(PipelineStages) -> Command,
) -> Result<Committed, ApiError> {
    let deal = load::<Deal>(api, id).await?;
    let pipeline_id = deal
        .state
        .as_ref()
        .map(|deal| deal.pipeline_id)
        .ok_or(ApiError::NotFound("deal"))?;
    // The first attempt decides on the deal just loaded; a later one reads it again.
    let first = std::sync::Mutex::new(Some(deal));
    with_fresh_reads(|| async {
        let (pipeline, unchanged) = stages_of(api, pipeline_id, "pipeline_id").await?;
        let seeded = first.lock().ok().and_then(|mut first| first.take());
        execute_reading::<Deal>(
            api,
            request,
            id,
            false,
            seeded,
            &Reading::of(unchanged),
            |_| Ok(vec![command(pipeline.clone())]),
        )
        .await
    })
    .await
}

pub async fn won(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<Close>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let reason = body.reason;
    let request = meta.request(&raw);
    execute::<Deal>(&api, &request, id, false, |_| {
        Ok(Command::Win {
            reason: reason.clone(),
        })
    })
    .await
}

pub async fn lost(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<Close>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let reason = body.reason;
    let request = meta.request(&raw);
    execute::<Deal>(&api, &request, id, false, |_| {
        Ok(Command::Lose {
            reason: reason.clone(),
        })
    })
    .await
}

/// Reopens a closed deal in the stage it closed in, held to its pipeline still having it.
pub async fn reopen(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Deals).await?;
    let request = meta.request(&[]);
    execute_on_stages(&api, &request, id, |pipeline| Command::Reopen { pipeline }).await
}
