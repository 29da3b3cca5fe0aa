//! The public event contract: every event type with its JSON Schema and a golden sample, and a
//! way to read any stored event by its stream type.
//!
//! The schemas are checked in as `schemas/events/<stream>.<event>.v<N>.json` and the samples as
//! `schemas/events/samples/<same name>`; tests fail when a schema drifts from the code or when a
//! sample (of any version ever published) no longer reads.

mod compat;

pub use compat::breaking_schema_changes;

use schemars::JsonSchema;
use serde_json::Value;

use crate::{
    Aggregate, DomainError, DomainEvent, access, activity, case, company, contact, deal, lead,
    pipeline, task, user, username,
};

/// One event type at its current schema version.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// `crm.<stream_type>.<event_type>.v<schema_version>`, the envelope's `type`.
    pub public_type: String,
    pub stream_type: &'static str,
    pub event_type: &'static str,
    pub schema_version: u32,
    /// The JSON Schema of the payload (the envelope's `data`).
    pub schema: schemars::Schema,
    /// A payload of this type, as stored.
    pub sample: Value,
}

impl EventSchema {
    pub(crate) fn of<T: JsonSchema>(
        stream_type: &'static str,
        event_type: &'static str,
        schema_version: u32,
        sample: Value,
    ) -> EventSchema {
        let public_type = format!("crm.{stream_type}.{event_type}.v{schema_version}");
        let mut schema = schemars::schema_for!(T);
        schema.insert("title".to_owned(), Value::String(public_type.clone()));
        EventSchema {
            public_type,
            stream_type,
            event_type,
            schema_version,
            schema,
            sample,
        }
    }

    /// `<stream_type>.<event_type>.v<N>.json`: the name of its schema and of its sample file.
    pub fn file_name(&self) -> String {
        format!(
            "{}.{}.v{}.json",
            self.stream_type, self.event_type, self.schema_version
        )
    }

    /// The schema as it is checked in: pretty JSON with a final newline.
    pub fn schema_text(&self) -> String {
        pretty(self.schema.as_value())
    }
}

/// Every event type of every aggregate, at its current version.
pub fn event_catalog() -> Vec<EventSchema> {
    [
        company::Event::catalog(),
        contact::Event::catalog(),
        lead::Event::catalog(),
        pipeline::Event::catalog(),
        deal::Event::catalog(),
        activity::Event::catalog(),
        task::Event::catalog(),
        case::Event::catalog(),
        user::Event::catalog(),
        username::Event::catalog(),
        access::RecordAccessed::catalog(),
    ]
    .concat()
}

/// An event of any aggregate, for readers that follow every stream (projections, history).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Company(company::Event),
    Contact(contact::Event),
    Lead(lead::Event),
    Pipeline(pipeline::Event),
    Deal(deal::Event),
    Activity(activity::Event),
    Task(task::Event),
    Case(case::Event),
    User(user::Event),
    Username(username::Event),
}

