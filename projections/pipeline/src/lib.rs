//! The sales pipeline read model: what the business sees of its sales, so that the reports
//! (`/v1/reports/pipeline`, `velocity`, `forecast`, `leaderboard`, `sources`) answer with a few
//! indexed SQL aggregates instead of replaying deals.
//!
//! [`SalesPipeline`] is the projection: it keeps each pipeline's stages in order, each deal's
//! current stage, amount, owner and times (opened, entered its stage, closed, last touched by an
//! activity), every stay of a deal in a stage, and each lead's source, campaign and fate. A
//! batch is folded in memory ([`fold`](crate::fold)) between one load and one multi-row write
//! per table. [`ReportQueries`] answers the reports, each sealed
//! ([`Withheld`](accesslog::Withheld)) and each with its flat rows for CSV and XLSX exports.
//!
//! Money is never summed across currencies: every total is per currency. Ages and stalled deals
//! are measured from the `now` the caller passes, never from the clock.
//!
//! **Invariant:** this projection alone owns its tables; nothing else writes them.
//! **Invariant:** an event it cannot read stops it (the framework records where); none is
//! skipped, except events of streams it does not follow (companies, contacts, tasks, cases,
//! users) and activities that concern no deal.

mod decode;
mod error;
mod fold;
mod forecast;
mod leaderboard;
mod projection;
mod queries;
mod scope;
mod sources;
mod sql;
mod stages;
mod store;
mod tables;
mod totals;
mod velocity;

pub use error::PipelineError;
pub use forecast::{ForecastMonth, ForecastReport, ForecastRow, ForecastTotal};
pub use leaderboard::{Leaderboard, LeaderboardMonth, LeaderboardRow, OwnerWins};
pub use projection::{NAME, SalesPipeline};
pub use queries::ReportQueries;
pub use scope::ReportScope;
pub use sources::{CampaignFunnel, Funnel, SourceFunnel, SourceReport, SourceRow};
pub use stages::{CurrencyTotal, PipelineReport, PipelineReportRow, StageSummary};
pub use velocity::{Grouping, StageVelocity, VelocityGroup, VelocityReport, VelocityRow, Window};

/// The most months a forecast or a leaderboard covers.
pub const MAX_MONTHS: u32 = 36;

/// A deal without any activity for this many days is stalled.
pub const STALLED_AFTER_DAYS: u32 = 14;

/// What a report gives for each currency: how many deals, and their value won.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct WonTotal {
    /// The ISO 4217 currency of the deals counted here.
    pub currency: domain::values::Currency,
    /// How many deals in this currency were won.
    pub deals: u64,
    /// Their amounts added up, in minor units of `currency`.
    pub won_minor: i64,
}
