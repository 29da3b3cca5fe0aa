//! A batch folded in memory, with no I/O: the rows it touches come in loaded ([`Rows`]), each
//! event changes them in position order, and whatever they hold afterwards is written back.
//!
//! A deal's current stay in a stage is never loaded: while a deal is open, its row says which
//! stay is current (`stays`, the stay's number), in which stage and since when, so the stay can
//! be rebuilt from the row when an event closes it.
//!
//! Each event of a pipeline, deal or lead must carry the version after its row's: a gap or a
//! repeat means the feed lost or doubled an event, and the batch is refused rather than folded
//! into a wrong row.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use domain::pipeline::Pipeline;
use domain::values::Money;
use domain::{Aggregate, activity, deal, lead};
use projector::ProjectionError;
use uuid::Uuid;

use crate::decode::{Change, Item};

/// Where a deal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    Open,
    Won,
    Lost,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Won => "won",
            Status::Lost => "lost",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Status> {
        [Status::Open, Status::Won, Status::Lost]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A pipeline as the domain folds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PipelineState {
    pub version: u64,
    pub position: u64,
    pub pipeline: Option<Pipeline>,
}

/// A deal as the reports need it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DealState {
    pub version: u64,
    pub position: u64,
    pub pipeline_id: Uuid,
    pub stage: String,
    /// The probability of its stage when it entered it, in percent.
    pub probability: u8,
    pub amount: Money,
    pub expected_close_on: Option<NaiveDate>,
    pub owner_id: Uuid,
    pub team: Option<String>,
    pub status: Status,
    pub opened_at: DateTime<Utc>,
    /// When it entered its current stage (or was last reopened in it).
    pub stage_entered_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Its owner and their team when it closed: a win stays theirs (the leaderboard's credit)
    /// when the deal is handed to someone else afterwards.
    pub closed_by: Option<Owner>,
    /// The latest `occurred_at` of the touchpoints logged or completed on it.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// How many stays it has had; the last one is current while it is open.
    pub stays: i32,
}

/// A user and the team they were in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Owner {
    pub id: Uuid,
    pub team: Option<String>,
}

/// One stay of a deal in a stage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StayState {
    pub pipeline_id: Uuid,
    pub stage: String,
    pub entered_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// The stage it moved to, when it left by a stage change.
    pub left_to: Option<String>,
    /// Won or lost, when it left by closing.
    pub closed_as: Option<Status>,
}

/// A lead's source, campaign and fate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeadState {
    pub version: u64,
    pub position: u64,
    pub source: String,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    pub captured_at: DateTime<Utc>,
    pub qualified_at: Option<DateTime<Utc>>,
    pub disqualified_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

/// The rows a batch reads and writes, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rows {
    pub pipelines: BTreeMap<Uuid, PipelineState>,
    pub deals: BTreeMap<Uuid, DealState>,
    /// Keyed by deal and the stay's number (from 1).
    pub stays: BTreeMap<(Uuid, i32), StayState>,
    pub leads: BTreeMap<Uuid, LeadState>,
    /// Scheduled activities on a deal: the activity's id, the deal's id.
    pub activities: BTreeMap<Uuid, Uuid>,
}

/// The ids whose rows a batch reads, before any deal an activity's completion concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub pipelines: Vec<Uuid>,
    pub deals: Vec<Uuid>,
    pub leads: Vec<Uuid>,
    /// Activities completed in the batch: their deal is in the `activities` table.
    pub activities: Vec<Uuid>,
}

/// What `items` touch.
pub(crate) fn wanted(items: &[Item]) -> Wanted {
    let mut pipelines = BTreeSet::new();
    let mut deals = BTreeSet::new();
    let mut leads = BTreeSet::new();
    let mut activities = BTreeSet::new();
    for item in items {
        match &item.change {
            Change::Pipeline(_) => {
                pipelines.insert(item.id);
            }
            Change::Deal(_) => {
                deals.insert(item.id);
            }
            Change::Lead(_) => {
                leads.insert(item.id);
            }
            Change::Activity(
                activity::Event::Logged(touchpoint) | activity::Event::Scheduled(touchpoint),
            ) => {
                deals.extend(touchpoint.deal_id);
            }
            Change::Activity(activity::Event::Completed(_)) => {
                activities.insert(item.id);
            }
            Change::Activity(_) => {}
        }
    }
    Wanted {
        pipelines: pipelines.into_iter().collect(),
        deals: deals.into_iter().collect(),
        leads: leads.into_iter().collect(),
        activities: activities.into_iter().collect(),
    }
}

