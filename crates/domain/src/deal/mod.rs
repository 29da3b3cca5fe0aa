//! A deal: a sale in progress, moving through the stages of one pipeline until it is won or lost.
//!
//! The deal does not own its pipeline: the edge loads the pipeline's stages and hands them in
//! ([`PipelineStages`]), and the deal refuses a stage that pipeline does not have. Its amount keeps
//! the currency it was opened in, so reports never add up mixed currencies. A closed deal keeps
//! its stage, amount and expected close until a manager or an admin reopens it.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pipeline::PipelineStages;
use crate::values::{Money, Name, Probability, Role, StageKey, Team, Text};
use crate::{Aggregate, Context, DomainError};

/// A deal as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deal {
    pub id: Uuid,
    pub title: Name,
    pub pipeline_id: Uuid,
    pub stage: StageKey,
    /// The probability of the stage when the deal entered it.
    pub probability: Probability,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
    pub owner_id: Uuid,
    pub team: Option<Team>,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub status: DealStatus,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewDeal),
    Rename {
        title: Name,
    },
    /// Moves the deal to `stage` of `pipeline`, the deal's pipeline as the edge loaded it.
    ChangeStage {
        stage: StageKey,
        pipeline: PipelineStages,
    },
    /// Changes the amount; the currency stays the one the deal was opened in.
    ChangeAmount {
        amount: Money,
    },
    ChangeExpectedClose {
        expected_close_on: Option<NaiveDate>,
    },
    Reassign {
        owner_id: Uuid,
        team: Option<Team>,
    },
    Win {
        reason: Option<Text>,
    },
    Lose {
        reason: Option<Text>,
    },
    /// Opens a closed deal again, in the stage it closed in, which `pipeline` (the deal's, as
    /// loaded now) must still have; managers and admins only.
    Reopen {
        pipeline: PipelineStages,
    },
}

/// A deal to open, with the id the caller chose, in a stage of `pipeline`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeal {
    pub id: Uuid,
    pub title: Name,
    pub pipeline: PipelineStages,
    pub stage: StageKey,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
    pub owner_id: Uuid,
    pub team: Option<Team>,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
}

impl Aggregate for Deal {
    const STREAM_TYPE: &'static str = "deal";
    type State = Option<Deal>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Deal>,
        command: Command,
        context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => create(state, new),
            Command::Rename { title } => {
                let unchanged = existing(state)?.title == title;
                Ok(when_changed(unchanged, Event::Renamed(Renamed { title })))
            }
            Command::ChangeStage { stage, pipeline } => change_stage(state, stage, &pipeline),
            Command::ChangeAmount { amount } => change_amount(state, amount),
            Command::ChangeExpectedClose { expected_close_on } => {
                let unchanged = open(state)?.expected_close_on == expected_close_on;
                let event = Event::ExpectedCloseChanged(ExpectedCloseChanged { expected_close_on });
                Ok(when_changed(unchanged, event))
            }
            Command::Reassign { owner_id, team } => {
                let deal = existing(state)?;
                let unchanged = deal.owner_id == owner_id && deal.team == team;
                Ok(when_changed(
                    unchanged,
                    Event::Reassigned(Reassigned { owner_id, team }),
                ))
            }
            Command::Win { reason } => {
                open(state)?;
                Ok(vec![Event::Won(Closed {
                    reason,
                    closed_at: context.now,
                })])
            }
            Command::Lose { reason } => {
                open(state)?;
                Ok(vec![Event::Lost(Closed {
                    reason,
                    closed_at: context.now,
                })])
            }
            Command::Reopen { pipeline } => reopen(state, &pipeline, context),
        }
    }

    fn evolve(state: Option<Deal>, event: &Event) -> Option<Deal> {
        if let Event::Created(created) = event {
            return Some(Deal {
                id: created.id,
                title: created.title.clone(),
                pipeline_id: created.pipeline_id,
                stage: created.stage.clone(),
                probability: created.probability,
                amount: created.amount,
                expected_close_on: created.expected_close_on,
                owner_id: created.owner_id,
                team: created.team.clone(),
                company_id: created.company_id,
                contact_id: created.contact_id,
                status: DealStatus::Open,
                closed_at: None,
                close_reason: None,
            });
        }
        let mut deal = state?;
        match event {
            Event::Created(_) => {}
            Event::Renamed(renamed) => deal.title = renamed.title.clone(),
            Event::StageChanged(changed) => {
                deal.stage = changed.to.clone();
                deal.probability = changed.probability;
            }
            Event::AmountChanged(changed) => deal.amount = changed.to,
            Event::ExpectedCloseChanged(changed) => {
                deal.expected_close_on = changed.expected_close_on;
            }
            Event::Reassigned(reassigned) => {
                deal.owner_id = reassigned.owner_id;
                deal.team = reassigned.team.clone();
            }
            Event::Won(closed) => deal.close(DealStatus::Won, closed),
            Event::Lost(closed) => deal.close(DealStatus::Lost, closed),
            Event::Reopened(_) => {
                deal.status = DealStatus::Open;
                deal.closed_at = None;
                deal.close_reason = None;
            }
        }
        Some(deal)
    }

    fn exists(state: &Option<Deal>) -> bool {
        state.is_some()
    }
}

