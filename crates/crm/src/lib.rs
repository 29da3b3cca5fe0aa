//! The `crm` application: every role of the system as one value that a process (or a test)
//! builds from the settings and runs until told to stop. `crm up` runs every role in one process;
//! `crm serve <role>` runs one, so the roles can be deployed apart against the same store and NATS.

use std::path::Path;

use anyhow::Context;
use eventstore::checkpoint::PUBLIC_KEY_FILE;

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

/// The data folder's public key, when the folder holds one.
pub fn installation_key(data_dir: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let path = data_dir.join(PUBLIC_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_key(text.trim())
            .map(Some)
            .with_context(|| format!("{}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// A public key as 64 hex digits.
pub fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut key = [0_u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|error| anyhow::anyhow!("not a public key of 64 hex digits: {error}"))?;
    Ok(key)
}
