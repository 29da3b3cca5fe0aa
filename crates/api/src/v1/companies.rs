//! `/v1/companies`: create and change companies (accounts).

use axum::extract::State;
use domain::company::{Command, Company, CompanyChanges, NewCompany};
use domain::values::{Domain, Name, Tags, Team, ValueClass};
use domain::{Patch, Replace};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::{NewOwner, owner_and_team};
use crate::command::{CommandMeta, Committed, execute};
use crate::problem::ApiError;
use crate::request::{JsonBody, NoBody, Path};
use crate::state::ApiState;
use policy::Resource;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompany {
    pub name: Name,
    pub domain: Option<Domain>,
    pub industry: Option<Name>,
    pub value_class: Option<ValueClass>,
    #[serde(default)]
    pub tags: Tags,
    /// Defaults to the caller.
    pub owner_id: Option<Uuid>,
    /// Defaults to the owner's team.
    pub team: Option<Team>,
}

/// Named fields change; `null` clears an optional one (empties `tags`) and is refused for a
/// required one; absent fields stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCompany {
    #[serde(default)]
    pub name: Replace<Name>,
    #[serde(default)]
    pub domain: Patch<Domain>,
    #[serde(default)]
    pub industry: Patch<Name>,
    #[serde(default)]
    pub value_class: Patch<ValueClass>,
    #[serde(default)]
    pub tags: Patch<Tags>,
    #[serde(default)]
    pub owner_id: Patch<Uuid>,
    #[serde(default)]
    pub team: Patch<Team>,
}

pub async fn create(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<CreateCompany>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Companies).await?;
    let request = meta.request(&raw);
    let (owner_id, team) = owner_and_team(&api, &meta.caller, body.owner_id, body.team).await?;
    let id = Uuid::now_v7();
    let new = NewCompany {
        id,
        name: body.name,
        domain: body.domain,
        industry: body.industry,
        value_class: body.value_class,
        tags: body.tags,
        owner_id: Some(owner_id),
        team,
    };
    execute::<Company>(&api, &request, id, true, |_| {
        Ok(Command::Create(new.clone()))
    })
    .await
}

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeCompany>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Companies).await?;
    let request = meta.request(&raw);
    let new_owner = NewOwner::load(&api, body.owner_id.as_set().copied()).await?;
    let changes = CompanyChanges {
        name: body.name.0,
        domain: body.domain,
        industry: body.industry,
        value_class: body.value_class,
        tags: body.tags.or_empty(),
        owner_id: body.owner_id,
        team: body.team,
    };
    execute::<Company>(&api, &request, id, false, |company| {
        let mut changes = changes.clone();
        if let Some(owner) = &new_owner {
            let current = company.state.as_ref().and_then(|company| company.owner_id);
            changes.team = owner.team(current, &changes.team);
        }
        Ok(Command::Update(changes))
    })
    .await
}

/// Archives a company: it stays readable and in its history, and takes no further change.
pub async fn archive(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Companies).await?;
    let request = meta.request(&[]);
    execute::<Company>(&api, &request, id, false, |_| Ok(Command::Archive)).await
}
