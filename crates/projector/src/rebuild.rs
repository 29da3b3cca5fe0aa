//! Rebuilding a projection beside the live one, from the stream's first event, then swapping:
//! the new generation (state building, its own schema and consumer) is fed until nothing is
//! pending and it has reached at least as far as the live one; then one transaction makes it
//! live and the old one retired. The running projector notices at its next batch or idle check
//! and moves to the new generation; the old generation's consumer and schema are removed once
//! its projector has let go of it. An interrupted rebuild resumes where it stopped when run again.

use std::time::Duration;

use async_nats::jetstream;
use deadpool_postgres::Pool;
use eventlog::NatsSettings;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::{Backoff, sleep_or_stop};
use crate::error::{ProjectorError, describe};
use crate::leader::Leadership;
use crate::projection::{Projection, validate_name};
use crate::registry::{self, Generation, State, Swap};
use crate::retire::{RETIRE_GRACE, drop_generation};
use crate::session::{Ended, Resources, lead};
use crate::status::ProjectorStatus;

/// How long to wait for the old generation's projector to let go before leaving the clean-up to
/// that projector (it drops retired generations when it starts on the live one).
const RETIRE_WAIT: Duration = Duration::from_secs(30);

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: &'static str,
    /// The generation that served before, now retired.
    pub retired_generation: u32,
    /// The rebuilt generation, now live.
    pub live_generation: u32,
    /// Where the rebuilt generation stood at the swap.
    pub position: u64,
    pub watermark: u64,
    /// The retired generation's schema and consumer are gone (otherwise its projector removes
    /// them when it moves to the new generation).
    pub retired_schema_dropped: bool,
}

/// Rebuilds `projection` into a new generation beside the live one and swaps it in; returns when
/// the swap is done. Stopped by `shutdown`, it returns [`ProjectorError::Stopped`] and resumes
/// the same generation when run again.
pub async fn rebuild<P: Projection>(
    pool: Pool,
    jetstream: jetstream::Context,
    nats: &NatsSettings,
    projection: P,
    shutdown: CancellationToken,
) -> Result<RebuildReport, ProjectorError> {
    let name = projection.name();
    validate_name(name)?;
    nats.validate().map_err(|error| ProjectorError::Settings {
        setting: "nats",
        message: error.to_string(),
    })?;
    let resources = Resources {
        pool,
        jetstream,
        nats: nats.clone(),
        status: watch::Sender::new(ProjectorStatus::new(name)),
        projection,
    };
    let span = tracing::info_span!("rebuild", projection = name);
    rebuild_and_swap(&resources, &shutdown)
        .instrument(span)
        .await
}

pub(crate) async fn rebuild_and_swap<P: Projection>(
    resources: &Resources<P>,
    shutdown: &CancellationToken,
) -> Result<RebuildReport, ProjectorError> {
    let name = resources.projection.name();
    let mut backoff = Backoff::new();
    let building = loop {
        let created = async {
            registry::ensure_live(&resources.pool, &resources.projection).await?;
            registry::ensure_building(&resources.pool, &resources.projection).await
        }
        .await;
        match created {
            Ok(building) => break building,
            Err(error) if error.is_transient() => {
                tracing::warn!(error = %error, "cannot start the rebuild; retrying");
                if sleep_or_stop(shutdown, backoff.next()).await {
                    return Err(ProjectorError::Stopped);
                }
            }
            Err(error) => return Err(error),
        }
    };
    tracing::info!(generation = building.generation, schema = %building.schema, "rebuilding");
    let retired = loop {
        match catch_up_and_swap(resources, &building, shutdown, &mut backoff).await {
            Ok(Some(retired)) => break retired,
            Ok(None) => {}
            Err(error) if error.is_transient() => {
                tracing::warn!(error = %error, "the rebuild cannot make progress; retrying");
                if sleep_or_stop(shutdown, backoff.next()).await {
                    return Err(ProjectorError::Stopped);
                }
            }
            Err(error) => return Err(error),
        }
    };
    let swapped = {
        let client = resources.pool.get().await?;
        registry::get(&client, name, building.generation).await?
    };
    tracing::info!(
        live = swapped.generation,
        retired = retired.generation,
        position = swapped.position,
        "swapped the rebuilt generation in"
    );
    let retired_schema_dropped = drop_retired(resources, &retired, shutdown).await;
    Ok(RebuildReport {
        projection: name,
        retired_generation: retired.generation,
        live_generation: swapped.generation,
        position: swapped.position,
        watermark: swapped.watermark,
        retired_schema_dropped,
    })
}

/// Feeds the building generation until it has caught up, then tries the swap: the retired
/// generation when swapped, `None` when the live one moved ahead meanwhile.
async fn catch_up_and_swap<P: Projection>(
    resources: &Resources<P>,
    building: &Generation,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<Option<Generation>, ProjectorError> {
    let name = resources.projection.name();
    match lead(
        resources,
        building,
        State::Building,
        true,
        shutdown,
        backoff,
    )
    .await?
    {
        Ended::CaughtUp => {}
        Ended::Stopped => return Err(ProjectorError::Stopped),
        Ended::Superseded => {
            return Err(ProjectorError::Projection {
                projection: name,
                message: format!(
                    "generation {} is no longer being built (another rebuild swapped it in)",
                    building.generation
                ),
            });
        }
        Ended::Failed { position, message } => {
            return Err(ProjectorError::Apply {
                projection: name,
                position,
                message,
            });
        }
    }
    match registry::swap(&resources.pool, name, building.generation).await? {
        Swap::Swapped { retired } => Ok(Some(retired)),
        Swap::Behind => Ok(None),
        Swap::NotBuilding(state) => Err(ProjectorError::Projection {
            projection: name,
            message: format!(
                "generation {} is {state:?}, no longer being built (another rebuild swapped it in)",
                building.generation
            ),
        }),
    }
}

/// Once the retired generation's projector has let go of it, deletes its consumer and drops its
/// schema. False when that did not happen (the projector does it later).
async fn drop_retired<P: Projection>(
    resources: &Resources<P>,
    retired: &Generation,
    shutdown: &CancellationToken,
) -> bool {
    if sleep_or_stop(shutdown, RETIRE_GRACE).await {
        return false;
    }
    let result = async {
        let stop = async {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(RETIRE_WAIT) => {}
            }
        };
        let Some(leadership) = Leadership::acquire(&resources.pool, &retired.schema, stop).await?
        else {
            return Ok(false);
        };
        let stream = resources
            .jetstream
            .get_stream(&resources.nats.stream)
            .await
            .map_err(|error| ProjectorError::nats("opening the stream", describe(&error)))?;
        let client = resources.pool.get().await?;
        drop_generation(resources, &client, &stream, retired).await?;
        drop(leadership);
        Ok::<bool, ProjectorError>(true)
    }
    .await;
    match result {
        Ok(dropped) => {
            if !dropped {
                tracing::warn!(
                    generation = retired.generation,
                    "the retired generation is still in use; its projector drops it later"
                );
            }
            dropped
        }
        Err(error) => {
            tracing::warn!(error = %error, generation = retired.generation, "could not drop the retired generation; its projector drops it later");
            false
        }
    }
}
