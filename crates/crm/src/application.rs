//! Building and running the roles. Each role gets its part of the settings tree; they share
//! nothing but the database and NATS, so any of them can run in a process of its own.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// A read model, each built by a projector of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProjectionName {
    /// The current state of every record, for reads by id and the filtered lists.
    Records,
    /// Every read and change of every record, for the audit routes.
    Audit,
    /// Open deals by stage, conversion, forecast, leaderboards and lead sources, for the reports.
    Pipeline,
    /// The facts behind each customer's value, engagement, touch cost and churn risk.
    Scoring,
    /// Every touchpoint and change of each contact and company, for the timelines.
    Timeline,
}

impl ProjectionName {
    pub const ALL: [ProjectionName; 5] = [
        ProjectionName::Records,
        ProjectionName::Audit,
        ProjectionName::Pipeline,
        ProjectionName::Scoring,
        ProjectionName::Timeline,
    ];
}

/// A part of the system that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API.
    Api,
    /// Carries committed events from the store to JetStream (one leader at a time).
    Relay,
    /// Builds one read model from JetStream (one leader per read model at a time).
    Projector(ProjectionName),
    /// POSTs the log's domain events to the configured webhooks (one leader per webhook).
    Webhooks,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Api,
        Role::Relay,
        Role::Webhooks,
        Role::Projector(ProjectionName::Records),
        Role::Projector(ProjectionName::Audit),
        Role::Projector(ProjectionName::Pipeline),
        Role::Projector(ProjectionName::Scoring),
        Role::Projector(ProjectionName::Timeline),
    ];
}

/// A projector of `projection`, ready to run as a role.
fn start_projector<P: projector::Projection>(
    read_models: deadpool_postgres::Pool,
    jetstream: async_nats::jetstream::Context,
    settings: &Settings,
    projection: P,
) -> StartRole {
    let name = projection.name();
    let projector = projector::Projector::new(read_models, jetstream, &settings.nats, projection);
    Box::new(move |token| {
        Box::pin(async move {
            projector
                .run(token)
                .await
                .with_context(|| format!("the {name} projector stopped"))
        })
    })
}

type RoleTask = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type StartRole = Box<dyn FnOnce(CancellationToken) -> RoleTask + Send>;

/// The roles, built and ready to run.
pub struct Application {
    api: Option<(TcpListener, axum::Router)>,
    /// What one client may hold of the API's server.
    limits: api::ServerLimits,
    roles: Vec<StartRole>,
    /// Cancelled when the application stops: every role, and every open event stream, ends.
    stopping: CancellationToken,
}

/// Shown once, on the first start of an empty store: the token only exists in this output.
pub fn announce_admin(token: &str, base_url: &str) {
    println!("created the first admin; its token (shown once, keep it):");
    println!("  {token}");
    println!("try:");
    println!("  curl -H 'Authorization: Bearer {token}' {base_url}/v1/companies");
}

/// The API's state over the store's pool (appends, aggregates) and the read models' pool.
fn api_state(
    settings: &Settings,
    pool: &deadpool_postgres::Pool,
    read_models: &deadpool_postgres::Pool,
) -> anyhow::Result<api::ApiState> {
    let policy = policy::Policy::default()
        .with_overrides(&settings.access)
        .context("setting access")?;
    let mut state = api::ApiState::new(
        &settings.api,
        eventstore::Appender::start(pool.clone(), settings.database.batch_max),
        eventstore::Reader::new(pool.clone()),
        read_models.clone(),
        projector::ProjectionReader::new(read_models.clone()),
        policy,
    );
    state.trusted_key = crate::installation_key(&settings.data.dir)?;
    state.scores = scoring::ScoreQueries::new(read_models.clone(), settings.scoring.clone());
    Ok(state)
}

