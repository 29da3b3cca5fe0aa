//! The velocity report (`GET /v1/reports/velocity`): how deals move through a pipeline in a
//! window of time: stage-to-stage conversion, win rate, the sales cycle and the time spent per
//! stage, for everyone or per owner or team. SQL counts each group; this module, without I/O,
//! puts the stages in order and turns counts into rates.
//!
//! Definitions (also in the field docs):
//! - conversion of stage i: of the deals that entered stage i in the window, the share that
//!   afterwards (by the time of the report, not only within the window) reached a stage later in
//!   the pipeline's current order, or were won; a deal entering a stage twice counts once;
//! - win rate: of the deals closed in the window, the share won;
//! - sales cycle: from opening to winning, for the deals won in the window;
//! - time per stage: the length of the stays that ended in the window (by a stage change or by
//!   closing).
//!
//! Deals are grouped by their current owner or team; a closed deal's outcome (win rate, sales
//! cycle) by whoever owned it when it closed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::pipeline::Pipeline;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// A span of time, `from` included, `to` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Window {
    /// The first instant counted.
    pub from: DateTime<Utc>,
    /// The first instant after the window.
    pub to: DateTime<Utc>,
}

/// How the velocity report groups the deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// One group: every deal in scope.
    Total,
    /// One group per current owner.
    Owner,
    /// One group per current team (deals without a team together).
    Team,
}

/// How deals moved through a pipeline in a window.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VelocityReport {
    /// The pipeline reported on.
    pub pipeline_id: Uuid,
    /// The pipeline's name.
    pub pipeline_name: String,
    /// The window the figures cover.
    pub window: Window,
    /// How the deals are grouped.
    pub grouping: Grouping,
    /// One group for `total` (always present), else one per owner or team with deals in the
    /// window, ordered by owner or team.
    pub groups: Vec<VelocityGroup>,
}

/// The figures of one group of deals.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VelocityGroup {
    /// The owner of the group's deals, when grouped by owner.
    pub owner_id: Option<Uuid>,
    /// The team of the group's deals, when grouped by team (`null` also for deals without one).
    pub team: Option<String>,
    /// Every stage of the pipeline, in its order.
    pub stages: Vec<StageVelocity>,
    /// Deals won in the window.
    pub won_deals: u64,
    /// Deals lost in the window.
    pub lost_deals: u64,
    /// `won_deals / (won_deals + lost_deals)`; `null` when none closed.
    pub win_rate: Option<f64>,
    /// The average time from opening to winning of the deals won in the window, in days.
    pub average_cycle_days: Option<f64>,
}

/// How deals moved through one stage.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StageVelocity {
    /// The stage's key.
    pub key: String,
    /// The stage's name.
    pub name: String,
    /// Deals that entered the stage in the window (each once).
    pub entered: u64,
    /// Of those, the deals that afterwards reached a later stage of the pipeline or were won.
    pub advanced: u64,
    /// `advanced / entered`; `null` when none entered.
    pub conversion_rate: Option<f64>,
    /// Stays in the stage that ended in the window.
    pub stays_ended: u64,
    /// Their average length, in days; `null` when none ended.
    pub average_days_in_stage: Option<f64>,
}

/// One row of the velocity export: a group and one stage, with the group's figures repeated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VelocityRow {
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    pub stage_order: u32,
    pub stage_key: String,
    pub stage_name: String,
    pub entered: u64,
    pub advanced: u64,
    pub conversion_rate: Option<f64>,
    pub stays_ended: u64,
    pub average_days_in_stage: Option<f64>,
    pub won_deals: u64,
    pub lost_deals: u64,
    pub win_rate: Option<f64>,
    pub average_cycle_days: Option<f64>,
}

