//! `/v1/leads`: capture enquiries, qualify or disqualify them, and convert them into a contact
//! (and, when asked, a company and a deal) in one atomic append.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use domain::company::Company;
use domain::contact::Contact;
use domain::conversion::{CompanyLink, ConversionRequest, DealSpec, convert};
use domain::deal::Deal;
use domain::lead::{Command, Lead, NewLead};
use domain::values::{Email, Money, Name, Phone, StageKey, Team, Text};
use domain::{Aggregate, Patch, Replace};
use eventstore::{Appended, ExpectedVersion, StreamAppend, StreamRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::deals::stages_of;
use super::{NewOwner, owner_and_team};
use crate::command::{
    Attempt, CommandMeta, CommandRequest, Committed, Reading, execute, execute_all, load,
    new_events, retrying, with_fresh_reads, with_position,
};
use crate::guard::ensure_linked;
use crate::guard::{Guarded, Written, authorize_write};
use crate::problem::ApiError;
use crate::request::{JsonBody, NoBody, Path};
use crate::state::ApiState;
use policy::Resource;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureLead {
    pub name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company_name: Option<Name>,
    /// Where the enquiry came from: `web`, `referral`, `event`, ...
    pub source: Name,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disqualify {
    pub reason: Option<Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLead {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    /// Link the new contact to this existing company ...
    pub company_id: Option<Uuid>,
    /// ... or create one (named `name`, or else the lead's company name).
    pub company: Option<NewCompanyBody>,
    /// Open a deal for the new contact.
    pub deal: Option<DealBody>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompanyBody {
    pub name: Option<Name>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DealBody {
    pub title: Name,
    pub pipeline_id: Uuid,
    pub stage: StageKey,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
}

/// The records a conversion created.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Converted {
    /// The lead.
    pub id: Uuid,
    pub version: u64,
    pub position: u64,
    pub contact_id: Uuid,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

pub async fn capture(
    State(api): State<ApiState>,
    meta: CommandMeta,
    JsonBody { value: body, raw }: JsonBody<CaptureLead>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Leads).await?;
    let request = meta.request(&raw);
    let (owner_id, team) = owner_and_team(&api, &meta.caller, body.owner_id, body.team).await?;
    let id = Uuid::now_v7();
    let new = NewLead {
        id,
        name: body.name,
        email: body.email,
        phone: body.phone,
        company_name: body.company_name,
        source: body.source,
        campaign_id: body.campaign_id,
        owner_id: Some(owner_id),
        team,
    };
    execute::<Lead>(&api, &request, id, true, |_| {
        Ok(Command::Capture(new.clone()))
    })
    .await
}

/// A lead handed to someone: marketing or a web form captures it, sales works it. Without a
/// `team`, it follows the new owner into theirs; `null` leaves it in none.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeLead {
    #[serde(default)]
    pub owner_id: Replace<Uuid>,
    #[serde(default)]
    pub team: Patch<Team>,
}

pub async fn change(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ChangeLead>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Leads).await?;
    let request = meta.request(&raw);
    let new_owner = NewOwner::load(&api, body.owner_id.0).await?;
    execute_all::<Lead>(&api, &request, id, false, |lead| {
        let current = lead.state.as_ref().ok_or(ApiError::NotFound("lead"))?;
        let reassign = match (&new_owner, current.owner_id) {
            (Some(owner), _) => Some(Command::Reassign {
                owner_id: owner.id,
                team: owner
                    .team(current.owner_id, &body.team)
                    .apply(&current.team),
            }),
            (None, Some(owner_id)) if body.team.is_given() => Some(Command::Reassign {
                owner_id,
                team: body.team.apply(&current.team),
            }),
            (None, None) if body.team.is_given() => {
                return Err(ApiError::invalid(
                    "owner_id",
                    "the lead has no owner: name one with its team",
                ));
            }
            (None, _) => None,
        };
        Ok(reassign.into_iter().collect())
    })
    .await
}

pub async fn qualify(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    _: NoBody,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Leads).await?;
    let request = meta.request(&[]);
    execute::<Lead>(&api, &request, id, false, |_| Ok(Command::Qualify)).await
}

pub async fn disqualify(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<Disqualify>,
) -> Result<Committed, ApiError> {
    meta.may_write(&api, Resource::Leads).await?;
    let request = meta.request(&raw);
    execute::<Lead>(&api, &request, id, false, |_| {
        Ok(Command::Disqualify {
            reason: body.reason.clone(),
        })
    })
    .await
}

pub async fn convert_lead(
    State(api): State<ApiState>,
    meta: CommandMeta,
    Path(id): Path<Uuid>,
    JsonBody { value: body, raw }: JsonBody<ConvertLead>,
) -> Result<Response, ApiError> {
    // A conversion changes the lead and creates, as the caller, every record it makes.
    meta.may_write(&api, Resource::Leads).await?;
    meta.may_write(&api, Resource::Contacts).await?;
    if body.company.is_some() {
        meta.may_write(&api, Resource::Companies).await?;
    }
    if body.deal.is_some() {
        meta.may_write(&api, Resource::Deals).await?;
    }
    let request = meta.request(&raw);
    let linked_company = body.company_id;
    let company = match (body.company_id, body.company) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "company",
                "name an existing company_id or a new company, not both",
            ));
        }
        (Some(company_id), None) => {
            ensure_linked::<Company>(&api, &request, company_id, "company_id").await?;
            Some(CompanyLink::Existing(company_id))
        }
        (None, Some(new)) => Some(CompanyLink::New {
            company_id: Uuid::now_v7(),
            name: new.name,
        }),
        (None, None) => None,
    };
    let contact_id = Uuid::now_v7();
    let deal_id = Uuid::now_v7();

    let _turn = api.turns.take(&StreamRef::new(Lead::STREAM_TYPE, id)).await;
    let attempt = with_fresh_reads(|| {
        retrying(&api, &request, || async {
            let lead = load::<Lead>(&api, id).await?;
            if !Lead::exists(&lead.state) {
                return Err(ApiError::NotFound("lead"));
            }
            authorize_write::<Lead>(&api, &request, id, Written::Changed(&lead)).await?;
            request.check_version(lead.version)?;
            // The deal's stages, read afresh at each attempt, and the pipeline expected unchanged.
            let (deal, reading) = match &body.deal {
                None => (None, Reading::default()),
                Some(deal) => {
                    let (stages, unchanged) =
                        stages_of(&api, deal.pipeline_id, "deal.pipeline_id").await?;
                    let spec = DealSpec {
                        deal_id,
                        title: deal.title.clone(),
                        pipeline: stages,
                        stage: deal.stage.clone(),
                        amount: deal.amount,
                        expected_close_on: deal.expected_close_on,
                    };
                    (Some(spec), Reading::of(unchanged))
                }
            };
            let conversion = ConversionRequest {
                contact_id,
                first_name: body.first_name.clone(),
                last_name: body.last_name.clone(),
                company: company.clone(),
                deal,
            };
            let decided = convert(&lead.state, conversion, &request.context())?;
            authorize_creation::<Contact>(&api, &request, decided.contact_id, &decided.contact)
                .await?;
            if let (Some(company_id), Some(events)) = (decided.company_id, &decided.company) {
                authorize_creation::<Company>(&api, &request, company_id, events).await?;
            }
            if let (Some(deal_id), Some(events)) = (decided.deal_id, &decided.deal) {
                authorize_creation::<Deal>(&api, &request, deal_id, events).await?;
            }
            let mut streams = vec![
                StreamAppend::events(
                    StreamRef::new(Lead::STREAM_TYPE, id),
                    ExpectedVersion::Exactly(lead.version),
                    new_events(&decided.lead, &request),
                ),
                StreamAppend::events(
                    StreamRef::new(Contact::STREAM_TYPE, decided.contact_id),
                    ExpectedVersion::NoStream,
                    new_events(&decided.contact, &request),
                ),
            ];
            if let (Some(company_id), Some(events)) = (decided.company_id, &decided.company) {
                streams.push(StreamAppend::events(
                    StreamRef::new(Company::STREAM_TYPE, company_id),
                    ExpectedVersion::NoStream,
                    new_events(events, &request),
                ));
            }
            if let (Some(deal_id), Some(events)) = (decided.deal_id, &decided.deal) {
                streams.push(StreamAppend::events(
                    StreamRef::new(Deal::STREAM_TYPE, deal_id),
                    ExpectedVersion::NoStream,
                    new_events(events, &request),
                ));
            }
            streams.extend_from_slice(&reading.unchanged);
            request
                .append(&api, streams)
                .await
                .map(Attempt::Appended)
                .map_err(|error| reading.refusal(error, request.if_match))
        })
    })
    .await?;
    let Attempt::Appended(appended) = attempt else {
        return Err(ApiError::Internal("a conversion always appends".to_owned()));
    };
    let converted = converted(id, linked_company, &appended);
    Ok(with_position(
        StatusCode::OK,
        converted.position,
        Json(converted),
    ))
}

/// Lets the caller create the record `events` make (its owner and links as the policy judges
/// them), or logs the refusal (403).
async fn authorize_creation<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    events: &[A::Event],
) -> Result<(), ApiError> {
    let state = events.iter().fold(A::State::default(), A::evolve);
    authorize_write::<A>(api, request, id, Written::Created(&state)).await
}

/// The conversion's answer, read from what was appended (so a replayed retry answers the same).
fn converted(lead_id: Uuid, linked_company: Option<Uuid>, appended: &Appended) -> Converted {
    let created = |stream_type: &str| {
        appended
            .streams
            .iter()
            .find(|stream| stream.stream.stream_type == stream_type)
            .map(|stream| stream.stream.stream_id)
    };
    let lead = Committed::of(appended, &StreamRef::new(Lead::STREAM_TYPE, lead_id), false);
    Converted {
        id: lead_id,
        version: lead.version,
        position: lead.position,
        contact_id: created(Contact::STREAM_TYPE).unwrap_or_default(),
        company_id: created(Company::STREAM_TYPE).or(linked_company),
        deal_id: created(Deal::STREAM_TYPE),
    }
}