impl Application {
    /// Connects to the store and NATS and binds the API's port. Fails with an error that names the
    /// setting when a server cannot be reached.
    pub async fn build(settings: &Settings, roles: &[Role]) -> anyhow::Result<Application> {
        settings.nats.validate()?;
        settings.relay.validate()?;
        let limits = settings.api.limits().map_err(anyhow::Error::msg)?;
        let pool = eventstore::connect(&settings.database).await?;
        let read_models = projector::connect(&settings.database).await?;
        // The API alone commits commands without NATS: it starts while NATS is down (its
        // readiness says so). Every other role needs it, and a wrong URL is better told at once.
        let nats = if roles == [Role::Api] {
            eventlog::connect_or_later(&settings.nats).await?
        } else {
            eventlog::connect(&settings.nats).await?
        };
        let mut started: Vec<StartRole> = Vec::new();
        let stopping = CancellationToken::new();

        // The roles of one process append through one appender.
        let mut appender = None;
        let api = if roles.contains(&Role::Api) {
            let mut state = api_state(settings, &pool, &read_models)?;
            appender = Some(state.appender.clone());
            state.follower = Some(std::sync::Arc::new(eventlog::Follower::new(
                nats.clone(),
                &settings.nats,
                stopping.clone(),
            )));
            let operations = api::OperationsState {
                reader: state.reader.clone(),
                stream: eventlog::StreamProbe::new(nats.clone(), &settings.nats),
                projections: state.projections.clone(),
                read_models: read_models.clone(),
            };
            if let Some(token) = api::bootstrap_admin(&state, settings.admin.token.clone())
                .await
                .context("creating the first admin")?
            {
                announce_admin(&token, &format!("http://{}", settings.api.listen));
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
        if roles.contains(&Role::Relay) {
            let signer =
                eventstore::checkpoint::Signer::for_store(&settings.data.dir, &pool).await?;
            let relay = eventlog::Relay::new(
                settings.database.clone(),
                pool.clone(),
                nats.clone(),
                settings.nats.clone(),
                settings.relay.clone(),
                signer,
            );
            started.push(Box::new(move |token| {
                Box::pin(async move { relay.run(token).await.context("the relay stopped") })
            }));
        }
        webhooks::settings::validate_all(&settings.webhooks).context("setting webhooks")?;
        if roles == [Role::Webhooks] && settings.webhooks.is_empty() {
            anyhow::bail!("setting webhooks: the settings file names no [[webhooks]] to deliver");
        }
        if roles.contains(&Role::Webhooks) && !settings.webhooks.is_empty() {
            let dispatcher = webhooks::Dispatcher::new(
                settings.webhooks.clone(),
                eventlog::Follower::new(nats.clone(), &settings.nats, stopping.clone()),
                eventlog::StreamProbe::new(nats.clone(), &settings.nats),
                accesslog::AccessLog::new(appender.unwrap_or_else(|| {
                    eventstore::Appender::start(pool.clone(), settings.database.batch_max)
                })),
                webhooks::signing_key(&settings.data.dir)?,
                read_models.clone(),
            )
            .context("setting webhooks")?;
            started.push(Box::new(move |token| {
                Box::pin(async move { dispatcher.run(token).await.context("the webhooks stopped") })
            }));
        }
        for role in roles {
            if let Role::Projector(name) = role {
                let jetstream = async_nats::jetstream::new(nats.clone());
                let pool = read_models.clone();
                started.push(match name {
                    ProjectionName::Records => {
                        start_projector(pool, jetstream, settings, records::Records)
                    }
                    ProjectionName::Audit => {
                        start_projector(pool, jetstream, settings, audit::Audit)
                    }
                    ProjectionName::Pipeline => {
                        start_projector(pool, jetstream, settings, pipeline::SalesPipeline)
                    }
                    ProjectionName::Timeline => {
                        start_projector(pool, jetstream, settings, timeline::Timeline)
                    }
                    ProjectionName::Scoring => start_projector(
                        pool,
                        jetstream,
                        settings,
                        scoring::Scoring::new(&settings.scoring),
                    ),
                });
            }
        }
        Ok(Application {
            api,
            limits,
            roles: started,
            stopping,
        })
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
        let token = self.stopping;
        let mut running = tokio::task::JoinSet::new();
        if let Some((listener, router)) = self.api {
            let token = token.clone();
            tracing::info!(address = ?listener.local_addr().ok(), "api listening");
            let limits = self.limits;
            running.spawn(async move {
                api::serve(listener, router, limits, token.cancelled_owned()).await;
                Ok(())
            });
        }
        for start in self.roles {
            running.spawn(start(token.clone()));
        }

        let outcome = tokio::select! {
            () = stop => Ok(()),
            Some(finished) = running.join_next() => match finished {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(panic) => Err(anyhow::anyhow!("a role panicked: {panic}")),
            },
        };
        token.cancel();
        while let Some(finished) = running.join_next().await {
            if let Ok(Err(error)) = finished {
                tracing::warn!(error = %format!("{error:#}"), "role ended with an error during shutdown");
            }
        }
        outcome
    }

    /// The API's state without serving it, for commands run from the command line.
    pub async fn api_state(settings: &Settings) -> anyhow::Result<api::ApiState> {
        let pool = eventstore::connect(&settings.database).await?;
        let read_models = projector::connect(&settings.database).await?;
        api_state(settings, &pool, &read_models)
    }

    /// Rebuilds one read model from the first event beside the live one, then swaps it in.
    pub async fn rebuild(
        settings: &Settings,
        name: ProjectionName,
    ) -> anyhow::Result<projector::RebuildReport> {
        let read_models = projector::connect(&settings.database).await?;
        let nats = eventlog::connect(&settings.nats).await?;
        let jetstream = async_nats::jetstream::new(nats);
        let token = CancellationToken::new();
        let nats = &settings.nats;
        let report = match name {
            ProjectionName::Records => {
                projector::rebuild(read_models, jetstream, nats, records::Records, token).await?
            }
            ProjectionName::Audit => {
                projector::rebuild(read_models, jetstream, nats, audit::Audit, token).await?
            }
            ProjectionName::Pipeline => {
                let projection = pipeline::SalesPipeline;
                projector::rebuild(read_models, jetstream, nats, projection, token).await?
            }
            ProjectionName::Timeline => {
                projector::rebuild(read_models, jetstream, nats, timeline::Timeline, token).await?
            }
            ProjectionName::Scoring => {
                let projection = scoring::Scoring::new(&settings.scoring);
                projector::rebuild(read_models, jetstream, nats, projection, token).await?
            }
        };
        Ok(report)
    }
}
