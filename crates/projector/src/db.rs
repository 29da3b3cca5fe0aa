//! Connecting as the database owner and migrating the registry. Projectors create and drop
//! schemas, which the application's restricted role (`crm_app`, used by the appender) may not,
//! so their pool connects with the store's URL as it is, without `-c role=crm_app`.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use eventstore::{StoreError, StoreSettings, redact};
use tokio_postgres::NoTls;

use crate::error::{ProjectorError, describe_postgres};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The table refinery records the registry's migrations in (the store's is
/// `eventstore_migrations`).
pub const MIGRATION_TABLE: &str = "projector_migrations";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of owner connections for projectors, rebuilds and readers of the read models. Checks
/// once that the database answers, so a wrong URL is reported at start, naming the setting.
pub async fn connect(settings: &StoreSettings) -> Result<Pool, ProjectorError> {
    let mut config = settings
        .url
        .parse::<tokio_postgres::Config>()
        .map_err(|error| ProjectorError::Settings {
            setting: "database_url",
            message: format!(
                "{:?} is not a PostgreSQL URL: {error}",
                redact(&settings.url)
            ),
        })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("crm projector");
    eventstore::detect_dead_peers(&mut config);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size.max(4))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|error| ProjectorError::Settings {
            setting: "database_pool_size",
            message: error.to_string(),
        })?;
    let unreachable = |message: String| ProjectorError::Settings {
        setting: "database_url",
        message: format!("cannot connect to {}: {message}", redact(&settings.url)),
    };
    let client = pool.get().await.map_err(|error| match error {
        deadpool_postgres::PoolError::Backend(error) => unreachable(describe_postgres(&error)),
        other => unreachable(other.to_string()),
    })?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|error| unreachable(describe_postgres(&error)))?;
    Ok(pool)
}

/// Applies the registry's versioned migrations as the owner; safe at every start and from
/// several processes at once (they serialise on an advisory lock).
pub async fn migrate(settings: &StoreSettings) -> Result<(), ProjectorError> {
    let (mut client, connection) =
        eventstore::connect_owner(settings)
            .await
            .map_err(|error| match error {
                StoreError::Settings { setting, message } => {
                    ProjectorError::Settings { setting, message }
                }
                other => ProjectorError::Unavailable(other.to_string()),
            })?;
    let driver = tokio::spawn(connection);
    let result = async {
        client
            .simple_query("SELECT pg_advisory_lock(hashtext('crm.projector.migrate'))")
            .await?;
        let outcome = embedded::migrations::runner()
            .set_migration_table_name(MIGRATION_TABLE)
            .run_async(&mut client)
            .await
            .map_err(|error| ProjectorError::Migration(error.to_string()));
        client
            .simple_query("SELECT pg_advisory_unlock(hashtext('crm.projector.migrate'))")
            .await?;
        outcome.map(|_| ())
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}
