//! A company: an organisation the business sells to or serves. Its profile changes field by field
//! (a PATCH), each kind of change recorded as its own event so that readers can follow what they
//! care about (a scoring projection follows re-classing, an access rule follows re-assignment).
//! An archived company is read-only.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Domain, Name, Tags, Team, ValueClass};
use crate::{Aggregate, Context, DomainError, Patch};

/// A company as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Company {
    pub id: Uuid,
    pub name: Name,
    pub domain: Option<Domain>,
    pub industry: Option<Name>,
    pub value_class: Option<ValueClass>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewCompany),
    /// Changes the named fields; fields left as they are cause no event.
    Update(CompanyChanges),
    Archive,
}

/// A company to create, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCompany {
    pub id: Uuid,
    pub name: Name,
    pub domain: Option<Domain>,
    pub industry: Option<Name>,
    pub value_class: Option<ValueClass>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// A PATCH of a company: `None` or [`Patch::Keep`] leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompanyChanges {
    pub name: Option<Name>,
    pub domain: Patch<Domain>,
    pub industry: Patch<Name>,
    pub value_class: Patch<ValueClass>,
    pub tags: Option<Tags>,
    pub owner_id: Patch<Uuid>,
    pub team: Patch<Team>,
}

impl Aggregate for Company {
    const STREAM_TYPE: &'static str = "company";
    type State = Option<Company>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Company>,
        command: Command,
        _context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![Event::Created(Created {
                    id: new.id,
                    name: new.name,
                    domain: new.domain,
                    industry: new.industry,
                    value_class: new.value_class,
                    tags: new.tags,
                    owner_id: new.owner_id,
                    team: new.team,
                })])
            }
            Command::Update(changes) => Ok(changes_of(active(state)?, changes)),
            Command::Archive => {
                active(state)?;
                Ok(vec![Event::Archived(Archived {})])
            }
        }
    }

    fn evolve(state: Option<Company>, event: &Event) -> Option<Company> {
        if let Event::Created(created) = event {
            return Some(Company {
                id: created.id,
                name: created.name.clone(),
                domain: created.domain.clone(),
                industry: created.industry.clone(),
                value_class: created.value_class,
                tags: created.tags.clone(),
                owner_id: created.owner_id,
                team: created.team.clone(),
                archived: false,
            });
        }
        let mut company = state?;
        match event {
            Event::Created(_) => {}
            Event::Renamed(renamed) => company.name = renamed.name.clone(),
            Event::ProfileChanged(changed) => {
                company.domain = changed.domain.clone();
                company.industry = changed.industry.clone();
            }
            Event::Retagged(retagged) => company.tags = retagged.tags.clone(),
            Event::Reclassified(reclassified) => company.value_class = reclassified.value_class,
            Event::Reassigned(reassigned) => {
                company.owner_id = reassigned.owner_id;
                company.team = reassigned.team.clone();
            }
            Event::Archived(_) => company.archived = true,
        }
        Some(company)
    }

    fn exists(state: &Option<Company>) -> bool {
        state.is_some()
    }
}

/// The company, if it exists and still takes commands.
fn active(state: &Option<Company>) -> Result<&Company, DomainError> {
    match state {
        None => Err(DomainError::NotFound),
        Some(company) if company.archived => Err(DomainError::Conflict(
            "the company is archived and takes no more changes".to_owned(),
        )),
        Some(company) => Ok(company),
    }
}

/// One event per kind of change that actually changes something.
fn changes_of(company: &Company, changes: CompanyChanges) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(name) = changes.name.filter(|name| *name != company.name) {
        events.push(Event::Renamed(Renamed { name }));
    }
    let domain = changes.domain.apply(&company.domain);
    let industry = changes.industry.apply(&company.industry);
    if domain != company.domain || industry != company.industry {
        events.push(Event::ProfileChanged(ProfileChanged { domain, industry }));
    }
    if let Some(tags) = changes.tags.filter(|tags| *tags != company.tags) {
        events.push(Event::Retagged(Retagged { tags }));
    }
    let value_class = changes.value_class.apply(&company.value_class);
    if value_class != company.value_class {
        events.push(Event::Reclassified(Reclassified { value_class }));
    }
    let owner_id = changes.owner_id.apply(&company.owner_id);
    let team = changes.team.apply(&company.team);
    if owner_id != company.owner_id || team != company.team {
        events.push(Event::Reassigned(Reassigned { owner_id, team }));
    }
    events
}
