//! The JetStream streams the relay writes to, created if absent and checked field by field
//! against what the server echoes back: nats-server 2.9 silently drops settings it does not know,
//! and a stream made by hand may differ, so nothing is assumed.
//!
//! The event stream's sequence is the store's position, so it holds the events and nothing
//! else; the signed checkpoints have a stream of their own.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType, Stream};
use async_nats::jetstream::{self, ErrorCode};

use crate::error::{LogError, describe};
use crate::settings::NatsSettings;
use crate::subjects::Subjects;

/// How long JetStream remembers a `Nats-Msg-Id` to drop a repeated publish.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The configuration of the event stream: file storage, kept forever, no deletes or purges, on
/// the event and access subjects only.
pub fn event_stream_config(settings: &NatsSettings) -> Config {
    let subjects = Subjects::new(&settings.subject_prefix);
    stream_config(
        settings.stream.clone(),
        subjects.stream_subjects(),
        settings.replicas,
    )
}

/// The configuration of the checkpoint stream, `<stream>_CHECKPOINTS` on `<prefix>.checkpoints`.
pub fn checkpoint_stream_config(settings: &NatsSettings) -> Config {
    let subjects = Subjects::new(&settings.subject_prefix);
    stream_config(
        settings.checkpoint_stream(),
        vec![subjects.checkpoints()],
        settings.replicas,
    )
}

/// Creates the event stream if it is absent, and refuses one whose configuration (as the server
/// reports it) differs from what the relay needs, naming the setting to look at.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    settings: &NatsSettings,
) -> Result<Stream, LogError> {
    settings.validate()?;
    ensure(jetstream, event_stream_config(settings)).await
}

/// Creates the checkpoint stream if it is absent, and refuses one configured otherwise.
pub async fn ensure_checkpoint_stream(
    jetstream: &jetstream::Context,
    settings: &NatsSettings,
) -> Result<Stream, LogError> {
    settings.validate()?;
    ensure(jetstream, checkpoint_stream_config(settings)).await
}

/// The stream's last sequence: with the event stream, the position of the last event it holds.
pub async fn last_sequence(stream: &Stream) -> Result<u64, LogError> {
    let info = stream
        .get_info()
        .await
        .map_err(|error| LogError::nats("reading the stream's state", describe(&error)))?;
    Ok(info.state.last_sequence)
}

/// The `Nats-Msg-Id` of the message at `sequence`, `None` if it has none or there is no message.
pub async fn message_id_at(stream: &Stream, sequence: u64) -> Result<Option<String>, LogError> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    match stream.get_raw_message(sequence).await {
        Ok(message) => Ok(message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|value| value.as_str().to_owned())),
        Err(error) => match error.kind() {
            LastRawMessageErrorKind::NoMessageFound => Ok(None),
            LastRawMessageErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::NO_MESSAGE_FOUND =>
            {
                Ok(None)
            }
            _ => Err(LogError::nats(
                &format!("reading message {sequence}"),
                describe(&error),
            )),
        },
    }
}

/// Reads the event stream's last sequence (the last relayed position) for readiness checks and
/// metrics; creates nothing.
#[derive(Clone)]
pub struct StreamProbe {
    jetstream: jetstream::Context,
    stream: String,
}

impl std::fmt::Debug for StreamProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamProbe")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl StreamProbe {
    /// A probe of the event stream named in `settings`, through `client` (from
    /// [`connect`](crate::connect)). Must be called inside a tokio runtime.
    pub fn new(client: async_nats::Client, settings: &NatsSettings) -> StreamProbe {
        StreamProbe {
            jetstream: jetstream::ContextBuilder::new()
                .timeout(PROBE_TIMEOUT)
                .build(client),
            stream: settings.stream.clone(),
        }
    }

    /// The stream's last sequence; an error when NATS does not answer or the stream does not
    /// exist (yet: the relay creates it).
    pub async fn last_sequence(&self) -> Result<u64, LogError> {
        match self.jetstream.get_stream(&self.stream).await {
            Ok(stream) => Ok(stream.cached_info().state.last_sequence),
            Err(error) if stream_not_found(&error) => Err(LogError::Nats(format!(
                "stream {} does not exist (the relay creates it)",
                self.stream
            ))),
            Err(error) => Err(LogError::nats(
                &format!("reading stream {}", self.stream),
                describe(&error),
            )),
        }
    }
}

