//! The registry of generations (`projection_generations`): which schema serves a projection, how
//! far each generation has applied, and the transitions between states
//! (building → live → retired). Every change of a generation's tables and position goes through
//! a transaction that locks its row, so two projectors can never both advance it.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool, Transaction};

use crate::error::ProjectorError;
use crate::projection::{Projection, schema_name, tables_digest};

/// Serialises the creation of generations of one projection (with `hashtext(projection)`).
const CREATE_LOCK_CLASS: i32 = 0x7072_6a63; // "prjc"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Building,
    Live,
    Retired,
}

impl State {
    fn parse(text: &str) -> Result<State, ProjectorError> {
        match text {
            "building" => Ok(State::Building),
            "live" => Ok(State::Live),
            "retired" => Ok(State::Retired),
            other => Err(ProjectorError::Database(format!(
                "unknown generation state {other:?} in projection_generations"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            State::Building => "building",
            State::Live => "live",
            State::Retired => "retired",
        }
    }
}

/// One row of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    pub generation: u32,
    pub schema: String,
    pub state: State,
    pub position: u64,
    pub watermark: u64,
    pub failure: Option<(u64, String)>,
    /// What its tables were made from ([`tables_digest`]); `None` when made before digests were
    /// kept.
    pub tables_digest: Option<String>,
    /// Its read indexes exist (a generation gets them once it has caught up).
    pub indexed: bool,
}

impl Generation {
    /// How far a reader may consider this generation: everything of its feed up to here.
    pub fn reach(&self) -> u64 {
        self.position.max(self.watermark)
    }

    /// Whether its tables are the ones `projection` makes now.
    pub fn has_tables_of<P: Projection>(&self, projection: &P) -> bool {
        self.tables_digest.as_deref() == Some(tables_digest(projection).as_str())
    }
}

const COLUMNS: &str = "generation, schema_name, state, position, watermark, failed_position, \
     failure, tables_digest, indexed";

fn from_row(row: &tokio_postgres::Row) -> Result<Generation, ProjectorError> {
    let generation: i32 = row.try_get(0)?;
    let state: String = row.try_get(2)?;
    let failed_position: Option<i64> = row.try_get(5)?;
    let failure: Option<String> = row.try_get(6)?;
    Ok(Generation {
        generation: u32::try_from(generation).unwrap_or(0),
        schema: row.try_get(1)?,
        state: State::parse(&state)?,
        position: to_position(row.try_get(3)?),
        watermark: to_position(row.try_get(4)?),
        failure: failed_position
            .zip(failure)
            .map(|(position, failure)| (to_position(position), failure)),
        tables_digest: row.try_get(7)?,
        indexed: row.try_get(8)?,
    })
}

/// Positions are stored as bigint (never negative: a CHECK says so).
pub(crate) fn to_position(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn from_position(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The live generation, if there is one.
pub(crate) async fn live(
    client: &impl GenericClient,
    projection: &str,
) -> Result<Option<Generation>, ProjectorError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations \
                 WHERE projection = $1 AND state = 'live'"
            ),
            &[&projection],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One generation.
pub(crate) async fn get(
    client: &impl GenericClient,
    projection: &str,
    generation: u32,
) -> Result<Generation, ProjectorError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations \
                 WHERE projection = $1 AND generation = $2"
            ),
            &[&projection, &to_column(generation)],
        )
        .await?
        .ok_or_else(|| {
            ProjectorError::Database(format!(
                "generation {generation} of {projection} is not in the registry"
            ))
        })?;
    from_row(&row)
}

/// The generation's row, locked until `transaction` ends: whoever holds it alone may change the
/// generation's tables and position.
pub(crate) async fn lock(
    transaction: &Transaction<'_>,
    projection: &str,
    generation: u32,
) -> Result<Generation, ProjectorError> {
    let row = transaction
        .query_one(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations \
                 WHERE projection = $1 AND generation = $2 FOR UPDATE"
            ),
            &[&projection, &to_column(generation)],
        )
        .await?;
    from_row(&row)
}

/// The live generation, created (generation 1, or the next number) with its schema and tables
/// when there is none.
pub(crate) async fn ensure_live<P: Projection>(
    pool: &Pool,
    projection: &P,
) -> Result<Generation, ProjectorError> {
    let mut client = pool.get().await?;
    if let Some(live) = live(&client, projection.name()).await? {
        return Ok(live);
    }
    let transaction = client.transaction().await?;
    lock_creation(&transaction, projection.name()).await?;
    if let Some(live) = live(&transaction, projection.name()).await? {
        return Ok(live);
    }
    let generation = create(&transaction, projection, State::Live).await?;
    transaction.commit().await?;
    tracing::info!(
        projection = projection.name(),
        generation = generation.generation,
        schema = %generation.schema,
        "created the live generation"
    );
    Ok(generation)
}

