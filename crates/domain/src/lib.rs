//! The CRM's pure domain: what each aggregate accepts, what it records, and how its state follows
//! from its events.
//!
//! Every aggregate is two plain functions: `decide` turns a command into events (or refuses it)
//! and `evolve` folds an event into the state. Whatever a decision needs from outside (the time,
//! the actor, a pipeline's stages, whether a stage is in use) is fetched by the caller and passed
//! in, so the same command on the same state always decides the same way and any state can be
//! rebuilt from its events. Values are parsed once into types that cannot hold invalid data
//! ([`values`]); events are versioned public contracts ([`event_catalog`]).
//!
//! This crate does no I/O: no database, no NATS, no HTTP, no clock, no randomness.

mod catalog;
mod error;
mod event;
mod patch;
#[cfg(test)]
mod testing;

pub mod access;
pub mod activity;
pub mod case;
pub mod company;
pub mod contact;
pub mod conversion;
pub mod deal;
pub mod lead;
pub mod pipeline;
pub mod task;
pub mod user;
pub mod username;
pub mod values;

pub use catalog::{AnyEvent, EventSchema, breaking_schema_changes, event_catalog};
pub use error::DomainError;
pub use patch::{Patch, Replace};
pub use user::token_hash;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use values::Role;

/// A consistency boundary: one stream of events, decided and folded by plain functions.
pub trait Aggregate: 'static {
    /// The stream's type, the `<aggregate>` of `crm.<aggregate>.<event>.v<N>` and of subjects.
    const STREAM_TYPE: &'static str;
    /// Everything a decision or a reader needs; `Default` is "does not exist yet".
    type State: Default + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static;
    type Command;
    type Event: DomainEvent;

    /// The events a command causes, or why it is refused. Never has side effects.
    fn decide(
        state: &Self::State,
        command: Self::Command,
        context: &Context,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// The state after an event. Never fails: events are facts.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Whether the stream has been created.
    fn exists(state: &Self::State) -> bool;
}

/// An event as it is stored and published: a short type name, a schema version and a JSON
/// payload holding the variant's fields.
pub trait DomainEvent: Sized + Clone + std::fmt::Debug + PartialEq {
    /// The short snake_case name, e.g. `stage_changed`; the public type is
    /// `crm.<stream_type>.<event_type>.v<schema_version>`.
    fn event_type(&self) -> &'static str;
    /// The version of the payload's schema this event is written with.
    fn schema_version(&self) -> u32;
    /// The variant's fields as JSON, without any tag.
    fn to_payload(&self) -> serde_json::Value;
    /// Reads a stored event, upcasting a payload written with an older schema version. Takes
    /// the payload by reference: a consumer reads each event once per read model, and a
    /// current-version payload deserialises straight from the borrowed value.
    fn from_stored(
        event_type: &str,
        schema_version: u32,
        payload: &serde_json::Value,
    ) -> Result<Self, DomainError>;
}

/// What a decision may know about the moment and the person: the caller's clock and identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub actor_id: Uuid,
    pub actor_role: Role,
}

/// The state a sequence of events leaves behind, from "does not exist yet".
pub fn replay<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A::State
where
    A::Event: 'a,
{
    events.into_iter().fold(A::State::default(), A::evolve)
}

#[cfg(test)]
mod tests {
    //! Repository rules for this crate, checked like any other behaviour.

    use std::path::{Path, PathBuf};

    fn source_files(folder: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(source_files(&path));
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn the_domain_depends_on_no_io_crate() {
        let manifest = include_str!("../Cargo.toml");
        let (_, after) = manifest.split_once("[dependencies]").unwrap();
        let (dependencies, _) = after.split_once("\n[").unwrap();
        let names: Vec<&str> = dependencies
            .lines()
            .filter_map(|line| line.split(['.', ' ', '=']).next())
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(
            names,
            [
                "chrono",
                "hex",
                "schemars",
                "serde",
                "serde_json",
                "sha2",
                "thiserror",
                "uuid"
            ]
        );
    }

    /// Outside tests, no clock, randomness, file, network or environment: the caller passes
    /// them in.
    #[test]
    fn the_domain_code_does_no_io() {
        let forbidden = [
            "Utc::now",
            "Local::now",
            "SystemTime",
            "Instant::",
            "now_v7",
            "new_v4",
            "std::fs",
            "std::net",
            "std::env",
            "std::io",
            "std::process",
            "std::thread",
        ];
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        for path in source_files(&root) {
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "tests.rs" || name == "testing.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
            for word in forbidden {
                assert!(!code.contains(word), "{} uses {word}", path.display());
            }
        }
    }

    #[test]
    fn every_module_says_why_it_exists() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        for path in source_files(&root) {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("//! "),
                "{} has no //! line",
                path.display()
            );
        }
    }
}
