//! The SQL edge of a batch: load the rows the batch touches with one query per table
//! (`= ANY` over arrays) and write the folded state back with one multi-row statement per table
//! (parallel arrays through `unnest`). No per-event round trip.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use projector::ProjectionError;
use serde_json::Value;
use uuid::Uuid;

use crate::decode::Activity;
use crate::facts::{Component, CustomerKey, CustomerKind, Won, class_text, parse_class};
use crate::fold::{Added, CaseLink, Customer, DealLink, State};
use crate::tables::{decayed_columns, qualified};

/// A stored value the projection cannot read back, refused at the batch's first position.
fn unreadable(position: u64, what: String) -> ProjectionError {
    ProjectionError::Event {
        position,
        reason: format!("a stored row does not read: {what}"),
    }
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn key_arrays(keys: &BTreeSet<CustomerKey>) -> (Vec<&'static str>, Vec<Uuid>) {
    keys.iter().map(|key| (key.kind.as_str(), key.id)).unzip()
}

pub(crate) async fn load_deals(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, DealLink>, ProjectionError> {
    let mut deals = HashMap::new();
    if ids.is_empty() {
        return Ok(deals);
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, company_id, contact_id, amount_minor, currency FROM {} \
             WHERE id = ANY($1)",
            qualified(schema, "deals")
        ))
        .await?;
    for row in transaction.query(&statement, &[&ids]).await? {
        deals.insert(
            row.try_get(0)?,
            DealLink {
                company_id: row.try_get(1)?,
                contact_id: row.try_get(2)?,
                amount_minor: row.try_get(3)?,
                currency: row.try_get(4)?,
            },
        );
    }
    Ok(deals)
}

pub(crate) async fn load_cases(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, CaseLink>, ProjectionError> {
    let mut cases = HashMap::new();
    if ids.is_empty() {
        return Ok(cases);
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, contact_id, company_id, opened_at, closed_at, position, event_type \
             FROM {} WHERE id = ANY($1)",
            qualified(schema, "cases")
        ))
        .await?;
    for row in transaction.query(&statement, &[&ids]).await? {
        cases.insert(
            row.try_get(0)?,
            CaseLink {
                contact_id: row.try_get(1)?,
                company_id: row.try_get(2)?,
                opened_at: row.try_get(3)?,
                closed_at: row.try_get(4)?,
                position: to_u64(row.try_get(5)?),
                event_type: row.try_get(6)?,
            },
        );
    }
    Ok(cases)
}

pub(crate) async fn load_scheduled(
    transaction: &Transaction<'_>,
    schema: &str,
    ids: &[Uuid],
    position: u64,
) -> Result<HashMap<Uuid, Activity>, ProjectionError> {
    let mut scheduled = HashMap::new();
    if ids.is_empty() {
        return Ok(scheduled);
    }
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT id, component, occurred_at, minutes, contact_id, company_id, deal_id \
             FROM {} WHERE id = ANY($1)",
            qualified(schema, "scheduled")
        ))
        .await?;
    for row in transaction.query(&statement, &[&ids]).await? {
        let component: String = row.try_get(1)?;
        let minutes: i32 = row.try_get(3)?;
        scheduled.insert(
            row.try_get(0)?,
            Activity {
                component: Component::parse(&component)
                    .ok_or_else(|| unreadable(position, format!("component {component:?}")))?,
                occurred_at: row.try_get(2)?,
                minutes: u32::try_from(minutes).unwrap_or(0),
                contact_id: row.try_get(4)?,
                company_id: row.try_get(5)?,
                deal_id: row.try_get(6)?,
            },
        );
    }
    Ok(scheduled)
}

/// The customer columns, in the order [`customer_of`] reads them (after kind and id).
pub(crate) fn customer_columns() -> String {
    format!(
        "created, owner_id, team, company_id, manual_class, touch_count, first_touch_at, \
         last_touch_at, {}, activity_minutes, cases_opened, open_cases, won_count, \
         first_won_at, last_won_at, won_minor",
        decayed_columns().join(", ")
    )
}

