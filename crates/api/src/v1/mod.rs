//! The `/v1` routes: every one needs a bearer token and a role allowed for it. Handlers turn a
//! request into a domain command (bodies parse straight into the domain's value types, so a bad
//! value is refused naming its field) and hand it to [`crate::command`].

pub(crate) mod audit;
pub(crate) mod companies;
pub(crate) mod contacts;
pub(crate) mod deals;
mod follow;
pub(crate) mod history;
pub(crate) mod leads;
pub(crate) mod pipelines;
mod reads;
pub(crate) mod reports;
pub(crate) mod scores;
pub(crate) mod timeline;
pub(crate) mod touchpoints;
pub mod users;

pub(crate) use follow::OpenStreams;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use domain::Patch;
use domain::user::User;
use domain::values::Team;
use policy::Resource;
use records::Collection;
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::load;
use crate::problem::ApiError;
use crate::request::MAX_BODY_BYTES;
use crate::state::ApiState;

/// The policy's name for a collection of records.
pub(crate) fn resource_of(collection: Collection) -> Resource {
    match collection {
        Collection::Companies => Resource::Companies,
        Collection::Contacts => Resource::Contacts,
        Collection::Leads => Resource::Leads,
        Collection::Pipelines => Resource::Pipelines,
        Collection::Deals => Resource::Deals,
        Collection::Activities => Resource::Activities,
        Collection::Tasks => Resource::Tasks,
        Collection::Cases => Resource::Cases,
    }
}

