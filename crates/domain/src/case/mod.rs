//! A service case: a customer's problem or request, worked along a fixed path so that service
//! reports compare like with like: new → open → pending → resolved → closed, back from pending to
//! open (the customer answered) and from resolved to open (it was not solved). A closed case is
//! history.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Name, Team, Text};
use crate::{Aggregate, Context, DomainError};

/// A case as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Case {
    pub id: Uuid,
    pub subject: Name,
    pub description: Option<Text>,
    pub contact_id: Uuid,
    pub priority: Priority,
    pub status: CaseStatus,
    pub assignee_id: Option<Uuid>,
    /// The assignee's team when it was given to them.
    pub team: Option<Team>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Open => "open",
            CaseStatus::Pending => "pending",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Closed => "closed",
        }
    }

    /// Whether a case may go from this status to `to`. Pending (waiting on the customer) is a
    /// detour, not a step: a case fixed while open is resolved from there.
    pub fn can_become(self, to: CaseStatus) -> bool {
        use CaseStatus::*;
        matches!(
            (self, to),
            (New, Open)
                | (Open, Pending)
                | (Pending, Open)
                | (Open | Pending, Resolved)
                | (Resolved, Closed)
                | (Resolved, Open)
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewCase),
    ChangeStatus {
        status: CaseStatus,
    },
    ChangePriority {
        priority: Priority,
    },
    /// Gives the case to someone (in `team`, theirs), or to nobody (it stays in its team).
    Assign {
        assignee_id: Option<Uuid>,
        team: Option<Team>,
    },
}

/// A case to open, with the id the caller chose; it starts as new.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub id: Uuid,
    pub subject: Name,
    pub description: Option<Text>,
    pub contact_id: Uuid,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    /// The assignee's team.
    pub team: Option<Team>,
}

impl Aggregate for Case {
    const STREAM_TYPE: &'static str = "case";
    type State = Option<Case>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Case>,
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
                    subject: new.subject,
                    description: new.description,
                    contact_id: new.contact_id,
                    priority: new.priority,
                    assignee_id: new.assignee_id,
                    team: new.team,
                })])
            }
            Command::ChangeStatus { status } => {
                let case = state.as_ref().ok_or(DomainError::NotFound)?;
                if !case.status.can_become(status) {
                    return Err(DomainError::Conflict(format!(
                        "a case cannot go from {} to {}",
                        case.status.as_str(),
                        status.as_str()
                    )));
                }
                Ok(vec![Event::StatusChanged(StatusChanged {
                    from: case.status,
                    to: status,
                })])
            }
            Command::ChangePriority { priority } => {
                let case = not_closed(state)?;
                if case.priority == priority {
                    return Ok(vec![]);
                }
                Ok(vec![Event::PriorityChanged(PriorityChanged {
                    from: case.priority,
                    to: priority,
                })])
            }
            Command::Assign { assignee_id, team } => {
                let case = not_closed(state)?;
                // Unassigned, a case stays in its team's queue.
                let team = if assignee_id.is_some() {
                    team
                } else {
                    case.team.clone()
                };
                if case.assignee_id == assignee_id && case.team == team {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Assigned(Assigned {
                    from: case.assignee_id,
                    to: assignee_id,
                    team,
                })])
            }
        }
    }

    fn evolve(state: Option<Case>, event: &Event) -> Option<Case> {
        if let Event::Created(created) = event {
            return Some(Case {
                id: created.id,
                subject: created.subject.clone(),
                description: created.description.clone(),
                contact_id: created.contact_id,
                priority: created.priority,
                status: CaseStatus::New,
                assignee_id: created.assignee_id,
                team: created.team.clone(),
            });
        }
        let mut case = state?;
        match event {
            Event::Created(_) => {}
            Event::StatusChanged(changed) => case.status = changed.to,
            Event::PriorityChanged(changed) => case.priority = changed.to,
            Event::Assigned(assigned) => {
                case.assignee_id = assigned.to;
                case.team = assigned.team.clone();
            }
        }
        Some(case)
    }

    fn exists(state: &Option<Case>) -> bool {
        state.is_some()
    }
}

/// The case, if it exists and is not closed.
fn not_closed(state: &Option<Case>) -> Result<&Case, DomainError> {
    let case = state.as_ref().ok_or(DomainError::NotFound)?;
    if case.status == CaseStatus::Closed {
        return Err(DomainError::Conflict(
            "the case is closed and takes no more changes".to_owned(),
        ));
    }
    Ok(case)
}