/// A customer from a row whose columns from `from` are [`customer_columns`].
pub(crate) fn customer_of(
    row: &tokio_postgres::Row,
    from: usize,
) -> Result<Result<Customer, String>, tokio_postgres::Error> {
    let class: Option<String> = row.try_get(from + 4)?;
    let manual_class = match class.as_deref().map(parse_class) {
        None => None,
        Some(Some(class)) => Some(class),
        Some(None) => return Ok(Err(format!("value class {class:?}"))),
    };
    let mut decayed = [None; 8];
    for (index, sum) in decayed.iter_mut().enumerate() {
        *sum = row.try_get(from + 8 + index)?;
    }
    let at = from + 16;
    let won_minor: Value = row.try_get(at + 6)?;
    let won_minor = match serde_json::from_value(won_minor) {
        Ok(totals) => totals,
        Err(error) => return Ok(Err(format!("won totals: {error}"))),
    };
    Ok(Ok(Customer {
        created: row.try_get(from)?,
        owner_id: row.try_get(from + 1)?,
        team: row.try_get(from + 2)?,
        company_id: row.try_get(from + 3)?,
        manual_class,
        touch_count: row.try_get(from + 5)?,
        first_touch_at: row.try_get(from + 6)?,
        last_touch_at: row.try_get(from + 7)?,
        decayed,
        activity_minutes: row.try_get(at)?,
        cases_opened: row.try_get(at + 1)?,
        open_cases: row.try_get(at + 2)?,
        won_count: row.try_get(at + 3)?,
        first_won_at: row.try_get(at + 4)?,
        last_won_at: row.try_get(at + 5)?,
        won_minor,
    }))
}

pub(crate) async fn load_customers(
    transaction: &Transaction<'_>,
    schema: &str,
    keys: &BTreeSet<CustomerKey>,
    position: u64,
) -> Result<HashMap<CustomerKey, Customer>, ProjectionError> {
    let mut customers = HashMap::new();
    if keys.is_empty() {
        return Ok(customers);
    }
    let (kinds, ids) = key_arrays(keys);
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT c.kind, c.id, {} FROM {} c \
             JOIN unnest($1::text[], $2::uuid[]) AS k(kind, id) ON k.kind = c.kind AND k.id = c.id",
            customer_columns()
                .split(", ")
                .map(|column| format!("c.{column}"))
                .collect::<Vec<_>>()
                .join(", "),
            qualified(schema, "customers")
        ))
        .await?;
    for row in transaction.query(&statement, &[&kinds, &ids]).await? {
        let kind: String = row.try_get(0)?;
        let kind = CustomerKind::parse(&kind)
            .ok_or_else(|| unreadable(position, format!("customer kind {kind:?}")))?;
        let customer = customer_of(&row, 2)?.map_err(|what| unreadable(position, what))?;
        customers.insert(
            CustomerKey {
                kind,
                id: row.try_get(1)?,
            },
            customer,
        );
    }
    Ok(customers)
}

pub(crate) async fn load_won(
    transaction: &Transaction<'_>,
    schema: &str,
    keys: &BTreeSet<CustomerKey>,
    position: u64,
) -> Result<HashMap<CustomerKey, Vec<Won>>, ProjectionError> {
    let mut won: HashMap<CustomerKey, Vec<Won>> = HashMap::new();
    if keys.is_empty() {
        return Ok(won);
    }
    let (kinds, ids) = key_arrays(keys);
    let statement = transaction
        .prepare_cached(&format!(
            "SELECT w.kind, w.customer_id, w.deal_id, w.closed_at, w.amount_minor, w.currency, \
                    w.position, w.event_type \
             FROM {} w JOIN unnest($1::text[], $2::uuid[]) AS k(kind, id) \
                 ON k.kind = w.kind AND k.id = w.customer_id \
             ORDER BY w.position, w.deal_id",
            qualified(schema, "won_deals")
        ))
        .await?;
    for row in transaction.query(&statement, &[&kinds, &ids]).await? {
        let kind: String = row.try_get(0)?;
        let kind = CustomerKind::parse(&kind)
            .ok_or_else(|| unreadable(position, format!("customer kind {kind:?}")))?;
        let key = CustomerKey {
            kind,
            id: row.try_get(1)?,
        };
        won.entry(key).or_default().push(won_of(&row, 2)?);
    }
    Ok(won)
}

/// A won deal from the columns deal_id, closed_at, amount_minor, currency, position,
/// event_type starting at `from`.
pub(crate) fn won_of(row: &tokio_postgres::Row, from: usize) -> Result<Won, tokio_postgres::Error> {
    Ok(Won {
        deal_id: row.try_get(from)?,
        closed_at: row.try_get(from + 1)?,
        amount_minor: row.try_get(from + 2)?,
        currency: row.try_get(from + 3)?,
        position: to_u64(row.try_get(from + 4)?),
        event_type: row.try_get(from + 5)?,
    })
}

