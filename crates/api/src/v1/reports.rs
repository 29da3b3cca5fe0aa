//! `/v1/reports`: what the business sees of its sales: the pipeline by stage, conversion and
//! velocity, the forecast against what was won, the leaderboard and the lead sources, from the
//! `pipeline` read model. Each is JSON, or a CSV or XLSX file (`?format=`).
//!
//! A report counts only the deals the caller may see (a manager's team's, an analyst's all), and
//! each is logged as an access (action `export`) before it is answered, like every read.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use domain::access::{AccessAction, RecordRef};
use domain::values::Team;
use pipeline::{Grouping, PipelineError, ReportScope, Window};
use policy::{Action, Reach, Resource};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Accessor;
use crate::export::{self, Format};
use crate::problem::ApiError;
use crate::request::{MinPosition, Query};
use crate::state::ApiState;

const READ_MODEL: &str = "pipeline";
/// The months a forecast or a leaderboard covers unless asked.
const DEFAULT_MONTHS: u32 = 6;
/// The window velocity and sources cover unless asked: the last 90 days.
const DEFAULT_WINDOW_DAYS: i64 = 90;

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::Database { .. } => ApiError::Unavailable(error.to_string()),
            PipelineError::Invalid { field, .. } => ApiError::invalid(field, error.to_string()),
        }
    }
}

type QueryResult<T> = Result<Query<T>, ApiError>;

/// What every report takes: whose deals to count, how to answer, how fresh.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub pipeline_id: Option<Uuid>,
    /// Only this owner's deals.
    pub owner_id: Option<Uuid>,
    /// Only this team's deals.
    pub team: Option<String>,
    /// Velocity and sources: from this time (RFC 3339; 90 days ago by default).
    pub from: Option<DateTime<Utc>>,
    /// Velocity and sources: until this time (now by default).
    pub to: Option<DateTime<Utc>>,
    /// Velocity: `total` (the default), `owner` or `team`.
    pub group: Option<String>,
    /// Forecast and leaderboard: the first month, `YYYY-MM` (this month by default).
    pub from_month: Option<String>,
    /// Forecast and leaderboard: how many months (6 by default, at most 36).
    pub months: Option<u32>,
    pub format: Option<Format>,
    pub min_position: Option<u64>,
}

/// A report request, let in: whose deals it counts, the read model's schema and the question.
struct Report {
    access: accesslog::Access,
    scope: ReportScope,
    schema: String,
    query: ReportQuery,
}

impl Report {
    /// Lets the caller into the reports (or logs the refusal), narrows the report to what
    /// the caller may see, and waits for the read model to reach the position the client named.
    async fn open(
        api: &ApiState,
        accessor: Accessor,
        min_position: MinPosition,
        query: QueryResult<ReportQuery>,
    ) -> Result<Report, ApiError> {
        Report::open_as(api, accessor, min_position, query, |_| Resource::Reports).await
    }

    /// As [`open`](Self::open), judged on the resource `area` picks for the caller.
    async fn open_as(
        api: &ApiState,
        accessor: Accessor,
        min_position: MinPosition,
        query: QueryResult<ReportQuery>,
        area: impl FnOnce(&policy::Principal) -> Resource,
    ) -> Result<Report, ApiError> {
        let Accessor { caller, access } = accessor.doing(AccessAction::Export);
        let Query(query) = query?;
        let asked: Vec<RecordRef> = query.pipeline_id.map(pipeline_ref).into_iter().collect();
        let area = area(&caller.principal());
        api.authorize_any(&caller, &access, area, Action::Read, asked)
            .await?;
        let scope = ReportScope {
            visibility: api.policy.visibility(&caller.principal(), area),
            owner_id: query.owner_id,
            team: query
                .team
                .as_deref()
                .map(|team| Team::parse(team).map_err(|error| error.within("team")))
                .transpose()?
                .map(|team| team.as_str().to_owned()),
        };
        let wanted = MinPosition(min_position.0.or(query.min_position));
        let schema = super::reads::schema_of(api, READ_MODEL, wanted).await?;
        Ok(Report {
            access,
            scope,
            schema,
            query,
        })
    }

    fn pipeline_id(&self) -> Result<Uuid, ApiError> {
        self.query
            .pipeline_id
            .ok_or_else(|| ApiError::invalid("pipeline_id", "a pipeline_id is required"))
    }

    /// Refuses a pipeline filter on a report that counts every pipeline together, rather than
    /// answering as if it had applied it.
    fn every_pipeline(&self) -> Result<(), ApiError> {
        match self.query.pipeline_id {
            Some(_) => Err(ApiError::invalid(
                "pipeline_id",
                "this report covers every pipeline; leave pipeline_id out",
            )),
            None => Ok(()),
        }
    }

    fn window(&self, now: DateTime<Utc>) -> Result<Window, ApiError> {
        let to = self.query.to.unwrap_or(now);
        let from = self
            .query
            .from
            .unwrap_or(to - Duration::days(DEFAULT_WINDOW_DAYS));
        if from >= to {
            return Err(ApiError::invalid("to", "to must be after from"));
        }
        Ok(Window { from, to })
    }

