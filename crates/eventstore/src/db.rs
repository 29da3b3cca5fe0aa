//! Connecting to PostgreSQL: the application's pool runs as the restricted role `crm_app`
//! (INSERT and SELECT on the event tables, nothing more), migrations run as the owner.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

use crate::error::{StoreError, describe_pg_error};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The role the migrations create and the application's connections assume.
pub const APP_ROLE: &str = "crm_app";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `postgres://user@host:port/database`; the user owns the tables (runs migrations).
    pub url: String,
    /// Connections in the application's pool.
    pub pool_size: usize,
    /// The most append requests one group-commit transaction takes.
    pub batch_max: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: "postgres://postgres@127.0.0.1:5432/crm".to_owned(),
            pool_size: 16,
            batch_max: 512,
        }
    }
}

impl StoreSettings {
    pub(crate) fn pg_config(&self) -> Result<tokio_postgres::Config, StoreError> {
        self.url
            .parse::<tokio_postgres::Config>()
            .map_err(|error| StoreError::Settings {
                setting: "database_url",
                message: format!("{:?} is not a PostgreSQL URL: {error}", self.url),
            })
    }

    /// The same server and database, connecting as the restricted application role. Its
    /// transactions are short (a batch's judgement under the head lock is the longest), so one
    /// left idle for a minute belongs to a process that stopped mid-way, and the server ends it
    /// rather than let it hold the log head.
    pub(crate) fn app_config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut config = self.pg_config()?;
        add_options(
            &mut config,
            &format!("-c role={APP_ROLE} -c idle_in_transaction_session_timeout=60s"),
        );
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("crm");
        detect_dead_peers(&mut config);
        Ok(config)
    }
}

fn add_options(config: &mut tokio_postgres::Config, options: &str) {
    let options = match config.get_options() {
        Some(existing) => format!("{existing} {options}"),
        None => options.to_owned(),
    };
    config.options(&options);
}

/// Makes a connection whose peer went silent (a host lost, a network cut) fail within about
/// half a minute on both sides: the client's request errors instead of hanging, and the server
/// ends the session, releasing what it held (the log head's row lock, a leader's advisory lock,
/// which a standby then takes). Without this, both wait for the kernel's defaults: hours.
pub fn detect_dead_peers(config: &mut tokio_postgres::Config) {
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(30));
    add_options(
        config,
        "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 \
         -c tcp_user_timeout=30000",
    );
}

/// A pool of connections running as [`APP_ROLE`]. Checks once that the database answers, so a
/// wrong URL is reported at start, naming the setting.
pub async fn connect(settings: &StoreSettings) -> Result<Pool, StoreError> {
    let config = settings.app_config()?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size.max(2))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|error| StoreError::Settings {
            setting: "database_pool_size",
            message: error.to_string(),
        })?;
    let client = pool.get().await.map_err(|error| StoreError::Settings {
        setting: "database_url",
        message: format!(
            "cannot connect to {}: {}",
            redact(&settings.url),
            pool_error(error)
        ),
    })?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|error| StoreError::Settings {
            setting: "database_url",
            message: format!(
                "connected to {} but cannot query as {APP_ROLE} (was `crm migrate` run?): {}",
                redact(&settings.url),
                describe_pg_error(&error)
            ),
        })?;
    Ok(pool)
}

/// Opens one connection as the owner, outside the pool (migrations, the relay's leader lock).
pub async fn connect_owner(
    settings: &StoreSettings,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    StoreError,
> {
    let mut config = settings.pg_config()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    detect_dead_peers(&mut config);
    config
        .connect(NoTls)
        .await
        .map_err(|error| StoreError::Settings {
            setting: "database_url",
            message: format!(
                "cannot connect to {}: {}",
                redact(&settings.url),
                describe_pg_error(&error)
            ),
        })
}

/// Applies the store's versioned migrations as the owner; safe to run at every start and from
/// several processes at once (they serialise on an advisory lock).
pub async fn migrate(settings: &StoreSettings) -> Result<(), StoreError> {
    let (mut client, connection) = connect_owner(settings).await?;
    let driver = tokio::spawn(connection);
    let result = async {
        client
            .simple_query("SELECT pg_advisory_lock(hashtext('crm.eventstore.migrate'))")
            .await?;
        let outcome = embedded::migrations::runner()
            .set_migration_table_name("eventstore_migrations")
            .run_async(&mut client)
            .await
            .map_err(|error| StoreError::Migration(error.to_string()));
        client
            .simple_query("SELECT pg_advisory_unlock(hashtext('crm.eventstore.migrate'))")
            .await?;
        outcome.map(|_| ())
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

fn pool_error(error: deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => describe_pg_error(&error),
        other => other.to_string(),
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
