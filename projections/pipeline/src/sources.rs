//! The lead sources report (`GET /v1/reports/sources`): per source and per campaign, the leads
//! captured in a window (enquiries), how many were qualified (prospects) and converted, the
//! deals they became and the deals of theirs won (sales) with the value per currency. SQL counts
//! each (source, campaign) pair; this module, without I/O, adds the pairs up per source and per
//! campaign.
//!
//! The window selects leads by when they were captured; what became of them is counted up to the
//! time of the report. A lead converted without being qualified first counts as qualified.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::{Window, WonTotal};

/// Which sources and campaigns brought enquiries, prospects and sales.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SourceReport {
    /// The leads counted are those captured in this window.
    pub window: Window,
    /// Per source, by name.
    pub sources: Vec<SourceFunnel>,
    /// Per campaign, by id (leads without a campaign are only in `sources`).
    pub campaigns: Vec<CampaignFunnel>,
}

/// The funnel of one source.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SourceFunnel {
    /// The source the leads were captured from.
    pub source: String,
    #[serde(flatten)]
    pub funnel: Funnel,
}

/// The funnel of one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CampaignFunnel {
    /// The campaign the leads came through.
    pub campaign_id: Uuid,
    #[serde(flatten)]
    pub funnel: Funnel,
}

/// What became of a group of leads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Funnel {
    /// Leads captured in the window.
    pub captured: u64,
    /// Of those, leads qualified (or converted).
    pub qualified: u64,
    /// Of those, leads converted into a contact.
    pub converted: u64,
    /// Deals opened by their conversion.
    pub deals_opened: u64,
    /// Those deals that are won.
    pub deals_won: u64,
    /// The won deals' value, per currency (empty for a caller who reads neither deals nor
    /// reports).
    pub won: Vec<WonTotal>,
}

impl SourceReport {
    /// The funnel without the won deals' value, for a caller who reads the leads but neither
    /// the deals nor the reports (marketing): how many leads became deals and how many of those
    /// were won stays, what they were worth does not.
    pub fn without_won_value(&mut self) {
        let funnels = self
            .sources
            .iter_mut()
            .map(|source| &mut source.funnel)
            .chain(
                self.campaigns
                    .iter_mut()
                    .map(|campaign| &mut campaign.funnel),
            );
        for funnel in funnels {
            funnel.won.clear();
        }
    }
}

/// One row of the export: a source or a campaign, and one currency of its won value (or none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRow {
    /// `source` or `campaign`.
    pub dimension: &'static str,
    pub source: Option<String>,
    pub campaign_id: Option<Uuid>,
    pub captured: u64,
    pub qualified: u64,
    pub converted: u64,
    pub deals_opened: u64,
    pub deals_won: u64,
    pub currency: Option<String>,
    pub currency_deals_won: Option<u64>,
    pub won_minor: Option<i64>,
}

impl SourceReport {
    /// One row per source and currency, then per campaign and currency.
    pub fn rows(&self) -> Vec<SourceRow> {
        let mut rows = Vec::new();
        let sources = self
            .sources
            .iter()
            .map(|s| ("source", Some(s.source.clone()), None, &s.funnel));
        let campaigns = self
            .campaigns
            .iter()
            .map(|c| ("campaign", None, Some(c.campaign_id), &c.funnel));
        for (dimension, source, campaign_id, funnel) in sources.chain(campaigns) {
            let row = |won: Option<&WonTotal>| SourceRow {
                dimension,
                source: source.clone(),
                campaign_id,
                captured: funnel.captured,
                qualified: funnel.qualified,
                converted: funnel.converted,
                deals_opened: funnel.deals_opened,
                deals_won: funnel.deals_won,
                currency: won.map(|won| won.currency.to_string()),
                currency_deals_won: won.map(|won| won.deals),
                won_minor: won.map(|won| won.won_minor),
            };
            if funnel.won.is_empty() {
                rows.push(row(None));
            }
            rows.extend(funnel.won.iter().map(|won| row(Some(won))));
        }
        rows
    }
}

/// The leads of one (source, campaign) pair, as SQL counts them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeadGroup {
    pub source: String,
    pub campaign_id: Option<Uuid>,
    pub captured: u64,
    pub qualified: u64,
    pub converted: u64,
    pub deals_opened: u64,
}

/// The won deals of one (source, campaign) pair in one currency.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WonGroup {
    pub source: String,
    pub campaign_id: Option<Uuid>,
    pub won: WonTotal,
}

/// The report from the pairs SQL counted.
pub(crate) fn assemble(window: Window, leads: &[LeadGroup], won: &[WonGroup]) -> SourceReport {
    let mut sources: BTreeMap<String, Funnel> = BTreeMap::new();
    let mut campaigns: BTreeMap<Uuid, Funnel> = BTreeMap::new();
    for group in leads {
        add_leads(sources.entry(group.source.clone()).or_default(), group);
        if let Some(campaign_id) = group.campaign_id {
            add_leads(campaigns.entry(campaign_id).or_default(), group);
        }
    }
    for group in won {
        add_won(sources.entry(group.source.clone()).or_default(), &group.won);
        if let Some(campaign_id) = group.campaign_id {
            add_won(campaigns.entry(campaign_id).or_default(), &group.won);
        }
    }
    SourceReport {
        window,
        sources: sources
            .into_iter()
            .map(|(source, funnel)| SourceFunnel { source, funnel })
            .collect(),
        campaigns: campaigns
            .into_iter()
            .map(|(campaign_id, funnel)| CampaignFunnel {
                campaign_id,
                funnel,
            })
            .collect(),
    }
}

fn add_leads(funnel: &mut Funnel, group: &LeadGroup) {
    funnel.captured += group.captured;
    funnel.qualified += group.qualified;
    funnel.converted += group.converted;
    funnel.deals_opened += group.deals_opened;
}

/// Adds `won` to the funnel's total in its currency, keeping the totals in currency order.
fn add_won(funnel: &mut Funnel, won: &WonTotal) {
    funnel.deals_won += won.deals;
    match funnel
        .won
        .iter_mut()
        .find(|total| total.currency == won.currency)
    {
        Some(total) => {
            total.deals += won.deals;
            total.won_minor = total.won_minor.saturating_add(won.won_minor);
        }
        None => {
            funnel.won.push(won.clone());
            funnel.won.sort_by_key(|total| total.currency);
        }
    }
}

#[cfg(test)]
mod tests;
