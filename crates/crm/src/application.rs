//! Building and running the roles. Each role gets its part of the settings tree; they share
//! nothing but the database and NATS, so any of them can run in a process of its own.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// Shown once, on the first start of an empty store: the token only exists in this output.
fn announce_admin(token: &str, listen: std::net::SocketAddr) {
    println!("created the first admin; its token (shown once, keep it):");
    println!("  {token}");
    println!("try:");
    println!("  curl -H 'Authorization: Bearer {token}' http://{listen}/v1/pipelines");
}

/// A part of the system that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API.
    Api,
    /// Carries committed events from the store to JetStream (one leader at a time).
    Relay,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Api, Role::Relay];
}

/// The roles, built and ready to run.
pub struct Application {
    api: Option<(TcpListener, axum::Router)>,
    relay: Option<eventlog::Relay>,
}

impl Application {
    /// Connects to the store and NATS and binds the API's port. Fails with an error that names the
    /// setting when a server cannot be reached.
    pub async fn build(settings: &Settings, roles: &[Role]) -> anyhow::Result<Application> {
        settings.nats.validate()?;
        settings.relay.validate()?;
        let pool = eventstore::connect(&settings.database).await?;
        let nats = eventlog::connect(&settings.nats).await?;

        let api = if roles.contains(&Role::Api) {
            let reader = eventstore::Reader::new(pool.clone());
            let operations = api::OperationsState {
                reader: reader.clone(),
                stream: eventlog::StreamProbe::new(nats.clone(), &settings.nats),
            };
            let appender = eventstore::Appender::start(pool.clone(), settings.database.batch_max);
            let state = api::ApiState::new(&settings.api, appender, reader);
            if let Some(token) = api::bootstrap_admin(&state, settings.admin.token.clone())
                .await
                .context("creating the first admin")?
            {
                announce_admin(&token, settings.api.listen);
            }
            let listener = TcpListener::bind(settings.api.listen)
                .await
                .with_context(|| {
                    format!(
                        "setting api_listen: cannot listen on {}",
                        settings.api.listen
                    )
                })?;
            Some((listener, api::router(operations, state)))
        } else {
            None
        };
        let relay = if roles.contains(&Role::Relay) {
            let signer = eventstore::checkpoint::Signer::load_or_create(&settings.data.dir)?;
            signer.register(&pool).await?;
            Some(eventlog::Relay::new(
                settings.database.clone(),
                pool.clone(),
                nats.clone(),
                settings.nats.clone(),
                settings.relay.clone(),
                signer,
            ))
        } else {
            None
        };
        Ok(Application { api, relay })
    }

    /// The port the API listens on, when it runs (useful when the settings asked for port 0).
    pub fn api_port(&self) -> Option<u16> {
        self.api
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
            .map(|address| address.port())
    }

    /// Runs every built role until `stop` completes or one role fails.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let token = CancellationToken::new();
        let mut roles = tokio::task::JoinSet::new();
        if let Some((listener, router)) = self.api {
            let token = token.clone();
            tracing::info!(address = ?listener.local_addr().ok(), "api listening");
            roles.spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await
                    .context("the api stopped")
            });
        }
        if let Some(relay) = self.relay {
            let token = token.clone();
            roles.spawn(async move { relay.run(token).await.context("the relay stopped") });
        }

        let outcome = tokio::select! {
            () = stop => Ok(()),
            Some(finished) = roles.join_next() => match finished {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(panic) => Err(anyhow::anyhow!("a role panicked: {panic}")),
            },
        };
        token.cancel();
        while let Some(finished) = roles.join_next().await {
            if let Ok(Err(error)) = finished {
                tracing::warn!(error = %format!("{error:#}"), "role ended with an error during shutdown");
            }
        }
        outcome
    }
}
