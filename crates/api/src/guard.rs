//! Record-level rules for commands: who owns the record a command changes (or creates), with
//! the owners of the records it links to, as the access policy judges them. Read from the
//! aggregates themselves (through the cache), never from a read model that may trail.

use domain::Aggregate;
use domain::activity::Activity;
use domain::case::Case;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::lead::Lead;
use domain::pipeline::Pipeline;
use domain::task::Task;
use domain::user::User;
use domain::values::Team;
use policy::{Action, Ownership, Reach, Resource};
use uuid::Uuid;

use crate::command::{CommandRequest, Loaded, exists, load};
use crate::problem::ApiError;
use crate::state::ApiState;

/// The records a record links to, whose owners also reach it.
#[derive(Debug, Default)]
pub struct Links {
    pub company: Option<Uuid>,
    pub contact: Option<Uuid>,
    pub deal: Option<Uuid>,
}

/// An aggregate the policy guards.
pub trait Guarded: Aggregate {
    const RESOURCE: Resource;
    /// The record has no owner of its own but the user who created it (as the records read
    /// model indexes it, so reads and changes are judged alike).
    const OWNED_BY_CREATOR: bool = true;

    /// The record's owner and team.
    fn owner(_state: &Self::State) -> (Option<Uuid>, Option<String>) {
        (None, None)
    }

    fn links(_state: &Self::State) -> Links {
        Links::default()
    }
}

fn team_name(team: Option<&Team>) -> Option<String> {
    team.map(|team| team.as_str().to_owned())
}

impl Guarded for Company {
    const RESOURCE: Resource = Resource::Companies;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |company| {
            (company.owner_id, team_name(company.team.as_ref()))
        })
    }
}

impl Guarded for Contact {
    const RESOURCE: Resource = Resource::Contacts;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |contact| {
            (contact.owner_id, team_name(contact.team.as_ref()))
        })
    }
    fn links(state: &Self::State) -> Links {
        Links {
            company: state.as_ref().and_then(|contact| contact.company_id),
            ..Links::default()
        }
    }
}

impl Guarded for Lead {
    const RESOURCE: Resource = Resource::Leads;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |lead| {
            (lead.owner_id, team_name(lead.team.as_ref()))
        })
    }
}

impl Guarded for Pipeline {
    const RESOURCE: Resource = Resource::Pipelines;
}

impl Guarded for Deal {
    const RESOURCE: Resource = Resource::Deals;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |deal| {
            (Some(deal.owner_id), team_name(deal.team.as_ref()))
        })
    }
    fn links(state: &Self::State) -> Links {
        state.as_ref().map_or_else(Links::default, |deal| Links {
            company: deal.company_id,
            contact: deal.contact_id,
            deal: None,
        })
    }
}

impl Guarded for Activity {
    const RESOURCE: Resource = Resource::Activities;
    const OWNED_BY_CREATOR: bool = true;
    fn links(state: &Self::State) -> Links {
        state
            .as_ref()
            .map_or_else(Links::default, |activity| Links {
                company: activity.company_id,
                contact: activity.contact_id,
                deal: activity.deal_id,
            })
    }
}

impl Guarded for Task {
    const RESOURCE: Resource = Resource::Tasks;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |task| {
            (Some(task.assignee_id), team_name(task.team.as_ref()))
        })
    }
    fn links(state: &Self::State) -> Links {
        state.as_ref().map_or_else(Links::default, |task| Links {
            company: task.company_id,
            contact: task.contact_id,
            deal: task.deal_id,
        })
    }
}

impl Guarded for Case {
    const RESOURCE: Resource = Resource::Cases;
    fn owner(state: &Self::State) -> (Option<Uuid>, Option<String>) {
        state.as_ref().map_or((None, None), |case| {
            (case.assignee_id, team_name(case.team.as_ref()))
        })
    }
    fn links(state: &Self::State) -> Links {
        Links {
            contact: state.as_ref().map(|case| case.contact_id),
            ..Links::default()
        }
    }
}

