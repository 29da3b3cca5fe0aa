//! The batch's statements: load the rows of every pipeline, deal, lead and scheduled activity
//! it touches (one query per table), and write back what the fold left (one multi-row upsert
//! per table, the columns travelling as parallel arrays; one merge of the open totals' changes).
//! A batch of a thousand events costs about ten round trips.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use domain::pipeline::Pipeline;
use domain::values::{Currency, Money};
use projector::ProjectionError;
use serde_json::Value;
use uuid::Uuid;

use crate::fold::{DealState, LeadState, Owner, PipelineState, Rows, Status, Wanted, deals_wanted};
use crate::sql::qualified;
use crate::totals::{Change, GroupKey};

/// The stored rows `wanted` names (rows not stored yet are absent).
pub(crate) async fn load(
    transaction: &Transaction<'_>,
    schema: &str,
    wanted: &Wanted,
    position: u64,
) -> Result<Rows, ProjectionError> {
    let (activities, pipelines, leads) = futures::try_join!(
        load_activities(transaction, schema, &wanted.activities),
        load_pipelines(transaction, schema, &wanted.pipelines, position),
        load_leads(transaction, schema, &wanted.leads),
    )?;
    let deals = deals_wanted(wanted, &activities);
    Ok(Rows {
        pipelines,
        deals: load_deals(transaction, schema, &deals, position).await?,
        stays: BTreeMap::new(),
        leads,
        activities,
    })
}

/// Writes every row of `rows`, and changes the open totals by `totals`.
pub(crate) async fn write(
    transaction: &Transaction<'_>,
    schema: &str,
    rows: &Rows,
    totals: &[(&GroupKey, Change)],
) -> Result<(), ProjectionError> {
    // Independent statements: sent together, the connection pipelines them.
    futures::try_join!(
        write_pipelines(transaction, schema, &rows.pipelines),
        write_deals(transaction, schema, &rows.deals),
        write_stays(transaction, schema, rows),
        write_leads(transaction, schema, &rows.leads),
        write_activities(transaction, schema, &rows.activities),
        write_totals(transaction, schema, totals),
    )?;
    Ok(())
}

fn to_sql(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

fn from_sql(number: i64) -> u64 {
    u64::try_from(number).unwrap_or(0)
}

async fn load_activities(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Uuid>, ProjectionError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, deal_id FROM {} WHERE id = ANY($1)",
            qualified(schema, "activities")
        ))
        .await?;
    let mut activities = BTreeMap::new();
    for row in transaction.query(&statement, &[&ids]).await? {
        activities.insert(row.try_get(0)?, row.try_get(1)?);
    }
    Ok(activities)
}

async fn load_pipelines(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
    position: u64,
) -> Result<BTreeMap<Uuid, PipelineState>, ProjectionError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, version, position, body FROM {} WHERE id = ANY($1)",
            qualified(schema, "pipelines")
        ))
        .await?;
    let mut pipelines = BTreeMap::new();
    for row in transaction.query(&statement, &[&ids]).await? {
        let id: Uuid = row.try_get(0)?;
        let body: Value = row.try_get(3)?;
        let pipeline =
            serde_json::from_value::<Pipeline>(body).map_err(|error| ProjectionError::Event {
                position,
                reason: format!("the stored row of pipeline/{id} does not read: {error}"),
            })?;
        pipelines.insert(
            id,
            PipelineState {
                version: from_sql(row.try_get(1)?),
                position: from_sql(row.try_get(2)?),
                pipeline: Some(pipeline),
            },
        );
    }
    Ok(pipelines)
}

