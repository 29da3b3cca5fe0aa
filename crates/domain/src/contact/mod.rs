//! A contact: a person the business talks to. A contact works for at most one company at a time;
//! moving it records where it came from and where it went, so timelines and scores can follow.
//! Its profile changes field by field (a PATCH), one event per kind of change. A click on a tracked
//! link is recorded on the contact too, without changing it.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Email, Name, Phone, Tags, Team};
use crate::{Aggregate, Context, DomainError, Patch};

/// How many e-mail addresses, and how many phone numbers, a contact may have.
pub const MAX_CONTACT_POINTS: usize = 10;

/// A contact as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    pub id: Uuid,
    pub first_name: Name,
    pub last_name: Name,
    /// The first is the primary address.
    pub emails: Vec<Email>,
    /// The first is the primary number.
    pub phones: Vec<Phone>,
    pub title: Option<Name>,
    pub company_id: Option<Uuid>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewContact),
    /// Changes the named fields; fields left as they are cause no event.
    Update(ContactChanges),
    /// Records that the contact clicked a tracked link at `clicked_at` (not in the future).
    RecordLinkClick {
        url: TrackedUrl,
        campaign_id: Option<Uuid>,
        clicked_at: DateTime<Utc>,
    },
}

/// A contact to create, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    pub id: Uuid,
    pub first_name: Name,
    pub last_name: Name,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub title: Option<Name>,
    pub company_id: Option<Uuid>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// A PATCH of a contact: `None` or [`Patch::Keep`] leaves a field as it is; `emails` and `phones`
/// replace the whole list; `company_id` moves the contact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactChanges {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub emails: Option<Vec<Email>>,
    pub phones: Option<Vec<Phone>>,
    pub title: Patch<Name>,
    pub company_id: Patch<Uuid>,
    pub tags: Option<Tags>,
    pub owner_id: Patch<Uuid>,
    pub team: Patch<Team>,
}

impl Aggregate for Contact {
    const STREAM_TYPE: &'static str = "contact";
    type State = Option<Contact>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Contact>,
        command: Command,
        context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                distinct("emails", &new.emails)?;
                distinct("phones", &new.phones)?;
                Ok(vec![Event::Created(Created {
                    id: new.id,
                    first_name: new.first_name,
                    last_name: new.last_name,
                    emails: new.emails,
                    phones: new.phones,
                    title: new.title,
                    company_id: new.company_id,
                    tags: new.tags,
                    owner_id: new.owner_id,
                    team: new.team,
                })])
            }
            Command::Update(changes) => {
                let contact = state.as_ref().ok_or(DomainError::NotFound)?;
                changes_of(contact, changes)
            }
            Command::RecordLinkClick {
                url,
                campaign_id,
                clicked_at,
            } => {
                state.as_ref().ok_or(DomainError::NotFound)?;
                if url.as_str().chars().count() > TrackedUrl::MAX_CHARS {
                    return Err(DomainError::invalid(
                        "url",
                        format!(
                            "must be at most {} characters percent-encoded",
                            TrackedUrl::MAX_CHARS
                        ),
                    ));
                }
                if clicked_at > context.now {
                    return Err(DomainError::invalid(
                        "clicked_at",
                        "a click cannot have happened in the future",
                    ));
                }
                Ok(vec![Event::LinkClicked(LinkClicked {
                    url,
                    campaign_id,
                    clicked_at,
                })])
            }
        }
    }

    fn evolve(state: Option<Contact>, event: &Event) -> Option<Contact> {
        if let Event::Created(created) = event {
            return Some(Contact {
                id: created.id,
                first_name: created.first_name.clone(),
                last_name: created.last_name.clone(),
                emails: created.emails.clone(),
                phones: created.phones.clone(),
                title: created.title.clone(),
                company_id: created.company_id,
                tags: created.tags.clone(),
                owner_id: created.owner_id,
                team: created.team.clone(),
            });
        }
        let mut contact = state?;
        match event {
            Event::Created(_) | Event::LinkClicked(_) => {}
            Event::Renamed(renamed) => {
                contact.first_name = renamed.first_name.clone();
                contact.last_name = renamed.last_name.clone();
            }
            Event::EmailsChanged(changed) => contact.emails = changed.emails.clone(),
            Event::PhonesChanged(changed) => contact.phones = changed.phones.clone(),
            Event::TitleChanged(changed) => contact.title = changed.title.clone(),
            Event::Moved(moved) => contact.company_id = moved.to_company_id,
            Event::Retagged(retagged) => contact.tags = retagged.tags.clone(),
            Event::Reassigned(reassigned) => {
                contact.owner_id = reassigned.owner_id;
                contact.team = reassigned.team.clone();
            }
        }
        Some(contact)
    }

    fn exists(state: &Option<Contact>) -> bool {
        state.is_some()
    }
}

/// One event per kind of change that actually changes something.
fn changes_of(contact: &Contact, changes: ContactChanges) -> Result<Vec<Event>, DomainError> {
    let mut events = Vec::new();
    let first_name = changes.first_name.unwrap_or(contact.first_name.clone());
    let last_name = changes.last_name.unwrap_or(contact.last_name.clone());
    if first_name != contact.first_name || last_name != contact.last_name {
        events.push(Event::Renamed(Renamed {
            first_name,
            last_name,
        }));
    }
    if let Some(emails) = changes.emails.filter(|emails| *emails != contact.emails) {
        distinct("emails", &emails)?;
        events.push(Event::EmailsChanged(EmailsChanged { emails }));
    }
    if let Some(phones) = changes.phones.filter(|phones| *phones != contact.phones) {
        distinct("phones", &phones)?;
        events.push(Event::PhonesChanged(PhonesChanged { phones }));
    }
    let title = changes.title.apply(&contact.title);
    if title != contact.title {
        events.push(Event::TitleChanged(TitleChanged { title }));
    }
    let company_id = changes.company_id.apply(&contact.company_id);
    if company_id != contact.company_id {
        events.push(Event::Moved(Moved {
            from_company_id: contact.company_id,
            to_company_id: company_id,
        }));
    }
    if let Some(tags) = changes.tags.filter(|tags| *tags != contact.tags) {
        events.push(Event::Retagged(Retagged { tags }));
    }
    let owner_id = changes.owner_id.apply(&contact.owner_id);
    let team = changes.team.apply(&contact.team);
    if owner_id != contact.owner_id || team != contact.team {
        events.push(Event::Reassigned(Reassigned { owner_id, team }));
    }
    Ok(events)
}

/// At most [`MAX_CONTACT_POINTS`] entries, none twice; a repeat is named by its index.
fn distinct<T: PartialEq>(field: &str, list: &[T]) -> Result<(), DomainError> {
    if list.len() > MAX_CONTACT_POINTS {
        return Err(DomainError::invalid(
            field,
            format!("must hold at most {MAX_CONTACT_POINTS} entries"),
        ));
    }
    for (index, entry) in list.iter().enumerate() {
        if list[..index].contains(entry) {
            return Err(DomainError::invalid(
                format!("{field}[{index}]"),
                "appears more than once",
            ));
        }
    }
    Ok(())
}
