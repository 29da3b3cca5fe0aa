//! What the API asks of the read model: the five reports, each a few SQL aggregates over the
//! generation in `schema` (the one the registry says is live), laid out by the pure modules.
//! Each answer is sealed ([`Withheld`]): the pipeline reports name the pipeline, the
//! leaderboard the owners it ranks; the deals counted are not named (only aggregates leave).

use std::collections::BTreeMap;

use accesslog::Withheld;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use deadpool_postgres::{Client, Pool};
use domain::access::RecordRef;
use domain::pipeline::Pipeline;
use domain::values::Currency;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::forecast::{self, Bucket, ExpectedGroup, ForecastTotal};
use crate::leaderboard::{self, OwnerMonth};
use crate::sources::{self, LeadGroup};
use crate::sql::{Parameters, qualified};
use crate::stages::{self, OpenGroup};
use crate::velocity::{self, Conversion, GroupKey, Outcomes, StayLengths};
use crate::{
    ForecastReport, Grouping, Leaderboard, PipelineError, PipelineReport, ReportScope,
    STALLED_AFTER_DAYS, SourceReport, VelocityReport, Window, WonTotal,
};

/// Reads the pipeline read model through a pool of the database's owner
/// ([`projector::connect`]), which can read every generation's schema.
#[derive(Clone)]
pub struct ReportQueries {
    pool: Pool,
}

impl std::fmt::Debug for ReportQueries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReportQueries")
            .finish_non_exhaustive()
    }
}

impl ReportQueries {
    pub fn new(pool: Pool) -> ReportQueries {
        ReportQueries { pool }
    }