async fn load_deals(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
    position: u64,
) -> Result<BTreeMap<Uuid, DealState>, ProjectionError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, version, position, pipeline_id, stage, probability, amount_minor, \
                 currency, expected_close_on, owner_id, team, status, opened_at, \
                 stage_entered_at, closed_at, last_activity_at, stays, closed_by, \
                 closed_by_team \
             FROM {} WHERE id = ANY($1)",
            qualified(schema, "deals")
        ))
        .await?;
    let mut deals = BTreeMap::new();
    for row in transaction.query(&statement, &[&ids]).await? {
        let id: Uuid = row.try_get(0)?;
        let unreadable = |what: &str| ProjectionError::Event {
            position,
            reason: format!("the stored row of deal/{id} has an unreadable {what}"),
        };
        let currency: String = row.try_get(7)?;
        let currency = Currency::parse(&currency).map_err(|_| unreadable("currency"))?;
        let status: String = row.try_get(11)?;
        let status = Status::parse(&status).ok_or_else(|| unreadable("status"))?;
        let probability: i16 = row.try_get(5)?;
        let closed_by = match row.try_get::<_, Option<Uuid>>(17)? {
            Some(id) => Some(Owner {
                id,
                team: row.try_get(18)?,
            }),
            None => None,
        };
        deals.insert(
            id,
            DealState {
                version: from_sql(row.try_get(1)?),
                position: from_sql(row.try_get(2)?),
                pipeline_id: row.try_get(3)?,
                stage: row.try_get(4)?,
                probability: u8::try_from(probability).map_err(|_| unreadable("probability"))?,
                amount: Money::new(row.try_get(6)?, currency),
                expected_close_on: row.try_get(8)?,
                owner_id: row.try_get(9)?,
                team: row.try_get(10)?,
                status,
                opened_at: row.try_get(12)?,
                stage_entered_at: row.try_get(13)?,
                closed_at: row.try_get(14)?,
                closed_by,
                last_activity_at: row.try_get(15)?,
                stays: row.try_get(16)?,
            },
        );
    }
    Ok(deals)
}

async fn load_leads(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, LeadState>, ProjectionError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, version, position, source, campaign_id, owner_id, team, captured_at, \
                 qualified_at, disqualified_at, converted_at, contact_id, deal_id \
             FROM {} WHERE id = ANY($1)",
            qualified(schema, "leads")
        ))
        .await?;
    let mut leads = BTreeMap::new();
    for row in transaction.query(&statement, &[&ids]).await? {
        leads.insert(
            row.try_get(0)?,
            LeadState {
                version: from_sql(row.try_get(1)?),
                position: from_sql(row.try_get(2)?),
                source: row.try_get(3)?,
                campaign_id: row.try_get(4)?,
                owner_id: row.try_get(5)?,
                team: row.try_get(6)?,
                captured_at: row.try_get(7)?,
                qualified_at: row.try_get(8)?,
                disqualified_at: row.try_get(9)?,
                converted_at: row.try_get(10)?,
                contact_id: row.try_get(11)?,
                deal_id: row.try_get(12)?,
            },
        );
    }
    Ok(leads)
}

async fn write_pipelines(
    transaction: &Transaction<'_>,
    schema: &str,
    pipelines: &BTreeMap<Uuid, PipelineState>,
) -> Result<(), ProjectionError> {
    if pipelines.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(pipelines.len());
    let mut versions = Vec::with_capacity(pipelines.len());
    let mut positions = Vec::with_capacity(pipelines.len());
    let mut bodies = Vec::with_capacity(pipelines.len());
    for (id, row) in pipelines {
        let Some(pipeline) = &row.pipeline else {
            continue;
        };
        ids.push(*id);
        versions.push(to_sql(row.version));
        positions.push(to_sql(row.position));
        bodies.push(serde_json::to_value(pipeline)?);
    }
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, version, position, body) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::jsonb[]) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 position = excluded.position, body = excluded.body",
            qualified(schema, "pipelines")
        ))
        .await?;
    transaction
        .execute(&statement, &[&ids, &versions, &positions, &bodies])
        .await?;
    Ok(())
}