pub fn routes(api: ApiState) -> Router {
    Router::new()
        .route("/v1/events", get(history::events))
        .route("/v1/events/stream", get(follow::stream))
        .route("/v1/companies/{id}/history", get(history::record_history))
        .route("/v1/contacts/{id}/history", get(history::record_history))
        .route("/v1/leads/{id}/history", get(history::record_history))
        .route("/v1/pipelines/{id}/history", get(history::record_history))
        .route("/v1/deals/{id}/history", get(history::record_history))
        .route("/v1/activities/{id}/history", get(history::record_history))
        .route("/v1/tasks/{id}/history", get(history::record_history))
        .route("/v1/cases/{id}/history", get(history::record_history))
        .route(
            "/v1/companies",
            post(companies::create).get(reads::list_records),
        )
        .route(
            "/v1/companies/{id}",
            patch(companies::change).get(reads::get_record),
        )
        .route("/v1/companies/{id}/archive", post(companies::archive))
        .route(
            "/v1/contacts",
            post(contacts::create).get(reads::list_records),
        )
        .route(
            "/v1/contacts/{id}",
            patch(contacts::change).get(reads::get_record),
        )
        .route("/v1/leads", post(leads::capture).get(reads::list_records))
        .route(
            "/v1/leads/{id}",
            patch(leads::change).get(reads::get_record),
        )
        .route("/v1/leads/{id}/qualify", post(leads::qualify))
        .route("/v1/leads/{id}/disqualify", post(leads::disqualify))
        .route("/v1/leads/{id}/convert", post(leads::convert_lead))
        .route(
            "/v1/pipelines",
            post(pipelines::create).get(reads::list_records),
        )
        .route(
            "/v1/pipelines/{id}",
            patch(pipelines::change).get(reads::get_record),
        )
        .route("/v1/pipelines/{id}/stages", post(pipelines::add_stage))
        .route(
            "/v1/pipelines/{id}/stages/order",
            post(pipelines::reorder_stages),
        )
        .route(
            "/v1/pipelines/{id}/stages/{key}",
            patch(pipelines::change_stage).delete(pipelines::remove_stage),
        )
        .route("/v1/deals", post(deals::open).get(reads::list_records))
        .route(
            "/v1/deals/{id}",
            patch(deals::change).get(reads::get_record),
        )
        .route("/v1/deals/{id}/stage", post(deals::move_stage))
        .route("/v1/deals/{id}/won", post(deals::won))
        .route("/v1/deals/{id}/lost", post(deals::lost))
        .route("/v1/deals/{id}/reopen", post(deals::reopen))
        .route(
            "/v1/activities",
            post(touchpoints::record_activity).get(reads::list_records),
        )
        .route("/v1/activities/{id}", get(reads::get_record))
        .route(
            "/v1/activities/{id}/complete",
            post(touchpoints::complete_activity),
        )
        .route(
            "/v1/activities/{id}/cancel",
            post(touchpoints::cancel_activity),
        )
        .route(
            "/v1/tasks",
            post(touchpoints::create_task).get(reads::list_records),
        )
        .route(
            "/v1/tasks/{id}",
            patch(touchpoints::change_task).get(reads::get_record),
        )
        .route("/v1/tasks/{id}/complete", post(touchpoints::complete_task))
        .route(
            "/v1/cases",
            post(touchpoints::open_case).get(reads::list_records),
        )
        .route(
            "/v1/cases/{id}",
            patch(touchpoints::change_case).get(reads::get_record),
        )
        .route(
            "/v1/cases/{id}/status",
            post(touchpoints::change_case_status),
        )
        .route(
            "/v1/contacts/{id}/timeline",
            get(timeline::customer_timeline),
        )
        .route(
            "/v1/companies/{id}/timeline",
            get(timeline::customer_timeline),
        )
        .route(
            "/v1/contacts/{id}/link-clicks",
            post(contacts::record_link_click),
        )
        .route("/v1/reports/pipeline", get(reports::pipeline_report))
        .route("/v1/reports/velocity", get(reports::velocity_report))
        .route("/v1/reports/forecast", get(reports::forecast_report))
        .route("/v1/reports/leaderboard", get(reports::leaderboard))
        .route("/v1/reports/sources", get(reports::sources_report))
        .route("/v1/scores/contacts", get(scores::ranked_scores))
        .route("/v1/scores/contacts/{id}", get(scores::customer_score))
        .route("/v1/scores/companies", get(scores::ranked_scores))
        .route("/v1/scores/companies/{id}", get(scores::customer_score))
        .route("/v1/users", post(users::create))
        .route("/v1/users/{id}", patch(users::change).get(users::get))
        .route("/v1/users/{id}/tokens", post(users::issue))
        .route("/v1/users/{id}/deactivate", post(users::deactivate))
        .route(
            "/v1/audit/records/{collection}/{id}",
            get(audit::record_trail),
        )
        .route("/v1/audit/actors/{user_id}", get(audit::actor_trail))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/audit/tree-head", get(audit::tree_head))
        .route("/v1/audit/proofs/inclusion", get(audit::inclusion))
        .route("/v1/audit/proofs/consistency", get(audit::consistency))
        .route(
            "/v1/audit/subjects/contacts/{id}",
            get(audit::subject_report),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// The user `id` names, refused (naming `field`) when there is none or they are deactivated:
/// work given to them would lie idle.
pub(crate) async fn ensure_user(api: &ApiState, id: Uuid, field: &str) -> Result<User, ApiError> {
    match load::<User>(api, id).await?.state {
        Some(user) if user.active => Ok(user),
        Some(_) => Err(ApiError::invalid(field, "the user is deactivated")),
        None => Err(ApiError::invalid(field, "no such user")),
    }
}

/// The user a change hands a record to, with their team.
#[derive(Debug, Clone)]
pub(crate) struct NewOwner {
    pub id: Uuid,
    team: Option<Team>,
}

impl NewOwner {
    /// The user `owner_id` names (`None` when the change names no owner), or a 422 when no
    /// active user has that id.
    pub(crate) async fn load(
        api: &ApiState,
        owner_id: Option<Uuid>,
    ) -> Result<Option<NewOwner>, ApiError> {
        let Some(id) = owner_id else {
            return Ok(None);
        };
        let user = ensure_user(api, id, "owner_id").await?;
        Ok(Some(NewOwner {
            id,
            team: user.team,
        }))
    }

    /// The team change of a record that now belongs to `current_owner`: the one the change
    /// names, or, when the record changes hands and it names none, the new owner's team (as a
    /// creation defaults it), so the record moves into that team's reach and reports.
    pub(crate) fn team(&self, current_owner: Option<Uuid>, named: &Patch<Team>) -> Patch<Team> {
        match named {
            Patch::Keep if current_owner != Some(self.id) => {
                self.team.clone().map_or(Patch::Clear, Patch::Set)
            }
            named => named.clone(),
        }
    }
}

/// The owner a new record gets (the caller unless named) and its team (the owner's unless named).
pub(crate) async fn owner_and_team(
    api: &ApiState,
    caller: &Caller,
    owner_id: Option<Uuid>,
    team: Option<Team>,
) -> Result<(Uuid, Option<Team>), ApiError> {
    let owner_id = owner_id.unwrap_or(caller.user_id);
    if owner_id == caller.user_id {
        let team = match team {
            Some(team) => Some(team),
            None => caller.team.as_deref().map(Team::parse).transpose()?,
        };
        return Ok((owner_id, team));
    }
    let owner = NewOwner::load(api, Some(owner_id)).await?;
    Ok((owner_id, team.or(owner.and_then(|owner| owner.team))))
}
