//! `/v1/scores`: how much a contact or a company is worth, how engaged it is, what it costs to
//! serve and how likely it is to leave, each score with the components and the events that
//! explain it, from the `scoring` read model. Scores are customer data: one is read under the
//! same rule as the customer's record, a ranked list holds only customers the caller may see,
//! and both are logged before they are answered.

use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::access::AccessAction;
use domain::values::ValueClass;
use policy::{Action, Reach, Resource};
use records::{Collection, record_ref};
use scoring::{CustomerKind, CustomerScore, ScoreOrder, ScoringError};
use serde::Deserialize;
use uuid::Uuid;

use super::resource_of;
use crate::access::Accessor;
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path, Query};
use crate::state::ApiState;

const READ_MODEL: &str = "scoring";

impl From<ScoringError> for ApiError {
    fn from(error: ScoringError) -> Self {
        match error {
            ScoringError::BadLimit(_) => ApiError::invalid("limit", error.to_string()),
            ScoringError::Database { .. } => ApiError::Unavailable(error.to_string()),
            ScoringError::Unreadable(_) => ApiError::Internal(error.to_string()),
        }
    }
}

/// The customers a score route is about.
fn customer_kind(collection: Collection) -> Result<CustomerKind, ApiError> {
    match collection {
        Collection::Contacts => Ok(CustomerKind::Contact),
        Collection::Companies => Ok(CustomerKind::Company),
        _ => Err(ApiError::NotFound("collection")),
    }
}

/// `/v1/scores/<collection>/...`: the collection is the third segment.
fn scored_collection(route: &MatchedPath) -> Result<Collection, ApiError> {
    route
        .as_str()
        .split('/')
        .nth(3)
        .and_then(Collection::parse)
        .ok_or(ApiError::NotFound("collection"))
}

/// One customer's scores, with their components and the events behind them.
pub async fn customer_score(
    State(api): State<ApiState>,
    Accessor { caller, access }: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let collection = scored_collection(&route)?;
    let kind = customer_kind(collection)?;
    let resource = resource_of(collection);
    let asked = || vec![record_ref(collection, id)];
    api.authorize_any(&caller, &access, resource, Action::Read, asked())
        .await?;
    let records = super::reads::live_schema(&api, min_position).await?;
    let found = api
        .records
        .get(&records, collection, id)
        .await?
        .ok_or(ApiError::NotFound("record"))?;
    api.authorize(
        &caller,
        &access,
        resource,
        Action::Read,
        &found.ownership,
        asked(),
    )
    .await?;
    let schema = super::reads::schema_of(&api, READ_MODEL, min_position).await?;
    let mut score = api
        .scores
        .score(&schema, kind, id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("score"))?;
    if reads_no_deal(&api, &caller) {
        score = score.retain(|_| true, |score, _| score.without_deals());
    }
    Ok(Json(api.disclose(&access, score).await?).into_response())
}

/// What a ranked list asks for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankedQuery {
    /// `value` (the default), `engagement`, `touch_cost` or `churn_risk`.
    pub order: Option<ScoreOrder>,
    /// Only customers of this value class (A, B, C or D) in force.
    pub class: Option<ValueClass>,
    pub limit: Option<u32>,
    pub min_position: Option<u64>,
}

/// The customers the caller may see, highest score first.
pub async fn ranked_scores(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    query: Result<Query<RankedQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::List);
    let collection = scored_collection(&route)?;
    let kind = customer_kind(collection)?;
    let resource = resource_of(collection);
    api.authorize_any(&caller, &access, resource, Action::Read, Vec::new())
        .await?;
    let Query(query) = query?;
    let wanted = MinPosition(min_position.0.or(query.min_position));
    let schema = super::reads::schema_of(&api, READ_MODEL, wanted).await?;
    let visibility = api.policy.visibility(&caller.principal(), resource);
    let mut ranked = api
        .scores
        .ranked(
            &schema,
            kind,
            query.order.unwrap_or(ScoreOrder::Value),
            &visibility,
            query.class,
            query.limit.unwrap_or(scoring::DEFAULT_LIMIT),
            Utc::now(),
        )
        .await?;
    if reads_no_deal(&api, &caller) {
        ranked = ranked.retain(
            |_| true,
            |ranked, _| {
                ranked
                    .items
                    .iter_mut()
                    .for_each(CustomerScore::without_deals)
            },
        );
    }
    Ok(Json(api.disclose(&access, ranked).await?).into_response())
}

/// Whether the caller may read no deal at all (`support`, `marketing`): the value a customer's
/// won deals are worth is then withheld from its scores, as the deals are.
fn reads_no_deal(api: &ApiState, caller: &Caller) -> bool {
    api.policy
        .reach(&caller.principal(), Resource::Deals, Action::Read)
        == Reach::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contacts_and_companies_have_scores() {
        assert!(matches!(
            customer_kind(Collection::Contacts),
            Ok(CustomerKind::Contact)
        ));
        assert!(matches!(
            customer_kind(Collection::Companies),
            Ok(CustomerKind::Company)
        ));
        assert!(customer_kind(Collection::Deals).is_err());
    }
}