impl Guarded for User {
    const RESOURCE: Resource = Resource::Users;
}

/// A record as a command finds it: one that exists, or the one a creation would make.
pub(crate) enum Written<'a, A: Guarded> {
    Changed(&'a Loaded<A>),
    Created(&'a A::State),
}

/// Who owns the record in `state`, with the owners of the records it links to.
async fn ownership_of<A: Guarded>(
    api: &ApiState,
    state: &A::State,
    created_by: Option<Uuid>,
) -> Result<Ownership, ApiError> {
    let (mut owner_id, team) = A::owner(state);
    if A::OWNED_BY_CREATOR {
        owner_id = owner_id.or(created_by);
    }
    let links = A::links(state);
    let mut linked = Vec::new();
    if let Some(id) = links.company {
        linked.push(owned::<Company>(api, id).await?);
    }
    if let Some(id) = links.contact {
        linked.push(owned::<Contact>(api, id).await?);
    }
    if let Some(id) = links.deal {
        linked.push(owned::<Deal>(api, id).await?);
    }
    Ok(Ownership {
        owner_id,
        team,
        links: linked,
    })
}

async fn owned<A: Guarded>(api: &ApiState, id: Uuid) -> Result<Ownership, ApiError> {
    let (owner_id, team) = A::owner(&load::<A>(api, id).await?.state);
    Ok(Ownership {
        owner_id,
        team,
        links: Vec::new(),
    })
}

/// Lets the request's caller change (or create) the record in `state` of aggregate `id`, or
/// logs the refusal and answers 403. A new record that nobody owns and that links to nothing
/// (an unlinked note) is anyone's to create who may write the collection at all.
pub(crate) async fn authorize_write<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    record: Written<'_, A>,
) -> Result<(), ApiError> {
    let principal = request.caller.principal();
    if api.policy.reach(&principal, A::RESOURCE, Action::Write) == Reach::All {
        return Ok(());
    }
    let (state, created_by, creating) = match record {
        Written::Changed(loaded) => (&loaded.state, loaded.created_by, false),
        Written::Created(state) => (state, None, true),
    };
    let ownership = ownership_of::<A>(api, state, created_by).await?;
    let unclaimed =
        ownership.owner_id.is_none() && ownership.team.is_none() && ownership.links.is_empty();
    if creating && unclaimed {
        return Ok(());
    }
    judge::<A>(api, request, id, Action::Write, &ownership).await
}

/// Lets the request's caller tie a record to record `id` of `A`: it must exist (else 422 naming
/// `field`) and be in the caller's reach for reading (else the refusal is logged and 403).
pub(crate) async fn ensure_linked<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    field: &str,
) -> Result<(), ApiError> {
    let no_such = || ApiError::invalid(field, format!("no such {}", A::STREAM_TYPE));
    let principal = request.caller.principal();
    if api.policy.reach(&principal, A::RESOURCE, Action::Read) == Reach::All {
        return if exists::<A>(api, id).await? {
            Ok(())
        } else {
            Err(no_such())
        };
    }
    let loaded = load::<A>(api, id).await?;
    if !A::exists(&loaded.state) {
        return Err(no_such());
    }
    let ownership = ownership_of::<A>(api, &loaded.state, loaded.created_by).await?;
    judge::<A>(api, request, id, Action::Read, &ownership).await
}

/// Whether the caller may do `action` to record `id` of `A`, owned as `ownership`; a refusal is
/// logged, then 403.
async fn judge<A: Guarded>(
    api: &ApiState,
    request: &CommandRequest<'_>,
    id: Uuid,
    action: Action,
    ownership: &Ownership,
) -> Result<(), ApiError> {
    let record = domain::access::RecordRef {
        collection: A::RESOURCE.as_str().to_owned(),
        id,
    };
    api.authorize(
        request.caller,
        &request.access,
        A::RESOURCE,
        action,
        ownership,
        vec![record],
    )
    .await
}
