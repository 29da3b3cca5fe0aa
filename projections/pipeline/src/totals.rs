//! The open deals summed ahead of the pipeline report, so that it reads a few hundred summary
//! rows instead of every open deal. A batch changes the sums by exactly what it changed: each
//! deal it touched is taken out as it was loaded and put back as the fold left it, and only the
//! net change of each summary row is written ([`OpenTotals`], without I/O).
//!
//! A summary row is one group of open deals: pipeline, stage, currency, owner, team and the day
//! (UTC) the deal was last touched (its last activity, else its opening). The day is in the key
//! because "stalled" depends on when the report is asked: every deal last touched before the
//! cutoff's day is stalled, and only the cutoff's own day needs the deals themselves.
//!
//! **Invariant:** after every batch, each row equals the sums over the open deals of its group,
//! and no row holds zero deals.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::values::Currency;
use projector::ProjectionError;
use uuid::Uuid;

use crate::fold::{DealState, Status};

/// The group of open deals one summary row sums.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupKey {
    pub pipeline_id: Uuid,
    pub stage: String,
    pub currency: Currency,
    pub owner_id: Uuid,
    /// The deal's team; the empty string for none (a key column cannot be null, and a team is
    /// never empty).
    pub team: String,
    pub touched_on: NaiveDate,
}

/// What a summary row adds up over its deals (or, in a batch, the change to it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub deals: i64,
    pub total_minor: i128,
    /// Each amount times its probability in percent: divided by 100 only once summed, so
    /// the report rounds once, as it would over the deals.
    pub weighted_percent_minor: i128,
    /// When each deal entered its stage, in milliseconds since the Unix epoch.
    pub entered_ms: i128,
}

/// The net change a batch makes to each summary row.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct OpenTotals {
    changes: BTreeMap<GroupKey, Sums>,
}

impl OpenTotals {
    /// Takes out the open deals among `deals` (as they were before the batch).
    pub(crate) fn remove<'a>(&mut self, deals: impl IntoIterator<Item = &'a DealState>) {
        self.apply(deals, -1);
    }

    /// Puts in the open deals among `deals` (as the batch left them).
    pub(crate) fn add<'a>(&mut self, deals: impl IntoIterator<Item = &'a DealState>) {
        self.apply(deals, 1);
    }

    fn apply<'a>(&mut self, deals: impl IntoIterator<Item = &'a DealState>, sign: i8) {
        let sign = i128::from(sign);
        for deal in deals.into_iter().filter(|d| d.status == Status::Open) {
            let touched = deal.last_activity_at.unwrap_or(deal.opened_at);
            let key = GroupKey {
                pipeline_id: deal.pipeline_id,
                stage: deal.stage.clone(),
                currency: deal.amount.currency,
                owner_id: deal.owner_id,
                team: deal.team.clone().unwrap_or_default(),
                touched_on: touched.date_naive(),
            };
            let amount = i128::from(deal.amount.amount_minor);
            let sums = self.changes.entry(key).or_default();
            sums.deals += if sign > 0 { 1 } else { -1 };
            sums.total_minor += sign * amount;
            sums.weighted_percent_minor += sign * amount * i128::from(deal.probability);
            sums.entered_ms += sign * i128::from(deal.stage_entered_at.timestamp_millis());
        }
    }

    /// The rows that change, with their change in the stored columns' range; at `position`
    /// for the error of a change too large to store.
    pub(crate) fn changes(
        &self,
        position: u64,
    ) -> Result<Vec<(&GroupKey, Change)>, ProjectionError> {
        let too_large = || ProjectionError::Event {
            position,
            reason: "the open deals' totals exceed what a bigint holds".to_owned(),
        };
        let mut changes = Vec::new();
        for (key, sums) in &self.changes {
            if *sums == Sums::default() {
                continue;
            }
            changes.push((
                key,
                Change {
                    deals: sums.deals,
                    total_minor: i64::try_from(sums.total_minor).map_err(|_| too_large())?,
                    weighted_percent_minor: i64::try_from(sums.weighted_percent_minor)
                        .map_err(|_| too_large())?,
                    entered_ms: i64::try_from(sums.entered_ms).map_err(|_| too_large())?,
                },
            ));
        }
        Ok(changes)
    }
}

/// A summary row's change, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub deals: i64,
    pub total_minor: i64,
    pub weighted_percent_minor: i64,
    pub entered_ms: i64,
}

#[cfg(test)]
mod tests;