    /// The open deals of `pipeline_id` per stage, aged from `now`; `None`: no such pipeline.
    ///
    /// Three reads, none of them over every open deal: the summary rows of the scope
    /// ([`crate::totals`]), each group's oldest deal from the front of `deals_open_by_stage`,
    /// and the deals last touched on the stalled cutoff's own day, before the cutoff.
    pub async fn pipeline(
        &self,
        schema: &str,
        pipeline_id: Uuid,
        scope: &ReportScope,
        now: DateTime<Utc>,
    ) -> Result<Option<Withheld<PipelineReport>>, PipelineError> {
        let client = self.pool.get().await?;
        let Some(pipeline) = load_pipeline(&client, schema, pipeline_id).await? else {
            return Ok(None);
        };
        let deals = qualified(schema, "deals");
        let cutoff = now - Duration::days(i64::from(STALLED_AFTER_DAYS));
        let cutoff_day = cutoff.date_naive();

        let mut parameters = Parameters::default();
        let id = parameters.bind(pipeline_id);
        let now_ms = parameters.bind(now.timestamp_millis());
        let day = parameters.bind(cutoff_day);
        let totals_scope = scope.condition("t", &mut parameters);
        let deals_scope = scope.condition("d", &mut parameters);
        let sql = format!(
            "SELECT g.stage, g.currency, g.deals, g.total_minor, g.weighted_minor, g.age_seconds, \
                 g.stalled, ( \
                     SELECT min(d.stage_entered_at) FROM {deals} d \
                     WHERE d.status = 'open' AND d.pipeline_id = {id}::uuid \
                         AND d.stage = g.stage AND d.currency = g.currency AND {deals_scope}) \
             FROM ( \
                 SELECT t.stage, t.currency, sum(t.deals)::bigint AS deals, \
                     sum(t.total_minor)::bigint AS total_minor, \
                     round(sum(t.weighted_percent_minor) / 100.0)::bigint AS weighted_minor, \
                     (greatest(0, sum(t.deals) * {now_ms}::bigint - sum(t.entered_ms)) / 1000.0)::float8 \
                         AS age_seconds, \
                     coalesce(sum(t.deals) FILTER (WHERE t.touched_on < {day}::date), 0)::bigint \
                         AS stalled \
                 FROM {totals} t WHERE t.pipeline_id = {id}::uuid AND {totals_scope} \
                 GROUP BY t.stage, t.currency) g",
            totals = qualified(schema, "open_totals"),
        );
        let summed = query(&client, &sql, &parameters);

        let mut parameters = Parameters::default();
        let id = parameters.bind(pipeline_id);
        let day = parameters.bind(cutoff_day);
        let to = parameters.bind(cutoff);
        let deals_scope = scope.condition("d", &mut parameters);
        let sql = format!(
            "SELECT d.stage, d.currency, count(*) FROM {deals} d \
             WHERE d.status = 'open' AND d.pipeline_id = {id}::uuid \
                 AND d.touched_on = {day}::date \
                 AND coalesce(d.last_activity_at, d.opened_at) < {to}::timestamptz \
                 AND {deals_scope} \
             GROUP BY d.stage, d.currency"
        );
        let cutoff_day_stalled = query(&client, &sql, &parameters);
        let (summed, cutoff_day_stalled) = futures::try_join!(summed, cutoff_day_stalled)?;

        let mut stalled_on_cutoff_day = BTreeMap::new();
        for row in cutoff_day_stalled {
            let stage: String = row.try_get(0)?;
            stalled_on_cutoff_day.insert((stage, currency(&row, 1)?), count(&row, 2)?);
        }
        let mut groups = Vec::new();
        for row in summed {
            let stage: String = row.try_get(0)?;
            let currency = currency(&row, 1)?;
            let oldest: Option<DateTime<Utc>> = row.try_get(7)?;
            let oldest_ms = oldest.map_or(0, |oldest| (now - oldest).num_milliseconds().max(0));
            let stalled = count(&row, 6)?
                + stalled_on_cutoff_day
                    .get(&(stage.clone(), currency))
                    .copied()
                    .unwrap_or(0);
            groups.push(OpenGroup {
                stage,
                currency,
                deals: count(&row, 2)?,
                total_minor: row.try_get(3)?,
                weighted_minor: row.try_get(4)?,
                age_seconds_sum: row.try_get(5)?,
                age_seconds_max: oldest_ms as f64 / 1_000.0,
                stalled,
            });
        }
        let report = stages::assemble(&pipeline, now, STALLED_AFTER_DAYS, &groups);
        Ok(Some(Withheld::new(report, named(pipeline_id, scope))))
    }

    /// Conversion, win rate, sales cycle and time per stage of `pipeline_id` in `window`,
    /// grouped by `group`; `None`: no such pipeline.
    pub async fn velocity(
        &self,
        schema: &str,
        pipeline_id: Uuid,
        scope: &ReportScope,
        window: Window,
        group: Grouping,
    ) -> Result<Option<Withheld<VelocityReport>>, PipelineError> {
        check_window(window)?;
        let client = self.pool.get().await?;
        let Some(pipeline) = load_pipeline(&client, schema, pipeline_id).await? else {
            return Ok(None);
        };
        let (owner_key, team_key) = group_keys(group, "d.owner_id", "d.team");
        let deals = qualified(schema, "deals");
        let stays = qualified(schema, "stage_stays");
        let keys: Vec<String> = pipeline.stages.iter().map(|s| s.key.to_string()).collect();

        let mut parameters = Parameters::default();
        let (id, from, to) = bind_window(&mut parameters, pipeline_id, window);
        let keys = parameters.bind(keys);
        let condition = scope.condition("d", &mut parameters);
        let sql = format!(
            "WITH entered AS ( \
                 SELECT DISTINCT ON (s.deal_id, s.stage) s.deal_id, s.stage, s.seq, \
                     {owner_key} AS group_owner, {team_key} AS group_team \
                 FROM {stays} s JOIN {deals} d ON d.id = s.deal_id \
                 WHERE s.pipeline_id = {id} AND s.entered_at >= {from} AND s.entered_at < {to} \
                     AND {condition} \
                 ORDER BY s.deal_id, s.stage, s.seq) \
             SELECT e.group_owner, e.group_team, e.stage, count(*), \
                 count(*) FILTER (WHERE EXISTS ( \
                     SELECT 1 FROM {stays} l WHERE l.deal_id = e.deal_id AND l.seq >= e.seq \
                     AND (l.closed_as = 'won' OR (l.seq > e.seq \
                         AND array_position({keys}::text[], l.stage) \
                             > array_position({keys}::text[], e.stage))))) \
             FROM entered e GROUP BY 1, 2, 3"
        );
        let mut conversions = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            conversions.push(Conversion {
                group: group_key(&row)?,
                stage: row.try_get(2)?,
                entered: count(&row, 3)?,
                advanced: count(&row, 4)?,
            });
        }

