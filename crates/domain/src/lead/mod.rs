//! A lead: someone who showed interest (a form, a fair, a campaign) but is not yet a customer
//! record. A lead is qualified or disqualified, and ends either disqualified or converted into a
//! contact (with, if asked, a company and a deal); see [`crate::conversion`]. An ended lead takes
//! no more commands.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Email, Name, Phone, Team, Text};
use crate::{Aggregate, Context, DomainError};

/// A lead as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lead {
    pub id: Uuid,
    pub name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company_name: Option<Name>,
    /// Where the lead came from: a form, a fair, a referral.
    pub source: Name,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
    pub status: LeadStatus,
    pub disqualification_reason: Option<Text>,
    /// The records it was converted into.
    pub converted: Option<Converted>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Qualified,
    Disqualified,
    Converted,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Capture(NewLead),
    Qualify,
    Disqualify {
        reason: Option<Text>,
    },
    /// Hands the lead to someone (from marketing or a web form to sales), with their team.
    Reassign {
        owner_id: Uuid,
        team: Option<Team>,
    },
}

/// A lead to capture, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLead {
    pub id: Uuid,
    pub name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company_name: Option<Name>,
    pub source: Name,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

impl Aggregate for Lead {
    const STREAM_TYPE: &'static str = "lead";
    type State = Option<Lead>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Lead>,
        command: Command,
        _context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Capture(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![Event::Captured(Captured {
                    id: new.id,
                    name: new.name,
                    email: new.email,
                    phone: new.phone,
                    company_name: new.company_name,
                    source: new.source,
                    campaign_id: new.campaign_id,
                    owner_id: new.owner_id,
                    team: new.team,
                })])
            }
            Command::Qualify => match open(state)?.status {
                LeadStatus::Qualified => Ok(vec![]),
                _ => Ok(vec![Event::Qualified(Qualified {})]),
            },
            Command::Disqualify { reason } => {
                open(state)?;
                Ok(vec![Event::Disqualified(Disqualified { reason })])
            }
            Command::Reassign { owner_id, team } => {
                let lead = open(state)?;
                if lead.owner_id == Some(owner_id) && lead.team == team {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Reassigned(Reassigned { owner_id, team })])
            }
        }
    }

    fn evolve(state: Option<Lead>, event: &Event) -> Option<Lead> {
        if let Event::Captured(captured) = event {
            return Some(Lead {
                id: captured.id,
                name: captured.name.clone(),
                email: captured.email.clone(),
                phone: captured.phone.clone(),
                company_name: captured.company_name.clone(),
                source: captured.source.clone(),
                campaign_id: captured.campaign_id,
                owner_id: captured.owner_id,
                team: captured.team.clone(),
                status: LeadStatus::New,
                disqualification_reason: None,
                converted: None,
            });
        }
        let mut lead = state?;
        match event {
            Event::Captured(_) => {}
            Event::Qualified(_) => lead.status = LeadStatus::Qualified,
            Event::Disqualified(disqualified) => {
                lead.status = LeadStatus::Disqualified;
                lead.disqualification_reason = disqualified.reason.clone();
            }
            Event::Converted(converted) => {
                lead.status = LeadStatus::Converted;
                lead.converted = Some(converted.clone());
            }
            Event::Reassigned(reassigned) => {
                lead.owner_id = Some(reassigned.owner_id);
                lead.team = reassigned.team.clone();
            }
        }
        Some(lead)
    }

    fn exists(state: &Option<Lead>) -> bool {
        state.is_some()
    }
}

/// The lead, if it exists and has neither been disqualified nor converted.
pub(crate) fn open(state: &Option<Lead>) -> Result<&Lead, DomainError> {
    let lead = state.as_ref().ok_or(DomainError::NotFound)?;
    match lead.status {
        LeadStatus::New | LeadStatus::Qualified => Ok(lead),
        LeadStatus::Disqualified => Err(DomainError::Conflict(
            "the lead is disqualified and takes no more commands".to_owned(),
        )),
        LeadStatus::Converted => Err(DomainError::Conflict(
            "the lead is already converted".to_owned(),
        )),
    }
}
