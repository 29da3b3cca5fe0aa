//! An activity: a touchpoint with a customer (a call, an e-mail, a meeting, a note). One that has
//! happened is logged; one in the future is scheduled, and later completed (then it is logged
//! too) or cancelled. Every activity concerns at least one contact, company or deal, whose
//! timelines show it.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Name, Text};
use crate::{Aggregate, Context, DomainError};

/// The longest an activity lasts: a day.
pub const MAX_DURATION_MINUTES: u16 = 1440;

/// An activity as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Activity {
    pub id: Uuid,
    pub kind: ActivityKind,
    pub subject: Name,
    pub body: Option<Text>,
    pub direction: Option<Direction>,
    pub duration_minutes: Option<u16>,
    pub outcome: Option<Name>,
    /// When it happened, or, while scheduled, when it is planned to.
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub status: ActivityStatus,
    pub cancel_reason: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Note,
    Message,
    Visit,
}

/// Who reached out: the customer (inbound) or the business (outbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Logged,
    Scheduled,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Logs the activity if `occurred_at` is not after now, schedules it otherwise.
    Record(NewActivity),
    /// Marks a scheduled activity as done, at `occurred_at` (by default now).
    Complete {
        occurred_at: Option<DateTime<Utc>>,
        outcome: Option<Name>,
        duration_minutes: Option<u16>,
    },
    Cancel {
        reason: Option<Text>,
    },
}

/// An activity to record, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub id: Uuid,
    pub kind: ActivityKind,
    pub subject: Name,
    pub body: Option<Text>,
    pub direction: Option<Direction>,
    pub duration_minutes: Option<u16>,
    pub outcome: Option<Name>,
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

impl Aggregate for Activity {
    const STREAM_TYPE: &'static str = "activity";
    type State = Option<Activity>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Activity>,
        command: Command,
        context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Record(new) => record(state, new, context),
            Command::Complete {
                occurred_at,
                outcome,
                duration_minutes,
            } => {
                scheduled(state)?;
                let occurred_at = occurred_at.unwrap_or(context.now);
                if occurred_at > context.now {
                    return Err(DomainError::invalid(
                        "occurred_at",
                        "a completed activity cannot have happened in the future",
                    ));
                }
                check_duration(duration_minutes)?;
                Ok(vec![Event::Completed(Completed {
                    occurred_at,
                    outcome,
                    duration_minutes,
                })])
            }
            Command::Cancel { reason } => {
                scheduled(state)?;
                Ok(vec![Event::Cancelled(Cancelled { reason })])
            }
        }
    }

    fn evolve(state: Option<Activity>, event: &Event) -> Option<Activity> {
        let from_touchpoint = |touchpoint: &Touchpoint, status| Activity {
            id: touchpoint.id,
            kind: touchpoint.kind,
            subject: touchpoint.subject.clone(),
            body: touchpoint.body.clone(),
            direction: touchpoint.direction,
            duration_minutes: touchpoint.duration_minutes,
            outcome: touchpoint.outcome.clone(),
            occurred_at: touchpoint.occurred_at,
            contact_id: touchpoint.contact_id,
            company_id: touchpoint.company_id,
            deal_id: touchpoint.deal_id,
            status,
            cancel_reason: None,
        };
        match event {
            Event::Logged(logged) => Some(from_touchpoint(logged, ActivityStatus::Logged)),
            Event::Scheduled(planned) => Some(from_touchpoint(planned, ActivityStatus::Scheduled)),
            Event::Completed(completed) => state.map(|activity| Activity {
                status: ActivityStatus::Logged,
                occurred_at: completed.occurred_at,
                outcome: completed.outcome.clone().or(activity.outcome.clone()),
                duration_minutes: completed.duration_minutes.or(activity.duration_minutes),
                ..activity
            }),
            Event::Cancelled(cancelled) => state.map(|activity| Activity {
                status: ActivityStatus::Cancelled,
                cancel_reason: cancelled.reason.clone(),
                ..activity
            }),
        }
    }

    fn exists(state: &Option<Activity>) -> bool {
        state.is_some()
    }
}

fn record(
    state: &Option<Activity>,
    new: NewActivity,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    if state.is_some() {
        return Err(DomainError::AlreadyExists);
    }
    if new.contact_id.is_none() && new.company_id.is_none() && new.deal_id.is_none() {
        return Err(DomainError::invalid(
            "contact_id",
            "an activity concerns at least one of contact_id, company_id and deal_id",
        ));
    }
    check_duration(new.duration_minutes)?;
    let in_the_future = new.occurred_at > context.now;
    let touchpoint = Touchpoint {
        id: new.id,
        kind: new.kind,
        subject: new.subject,
        body: new.body,
        direction: new.direction,
        duration_minutes: new.duration_minutes,
        outcome: new.outcome,
        occurred_at: new.occurred_at,
        contact_id: new.contact_id,
        company_id: new.company_id,
        deal_id: new.deal_id,
    };
    if in_the_future {
        Ok(vec![Event::Scheduled(touchpoint)])
    } else {
        Ok(vec![Event::Logged(touchpoint)])
    }
}

/// The activity, if it exists and is still scheduled.
fn scheduled(state: &Option<Activity>) -> Result<&Activity, DomainError> {
    let activity = state.as_ref().ok_or(DomainError::NotFound)?;
    match activity.status {
        ActivityStatus::Scheduled => Ok(activity),
        ActivityStatus::Logged => Err(DomainError::Conflict(
            "the activity is already logged".to_owned(),
        )),
        ActivityStatus::Cancelled => Err(DomainError::Conflict(
            "the activity is cancelled".to_owned(),
        )),
    }
}

fn check_duration(duration_minutes: Option<u16>) -> Result<(), DomainError> {
    if duration_minutes.is_some_and(|minutes| minutes > MAX_DURATION_MINUTES) {
        return Err(DomainError::invalid(
            "duration_minutes",
            format!("must be from 0 to {MAX_DURATION_MINUTES}"),
        ));
    }
    Ok(())
}
