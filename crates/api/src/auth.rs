//! Who is calling. A token the API issues is `crm_<user id>_<secret>`: the user's stream (the
//! record) holds only the SHA-256 of each token it was issued, so a token is checked by loading
//! one stream, and a revoked token or a deactivated user stops working within the cache's few
//! seconds. A token of another form (`CRM_ADMIN_TOKEN`, chosen by an operator) can only be the
//! bootstrap admin's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use domain::access::AccessAction;
use domain::user::User;
use domain::values::{Role, TokenHash, Username};
use uuid::Uuid;

use crate::access::access_of;
use crate::command::load;
use crate::problem::ApiError;
use crate::state::ApiState;

/// An authenticated user, as the handlers see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub team: Option<String>,
    /// What the caller's tokens may reach, for scoped (`service`) users.
    pub scopes: Vec<policy::Scope>,
}

impl Caller {
    /// The system itself (bootstrap, demo data), acting with every right.
    pub fn system() -> Caller {
        Caller {
            user_id: Uuid::nil(),
            username: "system".to_owned(),
            role: Role::Admin,
            team: None,
            scopes: Vec::new(),
        }
    }

    /// The actor recorded on every event this caller causes.
    pub fn actor(&self) -> String {
        if self.user_id.is_nil() {
            "system".to_owned()
        } else {
            format!("user:{}", self.user_id)
        }
    }

    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }
}

/// Recently authenticated callers by token hash. Bounded, and short-lived so that a revocation
/// takes effect quickly.
pub type CallerCache = moka::future::Cache<String, Caller>;

const CACHED_CALLERS: u64 = 100_000;
const CALLER_TTL: Duration = Duration::from_secs(5);

pub fn caller_cache() -> CallerCache {
    moka::future::Cache::builder()
        .max_capacity(CACHED_CALLERS)
        .time_to_live(CALLER_TTL)
        .support_invalidation_closures()
        .build()
}

/// A known user's failed authentications in this process, counted per minute. Each is logged as
/// an access of that user (the record of attempts on an account), up to [`LOGGED_FAILURES`] a
/// minute; beyond that an attempt is refused with 429 unlogged, so that a client sending bad
/// tokens cannot fill the log that must be kept forever. (A token holds 256 random bits: the
/// limit is not what stops guessing.)
#[derive(Clone)]
pub struct FailedAuthentications {
    windows: moka::future::Cache<Uuid, Arc<FailureWindow>>,
}

struct FailureWindow {
    opened: Instant,
    failures: AtomicU32,
}

pub const LOGGED_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl Default for FailedAuthentications {
    fn default() -> Self {
        FailedAuthentications {
            windows: moka::future::Cache::builder()
                .max_capacity(CACHED_CALLERS)
                .time_to_live(FAILURE_WINDOW)
                .build(),
        }
    }
}

impl FailedAuthentications {
    /// Counts a failure of `user_id`: `Ok` when it is to be logged, else how long until the
    /// next one will be.
    async fn count(&self, user_id: Uuid) -> Result<(), Duration> {
        let window = self
            .windows
            .get_with(user_id, async {
                Arc::new(FailureWindow {
                    opened: Instant::now(),
                    failures: AtomicU32::new(0),
                })
            })
            .await;
        let earlier = window.failures.fetch_add(1, Ordering::Relaxed);
        if earlier < LOGGED_FAILURES {
            return Ok(());
        }
        if earlier == LOGGED_FAILURES {
            tracing::warn!(%user_id, "failed authentications beyond the logged limit, refused unlogged for the rest of the minute");
        }
        Err(FAILURE_WINDOW.saturating_sub(window.opened.elapsed()))
    }
}

/// The username of the first admin, created at first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// A new secret token for `user_id`, to hand out once.
pub fn issue_token(user_id: Uuid) -> Result<String, ApiError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|error| ApiError::Internal(format!("no randomness for a token: {error}")))?;
    Ok(format!("crm_{}_{}", user_id.simple(), hex::encode(secret)))
}