        let mut parameters = Parameters::default();
        let (id, from, to) = bind_window(&mut parameters, pipeline_id, window);
        let condition = scope.condition("d", &mut parameters);
        let sql = format!(
            "SELECT {owner_key}, {team_key}, s.stage, count(*), \
                 avg(extract(epoch FROM s.left_at - s.entered_at))::float8 \
             FROM {stays} s JOIN {deals} d ON d.id = s.deal_id \
             WHERE s.pipeline_id = {id} AND s.left_at >= {from} AND s.left_at < {to} \
                 AND {condition} \
             GROUP BY 1, 2, 3"
        );
        let mut lengths = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            lengths.push(StayLengths {
                group: group_key(&row)?,
                stage: row.try_get(2)?,
                ended: count(&row, 3)?,
                average_seconds: row.try_get(4)?,
            });
        }

        // A closed deal's outcome is its closer's, whoever owns the deal since.
        let (owner_key, team_key) = group_keys(group, "d.closed_by", "d.closed_by_team");
        let mut parameters = Parameters::default();
        let (id, from, to) = bind_window(&mut parameters, pipeline_id, window);
        let condition = scope.condition_on("d.closed_by", "d.closed_by_team", &mut parameters);
        let sql = format!(
            "SELECT {owner_key}, {team_key}, count(*) FILTER (WHERE d.status = 'won'), \
                 count(*) FILTER (WHERE d.status = 'lost'), \
                 (avg(extract(epoch FROM d.closed_at - d.opened_at)) \
                     FILTER (WHERE d.status = 'won'))::float8 \
             FROM {deals} d \
             WHERE d.pipeline_id = {id} AND d.status <> 'open' AND d.closed_at >= {from} \
                 AND d.closed_at < {to} AND {condition} \
             GROUP BY 1, 2"
        );
        let mut outcomes = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            outcomes.push(Outcomes {
                group: group_key(&row)?,
                won: count(&row, 2)?,
                lost: count(&row, 3)?,
                average_cycle_seconds: row.try_get(4)?,
            });
        }
        let report =
            velocity::assemble(&pipeline, window, group, &conversions, &lengths, &outcomes);
        let mut records = named(pipeline_id, scope);
        for owner_id in report.groups.iter().filter_map(|group| group.owner_id) {
            let owner = user_ref(owner_id);
            if !records.contains(&owner) {
                records.push(owner);
            }
        }
        Ok(Some(Withheld::new(report, records)))
    }

    /// The open deals of `pipeline_id` by expected close month for `months` months from
    /// `first_month` (a month's first day), with what was won each month; `None`: no such
    /// pipeline.
    pub async fn forecast(
        &self,
        schema: &str,
        pipeline_id: Uuid,
        scope: &ReportScope,
        first_month: NaiveDate,
        months: u32,
    ) -> Result<Option<Withheld<ForecastReport>>, PipelineError> {
        let months = forecast::month_starts(first_month, months)?;
        let end = forecast::end_of(&months)?;
        let client = self.pool.get().await?;
        let Some(pipeline) = load_pipeline(&client, schema, pipeline_id).await? else {
            return Ok(None);
        };
        let deals = qualified(schema, "deals");

        let mut parameters = Parameters::default();
        let id = parameters.bind(pipeline_id);
        let first = parameters.bind(first_month);
        let last = parameters.bind(end);
        let condition = scope.condition("d", &mut parameters);
        // Weighed by each stage's probability now, as the pipeline report is.
        let keys = parameters.bind(
            pipeline
                .stages
                .iter()
                .map(|stage| stage.key.to_string())
                .collect::<Vec<_>>(),
        );
        let percents = parameters.bind(
            pipeline
                .stages
                .iter()
                .map(|stage| i32::from(stage.probability.percent()))
                .collect::<Vec<_>>(),
        );
        let sql = format!(
            "SELECT CASE WHEN d.expected_close_on IS NULL THEN 'without_date' \
                     WHEN d.expected_close_on < {first}::date THEN 'overdue' ELSE 'month' END, \
                 CASE WHEN d.expected_close_on >= {first}::date \
                     THEN date_trunc('month', d.expected_close_on::timestamp)::date END, \
                 d.currency, count(*), \
                 round(sum(d.amount_minor * coalesce( \
                     ({percents}::int[])[array_position({keys}::text[], d.stage)], \
                     d.probability)) / 100.0)::bigint, \
                 sum(d.amount_minor)::bigint \
             FROM {deals} d \
             WHERE d.status = 'open' AND d.pipeline_id = {id}::uuid \
                 AND (d.expected_close_on IS NULL OR d.expected_close_on < {last}::date) \
                 AND {condition} \
             GROUP BY 1, 2, 3"
        );
        let mut expected = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            let bucket: String = row.try_get(0)?;
            let month: Option<NaiveDate> = row.try_get(1)?;
            let bucket = match (bucket.as_str(), month) {
                ("month", Some(month)) => Bucket::Month(month),
                ("overdue", _) => Bucket::Overdue,
                _ => Bucket::WithoutDate,
            };
            expected.push(ExpectedGroup {
                bucket,
                total: ForecastTotal {
                    currency: currency(&row, 2)?,
                    deals: count(&row, 3)?,
                    weighted_minor: row.try_get(4)?,
                    best_case_minor: row.try_get(5)?,
                },
            });
        }

        let mut parameters = Parameters::default();
        let id = parameters.bind(pipeline_id);
        let from = parameters.bind(forecast::start_of(first_month));
        let to = parameters.bind(forecast::start_of(end));
        let condition = scope.condition_on("d.closed_by", "d.closed_by_team", &mut parameters);
        let sql = format!(
            "SELECT date_trunc('month', d.closed_at AT TIME ZONE 'UTC')::date, d.currency, \
                 count(*), sum(d.amount_minor)::bigint \
             FROM {deals} d \
             WHERE d.pipeline_id = {id}::uuid AND d.status <> 'open' AND d.status = 'won' \
                 AND d.closed_at >= {from}::timestamptz AND d.closed_at < {to}::timestamptz \
                 AND {condition} \
             GROUP BY 1, 2"
        );
        let mut won = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            won.push(forecast::WonGroup {
                month: row.try_get(0)?,
                won: won_total(&row, 1)?,
            });
        }
        let report = forecast::assemble(
            pipeline_id,
            pipeline.name.as_ref(),
            &months,
            &expected,
            &won,
        );
        Ok(Some(Withheld::new(report, named(pipeline_id, scope))))
    }

    /// Won deals per owner per month, across pipelines, for `months` months from
    /// `first_month` (a month's first day).
    pub async fn leaderboard(
        &self,
        schema: &str,
        scope: &ReportScope,
        first_month: NaiveDate,
        months: u32,
    ) -> Result<Withheld<Leaderboard>, PipelineError> {
        let months = forecast::month_starts(first_month, months)?;
        let end = forecast::end_of(&months)?;
        let client = self.pool.get().await?;
        let mut parameters = Parameters::default();
        let from = parameters.bind(forecast::start_of(first_month));
        let to = parameters.bind(forecast::start_of(end));
        // A win is its closer's, whoever owns the deal since.
        let condition = scope.condition_on("d.closed_by", "d.closed_by_team", &mut parameters);
        let sql = format!(
            "SELECT d.closed_by, date_trunc('month', d.closed_at AT TIME ZONE 'UTC')::date, \
                 d.currency, count(*), sum(d.amount_minor)::bigint \
             FROM {deals} d \
             WHERE d.status = 'won' AND d.closed_at >= {from}::timestamptz \
                 AND d.closed_at < {to}::timestamptz AND {condition} \
             GROUP BY 1, 2, 3",
            deals = qualified(schema, "deals"),
        );
        let mut groups = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            groups.push(OwnerMonth {
                owner_id: row.try_get(0)?,
                month: row.try_get(1)?,
                won: won_total(&row, 2)?,
            });
        }
        let board = leaderboard::assemble(&months, &groups);
        let mut owners: Vec<Uuid> = board.owners();
        owners.extend(scope.owner_id.filter(|asked| !owners.contains(asked)));
        Ok(Withheld::new(
            board,
            owners.into_iter().map(user_ref).collect(),
        ))
    }

    /// What became of the leads captured in `window`, per source and per campaign.
    pub async fn sources(
        &self,
        schema: &str,
        scope: &ReportScope,
        window: Window,
    ) -> Result<Withheld<SourceReport>, PipelineError> {
        check_window(window)?;
        let client = self.pool.get().await?;
        let leads = qualified(schema, "leads");

        let mut parameters = Parameters::default();
        let from = parameters.bind(window.from);
        let to = parameters.bind(window.to);
        let condition = scope.condition("l", &mut parameters);
        let sql = format!(
            "SELECT l.source, l.campaign_id, count(*), \
                 count(*) FILTER (WHERE l.qualified_at IS NOT NULL OR l.converted_at IS NOT NULL), \
                 count(*) FILTER (WHERE l.converted_at IS NOT NULL), count(l.deal_id) \
             FROM {leads} l \
             WHERE l.captured_at >= {from}::timestamptz AND l.captured_at < {to}::timestamptz \
                 AND {condition} \
             GROUP BY 1, 2"
        );
        let mut groups = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            groups.push(LeadGroup {
                source: row.try_get(0)?,
                campaign_id: row.try_get(1)?,
                captured: count(&row, 2)?,
                qualified: count(&row, 3)?,
                converted: count(&row, 4)?,
                deals_opened: count(&row, 5)?,
            });
        }

        let mut parameters = Parameters::default();
        let from = parameters.bind(window.from);
        let to = parameters.bind(window.to);
        let condition = scope.condition("l", &mut parameters);
        let sql = format!(
            "SELECT l.source, l.campaign_id, d.currency, count(*), sum(d.amount_minor)::bigint \
             FROM {leads} l JOIN {deals} d ON d.id = l.deal_id \
             WHERE l.captured_at >= {from}::timestamptz AND l.captured_at < {to}::timestamptz \
                 AND d.status = 'won' AND {condition} \
             GROUP BY 1, 2, 3",
            deals = qualified(schema, "deals"),
        );
        let mut won = Vec::new();
        for row in query(&client, &sql, &parameters).await? {
            won.push(sources::WonGroup {
                source: row.try_get(0)?,
                campaign_id: row.try_get(1)?,
                won: won_total(&row, 2)?,
            });
        }
        Ok(Withheld::new(
            sources::assemble(window, &groups, &won),
            scope.owner_id.map(user_ref).into_iter().collect(),
        ))
    }

    /// How many open deals of `pipeline_id` are in `stage` (a stage in use cannot be removed).
    /// An answer to the API's own rule, not disclosed to anyone, so it is not sealed.
    pub async fn open_deals_in_stage(
        &self,
        schema: &str,
        pipeline_id: Uuid,
        stage: &str,
    ) -> Result<u64, PipelineError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT count(*) FROM {} \
                 WHERE status = 'open' AND pipeline_id = $1 AND stage = $2",
                qualified(schema, "deals")
            ))
            .await?;
        let row = client
            .query_one(&statement, &[&pipeline_id, &stage])
            .await?;
        count(&row, 0)
    }
}