/// How long a probe waits for NATS.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn stream_config(name: String, subjects: Vec<String>, replicas: usize) -> Config {
    Config {
        name,
        subjects,
        storage: StorageType::File,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        num_replicas: replicas,
        duplicate_window: DUPLICATE_WINDOW,
        deny_delete: true,
        deny_purge: true,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_consumers: -1,
        max_age: Duration::ZERO,
        ..Config::default()
    }
}

async fn ensure(jetstream: &jetstream::Context, wanted: Config) -> Result<Stream, LogError> {
    let name = wanted.name.clone();
    let stream = match jetstream.get_stream(&name).await {
        Ok(stream) => stream,
        Err(error) if stream_not_found(&error) => create(jetstream, &wanted).await?,
        Err(error) => {
            return Err(LogError::nats(
                &format!("looking up stream {name}"),
                describe(&error),
            ));
        }
    };
    check_config(&wanted, &stream.cached_info().config)?;
    Ok(stream)
}

async fn create(jetstream: &jetstream::Context, wanted: &Config) -> Result<Stream, LogError> {
    let name = &wanted.name;
    match jetstream.create_stream(wanted.clone()).await {
        Ok(stream) => {
            tracing::info!(stream = %name, subjects = ?wanted.subjects, "created the stream");
            Ok(stream)
        }
        Err(error) => match error.kind() {
            // Another relay created it meanwhile, maybe otherwise: compare what is there.
            CreateStreamErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::STREAM_NAME_EXIST =>
            {
                jetstream.get_stream(name).await.map_err(|error| {
                    LogError::nats(&format!("looking up stream {name}"), describe(&error))
                })
            }
            CreateStreamErrorKind::JetStream(inner) => {
                let setting = match inner.error_code() {
                    ErrorCode::STREAM_REPLICAS_NOT_SUPPORTED => "nats_replicas",
                    ErrorCode::STREAM_SUBJECT_OVERLAP => "nats_subject_prefix",
                    _ => "nats_stream",
                };
                Err(LogError::Settings {
                    setting,
                    message: format!("the server refused to create stream {name}: {inner}"),
                })
            }
            _ => Err(LogError::nats(
                &format!("creating stream {name}"),
                describe(&error),
            )),
        },
    }
}

fn stream_not_found(error: &async_nats::jetstream::context::GetStreamError) -> bool {
    match error.kind() {
        GetStreamErrorKind::JetStream(inner) => {
            inner.error_code() == ErrorCode::STREAM_NOT_FOUND || inner.code() == 404
        }
        _ => false,
    }
}