/// Writes the folded state and the batch's new facts back.
pub(crate) async fn write(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
    added: &Added,
) -> Result<(), ProjectionError> {
    // Independent statements: sent together, the connection pipelines them.
    futures::try_join!(
        write_customers(transaction, schema, state),
        write_touches(transaction, schema, added),
        write_won(transaction, schema, state, added),
        write_deals(transaction, schema, state),
        write_cases(transaction, schema, state, added),
        write_scheduled(transaction, schema, state, added),
        write_monthly(transaction, schema, added),
    )?;
    Ok(())
}

async fn write_customers(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
) -> Result<(), ProjectionError> {
    if state.customers.is_empty() {
        return Ok(());
    }
    let mut customers: Vec<(&CustomerKey, &Customer)> = state.customers.iter().collect();
    customers.sort_by_key(|(key, _)| **key);
    let kinds: Vec<&str> = customers.iter().map(|(key, _)| key.kind.as_str()).collect();
    let ids: Vec<Uuid> = customers.iter().map(|(key, _)| key.id).collect();
    let created: Vec<bool> = customers.iter().map(|(_, c)| c.created).collect();
    let owners: Vec<Option<Uuid>> = customers.iter().map(|(_, c)| c.owner_id).collect();
    let teams: Vec<Option<String>> = customers.iter().map(|(_, c)| c.team.clone()).collect();
    let companies: Vec<Option<Uuid>> = customers.iter().map(|(_, c)| c.company_id).collect();
    let classes: Vec<Option<&str>> = customers
        .iter()
        .map(|(_, c)| c.manual_class.map(class_text))
        .collect();
    let touch_counts: Vec<i64> = customers.iter().map(|(_, c)| c.touch_count).collect();
    let first_touch: Vec<Option<DateTime<Utc>>> =
        customers.iter().map(|(_, c)| c.first_touch_at).collect();
    let last_touch: Vec<Option<DateTime<Utc>>> =
        customers.iter().map(|(_, c)| c.last_touch_at).collect();
    let decayed: Vec<Vec<Option<f64>>> = (0..8)
        .map(|index| customers.iter().map(|(_, c)| c.decayed[index]).collect())
        .collect();
    let minutes: Vec<i64> = customers.iter().map(|(_, c)| c.activity_minutes).collect();
    let cases_opened: Vec<i64> = customers.iter().map(|(_, c)| c.cases_opened).collect();
    let open_cases: Vec<i64> = customers.iter().map(|(_, c)| c.open_cases).collect();
    let won_count: Vec<i64> = customers.iter().map(|(_, c)| c.won_count).collect();
    let first_won: Vec<Option<DateTime<Utc>>> =
        customers.iter().map(|(_, c)| c.first_won_at).collect();
    let last_won: Vec<Option<DateTime<Utc>>> =
        customers.iter().map(|(_, c)| c.last_won_at).collect();
    let won_minor: Vec<Value> = customers
        .iter()
        .map(|(_, c)| serde_json::to_value(&c.won_minor))
        .collect::<Result<_, _>>()?;
    let columns = format!("kind, id, {}", customer_columns());
    let decayed_types: Vec<String> = (0..8)
        .map(|index| format!("${}::float8[]", 10 + index))
        .collect();
    let updates: Vec<String> = columns
        .split(", ")
        .skip(2)
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {table} ({columns}) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::bool[], $4::uuid[], $5::text[], \
                 $6::uuid[], $7::text[], $8::bigint[], $9::timestamptz[], $18::timestamptz[], \
                 {decayed}, $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], \
                 $23::timestamptz[], $24::timestamptz[], $25::jsonb[]) \
             ON CONFLICT (kind, id) DO UPDATE SET {updates}",
            table = qualified(schema, "customers"),
            decayed = decayed_types.join(", "),
            updates = updates.join(", "),
        ))
        .await?;
    let mut parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
        &kinds,
        &ids,
        &created,
        &owners,
        &teams,
        &companies,
        &classes,
        &touch_counts,
        &first_touch,
    ];
    for sums in &decayed {
        parameters.push(sums);
    }
    parameters.extend([
        &last_touch as &(dyn tokio_postgres::types::ToSql + Sync),
        &minutes,
        &cases_opened,
        &open_cases,
        &won_count,
        &first_won,
        &last_won,
        &won_minor,
    ]);
    transaction.execute(&statement, &parameters).await?;
    Ok(())
}

