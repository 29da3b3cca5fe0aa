//! `/v1/users`: people and services that call the API, with their role and team, and the first
//! admin. A username is unique because it is claimed in its own stream in the same append that
//! creates the user: the store's "stream must not exist" check does the rest, across processes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use domain::user::{self, NewUser, User};
use domain::username::{self, UsernameClaim};
use domain::values::{Role, Team, Username};
use domain::{Aggregate, Context};
use eventstore::{Appended, ExpectedVersion, StoreError, StreamAppend, StreamRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, issue_token};
use crate::command::{
    Attempt, CommandMeta, CommandRequest, Committed, execute, new_events, retrying, with_position,
};
use crate::problem::ApiError;
use crate::request::{IdempotencyKey, IfMatch, JsonBody, NoBody, Path};
use crate::state::ApiState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    /// For the `service` role: what its tokens may reach, e.g. `contacts:read`, `deals:write`,
    /// `*:read` (write includes read). A service user without scopes reaches nothing.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A new user and its first token. The token is shown this once; the store keeps its hash only.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedUser {
    pub id: Uuid,
    pub version: u64,
    pub position: u64,
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    pub scopes: Vec<String>,
    pub token: String,
}

pub async fn create(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<CreateUser>,
) -> Result<Response, ApiError> {
    meta.may_write(&api, policy::Resource::Users).await?;
    if meta.key.0.is_some() {
        // A replay could not show the token again (only its hash is kept), so a retried
        // creation would answer without one; refuse the key rather than answer half.
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "not accepted here: the token of a new user is shown once; a retry fails with 409",
        ));
    }
    let request = meta.request(&raw);
    let new = NewUser {
        id: Uuid::now_v7(),
        username: body.username,
        role: body.role,
        team: body.team,
        scopes: checked_scopes(body.scopes)?,
    };
    let (token, appended) = create_user(&api, &request, new.clone(), None).await?;
    let committed = Committed::of(&appended, &StreamRef::new(User::STREAM_TYPE, new.id), true);
    let created = CreatedUser {
        id: new.id,
        version: committed.version,
        position: committed.position,
        username: new.username,
        role: new.role,
        team: new.team,
        scopes: new.scopes,
        token,
    };
    Ok(with_position(
        StatusCode::CREATED,
        created.position,
        Json(created),
    ))
}

/// Creates a user holding one token (the one given, or a new one) and claims its username, in
/// one append. Returns the token.
pub async fn create_user(
    api: &ApiState,
    request: &CommandRequest<'_>,
    new: NewUser,
    token: Option<String>,
) -> Result<(String, Appended), ApiError> {
    let token = match token {
        Some(token) => token,
        None => issue_token(new.id)?,
    };
    let context = request.context();
    let appended = retrying(api, request, || async {
        let events = decide_new_user(&new, &token, &context)?;
        let claim = UsernameClaim::decide(
            &None,
            username::Command::Claim { user_id: new.id },
            &context,
        )?;
        let streams = vec![
            StreamAppend::events(
                StreamRef::new(User::STREAM_TYPE, new.id),
                ExpectedVersion::NoStream,
                new_events(&events, request),
            ),
            StreamAppend::events(
                StreamRef::new(
                    UsernameClaim::STREAM_TYPE,
                    username::stream_id(&new.username),
                ),
                ExpectedVersion::NoStream,
                new_events(&claim, request),
            ),
        ];
        match request.append(api, streams).await {
            Ok(appended) => Ok(Attempt::Appended(appended)),
            Err(StoreError::Conflict { .. }) => Err(ApiError::Conflict {
                detail: format!("the username {} is taken", new.username),
                current_version: None,
            }),
            Err(error) => Err(error.into()),
        }
    })
    .await?;
    match appended {
        Attempt::Appended(appended) => Ok((token, appended)),
        Attempt::Unchanged { .. } => Err(ApiError::Internal("a new user always appends".into())),
    }
}

fn decide_new_user(
    new: &NewUser,
    token: &str,
    context: &Context,
) -> Result<Vec<user::Event>, ApiError> {
    let mut events = User::decide(&None, user::Command::Create(new.clone()), context)?;
    let created = events.iter().fold(None, User::evolve);
    events.extend(User::decide(
        &created,
        user::Command::IssueToken {
            token: token.to_owned(),
        },
        context,
    )?);
    Ok(events)
}