impl Deal {
    fn close(&mut self, status: DealStatus, closed: &Closed) {
        self.status = status;
        self.closed_at = Some(closed.closed_at);
        self.close_reason = closed.reason.clone();
    }
}

fn create(state: &Option<Deal>, new: NewDeal) -> Result<Vec<Event>, DomainError> {
    if state.is_some() {
        return Err(DomainError::AlreadyExists);
    }
    let probability = stage_of(&new.pipeline, &new.stage)?.probability;
    within_bounds(&new.amount)?;
    Ok(vec![Event::Created(Created {
        id: new.id,
        title: new.title,
        pipeline_id: new.pipeline.pipeline_id,
        stage: new.stage,
        probability,
        amount: new.amount,
        expected_close_on: new.expected_close_on,
        owner_id: new.owner_id,
        team: new.team,
        company_id: new.company_id,
        contact_id: new.contact_id,
    })])
}

fn change_stage(
    state: &Option<Deal>,
    stage: StageKey,
    pipeline: &PipelineStages,
) -> Result<Vec<Event>, DomainError> {
    let deal = open(state)?;
    if pipeline.pipeline_id != deal.pipeline_id {
        return Err(DomainError::invalid(
            "pipeline_id",
            "the stages given are not those of the deal's pipeline",
        ));
    }
    let probability = stage_of(pipeline, &stage)?.probability;
    if stage == deal.stage {
        return Ok(vec![]);
    }
    Ok(vec![Event::StageChanged(StageChanged {
        from: deal.stage.clone(),
        to: stage,
        probability,
    })])
}

fn change_amount(state: &Option<Deal>, amount: Money) -> Result<Vec<Event>, DomainError> {
    let deal = open(state)?;
    if amount.currency != deal.amount.currency {
        return Err(DomainError::invalid(
            "amount.currency",
            format!(
                "the deal is in {}; money never changes currency",
                deal.amount.currency
            ),
        ));
    }
    within_bounds(&amount)?;
    Ok(when_changed(
        amount == deal.amount,
        Event::AmountChanged(AmountChanged {
            from: deal.amount,
            to: amount,
        }),
    ))
}

fn reopen(
    state: &Option<Deal>,
    pipeline: &PipelineStages,
    context: &Context,
) -> Result<Vec<Event>, DomainError> {
    let deal = existing(state)?;
    if !matches!(context.actor_role, Role::Manager | Role::Admin) {
        return Err(DomainError::Forbidden(
            "only a manager or an admin reopens a deal".to_owned(),
        ));
    }
    if deal.status == DealStatus::Open {
        return Err(DomainError::Conflict("the deal is open".to_owned()));
    }
    if pipeline.pipeline_id != deal.pipeline_id {
        return Err(DomainError::invalid(
            "pipeline_id",
            "the stages given are not those of the deal's pipeline",
        ));
    }
    if pipeline.stage(&deal.stage).is_none() {
        return Err(DomainError::Conflict(format!(
            "the stage {} the deal closed in was removed from its pipeline; add it back to \
             reopen the deal",
            deal.stage.as_str()
        )));
    }
    Ok(vec![Event::Reopened(Reopened {})])
}

fn existing(state: &Option<Deal>) -> Result<&Deal, DomainError> {
    state.as_ref().ok_or(DomainError::NotFound)
}

/// The deal, if it exists and is neither won nor lost.
fn open(state: &Option<Deal>) -> Result<&Deal, DomainError> {
    let deal = existing(state)?;
    match deal.status {
        DealStatus::Open => Ok(deal),
        DealStatus::Won => Err(DomainError::Conflict(
            "the deal is won; reopen it first".to_owned(),
        )),
        DealStatus::Lost => Err(DomainError::Conflict(
            "the deal is lost; reopen it first".to_owned(),
        )),
    }
}

fn stage_of<'a>(
    pipeline: &'a PipelineStages,
    key: &StageKey,
) -> Result<&'a crate::pipeline::Stage, DomainError> {
    pipeline
        .stage(key)
        .ok_or_else(|| DomainError::invalid("stage", "the deal's pipeline has no such stage"))
}

/// The largest amount a deal may carry, in minor units: a hundred billion in a currency of
/// cents. The reports weigh an amount by a probability (up to 100) and add thousands of deals
/// up; this bound keeps every such sum within a 64-bit integer, so no deal can stop them.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

fn within_bounds(amount: &Money) -> Result<(), DomainError> {
    if amount.amount_minor < 0 {
        return Err(DomainError::invalid(
            "amount.amount_minor",
            "must not be negative",
        ));
    }
    if amount.amount_minor > MAX_AMOUNT_MINOR {
        return Err(DomainError::invalid(
            "amount.amount_minor",
            format!("must be at most {MAX_AMOUNT_MINOR}"),
        ));
    }
    Ok(())
}

/// The event, unless the command asks for what already is.
fn when_changed(unchanged: bool, event: Event) -> Vec<Event> {
    if unchanged { vec![] } else { vec![event] }
}