/// The deals of the batch plus those its completed activities concern, once the activities are
/// loaded.
pub(crate) fn deals_wanted(wanted: &Wanted, activities: &BTreeMap<Uuid, Uuid>) -> Vec<Uuid> {
    let mut deals: BTreeSet<Uuid> = wanted.deals.iter().copied().collect();
    deals.extend(activities.values().copied());
    deals.into_iter().collect()
}

/// Folds `items` (in position order) into `rows`.
pub(crate) fn fold(rows: &mut Rows, items: &[Item]) -> Result<(), ProjectionError> {
    for item in items {
        match &item.change {
            Change::Pipeline(event) => fold_pipeline(rows, item, event)?,
            Change::Deal(event) => fold_deal(rows, item, event)?,
            Change::Lead(event) => fold_lead(rows, item, event)?,
            Change::Activity(event) => fold_activity(rows, item, event),
        }
    }
    Ok(())
}

fn refuse(item: &Item, reason: String) -> ProjectionError {
    ProjectionError::Event {
        position: item.position,
        reason,
    }
}

fn check_version(item: &Item, stream: &str, current: u64) -> Result<(), ProjectionError> {
    if item.version == current + 1 {
        return Ok(());
    }
    Err(refuse(
        item,
        format!(
            "{stream}/{} is at version {current}, the event brings version {}: an event is \
             missing or repeated",
            item.id, item.version
        ),
    ))
}

fn before_creation(item: &Item, stream: &str) -> ProjectionError {
    refuse(
        item,
        format!("an event of {stream}/{} before its creation", item.id),
    )
}

fn fold_pipeline(
    rows: &mut Rows,
    item: &Item,
    event: &domain::pipeline::Event,
) -> Result<(), ProjectionError> {
    let row = rows.pipelines.entry(item.id).or_insert(PipelineState {
        version: 0,
        position: 0,
        pipeline: None,
    });
    check_version(item, Pipeline::STREAM_TYPE, row.version)?;
    row.pipeline = Pipeline::evolve(row.pipeline.take(), event);
    if row.pipeline.is_none() {
        return Err(before_creation(item, Pipeline::STREAM_TYPE));
    }
    row.version = item.version;
    row.position = item.position;
    Ok(())
}

fn fold_deal(rows: &mut Rows, item: &Item, event: &deal::Event) -> Result<(), ProjectionError> {
    let Rows { deals, stays, .. } = rows;
    let current = deals.get(&item.id).map_or(0, |deal| deal.version);
    check_version(item, deal::Deal::STREAM_TYPE, current)?;
    if let deal::Event::Created(created) = event {
        let deal = DealState {
            version: item.version,
            position: item.position,
            pipeline_id: created.pipeline_id,
            stage: created.stage.to_string(),
            probability: created.probability.percent(),
            amount: created.amount,
            expected_close_on: created.expected_close_on,
            owner_id: created.owner_id,
            team: created.team.as_ref().map(ToString::to_string),
            status: Status::Open,
            opened_at: item.time,
            stage_entered_at: item.time,
            closed_at: None,
            closed_by: None,
            last_activity_at: None,
            stays: 1,
        };
        stays.insert((item.id, 1), current_stay(&deal));
        deals.insert(item.id, deal);
        return Ok(());
    }
    let deal = deals
        .get_mut(&item.id)
        .ok_or_else(|| before_creation(item, deal::Deal::STREAM_TYPE))?;
    deal.version = item.version;
    deal.position = item.position;
    match event {
        deal::Event::Created(_) | deal::Event::Renamed(_) => {}
        deal::Event::StageChanged(changed) => {
            let to = changed.to.to_string();
            leave_stay(stays, item.id, deal, item.time, Some(to.clone()), None);
            deal.stage = to;
            deal.probability = changed.probability.percent();
            enter_stay(stays, item.id, deal, item.time);
        }
        deal::Event::AmountChanged(changed) => deal.amount = changed.to,
        deal::Event::ExpectedCloseChanged(changed) => {
            deal.expected_close_on = changed.expected_close_on;
        }
        deal::Event::Reassigned(reassigned) => {
            deal.owner_id = reassigned.owner_id;
            deal.team = reassigned.team.as_ref().map(ToString::to_string);
        }
        deal::Event::Won(closed) => close(stays, item.id, deal, Status::Won, closed.closed_at),
        deal::Event::Lost(closed) => close(stays, item.id, deal, Status::Lost, closed.closed_at),
        deal::Event::Reopened(_) => {
            if deal.status != Status::Open {
                deal.status = Status::Open;
                deal.closed_at = None;
                deal.closed_by = None;
                enter_stay(stays, item.id, deal, item.time);
            }
        }
    }
    Ok(())
}

