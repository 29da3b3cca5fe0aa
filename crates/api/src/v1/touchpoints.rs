//! `/v1/activities`, `/v1/tasks`, `/v1/cases`: every touchpoint with a customer, the work it
//! leaves to do, and the service cases customers open.

use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::activity::{self, Activity, ActivityKind, Direction, NewActivity};
use domain::case::{self, Case, CaseStatus, NewCase, Priority};
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::task::{self, NewTask, Task};
use domain::values::{Name, Text};
use domain::{Patch, Replace};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::ensure_user;
use crate::command::{CommandMeta, CommandRequest, Committed, execute, execute_all};
use crate::guard::ensure_linked;
use crate::problem::ApiError;
use crate::request::{JsonBody, NoBody, Path};
use crate::state::ApiState;
use policy::Resource;

/// The records a touchpoint or a task is about; each named one must exist.
#[derive(Debug, Clone, Copy, Default)]
struct Links {
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

async fn check_links(
    api: &ApiState,
    request: &CommandRequest<'_>,
    links: Links,
) -> Result<(), ApiError> {
    if let Some(id) = links.contact_id {
        ensure_linked::<Contact>(api, request, id, "contact_id").await?;
    }
    if let Some(id) = links.company_id {
        ensure_linked::<Company>(api, request, id, "company_id").await?;
    }
    if let Some(id) = links.deal_id {
        ensure_linked::<Deal>(api, request, id, "deal_id").await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordActivity {
    pub kind: ActivityKind,
    pub subject: Name,
    pub body: Option<Text>,
    /// In the past: logged; in the future: scheduled.
    pub occurred_at: DateTime<Utc>,
    pub duration_minutes: Option<u16>,
    pub direction: Option<Direction>,
    pub outcome: Option<Name>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteActivity {
    pub occurred_at: Option<DateTime<Utc>>,
    pub outcome: Option<Name>,
    pub duration_minutes: Option<u16>,
}

pub async fn record_activity(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<RecordActivity>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Activities).await?;
    let request = meta.request(&raw);
    check_links(
        &api,
        &request,
        Links {
            contact_id: body.contact_id,
            company_id: body.company_id,
            deal_id: body.deal_id,
        },
    )
    .await?;
    let id = Uuid::now_v7();
    let new = NewActivity {
        id,
        kind: body.kind,
        subject: body.subject,
        body: body.body,
        direction: body.direction,
        duration_minutes: body.duration_minutes,
        outcome: body.outcome,
        occurred_at: body.occurred_at,
        contact_id: body.contact_id,
        company_id: body.company_id,
        deal_id: body.deal_id,
    };
    execute::<Activity>(&api, &request, id, true, |_| {
        Ok(activity::Command::Record(new.clone()))
    })
    .await
}

pub async fn complete_activity(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<CompleteActivity>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Activities).await?;
    let request = meta.request(&raw);
    execute::<Activity>(&api, &request, id, false, |_| {
        Ok(activity::Command::Complete {
            occurred_at: body.occurred_at,
            outcome: body.outcome.clone(),
            duration_minutes: body.duration_minutes,
        })
    })
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub title: Name,
    pub description: Option<Text>,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

pub async fn create_task(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<CreateTask>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Tasks).await?;
    let request = meta.request(&raw);
    let assignee = ensure_user(&api, body.assignee_id, "assignee_id").await?;
    check_links(
        &api,
        &request,
        Links {
            contact_id: body.contact_id,
            company_id: body.company_id,
            deal_id: body.deal_id,
        },
    )
    .await?;
    let id = Uuid::now_v7();
    let new = NewTask {
        id,
        title: body.title,
        description: body.description,
        due_at: body.due_at,
        assignee_id: body.assignee_id,
        team: assignee.team,
        contact_id: body.contact_id,
        company_id: body.company_id,
        deal_id: body.deal_id,
    };
    execute::<Task>(&api, &request, id, true, |_| {
        Ok(task::Command::Create(new.clone()))
    })
    .await
}

/// A pending task's assignee or due time change; absent fields stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeTask {
    #[serde(default)]
    pub assignee_id: Replace<Uuid>,
    #[serde(default)]
    pub due_at: Replace<DateTime<Utc>>,
}

pub async fn change_task(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeTask>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Tasks).await?;
    let request = meta.request(&raw);
    let assignee = match body.assignee_id.0 {
        Some(id) => Some((id, ensure_user(&api, id, "assignee_id").await?.team)),
        None => None,
    };
    execute_all::<Task>(&api, &request, id, false, |_| {
        let reassign = assignee
            .clone()
            .map(|(assignee_id, team)| task::Command::Reassign { assignee_id, team });
        let reschedule = body
            .due_at
            .0
            .map(|due_at| task::Command::Reschedule { due_at });
        Ok(reassign.into_iter().chain(reschedule).collect())
    })
    .await
}

pub async fn complete_task(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Tasks).await?;
    let request = meta.request(&[]);
    execute::<Task>(&api, &request, id, false, |_| Ok(task::Command::Complete)).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    pub subject: Name,
    pub description: Option<Text>,
    pub contact_id: Uuid,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCaseStatus {
    pub status: CaseStatus,
}

pub async fn open_case(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<OpenCase>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Cases).await?;
    let request = meta.request(&raw);
    ensure_linked::<Contact>(&api, &request, body.contact_id, "contact_id").await?;
    let team = match body.assignee_id {
        Some(assignee) => ensure_user(&api, assignee, "assignee_id").await?.team,
        None => None,
    };
    let id = Uuid::now_v7();
    let new = NewCase {
        id,
        subject: body.subject,
        description: body.description,
        contact_id: body.contact_id,
        priority: body.priority,
        assignee_id: body.assignee_id,
        team,
    };
    execute::<Case>(&api, &request, id, true, |_| {
        Ok(case::Command::Create(new.clone()))
    })
    .await
}

pub async fn change_case_status(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeCaseStatus>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Cases).await?;
    let request = meta.request(&raw);
    execute::<Case>(&api, &request, id, false, |_| {
        Ok(case::Command::ChangeStatus {
            status: body.status,
        })
    })
    .await
}

/// A case handed to someone else (or to nobody, with `null`), or its priority changed; absent
/// fields stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCase {
    #[serde(default)]
    pub assignee_id: Patch<Uuid>,
    #[serde(default)]
    pub priority: Replace<Priority>,
}

pub async fn change_case(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeCase>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Cases).await?;
    let request = meta.request(&raw);
    let team = match body.assignee_id.as_set() {
        Some(assignee) => ensure_user(&api, *assignee, "assignee_id").await?.team,
        None => None,
    };
    execute_all::<Case>(&api, &request, id, false, |_| {
        let assign = body.assignee_id.is_given().then(|| case::Command::Assign {
            assignee_id: body.assignee_id.as_set().copied(),
            team: team.clone(),
        });
        let priority = body
            .priority
            .0
            .map(|priority| case::Command::ChangePriority { priority });
        Ok(assign.into_iter().chain(priority).collect())
    })
    .await
}

/// Why a scheduled activity will not take place.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelActivity {
    pub reason: Option<Text>,
}

/// Cancels a scheduled activity: it stays in the history, and never counts as a touchpoint.
pub async fn cancel_activity(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<CancelActivity>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Activities).await?;
    let request = meta.request(&raw);
    execute::<Activity>(&api, &request, id, false, |_| {
        Ok(activity::Command::Cancel {
            reason: body.reason.clone(),
        })
    })
    .await
}