impl VelocityReport {
    /// One row per group and stage.
    pub fn rows(&self) -> Vec<VelocityRow> {
        let mut rows = Vec::new();
        for group in &self.groups {
            for (order, stage) in (1..).zip(&group.stages) {
                rows.push(VelocityRow {
                    owner_id: group.owner_id,
                    team: group.team.clone(),
                    stage_order: order,
                    stage_key: stage.key.clone(),
                    stage_name: stage.name.clone(),
                    entered: stage.entered,
                    advanced: stage.advanced,
                    conversion_rate: stage.conversion_rate,
                    stays_ended: stage.stays_ended,
                    average_days_in_stage: stage.average_days_in_stage,
                    won_deals: group.won_deals,
                    lost_deals: group.lost_deals,
                    win_rate: group.win_rate,
                    average_cycle_days: group.average_cycle_days,
                });
            }
        }
        rows
    }
}

/// A group's key: its owner or its team (both `None` for the total).
pub(crate) type GroupKey = (Option<Uuid>, Option<String>);

/// Entries into a stage in the window, and how many of them advanced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conversion {
    pub group: GroupKey,
    pub stage: String,
    pub entered: u64,
    pub advanced: u64,
}

/// Stays in a stage that ended in the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StayLengths {
    pub group: GroupKey,
    pub stage: String,
    pub ended: u64,
    pub average_seconds: f64,
}

/// Deals closed in the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcomes {
    pub group: GroupKey,
    pub won: u64,
    pub lost: u64,
    /// The average cycle of the won ones, in seconds.
    pub average_cycle_seconds: Option<f64>,
}

/// The report of `pipeline` from the counts SQL made; figures of stages the pipeline no longer
/// has are left out (conversion is defined along the current order).
pub(crate) fn assemble(
    pipeline: &Pipeline,
    window: Window,
    grouping: Grouping,
    conversions: &[Conversion],
    stays: &[StayLengths],
    outcomes: &[Outcomes],
) -> VelocityReport {
    let empty = |group: &GroupKey| VelocityGroup {
        owner_id: group.0,
        team: group.1.clone(),
        stages: pipeline
            .stages
            .iter()
            .map(|stage| StageVelocity {
                key: stage.key.to_string(),
                name: stage.name.to_string(),
                entered: 0,
                advanced: 0,
                conversion_rate: None,
                stays_ended: 0,
                average_days_in_stage: None,
            })
            .collect(),
        won_deals: 0,
        lost_deals: 0,
        win_rate: None,
        average_cycle_days: None,
    };
    let mut groups: BTreeMap<GroupKey, VelocityGroup> = BTreeMap::new();
    if grouping == Grouping::Total {
        groups.insert((None, None), empty(&(None, None)));
    }
    for conversion in conversions {
        let group = groups
            .entry(conversion.group.clone())
            .or_insert_with(|| empty(&conversion.group));
        if let Some(stage) = group.stages.iter_mut().find(|s| s.key == conversion.stage) {
            stage.entered += conversion.entered;
            stage.advanced += conversion.advanced;
            stage.conversion_rate = rate(stage.advanced, stage.entered);
        }
    }
    for lengths in stays {
        let group = groups
            .entry(lengths.group.clone())
            .or_insert_with(|| empty(&lengths.group));
        if let Some(stage) = group.stages.iter_mut().find(|s| s.key == lengths.stage) {
            stage.stays_ended = lengths.ended;
            stage.average_days_in_stage = Some(lengths.average_seconds / SECONDS_PER_DAY);
        }
    }
    for outcome in outcomes {
        let group = groups
            .entry(outcome.group.clone())
            .or_insert_with(|| empty(&outcome.group));
        group.won_deals = outcome.won;
        group.lost_deals = outcome.lost;
        group.win_rate = rate(outcome.won, outcome.won + outcome.lost);
        group.average_cycle_days = outcome
            .average_cycle_seconds
            .map(|seconds| seconds / SECONDS_PER_DAY);
    }
    VelocityReport {
        pipeline_id: pipeline.id,
        pipeline_name: pipeline.name.to_string(),
        window,
        grouping,
        groups: groups.into_values().collect(),
    }
}

/// `part / whole`, when there is a whole.
pub(crate) fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests;
