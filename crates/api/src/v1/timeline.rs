//! `GET /v1/contacts/{id}/timeline` and `GET /v1/companies/{id}/timeline`: every touchpoint and
//! change of a customer and of its deals, tasks and cases, newest first: the "pick up where we
//! left off" view on a call. From the `timeline` read model.
//!
//! The customer is read under the same rule as its record, and the timeline holds entries only
//! of the collections the caller may read (a support agent sees a company's cases, not its
//! deals). Each page is logged, naming every record it shows, before it is answered.

use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::{AccessAction, RecordRef};
use policy::{Action, Reach};
use records::{Collection, record_ref};
use serde::Deserialize;
use timeline::{Customer, EntryKind, PageRequest, TimelineError, TimelineFilter};
use uuid::Uuid;

use super::reads::collection_of;
use super::resource_of;
use crate::access::Accessor;
use crate::problem::ApiError;
use crate::request::{MinPosition, Path, Query};
use crate::state::ApiState;

const READ_MODEL: &str = "timeline";

impl From<TimelineError> for ApiError {
    fn from(error: TimelineError) -> Self {
        match error {
            TimelineError::BadCursor => ApiError::invalid("cursor", error.to_string()),
            TimelineError::BadLimit(_) => ApiError::invalid("limit", error.to_string()),
            TimelineError::BadRange => ApiError::invalid("to", error.to_string()),
            TimelineError::Database { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

/// The filters and page of a timeline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Entries that occurred at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries that occurred before this time.
    pub to: Option<DateTime<Utc>>,
    /// `touchpoint` or `change`.
    pub kind: Option<EntryKind>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub min_position: Option<u64>,
}

/// One page of a customer's timeline, newest first.
pub async fn customer_timeline(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    route: MatchedPath,
    Path(id): Path<Uuid>,
    query: Result<Query<TimelineQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let Accessor { caller, access } = accessor.doing(AccessAction::Timeline);
    let collection = collection_of(&route)?;
    let customer = match collection {
        Collection::Contacts => Customer::Contact(id),
        Collection::Companies => Customer::Company(id),
        _ => return Err(ApiError::NotFound("collection")),
    };
    let resource = resource_of(collection);
    let asked = || vec![record_ref(collection, id)];
    api.authorize_any(&caller, &access, resource, Action::Read, asked())
        .await?;
    let Query(query) = query?;
    let wanted = MinPosition(min_position.0.or(query.min_position));
    let records = super::reads::live_schema(&api, wanted).await?;
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
    let principal = caller.principal();
    let collections = Collection::ALL
        .into_iter()
        .filter(|other| {
            api.policy
                .reach(&principal, resource_of(*other), Action::Read)
                > Reach::None
        })
        .map(|other| other.as_str().to_owned())
        .collect();
    let filter = TimelineFilter {
        from: query.from,
        to: query.to,
        kind: query.kind,
        collections,
    };
    let page = PageRequest {
        limit: query.limit.unwrap_or(timeline::DEFAULT_LIMIT),
        cursor: query.cursor,
    };
    let schema = super::reads::schema_of(&api, READ_MODEL, wanted).await?;
    // A timeline gathers records two links away (a contact's call on its company's timeline),
    // which the caller's reach of the customer does not cover: each is judged on its own, as a
    // read by id would judge it, and the timeline passes over the refused ones.
    let customer_ref = record_ref(collection, id);
    let readable = |asked: Vec<RecordRef>| {
        let (api, records, principal, customer_ref) =
            (&api, &records, &principal, customer_ref.clone());
        async move {
            let mut readable = Vec::new();
            for other in Collection::ALL {
                let ids: Vec<Uuid> = asked
                    .iter()
                    .filter(|record| {
                        record.collection == other.as_str() && **record != customer_ref
                    })
                    .map(|record| record.id)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let owners = api.records.ownerships(records, other, &ids).await?;
                readable.extend(
                    owners
                        .iter()
                        .filter(|(_, ownership)| {
                            api.policy.allows(
                                principal,
                                resource_of(other),
                                Action::Read,
                                ownership,
                            )
                        })
                        .map(|(id, _)| record_ref(other, *id)),
                );
            }
            if asked.contains(&customer_ref) {
                readable.push(customer_ref);
            }
            Ok::<_, ApiError>(readable)
        }
    };
    let page = api
        .timelines
        .readable_timeline(&schema, customer, &filter, page, readable)
        .await?;
    Ok(Json(api.disclose(&access, page).await?).into_response())
}