async fn write_deals(
    transaction: &Transaction<'_>,
    schema: &str,
    deals: &BTreeMap<Uuid, DealState>,
) -> Result<(), ProjectionError> {
    if deals.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = deals.keys().copied().collect();
    let rows: Vec<&DealState> = deals.values().collect();
    let versions: Vec<i64> = rows.iter().map(|d| to_sql(d.version)).collect();
    let positions: Vec<i64> = rows.iter().map(|d| to_sql(d.position)).collect();
    let pipeline_ids: Vec<Uuid> = rows.iter().map(|d| d.pipeline_id).collect();
    let stages: Vec<&str> = rows.iter().map(|d| d.stage.as_str()).collect();
    let probabilities: Vec<i16> = rows.iter().map(|d| i16::from(d.probability)).collect();
    let amounts: Vec<i64> = rows.iter().map(|d| d.amount.amount_minor).collect();
    let currencies: Vec<&str> = rows.iter().map(|d| d.amount.currency.code()).collect();
    let closes: Vec<Option<NaiveDate>> = rows.iter().map(|d| d.expected_close_on).collect();
    let owners: Vec<Uuid> = rows.iter().map(|d| d.owner_id).collect();
    let teams: Vec<Option<&str>> = rows.iter().map(|d| d.team.as_deref()).collect();
    let statuses: Vec<&str> = rows.iter().map(|d| d.status.as_str()).collect();
    let opened: Vec<DateTime<Utc>> = rows.iter().map(|d| d.opened_at).collect();
    let entered: Vec<DateTime<Utc>> = rows.iter().map(|d| d.stage_entered_at).collect();
    let closed: Vec<Option<DateTime<Utc>>> = rows.iter().map(|d| d.closed_at).collect();
    let touched: Vec<Option<DateTime<Utc>>> = rows.iter().map(|d| d.last_activity_at).collect();
    let stays: Vec<i32> = rows.iter().map(|d| d.stays).collect();
    let closers: Vec<Option<Uuid>> = rows
        .iter()
        .map(|d| d.closed_by.as_ref().map(|by| by.id))
        .collect();
    let closer_teams: Vec<Option<&str>> = rows
        .iter()
        .map(|d| d.closed_by.as_ref().and_then(|by| by.team.as_deref()))
        .collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, version, position, pipeline_id, stage, probability, \
                 amount_minor, currency, expected_close_on, owner_id, team, status, opened_at, \
                 stage_entered_at, closed_at, last_activity_at, stays, closed_by, \
                 closed_by_team) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::uuid[], \
                 $5::text[], $6::smallint[], $7::bigint[], $8::text[], $9::date[], $10::uuid[], \
                 $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[], \
                 $15::timestamptz[], $16::timestamptz[], $17::integer[], $18::uuid[], \
                 $19::text[]) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 position = excluded.position, pipeline_id = excluded.pipeline_id, \
                 stage = excluded.stage, probability = excluded.probability, \
                 amount_minor = excluded.amount_minor, currency = excluded.currency, \
                 expected_close_on = excluded.expected_close_on, owner_id = excluded.owner_id, \
                 team = excluded.team, status = excluded.status, opened_at = excluded.opened_at, \
                 stage_entered_at = excluded.stage_entered_at, closed_at = excluded.closed_at, \
                 last_activity_at = excluded.last_activity_at, stays = excluded.stays, \
                 closed_by = excluded.closed_by, closed_by_team = excluded.closed_by_team",
            qualified(schema, "deals")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids,
                &versions,
                &positions,
                &pipeline_ids,
                &stages,
                &probabilities,
                &amounts,
                &currencies,
                &closes,
                &owners,
                &teams,
                &statuses,
                &opened,
                &entered,
                &closed,
                &touched,
                &stays,
                &closers,
                &closer_teams,
            ],
        )
        .await?;
    Ok(())
}