    fn months(&self, now: DateTime<Utc>) -> Result<(NaiveDate, u32), ApiError> {
        let first = match &self.query.from_month {
            Some(text) => parse_month(text)?,
            None => NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
                .ok_or_else(|| ApiError::Internal("the current month".to_owned()))?,
        };
        let months = self.query.months.unwrap_or(DEFAULT_MONTHS);
        if !(1..=pipeline::MAX_MONTHS).contains(&months) {
            return Err(ApiError::invalid(
                "months",
                format!("months must be 1 to {}", pipeline::MAX_MONTHS),
            ));
        }
        Ok((first, months))
    }

    fn format(&self) -> Format {
        self.query.format.unwrap_or_default()
    }
}

fn pipeline_ref(id: Uuid) -> RecordRef {
    RecordRef {
        collection: "pipelines".to_owned(),
        id,
    }
}

/// `2026-07` as the first day of that month.
fn parse_month(text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid("from_month", "a month is YYYY-MM"))
}

fn grouping(text: Option<&str>) -> Result<Grouping, ApiError> {
    match text {
        None | Some("total") => Ok(Grouping::Total),
        Some("owner") => Ok(Grouping::Owner),
        Some("team") => Ok(Grouping::Team),
        Some(_) => Err(ApiError::invalid("group", "group is total, owner or team")),
    }
}

/// Per stage, in stage order: open deals, totals and weighted totals per currency, ages, stalled.
pub async fn pipeline_report(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    query: QueryResult<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = Report::open(&api, accessor, min_position, query).await?;
    let found = (api.reports)
        .pipeline(
            &report.schema,
            report.pipeline_id()?,
            &report.scope,
            Utc::now(),
        )
        .await?
        .ok_or(ApiError::NotFound("pipeline"))?;
    let found = api.disclose(&report.access, found).await?;
    export::answer(report.format(), "pipeline-report", found, |found| {
        found.rows()
    })
}

/// Stage-to-stage conversion, win rate, sales cycle and time per stage, for a window.
pub async fn velocity_report(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    query: QueryResult<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = Report::open(&api, accessor, min_position, query).await?;
    let window = report.window(Utc::now())?;
    let group = grouping(report.query.group.as_deref())?;
    let found = (api.reports)
        .velocity(
            &report.schema,
            report.pipeline_id()?,
            &report.scope,
            window,
            group,
        )
        .await?
        .ok_or(ApiError::NotFound("pipeline"))?;
    let found = api.disclose(&report.access, found).await?;
    export::answer(report.format(), "velocity-report", found, |found| {
        found.rows()
    })
}

/// Weighted and best-case value by expected close month, against what was won each month.
pub async fn forecast_report(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    query: QueryResult<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = Report::open(&api, accessor, min_position, query).await?;
    let (first_month, months) = report.months(Utc::now())?;
    let found = (api.reports)
        .forecast(
            &report.schema,
            report.pipeline_id()?,
            &report.scope,
            first_month,
            months,
        )
        .await?
        .ok_or(ApiError::NotFound("pipeline"))?;
    let found = api.disclose(&report.access, found).await?;
    export::answer(report.format(), "forecast", found, |found| found.rows())
}

/// Won value and count per owner per month.
pub async fn leaderboard(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    query: QueryResult<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = Report::open(&api, accessor, min_position, query).await?;
    report.every_pipeline()?;
    let (first_month, months) = report.months(Utc::now())?;
    let found = (api.reports)
        .leaderboard(&report.schema, &report.scope, first_month, months)
        .await?;
    let found = api.disclose(&report.access, found).await?;
    export::answer(report.format(), "leaderboard", found, |found| found.rows())
}

/// Leads captured, qualified and converted, and the sales they led to, per source and campaign.
pub async fn sources_report(
    State(api): State<ApiState>,
    accessor: Accessor,
    min_position: MinPosition,
    query: QueryResult<ReportQuery>,
) -> Result<Response, ApiError> {
    // A view of the leads: whoever reads the reports reads it, and so does whoever reads the
    // leads (marketing, which the campaigns' results are for), over the leads they reach.
    let reports = |principal: &policy::Principal| {
        if api.policy.reach(principal, Resource::Reports, Action::Read) == Reach::None {
            Resource::Leads
        } else {
            Resource::Reports
        }
    };
    // Let in through the leads alone, the caller gets the funnel, not what the deals were worth.
    let through_leads = reports(&accessor.caller.principal()) == Resource::Leads;
    let report = Report::open_as(&api, accessor, min_position, query, reports).await?;
    report.every_pipeline()?;
    let window = report.window(Utc::now())?;
    let mut found = (api.reports)
        .sources(&report.schema, &report.scope, window)
        .await?;
    if through_leads {
        found = found.retain(|_| true, |found, _| found.without_won_value());
    }
    let found = api.disclose(&report.access, found).await?;
    export::answer(report.format(), "lead-sources", found, |found| found.rows())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_year_and_month() {
        assert_eq!(
            parse_month("2026-07").unwrap(),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        for bad in ["2026-13", "2026", "July", "2026-07-01"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_grouping_is_total_owner_or_team() {
        assert!(matches!(grouping(None), Ok(Grouping::Total)));
        assert!(matches!(grouping(Some("team")), Ok(Grouping::Team)));
        assert!(grouping(Some("stage")).is_err());
    }
}