/// The open deal's current stay, as its row describes it.
fn current_stay(deal: &DealState) -> StayState {
    StayState {
        pipeline_id: deal.pipeline_id,
        stage: deal.stage.clone(),
        entered_at: deal.stage_entered_at,
        left_at: None,
        left_to: None,
        closed_as: None,
    }
}

/// Ends the current stay of `deal`, if it is open.
fn leave_stay(
    stays: &mut BTreeMap<(Uuid, i32), StayState>,
    id: Uuid,
    deal: &DealState,
    at: DateTime<Utc>,
    left_to: Option<String>,
    closed_as: Option<Status>,
) {
    if deal.status != Status::Open {
        return;
    }
    let stay = stays
        .entry((id, deal.stays))
        .or_insert_with(|| current_stay(deal));
    stay.left_at = Some(at);
    stay.left_to = left_to;
    stay.closed_as = closed_as;
}

/// Starts a stay of `deal` in its (new) stage at `at`.
fn enter_stay(
    stays: &mut BTreeMap<(Uuid, i32), StayState>,
    id: Uuid,
    deal: &mut DealState,
    at: DateTime<Utc>,
) {
    deal.stage_entered_at = at;
    if deal.status != Status::Open {
        return;
    }
    deal.stays += 1;
    stays.insert((id, deal.stays), current_stay(deal));
}

fn close(
    stays: &mut BTreeMap<(Uuid, i32), StayState>,
    id: Uuid,
    deal: &mut DealState,
    status: Status,
    at: DateTime<Utc>,
) {
    leave_stay(stays, id, deal, at, None, Some(status));
    deal.status = status;
    deal.closed_at = Some(at);
    deal.closed_by = Some(Owner {
        id: deal.owner_id,
        team: deal.team.clone(),
    });
}

fn fold_lead(rows: &mut Rows, item: &Item, event: &lead::Event) -> Result<(), ProjectionError> {
    let current = rows.leads.get(&item.id).map_or(0, |lead| lead.version);
    check_version(item, lead::Lead::STREAM_TYPE, current)?;
    if let lead::Event::Captured(captured) = event {
        rows.leads.insert(
            item.id,
            LeadState {
                version: item.version,
                position: item.position,
                source: captured.source.to_string(),
                campaign_id: captured.campaign_id,
                owner_id: captured.owner_id,
                team: captured.team.as_ref().map(ToString::to_string),
                captured_at: item.time,
                qualified_at: None,
                disqualified_at: None,
                converted_at: None,
                contact_id: None,
                deal_id: None,
            },
        );
        return Ok(());
    }
    let lead = rows
        .leads
        .get_mut(&item.id)
        .ok_or_else(|| before_creation(item, lead::Lead::STREAM_TYPE))?;
    lead.version = item.version;
    lead.position = item.position;
    match event {
        lead::Event::Captured(_) => {}
        lead::Event::Qualified(_) => {
            lead.qualified_at.get_or_insert(item.time);
        }
        lead::Event::Disqualified(_) => lead.disqualified_at = Some(item.time),
        lead::Event::Converted(converted) => {
            lead.converted_at = Some(item.time);
            lead.contact_id = Some(converted.contact_id);
            lead.deal_id = converted.deal_id;
        }
        lead::Event::Reassigned(reassigned) => {
            lead.owner_id = Some(reassigned.owner_id);
            lead.team = reassigned.team.as_ref().map(ToString::to_string);
        }
    }
    Ok(())
}

/// Touchpoints logged or completed on a deal are activity on it; others are passed over, as is
/// an activity on a deal the read model does not hold.
fn fold_activity(rows: &mut Rows, item: &Item, event: &activity::Event) {
    let touched = match event {
        activity::Event::Logged(touchpoint) => touchpoint
            .deal_id
            .map(|deal_id| (deal_id, touchpoint.occurred_at)),
        activity::Event::Scheduled(touchpoint) => {
            if let Some(deal_id) = touchpoint.deal_id {
                rows.activities.insert(item.id, deal_id);
            }
            None
        }
        activity::Event::Completed(completed) => rows
            .activities
            .get(&item.id)
            .map(|deal_id| (*deal_id, completed.occurred_at)),
        activity::Event::Cancelled(_) => None,
    };
    let Some((deal_id, occurred_at)) = touched else {
        return;
    };
    if let Some(deal) = rows.deals.get_mut(&deal_id) {
        // A touchpoint backdated to before the deal opened touches it no earlier than that:
        // a new deal is never stalled by its history.
        let touched = occurred_at.max(deal.opened_at);
        deal.last_activity_at = deal.last_activity_at.max(Some(touched));
    }
}

#[cfg(test)]
pub(crate) mod tests;
