//! `/v1/users`: people and services that call the API, with their role and team, and the first
//! admin. A username is unique because it is claimed in its own stream in the same append that
//! creates the user: the store's "stream must not exist" check does the rest, across processes.

use accesslog::Withheld;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::access::RecordRef;
use domain::user::{self, NewUser, User};
use domain::username::{self, UsernameClaim};
use domain::values::{Role, Team, Username};
use domain::{Aggregate, Context, Patch, Replace};
use eventstore::{Appended, ExpectedVersion, StoreError, StreamAppend, StreamRef};
use policy::Action;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::Accessor;
use crate::auth::{Caller, issue_token};
use crate::command::{
    Attempt, CommandMeta, CommandRequest, Committed, execute, execute_all, new_events, retrying,
    with_position,
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
        let Some(user) = crate::command::load::<User>(api, admin).await?.state else {
            return Ok(None);
        };
        if !user.active {
            tracing::warn!(
                "the first admin was deactivated: CRM_ADMIN_TOKEN authenticates no one (an \
                 admin makes another)"
            );
            return Ok(None);
        }
        if user.holds(&hash) {
            return Ok(None);
        }
        // A token the admin held before and lost was revoked on purpose (a rotation over HTTP):
        // a restart with the variable still set must not bring it back.
        let stream = StreamRef::new(User::STREAM_TYPE, admin);
        let revoked = api
            .reader
            .load_stream(&stream, 0)
            .await?
            .iter()
            .any(|event| {
                event.event_type == "token_issued" && event.payload["token_hash"] == hash.as_str()
            });
        if revoked {
            tracing::warn!(
                "CRM_ADMIN_TOKEN names a token the admin no longer holds (it was revoked): it is \
                 not issued again; set a new one, or none"
            );
            return Ok(None);
        }
        // A new CRM_ADMIN_TOKEN replaces the admin's tokens: rotating the variable must end
        // the old one, not add a second.
        execute_all::<User>(api, &request, admin, false, |loaded| {
            Ok(issuing(&loaded.state, &token, true))
        })
        .await?;
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
    forget_callers(&api, id);
    Ok(committed)
}

/// A user's role and team change (admin); `null` for `team` takes the user out of any team. An
/// admin cannot change their own role, so that some admin always remains.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    #[serde(default)]
    pub role: Replace<Role>,
    #[serde(default)]
    pub team: Patch<Team>,
}

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeUser>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, policy::Resource::Users).await?;
    if id == meta.caller.user_id && body.role.0.is_some() {
        return Err(ApiError::Conflict {
            detail: "a user cannot change their own role".to_owned(),
            current_version: None,
        });
    }
    let request = meta.request(&raw);
    let committed = execute_all::<User>(&api, &request, id, false, |loaded| {
        let current = loaded.state.as_ref().and_then(|user| user.team.clone());
        let role = body.role.0.map(|role| user::Command::ChangeRole { role });
        let team = body.team.is_given().then(|| user::Command::ChangeTeam {
            team: body.team.apply(&current),
        });
        Ok(role.into_iter().chain(team).collect())
    })
    .await?;
    forget_callers(&api, id);
    Ok(committed)
}

/// What to do with the user's other tokens when a new one is issued.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    /// Revoke every token the user holds now, in the same change: a rotation.
    #[serde(default)]
    pub revoke_others: bool,
}

/// A token issued to a user: shown this once, as at the user's creation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IssuedTokenAnswer {
    pub id: Uuid,
    pub version: u64,
    pub position: u64,
    pub token: String,
}

/// Issues a user a new token (admin): one lost, or a rotation that revokes the others.
pub async fn issue(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<IssueToken>,
) -> Result<Response, ApiError> {
    meta.may_write(&api, policy::Resource::Users).await?;
    if meta.key.0.is_some() {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "not accepted here: a token is shown once, so a replay could not answer it",
        ));
    }
    let request = meta.request(&raw);
    let token = issue_token(id)?;
    let committed = execute_all::<User>(&api, &request, id, false, |loaded| {
        Ok(issuing(&loaded.state, &token, body.revoke_others))
    })
    .await?;
    if body.revoke_others {
        forget_callers(&api, id);
    }
    let answer = IssuedTokenAnswer {
        id,
        version: committed.version,
        position: committed.position,
        token,
    };
    Ok(with_position(
        StatusCode::CREATED,
        answer.position,
        Json(answer),
    ))
}

/// Issues `token` to the user, revoking every token it holds first when `revoke_others`.
fn issuing(user: &Option<User>, token: &str, revoke_others: bool) -> Vec<user::Command> {
    let revoked = user
        .iter()
        .filter(|_| revoke_others)
        .flat_map(|user| &user.tokens)
        .map(|held| user::Command::RevokeToken {
            token_hash: held.token_hash.clone(),
        });
    let issued = user::Command::IssueToken {
        token: token.to_owned(),
    };
    revoked.chain([issued]).collect()
}

/// A user as an admin sees it: who, what role and team, and when each token was issued (never
/// the tokens, nor their hashes).
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserView {
    pub id: Uuid,
    pub version: u64,
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub tokens_issued_at: Vec<chrono::DateTime<chrono::Utc>>,
}

/// `GET /v1/users/{id}` (admin), from the user's stream; logged like every read.
pub async fn get(
    State(api): State<ApiState>,
    accessor: Accessor,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor;
    let asked = vec![RecordRef {
        collection: "users".to_owned(),
        id,
    }];
    api.authorize_any(
        &caller,
        &access,
        policy::Resource::Users,
        Action::Read,
        asked.clone(),
    )
    .await?;
    let loaded = crate::command::load::<User>(&api, id).await?;
    let user = loaded.state.ok_or(ApiError::NotFound("user"))?;
    let view = UserView {
        id,
        version: loaded.version,
        username: user.username,
        role: user.role,
        team: user.team,
        scopes: user.scopes,
        active: user.active,
        tokens_issued_at: user.tokens.iter().map(|token| token.issued_at).collect(),
    };
    let view = api.disclose(&access, Withheld::new(view, asked)).await?;
    Ok(Json(view).into_response())
}

/// The user's cached callers go at once in this process (other API processes drop theirs within
/// the cache's few seconds): a changed role, team or token set applies to the next request.
fn forget_callers(api: &ApiState, id: Uuid) {
    if let Err(error) = api
        .callers
        .invalidate_entries_if(move |_, caller| caller.user_id == id)
    {
        tracing::warn!(%error, "a user's callers stay cached until they expire");
    }
}