/// Compares, field by field, the configuration the server echoed back with the one the relay
/// asked for; the first difference is refused, naming the field and the setting behind it.
pub fn check_config(wanted: &Config, found: &Config) -> Result<(), LogError> {
    let unlimited = |value: i64| value <= 0;
    let subjects = |config: &Config| config.subjects.iter().cloned().collect::<BTreeSet<_>>();
    let checks: [(&str, &'static str, bool, String, String); 17] = [
        (
            "subjects",
            "nats_subject_prefix",
            subjects(wanted) == subjects(found),
            format!("{:?}", wanted.subjects),
            format!("{:?}", found.subjects),
        ),
        (
            "replicas",
            "nats_replicas",
            wanted.num_replicas.max(1) == found.num_replicas.max(1),
            wanted.num_replicas.to_string(),
            found.num_replicas.to_string(),
        ),
        same("storage", wanted.storage, found.storage),
        same("retention", wanted.retention, found.retention),
        same("discard", wanted.discard, found.discard),
        same(
            "duplicate_window",
            wanted.duplicate_window,
            found.duplicate_window,
        ),
        same("deny_delete", wanted.deny_delete, found.deny_delete),
        same("deny_purge", wanted.deny_purge, found.deny_purge),
        same("allow_rollup_hdrs", wanted.allow_rollup, found.allow_rollup),
        same("sealed", wanted.sealed, found.sealed),
        same("no_ack", wanted.no_ack, found.no_ack),
        same("max_msgs (unlimited)", true, unlimited(found.max_messages)),
        same("max_bytes (unlimited)", true, unlimited(found.max_bytes)),
        same(
            "max_msgs_per_subject (unlimited)",
            true,
            unlimited(found.max_messages_per_subject),
        ),
        same("max_age (unlimited)", true, found.max_age.is_zero()),
        same("mirror", false, found.mirror.is_some()),
        same(
            "sources",
            false,
            found
                .sources
                .as_ref()
                .is_some_and(|sources| !sources.is_empty()),
        ),
    ];
    for (field, setting, equal, wanted_value, found_value) in checks {
        if !equal {
            return Err(LogError::Settings {
                setting,
                message: format!(
                    "stream {} has {field} {found_value}, the relay needs {wanted_value}: the \
                     stream was made otherwise, or the server ignored the setting; fix or remove \
                     the stream, or choose another {setting}",
                    found.name
                ),
            });
        }
    }
    Ok(())
}

fn same<T: PartialEq + std::fmt::Debug>(
    field: &str,
    wanted: T,
    found: T,
) -> (&str, &'static str, bool, String, String) {
    (
        field,
        "nats_stream",
        wanted == found,
        format!("{wanted:?}"),
        format!("{found:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NatsSettings {
        NatsSettings {
            stream: "CRM_T".to_owned(),
            subject_prefix: "t".to_owned(),
            ..NatsSettings::default()
        }
    }

    /// What nats-server echoes for a stream created with our configuration: limits as -1.
    fn echoed(config: &Config) -> Config {
        Config {
            max_message_size: -1,
            ..config.clone()
        }
    }

    #[test]
    fn the_configuration_asked_for_passes() {
        let wanted = event_stream_config(&settings());
        check_config(&wanted, &echoed(&wanted)).expect("the same configuration passes");
    }

    #[test]
    fn the_event_stream_does_not_carry_checkpoints() {
        let settings = settings();
        let events = event_stream_config(&settings);
        let checkpoints = checkpoint_stream_config(&settings);
        assert_eq!(events.subjects, ["t.events.>", "t.access.>"]);
        assert_eq!(checkpoints.subjects, ["t.checkpoints"]);
        assert_eq!(checkpoints.name, "CRM_T_CHECKPOINTS");
    }

    #[test]
    fn other_subjects_are_refused_naming_the_prefix_setting() {
        let wanted = event_stream_config(&settings());
        let found = Config {
            subjects: vec!["other.>".to_owned()],
            ..echoed(&wanted)
        };
        let error = check_config(&wanted, &found).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.starts_with("setting nats_subject_prefix:"),
            "{message}"
        );
        assert!(message.contains("subjects"), "{message}");
    }

    #[test]
    fn a_dropped_setting_is_refused_naming_the_field() {
        let wanted = event_stream_config(&settings());
        let found = Config {
            deny_purge: false,
            ..echoed(&wanted)
        };
        let message = check_config(&wanted, &found)
            .expect_err("refused")
            .to_string();
        assert!(message.starts_with("setting nats_stream:"), "{message}");
        assert!(message.contains("deny_purge"), "{message}");
    }

    #[test]
    fn a_limit_is_refused() {
        let wanted = event_stream_config(&settings());
        let found = Config {
            max_age: Duration::from_secs(3600),
            ..echoed(&wanted)
        };
        let message = check_config(&wanted, &found)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("max_age"), "{message}");
    }

    #[test]
    fn other_replicas_are_refused_naming_the_replicas_setting() {
        let wanted = event_stream_config(&settings());
        let found = Config {
            num_replicas: 3,
            ..echoed(&wanted)
        };
        let message = check_config(&wanted, &found)
            .expect_err("refused")
            .to_string();
        assert!(message.starts_with("setting nats_replicas:"), "{message}");
    }
}
