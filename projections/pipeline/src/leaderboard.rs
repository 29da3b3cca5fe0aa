//! The leaderboard (`GET /v1/reports/leaderboard`): per month, each owner's won deals and their
//! value per currency. SQL adds up each (owner, month, currency); this module, without I/O,
//! ranks the owners of each month.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::WonTotal;

/// Won deals per owner per month, across every pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Leaderboard {
    /// Every month asked for, from the first (UTC months, by the deals' close time).
    pub months: Vec<LeaderboardMonth>,
}

/// One month of the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LeaderboardMonth {
    /// The month's first day.
    pub month: NaiveDate,
    /// The owners who won deals that month, most deals won first (then by id); a deal counts
    /// for whoever owned it when it was won, even after it is handed to someone else.
    pub owners: Vec<OwnerWins>,
}

/// What one owner won in a month.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OwnerWins {
    /// The deals' owner when they were won (a user).
    pub owner_id: Uuid,
    /// Deals won, in every currency.
    pub won_deals: u64,
    /// Their value, per currency.
    pub won: Vec<WonTotal>,
}

/// One row of the leaderboard's export: a month, an owner and a currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderboardRow {
    pub month: NaiveDate,
    pub rank: u32,
    pub owner_id: Uuid,
    pub currency: String,
    pub won_deals: u64,
    pub won_minor: i64,
}

impl Leaderboard {
    /// One row per month, owner and currency, in rank order.
    pub fn rows(&self) -> Vec<LeaderboardRow> {
        let mut rows = Vec::new();
        for month in &self.months {
            for (rank, owner) in (1..).zip(&month.owners) {
                for won in &owner.won {
                    rows.push(LeaderboardRow {
                        month: month.month,
                        rank,
                        owner_id: owner.owner_id,
                        currency: won.currency.to_string(),
                        won_deals: won.deals,
                        won_minor: won.won_minor,
                    });
                }
            }
        }
        rows
    }

    /// Every owner that appears.
    pub(crate) fn owners(&self) -> Vec<Uuid> {
        let mut owners: Vec<Uuid> = self
            .months
            .iter()
            .flat_map(|month| month.owners.iter().map(|owner| owner.owner_id))
            .collect();
        owners.sort();
        owners.dedup();
        owners
    }
}

/// One owner's deals won in a month and currency, as SQL adds them up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OwnerMonth {
    pub owner_id: Uuid,
    pub month: NaiveDate,
    pub won: WonTotal,
}

/// The leaderboard laid out on `months`; groups outside them are left out.
pub(crate) fn assemble(months: &[NaiveDate], groups: &[OwnerMonth]) -> Leaderboard {
    let mut by_month: BTreeMap<NaiveDate, BTreeMap<Uuid, OwnerWins>> = months
        .iter()
        .map(|month| (*month, BTreeMap::new()))
        .collect();
    for group in groups {
        let Some(owners) = by_month.get_mut(&group.month) else {
            continue;
        };
        let owner = owners.entry(group.owner_id).or_insert(OwnerWins {
            owner_id: group.owner_id,
            won_deals: 0,
            won: Vec::new(),
        });
        owner.won_deals += group.won.deals;
        owner.won.push(group.won.clone());
    }
    let months = by_month
        .into_iter()
        .map(|(month, owners)| {
            let mut owners: Vec<OwnerWins> = owners.into_values().collect();
            for owner in &mut owners {
                owner.won.sort_by_key(|won| won.currency);
            }
            owners.sort_by(|a, b| {
                b.won_deals
                    .cmp(&a.won_deals)
                    .then(a.owner_id.cmp(&b.owner_id))
            });
            LeaderboardMonth { month, owners }
        })
        .collect();
    Leaderboard { months }
}

#[cfg(test)]
mod tests;