/// The generation being built beside the live one: the one an interrupted rebuild left, or a new
/// one (the next number) with its schema and tables.
pub(crate) async fn ensure_building<P: Projection>(
    pool: &Pool,
    projection: &P,
) -> Result<Generation, ProjectorError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    lock_creation(&transaction, projection.name()).await?;
    let building = transaction
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations \
                 WHERE projection = $1 AND state = 'building'"
            ),
            &[&projection.name()],
        )
        .await?;
    if let Some(row) = building {
        let building = from_row(&row)?;
        if building.has_tables_of(projection) {
            return Ok(building);
        }
        // Left by an interrupted rebuild of another version: its tables are not this one's.
        // Retired, its schema and consumer go when the live generation's projector next starts.
        transaction
            .execute(
                "UPDATE projection_generations SET state = 'retired', retired_at = now(), \
                     live_since = coalesce(live_since, now()) \
                 WHERE projection = $1 AND generation = $2",
                &[&projection.name(), &to_column(building.generation)],
            )
            .await?;
        tracing::info!(
            projection = projection.name(),
            generation = building.generation,
            "retired a generation an earlier version began to rebuild"
        );
    }
    let generation = create(&transaction, projection, State::Building).await?;
    transaction.commit().await?;
    tracing::info!(
        projection = projection.name(),
        generation = generation.generation,
        schema = %generation.schema,
        "created a generation to rebuild into"
    );
    Ok(generation)
}

async fn lock_creation(
    transaction: &Transaction<'_>,
    projection: &str,
) -> Result<(), ProjectorError> {
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&CREATE_LOCK_CLASS, &projection],
        )
        .await?;
    Ok(())
}

/// Creates the next generation's schema, its tables and its row, in `transaction`.
async fn create<P: Projection>(
    transaction: &Transaction<'_>,
    projection: &P,
    state: State,
) -> Result<Generation, ProjectorError> {
    let name = projection.name();
    let last: i32 = transaction
        .query_one(
            "SELECT coalesce(max(generation), 0) FROM projection_generations WHERE projection = $1",
            &[&name],
        )
        .await?
        .try_get(0)?;
    let generation = u32::try_from(last).unwrap_or(0) + 1;
    let schema = schema_name(name, generation);
    let digest = tables_digest(projection);
    transaction
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    transaction
        .batch_execute(&projection.create_tables(&schema))
        .await
        .map_err(|error| ddl_failed(name, &format!("creating the tables of {schema}"), error))?;
    transaction
        .execute(
            "INSERT INTO projection_generations \
                 (projection, generation, schema_name, state, live_since, tables_digest) \
             VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'building' THEN NULL ELSE now() END, $5)",
            &[
                &name,
                &to_column(generation),
                &schema,
                &state.as_str(),
                &digest,
            ],
        )
        .await?;
    Ok(Generation {
        generation,
        schema,
        state,
        position: 0,
        watermark: 0,
        failure: None,
        tables_digest: Some(digest),
        indexed: false,
    })
}

/// Creates the generation's read indexes and records that they exist, in `transaction` (which
/// holds the row).
pub(crate) async fn create_indexes<P: Projection>(
    transaction: &Transaction<'_>,
    projection: &P,
    generation: &Generation,
) -> Result<(), ProjectorError> {
    let name = projection.name();
    // Sorting a large table's keys in memory rather than in temporary files.
    transaction
        .batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    transaction
        .batch_execute(&projection.create_indexes(&generation.schema))
        .await
        .map_err(|error| {
            ddl_failed(
                name,
                &format!("creating the indexes of {}", generation.schema),
                error,
            )
        })?;
    transaction
        .execute(
            "UPDATE projection_generations SET indexed = true \
             WHERE projection = $1 AND generation = $2",
            &[&name, &to_column(generation.generation)],
        )
        .await?;
    Ok(())
}

/// Records, in `transaction` (which holds the row), that everything up to `position` is applied;
/// clears a recorded failure the new position passes.
pub(crate) async fn advance(
    transaction: &Transaction<'_>,
    projection: &str,
    generation: u32,
    position: u64,
) -> Result<(), ProjectorError> {
    transaction
        .execute(
            "UPDATE projection_generations SET position = $3, watermark = greatest(watermark, $3), \
                 failed_position = CASE WHEN failed_position <= $3 THEN NULL ELSE failed_position END, \
                 failure = CASE WHEN failed_position <= $3 THEN NULL ELSE failure END \
             WHERE projection = $1 AND generation = $2",
            &[&projection, &to_column(generation), &from_position(position)],
        )
        .await?;
    Ok(())
}