/// The id of the user holding `username`, if it is claimed.
pub async fn user_named(api: &ApiState, name: &Username) -> Result<Option<Uuid>, ApiError> {
    let claim = crate::command::load::<UsernameClaim>(api, username::stream_id(name)).await?;
    Ok(claim.state)
}

/// Makes sure the first admin exists. With `token` (`CRM_ADMIN_TOKEN`), that token authenticates
/// the admin; without, a new admin gets a new token. Returns a token to show the operator when
/// one was made here.
pub async fn bootstrap_admin(
    api: &ApiState,
    token: Option<String>,
) -> Result<Option<String>, ApiError> {
    let system = Caller::system();
    let request = CommandRequest::new(&system, IfMatch(None), IdempotencyKey(None), "", &[]);
    let name = Username::parse(crate::auth::BOOTSTRAP_ADMIN)?;
    if let Some(admin) = user_named(api, &name).await? {
        let Some(token) = token else {
            return Ok(None);
        };
        let hash = domain::values::TokenHash::of(&token);
        let holds = crate::command::load::<User>(api, admin)
            .await?
            .state
            .is_some_and(|user| user.holds(&hash));
        if !holds {
            crate::command::execute::<User>(api, &request, admin, false, |_| {
                Ok(user::Command::IssueToken {
                    token: token.clone(),
                })
            })
            .await?;
        }
        Ok(None)
    } else {
        let new = NewUser {
            id: Uuid::now_v7(),
            username: name,
            role: Role::Admin,
            team: None,
            scopes: Vec::new(),
        };
        let given = token.is_some();
        match create_user(api, &request, new, token).await {
            Ok((token, _)) => Ok((!given).then_some(token)),
            // Another process made the admin at the same moment.
            Err(ApiError::Conflict { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Creates a user as the system (for `crm user add`), returning its id and its first token.
pub async fn add_user(
    api: &ApiState,
    username: &str,
    role: &str,
    team: Option<&str>,
    scopes: Vec<String>,
) -> Result<(Uuid, String), ApiError> {
    let system = Caller::system();
    let request = CommandRequest::new(&system, IfMatch(None), IdempotencyKey(None), "", &[]);
    let new = NewUser {
        id: Uuid::now_v7(),
        username: Username::parse(username).map_err(|error| error.within("username"))?,
        role: role
            .parse()
            .map_err(|error: domain::DomainError| error.within("role"))?,
        team: team
            .map(Team::parse)
            .transpose()
            .map_err(|error| error.within("team"))?,
        scopes: checked_scopes(scopes)?,
    };
    let (token, _) = create_user(api, &request, new.clone(), None).await?;
    Ok((new.id, token))
}

/// Scopes as the policy reads them, each checked and written the one way it prints.
fn checked_scopes(scopes: Vec<String>) -> Result<Vec<String>, ApiError> {
    scopes
        .iter()
        .enumerate()
        .map(|(index, scope)| {
            policy::Scope::parse(scope)
                .map(|scope| scope.to_string())
                .map_err(|error| ApiError::invalid(format!("scopes[{index}]"), error.to_string()))
        })
        .collect()
}

/// Deactivates a user (admin): every token stops working, and the user takes no more commands.
/// An admin cannot deactivate themselves, so that some admin always remains.
pub async fn deactivate(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, policy::Resource::Users).await?;
    if id == meta.caller.user_id {
        return Err(ApiError::Conflict {
            detail: "a user cannot deactivate themselves".to_owned(),
            current_version: None,
        });
    }
    let request = meta.request(&[]);
    let committed =
        execute::<User>(&api, &request, id, false, |_| Ok(user::Command::Deactivate)).await?;
    // At once in this process; other API processes within the cache's few seconds.
    if let Err(error) = api
        .callers
        .invalidate_entries_if(move |_, caller| caller.user_id == id)
    {
        tracing::warn!(%error, "a deactivated user's tokens stay cached until they expire");
    }
    Ok(committed)
}