impl AnyEvent {
    /// Reads a stored event of the stream type `stream_type`, upcasting older versions.
    pub fn from_stored(
        stream_type: &str,
        event_type: &str,
        schema_version: u32,
        payload: &Value,
    ) -> Result<AnyEvent, DomainError> {
        let event =
            match stream_type {
                company::Company::STREAM_TYPE => AnyEvent::Company(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                contact::Contact::STREAM_TYPE => AnyEvent::Contact(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                lead::Lead::STREAM_TYPE => AnyEvent::Lead(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                pipeline::Pipeline::STREAM_TYPE => AnyEvent::Pipeline(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                deal::Deal::STREAM_TYPE => AnyEvent::Deal(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                activity::Activity::STREAM_TYPE => AnyEvent::Activity(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                task::Task::STREAM_TYPE => AnyEvent::Task(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                case::Case::STREAM_TYPE => AnyEvent::Case(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                user::User::STREAM_TYPE => AnyEvent::User(DomainEvent::from_stored(
                    event_type,
                    schema_version,
                    payload,
                )?),
                username::UsernameClaim::STREAM_TYPE => AnyEvent::Username(
                    DomainEvent::from_stored(event_type, schema_version, payload)?,
                ),
                other => {
                    return Err(DomainError::Decode {
                        event_type: event_type.to_owned(),
                        message: format!("{other:?} is not a stream type"),
                    });
                }
            };
        Ok(event)
    }

    pub fn stream_type(&self) -> &'static str {
        match self {
            AnyEvent::Company(_) => company::Company::STREAM_TYPE,
            AnyEvent::Contact(_) => contact::Contact::STREAM_TYPE,
            AnyEvent::Lead(_) => lead::Lead::STREAM_TYPE,
            AnyEvent::Pipeline(_) => pipeline::Pipeline::STREAM_TYPE,
            AnyEvent::Deal(_) => deal::Deal::STREAM_TYPE,
            AnyEvent::Activity(_) => activity::Activity::STREAM_TYPE,
            AnyEvent::Task(_) => task::Task::STREAM_TYPE,
            AnyEvent::Case(_) => case::Case::STREAM_TYPE,
            AnyEvent::User(_) => user::User::STREAM_TYPE,
            AnyEvent::Username(_) => username::UsernameClaim::STREAM_TYPE,
        }
    }

    pub fn event_type(&self) -> &'static str {
        self.as_domain_event().event_type()
    }

    pub fn schema_version(&self) -> u32 {
        self.as_domain_event().schema_version()
    }

    pub fn to_payload(&self) -> Value {
        self.as_domain_event().to_payload()
    }

    /// `crm.<stream_type>.<event_type>.v<N>`.
    pub fn public_type(&self) -> String {
        format!(
            "crm.{}.{}.v{}",
            self.stream_type(),
            self.event_type(),
            self.schema_version()
        )
    }

    fn as_domain_event(&self) -> &dyn Described {
        match self {
            AnyEvent::Company(event) => event,
            AnyEvent::Contact(event) => event,
            AnyEvent::Lead(event) => event,
            AnyEvent::Pipeline(event) => event,
            AnyEvent::Deal(event) => event,
            AnyEvent::Activity(event) => event,
            AnyEvent::Task(event) => event,
            AnyEvent::Case(event) => event,
            AnyEvent::User(event) => event,
            AnyEvent::Username(event) => event,
        }
    }
}

/// The object-safe part of [`DomainEvent`].
trait Described {
    fn event_type(&self) -> &'static str;
    fn schema_version(&self) -> u32;
    fn to_payload(&self) -> Value;
}

impl<E: DomainEvent> Described for E {
    fn event_type(&self) -> &'static str {
        DomainEvent::event_type(self)
    }

    fn schema_version(&self) -> u32 {
        DomainEvent::schema_version(self)
    }

    fn to_payload(&self) -> Value {
        DomainEvent::to_payload(self)
    }
}

fn pretty(value: &Value) -> String {
    // Serialising a JSON value to text cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn events_folder() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events")
    }

    fn blessing() -> bool {
        std::env::var_os("CRM_BLESS").is_some_and(|value| value == "1")
    }

    /// `<stream>.<event>.v<N>.json` as (stream, event, N).
    fn parse_file_name(path: &Path) -> Option<(String, String, u32)> {
        let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
        let (stream_and_event, version) = name.rsplit_once(".v")?;
        let (stream, event) = stream_and_event.split_once('.')?;
        Some((stream.to_owned(), event.to_owned(), version.parse().ok()?))
    }

    fn json_files(folder: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
            .map(|entries| {
                entries
                    .filter_map(|entry| Some(entry.ok()?.path()))
                    .collect()
            })
            .unwrap_or_default();
        files.retain(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        });
        files.sort();
        files
    }

    #[test]
    fn event_types_are_unique_and_well_formed() {
        let catalog = event_catalog();
        let public_types: BTreeSet<&str> = catalog
            .iter()
            .map(|entry| entry.public_type.as_str())
            .collect();
        assert_eq!(public_types.len(), catalog.len());
        let is_name = |name: &str| {
            name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for entry in &catalog {
            assert!(is_name(entry.stream_type), "{}", entry.public_type);
            assert!(is_name(entry.event_type), "{}", entry.public_type);
            assert!(entry.schema_version >= 1, "{}", entry.public_type);
        }
    }

    /// Reads a stored payload as the catalog's `stream` names it (`access` for record
    /// accesses, which are logged under every stream type) and writes it back, at the current
    /// version (an older one is upcast).
    fn read_back(
        stream: &str,
        event_type: &str,
        version: u32,
        payload: Value,
    ) -> Result<Value, String> {
        if stream == "access" {
            let access: crate::access::RecordAccessed =
                serde_json::from_value(payload).map_err(|error| error.to_string())?;
            return serde_json::to_value(access).map_err(|error| error.to_string());
        }
        let event = AnyEvent::from_stored(stream, event_type, version, &payload)
            .map_err(|error| error.to_string())?;
        assert_eq!(
            (event.stream_type(), event.event_type()),
            (stream, event_type)
        );
        assert!(event.schema_version() >= version);
        Ok(event.to_payload())
    }

    #[test]
    fn every_catalog_sample_reads_and_writes_back_unchanged() {
        for entry in event_catalog() {
            let payload = read_back(
                entry.stream_type,
                entry.event_type,
                entry.schema_version,
                entry.sample.clone(),
            )
            .unwrap_or_else(|error| panic!("{}: {error}", entry.public_type));
            assert_eq!(payload, entry.sample, "{}", entry.public_type);
        }
    }

    #[test]
    fn unknown_stream_and_event_types_are_refused() {
        let payload = serde_json::json!({});
        assert!(matches!(
            AnyEvent::from_stored("planet", "created", 1, &payload),
            Err(DomainError::Decode { .. })
        ));
        assert!(matches!(
            AnyEvent::from_stored("deal", "exploded", 1, &payload),
            Err(DomainError::Decode { .. })
        ));
    }

    /// `schemas/events/*.json` are generated from the payload types; run with `CRM_BLESS=1` to
    /// rewrite them after a change of their descriptions. A published version's schema never
    /// changes what it accepts, blessed or not: such a change is a new version.
    #[test]
    fn the_checked_in_event_schemas_are_the_generated_ones() {
        let folder = events_folder();
        let mut differing = Vec::new();
        let mut breaking = Vec::new();
        for entry in event_catalog() {
            let path = folder.join(entry.file_name());
            let generated = entry.schema_text();
            let checked_in = std::fs::read_to_string(&path).ok();
            if checked_in.as_deref() == Some(generated.as_str()) {
                continue;
            }
            if let Some(published) = checked_in {
                let published: Value = serde_json::from_str(&published)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                let changes = breaking_schema_changes(&published, entry.schema.as_value());
                if !changes.is_empty() {
                    breaking.push(format!("{}: {}", entry.public_type, changes.join("; ")));
                    continue;
                }
            }
            if blessing() {
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(&path, generated).unwrap();
            } else {
                differing.push(entry.file_name());
            }
        }
        assert!(
            breaking.is_empty(),
            "a published event version must keep accepting exactly what it accepted; give the \
             event a new version, read the old one through an upcaster, and keep the old schema \
             and sample:\n{}",
            breaking.join("\n")
        );
        assert!(
            differing.is_empty(),
            "these schemas differ from the ones generated from the code: {differing:?}; if the \
             change is intended, run `CRM_BLESS=1 cargo test -p domain` and commit the files"
        );
    }

    /// A published version stays published: its schema is kept beside its sample.
    #[test]
    fn every_published_version_keeps_its_schema() {
        let folder = events_folder();
        let missing: Vec<PathBuf> = json_files(&folder.join("samples"))
            .into_iter()
            .filter_map(|sample| Some(folder.join(sample.file_name()?)))
            .filter(|schema| !schema.exists())
            .collect();
        assert!(
            missing.is_empty(),
            "no schema for a published version: {missing:?}"
        );
    }

    /// Every sample under `schemas/events/samples/`, of any version ever published, must keep
    /// reading, and be valid under its version's schema. Blessing adds the samples of new event
    /// types; it never rewrites one.
    #[test]
    fn every_golden_sample_still_reads() {
        let folder = events_folder().join("samples");
        let mut missing = Vec::new();
        for entry in event_catalog() {
            let path = folder.join(entry.file_name());
            if path.exists() {
                continue;
            }
            if blessing() {
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(&path, pretty(&entry.sample)).unwrap();
            } else {
                missing.push(entry.file_name());
            }
        }
        assert!(
            missing.is_empty(),
            "no golden sample for {missing:?}; run `CRM_BLESS=1 cargo test -p domain` and commit \
             the files"
        );
        for path in json_files(&folder) {
            let (stream, event, version) = parse_file_name(&path)
                .unwrap_or_else(|| panic!("{} is not <stream>.<event>.v<N>.json", path.display()));
            let text = std::fs::read_to_string(&path).unwrap();
            let payload: Value = serde_json::from_str(&text).unwrap();
            let schema_path = events_folder().join(path.file_name().unwrap());
            if let Ok(schema) = std::fs::read_to_string(&schema_path) {
                let schema: Value = serde_json::from_str(&schema).unwrap();
                let validator = jsonschema::validator_for(&schema).unwrap();
                if let Err(error) = validator.validate(&payload) {
                    panic!("{} breaks its schema: {error}", path.display());
                }
            }
            if let Err(error) = read_back(&stream, &event, version, payload) {
                panic!("{} no longer reads: {error}", path.display());
            }
        }
    }
}