/// Raises the watermark, provided the position is still the one this leader applied (no one
/// else advanced the generation meanwhile). True when it did.
pub(crate) async fn raise_watermark(
    client: &impl GenericClient,
    projection: &str,
    generation: u32,
    position: u64,
    watermark: u64,
) -> Result<bool, ProjectorError> {
    let updated = client
        .execute(
            "UPDATE projection_generations SET watermark = $4 \
             WHERE projection = $1 AND generation = $2 AND position = $3 AND watermark < $4 \
               AND state <> 'retired'",
            &[
                &projection,
                &to_column(generation),
                &from_position(position),
                &from_position(watermark),
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// Records the event `apply` refused, provided the generation is still where this leader left it
/// (at `applied`).
pub(crate) async fn record_failure(
    client: &impl GenericClient,
    projection: &str,
    generation: u32,
    applied: u64,
    failed_position: u64,
    failure: &str,
) -> Result<(), ProjectorError> {
    client
        .execute(
            "UPDATE projection_generations SET failed_position = $4, failure = $5 \
             WHERE projection = $1 AND generation = $2 AND position = $3 AND state <> 'retired'",
            &[
                &projection,
                &to_column(generation),
                &from_position(applied),
                &from_position(failed_position),
                &failure,
            ],
        )
        .await?;
    Ok(())
}

/// What came of trying to swap a rebuilt generation in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Swap {
    /// `building` serves readers now; `retired` is the schema it replaced.
    Swapped { retired: Generation },
    /// The live generation has moved past the rebuilt one meanwhile, or the rebuilt one lacks
    /// its read indexes: catch up again.
    Behind,
    /// The rebuilt generation is no longer being built (another rebuild swapped it in).
    NotBuilding(State),
}

/// In one transaction: the rebuilt generation becomes live and the live one retired, provided
/// the rebuilt one has reached at least as far (so a reader never sees the read model go back).
pub(crate) async fn swap(
    pool: &Pool,
    projection: &str,
    building: u32,
) -> Result<Swap, ProjectorError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // Lock in generation order, like every other transaction that locks two rows (none but this).
    let rows = transaction
        .query(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations \
                 WHERE projection = $1 AND (state = 'live' OR generation = $2) \
                 ORDER BY generation FOR UPDATE"
            ),
            &[&projection, &to_column(building)],
        )
        .await?;
    let generations = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let new = generations
        .iter()
        .find(|generation| generation.generation == building)
        .ok_or_else(|| {
            ProjectorError::Database(format!("generation {building} of {projection} vanished"))
        })?;
    if new.state != State::Building {
        return Ok(Swap::NotBuilding(new.state));
    }
    let Some(old) = generations
        .iter()
        .find(|generation| generation.state == State::Live)
    else {
        return Err(ProjectorError::NoLiveGeneration(projection.to_owned()));
    };
    if new.reach() < old.reach() || !new.indexed {
        return Ok(Swap::Behind);
    }
    transaction
        .execute(
            "UPDATE projection_generations SET state = 'retired', retired_at = now() \
             WHERE projection = $1 AND generation = $2",
            &[&projection, &to_column(old.generation)],
        )
        .await?;
    transaction
        .execute(
            "UPDATE projection_generations SET state = 'live', live_since = now() \
             WHERE projection = $1 AND generation = $2",
            &[&projection, &to_column(building)],
        )
        .await?;
    transaction.commit().await?;
    Ok(Swap::Swapped {
        retired: old.clone(),
    })
}

/// Generations retired at least `grace` ago whose schema has not been dropped yet.
pub(crate) async fn retired_with_schema(
    client: &impl GenericClient,
    projection: &str,
    grace: Duration,
) -> Result<Vec<Generation>, ProjectorError> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM projection_generations g \
                 WHERE projection = $1 AND state = 'retired' \
                   AND retired_at <= now() - make_interval(secs => $2) \
                   AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = g.schema_name) \
                 ORDER BY generation"
            ),
            &[&projection, &grace.as_secs_f64()],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// Drops a retired generation's schema and everything in it.
pub(crate) async fn drop_schema(
    client: &impl GenericClient,
    schema: &str,
) -> Result<(), ProjectorError> {
    client
        .execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), &[])
        .await?;
    Ok(())
}

/// A projection's DDL that the server refused is the projection's fault and stops it; the
/// server going away meanwhile is only waited out.
fn ddl_failed(
    projection: &'static str,
    what: &str,
    error: tokio_postgres::Error,
) -> ProjectorError {
    if crate::error::postgres_transient(&error) {
        return error.into();
    }
    ProjectorError::Projection {
        projection,
        message: format!("{what} failed: {}", crate::error::describe_postgres(&error)),
    }
}

fn to_column(generation: u32) -> i32 {
    i32::try_from(generation).unwrap_or(i32::MAX)
}
