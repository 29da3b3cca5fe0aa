//! The pipeline report (`GET /v1/reports/pipeline`): per stage, in the pipeline's order, the
//! open deals, their total and probability-weighted value per currency, how long they have sat
//! in the stage and how many are stalled. SQL aggregates each (stage, currency) group; this
//! module, without I/O, puts the groups in stage order and combines them per stage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::pipeline::Pipeline;
use domain::values::Currency;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// The open deals of a pipeline, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PipelineReport {
    /// The pipeline reported on.
    pub pipeline_id: Uuid,
    /// The pipeline's name.
    pub pipeline_name: String,
    /// The time ages and stalled deals are measured from.
    pub as_of: DateTime<Utc>,
    /// A deal with no activity (a touchpoint logged or completed on it) for this many days is
    /// stalled; a deal without any activity counts from when it was opened.
    pub stalled_after_days: u32,
    /// Every stage of the pipeline in its order, then any stage no longer in the pipeline that
    /// still holds open deals.
    pub stages: Vec<StageSummary>,
    /// The open deals of all stages, per currency (never added across currencies).
    pub totals: Vec<CurrencyTotal>,
}

/// The open deals of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StageSummary {
    /// The stage's key.
    pub key: String,
    /// The stage's name (its key when it is no longer in the pipeline).
    pub name: String,
    /// The stage's probability of winning, in percent; `null` when it is no longer in the
    /// pipeline.
    pub probability: Option<u8>,
    /// Whether the pipeline still has this stage.
    pub in_pipeline: bool,
    /// How many open deals are in the stage, in every currency.
    pub open_deals: u64,
    /// How many of them are stalled.
    pub stalled_deals: u64,
    /// The average time the open deals have been in the stage, in days; `null` without deals.
    pub average_days_in_stage: Option<f64>,
    /// The longest time an open deal has been in the stage, in days; `null` without deals.
    pub oldest_days_in_stage: Option<f64>,
    /// The open deals' value, per currency.
    pub totals: Vec<CurrencyTotal>,
}

/// Open deals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CurrencyTotal {
    /// The ISO 4217 currency of the amounts.
    pub currency: Currency,
    /// How many open deals are in this currency.
    pub deals: u64,
    /// Their amounts added up, in minor units of `currency`.
    pub total_minor: i64,
    /// The amounts times the stage's probability now (a stage no longer in the pipeline: each
    /// deal's when it entered it), rounded to a minor unit; summed over stages for the report's
    /// totals.
    pub weighted_minor: i64,
}

/// One row of the pipeline report's export: a stage and one of its currencies (or the stage
/// alone, when it holds no deals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineReportRow {
    pub stage_order: u32,
    pub stage_key: String,
    pub stage_name: String,
    pub probability: Option<u8>,
    pub open_deals: u64,
    pub stalled_deals: u64,
    pub average_days_in_stage: Option<f64>,
    pub oldest_days_in_stage: Option<f64>,
    pub currency: Option<String>,
    pub currency_deals: Option<u64>,
    pub total_minor: Option<i64>,
    pub weighted_minor: Option<i64>,
}

impl PipelineReport {
    /// One row per stage and currency, in stage order.
    pub fn rows(&self) -> Vec<PipelineReportRow> {
        let mut rows = Vec::new();
        for (order, stage) in (1..).zip(&self.stages) {
            let row = |total: Option<&CurrencyTotal>| PipelineReportRow {
                stage_order: order,
                stage_key: stage.key.clone(),
                stage_name: stage.name.clone(),
                probability: stage.probability,
                open_deals: stage.open_deals,
                stalled_deals: stage.stalled_deals,
                average_days_in_stage: stage.average_days_in_stage,
                oldest_days_in_stage: stage.oldest_days_in_stage,
                currency: total.map(|total| total.currency.to_string()),
                currency_deals: total.map(|total| total.deals),
                total_minor: total.map(|total| total.total_minor),
                weighted_minor: total.map(|total| total.weighted_minor),
            };
            if stage.totals.is_empty() {
                rows.push(row(None));
            }
            rows.extend(stage.totals.iter().map(|total| row(Some(total))));
        }
        rows
    }
}