async fn write_touches(
    transaction: &Transaction<'_>,
    schema: &str,
    added: &Added,
) -> Result<(), ProjectionError> {
    if added.touches.is_empty() {
        return Ok(());
    }
    let touches = &added.touches;
    let kinds: Vec<&str> = touches.iter().map(|(key, _)| key.kind.as_str()).collect();
    let ids: Vec<Uuid> = touches.iter().map(|(key, _)| key.id).collect();
    let positions: Vec<i64> = touches.iter().map(|(_, t)| to_i64(t.position)).collect();
    let components: Vec<&str> = touches.iter().map(|(_, t)| t.component.as_str()).collect();
    let at: Vec<DateTime<Utc>> = touches.iter().map(|(_, t)| t.occurred_at).collect();
    let minutes: Vec<i32> = touches
        .iter()
        .map(|(_, t)| i32::try_from(t.minutes).unwrap_or(i32::MAX))
        .collect();
    let types: Vec<&str> = touches.iter().map(|(_, t)| t.event_type.as_str()).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (kind, customer_id, position, component, occurred_at, minutes, \
                 event_type) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], \
                 $5::timestamptz[], $6::int[], $7::text[])",
            qualified(schema, "touchpoints")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[&kinds, &ids, &positions, &components, &at, &minutes, &types],
        )
        .await?;
    Ok(())
}

/// The won deals of every customer whose won deals changed, replaced.
async fn write_won(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
    added: &Added,
) -> Result<(), ProjectionError> {
    if added.won_changed.is_empty() {
        return Ok(());
    }
    let table = qualified(schema, "won_deals");
    let (kinds, ids) = key_arrays(&added.won_changed);
    let delete = transaction
        .prepare_cached(&format!(
            "DELETE FROM {table} w USING unnest($1::text[], $2::uuid[]) AS k(kind, id) \
             WHERE w.kind = k.kind AND w.customer_id = k.id"
        ))
        .await?;
    transaction.execute(&delete, &[&kinds, &ids]).await?;
    let rows: Vec<(&CustomerKey, &Won)> = added
        .won_changed
        .iter()
        .flat_map(|key| {
            state
                .won
                .get(key)
                .into_iter()
                .flatten()
                .map(move |won| (key, won))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = rows.iter().map(|(key, _)| key.kind.as_str()).collect();
    let ids: Vec<Uuid> = rows.iter().map(|(key, _)| key.id).collect();
    let deals: Vec<Uuid> = rows.iter().map(|(_, won)| won.deal_id).collect();
    let closed: Vec<DateTime<Utc>> = rows.iter().map(|(_, won)| won.closed_at).collect();
    let amounts: Vec<i64> = rows.iter().map(|(_, won)| won.amount_minor).collect();
    let currencies: Vec<&str> = rows.iter().map(|(_, won)| won.currency.as_str()).collect();
    let positions: Vec<i64> = rows.iter().map(|(_, won)| to_i64(won.position)).collect();
    let types: Vec<&str> = rows
        .iter()
        .map(|(_, won)| won.event_type.as_str())
        .collect();
    let insert = transaction
        .prepare_cached(&format!(
            "INSERT INTO {table} (kind, customer_id, deal_id, closed_at, amount_minor, currency, \
                 position, event_type) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                 $5::bigint[], $6::text[], $7::bigint[], $8::text[])"
        ))
        .await?;
    transaction
        .execute(
            &insert,
            &[
                &kinds,
                &ids,
                &deals,
                &closed,
                &amounts,
                &currencies,
                &positions,
                &types,
            ],
        )
        .await?;
    Ok(())
}

async fn write_deals(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
) -> Result<(), ProjectionError> {
    if state.deals.is_empty() {
        return Ok(());
    }
    let mut deals: Vec<(&Uuid, &DealLink)> = state.deals.iter().collect();
    deals.sort_by_key(|(id, _)| **id);
    let ids: Vec<Uuid> = deals.iter().map(|(id, _)| **id).collect();
    let companies: Vec<Option<Uuid>> = deals.iter().map(|(_, d)| d.company_id).collect();
    let contacts: Vec<Option<Uuid>> = deals.iter().map(|(_, d)| d.contact_id).collect();
    let amounts: Vec<i64> = deals.iter().map(|(_, d)| d.amount_minor).collect();
    let currencies: Vec<&str> = deals.iter().map(|(_, d)| d.currency.as_str()).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, company_id, contact_id, amount_minor, currency) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[]) \
             ON CONFLICT (id) DO UPDATE SET company_id = excluded.company_id, \
                 contact_id = excluded.contact_id, amount_minor = excluded.amount_minor, \
                 currency = excluded.currency",
            qualified(schema, "deals")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[&ids, &companies, &contacts, &amounts, &currencies],
        )
        .await?;
    Ok(())
}

