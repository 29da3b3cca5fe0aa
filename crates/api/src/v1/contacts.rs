//! `/v1/contacts`: create and change contacts (people).

use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::company::Company;
use domain::contact::{Command, Contact, ContactChanges, NewContact, TrackedUrl};
use domain::values::{Email, Name, Phone, Tags, Team};
use domain::{Patch, Replace};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::{NewOwner, owner_and_team};
use crate::command::{CommandMeta, Committed, execute};
use crate::guard::ensure_linked;
use crate::problem::ApiError;
use crate::request::{JsonBody, Path};
use crate::state::ApiState;
use policy::Resource;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub first_name: Name,
    pub last_name: Name,
    /// The primary e-mail address.
    pub email: Option<Email>,
    /// Further addresses, after `email`.
    #[serde(default)]
    pub emails: Vec<Email>,
    pub phone: Option<Phone>,
    #[serde(default)]
    pub phones: Vec<Phone>,
    pub company_id: Option<Uuid>,
    pub title: Option<Name>,
    #[serde(default)]
    pub tags: Tags,
    /// Defaults to the caller.
    pub owner_id: Option<Uuid>,
    /// Defaults to the owner's team.
    pub team: Option<Team>,
}

/// Named fields change; `null` clears an optional one (empties a list) and is refused for a
/// required one; absent fields stay. `email` and `phone` replace the whole list with one entry;
/// `emails` and `phones` replace it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeContact {
    #[serde(default)]
    pub first_name: Replace<Name>,
    #[serde(default)]
    pub last_name: Replace<Name>,
    #[serde(default)]
    pub email: Patch<Email>,
    #[serde(default)]
    pub emails: Patch<Vec<Email>>,
    #[serde(default)]
    pub phone: Patch<Phone>,
    #[serde(default)]
    pub phones: Patch<Vec<Phone>>,
    #[serde(default)]
    pub title: Patch<Name>,
    #[serde(default)]
    pub company_id: Patch<Uuid>,
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
    JsonBody { value: body, raw }: JsonBody<CreateContact>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Contacts).await?;
    let request = meta.request(&raw);
    if let Some(company_id) = body.company_id {
        ensure_linked::<Company>(&api, &request, company_id, "company_id").await?;
    }
    either_or("email", body.email.is_some(), !body.emails.is_empty())?;
    either_or("phone", body.phone.is_some(), !body.phones.is_empty())?;
    let (owner_id, team) = owner_and_team(&api, &meta.caller, body.owner_id, body.team).await?;
    let id = Uuid::now_v7();
    let new = NewContact {
        id,
        first_name: body.first_name,
        last_name: body.last_name,
        emails: body.email.into_iter().chain(body.emails).collect(),
        phones: body.phone.into_iter().chain(body.phones).collect(),
        title: body.title,
        company_id: body.company_id,
        tags: body.tags,
        owner_id: Some(owner_id),
        team,
    };
    execute::<Contact>(&api, &request, id, true, |_| {
        Ok(Command::Create(new.clone()))
    })
    .await
}

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeContact>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Contacts).await?;
    let request = meta.request(&raw);
    if let Patch::Set(company_id) = body.company_id {
        ensure_linked::<Company>(&api, &request, company_id, "company_id").await?;
    }
    let new_owner = NewOwner::load(&api, body.owner_id.as_set().copied()).await?;
    either_or("email", body.email.is_given(), body.emails.is_given())?;
    either_or("phone", body.phone.is_given(), body.phones.is_given())?;
    let changes = ContactChanges {
        first_name: body.first_name.0,
        last_name: body.last_name.0,
        emails: list_change(body.email, body.emails),
        phones: list_change(body.phone, body.phones),
        title: body.title,
        company_id: body.company_id,
        tags: body.tags.or_empty(),
        owner_id: body.owner_id,
        team: body.team,
    };
    execute::<Contact>(&api, &request, id, false, |contact| {
        let mut changes = changes.clone();
        if let Some(owner) = &new_owner {
            let current = contact.state.as_ref().and_then(|contact| contact.owner_id);
            changes.team = owner.team(current, &changes.team);
        }
        Ok(Command::Update(changes))
    })
    .await
}

/// A click on a tracked link, as a marketing tool reports it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordLinkClick {
    pub url: TrackedUrl,
    /// The campaign whose message held the link.
    pub campaign_id: Option<Uuid>,
    /// When the contact clicked; now by default.
    pub clicked_at: Option<DateTime<Utc>>,
}

/// Records that the contact clicked a tracked link; engagement scores count it.
pub async fn record_link_click(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<RecordLinkClick>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Contacts).await?;
    let request = meta.request(&raw);
    let clicked_at = body.clicked_at.unwrap_or_else(Utc::now);
    execute::<Contact>(&api, &request, id, false, |_| {
        Ok(Command::RecordLinkClick {
            url: body.url.clone(),
            campaign_id: body.campaign_id,
            clicked_at,
        })
    })
    .await
}

/// Refuses a body that gives both a field's single form (`email`) and its list (`emails`): one
/// of them would be dropped.
fn either_or(single: &str, single_given: bool, list_given: bool) -> Result<(), ApiError> {
    if single_given && list_given {
        return Err(ApiError::invalid(
            single,
            format!("give {single} or {single}s, not both"),
        ));
    }
    Ok(())
}

fn list_change<T>(single: Patch<T>, list: Patch<Vec<T>>) -> Option<Vec<T>> {
    let single = match single {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(value) => Patch::Set(vec![value]),
    };
    list.or_empty().or_else(|| single.or_empty())
}