async fn write_stays(
    transaction: &Transaction<'_>,
    schema: &str,
    rows: &Rows,
) -> Result<(), ProjectionError> {
    if rows.stays.is_empty() {
        return Ok(());
    }
    let deal_ids: Vec<Uuid> = rows.stays.keys().map(|(deal_id, _)| *deal_id).collect();
    let seqs: Vec<i32> = rows.stays.keys().map(|(_, seq)| *seq).collect();
    let stays: Vec<_> = rows.stays.values().collect();
    let pipeline_ids: Vec<Uuid> = stays.iter().map(|s| s.pipeline_id).collect();
    let stages: Vec<&str> = stays.iter().map(|s| s.stage.as_str()).collect();
    let entered: Vec<DateTime<Utc>> = stays.iter().map(|s| s.entered_at).collect();
    let left: Vec<Option<DateTime<Utc>>> = stays.iter().map(|s| s.left_at).collect();
    let left_to: Vec<Option<&str>> = stays.iter().map(|s| s.left_to.as_deref()).collect();
    let closed_as: Vec<Option<&str>> = stays
        .iter()
        .map(|s| s.closed_as.map(Status::as_str))
        .collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (deal_id, seq, pipeline_id, stage, entered_at, left_at, left_to, \
                 closed_as) \
             SELECT * FROM unnest($1::uuid[], $2::integer[], $3::uuid[], $4::text[], \
                 $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[]) \
             ON CONFLICT (deal_id, seq) DO UPDATE SET pipeline_id = excluded.pipeline_id, \
                 stage = excluded.stage, entered_at = excluded.entered_at, \
                 left_at = excluded.left_at, left_to = excluded.left_to, \
                 closed_as = excluded.closed_as",
            qualified(schema, "stage_stays")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &deal_ids,
                &seqs,
                &pipeline_ids,
                &stages,
                &entered,
                &left,
                &left_to,
                &closed_as,
            ],
        )
        .await?;
    Ok(())
}

async fn write_leads(
    transaction: &Transaction<'_>,
    schema: &str,
    leads: &BTreeMap<Uuid, LeadState>,
) -> Result<(), ProjectionError> {
    if leads.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = leads.keys().copied().collect();
    let rows: Vec<&LeadState> = leads.values().collect();
    let versions: Vec<i64> = rows.iter().map(|l| to_sql(l.version)).collect();
    let positions: Vec<i64> = rows.iter().map(|l| to_sql(l.position)).collect();
    let sources: Vec<&str> = rows.iter().map(|l| l.source.as_str()).collect();
    let campaigns: Vec<Option<Uuid>> = rows.iter().map(|l| l.campaign_id).collect();
    let owners: Vec<Option<Uuid>> = rows.iter().map(|l| l.owner_id).collect();
    let teams: Vec<Option<&str>> = rows.iter().map(|l| l.team.as_deref()).collect();
    let captured: Vec<DateTime<Utc>> = rows.iter().map(|l| l.captured_at).collect();
    let qualified_at: Vec<Option<DateTime<Utc>>> = rows.iter().map(|l| l.qualified_at).collect();
    let disqualified: Vec<Option<DateTime<Utc>>> = rows.iter().map(|l| l.disqualified_at).collect();
    let converted: Vec<Option<DateTime<Utc>>> = rows.iter().map(|l| l.converted_at).collect();
    let contacts: Vec<Option<Uuid>> = rows.iter().map(|l| l.contact_id).collect();
    let deals: Vec<Option<Uuid>> = rows.iter().map(|l| l.deal_id).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, version, position, source, campaign_id, owner_id, team, \
                 captured_at, qualified_at, disqualified_at, converted_at, contact_id, deal_id) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], \
                 $5::uuid[], $6::uuid[], $7::text[], $8::timestamptz[], $9::timestamptz[], \
                 $10::timestamptz[], $11::timestamptz[], $12::uuid[], $13::uuid[]) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 position = excluded.position, source = excluded.source, \
                 campaign_id = excluded.campaign_id, owner_id = excluded.owner_id, \
                 team = excluded.team, captured_at = excluded.captured_at, \
                 qualified_at = excluded.qualified_at, \
                 disqualified_at = excluded.disqualified_at, \
                 converted_at = excluded.converted_at, contact_id = excluded.contact_id, \
                 deal_id = excluded.deal_id",
            qualified(schema, "leads")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids,
                &versions,
                &positions,
                &sources,
                &campaigns,
                &owners,
                &teams,
                &captured,
                &qualified_at,
                &disqualified,
                &converted,
                &contacts,
                &deals,
            ],
        )
        .await?;
    Ok(())
}

