//! The projection framework: each read model is a [`Projection`] fed by a [`Projector`], a
//! service of its own that reads the JetStream stream through a durable consumer and writes the
//! read model's tables in the store's PostgreSQL database.
//!
//! Each generation of a read model lives in its own schema (`<name>_g<N>`), registered in
//! `projection_generations` with the position it has applied. A batch of events and the new
//! position commit in one transaction, and messages are acknowledged only after it, so a crash
//! anywhere neither loses nor doubles an event. [`rebuild`] builds a new generation beside the
//! live one from the first event and swaps it in; [`ProjectionReader`] tells the read side which
//! schema to query and waits for a position.
//!
//! Projectors connect as the database owner ([`connect`]), since they create and drop schemas.

mod backoff;
mod consumer;
mod db;
mod error;
mod leader;
mod maintenance;
mod projection;
mod projector;
mod reader;
mod rebuild;
mod registry;
mod retire;
mod session;
mod slices;
mod status;

pub use db::{MIGRATION_TABLE, connect, migrate};
pub use error::{ProjectionError, ProjectorError, QueryFault, WaitError};
pub use maintenance::VACUUM_AFTER_EVENTS;
pub use projection::{Feed, Projection, qualified};
pub use projector::Projector;
pub use reader::{LiveProjection, ProjectionReader};
pub use rebuild::{RebuildReport, rebuild};
pub use slices::Slices;
pub use status::ProjectorStatus;
