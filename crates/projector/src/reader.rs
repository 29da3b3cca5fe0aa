//! What the read side (the HTTP API, in another process) asks of the registry: which schema
//! serves a projection, and waiting until it has applied at least a position ("read your
//! writes"). The position compared is the larger of the live generation's position and
//! watermark, so a wait for an event outside the projection's feed returns too.
//!
//! A wait polls the registry (one primary-key read) with short sleeps, from 1 ms doubling to
//! 10 ms: it returns within milliseconds of the commit without a connection of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use crate::error::{ProjectorError, WaitError};
use crate::registry::to_position;
use crate::retire::RETIRE_GRACE;

const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(10);

/// A projection's live generation as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveProjection {
    pub name: String,
    pub generation: u32,
    pub position: u64,
    pub watermark: u64,
    /// The event the projection refused, and why: it stopped there.
    pub failure: Option<(u64, String)>,
}

impl LiveProjection {
    /// How far readers may consider the read model.
    pub fn reach(&self) -> u64 {
        self.position.max(self.watermark)
    }
}

/// How long a reader reuses the name of a live schema before asking the registry again. Well
/// under the time a retired generation is kept after a swap ([`RETIRE_GRACE`]), so a read that
/// named the old one still finds it.
const SERVING_TTL: Duration = Duration::from_millis(200);
const _: () = assert!(SERVING_TTL.as_millis() * 4 <= RETIRE_GRACE.as_millis());

/// Reads the registry through an owner pool ([`connect`](crate::connect)).
#[derive(Clone)]
pub struct ProjectionReader {
    pool: Pool,
    /// The live schema of each projection, and when the registry said so.
    serving: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl std::fmt::Debug for ProjectionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionReader").finish_non_exhaustive()
    }
}

impl ProjectionReader {
    pub fn new(pool: Pool) -> ProjectionReader {
        ProjectionReader {
            pool,
            serving: Arc::default(),
        }
    }

    /// The schema of the projection's live generation, as the registry said within the last
    /// [`SERVING_TTL`]: what a query of the read model needs, without a round trip each time.
    pub async fn serving_schema(&self, name: &str) -> Result<String, ProjectorError> {
        if let Some((schema, asked)) = self.cached(name)
            && asked.elapsed() < SERVING_TTL
        {
            return Ok(schema);
        }
        let (schema, _) = self.live_schema(name).await?;
        self.remember(name, &schema);
        Ok(schema)
    }

    fn remember(&self, name: &str, schema: &str) {
        if let Ok(mut serving) = self.serving.lock() {
            serving.insert(name.to_owned(), (schema.to_owned(), Instant::now()));
        }
    }

    fn cached(&self, name: &str) -> Option<(String, Instant)> {
        self.serving.lock().ok()?.get(name).cloned()
    }

    /// The schema of the projection's live generation, and the position it has reached (the
    /// larger of position and watermark).
    pub async fn live_schema(&self, name: &str) -> Result<(String, u64), ProjectorError> {
        self.reach(name)
            .await?
            .ok_or_else(|| ProjectorError::NoLiveGeneration(name.to_owned()))
    }

    /// Returns the schema of the live generation once it has reached `min_position` (`None`
    /// when there is none yet and 0 was asked for), or [`WaitError::TimedOut`] with how far it
    /// got after `timeout`. A projection without a live generation yet counts as at position 0.
    ///
    /// Query the schema returned, not [`serving_schema`](Self::serving_schema): right after a
    /// swap, a name cached moments before is the retired generation, which stopped short.
    pub async fn wait_for(
        &self,
        name: &str,
        min_position: u64,
        timeout: Duration,
    ) -> Result<Option<String>, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut delay = POLL_MIN;
        loop {
            let live = self.reach(name).await?;
            let reached = live.as_ref().map_or(0, |(_, reached)| *reached);
            if reached >= min_position {
                let schema = live.map(|(schema, _)| schema);
                if let Some(schema) = &schema {
                    self.remember(name, schema);
                }
                return Ok(schema);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::TimedOut { reached });
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(POLL_MAX);
        }
    }

    /// Every projection's live generation, for readiness and metrics: true whichever process
    /// runs the projectors.
    pub async fn live(&self) -> Result<Vec<LiveProjection>, ProjectorError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT projection, generation, position, watermark, failed_position, failure \
                 FROM projection_generations WHERE state = 'live' ORDER BY projection",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let failed: Option<i64> = row.try_get(4)?;
                let failure: Option<String> = row.try_get(5)?;
                Ok(LiveProjection {
                    name: row.try_get(0)?,
                    generation: u32::try_from(row.try_get::<_, i32>(1)?).unwrap_or(0),
                    position: to_position(row.try_get(2)?),
                    watermark: to_position(row.try_get(3)?),
                    failure: failed.map(to_position).zip(failure),
                })
            })
            .collect()
    }

    async fn reach(&self, name: &str) -> Result<Option<(String, u64)>, ProjectorError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "SELECT schema_name, greatest(position, watermark) FROM projection_generations \
                 WHERE projection = $1 AND state = 'live'",
            )
            .await?;
        let row = client.query_opt(&statement, &[&name]).await?;
        row.map(|row| Ok((row.try_get(0)?, to_position(row.try_get(1)?))))
            .transpose()
    }
}