async fn write_activities(
    transaction: &Transaction<'_>,
    schema: &str,
    activities: &BTreeMap<Uuid, Uuid>,
) -> Result<(), ProjectionError> {
    if activities.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = activities.keys().copied().collect();
    let deals: Vec<Uuid> = activities.values().copied().collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, deal_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) \
             ON CONFLICT (id) DO NOTHING",
            qualified(schema, "activities")
        ))
        .await?;
    transaction.execute(&statement, &[&ids, &deals]).await?;
    Ok(())
}

/// Adds each change to its summary row: a row left without deals goes, a new group gets a row.
async fn write_totals(
    transaction: &Transaction<'_>,
    schema: &str,
    totals: &[(&GroupKey, Change)],
) -> Result<(), ProjectionError> {
    if totals.is_empty() {
        return Ok(());
    }
    let pipeline_ids: Vec<Uuid> = totals.iter().map(|(key, _)| key.pipeline_id).collect();
    let stages: Vec<&str> = totals.iter().map(|(key, _)| key.stage.as_str()).collect();
    let currencies: Vec<&str> = totals.iter().map(|(key, _)| key.currency.code()).collect();
    let owners: Vec<Uuid> = totals.iter().map(|(key, _)| key.owner_id).collect();
    let teams: Vec<&str> = totals.iter().map(|(key, _)| key.team.as_str()).collect();
    let days: Vec<NaiveDate> = totals.iter().map(|(key, _)| key.touched_on).collect();
    let deals: Vec<i64> = totals.iter().map(|(_, change)| change.deals).collect();
    let amounts: Vec<i64> = totals
        .iter()
        .map(|(_, change)| change.total_minor)
        .collect();
    let weighted: Vec<i64> = totals
        .iter()
        .map(|(_, change)| change.weighted_percent_minor)
        .collect();
    let entered: Vec<i64> = totals.iter().map(|(_, change)| change.entered_ms).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "MERGE INTO {} t \
             USING unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], \
                 $6::date[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[]) \
                 AS c(pipeline_id, stage, currency, owner_id, team, touched_on, deals, \
                     total_minor, weighted_percent_minor, entered_ms) \
             ON t.pipeline_id = c.pipeline_id AND t.stage = c.stage \
                 AND t.currency = c.currency AND t.owner_id = c.owner_id AND t.team = c.team \
                 AND t.touched_on = c.touched_on \
             WHEN MATCHED AND t.deals + c.deals = 0 THEN DELETE \
             WHEN MATCHED THEN UPDATE SET deals = t.deals + c.deals, \
                 total_minor = t.total_minor + c.total_minor, \
                 weighted_percent_minor = t.weighted_percent_minor + c.weighted_percent_minor, \
                 entered_ms = t.entered_ms + c.entered_ms \
             WHEN NOT MATCHED THEN INSERT VALUES (c.pipeline_id, c.stage, c.currency, \
                 c.owner_id, c.team, c.touched_on, c.deals, c.total_minor, \
                 c.weighted_percent_minor, c.entered_ms)",
            qualified(schema, "open_totals")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &pipeline_ids,
                &stages,
                &currencies,
                &owners,
                &teams,
                &days,
                &deals,
                &amounts,
                &weighted,
                &entered,
            ],
        )
        .await?;
    Ok(())
}
