//! The `crm` application: every role of the system as one value that a process (or a test)
//! builds from the settings and runs until told to stop. `crm up` runs every role in one process;
//! `crm serve <role>` runs one, so the roles can be deployed apart against the same store and NATS.

mod application;
pub mod settings;

pub use application::{Application, ProjectionName, Role, announce_admin};
pub use settings::Settings;

/// Every migration the system needs: the event store's, then the read models' registry.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    eventstore::migrate(&settings.database).await?;
    projector::migrate(&settings.database).await?;
    Ok(())
}
