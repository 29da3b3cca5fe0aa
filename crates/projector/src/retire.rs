//! Removing retired generations: once no projector leads a retired generation any more (its lock
//! is free) and a short grace has passed since the swap, its consumer is deleted and its schema
//! dropped. The rebuild does it right after its swap; a projector does it when it starts on the
//! live generation, for whatever a rebuild could not.

use std::time::Duration;

use async_nats::jetstream::stream::Stream;

use crate::consumer::{self, consumer_name};
use crate::error::ProjectorError;
use crate::leader::Leadership;
use crate::projection::Projection;
use crate::registry::{self, Generation};
use crate::session::Resources;

/// How long after a swap the retired generation's schema is kept, so reads that looked it up just
/// before the swap can finish.
pub(crate) const RETIRE_GRACE: Duration = Duration::from_secs(1);

/// Drops the schema and consumer of retired generations no one leads any more (a rebuild that
/// could not, or a process that stopped before it did). Problems are logged, never fatal.
pub(crate) async fn clean_up_retired<P: Projection>(
    resources: &Resources<P>,
    leadership: &Leadership,
    stream: &Stream,
) {
    let name = resources.projection.name();
    let result = async {
        let client = resources.pool.get().await?;
        for retired in registry::retired_with_schema(&client, name, RETIRE_GRACE).await? {
            if !leadership.try_lock(&retired.schema).await? {
                continue;
            }
            let dropped = drop_generation(resources, &client, stream, &retired).await;
            leadership.unlock(&retired.schema).await?;
            dropped?;
        }
        Ok::<(), ProjectorError>(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(error = %error, "could not drop a retired generation; trying again later");
    }
}

/// Deletes a retired generation's consumer and drops its schema (its lock must be held).
pub(crate) async fn drop_generation<P: Projection>(
    resources: &Resources<P>,
    client: &deadpool_postgres::Client,
    stream: &Stream,
    retired: &Generation,
) -> Result<(), ProjectorError> {
    let name = consumer_name(
        &resources.nats.stream,
        resources.projection.name(),
        retired.generation,
    );
    consumer::delete(stream, &name).await?;
    registry::drop_schema(client, &retired.schema).await?;
    tracing::info!(generation = retired.generation, schema = %retired.schema, "dropped the retired generation");
    Ok(())
}
