//! The projector service: keeps one projection's live generation fed from JetStream, for as long
//! as it runs. It creates generation 1 on first start, follows a rebuild's swap to the new live
//! generation, waits out NATS or PostgreSQL being away, and stops at an event the projection
//! refuses (recording it) without stopping the process.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use deadpool_postgres::Pool;
use eventlog::NatsSettings;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::{Backoff, sleep_or_stop};
use crate::error::ProjectorError;
use crate::projection::{Projection, validate_name};
use crate::rebuild::rebuild_and_swap;
use crate::registry::{self, State};
use crate::session::{Ended, Resources, lead};
use crate::status::ProjectorStatus;

/// How often a projector stopped at a refused event looks for a newer live generation (a rebuild
/// with a fixed projection).
const FAILED_RECHECK: Duration = Duration::from_secs(5);
/// A failure after a session that ran this long is a new incident, logged again even if it
/// reads like the last one.
const NEW_INCIDENT_AFTER: Duration = Duration::from_secs(30);

/// Feeds one projection's live generation. Run one per process; several processes may run one
/// each (one leads, the others stand by).
pub struct Projector<P: Projection> {
    resources: Resources<P>,
}

impl<P: Projection> Projector<P> {
    /// `pool` connects as the database owner ([`connect`](crate::connect)); `jetstream` reaches
    /// the stream the relay writes (`nats.stream`, subjects under `nats.subject_prefix`).
    pub fn new(
        pool: Pool,
        jetstream: jetstream::Context,
        nats: &NatsSettings,
        projection: P,
    ) -> Projector<P> {
        let status = watch::Sender::new(ProjectorStatus::new(projection.name()));
        Projector {
            resources: Resources {
                pool,
                jetstream,
                nats: nats.clone(),
                projection,
                status,
            },
        }
    }

    /// A cheap handle on the projector's progress; it keeps the last status after it stops.
    pub fn status(&self) -> watch::Receiver<ProjectorStatus> {
        self.resources.status.subscribe()
    }

    /// Runs until `shutdown` is cancelled (then returns `Ok`), or until an error that needs
    /// someone to act (a setting, a consumer configured otherwise, DDL that fails). NATS or
    /// PostgreSQL being away is waited out. An event the projection refuses stops the projector
    /// there (recorded in the registry and the status), and it waits, without returning, until
    /// shut down or until a rebuild makes another generation live.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let name = self.resources.projection.name();
        validate_name(name)?;
        self.resources
            .nats
            .validate()
            .map_err(|error| ProjectorError::Settings {
                setting: "nats",
                message: error.to_string(),
            })?;
        let span = tracing::info_span!("projector", projection = name);
        self.feed_live(&shutdown).instrument(span).await
    }

    async fn feed_live(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let resources = &self.resources;
        let mut backoff = Backoff::new();
        let mut last_error = None;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let started = Instant::now();
            let outcome = async {
                let live = registry::ensure_live(&resources.pool, &resources.projection).await?;
                if !live.has_tables_of(&resources.projection) {
                    return Ok((live.generation, self.rebuild_stale(shutdown).await?));
                }
                let ended =
                    lead(resources, &live, State::Live, false, shutdown, &mut backoff).await?;
                Ok::<_, ProjectorError>((live.generation, ended))
            }
            .await;
            match outcome {
                Ok((_, Ended::Stopped)) => return Ok(()),
                Ok((generation, Ended::Superseded | Ended::CaughtUp)) => {
                    tracing::info!(
                        generation,
                        "the generation was retired; moving to the live one"
                    );
                }
                Ok((generation, Ended::Failed { .. })) => {
                    if !self.await_new_generation(generation, shutdown).await {
                        return Ok(());
                    }
                }
                Err(error) if error.is_transient() => {
                    if started.elapsed() >= NEW_INCIDENT_AFTER {
                        last_error = None;
                    }
                    report(&error, &mut last_error);
                    if sleep_or_stop(shutdown, backoff.next()).await {
                        return Ok(());
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, "the projector stops");
                    return Err(error);
                }
            }
        }
    }

    /// The live generation's tables were made by another version (this one's statements may
    /// name tables or columns they lack): builds a generation of this version's tables from the
    /// first event and swaps it in before feeding anything. Readers keep the old one meanwhile.
    async fn rebuild_stale(&self, shutdown: &CancellationToken) -> Result<Ended, ProjectorError> {
        tracing::info!("the live generation's tables are another version's; rebuilding them");
        match rebuild_and_swap(&self.resources, shutdown).await {
            Ok(_) => Ok(Ended::Superseded),
            Err(ProjectorError::Stopped) => Ok(Ended::Stopped),
            Err(error) if error.is_transient() => Err(error),
            Err(error) => {
                // Another projector of this read model may have swapped its rebuild in first.
                let client = self.resources.pool.get().await?;
                match registry::live(&client, self.resources.projection.name()).await? {
                    Some(live) if live.has_tables_of(&self.resources.projection) => {
                        Ok(Ended::Superseded)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// After a refused event: waits until another generation is live (true) or shutdown (false).
    async fn await_new_generation(&self, failed: u32, shutdown: &CancellationToken) -> bool {
        loop {
            if sleep_or_stop(shutdown, FAILED_RECHECK).await {
                return false;
            }
            let live = async {
                let client = self.resources.pool.get().await?;
                registry::live(&client, self.resources.projection.name()).await
            }
            .await;
            match live {
                Ok(Some(live)) if live.generation != failed => return true,
                Ok(_) => {}
                Err(error) => tracing::debug!(error = %error, "cannot read the registry"),
            }
        }
    }
}

/// Logs why the projector is not progressing when the reason is new, not at every retry.
fn report(error: &ProjectorError, last_error: &mut Option<String>) {
    let message = error.to_string();
    if last_error.as_deref() == Some(message.as_str()) {
        tracing::debug!(error = %message, "still retrying");
    } else {
        tracing::warn!(error = %message, "the projector cannot make progress; retrying");
        *last_error = Some(message);
    }
}