fn check_window(window: Window) -> Result<(), PipelineError> {
    if window.from >= window.to {
        return Err(PipelineError::invalid(
            "to",
            "the window must end after it starts",
        ));
    }
    Ok(())
}

/// Binds the pipeline and the window; returns their placeholders, typed.
fn bind_window(
    parameters: &mut Parameters,
    pipeline_id: Uuid,
    window: Window,
) -> (String, String, String) {
    let id = format!("{}::uuid", parameters.bind(pipeline_id));
    let from = format!("{}::timestamptz", parameters.bind(window.from));
    let to = format!("{}::timestamptz", parameters.bind(window.to));
    (id, from, to)
}

async fn query(
    client: &Client,
    sql: &str,
    parameters: &Parameters,
) -> Result<Vec<Row>, PipelineError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, &parameters.as_refs()).await?)
}

async fn load_pipeline(
    client: &Client,
    schema: &str,
    pipeline_id: Uuid,
) -> Result<Option<Pipeline>, PipelineError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT body FROM {} WHERE id = $1",
            qualified(schema, "pipelines")
        ))
        .await?;
    let Some(row) = client.query_opt(&statement, &[&pipeline_id]).await? else {
        return Ok(None);
    };
    let pipeline = serde_json::from_value(row.try_get(0)?).map_err(|error| {
        PipelineError::corrupt(format!("the stored pipeline {pipeline_id}: {error}"))
    })?;
    Ok(Some(pipeline))
}