/// The user an issued token names; `None` for a token of another form.
fn user_of_token(token: &str) -> Option<Uuid> {
    let rest = token.strip_prefix("crm_")?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| Uuid::try_parse(id).ok()).flatten()
}

/// The token of `Authorization: Bearer <token>`; the scheme's name is case-insensitive (RFC 9110).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &ApiState) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthenticated)?;
        match check_token(api, token.trim()).await {
            Ok(caller) => Ok(caller),
            Err(Refused::KnownUser { user_id, reason }) => {
                if let Err(retry_after) = api.failed_authentications.count(user_id).await {
                    return Err(ApiError::TooMany {
                        message: format!(
                            "more than {LOGGED_FAILURES} failed authentications for this user \
                             within a minute"
                        ),
                        retry_after,
                    });
                }
                let access = access_of(parts, None, AccessAction::Authenticate);
                api.access_log
                    .unauthenticated(&access, user_id, reason)
                    .await?;
                Err(ApiError::Unauthenticated)
            }
            Err(Refused::Error(error)) => Err(error),
        }
    }
}

/// Why a token was refused: a failure naming a known user is logged as an access.
enum Refused {
    KnownUser { user_id: Uuid, reason: &'static str },
    Error(ApiError),
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Refused::Error(error)
    }
}

impl From<domain::DomainError> for Refused {
    fn from(error: domain::DomainError) -> Self {
        Refused::Error(error.into())
    }
}

/// The caller a bearer token stands for, or 401.
pub async fn authenticate(api: &ApiState, token: &str) -> Result<Caller, ApiError> {
    check_token(api, token)
        .await
        .map_err(|refused| match refused {
            Refused::KnownUser { .. } => ApiError::Unauthenticated,
            Refused::Error(error) => error,
        })
}

async fn check_token(api: &ApiState, token: &str) -> Result<Caller, Refused> {
    if token.is_empty() {
        return Err(ApiError::Unauthenticated.into());
    }
    let hash = TokenHash::of(token);
    if let Some(caller) = api.callers.get(hash.as_str()).await {
        return Ok(caller);
    }
    let user_id = match user_of_token(token) {
        Some(user_id) => user_id,
        None => {
            let admin = Username::parse(BOOTSTRAP_ADMIN)?;
            crate::v1::users::user_named(api, &admin)
                .await?
                .ok_or(ApiError::Unauthenticated)?
        }
    };
    let user = load::<User>(api, user_id).await?.state;
    let Some(user) = user else {
        return Err(ApiError::Unauthenticated.into());
    };
    if !user.active {
        return Err(Refused::KnownUser {
            user_id,
            reason: "the user is deactivated",
        });
    }
    if !user.holds(&hash) {
        return Err(Refused::KnownUser {
            user_id,
            reason: "the token is not one the user holds",
        });
    }
    let caller = Caller {
        user_id,
        username: user.username.as_str().to_owned(),
        role: user.role,
        team: user.team.as_ref().map(|team| team.as_str().to_owned()),
        scopes: user
            .scopes
            .iter()
            .filter_map(|scope| policy::Scope::parse(scope).ok())
            .collect(),
    };
    api.callers
        .insert(hash.as_str().to_owned(), caller.clone())
        .await;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_names_its_user() {
        let user = Uuid::now_v7();
        let token = issue_token(user).unwrap();
        assert_eq!(user_of_token(&token), Some(user));
        assert!(token.len() > domain::user::MIN_TOKEN_CHARS);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t", "bearer t", "BEARER t"] {
            assert_eq!(bearer_token(value), Some("t"), "{value}");
        }
        for value in ["Basic t", "Bearert", "t"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn tokens_of_another_form_name_no_user() {
        for token in [
            "",
            "crm_",
            "crm_x_y",
            "bearer",
            &format!("crm_{}_abc", Uuid::nil()),
        ] {
            assert_eq!(user_of_token(token), None, "{token}");
        }
    }
}