/// The open deals of one stage in one currency, as SQL aggregates them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenGroup {
    pub stage: String,
    pub currency: Currency,
    pub deals: u64,
    pub total_minor: i64,
    pub weighted_minor: i64,
    /// The deals' times in the stage added up, in seconds.
    pub age_seconds_sum: f64,
    pub age_seconds_max: f64,
    pub stalled: u64,
}

/// `percent` of `total`, rounded half away from zero as SQL's `round` does.
pub(crate) fn weigh(total: i64, percent: u8) -> i64 {
    let scaled = i128::from(total) * i128::from(percent);
    let half = if scaled < 0 { -50 } else { 50 };
    i64::try_from((scaled + half) / 100).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

/// The report of `pipeline` from its open groups.
pub(crate) fn assemble(
    pipeline: &Pipeline,
    as_of: DateTime<Utc>,
    stalled_after_days: u32,
    groups: &[OpenGroup],
) -> PipelineReport {
    let mut stages: Vec<StageSummary> = pipeline
        .stages
        .iter()
        .map(|stage| StageSummary {
            key: stage.key.to_string(),
            name: stage.name.to_string(),
            probability: Some(stage.probability.percent()),
            in_pipeline: true,
            ..empty_stage("")
        })
        .collect();
    let mut ages: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut totals: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
    for group in groups {
        let index = match stages.iter().position(|stage| stage.key == group.stage) {
            Some(index) => index,
            None => {
                stages.push(empty_stage(&group.stage));
                stages.len() - 1
            }
        };
        let stage = &mut stages[index];
        // Weighed by the stage's probability now: a manager who changes it re-weighs the
        // pipeline. (A stage no longer in the pipeline keeps its deals' own.)
        let weighted_minor = stage.probability.map_or(group.weighted_minor, |percent| {
            weigh(group.total_minor, percent)
        });
        stage.open_deals += group.deals;
        stage.stalled_deals += group.stalled;
        stage.totals.push(CurrencyTotal {
            currency: group.currency,
            deals: group.deals,
            total_minor: group.total_minor,
            weighted_minor,
        });
        let age = ages.entry(group.stage.clone()).or_insert((0.0, 0.0));
        age.0 += group.age_seconds_sum;
        age.1 = age.1.max(group.age_seconds_max);
        let total = totals.entry(group.currency).or_insert(CurrencyTotal {
            currency: group.currency,
            deals: 0,
            total_minor: 0,
            weighted_minor: 0,
        });
        total.deals += group.deals;
        total.total_minor = total.total_minor.saturating_add(group.total_minor);
        total.weighted_minor = total.weighted_minor.saturating_add(weighted_minor);
    }
    for stage in &mut stages {
        stage.totals.sort_by_key(|total| total.currency);
        if let Some((sum, max)) = ages.get(&stage.key).filter(|_| stage.open_deals > 0) {
            stage.average_days_in_stage = Some(sum / stage.open_deals as f64 / SECONDS_PER_DAY);
            stage.oldest_days_in_stage = Some(max / SECONDS_PER_DAY);
        }
    }
    PipelineReport {
        pipeline_id: pipeline.id,
        pipeline_name: pipeline.name.to_string(),
        as_of,
        stalled_after_days,
        stages,
        totals: totals.into_values().collect(),
    }
}

/// A stage the pipeline no longer has, holding no deals yet.
fn empty_stage(key: &str) -> StageSummary {
    StageSummary {
        key: key.to_owned(),
        name: key.to_owned(),
        probability: None,
        in_pipeline: false,
        open_deals: 0,
        stalled_deals: 0,
        average_days_in_stage: None,
        oldest_days_in_stage: None,
        totals: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