fn count(row: &Row, column: usize) -> Result<u64, PipelineError> {
    let count: i64 = row.try_get(column)?;
    u64::try_from(count).map_err(|_| PipelineError::corrupt("a negative count"))
}

fn currency(row: &Row, column: usize) -> Result<Currency, PipelineError> {
    let code: String = row.try_get(column)?;
    Currency::parse(&code)
        .map_err(|_| PipelineError::corrupt(format!("the stored currency {code:?}")))
}

/// The currency, count and amount at `column`, `column + 1`, `column + 2`.
fn won_total(row: &Row, column: usize) -> Result<WonTotal, PipelineError> {
    Ok(WonTotal {
        currency: currency(row, column)?,
        deals: count(row, column + 1)?,
        won_minor: row.try_get(column + 2)?,
    })
}

fn group_key(row: &Row) -> Result<GroupKey, PipelineError> {
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The owner and team a `group` of deals is keyed by, given the columns that say whose a deal is.
fn group_keys<'a>(group: Grouping, owner: &'a str, team: &'a str) -> (&'a str, &'a str) {
    match group {
        Grouping::Total => ("NULL::uuid", "NULL::text"),
        Grouping::Owner => (owner, "NULL::text"),
        Grouping::Team => ("NULL::uuid", team),
    }
}

/// What a report of one pipeline names: the pipeline, and the user it was narrowed to (figures
/// about one person are theirs, as the leaderboard's are).
fn named(pipeline_id: Uuid, scope: &ReportScope) -> Vec<RecordRef> {
    let mut records = vec![pipeline_ref(pipeline_id)];
    records.extend(scope.owner_id.map(user_ref));
    records
}

fn pipeline_ref(id: Uuid) -> RecordRef {
    RecordRef {
        collection: "pipelines".to_owned(),
        id,
    }
}

fn user_ref(id: Uuid) -> RecordRef {
    RecordRef {
        collection: "users".to_owned(),
        id,
    }
}
