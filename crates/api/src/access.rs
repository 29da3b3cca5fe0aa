//! Who may see and change what, enforced on every route, and the log of every disclosure.
//!
//! The rules themselves are data ([`policy::Policy`], from the settings); this module applies
//! them: a refusal is logged as an access (outcome `denied`) before the 403 goes out, and data
//! leaves only through [`ApiState::disclose`], which logs the access first and answers 503 when
//! it cannot. Both logs go through the appender, in the group commit with everything else.

use std::net::SocketAddr;

use accesslog::{Access, AccessError, Withheld};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use domain::access::{AccessAction, RecordRef};
use policy::{Action, Decision, Ownership, Principal, Reach, Resource};
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::ApiState;

/// The header a client names the purpose of a read with.
pub const PURPOSE_HEADER: &str = "x-crm-purpose";
/// The header a client (or a proxy) names the request with; one is made up when absent.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID: usize = 128;

/// A request as the access log and the policy see it: the caller, and everything an access
/// event records besides the records.
pub struct Accessor {
    pub caller: Caller,
    pub access: Access,
}

impl FromRequestParts<ApiState> for Accessor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &ApiState) -> Result<Accessor, ApiError> {
        let caller = Caller::from_request_parts(parts, api).await?;
        let access = access_of(parts, Some(&caller), AccessAction::Read);
        Ok(Accessor { caller, access })
    }
}

impl Accessor {
    /// The same request, recorded as another kind of access.
    pub fn doing(mut self, action: AccessAction) -> Accessor {
        self.access.action = action;
        self
    }
}

/// What an access event says about the request in `parts`.
pub(crate) fn access_of(parts: &Parts, caller: Option<&Caller>, action: AccessAction) -> Access {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path(), MatchedPath::as_str);
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let request_id = header(REQUEST_ID_HEADER)
        .filter(|id| id.len() <= MAX_REQUEST_ID)
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    Access {
        actor: caller.map_or_else(|| "anonymous".to_owned(), Caller::actor),
        role: caller.map(|caller| caller.role),
        action,
        route: format!("{} {route}", parts.method),
        purpose: header(PURPOSE_HEADER).map(str::to_owned),
        request_id,
        client: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.to_string()),
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::NotRecorded(_) => ApiError::Unavailable(error.to_string()),
            AccessError::WrongProof => ApiError::Internal(error.to_string()),
        }
    }
}

impl Caller {
    /// The caller as the policy sees it.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            role: self.role,
            team: self.team.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

impl ApiState {
    /// Lets `caller` act on a record owned as `ownership`, or logs the refusal (naming
    /// `records`, what was asked for) and answers 403.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        access: &Access,
        resource: Resource,
        action: Action,
        ownership: &Ownership,
        records: Vec<RecordRef>,
    ) -> Result<(), ApiError> {
        match self
            .policy
            .decide(&caller.principal(), resource, action, ownership)
        {
            Decision::Allow => Ok(()),
            Decision::Deny { reason } => Err(self.refuse(access, records, reason).await),
        }
    }

    /// Lets `caller` reach `resource` at all (some of it), or logs the refusal and answers 403.
    pub(crate) async fn authorize_any(
        &self,
        caller: &Caller,
        access: &Access,
        resource: Resource,
        action: Action,
        records: Vec<RecordRef>,
    ) -> Result<(), ApiError> {
        if self.policy.reach(&caller.principal(), resource, action) > Reach::None {
            return Ok(());
        }
        let reason = format!(
            "the {} role may not {} {}",
            caller.role,
            action.as_str(),
            resource.as_str()
        );
        Err(self.refuse(access, records, reason).await)
    }

    /// Logs a refused attempt; the error to answer with (503 if even that cannot be logged).
    pub(crate) async fn refuse(
        &self,
        access: &Access,
        records: Vec<RecordRef>,
        reason: String,
    ) -> ApiError {
        match self.access_log.denied(access, records, &reason).await {
            Ok(_) => ApiError::Forbidden(reason),
            Err(error) => error.into(),
        }
    }

    /// Logs the access to `withheld`, then opens it: the only way customer data leaves.
    pub(crate) async fn disclose<T>(
        &self,
        access: &Access,
        withheld: Withheld<T>,
    ) -> Result<T, ApiError> {
        Ok(self.access_log.disclose(access, withheld).await?)
    }
}