async fn write_cases(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
    added: &Added,
) -> Result<(), ProjectionError> {
    let cases: Vec<(Uuid, &CaseLink)> = added
        .cases
        .iter()
        .filter_map(|id| state.cases.get(id).map(|case| (*id, case)))
        .collect();
    if cases.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = cases.iter().map(|(id, _)| *id).collect();
    let contacts: Vec<Uuid> = cases.iter().map(|(_, c)| c.contact_id).collect();
    let companies: Vec<Option<Uuid>> = cases.iter().map(|(_, c)| c.company_id).collect();
    let opened: Vec<DateTime<Utc>> = cases.iter().map(|(_, c)| c.opened_at).collect();
    let closed: Vec<Option<DateTime<Utc>>> = cases.iter().map(|(_, c)| c.closed_at).collect();
    let positions: Vec<i64> = cases.iter().map(|(_, c)| to_i64(c.position)).collect();
    let types: Vec<&str> = cases.iter().map(|(_, c)| c.event_type.as_str()).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (id, contact_id, company_id, opened_at, closed_at, position, \
                 event_type) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                 $5::timestamptz[], $6::bigint[], $7::text[]) \
             ON CONFLICT (id) DO UPDATE SET closed_at = excluded.closed_at",
            qualified(schema, "cases")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids, &contacts, &companies, &opened, &closed, &positions, &types,
            ],
        )
        .await?;
    Ok(())
}

async fn write_scheduled(
    transaction: &Transaction<'_>,
    schema: &str,
    state: &State,
    added: &Added,
) -> Result<(), ProjectionError> {
    let table = qualified(schema, "scheduled");
    if !added.unscheduled.is_empty() {
        let ids: Vec<Uuid> = added.unscheduled.iter().copied().collect();
        let delete = transaction
            .prepare_cached(&format!("DELETE FROM {table} WHERE id = ANY($1)"))
            .await?;
        transaction.execute(&delete, &[&ids]).await?;
    }
    if state.scheduled.is_empty() {
        return Ok(());
    }
    let mut scheduled: Vec<(&Uuid, &Activity)> = state.scheduled.iter().collect();
    scheduled.sort_by_key(|(id, _)| **id);
    let ids: Vec<Uuid> = scheduled.iter().map(|(id, _)| **id).collect();
    let components: Vec<&str> = scheduled
        .iter()
        .map(|(_, a)| a.component.as_str())
        .collect();
    let at: Vec<DateTime<Utc>> = scheduled.iter().map(|(_, a)| a.occurred_at).collect();
    let minutes: Vec<i32> = scheduled
        .iter()
        .map(|(_, a)| i32::try_from(a.minutes).unwrap_or(i32::MAX))
        .collect();
    let contacts: Vec<Option<Uuid>> = scheduled.iter().map(|(_, a)| a.contact_id).collect();
    let companies: Vec<Option<Uuid>> = scheduled.iter().map(|(_, a)| a.company_id).collect();
    let deals: Vec<Option<Uuid>> = scheduled.iter().map(|(_, a)| a.deal_id).collect();
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {table} (id, component, occurred_at, minutes, contact_id, company_id, \
                 deal_id) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], \
                 $5::uuid[], $6::uuid[], $7::uuid[]) \
             ON CONFLICT (id) DO NOTHING"
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &ids,
                &components,
                &at,
                &minutes,
                &contacts,
                &companies,
                &deals,
            ],
        )
        .await?;
    Ok(())
}

/// Adds the batch's minutes and cases to the stored months.
async fn write_monthly(
    transaction: &Transaction<'_>,
    schema: &str,
    added: &Added,
) -> Result<(), ProjectionError> {
    if added.monthly.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = added
        .monthly
        .keys()
        .map(|(key, _)| key.kind.as_str())
        .collect();
    let ids: Vec<Uuid> = added.monthly.keys().map(|(key, _)| key.id).collect();
    let months: Vec<NaiveDate> = added.monthly.keys().map(|(_, month)| *month).collect();
    let minutes: Vec<i64> = added
        .monthly
        .values()
        .map(|(minutes, _)| *minutes)
        .collect();
    let cases: Vec<i64> = added.monthly.values().map(|(_, cases)| *cases).collect();
    let table = qualified(schema, "monthly");
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {table} AS m (kind, customer_id, month, activity_minutes, cases_opened) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::date[], $4::bigint[], \
                 $5::bigint[]) \
             ON CONFLICT (kind, customer_id, month) DO UPDATE SET \
                 activity_minutes = m.activity_minutes + excluded.activity_minutes, \
                 cases_opened = m.cases_opened + excluded.cases_opened"
        ))
        .await?;
    transaction
        .execute(&statement, &[&kinds, &ids, &months, &minutes, &cases])
        .await?;
    Ok(())
}
