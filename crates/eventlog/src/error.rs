//! The one error type of the event log, and connecting to NATS with a bounded wait and an error
//! that names the setting to fix.

use std::time::Duration;

use eventstore::StoreError;

use crate::settings::NatsSettings;

/// How long connecting to NATS may take before it is reported as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for the envelope's attributes and headers around the largest payload the store accepts.
const ENVELOPE_ALLOWANCE: usize = 16 * 1024;

/// The oldest nats-server the relay relies on (stream sequences, `Nats-Msg-Id`,
/// `Nats-Expected-Last-Sequence`, deny_delete/deny_purge).
pub const MINIMUM_SERVER: (u64, u64) = (2, 9);

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Settings that cannot work, named by the setting: fix the setting (or the server).
    #[error("setting {setting}: {message}")]
    Settings {
        setting: &'static str,
        message: String,
    },
    /// The stream holds more messages than the store has events: it belongs to another database
    /// (or the store was restored from an older backup). The relay refuses to touch it.
    #[error(
        "stream {stream} is ahead of the store (its last sequence is {stream_last}, the store's \
         last position is {store_head}): wrong database or wrong stream (setting nats_stream)"
    )]
    StreamAhead {
        stream: String,
        stream_last: u64,
        store_head: u64,
    },
    /// The stream's message at a position is not the store's event there: the stream carries
    /// another store's events.
    #[error(
        "stream {stream} holds other events: its message {position} has Nats-Msg-Id {found:?}, \
         the store's event there is {expected} (setting nats_stream)"
    )]
    ForeignStream {
        stream: String,
        position: u64,
        expected: uuid::Uuid,
        found: Option<String>,
    },
    /// NATS did not answer or refused a request; retried by the relay.
    #[error("nats: {0}")]
    Nats(String),
    /// A publish was stored at another sequence than the event's position; retried by the relay
    /// from the stream's last sequence.
    #[error("event {position} was stored at stream sequence {sequence}")]
    Sequence { position: u64, sequence: u64 },
    /// The relay lost its leader connection to PostgreSQL; it stops publishing and waits to lead
    /// again.
    #[error("leadership lost: {0}")]
    LeadershipLost(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message that is not a valid envelope of this version.
    #[error("invalid envelope: {0}")]
    Envelope(String),
}

impl LogError {
    /// True for failures that go away by themselves (a server down or slow, a lost race); false
    /// for those that need someone to change a setting or the data.
    pub fn is_transient(&self) -> bool {
        match self {
            LogError::Nats(_) | LogError::Sequence { .. } | LogError::LeadershipLost(_) => true,
            LogError::Store(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) => true,
            LogError::Settings { .. }
            | LogError::StreamAhead { .. }
            | LogError::ForeignStream { .. }
            | LogError::Store(_)
            | LogError::Envelope(_) => false,
        }
    }

    pub(crate) fn nats(what: &str, error: impl std::fmt::Display) -> LogError {
        LogError::Nats(format!("{what}: {error}"))
    }
}

/// Connects to `settings.url` (any server of a cluster), waiting at most [`CONNECT_TIMEOUT`],
/// and checks that the server is at least nats-server 2.9 with JetStream. Once connected, the
/// client reconnects by itself (to any server of the list) for as long as the process runs.
pub async fn connect(settings: &NatsSettings) -> Result<async_nats::Client, LogError> {
    let client = first_connection(settings)
        .await
        .map_err(|message| LogError::Settings {
            setting: "nats_url",
            message,
        })?;
    checked(client, settings)
}

/// As [`connect`], except that a server that does not answer yet is no error: the client
/// connects when one does (the API commits commands without NATS, and must start without it).
pub async fn connect_or_later(settings: &NatsSettings) -> Result<async_nats::Client, LogError> {
    match first_connection(settings).await {
        Ok(client) => checked(client, settings),
        Err(message) => {
            tracing::warn!(setting = "nats_url", error = %message, "NATS does not answer; connecting when it does");
            options()
                .retry_on_initial_connect()
                .connect(settings.servers())
                .await
                .map_err(|error| LogError::Settings {
                    setting: "nats_url",
                    message: describe(&error),
                })
        }
    }
}

fn options() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .name("crm")
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        // 100 ms doubling up to 2 s: back soon after a restart, without hammering a down server.
        .reconnect_delay_callback(|attempts| {
            if attempts <= 1 {
                return Duration::ZERO;
            }
            let exponent = u32::try_from(attempts.min(6) - 2).unwrap_or(4);
            Duration::from_millis(100 * 2_u64.pow(exponent)).min(Duration::from_secs(2))
        })
}

/// A client connected now, or why there is none (the server did not answer).
async fn first_connection(settings: &NatsSettings) -> Result<async_nats::Client, String> {
    let unreachable = |message: String| format!("cannot connect to {}: {message}", settings.url);
    tokio::time::timeout(
        CONNECT_TIMEOUT + Duration::from_secs(1),
        options().connect(settings.servers()),
    )
    .await
    .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    .map_err(|error| unreachable(describe(&error)))
}

/// The client, if its server is one the relay can rely on.
fn checked(
    client: async_nats::Client,
    settings: &NatsSettings,
) -> Result<async_nats::Client, LogError> {
    let info = client.server_info();
    if !at_least(&info.version, MINIMUM_SERVER) {
        return Err(LogError::Settings {
            setting: "nats_url",
            message: format!(
                "{} runs nats-server {}; the relay needs {}.{} or newer",
                settings.url, info.version, MINIMUM_SERVER.0, MINIMUM_SERVER.1
            ),
        });
    }
    let largest_envelope = eventstore::MAX_PAYLOAD_BYTES + ENVELOPE_ALLOWANCE;
    if info.max_payload < largest_envelope {
        return Err(LogError::Settings {
            setting: "nats_url",
            message: format!(
                "{} accepts messages of at most {} bytes; the relay needs {largest_envelope} \
                 (set max_payload on the server)",
                settings.url, info.max_payload
            ),
        });
    }
    if !info.jetstream {
        return Err(LogError::Settings {
            setting: "nats_url",
            message: format!(
                "{} does not have JetStream enabled (start nats-server with -js)",
                settings.url
            ),
        });
    }
    Ok(client)
}

/// An error with its sources, which async-nats keeps out of the top-level message.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// True when `version` (`2.9.10`, `2.10.0-beta.1`, ...) is at least `minimum` (major, minor).
fn at_least(version: &str, minimum: (u64, u64)) -> bool {
    let mut numbers = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|part| part.parse::<u64>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= minimum,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::at_least;

    #[test]
    fn server_versions_compare_by_major_and_minor() {
        assert!(at_least("2.9.10", (2, 9)));
        assert!(at_least("2.10.0-beta.1", (2, 9)));
        assert!(at_least("v3.0.0", (2, 9)));
        assert!(!at_least("2.8.4", (2, 9)));
        assert!(!at_least("unknown", (2, 9)));
    }
}
