//! `crm`: the one binary. Reads the settings once, then runs what the command line asks:
//! every role (`up`), one role (`serve`), the migrations, or the chain verification.

mod demo;
mod evidence;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crm::{Application, ProjectionName, Role, Settings};

#[derive(Parser)]
#[command(
    name = "crm",
    version,
    about = "An event-sourced CRM: the store is the record, JetStream carries it"
)]
struct Cli {
    /// A TOML settings file; `CRM_*` environment variables override it.
    #[arg(long, global = true, env = "CRM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every role in one process: migrations, then the API, the relay and the projectors; on a
    /// store without customer records, demo data too (`CRM_DEMO_SEED=false` to start empty).
    Up,
    /// One role alone, for deployments that run the roles apart.
    Serve {
        #[command(subcommand)]
        role: ServeRole,
    },
    /// Rebuilds a read model from the first event beside the live one, then swaps it in; the
    /// live one keeps serving meanwhile.
    Rebuild {
        #[arg(value_enum)]
        projection: ProjectionName,
    },
    /// Applies the database migrations, then exits.
    Migrate,
    /// Users of the API.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Recomputes the hash chain and the Merkle tree and checks every signed tree head: prints
    /// `ok` and the count, or the first broken position (and exits with status 1).
    Verify(evidence::VerifyArgs),
    /// Exports the log as JSON lines (or a tree head or a proof as JSON) for an auditor, who
    /// checks it with `crm-verify` and the public key alone.
    Export(evidence::ExportArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates a user and prints its first token (shown once).
    Add {
        username: String,
        /// admin, manager, sales, support, marketing, analyst, auditor or service.
        #[arg(long)]
        role: String,
        #[arg(long)]
        team: Option<String>,
        /// What a service user may reach, e.g. `--scope contacts:read --scope deals:write`.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ServeRole {
    /// The HTTP API.
    Api,
    /// Carries committed events from the store to JetStream (one leader at a time).
    Relay,
    /// POSTs the log's domain events to the webhooks of the settings file.
    Webhooks,
    /// Builds one read model from JetStream.
    Projector {
        #[arg(value_enum)]
        projection: ProjectionName,
    },
}

/// glibc's allocator spent about a third of the projectors' CPU time under load. mimalloc 2 (the
/// `v2` feature), not 3: the same throughput with about a third less resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())
        .map_err(|message| anyhow::anyhow!(message))?;
    match cli.command {
        Command::Up => {
            crm::migrate(&settings).await?;
            up(settings).await
        }
        Command::Serve { role } => {
            let role = match role {
                ServeRole::Api => Role::Api,
                ServeRole::Relay => Role::Relay,
                ServeRole::Webhooks => Role::Webhooks,
                ServeRole::Projector { projection } => Role::Projector(projection),
            };
            serve(&settings, &[role]).await
        }
        Command::Rebuild { projection } => {
            let report = Application::rebuild(&settings, projection).await?;
            println!("{report:?}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            crm::migrate(&settings).await?;
            println!(
                "migrations applied to {}",
                eventstore::redact(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => evidence::verify(&settings, args).await,
        Command::Export(args) => evidence::export(&settings, args).await,
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    team,
                    scopes,
                },
        } => {
            crm::migrate(&settings).await?;
            let api = Application::api_state(&settings).await?;
            let (id, token) = api::add_user(&api, &username, &role, team.as_deref(), scopes)
                .await
                .map_err(|error| anyhow::anyhow!("{error}{}", field_errors(&error)))?;
            println!("created user {username} ({id}); its token (shown once, keep it):");
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(settings: &Settings, roles: &[Role]) -> anyhow::Result<ExitCode> {
    let application = Application::build(settings, roles).await?;
    application.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Every role, and the demo data once the API listens when the store has no records yet.
async fn up(mut settings: Settings) -> anyhow::Result<ExitCode> {
    let demo = demo::prepare(&mut settings).await?;
    let application = Application::build(&settings, &Role::ALL).await?;
    if let (Some(demo), Some(port)) = (demo, application.api_port()) {
        let base = demo::base_url(settings.api.listen, port);
        if demo.token_generated {
            crm::announce_admin(&demo.admin_token, &base);
        }
        tokio::spawn(async move {
            match demo::seed(&base, &demo.admin_token).await {
                Ok(summary) => println!("demo data: {summary}"),
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "demo data not seeded"),
            }
        });
    }
    application.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The fields a refused request named, for the command line.
fn field_errors(error: &api::problem::ApiError) -> String {
    match error {
        api::problem::ApiError::Invalid(errors) => errors
            .iter()
            .map(|error| format!("; {}: {}", error.field, error.message))
            .collect(),
        _ => String::new(),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
