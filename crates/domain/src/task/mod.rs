//! A task: something one person must do by a time (call back, send the offer), optionally about
//! a contact, a company or a deal. A task is completed once; after that it is history.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Name, Team, Text};
use crate::{Aggregate, Context, DomainError};

/// A task as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    pub id: Uuid,
    pub title: Name,
    pub description: Option<Text>,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Uuid,
    /// The assignee's team when it was given to them.
    pub team: Option<Team>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewTask),
    Complete,
    /// Gives the task to `assignee_id`, in `team` (theirs).
    Reassign {
        assignee_id: Uuid,
        team: Option<Team>,
    },
    Reschedule {
        due_at: DateTime<Utc>,
    },
}

/// A task to create, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub id: Uuid,
    pub title: Name,
    pub description: Option<Text>,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Uuid,
    /// The assignee's team.
    pub team: Option<Team>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

impl Aggregate for Task {
    const STREAM_TYPE: &'static str = "task";
    type State = Option<Task>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Task>,
        command: Command,
        context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![Event::Created(Created {
                    id: new.id,
                    title: new.title,
                    description: new.description,
                    due_at: new.due_at,
                    assignee_id: new.assignee_id,
                    team: new.team,
                    contact_id: new.contact_id,
                    company_id: new.company_id,
                    deal_id: new.deal_id,
                })])
            }
            Command::Complete => {
                pending(state)?;
                Ok(vec![Event::Completed(Completed {
                    completed_at: context.now,
                })])
            }
            Command::Reassign { assignee_id, team } => {
                let task = pending(state)?;
                if task.assignee_id == assignee_id && task.team == team {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Reassigned(Reassigned {
                    from: task.assignee_id,
                    to: assignee_id,
                    team,
                })])
            }
            Command::Reschedule { due_at } => {
                if pending(state)?.due_at == due_at {
                    return Ok(vec![]);
                }
                Ok(vec![Event::Rescheduled(Rescheduled { due_at })])
            }
        }
    }

    fn evolve(state: Option<Task>, event: &Event) -> Option<Task> {
        if let Event::Created(created) = event {
            return Some(Task {
                id: created.id,
                title: created.title.clone(),
                description: created.description.clone(),
                due_at: created.due_at,
                assignee_id: created.assignee_id,
                team: created.team.clone(),
                contact_id: created.contact_id,
                company_id: created.company_id,
                deal_id: created.deal_id,
                completed_at: None,
            });
        }
        let mut task = state?;
        match event {
            Event::Created(_) => {}
            Event::Completed(completed) => task.completed_at = Some(completed.completed_at),
            Event::Reassigned(reassigned) => {
                task.assignee_id = reassigned.to;
                task.team = reassigned.team.clone();
            }
            Event::Rescheduled(rescheduled) => task.due_at = rescheduled.due_at,
        }
        Some(task)
    }

    fn exists(state: &Option<Task>) -> bool {
        state.is_some()
    }
}

/// The task, if it exists and is not completed.
fn pending(state: &Option<Task>) -> Result<&Task, DomainError> {
    let task = state.as_ref().ok_or(DomainError::NotFound)?;
    if task.completed_at.is_some() {
        return Err(DomainError::Conflict(
            "the task is already completed".to_owned(),
        ));
    }
    Ok(task)
}
